"""The generated Vivado/Vitis Tcl, run through tclsh with stub procedures for the vendor
commands: syntax, and the calls it makes (part, board part, PS IP, DMA, clock, ports)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import bnnc
from bnnc.api import CompileOptions, compile_model
from bnnc.targets import TARGETS

from board_helpers import DIGITS, run_tcl

PS_CLOCK = {"ps7": "CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ {}",
            "zynq_ultra_ps_e": "CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ {}"}
PS_IP = {"ps7": "processing_system7", "zynq_ultra_ps_e": "zynq_ultra_ps_e"}
PS_PORTS = {"ps7": ("M_AXI_GP0", "S_AXI_HP0", "FCLK_CLK0", "FCLK_RESET0_N"),
            "zynq_ultra_ps_e": ("M_AXI_HPM0_FPD", "S_AXI_HP0_FPD", "pl_clk0", "pl_resetn0")}


@pytest.fixture(scope="module")
def by_target(tmp_path_factory):
    root = tmp_path_factory.mktemp("targets")
    return {name: compile_model(DIGITS / "tfc.onnx", root / name, CompileOptions(target=name))
            for name in TARGETS}


def _prepare(proj: bnnc.Project, tmp: Path, source: str = "hls") -> Path:
    """Pretend make hls (or make rtl-ip) ran and Vivado wrote the hardware handoff."""
    if source == "hls":
        ip = proj.path / "hls" / "bnnc_hls" / "sol1" / "impl" / "ip"
    else:
        ip = proj.path / "vivado" / "ip_rtl"
    ip.mkdir(parents=True, exist_ok=True)
    (ip / "component.xml").write_text("<component/>")
    hwh = proj.path / "vivado" / "project" / "bnnc_vivado.gen" / "sources_1" / "bd" / "bnnc" / \
        "hw_handoff" / "bnnc.hwh"
    hwh.parent.mkdir(parents=True, exist_ok=True)
    hwh.write_text("<hwh/>")
    return proj.path / "vivado" / "bitstream.tcl"


@pytest.mark.parametrize("name", list(TARGETS))
@pytest.mark.parametrize("board_files", [True, False], ids=["board-files", "no-board-files"])
def test_bitstream_tcl_per_target(by_target, name, board_files, tmp_path):
    t = TARGETS[name]
    proj = by_target[name]
    script = _prepare(proj, tmp_path)
    fields = t.board_part.split(":")
    installed = f"{':'.join(fields[:3])}:0.9 {t.board_part}" if board_files else ""
    calls, out, err = run_tcl(script, tmp_path, argv=("hls", "4"), board_parts=installed)
    text = "\n".join(calls)
    assert out.strip().splitlines()[-1] == "EXIT 0", out + err
    assert f"create_project -force bnnc_vivado {proj.path / 'vivado' / 'project'} -part {t.part}" in calls
    assert f"get_board_parts -quiet {':'.join(fields[:3])}:*" in calls
    ps_vlnv = f"xilinx.com:ip:{PS_IP[t.ps]}:1.10"  # the newest the catalog lists, never hard-coded
    assert f"create_bd_cell -type ip -vlnv {ps_vlnv} ps" in calls
    if board_files:
        assert f"set_property board_part {t.board_part} proj" in calls
        assert any(c.startswith(f"apply_bd_automation -rule xilinx.com:bd_rule:{PS_IP[t.ps]} ") for c in calls)
        assert "WARNING: board files" not in out
    else:
        assert not any(c.startswith("set_property board_part") for c in calls)
        assert not any(c.startswith("apply_bd_automation") for c in calls)
        assert f"WARNING: board files for {t.board_part} are not installed" in out
        for key, value in t.ps_fallback:
            assert f"CONFIG.{key} {{{value}}}" in text or f"CONFIG.{key} {value}" in text
        if t.ps == "ps7":
            assert "make_bd_intf_pins_external ps/DDR ps/FIXED_IO" in calls
    assert PS_CLOCK[t.ps].format(f"{t.clock_mhz:g}") in text
    master, slave, clk, rst = PS_PORTS[t.ps]
    # DMA: simple mode, both channels, 26-bit length register, DMA-width streams
    assert "create_bd_cell -type ip -vlnv xilinx.com:ip:axi_dma:1.10 axi_dma_0" in calls
    dma = next(c for c in calls if c.startswith("set_property -dict") and c.endswith("axi_dma_0"))
    for setting in ("c_include_sg 0", "c_sg_length_width 26", "c_include_mm2s 1",
                    "c_include_s2mm 1", f"c_m_axis_mm2s_tdata_width {t.dma_bits}",
                    f"c_s_axis_s2mm_tdata_width {t.dma_bits}",
                    f"c_addr_width {32 if t.ps == 'ps7' else 64}"):
        assert f"CONFIG.{setting}" in dma, setting
    assert "create_bd_cell -type ip -vlnv bnnc.org:hls:bnnc_top:1.10 bnnc_top_0" in calls
    for conn in (f"connect_bd_intf_net ps/{master} ctrl_ic/S00_AXI",
                 "connect_bd_intf_net ctrl_ic/M00_AXI axi_dma_0/S_AXI_LITE",
                 "connect_bd_intf_net ctrl_ic/M01_AXI bnnc_top_0/s_axi_control",
                 f"connect_bd_intf_net mem_ic/M00_AXI ps/{slave}",
                 "connect_bd_intf_net axi_dma_0/M_AXIS_MM2S bnnc_top_0/in_r",
                 "connect_bd_intf_net bnnc_top_0/out_r axi_dma_0/S_AXIS_S2MM",
                 f"connect_bd_net ps/{rst} rst_0/ext_reset_in"):
        assert conn in calls, conn
    clock_net = next(c for c in calls if c.startswith(f"connect_bd_net ps/{clk} "))
    for pin in ("bnnc_top_0/ap_clk", "axi_dma_0/m_axi_mm2s_aclk", "rst_0/slowest_sync_clk"):
        assert pin in clock_net
    assert f"set_property ip_repo_paths {proj.path / 'hls' / 'bnnc_hls' / 'sol1' / 'impl' / 'ip'} proj" in calls
    order = [c.split()[0] for c in calls]
    assert order.index("assign_bd_address") < order.index("validate_bd_design") < \
        order.index("generate_target") < order.index("launch_runs")
    assert "launch_runs synth_1 -jobs 4" in calls
    assert "launch_runs impl_1 -jobs 4 -to_step write_bitstream" in calls
    assert (proj.path / "deploy" / "bnnc.bit").read_bytes() == b"bit"
    assert (proj.path / "deploy" / "bnnc.hwh").read_text() == "<hwh/>"
    amap = (proj.path / "vivado" / "address_map.txt").read_text()
    assert "SEG_bnnc_top_0_Reg" in amap


def test_bitstream_tcl_from_rtl_uses_the_packaged_verilog(by_target, tmp_path):
    proj = by_target["pynq-z2"]
    script = _prepare(proj, tmp_path, source="rtl")
    calls, out, _ = run_tcl(script, tmp_path, argv=("rtl",))
    assert "EXIT 0" in out
    assert "create_bd_cell -type ip -vlnv bnnc.org:rtl:bnnc_top:1.10 bnnc_top_0" in calls
    assert f"set_property ip_repo_paths {proj.path / 'vivado' / 'ip_rtl'} proj" in calls
    assert "launch_runs synth_1 -jobs 2" in calls  # default jobs


def test_bitstream_tcl_without_hls_ip_says_run_make_hls(tmp_path):
    proj = bnnc.compile(DIGITS / "tfc.onnx", tmp_path / "b")
    calls, out, err = run_tcl(proj.path / "vivado" / "bitstream.tcl", tmp_path)
    assert "EXIT 2" in out and calls == []
    assert err.strip() == (f"bnnc: error: no HLS IP in {proj.path / 'hls' / 'bnnc_hls' / 'sol1' / 'impl' / 'ip'}"
                           "; run make hls first (needs Vitis HLS)")
    calls, out, err = run_tcl(proj.path / "vivado" / "bitstream.tcl", tmp_path, argv=("vhdl",))
    assert "EXIT 2" in out and "bitstream source must be hls or rtl, not 'vhdl'" in err


def test_package_rtl_tcl(tmp_path):
    proj = compile_model(DIGITS / "tfc.onnx", tmp_path / "b", CompileOptions(backend="rtl"))
    script = proj.path / "vivado" / "package_rtl.tcl"
    rtl = proj.path / "rtl"
    listed = [rtl / line for line in (rtl / "files.f").read_text().split()]
    mems = sorted(rtl.glob("*.mem"))
    assert listed and mems
    calls, out, err = run_tcl(script, tmp_path)
    assert "EXIT 0" in out, out + err
    assert f"create_project -force bnnc_rtl_pkg {proj.path / 'vivado' / 'rtl_pkg'} -part xc7z020clg400-1" in calls
    files = " ".join(str(f) for f in [proj.path / "vivado" / "bnnc_top_axi.v", *listed, *mems])
    assert f"add_files -norecurse {{{files}}}" in calls
    assert "set_property top bnnc_top_axi sources_1" in calls
    assert "set_property name bnnc_top core" in calls
    assert any(c.startswith(f"ipx::package_project -root_dir {proj.path / 'vivado' / 'ip_rtl'} "
                            "-vendor bnnc.org -library rtl") for c in calls)
    for bus in ("in_r", "out_r", "s_axi_control"):
        assert f"ipx::associate_bus_interfaces -busif {bus} -clock ap_clk core" in calls
    assert "set_property value ACTIVE_LOW POLARITY" in calls
    assert calls[-2:] == ["ipx::save_core core", "close_project"]
    # the Makefile picks the packaged IP when SOURCE=rtl (the compile default here)
    assert "SOURCE    ?= rtl" in (proj.path / "Makefile").read_text()
    # without RTL: one clear error
    import shutil

    shutil.rmtree(rtl)
    calls, out, err = run_tcl(script, tmp_path)
    assert "EXIT 2" in out
    assert "no Verilog in" in err and "bnnc compile --backend rtl" in err


@pytest.mark.rtlsim
def test_axi_lite_wrapper_of_the_rtl_lints_clean(tmp_path):
    """bnnc_top_axi.v (AXI-Lite control around the RTL backend's bnnc_top) with Verilator -Wall."""
    from bnnc.tools import find_tool

    proj = compile_model(DIGITS / "tfc.onnx", tmp_path / "b", CompileOptions(backend="rtl"))
    rtl = proj.path / "rtl"
    srcs = [str(rtl / line) for line in (rtl / "files.f").read_text().split()]
    res = subprocess.run([find_tool("verilator"), "--lint-only", "-Wall", "-Wno-DECLFILENAME",
                          "-Wno-UNUSEDSIGNAL", "--top-module", "bnnc_top_axi",
                          str(proj.path / "vivado" / "bnnc_top_axi.v"), *srcs],
                         capture_output=True, text=True, cwd=rtl, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "%Warning" not in res.stderr, res.stderr


def test_run_hls_tcl_calls(tmp_path):
    proj = compile_model(DIGITS / "cnv.onnx", tmp_path / "b", CompileOptions(target="ultra96-v2"))
    calls, out, _ = run_tcl(proj.path / "hls" / "run_hls.tcl", tmp_path)
    assert "EXIT 0" in out
    assert "set_part xczu3eg-sbva484-1-i" in calls
    assert "create_clock -period 5 -name default" in calls
    assert ("export_design -format ip_catalog -rtl verilog -vendor bnnc.org -library hls "
            "-ipname bnnc_top") in calls
