"""QONNX operators in the frontend: numpy semantics against qonnx's, hand-built graphs
against qonnx's executor, and the refusals (pinned messages)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

pytest.importorskip("qonnx", reason="the QONNX tests need qonnx (pip install qonnx)")

from bnnc import golden, ir  # noqa: E402
from bnnc.errors import UnsupportedError  # noqa: E402
from bnnc.frontend import qonnx_ops  # noqa: E402
from bnnc.frontend.convert import onnx_to_ir  # noqa: E402
from bnnc.frontend.load import load_onnx  # noqa: E402
from bnnc.testing_brevitas import compare_outputs, run_qonnx  # noqa: E402

QDOM = "qonnx.custom_op.general"
RNG = np.random.default_rng(7)


# ---------------------------------------------------------------- numpy semantics
def test_numpy_semantics_equal_qonnx():
    from qonnx.custom_op.general.bipolar_quant import binary_quant
    from qonnx.custom_op.general.multithreshold import multithreshold
    from qonnx.custom_op.general.quant import quant

    x = (RNG.normal(0, 3, (4, 6, 5, 5)).astype(np.float32))
    x[0, 0, 0, :3] = [0.0, -0.0, 0.5]  # sign(0) = +1; a rounding midpoint
    x[1, 1, 1, :4] = [1.5, 2.5, -1.5, -2.5]
    scale = np.float32(0.5)
    assert np.array_equal(qonnx_ops.bipolar_quant(x, scale), binary_quant(x, scale))
    for bits in (1, 2, 4, 8):
        for signed in (True, False):
            for narrow in (True, False):
                for mode in ("ROUND", "FLOOR", "CEIL", "HALF_UP", "HALF_DOWN", "UP", "DOWN"):
                    zp = np.float32(0.0 if signed else 1.0)
                    want = quant(x, scale, zp, np.float32(bits), signed, narrow, mode)
                    got = qonnx_ops.int_quant(x, scale, zp, bits, signed=signed, narrow=narrow,
                                              rounding_mode=mode)
                    assert np.array_equal(got, want), (bits, signed, narrow, mode)
    t = np.sort(RNG.normal(0, 2, (6, 3)), axis=1).astype(np.float32)
    assert np.array_equal(qonnx_ops.multithreshold(x, t, 2.0, -1.0),
                          multithreshold(x, t, 2.0, -1.0))


# ---------------------------------------------------------------- hand-built graphs
class _G:
    """A tiny QONNX graph: float input (1, C, H, W) -> nodes -> one output."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.cur = "x"
        self.k = 0

    def const(self, arr, name: str | None = None) -> str:
        self.k += 1
        name = name or f"c{self.k}"
        self.inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def op(self, op_type: str, *inputs: str, domain: str = "", first: str | None = None,
           name: str | None = None, **attrs) -> str:
        self.k += 1
        out = f"t{self.k}"
        self.nodes.append(helper.make_node(op_type, [first or self.cur, *inputs], [out],
                                           name=name or f"{op_type.lower()}{self.k}",
                                           domain=domain, **attrs))
        self.cur = out
        return out

    def quant(self, bits: int, scale: float = 1.0, zp: float = 0.0, signed: int = 1,
              narrow: int = 0, mode: str = "ROUND", first: str | None = None,
              name: str | None = None, domain: str = QDOM) -> str:
        s = self.const(np.array(scale, dtype=np.float32))
        z = self.const(np.array(zp, dtype=np.float32))
        b = self.const(np.array(float(bits), dtype=np.float32))
        return self.op("Quant", s, z, b, domain=domain, first=first, name=name, signed=signed,
                       narrow=narrow, rounding_mode=mode)

    def bipolar(self, scale=1.0, first: str | None = None, domain: str = QDOM) -> str:
        s = self.const(np.array(scale, dtype=np.float32))
        return self.op("BipolarQuant", s, domain=domain, first=first)

    def weights(self, shape, bits: int | None = None, name: str | None = None) -> str:
        w = self.const(RNG.uniform(-1, 1, shape).astype(np.float32))
        if bits is None:
            s = self.const(np.array(0.25, dtype=np.float32))
            return self.op("BipolarQuant", s, domain=QDOM, first=w, name=name)
        cur = self.cur
        out = self.quant(bits, 0.125, first=w, name=name)
        self.cur = cur
        return out

    def conv(self, cin: int, cout: int, bits: int | None = None, name: str | None = None,
             pad: int = 0) -> str:
        cur = self.cur
        w = self.weights((cout, cin, 3, 3), bits, name=f"{name}_wq" if name else None)
        return self.op("Conv", w, first=cur, name=name, kernel_shape=[3, 3],
                       pads=[pad] * 4)

    def batchnorm(self, c: int) -> str:
        g = RNG.normal(1, 0.5, c) * RNG.choice([1, -1], c)
        parts = [g, RNG.normal(0, 0.5, c), RNG.normal(0, 2, c), RNG.uniform(2, 8, c)]
        names = [self.const(p.astype(np.float32)) for p in parts]
        return self.op("BatchNormalization", *names, epsilon=1e-4)

    def gemm(self, fin: int, fout: int) -> str:
        cur = self.cur
        w = self.weights((fout, fin))
        return self.op("Gemm", w, first=cur, transB=1)

    def save(self, path) -> str:
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, *self.shape])
        y = helper.make_tensor_value_info(self.cur, TensorProto.FLOAT, None)
        g = helper.make_graph(self.nodes, "g", [x], [y], self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13),
                                                helper.make_opsetid(QDOM, 1)])
        onnx.save(m, path)
        return str(path)


def _golden_vs_qonnx(path: str, x: np.ndarray) -> tuple[ir.Graph, dict]:
    from bnnc.host.model import ModelSpec

    graph = onnx_to_ir(load_onnx(path))
    inp = graph.input
    spec = ModelSpec(name="m", input_name="x", input_dtype="float",
                     input_shape=list(x.shape[1:]), frame_shape=list(inp.shape),
                     element="bipolar" if inp.dtype.bits == 1 else "uint8", quant=inp.quant,
                     quant_scale=inp.quant_scale, quant_zero_point=inp.quant_zero_point,
                     binarize_threshold=inp.binarize_threshold, in_words=0, output_name="y",
                     classes=0, out_words=0, scale=[], bias=[])
    s = golden.run(graph, spec.quantize(x))
    ref, ties = run_qonnx(path, x, count_ties=True)
    out = graph.output
    stats = compare_outputs(s, graph.consts[out.scale], graph.consts[out.bias],
                            ref.reshape(s.shape), ties)
    return graph, stats


def _exact(stats: dict) -> None:
    assert stats["score_mismatch"] == 0 and stats["ulp_violations"] == 0, stats
    assert stats["argmax_diff"] == 0, stats


@pytest.mark.parametrize("signed", [1, 0])
def test_8bit_input_quant_is_the_uint8_path(tmp_path, signed):
    g = _G((2, 6, 6))
    g.quant(8, scale=1 / 64, signed=signed)
    g.conv(2, 8); g.batchnorm(8); g.bipolar()
    g.op("Flatten", axis=1); g.gemm(8 * 16, 5)
    x = RNG.uniform(-2.5, 4.5, (40, 2, 6, 6)).astype(np.float32)
    x[:4] = (RNG.integers(-140, 300, (4, 2, 6, 6)) + 0.5) / 64  # rounding midpoints, clipping
    graph, stats = _golden_vs_qonnx(g.save(tmp_path / "m.onnx"), x)
    _exact(stats)
    inp = graph.input
    assert (inp.quant, inp.quant_scale, inp.quant_zero_point) == \
        ("quantize_linear", 1 / 64, 128 if signed else 0)


def test_input_affine_before_quant_folds_into_the_host_scale(tmp_path):
    """BNN-PYNQ's 2x - 1 before a signed 8-bit quantizer with scale 2^-7."""
    g = _G((3, 5, 5))
    g.op("Mul", g.const(np.array(2.0, dtype=np.float32)))
    g.op("Sub", g.const(np.array([1.0], dtype=np.float32)))
    g.quant(8, scale=2.0 ** -7)
    g.conv(3, 6); g.batchnorm(6); g.bipolar(scale=0.5)
    g.op("Flatten", axis=1); g.gemm(6 * 9, 4)
    x = (RNG.integers(0, 256, (40, 3, 5, 5)) / 255).astype(np.float32)
    graph, stats = _golden_vs_qonnx(g.save(tmp_path / "m.onnx"), x)
    _exact(stats)
    assert (graph.input.quant_scale, graph.input.quant_zero_point) == (2.0 ** -8, 0)


def test_activation_quantizers_binarize(tmp_path):
    """1-bit signed Quant, BipolarQuant with a scale, FINN's MultiThreshold, old domain."""
    g = _G((1, 8, 8))
    g.bipolar(domain="onnx.brevitas")  # binarized float input
    g.conv(1, 6, pad=1); g.batchnorm(6); g.quant(1, scale=0.75)
    g.op("MaxPool", kernel_shape=[2, 2], strides=[2, 2])
    g.conv(6, 5); g.batchnorm(5)
    t = RNG.normal(0, 1, (5, 1)).astype(np.float32)
    g.op("MultiThreshold", g.const(t), domain="finn.custom_op.general", out_scale=2.0,
         out_bias=-1.0)
    g.op("Flatten", axis=1); g.gemm(5 * 4, 3)
    g.op("Mul", g.const(np.array(0.3, dtype=np.float32)))
    x = RNG.normal(0, 1, (40, 1, 8, 8)).astype(np.float32)
    graph, stats = _golden_vs_qonnx(g.save(tmp_path / "m.onnx"), x)
    _exact(stats)
    assert graph.input.quant == "binarize"
    assert [n.kind for n in graph].count("Threshold") == 2


# ---------------------------------------------------------------- refusals
def _refused(tmp_path, g: _G, *phrases: str) -> None:
    with pytest.raises(UnsupportedError) as err:
        onnx_to_ir(load_onnx(g.save(tmp_path / "m.onnx")))
    for p in phrases:
        assert p in str(err.value), str(err.value)


def test_refuses_multibit_weights(tmp_path):
    g = _G((1, 6, 6))
    g.bipolar(); g.conv(1, 4, bits=4, name="conv1")
    _refused(tmp_path, g, "node 'conv1_wq' (Quant)", "weights of node 'conv1' (Conv)",
             "signed 4-bit", "bit width 4", "binary weights only",
             "SignedBinaryWeightPerTensorConst")


def test_refuses_multibit_activations(tmp_path):
    g = _G((1, 6, 6))
    g.bipolar(); g.conv(1, 4); g.quant(2, signed=0, name="act1")
    _refused(tmp_path, g, "node 'act1' (Quant)", "unsigned 2-bit", "bit width 2",
             "binary activations", "SignedBinaryActPerTensorConst")


def test_refuses_wide_input(tmp_path):
    g = _G((1, 6, 6))
    g.quant(16, scale=1 / 256, name="inq"); g.conv(1, 4)
    _refused(tmp_path, g, "node 'inq' (Quant)", "16 bits", "at most 8 bits", "bit_width=8")


def test_refuses_narrow_4bit_and_floor_input(tmp_path):
    g = _G((1, 6, 6))
    g.quant(8, narrow=1, name="inq"); g.conv(1, 4)
    _refused(tmp_path, g, "node 'inq' (Quant)", "narrow-range", "narrow_range=False")
    g = _G((1, 6, 6))
    g.quant(4, name="inq"); g.conv(1, 4)
    _refused(tmp_path, g, "node 'inq' (Quant)", "signed 4-bit", "bit width 4", "exactly 8 bits")
    g = _G((1, 6, 6))
    g.quant(8, mode="FLOOR", name="inq"); g.conv(1, 4)
    _refused(tmp_path, g, "node 'inq' (Quant)", "rounding mode FLOOR", "ROUND")


def test_refuses_multibit_multithreshold(tmp_path):
    g = _G((1, 6, 6))
    g.bipolar(); g.conv(1, 4)
    g.op("MultiThreshold", g.const(np.sort(RNG.normal(0, 1, (4, 3)), 1).astype(np.float32)),
         domain=QDOM, name="mt")
    _refused(tmp_path, g, "node 'mt' (MultiThreshold)", "3 thresholds per channel",
             "2-bit activation", "one threshold per channel")


def test_refuses_pow_on_data_and_unknown_qonnx_ops(tmp_path):
    g = _G((1, 6, 6))
    g.bipolar(); g.conv(1, 4)
    g.op("Pow", g.const(np.array(2.0, dtype=np.float32)), name="sq")
    _refused(tmp_path, g, "node 'sq' (Pow)", "not an affine op", "only on constants")
    g = _G((1, 6, 6))
    g.bipolar(); g.conv(1, 4)
    g.op("Trunc", g.const(np.array(1.0, dtype=np.float32)), domain=QDOM, name="tr")
    _refused(tmp_path, g, "node 'tr' (Trunc)", "'qonnx.custom_op.general.Trunc'",
             "not supported by bnnc")


def test_brevitas_infinite_binary_weight_scale_names_the_fix(tmp_path):
    """Brevitas 0.13: weight_bit_width=1 with the default quantizer exports scale inf."""
    from bnnc.errors import ModelError

    g = _G((4,))
    g.bipolar()
    w = g.const(RNG.uniform(-1, 1, (3, 4)).astype(np.float32))
    cur = g.cur
    g.op("BipolarQuant", g.const(np.array([np.inf], dtype=np.float32)), domain=QDOM, first=w,
         name="fc_wq")
    g.op("Gemm", g.cur, first=cur, transB=1)
    with pytest.raises(ModelError) as err:
        onnx_to_ir(load_onnx(g.save(tmp_path / "m.onnx")))
    for p in ("node 'fc_wq' (BipolarQuant)", "[inf]", "weight_bit_width=1",
              "SignedBinaryWeightPerTensorConst"):
        assert p in str(err.value), str(err.value)
