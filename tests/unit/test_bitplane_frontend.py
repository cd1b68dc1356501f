"""The bit-plane first layer in the frontend, golden model and passes (no simulators).

* golden's binarized output of the layer equals onnxruntime's on every pixel value of
  every channel and on random images, except exact float32 ties (counted: a mismatch is
  only allowed where onnxruntime's pre-sign value is within float32 rounding of zero);
* the exact threshold equals a brute-force decision in 80-digit arithmetic;
* the passes keep golden's outputs; the IR survives save/load with its wide integers;
* unsupported variants give one clear error naming the node.
"""

from __future__ import annotations

import decimal
from fractions import Fraction
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from bnnc import golden, ir
from bnnc.cli import main as cli
from bnnc.errors import UnsupportedError
from bnnc.frontend.bitplane import exact_threshold
from bnnc.frontend.convert import onnx_to_ir
from bnnc.passes import run_pipeline
from bnnc.serialize import load_graph, save_graph
from bnnc.testing import bitplane_net

from conftest import REPO

DIGITS = REPO / "examples" / "digits"


def all_values(n_frames: int, channels: int, size: int, seed: int) -> np.ndarray:
    """Frames whose first 256 pixels of every channel are a permutation of 0..255."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(n_frames, channels, size * size))
    for c in range(channels):
        x[0, c, :256] = rng.permutation(256)
    return x.reshape(n_frames, channels, size, size).astype(np.uint8)


def _layer_outputs(model: onnx.ModelProto) -> tuple[onnx.ModelProto, str, str]:
    """The model with the layer's BatchNorm output and its binarization as extra outputs."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    bn = next(n for n in m.graph.node if n.op_type == "BatchNormalization").output[0]
    bits = next(n for n in m.graph.node if n.op_type == "Where").output[0]
    for name in (bits, bn):
        m.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    return m, bits, bn


def _compare(model: onnx.ModelProto, x: np.ndarray) -> tuple[int, int]:
    """(mismatching bits, ties): golden vs onnxruntime on the layer's binarized output."""
    m, _, _ = _layer_outputs(model)
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    outs = sess.run(None, {sess.get_inputs()[0].name: x})
    ort_bits, pre = outs[-2], outs[-1]
    g = onnx_to_ir(model)
    act = next(n for n in g if isinstance(n, ir.Threshold))
    mine = golden.run_all(g, x)[act.name]
    diff = mine != ort_bits
    # a tie: the float32 pre-sign value is within a few ulp of its scale of zero
    ties = np.abs(pre) <= 64 * np.finfo(np.float32).eps * np.abs(pre).max()
    assert not (diff & ~ties).any(), "golden differs from onnxruntime away from a float32 tie"
    return int(diff.sum()), int(ties.sum())


@pytest.mark.parametrize("args", [
    dict(channels=3, filters=4, size=16),
    dict(channels=2, filters=5, size=16, kernel=2, pad=0, stride=2),
    dict(channels=1, filters=3, size=16, kernel=5, pad=2),
], ids=["c3f4k3p1", "c2f5k2s2", "c1f3k5p2"])
def test_golden_equals_onnxruntime_on_every_pixel_value(tmp_path: Path, args: dict) -> None:
    path = bitplane_net(tmp_path / "m.onnx", seed=sum(map(ord, str(args))), **args)
    x = all_values(40, args["channels"], args["size"], seed=3)
    diff, ties = _compare(onnx.load(path), x)
    print(f"bit-plane layer {args}: {diff} mismatching bits, {ties} float32 ties")


def test_shipped_digits_layer_equals_onnxruntime() -> None:
    model = onnx.load(DIGITS / "bitplane.onnx")
    x = np.concatenate([np.load(DIGITS / "data" / "x_test.npy"), all_values(4, 1, 16, 5).reshape(
        -1, 1, 8, 8)])
    diff, ties = _compare(model, x)
    print(f"digits bit-plane layer: {diff} mismatching bits, {ties} float32 ties")
    assert diff == 0


def test_exact_threshold_equals_brute_force() -> None:
    rng = np.random.default_rng(0)
    ctx = decimal.Context(prec=80)
    for case in range(60):
        e = int(rng.integers(0, 40))
        gamma = float(np.float32(rng.choice([-1, 1, 0] if case % 20 == 0 else [-1, 1]) *
                                 rng.uniform(0.1, 2)))
        beta, mean = (float(np.float32(v)) for v in rng.normal(0, 2, 2))
        var, eps = float(np.float32(rng.uniform(0.01, 4))), float(np.float32(1e-5))
        c = Fraction(float(np.float32(rng.normal(0, 0.5)))) if case % 3 else Fraction(0)
        strict = bool(case % 2)
        centre = int((Fraction(mean) + Fraction(rng.normal(0, 2))) * (1 << e))
        lo, hi = centre - 300, centre + 300
        t, inv, _ = exact_threshold(lo, hi, e, c, strict, (gamma, beta, mean, var, eps))
        sq = (ctx.create_decimal(var) + ctx.create_decimal(eps)).sqrt(ctx)
        for u in range(lo, hi + 1):
            val = ctx.divide(ctx.multiply(ctx.create_decimal(gamma), ctx.subtract(
                ctx.divide(decimal.Decimal(u), decimal.Decimal(1 << e)),
                ctx.create_decimal(mean))), sq) + ctx.create_decimal(beta)
            want = val > decimal.Decimal(c.numerator) / decimal.Decimal(c.denominator) if strict \
                else val >= decimal.Decimal(c.numerator) / decimal.Decimal(c.denominator)
            assert ((u >= t) != inv) == want, (case, u)


def test_passes_keep_golden_and_ir_round_trips(tmp_path: Path) -> None:
    g = onnx_to_ir(onnx.load(bitplane_net(tmp_path / "m.onnx", channels=2, filters=4, size=8)))
    x = all_values(6, 2, 16, 1).reshape(-1, 2, 8, 8)[:20]
    hw = run_pipeline(g)
    unit = next(n for n in hw if isinstance(n, ir.BitPlaneMatVec))
    assert unit.simd == unit.planes == 16 and unit.taps == 9
    assert np.array_equal(golden.run(g, x), golden.run(hw, x))
    save_graph(hw, tmp_path / "ir")
    back = load_graph(tmp_path / "ir")
    assert back.consts[unit.tables].dtype == object
    assert np.array_equal(golden.run(back, x), golden.run(hw, x))


def test_digits_tables_are_exact_and_narrow(tmp_path: Path) -> None:
    """The shipped net was trained with quantize_params: few-bit affine and power-of-two
    slopes make narrow exact tables; float32 parameters (a random net) need more than 64
    bits, which golden sums exactly too."""
    g = onnx_to_ir(onnx.load(DIGITS / "bitplane.onnx"))
    conv = next(n for n in g if isinstance(n, ir.BitPlaneConv))
    tab = g.consts[conv.tables]
    assert tab.shape == (32, 8, 10) and tab.dtype == object
    assert max(abs(int(v)) for v in tab.ravel()).bit_length() <= 20
    wide = onnx_to_ir(onnx.load(bitplane_net(tmp_path / "w.onnx", channels=2, filters=4,
                                             size=8, seed=7)))
    conv = next(n for n in wide if isinstance(n, ir.BitPlaneConv))
    assert max(abs(int(v)) for v in wide.consts[conv.tables].ravel()).bit_length() > 63
    x = all_values(2, 2, 16, 1).reshape(-1, 2, 8, 8)
    assert np.array_equal(golden.run(wide, x), golden.run(run_pipeline(wide), x))


def test_quantized_random_params_give_narrow_exact_tables(tmp_path: Path) -> None:
    """bitplane_net(quantize_params=True) (as cnv_w1a1's bit-plane layer): few-bit
    parameters, narrow exact tables, golden == onnxruntime on every pixel value."""
    path = bitplane_net(tmp_path / "q.onnx", channels=3, filters=4, size=16, seed=11,
                        quantize_params=True)
    g = onnx_to_ir(onnx.load(path))
    conv = next(n for n in g if isinstance(n, ir.BitPlaneConv))
    assert max(abs(int(v)) for v in g.consts[conv.tables].ravel()).bit_length() <= 18
    diff, ties = _compare(onnx.load(path), all_values(20, 3, 16, seed=2))
    print(f"quantized random bit-plane layer: {diff} mismatching bits, {ties} float32 ties")


# ------------------------------------------------------------------ unsupported variants
def _edit(tmp_path: Path, fn) -> Path:  # type: ignore[no-untyped-def]
    m = onnx.load(bitplane_net(tmp_path / "m.onnx", channels=1, filters=2, size=6))
    fn(m)
    out = tmp_path / "bad.onnx"
    onnx.save(m, out)
    return out


def _init(m: onnx.ModelProto, name: str, arr: np.ndarray) -> None:
    t = next(t for t in m.graph.initializer if t.name == name)
    t.CopyFrom(onnx.numpy_helper.from_array(arr.astype(onnx.numpy_helper.to_array(t).dtype), name))


def _node(m: onnx.ModelProto, op: str) -> onnx.NodeProto:
    return next(n for n in m.graph.node if n.op_type == op)


def _pad_zero(m: onnx.ModelProto) -> None:
    _init(m, _node(m, "Pad").input[2], np.array(0.0))


def _weights_not_binary(m: onnx.ModelProto) -> None:
    name = _node(m, "Conv").input[1]
    w = onnx.numpy_helper.to_array(next(t for t in m.graph.initializer if t.name == name)).copy()
    w[0, 0, 0, 0] = 0.5
    _init(m, name, w)


def _conv_pads(m: onnx.ModelProto) -> None:
    pad = _node(m, "Pad")
    conv = _node(m, "Conv")
    conv.input[0] = pad.input[0]
    m.graph.node.remove(pad)
    for a in conv.attribute:
        if a.name == "pads":
            a.ints[:] = [1, 1, 1, 1]


def _no_binarize(m: onnx.ModelProto) -> None:
    bn = _node(m, "BatchNormalization")
    keep = list(m.graph.node)[: list(m.graph.node).index(bn) + 1]
    del m.graph.node[:]
    m.graph.node.extend(keep)
    m.graph.output[0].name = bn.output[0]


def _grouped_planes(m: onnx.ModelProto) -> None:
    for a in _node(m, "Conv").attribute:
        if a.name == "group":
            a.i = 1


@pytest.mark.parametrize("edit, message", [
    (_pad_zero, "must be padded with +1 (bit 1), found 0"),
    (_weights_not_binary, "weights must be exactly +-1, found 0.5"),
    (_conv_pads, "pads with zeros (pads [1, 1, 1, 1])"),
    (_no_binarize, "needs it binarized (bnnc.nn.Binarize after BitPlaneInput)"),
    (_grouped_planes, "expected a depth-wise conv over the 8 planes (group=8"),
], ids=["pad0", "weights", "conv_pads", "no_binarize", "group"])
def test_unsupported_variants_are_clear(tmp_path: Path, edit, message: str) -> None:  # type: ignore[no-untyped-def]
    path = _edit(tmp_path, edit)
    with pytest.raises(UnsupportedError) as exc:
        onnx_to_ir(onnx.load(path))
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)


def test_prelu_outside_the_pattern_names_the_hint(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from bnnc.testing import Chain

    b = Chain((4,), dtype=onnx.TensorProto.FLOAT)
    b.binarize()
    b.gemm(4, 4)
    b.op("PRelu", b.const(np.full(4, 0.25, dtype=np.float32)))
    b.binarize()
    b.gemm(4, 2)
    b.build(tmp_path / "p.onnx")
    assert cli(["compile", str(tmp_path / "p.onnx"), "-o", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "PRelu" in err and "hidden activations must be binary" in err
