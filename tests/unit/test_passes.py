"""Each pass keeps golden's integers; folding is legal, honoured and within budget."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bnnc import golden, ir
from bnnc.cost import node_cost
from bnnc.errors import FoldingError
from bnnc.frontend.convert import onnx_to_ir
from bnnc.frontend.load import load_onnx
from bnnc.host import packing
from bnnc.passes import Fold, pipeline, run_pipeline
from bnnc.passes.fold import parse_fold_spec
from bnnc.serialize import load_graph, save_graph
from bnnc.targets import TARGETS

from bnnc.testing import Chain

RNG = np.random.default_rng(7)


def _model(tmp_path, seed=0):
    b = Chain((2, 10, 10), seed=seed)
    b.cast_float(); b.scalar("Div", 255.0)
    b.conv(2, 8, pad=1); b.batchnorm(8, spread=30); b.binarize()
    b.conv(8, 16, pad=1); b.batchnorm(16); b.binarize()
    b.maxpool(2)
    b.pad(1, 1.0); b.conv(16, 16); b.batchnorm(16); b.binarize()
    b.conv(16, 32, stride=2); b.batchnorm(32); b.binarize()
    b.flatten(); b.gemm(32 * 2 * 2, 20); b.batchnorm(20); b.binarize()
    b.gemm(20, 7); b.batchnorm(7)
    p = tmp_path / "m.onnx"
    b.build(p)
    return onnx_to_ir(load_onnx(p))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_pass_keeps_golden(tmp_path, seed):
    g = _model(tmp_path, seed)
    x = RNG.integers(0, 256, (40, 2, 10, 10))
    want = golden.run(g, x)
    for p in pipeline(Fold(target=TARGETS["pynq-z2"])):
        g = p(g).verify()
        assert np.array_equal(golden.run(g, x), want), f"pass {getattr(p, '__name__', p)} changed golden"
    kinds = {n.kind for n in g}
    assert kinds <= {"Input", "SlidingWindow", "MatVec", "Pool", "FlattenNHWC", "WidthConvert", "Output"}


def test_nodes_are_frozen_and_keyword_only():
    n = ir.MaxPool(name="p", inputs=("a",), kernel=2, stride=2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        n.kernel = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        ir.MaxPool("p", ("a",), 2, 2)  # type: ignore[misc]


def test_graph_constants_are_read_only(tmp_path):
    g = _model(tmp_path)
    arr = next(iter(g.consts.values()))
    with pytest.raises(ValueError):
        arr[...] = 0


def test_verify_names_the_culprit():
    nodes = [ir.Input(name="in", shape=(1, 2, 2), dtype=ir.UINT8),
             ir.Flatten(name="f", inputs=("nope",))]
    with pytest.raises(ir.IRError, match="node 'f' \\(Flatten\\) reads 'nope'"):
        ir.Graph(nodes, {}).verify()


def test_serialization_round_trip(tmp_path):
    g = run_pipeline(_model(tmp_path))
    save_graph(g, tmp_path / "ir")
    h = load_graph(tmp_path / "ir")
    assert h.nodes == g.nodes
    x = RNG.integers(0, 256, (10, 2, 10, 10))
    assert np.array_equal(golden.run(h, x), golden.run(g, x))
    first = (tmp_path / "ir" / "consts.npz").read_bytes()
    save_graph(g, tmp_path / "ir")
    assert (tmp_path / "ir" / "consts.npz").read_bytes() == first  # deterministic


def test_fold_overrides_are_honoured(tmp_path):
    g = _model(tmp_path)
    f = Fold(overrides={"conv2": {"pe": 4, "simd": 2}, "fc1": {"pe": 5}})
    hw = run_pipeline(g, pipeline(f))
    mv = {n.name: n for n in hw if isinstance(n, ir.MatVec)}
    assert (mv["conv2"].pe, mv["conv2"].simd) == (4, 2)
    assert mv["fc1"].pe == 5


@pytest.mark.parametrize("spec, message", [
    ({"conv2": {"pe": 3}}, "illegal folding conv2.pe=3: pe must divide 16 and keep words within 1024 bits; legal values: 1, 2, 4, 8, 16"),
    ({"conv2": {"simd": 16}}, "illegal folding conv2.simd=16: simd must divide 8 and keep words within 1024 bits; legal values: 1, 2, 4, 8"),
    ({"conv9": {"pe": 1}}, "--fold names layer 'conv9', which has no folding"),
    ({"conv2": {"lanes": 2}}, "layer 'conv2' has no parameter 'lanes'"),
])
def test_illegal_folds_are_refused_with_the_legal_choices(tmp_path, spec, message):
    g = _model(tmp_path)
    with pytest.raises(FoldingError) as exc:
        run_pipeline(g, pipeline(Fold(overrides=spec)))
    assert message in str(exc.value)


def test_fold_spec_parsing():
    assert parse_fold_spec("conv2.pe=8, conv2.simd=32,fc1.pe=2") == {
        "conv2": {"pe": 8, "simd": 32}, "fc1": {"pe": 2}}
    with pytest.raises(FoldingError, match="expected LAYER.pe=N"):
        parse_fold_spec("conv2=8")


def test_auto_fold_fits_budget_and_fps_stops_early(tmp_path):
    g = _model(tmp_path)
    t = TARGETS["pynq-z2"]
    fast = run_pipeline(g, pipeline(Fold(target=t)))
    slow = run_pipeline(g, pipeline(Fold(target=t, fps=1000)))
    worst = lambda h: max(node_cost(h, n).cycles for n in h)  # noqa: E731
    assert worst(fast) < worst(slow)
    assert t.clock_mhz * 1e6 / worst(slow) >= 1000
    assert sum(node_cost(fast, n).luts for n in fast) <= t.luts * t.lut_fraction


def test_packing_round_trip():
    x = RNG.choice([-1, 1], size=(3, 8, 5, 4))
    words = packing.tensor_to_words(x, 1, 4, bipolar=True)
    assert len(words) == 3 * 5 * 4 * 2
    assert np.array_equal(packing.words_to_tensor(words, x.shape, 1, 4, bipolar=True), x)
    p = RNG.integers(0, 256, (2, 3, 4, 5))
    w = packing.pack_frames(p, 8)
    assert w.dtype == np.uint64 and w.size == 2 * 8  # 60 bytes -> 8 words per frame
    assert int(w[0]) & 0xFF == p[0, 0, 0, 0] and (int(w[0]) >> 8) & 0xFF == p[0, 1, 0, 0]
    s = RNG.integers(-2 ** 31, 2 ** 31, (4, 3))
    raw = np.zeros((4, 2), dtype="<u8")
    raw.view("<i4")[:, :3] = s
    assert np.array_equal(packing.unpack_frames(raw.reshape(-1), 4, 3), s)


def test_masked_window_words_carry_a_valid_bit():
    x = np.array([[[[1]], [[-1]]], [[[0]], [[0]]]]).reshape(2, 2, 1, 1)  # frame 2 is padding
    words = packing.tensor_to_words(x, 1, 2, bipolar=True, masked=True)
    assert words == [0b101, 0b000]
