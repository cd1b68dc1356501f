"""Random BNNs through the whole ladder: onnxruntime -> golden -> C-simulation.

Covers what the shipped digits models do not: binarized float input, QuantizeLinear
input, stride 2, non-square maps, 1x1 and 5x5 kernels, odd channel counts, the AND
pool, and foldings from fully serial (PE = SIMD = 1) to fully parallel.
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto

import bnnc
from bnnc import ir
from bnnc.testing import Chain

from conftest import REPO, compare_with_onnxruntime

RNG = np.random.default_rng(99)


def _binary_input_model(path):
    b = Chain((3, 7, 10), dtype=TensorProto.FLOAT, seed=21)
    b.binarize(threshold=0.1)
    b.conv(3, 6, pad=1, stride=2); b.batchnorm(6); b.binarize()     # 4x5, masked zero pad
    b.pad(2, -1.0); b.conv(6, 5, k=5); b.batchnorm(5); b.binarize()  # 4x5, -1 pad, 5x5 kernel
    b.conv(5, 7, k=1); b.batchnorm(7); b.binarize()                  # 1x1 conv
    b.flatten(); b.gemm(7 * 4 * 5, 9); b.batchnorm(9)
    b.build(path)
    x = RNG.normal(0.1, 1.0, (24, 3, 7, 10)).astype(np.float32)
    return x


def _quantized_input_model(path):
    b = Chain((2, 9, 6), dtype=TensorProto.FLOAT, seed=22)
    s = b.const(np.array(1 / 100, dtype=np.float32))
    z = b.const(np.array(20, dtype=np.uint8))
    b.op("QuantizeLinear", s, z)
    b.op("DequantizeLinear", s, z)
    b.conv(2, 12, pad=0); b.maxpool(2)                               # integer pool ...
    b.batchnorm(12, gamma=np.array([1, -1, 0.5, -0.5, 2, -2, 1, -1, 0.1, -0.1, 0, 3.0]),
                spread=60)                                           # ... before mixed gammas
    b.binarize()
    b.pad(1, 1.0); b.conv(12, 12); b.batchnorm(12); b.binarize()     # +1 pad
    b.flatten(); b.gemm(12 * 3 * 2, 4, matmul=True)
    b.build(path)
    x = RNG.uniform(-0.3, 2.5, (24, 2, 9, 6)).astype(np.float32)
    return x


def _uint8_stride_model(path):
    b = Chain((1, 11, 11), seed=23)
    b.cast_float(); b.scalar("Sub", 16.0); b.scalar("Div", 48.0)     # mean 16: integer pad pixel
    b.conv(1, 8, pad=1, stride=2); b.batchnorm(8, spread=5); b.binarize()   # 6x6
    b.conv(8, 8, pad=1); b.batchnorm(8); b.binarize()
    b.maxpool(3)                                                      # 2x2, kernel 3
    b.flatten(); b.gemm(8 * 2 * 2, 6); b.batchnorm(6); b.binarize()
    b.gemm(6, 5); b.batchnorm(5)
    b.build(path)
    return RNG.integers(0, 256, (24, 1, 11, 11)).astype(np.uint8)


MODELS = {
    "binary_input": (_binary_input_model, {}),
    "quantized_input": (_quantized_input_model, {}),
    "uint8_stride_serial": (_uint8_stride_model, "serial"),
    "uint8_stride_parallel": (_uint8_stride_model, "parallel"),
}


@pytest.mark.csim
@pytest.mark.parametrize("name", list(MODELS))
def test_random_model_csim_equals_golden_and_onnxruntime(tmp_path, name):
    make, mode = MODELS[name]
    path = tmp_path / f"{name}.onnx"
    x = make(path)
    fold = None
    if mode in ("serial", "parallel"):
        probe = bnnc.compile(path, tmp_path / "probe")
        fold = {}
        for n in probe.graph:
            if isinstance(n, ir.MatVec):
                src = probe.graph.node(n.inputs[0])
                simd_max = src.channels if isinstance(src, ir.SlidingWindow) else n.mw
                fold[n.name] = ({"pe": 1, "simd": 1} if mode == "serial"
                                else {"pe": n.mh, "simd": simd_max})
            elif isinstance(n, ir.Pool):
                fold[n.name] = {"simd": 1 if mode == "serial" else n.channels}
    proj = bnnc.compile(path, tmp_path / "build", fold=fold)
    gold = proj.scores(x, backend="golden")
    sim = proj.scores(x, backend="csim")
    assert np.array_equal(sim, gold)
    stats = compare_with_onnxruntime(proj.spec.scores_to_output(sim),
                                     proj.predict(x, backend="onnxruntime"),
                                     proj.output_tolerance())
    assert stats["argmax_diff"] == 0 and stats["violations"] == 0, stats
    if name == "quantized_input":
        pool = next(n for n in proj.graph if isinstance(n, ir.Pool))
        assert pool.and_mask is not None and proj.graph.consts[pool.and_mask].any()


def test_model_with_external_data_loads(tmp_path):
    """torch 2.13 writes weights to model.onnx.data beside model.onnx by default."""
    import onnx

    src = onnx.load(str(REPO / "examples" / "digits" / "tfc.onnx"))
    onnx.save(src, str(tmp_path / "ext.onnx"), save_as_external_data=True,
              all_tensors_to_one_file=True, location="ext.onnx.data", size_threshold=0)
    assert (tmp_path / "ext.onnx.data").exists()
    proj = bnnc.compile(tmp_path / "ext.onnx", tmp_path / "b")
    x = np.load(REPO / "examples" / "digits" / "data" / "x_test.npy")[:50]
    ref = bnnc.compile(REPO / "examples" / "digits" / "tfc.onnx", tmp_path / "c")
    assert np.array_equal(proj.scores(x), ref.scores(x))


@pytest.mark.csim
def test_cnv_w1a1_with_bnn_pynq_folding(tmp_path):
    """The CNV-W1A1 topology: C-simulation == golden, outputs within the bound of onnxruntime."""
    import sys

    sys.path.insert(0, str(REPO / "bench"))
    from compile_time import BNN_PYNQ_CNV_FOLD

    from bnnc.testing import cnv_w1a1

    path = cnv_w1a1(tmp_path / "cnv.onnx", seed=3)
    proj = bnnc.compile(path, tmp_path / "b", fold=BNN_PYNQ_CNV_FOLD)
    assert proj.report["interval_cycles"] == 32768
    x = RNG.integers(0, 256, (3, 3, 32, 32)).astype(np.uint8)
    sim = proj.scores(x, backend="csim")
    assert np.array_equal(sim, proj.scores(x, backend="golden"))
    stats = compare_with_onnxruntime(proj.spec.scores_to_output(sim),
                                     proj.predict(x, backend="onnxruntime"),
                                     proj.output_tolerance())
    assert stats["argmax_diff"] == 0 and stats["violations"] == 0, stats
