"""BNN-PYNQ networks built with Brevitas, exported to QONNX, compiled by bnnc.

The ladder of DESIGN.md section 1 on each network: qonnx's executor (float32) -> bnnc's
golden model (exact integers) -> C-simulation of the generated HLS and RTL simulation of
the generated Verilog (both bit-exact to golden; RTL cycles equal to the cycle model).
"""

from __future__ import annotations

import numpy as np
import pytest

import bnnc
from bnnc import golden, ir
from bnnc.frontend.convert import onnx_to_ir
from bnnc.frontend.load import load_onnx
from bnnc.host.model import ModelSpec
from bnnc.passes import run_pipeline
from bnnc.testing_brevitas import compare_outputs, random_inputs, run_qonnx

from brevitas_models import exported

NETS = ("tfc-w1a1", "lfc-w1a1", "cnv-w1a1")
REF_FRAMES = {"tfc-w1a1": 64, "lfc-w1a1": 16, "cnv-w1a1": 8}  # qonnx executor: ~0.4 s/CNV frame
CSIM_FRAMES = {"tfc-w1a1": 32, "lfc-w1a1": 8, "cnv-w1a1": 3}


def _quantize(graph: ir.Graph, x: np.ndarray) -> np.ndarray:
    inp = graph.input
    spec = ModelSpec(name="m", input_name=inp.onnx_name, input_dtype="float",
                     input_shape=list(x.shape[1:]), frame_shape=list(inp.shape),
                     element="bipolar" if inp.dtype.bits == 1 else "uint8", quant=inp.quant,
                     quant_scale=inp.quant_scale, quant_zero_point=inp.quant_zero_point,
                     binarize_threshold=inp.binarize_threshold, in_words=0,
                     output_name="y", classes=0, out_words=0, scale=[], bias=[])
    return spec.quantize(x)


def _check_contract(graph: ir.Graph, path, x: np.ndarray) -> dict:
    s = golden.run(graph, _quantize(graph, x))
    ref, ties = run_qonnx(path, x, count_ties=True)
    out = graph.output
    stats = compare_outputs(s, graph.consts[out.scale], graph.consts[out.bias], ref, ties)
    assert stats["unexplained"] == 0, stats   # every integer difference sits on a float tie
    assert stats["ulp_violations"] == 0, stats
    assert stats["argmax_diff"] == 0, stats
    return stats


@pytest.mark.parametrize("name", NETS)
def test_golden_matches_qonnx_executor(name):
    path = exported(name)
    graph = onnx_to_ir(load_onnx(path))
    kinds = [n.kind for n in graph]
    n_layers = {"tfc-w1a1": 4, "lfc-w1a1": 4, "cnv-w1a1": 9}[name]
    assert kinds.count("Conv") + kinds.count("Dense") == n_layers
    assert kinds.count("Threshold") == n_layers - 1
    for th in (n for n in graph if isinstance(n, ir.Threshold)):  # non-trivial thresholds
        assert np.unique(graph.consts[th.thresholds]).size > 3, th.name
    x = random_inputs(name, REF_FRAMES[name], seed=11)
    stats = _check_contract(graph, path, x)
    assert stats["score_mismatch"] == 0, stats  # random data: no ties expected either
    hw = run_pipeline(graph)
    q = _quantize(graph, x)
    assert np.array_equal(golden.run(hw, q), golden.run(graph, q))


def test_cnv_input_quantizer_maps_onto_uint8_exactly():
    """2x - 1 then an 8-bit signed quantizer (scale 2^-7) is clip(rint(256 x), 0, 255)."""
    graph = onnx_to_ir(load_onnx(exported("cnv-w1a1")))
    inp = graph.input
    assert (inp.quant, inp.quant_scale, inp.quant_zero_point) == ("quantize_linear", 2.0 ** -8, 0)
    assert inp.dtype == ir.UINT8 and inp.onnx_dtype == "float"
    # edge values: both ends, the rounding midpoints 256 x = k + 1/2 and out-of-range inputs
    edges = np.array([0.0, 1.0, 0.5 / 256, 1.5 / 256, 254.5 / 256, 255.5 / 256, -0.3, 1.7,
                      0.25, 0.75], dtype=np.float32)
    x = np.broadcast_to(edges[:, None, None, None], (edges.size, 3, 32, 32)).copy()
    stats = _check_contract(graph, exported("cnv-w1a1"), x)
    assert stats["score_mismatch"] == 0, stats


def test_tfc_torchscript_exporter():
    """The older TorchScript exporter (MatMul + Transpose, Flatten) gives the same network."""
    path = exported("tfc-w1a1", dynamo=False)
    graph = onnx_to_ir(load_onnx(path))
    assert graph.input.quant == "binarize" and graph.input.binarize_threshold == 0.5
    _check_contract(graph, path, random_inputs("tfc-w1a1", 60, seed=12))
    ref = onnx_to_ir(load_onnx(exported("tfc-w1a1")))
    q = _quantize(graph, random_inputs("tfc-w1a1", 20, seed=13))
    assert np.array_equal(golden.run(graph, q), golden.run(ref, q))


@pytest.fixture(scope="module", params=NETS)
def compiled(request, tmp_path_factory):
    """Each network compiled once, HLS and RTL projects both."""
    name = request.param
    return name, bnnc.compile(exported(name), tmp_path_factory.mktemp(name) / "build")


@pytest.mark.csim
def test_csim_equals_golden(compiled):
    name, proj = compiled
    x = random_inputs(name, CSIM_FRAMES[name], seed=21)
    sim = proj.scores(x, backend="csim")
    assert np.array_equal(sim, proj.scores(x, backend="golden"))
    ref, ties = run_qonnx(exported(name), x, count_ties=True)
    stats = compare_outputs(sim, proj.spec.scale, proj.spec.bias, ref, ties)
    assert stats["unexplained"] == 0 and stats["argmax_diff"] == 0, stats
    y = proj.predict(x, backend="csim")
    assert y.dtype == np.float32 and y.shape == ref.shape


@pytest.mark.rtlsim
def test_rtlsim_equals_golden_and_cycle_model(compiled):
    """The Verilog twin: bit-exact with golden (hence with qonnx's executor up to the
    contract checked above), and the measured latency and interval equal the model."""
    name, proj = compiled
    x = random_inputs(name, CSIM_FRAMES[name], seed=22)
    res = proj.rtlsim(x)
    assert np.array_equal(res.scores, proj.scores(x, backend="golden"))
    ref, ties = run_qonnx(exported(name), x, count_ties=True)
    stats = compare_outputs(res.scores, proj.spec.scale, proj.spec.bias, ref, ties)
    assert stats["unexplained"] == 0 and stats["argmax_diff"] == 0, stats
    model = proj.report["cycle_model"]
    assert (res.run.latency, res.run.interval) == (model["latency"], model["interval"])
