"""The generated project Makefile: one-line errors without the vendor tools, the tool
invocations with them (fake executables on PATH), make deploy, and the csynth report."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from bnnc.api import CompileOptions, compile_model
from bnnc.backends.board import csynth_report_path, format_csynth, merge_csynth_report, parse_csynth
from bnnc.cli import main as cli
from bnnc.errors import ModelError

from board_helpers import DIGITS

# A small csynth.xml as Vitis HLS writes it (trimmed to the fields bnnc reads, plus noise).
CSYNTH_XML = """<?xml version="1.0" encoding="UTF-8"?>
<profile>
  <ReportVersion><Version>2023.2</Version></ReportVersion>
  <UserAssignments>
    <unit>ns</unit><ProductFamily>zynq</ProductFamily><Part>xc7z020-clg400-1</Part>
    <TopModelName>bnnc_top</TopModelName><TargetClockPeriod>10.00</TargetClockPeriod>
    <ClockUncertainty>2.70</ClockUncertainty><FlowTarget>vivado</FlowTarget>
  </UserAssignments>
  <PerformanceEstimates>
    <PipelineType>dataflow</PipelineType>
    <SummaryOfTimingAnalysis><unit>ns</unit><EstimatedClockPeriod>7.256</EstimatedClockPeriod></SummaryOfTimingAnalysis>
    <SummaryOfOverallLatency>
      <unit>clock cycles</unit><Best-caseLatency>21</Best-caseLatency>
      <Average-caseLatency>undef</Average-caseLatency><Worst-caseLatency>undef</Worst-caseLatency>
      <Best-caseRealTimeLatency>0.210 us</Best-caseRealTimeLatency>
      <Interval-min>17</Interval-min><Interval-max>undef</Interval-max>
    </SummaryOfOverallLatency>
  </PerformanceEstimates>
  <AreaEstimates>
    <Resources><BRAM_18K>6</BRAM_18K><DSP>0</DSP><FF>4321</FF><LUT>9876</LUT><URAM>0</URAM></Resources>
    <AvailableResources><BRAM_18K>280</BRAM_18K><DSP>220</DSP><FF>106400</FF><LUT>53200</LUT><URAM>0</URAM></AvailableResources>
  </AreaEstimates>
</profile>
"""

EXPECTED = {
    "tool_version": "2023.2", "part": "xc7z020-clg400-1", "top": "bnnc_top",
    "target_clock_ns": 10.0, "estimated_clock_ns": 7.256,
    "latency_cycles": {"best": 21, "average": None, "worst": None},
    "interval_cycles": {"min": 17, "max": None},
    "resources": {"BRAM_18K": 6, "DSP": 0, "FF": 4321, "LUT": 9876, "URAM": 0},
    "available": {"BRAM_18K": 280, "DSP": 220, "FF": 106400, "LUT": 53200, "URAM": 0},
}


@pytest.fixture()
def project(tmp_path):
    return compile_model(DIGITS / "tfc.onnx", tmp_path / "build", CompileOptions())


def _fake(bin_dir: Path, name: str, body: str = "") -> None:
    """An executable ``name`` that logs its arguments and working directory, then runs body."""
    bin_dir.mkdir(exist_ok=True)
    path = bin_dir / name
    path.write_text(f'#!/bin/sh\necho "{name} $* @$(pwd)" >> "{bin_dir}/log"\n{body}\n')
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def _make(project_dir: Path, *args: str, path: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    env["PATH"] = path
    return subprocess.run(["make", "--no-print-directory", *args], cwd=project_dir, env=env,
                          capture_output=True, text=True, timeout=120)


SYSTEM_PATH = "/usr/bin:/bin"


@pytest.fixture(autouse=True)
def _need_make():
    if shutil.which("make") is None:
        pytest.fail("make is missing")


def test_bitstream_without_vivado_is_one_line(project):
    res = _make(project.path, "bitstream", path=SYSTEM_PATH)
    assert res.returncode != 0
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert "vivado not found on PATH (VIVADO=vivado)" in lines[0]
    assert "source its settings64.sh, or pass VIVADO=/path/to/vivado" in lines[0]


def test_hls_without_vitis_is_one_line(project):
    res = _make(project.path, "hls", path=SYSTEM_PATH)
    assert res.returncode != 0 and res.stdout == ""
    assert len(res.stderr.strip().splitlines()) == 1
    assert "Vitis HLS not found: neither vitis-run nor vitis_hls is on PATH" in res.stderr
    res = _make(project.path / "hls", "hls", path=SYSTEM_PATH)  # the HLS folder's own Makefile
    assert res.returncode != 0 and len(res.stderr.strip().splitlines()) == 1
    assert "neither vitis-run nor vitis_hls is on PATH" in res.stderr


def test_bitstream_runs_vitis_run_then_vivado(project, tmp_path):
    bin_dir = tmp_path / "bin"
    ip = project.path / "hls" / "bnnc_hls" / "sol1" / "impl" / "ip"
    report = project.path / "hls" / "bnnc_hls" / "sol1" / "syn" / "report"
    _fake(bin_dir, "vitis-run", f'mkdir -p "{ip}" "{report}"\necho "<component/>" > "{ip}/component.xml"\n'
                                f"cat > \"{report}/csynth.xml\" <<'XML'\n{CSYNTH_XML}XML")
    _fake(bin_dir, "vivado", 'mkdir -p ../deploy && echo bit > ../deploy/bnnc.bit')
    res = _make(project.path, "bitstream", "JOBS=3", path=f"{bin_dir}:{SYSTEM_PATH}")
    assert res.returncode == 0, res.stderr
    log = (bin_dir / "log").read_text().splitlines()
    assert log[0] == f"vitis-run --mode hls --tcl run_hls.tcl @{project.path / 'hls'}"
    assert log[1] == (f"vivado -mode batch -nojournal -log bitstream.log -source bitstream.tcl "
                      f"-tclargs hls 3 @{project.path / 'vivado'}")
    # make hls ran 'bnnc report': Vitis's figures are in report.json and on the terminal
    assert json.loads((project.path / "report.json").read_text())["vitis_hls"] == EXPECTED
    assert "Vitis HLS 2023.2 (csynth): 9,876 / 53,200 LUT" in res.stdout
    # up to date: nothing runs again
    res = _make(project.path, "bitstream", path=f"{bin_dir}:{SYSTEM_PATH}")
    assert res.returncode == 0 and len((bin_dir / "log").read_text().splitlines()) == 2


def test_hls_with_vitis_hls_or_an_explicit_tool(project, tmp_path):
    bin_dir = tmp_path / "bin"
    _fake(bin_dir, "vitis_hls")
    res = _make(project.path, "hls", path=f"{bin_dir}:{SYSTEM_PATH}")
    assert res.returncode == 0, res.stderr  # (no IP written: make would run it again)
    assert (bin_dir / "log").read_text().splitlines()[0] == \
        f"vitis_hls -f run_hls.tcl @{project.path / 'hls'}"
    other = tmp_path / "opt"
    _fake(other, "vitis-run")
    res = _make(project.path, "hls", f"HLS_TOOL={other / 'vitis-run'}", path=SYSTEM_PATH)
    assert res.returncode == 0, res.stderr
    assert (other / "log").read_text().startswith("vitis-run --mode hls --tcl run_hls.tcl")


def test_compile_flags_name_the_tools(tmp_path):
    bin_dir = tmp_path / "bin"
    _fake(bin_dir, "vivado")
    _fake(bin_dir, "vitis_hls")
    opts = CompileOptions(tools={"vivado": str(bin_dir / "vivado"), "hls": str(bin_dir / "vitis_hls")})
    proj = compile_model(DIGITS / "tfc.onnx", tmp_path / "b", opts)
    mk = (proj.path / "Makefile").read_text()
    assert f"VIVADO    ?= {bin_dir / 'vivado'}\n" in mk
    assert f"HLS_TOOL  ?= {bin_dir / 'vitis_hls'}\n" in mk
    res = _make(proj.path, "hls", path=SYSTEM_PATH)
    assert res.returncode == 0, res.stderr
    assert "vitis_hls -f run_hls.tcl" in (bin_dir / "log").read_text()
    assert cli(["compile", str(DIGITS / "tfc.onnx"), "-o", str(tmp_path / "c"), "-q",
                "--vivado", str(tmp_path / "nope")]) == 2


def test_compile_rejects_an_unknown_tool_or_source(tmp_path):
    from bnnc.errors import ToolError, UsageError

    with pytest.raises(ToolError, match=r"vivado: .*nope is not an executable file"):
        compile_model(DIGITS / "tfc.onnx", tmp_path / "a",
                      CompileOptions(tools={"vivado": str(tmp_path / "nope")}))
    with pytest.raises(UsageError, match="bitstream source must be one of hls, rtl, not 'vhdl'"):
        compile_model(DIGITS / "tfc.onnx", tmp_path / "b", CompileOptions(backend="vhdl"))
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_deploy(project, tmp_path):
    bin_dir = tmp_path / "bin"
    _fake(bin_dir, "ssh")
    _fake(bin_dir, "scp")
    res = _make(project.path, "deploy", path=f"{bin_dir}:{SYSTEM_PATH}")
    assert res.returncode != 0 and len(res.stderr.strip().splitlines()) == 1
    assert "set BOARD=user@host" in res.stderr
    res = _make(project.path, "deploy", "BOARD=xilinx@pynq", path=f"{bin_dir}:{SYSTEM_PATH}")
    assert res.returncode != 0 and len(res.stderr.strip().splitlines()) == 1
    assert "deploy/bnnc.bit is missing; run make bitstream first" in res.stderr
    (project.path / "deploy" / "bnnc.bit").write_bytes(b"bit")
    (project.path / "deploy" / "bnnc.hwh").write_text("<hwh/>")
    res = _make(project.path, "deploy", "BOARD=xilinx@pynq", "DATA=x.npy y.npy",
                path=f"{bin_dir}:{SYSTEM_PATH}")
    assert res.returncode == 0, res.stderr
    log = (bin_dir / "log").read_text().splitlines()
    assert log[0].startswith("ssh xilinx@pynq mkdir -p jupyter_notebooks/bnnc/tfc")
    assert log[1].startswith("scp -r deploy/bnnc.bit deploy/bnnc.hwh deploy/bnnc_host ")
    assert " xilinx@pynq:jupyter_notebooks/bnnc/tfc/ " in log[1]
    assert log[2].startswith("scp x.npy y.npy xilinx@pynq:jupyter_notebooks/bnnc/tfc/")


# ---------------------------------------------------------------- csynth report
def test_parse_csynth(tmp_path):
    p = tmp_path / "csynth.xml"
    p.write_text(CSYNTH_XML)
    assert parse_csynth(p) == EXPECTED
    old = CSYNTH_XML.replace("<DSP>0</DSP><FF>4321", "<DSP48E>3</DSP48E><FF>4321")
    p.write_text(old)  # Vivado HLS / early Vitis name the DSPs DSP48E
    assert parse_csynth(p)["resources"]["DSP"] == 3
    p.write_text("<report/>")
    with pytest.raises(ModelError, match=r"is not a Vitis HLS csynth report \(root <report>"):
        parse_csynth(p)
    p.write_text("<profile>")
    with pytest.raises(ModelError, match="is not a readable Vitis HLS csynth report"):
        parse_csynth(p)


def test_report_merges_csynth_when_it_exists(project, capsys):
    assert csynth_report_path(project.path) is None
    assert merge_csynth_report(project.path) is None
    assert cli(["report", str(project.path)]) == 0
    assert "Vitis HLS" not in capsys.readouterr().out
    d = project.path / "hls" / "bnnc_hls" / "sol1" / "syn" / "report"
    d.mkdir(parents=True)
    (d / "csynth.xml").write_text(CSYNTH_XML)
    assert cli(["report", str(project.path)]) == 0
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1] == format_csynth(EXPECTED)
    assert format_csynth(EXPECTED) == ("Vitis HLS 2023.2 (csynth): 9,876 / 53,200 LUT, 4,321 / "
                                       "106,400 FF, 6 / 280 BRAM_18K, 0 / 220 DSP; estimated "
                                       "clock 7.256 ns (target 10.0 ns)")
    rep = json.loads((project.path / "report.json").read_text())
    assert rep["vitis_hls"] == EXPECTED and rep["model"] == "tfc"
