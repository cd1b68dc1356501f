"""Frontend semantics: golden (exact integers) against onnxruntime on random models."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto

from bnnc import golden, ir
from bnnc.frontend.convert import onnx_to_ir
from bnnc.frontend.load import load_onnx
from bnnc.passes import run_pipeline

from conftest import compare_with_onnxruntime
from bnnc.testing import Chain, run_onnxruntime

RNG = np.random.default_rng(1234)


def _check(model_path, x, feed=None, spec_input=None):
    """golden == onnxruntime under the output contract; the pass pipeline keeps golden."""
    graph = onnx_to_ir(load_onnx(model_path))
    inp = graph.input
    if inp.quant == "uint8":
        q = x
    elif inp.quant == "binarize":
        q = np.where(x >= np.float32(inp.binarize_threshold), 1, -1)
    else:
        q = np.clip(np.rint(x / np.float32(inp.quant_scale)) + inp.quant_zero_point, 0, 255)
    q = q.reshape((x.shape[0], *inp.shape))
    s = golden.run(graph, q)
    out = graph.output
    y = s * graph.consts[out.scale] + graph.consts[out.bias]
    ref = run_onnxruntime(model_path, x if feed is None else feed)
    stats = compare_with_onnxruntime(y, ref)
    assert stats["argmax_diff"] == 0, stats
    assert stats["max_ulp"] <= 64, stats
    hw = run_pipeline(graph)
    assert np.array_equal(golden.run(hw, q), s), "pass pipeline changed golden's integers"
    return graph, hw


def _u8(n, c, h, w):
    return RNG.integers(0, 256, (n, c, h, w)).astype(np.uint8)


def test_cnv_like_all_paddings_and_gamma_signs(tmp_path):
    b = Chain((3, 9, 11), seed=1)
    b.cast_float(); b.scalar("Div", 255.0)
    b.conv(3, 8, pad=1)
    gamma = np.array([1.0, -1.0, 0.0, 0.5, -0.25, 2.0, 0.0, -3.0])
    b.batchnorm(8, gamma=gamma, spread=20); b.binarize()
    b.conv(8, 8, pad=1); b.batchnorm(8); b.binarize()           # zero padding: masked taps
    b.pad(1, 1.0); b.conv(8, 16); b.batchnorm(16); b.binarize()  # +1 padding
    b.maxpool(2)
    b.pad(1, -1.0); b.conv(16, 16, stride=2); b.batchnorm(16); b.binarize()  # -1 pad, stride 2
    b.flatten(); b.gemm(16 * 2 * 3, 10); b.batchnorm(10)
    p = tmp_path / "m.onnx"
    b.build(p)
    graph, hw = _check(p, _u8(64, 3, 9, 11))
    kinds = [n.kind for n in hw]
    assert kinds.count("SlidingWindow") == 4 and kinds.count("Pool") == 1
    swgs = [n for n in hw if isinstance(n, ir.SlidingWindow)]
    assert [s.masked for s in swgs] == [False, True, False, False]
    assert [s.pad_value for s in swgs] == [0, 0, 1, -1]


def test_integer_pool_before_negative_gamma_uses_and(tmp_path):
    b = Chain((1, 8, 8), seed=2)
    b.cast_float()
    b.conv(1, 6, pad=1)
    b.maxpool(2)
    b.batchnorm(6, gamma=np.array([1.0, -1.0, -0.5, 2.0, 0.0, -2.0]), spread=100)
    b.binarize()
    b.flatten(); b.gemm(6 * 16, 5)
    p = tmp_path / "m.onnx"
    b.build(p)
    graph, hw = _check(p, _u8(200, 1, 8, 8))
    pool = next(n for n in hw if isinstance(n, ir.Pool))
    assert pool.and_mask is not None
    assert hw.consts[pool.and_mask].tolist() == [0, 1, 1, 0, 0, 1] or \
        hw.consts[pool.and_mask][[1, 2, 5]].all()


def test_exporter_folded_batchnorm_scales_with_negative_channels(tmp_path):
    b = Chain((2, 6, 6), seed=3)
    b.cast_float(); b.scalar("Div", 255.0)
    scale = np.array([0.5, -0.75, 1.25, -2.0])
    b.conv(2, 4, pad=1, scale=scale, bias=True); b.binarize()
    b.flatten(); b.gemm(4 * 36, 3, scale=np.array([1.5, -0.5, 0.25]), bias=True)
    p = tmp_path / "m.onnx"
    b.build(p)
    _check(p, _u8(100, 2, 6, 6))


def test_affine_chain_mul_add_sub_and_matmul(tmp_path):
    b = Chain((1, 5, 5), seed=4)
    b.cast_float(); b.scalar("Sub", 128.0); b.scalar("Div", 64.0)
    b.conv(1, 4)  # no padding: normalization with mean 128 folds exactly
    b.per_channel("Mul", np.array([0.5, -2.0, 1.0, 3.0]))
    b.per_channel("Add", np.array([0.25, 1.0, -7.0, 0.0]))
    b.binarize(threshold=0.5)
    b.flatten(); b.gemm(4 * 9, 6, matmul=True)
    b.scalar("Mul", 0.125)
    p = tmp_path / "m.onnx"
    b.build(p)
    _check(p, _u8(100, 1, 5, 5))


def test_sign_activation_and_greater(tmp_path):
    b = Chain((1, 6, 6), seed=5)
    b.cast_float()
    b.conv(1, 4, pad=1); b.batchnorm(4); b.sign()
    b.conv(4, 4, pad=1)
    b.scalar("Add", 0.5)  # non-integer offset: Greater is never a tie
    b.op("Greater", b.const(np.array(0.0, dtype=np.float32)))
    cond = b.cur
    b.op("Where", b.const(np.array(1.0, dtype=np.float32)),
         b.const(np.array(-1.0, dtype=np.float32)), first=cond)
    b.flatten(); b.gemm(4 * 36, 3)
    p = tmp_path / "m.onnx"
    b.build(p)
    _check(p, _u8(100, 1, 6, 6))


def test_float_input_quantize_linear(tmp_path):
    b = Chain((1, 6, 6), dtype=TensorProto.FLOAT, seed=6)
    s = b.const(np.array(1 / 200, dtype=np.float32))
    z = b.const(np.array(10, dtype=np.uint8))
    b.op("QuantizeLinear", s, z)
    b.op("DequantizeLinear", s, z)
    b.conv(1, 4); b.batchnorm(4); b.binarize()
    b.flatten(); b.gemm(4 * 16, 3)
    p = tmp_path / "m.onnx"
    b.build(p)
    x = RNG.uniform(-0.2, 1.4, (100, 1, 6, 6)).astype(np.float32)
    graph, _ = _check(p, x)
    assert graph.input.quant == "quantize_linear"


def test_float_input_binarized_first_layer(tmp_path):
    b = Chain((3, 6, 6), dtype=TensorProto.FLOAT, seed=7)
    b.binarize(threshold=0.25)
    b.conv(3, 8, pad=1); b.batchnorm(8); b.binarize()
    b.flatten(); b.gemm(8 * 36, 4)
    p = tmp_path / "m.onnx"
    b.build(p)
    x = RNG.normal(0.25, 1, (100, 3, 6, 6)).astype(np.float32)
    graph, hw = _check(p, x)
    assert graph.input.dtype == ir.BIPOLAR and graph.input.quant == "binarize"


def test_mlp_on_flattened_pixels(tmp_path):
    b = Chain((1, 8, 8), seed=8)
    b.cast_float(); b.scalar("Div", 255.0); b.flatten()
    b.gemm(64, 32); b.batchnorm(32); b.binarize()
    b.gemm(32, 10); b.batchnorm(10)
    p = tmp_path / "m.onnx"
    b.build(p)
    _check(p, _u8(200, 1, 8, 8))


def test_thresholds_are_exact_at_ties(tmp_path):
    """A BatchNorm whose threshold is exactly an integer: acc == t must give +1 (sign(0)=+1)."""
    b = Chain((1, 1, 3), seed=9)
    b.cast_float()
    b.gemm_input = None
    b.flatten(); b.gemm(3, 2)
    # y = (x - mean) / sqrt(var + eps) * gamma + beta with mean = 255 exactly, beta = 0
    names = [b.const(np.array(v, dtype=np.float32), n) for v, n in
             (([1.0, -1.0], "g"), ([0.0, 0.0], "b"), ([255.0, 255.0], "m"), ([1.0, 1.0], "v"))]
    b.op("BatchNormalization", *names, epsilon=0.0)
    b.binarize()
    b.gemm(2, 2)
    p = tmp_path / "m.onnx"
    b.build(p)
    graph = onnx_to_ir(load_onnx(p))
    th = next(n for n in graph if isinstance(n, ir.Threshold))
    t = graph.consts[th.thresholds].tolist()
    inv = graph.consts[th.invert].tolist()
    assert t[0] == 255 and inv[0] == 0          # acc >= 255
    assert t[1] == 256 and inv[1] == 1          # not (acc >= 256)  ==  acc <= 255
    x = np.array([[[[85, 85, 85]]], [[[255, 0, 0]]]], dtype=np.uint8)
    _check(p, x)


def test_dynamic_batch_and_legacy_style_constant_weights(tmp_path):
    """Weight binarization left as ops on initializers (legacy exporter) is constant-folded."""
    b = Chain((1, 4, 4), seed=10)
    b.cast_float()
    latent = b.const(RNG.normal(0, 1, (4, 1, 3, 3)).astype(np.float32), "latent")
    zero = b.const(np.array(0.0, dtype=np.float32))
    ge = b.op("GreaterOrEqual", zero, first=latent)
    wb = b.op("Where", b.const(np.array(1.0, dtype=np.float32)),
              b.const(np.array(-1.0, dtype=np.float32)), first=ge)
    b.cur = "x_float"
    b.nodes[0].output[0] = "x_float"
    b.op("Conv", wb, first="x_float", kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    b.batchnorm(4); b.binarize(); b.flatten(); b.gemm(64, 3)
    p = tmp_path / "m.onnx"
    b.build(p)
    _check(p, _u8(50, 1, 4, 4))


def test_folded_batchnorm_with_gamma_zero_gives_a_constant_channel(tmp_path):
    """The exporter folds gamma == 0 into an all-zero weight row: a constant channel."""
    b = Chain((1, 6, 6), seed=11)
    b.cast_float()
    b.conv(1, 4, pad=1, scale=np.array([0.5, 0.0, -1.0, 0.0]), bias=True)
    b.binarize()
    b.flatten(); b.gemm(4 * 36, 3)
    p = tmp_path / "m.onnx"
    b.build(p)
    graph, _ = _check(p, _u8(50, 1, 6, 6))
    th = next(n for n in graph if isinstance(n, ir.Threshold))
    assert graph.consts[th.thresholds].shape == (4,)
