"""Board backend: the Vivado/Vitis build flow and the PYNQ deploy bundle of a project.

Writes, beside ``hls/`` (and the RTL backend's ``rtl/``):

``Makefile``
    ``make hls`` (Vitis HLS, ``vitis-run --mode hls --tcl`` or ``vitis_hls -f``),
    ``make bitstream`` (Vivado batch), ``make deploy BOARD=user@host`` (scp), ``make csim``.
``vivado/bitstream.tcl``
    block design (PS, AXI DMA, the accelerator IP from HLS or from the packaged Verilog),
    synthesis, implementation, ``deploy/bnnc.bit`` + ``deploy/bnnc.hwh``.
``vivado/package_rtl.tcl``, ``vivado/bnnc_top_axi.v``
    packages ``rtl/`` (the RTL backend's ``bnnc_top``, wrapped by ``bnnc_top_axi`` which
    adds the HLS top's AXI-Lite control registers) as IP for ``SOURCE=rtl``.
``deploy/``
    what the board needs: ``model.json``, ``report.json``, the host driver
    (``bnnc_host/``: copies of ``bnnc.host``'s modules, numpy + pynq only),
    ``run_on_board.py`` and a notebook.

Also reads Vitis HLS's C-synthesis report (``csynth.xml``) into ``report.json``.
Python computes every name and number; the Jinja templates in ``board_templates/``
(StrictUndefined) only place them.
"""

from __future__ import annotations

import json
import shutil
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import jinja2

from .. import __version__
from .. import board_templates as _templates  # type: ignore[attr-defined]
from .. import host as _host
from ..errors import InternalError, ModelError, UsageError
from ..targets import Target
from ..tools import find_tool

__all__ = ["generate_board", "parse_csynth", "merge_csynth_report", "csynth_report_path",
           "TEMPLATE_DIR", "SOURCES", "HLS_IP_DIR", "HLS_VLNV", "RTL_VLNV", "DMA_LENGTH_BITS"]

TEMPLATE_DIR = Path(_templates.__file__).resolve().parent
HOST_DIR = Path(_host.__file__).resolve().parent

SOURCES = ("hls", "rtl")  # what the bitstream is built from
HLS_IP_DIR = "hls/bnnc_hls/sol1/impl/ip"  # run_hls.tcl: project bnnc_hls, solution sol1
HLS_REPORT_DIR = "hls/bnnc_hls/sol1/syn/report"
HLS_VLNV = "bnnc.org:hls:bnnc_top"  # run_hls.tcl's export_design -vendor/-library/-ipname
RTL_VLNV = "bnnc.org:rtl:bnnc_top"
RTL_IP_DIR = "ip_rtl"  # under vivado/
RTL_WRAPPER = "bnnc_top_axi.v"  # AXI-Lite control around the RTL backend's bnnc_top
DMA_LENGTH_BITS = 26  # AXI DMA buffer length register: up to 64 MiB per transfer
DMA_BURST = 64
DRIVER_PACKAGE = "bnnc_host"  # the copy of bnnc.host in the deploy bundle
_TOOL_NAMES = {"vivado": "vivado", "hls": "vitis-run"}  # --vivado, --hls-tool (or vitis_hls)


@dataclass(frozen=True)
class _Ps:
    """Names of one processing-system IP's pins and settings."""

    vlnv: str
    rule: str
    rule_config: str
    external: tuple[str, ...]
    clk: str
    rst: str
    master: str
    master_aclk: str
    slave: str
    slave_aclk: str
    addr_bits: int


_PS: dict[str, _Ps] = {
    "ps7": _Ps(vlnv="xilinx.com:ip:processing_system7",
               rule="xilinx.com:bd_rule:processing_system7",
               rule_config='{make_external "FIXED_IO, DDR" apply_board_preset "1" '
                           'Master "Disable" Slave "Disable"}',
               external=("DDR", "FIXED_IO"), clk="FCLK_CLK0", rst="FCLK_RESET0_N",
               master="M_AXI_GP0", master_aclk="M_AXI_GP0_ACLK",
               slave="S_AXI_HP0", slave_aclk="S_AXI_HP0_ACLK", addr_bits=32),
    "zynq_ultra_ps_e": _Ps(vlnv="xilinx.com:ip:zynq_ultra_ps_e",
                           rule="xilinx.com:bd_rule:zynq_ultra_ps_e",
                           rule_config='{apply_board_preset "1"}',
                           external=(), clk="pl_clk0", rst="pl_resetn0",
                           master="M_AXI_HPM0_FPD", master_aclk="maxihpm0_fpd_aclk",
                           slave="S_AXI_HP0_FPD", slave_aclk="saxihp0_fpd_aclk", addr_bits=64),
}


def _ps_config(target: Target) -> list[tuple[str, str]]:
    """PS settings applied on both paths: PL clock 0, one control master, one HP slave."""
    mhz = f"{target.clock_mhz:g}"
    if target.ps == "ps7":
        return [("PCW_FPGA0_PERIPHERAL_FREQMHZ", mhz), ("PCW_EN_CLK0_PORT", "1"),
                ("PCW_EN_RST0_PORT", "1"), ("PCW_USE_M_AXI_GP0", "1"),
                ("PCW_USE_S_AXI_HP0", "1"), ("PCW_S_AXI_HP0_DATA_WIDTH", str(target.dma_bits))]
    return [("PSU__FPGA_PL0_ENABLE", "1"), ("PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ", mhz),
            ("PSU__USE__M_AXI_GP0", "1"), ("PSU__USE__M_AXI_GP1", "0"),
            ("PSU__USE__M_AXI_GP2", "0"), ("PSU__USE__S_AXI_GP2", "1"),
            ("PSU__SAXIGP2__DATA_WIDTH", str(target.dma_bits))]


def _dma_config(target: Target, ps: _Ps) -> list[tuple[str, str]]:
    w = str(target.dma_bits)
    return [("c_include_sg", "0"), ("c_sg_length_width", str(DMA_LENGTH_BITS)),
            ("c_sg_include_stscntrl_strm", "0"), ("c_include_mm2s", "1"),
            ("c_include_s2mm", "1"), ("c_m_axi_mm2s_data_width", w),
            ("c_m_axis_mm2s_tdata_width", w), ("c_m_axi_s2mm_data_width", w),
            ("c_s_axis_s2mm_tdata_width", w), ("c_mm2s_burst_size", str(DMA_BURST)),
            ("c_s2mm_burst_size", str(DMA_BURST)), ("c_addr_width", str(ps.addr_bits))]


def _tcl_config(pairs: list[tuple[str, str]] | tuple[tuple[str, str], ...]) -> list[str]:
    out = []
    for key, value in pairs:
        if any(c in key + value for c in "{}[]$\\\""):
            raise InternalError(f"Tcl setting {key}={value!r} holds a Tcl metacharacter")
        out.append(f"CONFIG.{key} {{{value}}}")
    return out


def _board_pattern(board_part: str) -> str:
    """``vendor:board:part0:1.0`` -> ``vendor:board:part0:*`` (any installed version)."""
    fields = board_part.split(":")
    return ":".join(fields[:-1] + ["*"]) if len(fields) == 4 else board_part


def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                              autoescape=False)


def _notebook(model: str, target: str) -> str:
    def md(text: str) -> dict[str, Any]:
        return {"cell_type": "markdown", "metadata": {}, "source": text.splitlines(True)}

    def code(text: str) -> dict[str, Any]:
        return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                "source": text.splitlines(True)}

    cells = [
        md(f"# {model} on {target}\n\nGenerated by bnnc {__version__}. Loads the overlay "
           "(`bnnc.bit`, `bnnc.hwh`), classifies test images and reports frames/s.\n"
           "Copy the images (`x_test.npy`, `y_test.npy`) beside this notebook first."),
        code("import numpy as np\nfrom bnnc_host.driver import Accelerator\n\n"
             "acc = Accelerator(\".\")\nacc"),
        code("x = np.load(\"x_test.npy\")\ny = acc.predict(x)\nprint(acc.last_run)"),
        code("labels = np.load(\"y_test.npy\")\n"
             "print(f\"accuracy: {(y.argmax(1) == labels).mean():.2%}\")"),
        code("acc.predict(x[:1], batch_size=1)\n"
             "print(f\"latency of one frame: {acc.last_run.latency_s * 1e3:.3f} ms\")"),
        code("acc.close()"),
    ]
    nb = {"cells": cells, "metadata": {"kernelspec": {"display_name": "Python 3",
                                                      "language": "python", "name": "python3"}},
          "nbformat": 4, "nbformat_minor": 5}
    return json.dumps(nb, indent=1, sort_keys=True) + "\n"


def _write_deploy(project: Path, model: str, target: Target, env: jinja2.Environment,
                  ctx: dict[str, Any]) -> list[Path]:
    deploy = project / "deploy"
    pkg = deploy / DRIVER_PACKAGE
    pkg.mkdir(parents=True, exist_ok=True)
    written = []
    for src in sorted(HOST_DIR.glob("*.py")):
        dst = pkg / src.name
        shutil.copyfile(src, dst)
        written.append(dst)
    for name in ("model.json", "report.json"):
        if (project / name).exists():
            shutil.copyfile(project / name, deploy / name)
            written.append(deploy / name)
    script = deploy / "run_on_board.py"
    script.write_text(env.get_template("run_on_board.py.j2").render(**ctx))
    written.append(script)
    nb = deploy / f"{model}_on_board.ipynb"
    nb.write_text(_notebook(model, target.name))
    written.append(nb)
    return written


def generate_board(project_dir: str | Path, target: Target, model: str, *,
                   source: str = "hls", tools: Mapping[str, str] | None = None) -> list[Path]:
    """Write the board flow and the deploy bundle into ``project_dir``; return the files.

    ``project_dir`` already holds ``hls/`` and ``model.json`` (and ``report.json``).
    ``source`` is the default bitstream source ("hls" or "rtl"; ``make bitstream
    SOURCE=...`` overrides it). ``tools`` maps "vivado" / "hls" to explicit executables
    (checked by :func:`bnnc.tools.find_tool` beforehand); otherwise make finds them on PATH.
    """
    if source not in SOURCES:
        raise UsageError(f"bitstream source must be one of {', '.join(SOURCES)}, not {source!r}")
    if target.ps not in _PS:
        raise InternalError(f"target {target.name}: unknown processing system {target.ps!r}; "
                            f"known: {', '.join(_PS)}")
    tools = dict(tools or {})
    unknown = set(tools) - set(_TOOL_NAMES)
    if unknown:
        raise UsageError(f"unknown tool(s) {', '.join(sorted(unknown))}; bnnc takes "
                         f"{' and '.join(_TOOL_NAMES)}")
    tools = {key: find_tool(_TOOL_NAMES[key], path) for key, path in tools.items()}
    if any(c in target.board_files for c in "{}[]$\\\""):
        raise InternalError(f"target {target.name}: board_files holds a Tcl metacharacter")
    project = Path(project_dir)
    spec = json.loads((project / "model.json").read_text())
    ps = _PS[target.ps]
    ctx = dict(
        version=__version__, model=model, target=target.name, part=target.part,
        board_part=target.board_part, board_pattern=_board_pattern(target.board_part),
        board_files=target.board_files or "the board vendor", ps=target.ps,
        clock_mhz=f"{target.clock_mhz:g}", dma_bits=target.dma_bits,
        default_source=source, hls_ip_dir=HLS_IP_DIR, rtl_ip_dir=RTL_IP_DIR,
        hls_vlnv=HLS_VLNV, rtl_vlnv=RTL_VLNV,
        ps_vlnv=ps.vlnv, ps_rule=ps.rule, ps_rule_config=ps.rule_config,
        ps_external=list(ps.external), ps_fallback=_tcl_config(target.ps_fallback),
        ps_config=_tcl_config(_ps_config(target)), dma_config=_tcl_config(_dma_config(target, ps)),
        clk_pin=ps.clk, rst_pin=ps.rst, master_port=ps.master, master_aclk=ps.master_aclk,
        slave_port=ps.slave, slave_aclk=ps.slave_aclk,
        vivado=tools.get("vivado", "vivado"), hls_tool=tools.get("hls", ""),
        board_dir=f"jupyter_notebooks/bnnc/{model}", python=sys.executable,
        input_shape=", ".join(str(d) for d in spec["input_shape"]),
        input_dtype="uint8" if spec["input_dtype"] == "uint8" else "float32",
    )
    env = _env()
    (project / "vivado").mkdir(parents=True, exist_ok=True)
    files = {"Makefile": "Makefile.j2", "vivado/bitstream.tcl": "bitstream.tcl.j2",
             "vivado/package_rtl.tcl": "package_rtl.tcl.j2"}
    written = []
    for rel, tpl in files.items():
        path = project / rel
        path.write_text(env.get_template(tpl).render(**ctx))
        written.append(path)
    wrapper = project / "vivado" / RTL_WRAPPER
    shutil.copyfile(TEMPLATE_DIR / RTL_WRAPPER, wrapper)
    written.append(wrapper)
    written += _write_deploy(project, model, target, env, ctx)
    return written


# ---------------------------------------------------------------- Vitis HLS report
def csynth_report_path(project_dir: str | Path) -> Path | None:
    """Vitis HLS's C-synthesis report of the project, if ``make hls`` has run."""
    base = Path(project_dir) / HLS_REPORT_DIR
    for name in ("csynth.xml", "bnnc_top_csynth.xml"):
        if (base / name).is_file():
            return base / name
    return None


def _number(text: str | None) -> int | float | None:
    if text is None:
        return None
    t = text.strip()
    try:
        return int(t)
    except ValueError:
        pass
    try:
        return float(t)
    except ValueError:
        return None  # "undef", "-", "?": Vitis could not bound it (e.g. n_frames loops)


_RESOURCE_ALIASES = {"DSP48E": "DSP", "DSP48E1": "DSP", "DSP48E2": "DSP"}


def _resources(node: ET.Element | None) -> dict[str, int | float | None]:
    if node is None:
        return {}
    return {_RESOURCE_ALIASES.get(c.tag, c.tag): _number(c.text) for c in node}


def parse_csynth(path: str | Path) -> dict[str, Any]:
    """Vitis HLS ``csynth.xml`` -> the figures bnnc keeps in report.json["vitis_hls"].

    Returns tool version, part, top, target and estimated clock period (ns), latency
    (best/average/worst cycles) and interval (min/max cycles) of the top, and the
    estimated resources (BRAM_18K, DSP, FF, LUT, URAM) with what the part offers.
    Values Vitis could not bound are None.
    """
    p = Path(path)
    try:
        root = ET.parse(p).getroot()
    except (ET.ParseError, OSError) as exc:
        raise ModelError(f"{p} is not a readable Vitis HLS csynth report ({exc})") from None
    if root.tag != "profile":
        raise ModelError(f"{p} is not a Vitis HLS csynth report (root <{root.tag}>, "
                         "expected <profile>)")

    def text(xpath: str) -> str | None:
        node = root.find(xpath)
        return node.text.strip() if node is not None and node.text else None

    lat = "PerformanceEstimates/SummaryOfOverallLatency/"
    return {
        "tool_version": text("ReportVersion/Version"),
        "part": text("UserAssignments/Part"),
        "top": text("UserAssignments/TopModelName"),
        "target_clock_ns": _number(text("UserAssignments/TargetClockPeriod")),
        "estimated_clock_ns": _number(
            text("PerformanceEstimates/SummaryOfTimingAnalysis/EstimatedClockPeriod")),
        "latency_cycles": {"best": _number(text(lat + "Best-caseLatency")),
                           "average": _number(text(lat + "Average-caseLatency")),
                           "worst": _number(text(lat + "Worst-caseLatency"))},
        "interval_cycles": {"min": _number(text(lat + "Interval-min")),
                            "max": _number(text(lat + "Interval-max"))},
        "resources": _resources(root.find("AreaEstimates/Resources")),
        "available": _resources(root.find("AreaEstimates/AvailableResources")),
    }


def merge_csynth_report(project_dir: str | Path) -> dict[str, Any] | None:
    """Put the csynth figures into the project's report.json (key ``vitis_hls``).

    Returns them, or None when ``make hls`` has not run (no csynth.xml).
    """
    path = csynth_report_path(project_dir)
    if path is None:
        return None
    figures = parse_csynth(path)
    rep_path = Path(project_dir) / "report.json"
    rep = json.loads(rep_path.read_text())
    if rep.get("vitis_hls") != figures:
        rep["vitis_hls"] = figures
        rep_path.write_text(json.dumps(rep, indent=1) + "\n")
    return figures


def format_csynth(figures: dict[str, Any]) -> str:
    """One line of the Vitis HLS figures for the terminal report."""
    res = figures.get("resources", {})
    avail = figures.get("available", {})

    def frac(key: str) -> str:
        used, total = res.get(key), avail.get(key)
        if used is None:
            return f"? {key}"
        return f"{used:,} / {total:,} {key}" if total else f"{used:,} {key}"

    clock = figures.get("estimated_clock_ns")
    return (f"Vitis HLS {figures.get('tool_version') or '?'} (csynth): "
            f"{', '.join(frac(k) for k in ('LUT', 'FF', 'BRAM_18K', 'DSP'))}; estimated clock "
            f"{clock if clock is not None else '?'} ns (target {figures.get('target_clock_ns')} ns)")
