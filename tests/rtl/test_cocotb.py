"""The cocotb + cocotbext-axi testbench (bnnc.sim.cocotb_tb): protocol tier of RTL simulation.

One multi-layer design with mismatched rates (the random-stall design of
test_rtl_designs), compiled once; one cocotb Verilator build for its bnnc Verilog and
one for a stand-in of Vitis HLS's exported Verilog:

* bnnc's Verilog: every output equals golden and the measured latency and interval equal
  the cycle model; again bit-exact under seeded gaps/backpressure in batches whose last
  one is short (TLAST after each batch, checked by the bench);
* ``--hls-verilog`` mode on a stand-in (Vitis HLS is not available here): bnnc's Verilog
  behind board_templates/bnnc_top_axi.v renamed to ``bnnc_top``, so it has the ports Vitis
  exports for the HLS top (ap_clk, ap_rst_n, s_axi_control_* with n_frames at 0x10 and
  ap_start at 0x00, in_r_*, out_r_*); outputs checked against golden, cycles reported;
* the checker is not vacuous: a wrong expected score is reported with its frame;
* the CLI: ``bnnc rtlsim --cocotb --batch N`` and ``--hls-verilog DIR``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bnnc.api import CompileOptions, compile_model
from bnnc.backends.board import TEMPLATE_DIR as BOARD_TEMPLATE_DIR
from bnnc.cli import main as cli
from bnnc.errors import SimulationMismatch, UsageError
from bnnc.sim.cocotb_tb import hls_verilog_sources, run_cocotb, run_project

from test_rtl_designs import _stall_model

# two cocotb Verilator builds (~15 s each on 2 free cores) dominate: the module is slow
pytestmark = [pytest.mark.rtlsim, pytest.mark.slow]

FOLD = {"conv1": {"pe": 2, "simd": 1}, "conv2": {"pe": 4, "simd": 8},
        "conv3": {"pe": 1, "simd": 16}, "fc1": {"pe": 2, "simd": 4}, "fc2": {"pe": 1, "simd": 2}}


@pytest.fixture(scope="module")
def design(tmp_path_factory):
    d = tmp_path_factory.mktemp("cocotb")
    return compile_model(_stall_model(d / "stall.onnx"), d / "build",
                         CompileOptions(generate="rtl", backend="rtl", fold=FOLD))


def _frames(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 2, 10, 10)).astype(np.uint8)


def _hls_stand_in(rtl_dir: Path, out: Path) -> Path:
    """bnnc's Verilog with the port list Vitis HLS exports for hls/'s bnnc_top."""
    out.mkdir(parents=True, exist_ok=True)
    for f in rtl_dir.iterdir():
        if f.suffix in (".v", ".mem"):
            shutil.copy(f, out / f.name)
    core = (out / "bnnc_top.v").read_text().replace("module bnnc_top (", "module bnnc_core (")
    (out / "bnnc_top.v").unlink()
    (out / "bnnc_core.v").write_text(core)
    axi = (BOARD_TEMPLATE_DIR / "bnnc_top_axi.v").read_text()
    axi = axi.replace("module bnnc_top_axi #(", "module bnnc_top #(")
    axi = axi.replace("    bnnc_top u_core (", "    bnnc_core u_core (")
    (out / "bnnc_top.v").write_text(axi)
    return out


def test_cocotb_equals_golden_and_cycle_model(design):
    x = _frames(4, 0)
    res = run_project(design.path, x)
    assert np.array_equal(res.scores, design.scores(x, backend="golden"))
    assert res.cycles_checked
    model = design.report["cycle_model"]
    assert (res.run.latency, res.run.interval) == (model["latency"], model["interval"])


def test_cocotb_gaps_backpressure_batches(design):
    x = _frames(5, 1)
    res = run_project(design.path, x, batch=2, gaps=0.4, backpressure=0.6, seed=3)
    assert np.array_equal(res.scores, design.scores(x, backend="golden"))
    assert not res.cycles_checked
    assert res.run.interval > design.report["cycle_model"]["interval"] or res.run.latency > \
        design.report["cycle_model"]["latency"]  # the stalls did slow it down


def test_cocotb_checker_reports_a_wrong_score(design):
    x = _frames(2, 2)
    spec = design.spec
    wrong = design.scores(x, backend="golden").copy()
    wrong[1, 3] += 1
    rtl = design.rtl_dir
    with pytest.raises(SimulationMismatch, match=r"frame 1, output 3: rtl -?\d+, golden -?\d+"):
        run_cocotb([rtl / f for f in (rtl / "files.f").read_text().split()], design._pack(
            spec.quantize(x)), 2, in_words=spec.in_words, out_words=spec.out_words,
            classes=spec.classes, expected=wrong, data_dirs=[rtl])


def test_hls_verilog_mode_on_stand_in(design, tmp_path):
    hls = _hls_stand_in(design.rtl_dir, tmp_path / "verilog")
    x = _frames(3, 4)
    res = run_project(design.path, x, hls_verilog=hls, batch=2, backpressure=0.3, seed=5)
    assert res.mode == "hls" and not res.cycles_checked
    assert np.array_equal(res.scores, design.scores(x, backend="golden"))
    assert res.run.latency >= design.report["cycle_model"]["latency"]
    # without backpressure the AXI-Lite wrapper adds no cycles inside a batch
    res = run_project(design.path, x, hls_verilog=hls, batch=3)
    assert res.run.interval == design.report["cycle_model"]["interval"]


def test_hls_verilog_dir_errors(tmp_path):
    with pytest.raises(UsageError, match="not a directory"):
        hls_verilog_sources(tmp_path / "missing")
    (tmp_path / "other.v").write_text("module other; endmodule\n")
    with pytest.raises(UsageError, match="no Verilog file there defines module bnnc_top"):
        hls_verilog_sources(tmp_path)


def test_cli_cocotb_and_hls_verilog(design, tmp_path, capsys):
    x = _frames(3, 6)
    np.save(tmp_path / "x.npy", x)
    base = ["rtlsim", str(design.path), "--inputs", str(tmp_path / "x.npy"),
            "--outputs", str(tmp_path / "y.npy")]
    assert cli(base + ["--cocotb", "--batch", "2", "--report", str(tmp_path / "c.json")]) == 0
    out = capsys.readouterr().out
    assert "rtlsim (cocotb)" in out and "equal to golden" in out and "(equal to the model)" in out
    rep = json.loads((tmp_path / "c.json").read_text())
    assert rep["simulator"] == "cocotb" and rep["batch"] == 2 and rep["cycles_checked_against_model"]
    assert rep["latency"] == design.report["cycle_model"]["latency"]
    hls = _hls_stand_in(design.rtl_dir, tmp_path / "verilog")
    assert cli(base + ["--hls-verilog", str(hls), "--report", str(tmp_path / "h.json")]) == 0
    assert "Vitis HLS" in capsys.readouterr().out
    assert not json.loads((tmp_path / "h.json").read_text())["cycles_checked_against_model"]
    assert cli(base + ["--batch", "2"]) == 2
    assert "--batch applies to the cocotb testbench" in capsys.readouterr().err
