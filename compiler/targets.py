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

    @property
    def period_ns(self) -> float:
        return 1000.0 / self.clock_mhz


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target(name="pynq-z1", part="xc7z020clg400-1", board_part="www.digilentinc.com:pynq-z1:part0:1.0",
               ps="ps7", family="xc7", clock_mhz=100.0, dma_bits=64,
               luts=53200, ffs=106400, bram36=140, dsps=220),
        Target(name="pynq-z2", part="xc7z020clg400-1", board_part="tul.com.tw:pynq-z2:part0:1.0",
               ps="ps7", family="xc7", clock_mhz=100.0, dma_bits=64,
               luts=53200, ffs=106400, bram36=140, dsps=220),
        Target(name="ultra96-v2", part="xczu3eg-sbva484-1-i", board_part="avnet.com:ultra96v2:part0:1.2",
               ps="zynq_ultra_ps_e", family="xcup", clock_mhz=200.0, dma_bits=64,
               luts=70560, ffs=141120, bram36=216, dsps=360),
        Target(name="zcu104", part="xczu7ev-ffvc1156-2-e", board_part="xilinx.com:zcu104:part0:1.1",
               ps="zynq_ultra_ps_e", family="xcup", clock_mhz=200.0, dma_bits=64,
               luts=230400, ffs=460800, bram36=312, dsps=1728),
        Target(name="kv260", part="xck26-sfvc784-2LV-c", board_part="xilinx.com:kv260_som:part0:1.4",
               ps="zynq_ultra_ps_e", family="xcup", clock_mhz=200.0, dma_bits=64,
               luts=117120, ffs=234240, bram36=144, dsps=1248),
    )
}


def get_target(name: str) -> Target:
    """Look up a target by name; an unknown name lists the known ones."""
    try:
        return TARGETS[name]
    except KeyError:
        raise UsageError(f"unknown target {name!r}; known targets: {', '.join(TARGETS)}") from None
