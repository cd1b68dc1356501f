"""Sub-bit (codebook) layers: frontend recognition and discovery, both lowerings, the
verification ladder onnxruntime -> golden -> C-sim -> RTL sim (with cycles == model)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import bnnc
from bnnc import golden, ir
from bnnc.api import CompileOptions, compile_model
from bnnc.cli import main as cli
from bnnc.errors import FoldingError, UnsupportedError, UsageError
from bnnc.frontend.convert import ConvertOptions, onnx_to_ir
from bnnc.frontend.load import load_onnx
from bnnc.frontend.subbit import find_codebook, parse_subbit
from bnnc.passes import Fold, pipeline, run_pipeline
from bnnc.passes.fold import parse_fold_spec
from bnnc.testing import run_onnxruntime, subbit_conv_model

from conftest import REPO, compare_with_onnxruntime

DIGITS = REPO / "examples" / "digits"
X = np.load(DIGITS / "data" / "x_test.npy")


@pytest.fixture(scope="module")
def plain_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return subbit_conv_model(tmp_path_factory.mktemp("subbit") / "plain_subbit.onnx")


def _x_plain(n: int = 24, seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 1, (n, 8, 6, 6)).astype(np.float32)


def _convs(graph: ir.Graph) -> list[tuple[str, str, int | None]]:
    return [(n.name, n.kind, getattr(n, "tau", None)) for n in graph
            if isinstance(n, (ir.Conv, ir.SubBitConv))]


def _float_outputs(graph: ir.Graph, scores: np.ndarray) -> np.ndarray:
    o = graph.output
    return scores * graph.consts[o.scale] + graph.consts[o.bias]


# ------------------------------------------------------------------ frontend
def test_explicit_form_is_recognised_and_exact() -> None:
    model = load_onnx(DIGITS / "subbit.onnx")
    graphs = {m: onnx_to_ir(model, ConvertOptions(subbit=m)) for m in ("auto", "off", "tau=5")}
    assert _convs(graphs["auto"]) == [("conv1", "Conv", None), ("conv2", "SubBitConv", 5),
                                      ("conv3", "SubBitConv", 5), ("conv4", "SubBitConv", 5)]
    assert all(k == "Conv" for _, k, _ in _convs(graphs["off"]))
    # the explicit codebook is the file's own
    import onnx
    init = {t.name: onnx.numpy_helper.to_array(t) for t in onnx.load(DIGITS / "subbit.onnx").graph.initializer}
    assert np.array_equal(graphs["auto"].consts["conv3.codebook"], init["conv3.codebook"].astype(np.int8))
    scores = {m: golden.run(g, X) for m, g in graphs.items()}
    assert all(np.array_equal(scores["off"], s) for s in scores.values())
    ref = run_onnxruntime(DIGITS / "subbit.onnx", X)
    stats = compare_with_onnxruntime(_float_outputs(graphs["auto"], scores["auto"]), ref)
    assert stats["argmax_diff"] == 0 and stats["max_ulp"] < 64, stats
    hw = run_pipeline(graphs["auto"], pipeline(Fold()))
    assert np.array_equal(golden.run(hw, X), scores["auto"])


def test_discovery_in_plain_conv_with_folded_batchnorm(plain_model: Path) -> None:
    model = load_onnx(plain_model)
    g = onnx_to_ir(model, ConvertOptions(subbit="auto"))
    assert _convs(g) == [("conv1", "SubBitConv", 5), ("conv2", "SubBitConv", 5)]
    off = onnx_to_ir(model, ConvertOptions(subbit="off"))
    x = _x_plain(200)
    q = (x >= 0).astype(np.int64) * 2 - 1
    s = golden.run(g, q)
    assert np.array_equal(s, golden.run(off, q))
    ref = run_onnxruntime(plain_model, x)
    stats = compare_with_onnxruntime(_float_outputs(g, s), ref)
    assert stats["argmax_diff"] == 0 and stats["max_ulp"] < 64, stats
    # conv1's negative scales moved into its thresholds: some comparisons are inverted
    thr = [n for n in g if isinstance(n, ir.Threshold)][0]
    assert 0 < int(g.consts[thr.invert].sum()) < 16
    for mode in ("decode", "reuse"):
        hw = run_pipeline(g, pipeline(Fold(overrides={"conv1": {"subbit": mode},
                                                      "conv2": {"subbit": mode}})))
        assert {n.mode for n in hw if isinstance(n, ir.CodebookMatVec)} == {mode}
        assert np.array_equal(golden.run(hw, q), s)


def test_sign_normalization_recovers_the_codebook() -> None:
    rng = np.random.default_rng(5)
    pats = rng.choice(512, 32, replace=False)
    kern = np.where((pats[:, None] >> np.arange(9)) & 1, 1, -1)
    idx = rng.integers(0, 32, (64, 16))
    flip = rng.random(64) < 0.5
    signs = (kern[idx] * np.where(flip, -1, 1)[:, None, None]).reshape(64, 16, 3, 3)
    alpha = np.ones(64)
    alpha[7] = 0.0  # a gamma == 0 channel: its kernels carry no information
    book = find_codebook(signs, alpha, tau=None)
    assert book.tau == 5 and book.patterns_used == 32
    norm = np.where(book.flip[:, None, None, None], -signs, signs).reshape(64, 16, 9)
    live = alpha != 0
    assert np.array_equal(book.codebook[book.indices][live], norm[live])


def test_tau_too_small_is_refused_naming_the_layer(plain_model: Path) -> None:
    with pytest.raises(UnsupportedError) as exc:
        onnx_to_ir(load_onnx(plain_model), ConvertOptions(subbit="tau=4"))
    msg = str(exc.value)
    assert "(Conv): --subbit tau=4 needs at most 16 distinct 3x3 kernel patterns" in msg
    assert "found 32" in msg
    with pytest.raises(UsageError, match=r"--subbit 'tau=9': expected auto, off or tau=N"):
        parse_subbit("tau=9")
    with pytest.raises(FoldingError, match="'decode' or 'reuse', not 'fast'"):
        parse_fold_spec("conv2.subbit=fast")
    with pytest.raises(FoldingError, match="'bram', 'lut' or 'auto', not 'ddr'"):
        parse_fold_spec("conv2.mem=ddr")
    g = onnx_to_ir(load_onnx(DIGITS / "subbit.onnx"), ConvertOptions())
    with pytest.raises(FoldingError, match="layer 'fc1' is not a sub-bit"):
        run_pipeline(g, pipeline(Fold(overrides={"fc1": {"subbit": "reuse"}})))


def test_cli_subbit_options_and_report(tmp_path: Path, plain_model: Path, capsys) -> None:
    assert cli(["compile", str(plain_model), "-o", str(tmp_path / "b"), "--subbit", "tau=5",
                "--fold", "conv2.subbit=reuse", "--generate", "hls"]) == 0
    out = capsys.readouterr().out
    assert "sub-bit conv2: tau=5, reuse, weight bits 2,304 plain" in out
    rep = json.loads((tmp_path / "b" / "report.json").read_text())
    row = next(r for r in rep["layers"] if r["name"] == "conv1")
    assert (row["plain_weight_bits"], row["subbit_weight_bits"]) == (9 * 16 * 8, 9 * 32 + 5 * 128)
    assert rep["folding"]["conv2"]["subbit"] == "reuse"
    assert cli(["compile", str(plain_model), "-o", str(tmp_path / "c"), "--subbit", "tau=3",
                "--generate", "hls"]) == 2
    assert "found 32" in capsys.readouterr().err


# ------------------------------------------------------------------ C-sim and RTL
@pytest.mark.csim
@pytest.mark.rtlsim
def test_plain_model_both_lowerings_csim_rtlsim(plain_model: Path, tmp_path: Path) -> None:
    """decode on the zero-padded conv with folded BN, reuse on the +1-padded conv; then
    the opposite, in C-simulation: every rung equals golden, cycles equal the model."""
    x = _x_plain(6)
    proj = compile_model(plain_model, tmp_path / "a", CompileOptions(
        fold={"conv1": {"subbit": "decode", "mem": "bram"},
              "conv2": {"subbit": "reuse", "mem": "lut"}}))
    mems = {r["name"]: r["weight_memory"] for r in proj.report["layers"] if "tau" in r}
    assert mems == {"conv1": "bram", "conv2": "lut"}  # the index ROMs as pinned (X_BRAM)
    g = proj.scores(x, "golden")
    assert np.array_equal(proj.scores(x, "csim"), g)
    r = proj.rtlsim(x)
    assert np.array_equal(r.scores, g)
    assert (r.run.interval, r.run.latency) == (proj.report["cycle_model"]["interval"],
                                               proj.report["cycle_model"]["latency"])
    swapped = compile_model(plain_model, tmp_path / "b", CompileOptions(
        fold={"conv1": {"subbit": "reuse"}, "conv2": {"subbit": "decode"}}, generate="hls"))
    assert np.array_equal(swapped.scores(x, "csim"), g)


@pytest.mark.csim
@pytest.mark.rtlsim
def test_shipped_digits_subbit_csim_rtlsim(tmp_path: Path) -> None:
    """conv2 (zero padding) decode, conv3 (+1 padding) reuse, conv4 (-1 padding) decode."""
    proj = bnnc.compile(DIGITS / "subbit.onnx", tmp_path / "b",
                        fold={"conv3": {"subbit": "reuse"}})
    modes = {n.name: n.mode for n in proj.graph if isinstance(n, ir.CodebookMatVec)}
    assert modes == {"conv2": "decode", "conv3": "reuse", "conv4": "decode"}
    g = proj.scores(X, "golden")
    assert np.array_equal(proj.scores(X, "csim"), g)
    trained = json.loads((DIGITS / "subbit.json").read_text())
    y = proj.predict(X, backend="golden")
    assert y.argmax(1).tolist() == run_onnxruntime(DIGITS / "subbit.onnx", X).argmax(1).tolist()
    assert round(float((y.argmax(1) == np.load(DIGITS / "data" / "y_test.npy")).mean()), 4) == \
        round(trained["torch_test_accuracy"], 4)
    r = proj.rtlsim(X[:6])
    assert np.array_equal(r.scores, g[:6])
    assert (r.run.interval, r.run.latency) == (proj.report["cycle_model"]["interval"],
                                               proj.report["cycle_model"]["latency"])
