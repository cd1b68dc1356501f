"""Build random binary networks as ONNX files: for tests, benchmarks and trying bnnc out.

:class:`Chain` writes a single-input graph op by op with ``onnx.helper``;
:func:`cnv_w1a1` and :func:`tfc_w1a1` build the BNN-PYNQ topologies with random +-1
weights and random BatchNorm statistics (throughput and bit-exactness do not depend on
trained values).
"""

from __future__ import annotations

from pathlib import Path

from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

__all__ = ["Chain", "cnv_w1a1", "tfc_w1a1", "bitplane_net", "run_onnxruntime",
           "twos_complement_code", "subbit_conv_model", "quantized_branch_params"]


class Chain:
    """Build a single-input, single-output ONNX graph op by op."""

    def __init__(self, input_shape: tuple[int, ...], dtype: int = TensorProto.UINT8,
                 seed: int = 0, opset: int = 18, input_name: str = "x") -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.input = helper.make_tensor_value_info(input_name, dtype, ["N", *input_shape])
        self.cur = input_name
        self.k = 0
        self.opset = opset

    def _name(self, base: str) -> str:
        self.k += 1
        return f"{base}_{self.k}"

    def const(self, arr: np.ndarray, base: str = "c") -> str:
        name = self._name(base)
        self.inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def op(self, op_type: str, *extra_inputs: str, first: str | None = None, **attrs: Any) -> str:
        out = self._name(op_type.lower())
        ins = [self.cur if first is None else first, *extra_inputs]
        self.nodes.append(helper.make_node(op_type, ins, [out], name=self._name(op_type), **attrs))
        self.cur = out
        return out

    # -------------------------------------------------------------- layers
    def cast_float(self) -> str:
        return self.op("Cast", to=TensorProto.FLOAT)

    def scalar(self, op_type: str, value: float) -> str:
        return self.op(op_type, self.const(np.array(value, dtype=np.float32)))

    def per_channel(self, op_type: str, values: np.ndarray, spatial: bool = True) -> str:
        shape = (1, -1, 1, 1) if spatial else (1, -1)
        return self.op(op_type, self.const(values.astype(np.float32).reshape(shape)))

    def conv(self, cin: int, cout: int, k: int = 3, pad: int = 0, stride: int = 1,
             scale: np.ndarray | None = None, bias: bool = False,
             codebook: int | None = None) -> str:
        """A binary conv; with ``codebook`` = n its kernels come from n random distinct
        +-1 patterns (a sub-bit layer in plain form), with ``scale`` per output channel
        (negative values too, as BatchNorm folded by an exporter) and ``bias``."""
        if codebook is not None:
            pats = self.rng.choice(1 << (k * k), size=codebook, replace=False)
            kern = np.where((pats[:, None] >> np.arange(k * k)) & 1, 1.0, -1.0)
            idx = self.rng.integers(0, codebook, (cout, cin))
            w = kern[idx].reshape(cout, cin, k, k).astype(np.float32)
        else:
            w = np.where(self.rng.random((cout, cin, k, k)) < 0.5, -1.0, 1.0).astype(np.float32)
        if scale is not None:
            w = w * scale.astype(np.float32).reshape(-1, 1, 1, 1)
        ins = [self.const(w, "w")]
        if bias:
            ins.append(self.const(self.rng.normal(0, 2, cout).astype(np.float32), "b"))
        return self.op("Conv", *ins, kernel_shape=[k, k], pads=[pad] * 4, strides=[stride] * 2)

    def pad(self, p: int, value: float) -> str:
        pads = self.const(np.array([0, 0, p, p, 0, 0, p, p], dtype=np.int64), "pads")
        val = self.const(np.array(value, dtype=np.float32), "padv")
        return self.op("Pad", pads, val, mode="constant")

    def gemm(self, fin: int, fout: int, scale: np.ndarray | None = None, bias: bool = False,
             matmul: bool = False) -> str:
        w = np.where(self.rng.random((fout, fin)) < 0.5, -1.0, 1.0).astype(np.float32)
        if scale is not None:
            w = w * scale.astype(np.float32).reshape(-1, 1)
        if matmul:
            return self.op("MatMul", self.const(w.T.copy(), "w"))
        ins = [self.const(w, "w")]
        if bias:
            ins.append(self.const(self.rng.normal(0, 2, fout).astype(np.float32), "b"))
        return self.op("Gemm", *ins, transB=1)

    def batchnorm(self, c: int, gamma: np.ndarray | None = None, spread: float = 4.0) -> str:
        g = gamma if gamma is not None else self.rng.uniform(-1.5, 1.5, c)
        beta = self.rng.normal(0, 2, c)
        mean = self.rng.normal(0, spread, c)
        var = self.rng.uniform(0.2, 10, c)
        ins = [self.const(np.asarray(a, dtype=np.float32), n) for a, n in
               ((g, "gamma"), (beta, "beta"), (mean, "mean"), (var, "var"))]
        return self.op("BatchNormalization", *ins, epsilon=1e-5)

    def binarize(self, threshold: float = 0.0) -> str:
        cond = self.op("GreaterOrEqual", self.const(np.array(threshold, dtype=np.float32)))
        return self.op("Where", self.const(np.array(1.0, dtype=np.float32)),
                       self.const(np.array(-1.0, dtype=np.float32)), first=cond)

    def sign(self) -> str:
        return self.op("Sign")

    def maxpool(self, k: int = 2) -> str:
        return self.op("MaxPool", kernel_shape=[k, k], strides=[k, k])

    def flatten(self) -> str:
        return self.op("Flatten", axis=1)

    def bitplane(self, channels: int, filters: int, height: int, width: int, *, kernel: int = 3,
                 pad: int = 1, stride: int = 1, code: list[int] | None = None,
                 quantize_params: bool = False) -> str:
        """The ONNX pattern of ``bnnc.nn.BitPlaneInput`` (docs/bitplane-training.md) on uint8
        pixels, with random +-1 kernels, per-branch affine and PReLU slopes, plane weights
        1, 1, 2, 2, 4, 4, 8, 8 and a random BatchNorm; no binarization.

        Per branch: scale ``a`` from +-U(0.05, 0.7) (15% negative), shift ``d`` from
        N(0, 0.4), negative slope ``alpha`` from U(-0.3, 0.8). As float32 values (default)
        their exact tables are about 66 bits wide. With ``quantize_params`` they are
        rounded as ``BitPlaneInput(quantize_params=True)`` trains them
        (:func:`quantized_branch_params`): ``a`` and ``d`` to the grid k/16, ``alpha`` to a
        signed power of two 2**-e (0 <= e <= 6) or 0, so the tables are narrow (about 17
        bits) like a trained model's."""
        r = self.rng
        p, b = channels * 8, channels * 8 * filters
        table = code if code is not None else twos_complement_code()
        planes = np.array([[1.0 if (q >> i) & 1 else -1.0 for i in range(8)] for q in table],
                          dtype=np.float32)
        self.op("Cast", to=TensorProto.INT64)
        self.op("Gather", self.cur, first=self.const(planes, "plane_table"), axis=0)
        self.op("Transpose", perm=[0, 1, 4, 2, 3])
        self.op("Reshape", self.const(np.array([-1, p, height, width], dtype=np.int64), "shape"))
        if pad:
            self.pad(pad, 1.0)
        w = np.where(r.random((b, 1, kernel, kernel)) < 0.5, -1.0, 1.0).astype(np.float32)
        self.op("Conv", self.const(w, "w"), group=p, kernel_shape=[kernel, kernel],
                pads=[0, 0, 0, 0], strides=[stride, stride])
        oh = (height + 2 * pad - kernel) // stride + 1
        ow = (width + 2 * pad - kernel) // stride + 1
        a = r.uniform(0.05, 0.7, b) * np.where(r.random(b) < 0.15, -1, 1)
        d = r.normal(0, 0.4, b)
        alpha = r.uniform(-0.3, 0.8, b)
        if quantize_params:
            a, d, alpha = quantized_branch_params(a, d, alpha)
        self.per_channel("Mul", a)
        self.per_channel("Add", d)
        self.op("PRelu", self.const(alpha.astype(np.float32).reshape(1, b, 1, 1), "slope"))
        self.op("Reshape", self.const(np.array([-1, channels, 8, filters, oh, ow], dtype=np.int64),
                                      "shape"))
        m = np.array([2.0 ** (i // 2) for i in range(8)], dtype=np.float32).reshape(8, 1, 1, 1)
        self.op("Mul", self.const(m, "plane_weight"))
        self.op("ReduceSum", self.const(np.array([1, 2], dtype=np.int64), "axes"), keepdims=0)
        gamma = r.uniform(0.3, 1.5, filters) * np.where(r.random(filters) < 0.3, -1, 1)
        return self.batchnorm(filters, gamma=gamma, spread=4.0 * channels)

    def build(self, path: str | Path | None = None) -> onnx.ModelProto:
        out = helper.make_tensor_value_info(self.cur, TensorProto.FLOAT, None)
        graph = helper.make_graph(self.nodes, "test", [self.input], [out], self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)])
        model.ir_version = 8
        if path is not None:
            onnx.save(model, str(path))
        return model


def run_onnxruntime(path: str | Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def twos_complement_code() -> list[int]:
    """The paper's default pixel code (as ``bnnc.nn.twos_complement_table``, without torch):
    ``q = clip(round(128 * (p / 127.5 - 1)), -127, 127)`` as the byte ``q mod 256``."""
    from fractions import Fraction

    return [max(-127, min(127, round(Fraction(128) * (Fraction(2 * p, 255) - 1)))) % 256
            for p in range(256)]


def quantized_branch_params(a: np.ndarray, d: np.ndarray,
                            alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Round a bit-plane layer's per-branch ``a, d, alpha`` as ``BitPlaneInput``'s
    ``quantize_params=True`` forward pass does (``bnnc.nn.bitplane``, without torch):
    ``a`` and ``d`` to the nearest ``k / 2**4`` clamped to [-4, 4], ``alpha`` to the
    nearest signed power of two ``2**-e`` in log2, ``0 <= e <= 6``, or 0 below ``2**-7``."""
    frac, lim, emax = 4, 4.0, 6  # PARAM_FRAC_BITS, 2**PARAM_INT_BITS, SLOPE_MAX_SHIFT
    step = float(1 << frac)
    qa = np.clip(np.round(a * step) / step, -lim, lim)
    qd = np.clip(np.round(d * step) / step, -lim, lim)
    mag = np.abs(alpha)
    e = np.clip(np.round(np.log2(np.maximum(mag, 2.0 ** (-emax - 2)))), -emax, 0)
    qal = np.where(mag < 2.0 ** (-emax - 1), 0.0, np.sign(alpha) * 2.0 ** e)
    return qa, qd, qal


def bitplane_net(path: str | Path, channels: int = 3, filters: int = 4, size: int = 16,
                 seed: int = 0, classes: int = 4, *, kernel: int = 3, pad: int = 1,
                 stride: int = 1, quantize_params: bool = False) -> Path:
    """A bit-plane first layer (random float32 parameters, or few-bit ones with
    ``quantize_params``: :meth:`Chain.bitplane`) + Binarize + a dense classifier."""
    b = Chain((channels, size, size), seed=seed)
    b.bitplane(channels, filters, size, size, kernel=kernel, pad=pad, stride=stride,
               quantize_params=quantize_params)
    b.binarize()
    b.flatten()
    o = (size + 2 * pad - kernel) // stride + 1
    b.gemm(filters * o * o, classes)
    b.batchnorm(classes)
    b.build(path)
    return Path(path)


def cnv_w1a1(path: str | Path, seed: int = 0, classes: int = 10,
             first_layer: str = "8bit", subbit_tau: int | None = None, *,
             quantize_params: bool = True) -> Path:
    """BNN-PYNQ's CNV topology: 3x32x32 uint8; convs 64, 64, pool, 128, 128, pool, 256, 256
    (3x3, no padding); dense 512, 512, ``classes``; BatchNorm + sign after every layer but
    the last (which ends in a BatchNorm affine).

    ``first_layer``: ``"8bit"`` (8-bit pixels x binary weights, as BNN-PYNQ) or
    ``"bitplane"`` (the bit-plane layer of ``bnnc.nn.BitPlaneInput`` with 64 filters, no
    padding, so every later layer is unchanged; :meth:`Chain.bitplane`). Its per-branch
    parameters are few-bit, as ``BitPlaneInput(quantize_params=True)`` trains them (the
    default, 18-bit exact tables), or float32 with ``quantize_params=False`` (66-bit
    tables). With ``subbit_tau`` every conv but the first takes its kernels from a random
    codebook of 2**subbit_tau patterns (plain form)."""
    if first_layer not in ("8bit", "bitplane"):
        raise ValueError(f"first_layer must be '8bit' or 'bitplane', not {first_layer!r}")
    b = Chain((3, 32, 32), seed=seed)
    if first_layer == "8bit":
        b.cast_float()
        b.scalar("Div", 255.0)
    cin = 3
    for i, cout in enumerate((64, 64, 128, 128, 256, 256)):
        if i == 0 and first_layer == "bitplane":
            b.bitplane(3, cout, 32, 32, pad=0, quantize_params=quantize_params)
        else:
            b.conv(cin, cout,
                   codebook=None if (subbit_tau is None or i == 0) else 1 << subbit_tau)
            b.batchnorm(cout, spread=40.0 if i == 0 else 4.0)
        b.binarize()
        if i in (1, 3):
            b.maxpool(2)
        cin = cout
    b.flatten()
    for fin, fout in ((256, 512), (512, 512)):
        b.gemm(fin, fout)
        b.batchnorm(fout)
        b.binarize()
    b.gemm(512, classes)
    b.batchnorm(classes)
    b.build(path)
    return Path(path)


def tfc_w1a1(path: str | Path, seed: int = 0, hidden: int = 64, classes: int = 10) -> Path:
    """FINN's TFC topology: 28x28 uint8 image, three binary dense layers of ``hidden``."""
    b = Chain((1, 28, 28), seed=seed)
    b.cast_float()
    b.scalar("Div", 255.0)
    b.flatten()
    fin = 784
    for _ in range(3):
        b.gemm(fin, hidden)
        b.batchnorm(hidden)
        b.binarize()
        fin = hidden
    b.gemm(fin, classes)
    b.batchnorm(classes)
    b.build(path)
    return Path(path)


def subbit_conv_model(path: str | Path, seed: int = 0, patterns: int = 32) -> Path:
    """A small plain-form sub-bit net: float 8x6x6 input, binarized; conv 8->16 (zero
    padding, kernels from ``patterns`` codewords, per-channel scales with negative ones and
    a bias: BatchNorm folded by an exporter); Pad(+1) + conv 16->16 (another codebook, +-1
    weights); dense 576 -> 10."""
    b = Chain((8, 6, 6), dtype=TensorProto.FLOAT, seed=seed)
    b.binarize()
    scale = b.rng.uniform(0.5, 2.0, 16) * np.where(b.rng.random(16) < 0.4, -1.0, 1.0)
    b.conv(8, 16, pad=1, scale=scale, bias=True, codebook=patterns)
    b.binarize()
    b.pad(1, 1.0)
    b.conv(16, 16, codebook=patterns)
    b.binarize(0.5)
    b.flatten()
    b.gemm(16 * 6 * 6, 10)
    b.build(path)
    return Path(path)
