"""The accelerator on a PYNQ board: overlay, AXI DMA and AXI-Lite registers via pynq.

Imports only numpy and pynq (pynq is imported when a device is opened, so this module
can be imported anywhere). The overlay is the ``.bit`` + ``.hwh`` pair ``make
bitstream`` writes; its block design holds one AXI DMA (``axi_dma_0``, simple mode,
no interrupts: the driver polls) and the accelerator (``bnnc_top_0``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .device import MAX_TRANSFER_BYTES, DeviceError, DeviceTimeout

__all__ = ["PynqDevice"]

# Register offsets of the Vitis HLS s_axilite "control" bundle of bnnc_top (used when the
# .hwh does not describe the registers): 0x00 ap_ctrl, 0x10 the first scalar argument.
DEFAULT_OFFSETS = {"ctrl": 0x00, "n_frames": 0x10}
_HWH_NAMES = {"ctrl": ("CTRL", "ap_ctrl", "control"), "n_frames": ("n_frames",)}


def _find_ip(ip_dict: dict, what: str, match: Callable[[str, dict], bool]) -> str:
    names = sorted(name for name, d in ip_dict.items() if match(name, d))
    if len(names) != 1:
        found = ", ".join(f"{n} ({d.get('type', '?')})" for n, d in sorted(ip_dict.items()))
        raise DeviceError(f"the overlay must hold exactly one {what}, found "
                          f"{len(names)}: {found or 'no IP at all'}")
    return names[0]


class PynqDevice:
    """An overlay built by ``make bitstream``, driven through pynq.

    Parameters
    ----------
    bitfile
        the ``.bit`` file (its ``.hwh`` beside it, same stem).
    download
        program the FPGA (``False`` attaches to an overlay that is already loaded).
    """

    default_timeout = 10.0

    def __init__(self, bitfile: str | Path, *, download: bool = True) -> None:
        import pynq  # the board image's pynq (3.x); not needed anywhere else

        self._pynq = pynq
        self.overlay = pynq.Overlay(str(bitfile), download=download)
        ips = self.overlay.ip_dict
        self.dma_name = _find_ip(ips, "AXI DMA (xilinx.com:ip:axi_dma)",
                                 lambda n, d: str(d.get("type", "")).startswith("xilinx.com:ip:axi_dma:"))
        self.accel_name = _find_ip(ips, "bnnc accelerator (bnnc_top)",
                                   lambda n, d: ":bnnc_top:" in str(d.get("type", "")))
        self.dma = getattr(self.overlay, self.dma_name)
        self.accel = getattr(self.overlay, self.accel_name)
        if getattr(self.dma, "sendchannel", None) is None or getattr(self.dma, "recvchannel", None) is None:
            raise DeviceError(f"DMA {self.dma_name} must have both an MM2S (send) and an S2MM "
                              "(receive) channel; rebuild the overlay with make bitstream")
        self.offsets = self._register_offsets(ips[self.accel_name])
        self.max_transfer_bytes = int(getattr(self.dma, "buffer_max_size", MAX_TRANSFER_BYTES))

    @staticmethod
    def _register_offsets(desc: dict[str, Any]) -> dict[str, int]:
        regs = desc.get("registers") or {}
        out = dict(DEFAULT_OFFSETS)
        for key, names in _HWH_NAMES.items():
            for n in names:
                if n in regs and "address_offset" in regs[n]:
                    out[key] = int(regs[n]["address_offset"])
                    break
        return out

    def alloc(self, words: int) -> np.ndarray:
        buf = self._pynq.allocate(shape=(int(words),), dtype=np.uint64)
        buf[:] = 0
        return buf

    def read_register(self, name: str) -> int:
        return int(self.accel.read(self.offsets[name]))

    def write_register(self, name: str, value: int) -> None:
        self.accel.write(self.offsets[name], int(value))

    def transfer(self, in_buf: np.ndarray, out_buf: np.ndarray, timeout: float) -> None:
        send, recv = self.dma.sendchannel, self.dma.recvchannel
        nbytes = int(out_buf.nbytes)
        # receive first: the accelerator may start writing as soon as input arrives
        recv.transfer(out_buf)
        send.transfer(in_buf)
        deadline = time.monotonic() + timeout
        for ch, what in ((send, "input (MM2S)"), (recv, "output (S2MM)")):
            while not ch.idle:
                if ch.error:
                    raise DeviceError(f"the {what} DMA channel of {self.dma_name} reports an "
                                      "error; reload the overlay")
                if time.monotonic() > deadline:
                    raise DeviceTimeout(
                        f"the {what} DMA transfer did not finish within {timeout:g} s "
                        f"({in_buf.size} words in, {out_buf.size} words out); the accelerator "
                        "is stalled or the overlay does not match model.json: reload the "
                        "overlay (a new Accelerator) before retrying")
            ch.wait()  # idle now: invalidates the receive buffer, records 'transferred'
        got = getattr(recv, "transferred", nbytes)
        if got and int(got) != nbytes:
            raise DeviceError(f"the accelerator returned {int(got)} bytes, expected {nbytes} "
                              "(TLAST came early or late): the overlay does not match model.json")

    def close(self) -> None:
        free = getattr(self.overlay, "free", None)
        if callable(free):
            free()
