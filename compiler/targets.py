"""The target catalog: boards bnnc builds for."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import UsageError

__all__ = ["Target", "TARGETS", "get_target"]


@dataclass(frozen=True, kw_only=True)
class Target:
    """One board: FPGA part, board part, processing system, clock, DMA width, budget."""

    name: str
    part: str
    board_part: str
    ps: str  # "ps7" (Zynq-7000) or "zynq_ultra_ps_e" (Zynq UltraScale+)
    family: str  # Yosys synth_xilinx family
    clock_mhz: float
    dma_bits: int
    luts: int
    ffs: int
    bram36: int
    dsps: int
    lut_fraction: float = 0.75  # share of the budget the automatic folding may use
    bram_fraction: float = 0.90
    # Board flow (make bitstream): where the Vivado board files come from, and the PS
    # settings applied explicitly when they are not installed (PYNQ-Z1/Z2 board files do
    # not ship with Vivado). Only what the .hwh must describe and the bitstream needs;
    # on the board the PS itself is configured by the boot image, not by the bitstream.
    board_files: str = ""
    ps_fallback: tuple[tuple[str, str], ...] = ()

    @property
    def period_ns(self) -> float:
        return 1000.0 / self.clock_mhz


# Zynq-7000 PS of the PYNQ-Z1/Z2 (50 MHz PS crystal, 512 MB 16-bit DDR3, MIO bank 0 at
# 3.3 V and bank 1 at 1.8 V, UART0 on MIO 14..15, SD0, Ethernet, USB0 as on the boards).
_PYNQ_Z_PS: tuple[tuple[str, str], ...] = (
    ("PCW_CRYSTAL_PERIPHERAL_FREQMHZ", "50"),
    ("PCW_PRESET_BANK0_VOLTAGE", "LVCMOS 3.3V"),
    ("PCW_PRESET_BANK1_VOLTAGE", "LVCMOS 1.8V"),
    ("PCW_UIPARAM_DDR_PARTNO", "MT41J256M16 RE-125"),
    ("PCW_UIPARAM_DDR_BUS_WIDTH", "16 Bit"),
    ("PCW_UIPARAM_DDR_FREQ_MHZ", "525"),
    ("PCW_QSPI_PERIPHERAL_ENABLE", "1"),
    ("PCW_QSPI_GRP_SINGLE_SS_ENABLE", "1"),
    ("PCW_UART0_PERIPHERAL_ENABLE", "1"),
    ("PCW_UART0_UART0_IO", "MIO 14 .. 15"),
    ("PCW_SD0_PERIPHERAL_ENABLE", "1"),
    ("PCW_SD0_GRP_CD_ENABLE", "1"),
    ("PCW_SD0_GRP_CD_IO", "MIO 47"),
    ("PCW_ENET0_PERIPHERAL_ENABLE", "1"),
    ("PCW_ENET0_ENET0_IO", "MIO 16 .. 27"),
    ("PCW_ENET0_GRP_MDIO_ENABLE", "1"),
    ("PCW_ENET0_GRP_MDIO_IO", "MIO 52 .. 53"),
    ("PCW_USB0_PERIPHERAL_ENABLE", "1"),
    ("PCW_USB0_RESET_ENABLE", "1"),
    ("PCW_USB0_RESET_IO", "MIO 46"),
)

TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target(name="pynq-z1", part="xc7z020clg400-1", board_part="www.digilentinc.com:pynq-z1:part0:1.0",
               ps="ps7", family="xc7", clock_mhz=100.0, dma_bits=64,
               luts=53200, ffs=106400, bram36=140, dsps=220,
               board_files="Digilent's vivado-boards repository (github.com/Digilent/vivado-boards)",
               ps_fallback=_PYNQ_Z_PS),
        Target(name="pynq-z2", part="xc7z020clg400-1", board_part="tul.com.tw:pynq-z2:part0:1.0",
               ps="ps7", family="xc7", clock_mhz=100.0, dma_bits=64,
               luts=53200, ffs=106400, bram36=140, dsps=220,
               board_files="the TUL PYNQ-Z2 board files (Vivado Store > Boards, or TUL's download page)",
               ps_fallback=_PYNQ_Z_PS),
        Target(name="ultra96-v2", part="xczu3eg-sbva484-1-i", board_part="avnet.com:ultra96v2:part0:1.2",
               ps="zynq_ultra_ps_e", family="xcup", clock_mhz=200.0, dma_bits=64,
               luts=70560, ffs=141120, bram36=216, dsps=360,
               board_files="Avnet's bdf repository (github.com/Avnet/bdf) or the Vivado Store"),
        Target(name="zcu104", part="xczu7ev-ffvc1156-2-e", board_part="xilinx.com:zcu104:part0:1.1",
               ps="zynq_ultra_ps_e", family="xcup", clock_mhz=200.0, dma_bits=64,
               luts=230400, ffs=460800, bram36=312, dsps=1728,
               board_files="Vivado's own board files (installed with Vivado's Zynq UltraScale+ support)"),
        Target(name="kv260", part="xck26-sfvc784-2LV-c", board_part="xilinx.com:kv260_som:part0:1.4",
               ps="zynq_ultra_ps_e", family="xcup", clock_mhz=200.0, dma_bits=64,
               luts=117120, ffs=234240, bram36=144, dsps=1248,
               board_files="the Vivado Store (Tools > Vivado Store > Boards: Kria KV260)"),
    )
}


def get_target(name: str) -> Target:
    """Look up a target by name; an unknown name lists the known ones."""
    try:
        return TARGETS[name]
    except KeyError:
        raise UsageError(f"unknown target {name!r}; known targets: {', '.join(TARGETS)}") from None
