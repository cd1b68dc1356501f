"""The device interface the driver talks to: a board (pynq) or a simulator (bnnc.sim).

Numpy only (this module goes to the board). A device is anything with these five
members; the driver's code is the same for every device:

``alloc(words)``
    a zeroed, contiguous ``uint64`` array of ``words`` words the DMA can reach
    (``pynq.allocate`` on a board). The driver reuses it across calls.
``read_register(name)`` / ``write_register(name, value)``
    the accelerator's AXI-Lite registers by name: ``"ctrl"`` (ap_ctrl_hs: bit 0
    ap_start, bit 1 ap_done, bit 2 ap_idle) and ``"n_frames"`` (frames in the next
    batch).
``transfer(in_buf, out_buf, timeout)``
    one DMA batch: stream all of ``in_buf`` to the accelerator (TLAST on its last
    word) and receive exactly ``out_buf.size`` words into ``out_buf`` (the accelerator
    sets TLAST on the last one); both may be leading slices of ``alloc``'d buffers.
    Blocks until both directions finish; raises :class:`DeviceTimeout` after
    ``timeout`` seconds and :class:`DeviceError` for anything else that goes wrong.
``default_timeout``
    seconds the driver allows one batch unless told otherwise.

Optional: ``max_transfer_bytes`` (the DMA's largest transfer; 2**26 - 1 if absent) and
``close()``.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

__all__ = ["Device", "DeviceError", "DeviceTimeout", "AP_START", "AP_DONE", "AP_IDLE",
           "MAX_TRANSFER_BYTES"]

# ap_ctrl_hs control register bits (Vitis HLS; the RTL twin keeps the same map)
AP_START = 0x1
AP_DONE = 0x2
AP_IDLE = 0x4

# AXI DMA buffer length register of 26 bits (what make bitstream configures)
MAX_TRANSFER_BYTES = (1 << 26) - 1


class DeviceError(RuntimeError):
    """The accelerator or its DMA misbehaved (error bit, short transfer, protocol)."""


class DeviceTimeout(DeviceError, TimeoutError):
    """A DMA transfer or the accelerator did not finish within the timeout."""


class Device(Protocol):
    """What :class:`~bnnc.host.driver.Accelerator` needs from a board or a simulator."""

    default_timeout: float

    def alloc(self, words: int) -> np.ndarray:
        """A zeroed contiguous uint64 buffer of ``words`` words the DMA can reach."""
        ...

    def read_register(self, name: str) -> int:
        """Read AXI-Lite register ``name`` ("ctrl" or "n_frames")."""
        ...

    def write_register(self, name: str, value: int) -> None:
        """Write AXI-Lite register ``name`` ("ctrl" or "n_frames")."""
        ...

    def transfer(self, in_buf: np.ndarray, out_buf: np.ndarray, timeout: float) -> None:
        """Send ``in_buf``, receive ``out_buf.size`` words into ``out_buf``; block."""
        ...
