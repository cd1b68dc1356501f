"""Build random binary networks as ONNX files: for tests, benchmarks and trying bnnc out.

:class:`Chain` writes a single-input graph op by op with ``onnx.helper``;
:func:`cnv_w1a1` and :func:`tfc_w1a1` build the BNN-PYNQ topologies with random +-1
weights and random BatchNorm statistics (throughput and bit-exactness do not depend on
trained values).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

__all__ = ["Chain", "cnv_w1a1", "tfc_w1a1", "run_onnxruntime", "subbit_conv_model"]


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

    def op(self, op_type: str, *extra_inputs: str, first: str | None = None, **attrs: object) -> str:
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


def cnv_w1a1(path: str | Path, seed: int = 0, classes: int = 10,
             subbit_tau: int | None = None) -> Path:
    """BNN-PYNQ's CNV topology: 3x32x32 uint8; convs 64, 64, pool, 128, 128, pool, 256, 256
    (3x3, no padding); dense 512, 512, ``classes``; BatchNorm + sign after every layer but
    the last (which ends in a BatchNorm affine). With ``subbit_tau`` every conv but the
    first takes its kernels from a random codebook of 2**subbit_tau patterns (plain form)."""
    b = Chain((3, 32, 32), seed=seed)
    b.cast_float()
    b.scalar("Div", 255.0)
    cin = 3
    for i, cout in enumerate((64, 64, 128, 128, 256, 256)):
        b.conv(cin, cout, codebook=None if (subbit_tau is None or i == 0) else 1 << subbit_tau)
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
