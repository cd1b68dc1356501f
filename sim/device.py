"""A simulated accelerator behind the host driver's device interface.

    from bnnc.host.driver import Accelerator
    from bnnc.sim.device import SimDevice

    acc = Accelerator("build/deploy", device=SimDevice("build"))
    y = acc.predict(x)        # the same driver code as on the board

The device keeps the board's protocol (AXI-Lite ``n_frames`` and ap_start before each
batch, one DMA transfer each way whose sizes must match ``n_frames``) and checks it, so
a driver bug shows up here as a clear error instead of a hung board. The words are
computed by an *engine*:

``"csim"``
    the project's C-simulation binary (g++, bit-exact, not cycle-accurate).
``"rtl"``
    the cycle-accurate RTL simulation of ``rtl/`` (Verilator, ``bnnc.sim.rtlsim``).

An engine is a factory ``(build_dir: Path) -> runner`` with
``runner(words: np.ndarray[uint64], n_frames: int, timeout: float) -> np.ndarray[uint64]``
(the output words of the batch). :func:`register_engine` adds one; ``engine`` may also be
such a factory itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Union

import numpy as np

from ..errors import ToolError, UsageError
from ..host.device import AP_DONE, AP_IDLE, AP_START, MAX_TRANSFER_BYTES, DeviceError
from ..host.model import load_spec

__all__ = ["SimDevice", "register_engine", "ENGINES", "Runner", "EngineFactory"]

Runner = Callable[[np.ndarray, int, float], np.ndarray]
EngineFactory = Callable[[Path], Runner]


def _csim_engine(build: Path) -> Runner:
    from ..csim import build_csim, run_csim

    spec = load_spec(build / "model.json")
    build_csim(build / "hls")  # compile now (cached), not inside the first transfer

    def run(words: np.ndarray, n_frames: int, timeout: float) -> np.ndarray:
        return run_csim(build / "hls", words, n_frames, spec.out_words, timeout=timeout)

    return run


def _rtl_engine(build: Path) -> Runner:
    try:
        from . import rtlsim
    except ImportError:
        raise ToolError("the RTL simulation engine is not available (bnnc.sim.rtlsim cannot be "
                        "imported); use SimDevice(build_dir, engine='csim'), the bit-exact "
                        "C-simulation") from None
    make_runner = getattr(rtlsim, "make_runner", None)
    if make_runner is not None:
        runner: Runner = make_runner(build)
        return runner
    rtl = build / "rtl"
    if not (rtl / "files.f").exists():
        raise UsageError(f"{build} has no RTL project (rtl/); compile with --generate rtl or "
                         "both, or use engine='csim'")
    rtlsim.build_top(rtl)  # compile now (cached), not inside the first transfer

    def run(words: np.ndarray, n_frames: int, timeout: float) -> np.ndarray:
        return rtlsim.run_top(rtl, words, n_frames, timeout=timeout).words

    return run


ENGINES: dict[str, EngineFactory] = {"csim": _csim_engine, "rtl": _rtl_engine}


def register_engine(name: str, factory: EngineFactory) -> None:
    """Make ``SimDevice(build, engine=name)`` use ``factory``."""
    ENGINES[name] = factory


class SimDevice:
    """The accelerator of a compiled project, simulated.

    Parameters
    ----------
    build_dir
        a project written by ``bnnc compile`` (the folder holding hls/ and model.json).
    engine
        ``"csim"`` (default), ``"rtl"``, another registered name, or a factory.
    """

    default_timeout = 600.0  # simulation is slower than the board
    max_transfer_bytes = MAX_TRANSFER_BYTES

    def __init__(self, build_dir: str | Path, engine: Union[str, EngineFactory] = "csim") -> None:
        self.build = Path(build_dir)
        marker = self.build / "bnnc_project.json"
        if not marker.is_file():
            raise UsageError(f"{self.build} is not a bnnc project (no bnnc_project.json); "
                             f"SimDevice takes the folder 'bnnc compile -o' wrote")
        self.spec = load_spec(self.build / "model.json")
        if callable(engine):
            factory = engine
            self.engine = getattr(engine, "__name__", "custom")
        else:
            if engine not in ENGINES:
                raise UsageError(f"unknown simulation engine {engine!r}; choose one of "
                                 f"{', '.join(sorted(ENGINES))}")
            factory = ENGINES[engine]
            self.engine = engine
        self._run = factory(self.build)
        self._regs = {"ctrl": AP_IDLE, "n_frames": 0}
        self.batches = 0
        self.frames = 0

    def alloc(self, words: int) -> np.ndarray:
        return np.zeros(int(words), dtype=np.uint64)

    def read_register(self, name: str) -> int:
        if name not in self._regs:
            raise DeviceError(f"no register {name!r}; the accelerator has ctrl and n_frames")
        return self._regs[name]

    def write_register(self, name: str, value: int) -> None:
        if name not in self._regs:
            raise DeviceError(f"no register {name!r}; the accelerator has ctrl and n_frames")
        value = int(value)
        if name == "ctrl":
            if value & AP_START:
                if not self._regs["ctrl"] & AP_IDLE:
                    raise DeviceError("ap_start written while the accelerator is busy")
                self._regs["ctrl"] = AP_START  # running: not idle, not done
            return
        if not 0 <= value < 1 << 32:
            raise DeviceError(f"n_frames is a 32-bit register, not {value}")
        self._regs[name] = value

    def transfer(self, in_buf: np.ndarray, out_buf: np.ndarray, timeout: float) -> None:
        n = self._regs["n_frames"]
        if self._regs["ctrl"] != AP_START:
            raise DeviceError("DMA transfer before ap_start: the accelerator is not running, "
                              "so the transfer would never finish")
        if n < 1:
            raise DeviceError("n_frames is 0: write the batch size before ap_start")
        want_in, want_out = n * self.spec.in_words, n * self.spec.out_words
        for buf, want, what in ((in_buf, want_in, "input"), (out_buf, want_out, "output")):
            if buf.dtype != np.uint64 or buf.ndim != 1:
                raise DeviceError(f"the {what} buffer must be a 1-D uint64 array, got "
                                  f"{buf.dtype} with shape {buf.shape}")
            if buf.size != want:
                raise DeviceError(f"the {what} transfer has {buf.size} words but n_frames={n} "
                                  f"needs {want}: on a board this hangs or truncates")
            if buf.nbytes > self.max_transfer_bytes:
                raise DeviceError(f"the {what} transfer of {buf.nbytes} bytes exceeds the "
                                  f"DMA's {self.max_transfer_bytes}-byte limit")
        out = np.asarray(self._run(np.ascontiguousarray(in_buf), n, timeout))
        if out.shape != (want_out,):
            raise DeviceError(f"the {self.engine} engine returned {out.size} words for "
                              f"{n} frame(s), expected {want_out}")
        out_buf[:] = out
        self._regs["ctrl"] = AP_IDLE | AP_DONE
        self.batches += 1
        self.frames += n

    def close(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"SimDevice({str(self.build)!r}, engine={self.engine!r})"
