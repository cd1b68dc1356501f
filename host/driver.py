"""The host driver: ``Accelerator("deploy").predict(images)``.

Numpy only, plus pynq when it talks to a board (this package is copied to the board and
runs on the PYNQ image's Python 3.10). The same code drives a simulated accelerator:
pass ``device=bnnc.sim.device.SimDevice("build")``.

Per batch of N frames (DESIGN.md section 2): wait until the accelerator is idle, write N
to its ``n_frames`` register, start it (ap_start), then one DMA transfer each way: N
frames of 64-bit input words (uint8 pixels NHWC, channels contiguous, or packed bits
for a bipolar input; each frame padded to whole words; TLAST on the batch's last word)
and N frames of int32 scores back. The host then applies the model's final affine, so
``predict`` returns what the ONNX graph returns.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from .device import AP_IDLE, AP_START, MAX_TRANSFER_BYTES, Device, DeviceTimeout
from .model import InputError, ModelSpec, load_spec
from .packing import pack_frames

__all__ = ["Accelerator", "RunStats", "BundleError", "InputError", "BITFILE"]

BITFILE = "bnnc.bit"  # with bnnc.hwh beside it: what make bitstream writes into deploy/


class BundleError(FileNotFoundError):
    """The deploy bundle lacks a file the driver needs."""


@dataclass(frozen=True)
class RunStats:
    """Timing of the last :meth:`Accelerator.predict` call (wall-clock seconds)."""

    frames: int
    batches: int
    batch_frames: int  # frames per full batch
    seconds: float  # whole call: checks, packing, transfers, unpacking
    device_seconds: float  # sum over batches of start -> both DMA transfers done
    latency_s: float  # mean per batch of start -> done (batch_size=1: one frame's latency)
    min_latency_s: float

    @property
    def fps(self) -> float:
        """Frames per second of the whole call."""
        return self.frames / self.seconds if self.seconds > 0 else float("inf")

    @property
    def device_fps(self) -> float:
        """Frames per second while the accelerator and its DMA ran."""
        return self.frames / self.device_seconds if self.device_seconds > 0 else float("inf")

    def __str__(self) -> str:
        return (f"{self.frames} frames in {self.batches} batch(es) of <= {self.batch_frames}: "
                f"{self.fps:,.0f} frames/s overall, {self.device_fps:,.0f} frames/s on the "
                f"device, latency {self.latency_s * 1e3:.3f} ms per batch")


class Accelerator:
    """A bnnc accelerator behind a device (a PYNQ board by default).

    Parameters
    ----------
    bundle_dir
        the deploy bundle (``build/deploy``): ``model.json`` and, for the board,
        ``bnnc.bit`` + ``bnnc.hwh``.
    device
        ``None``: load the bundle's overlay with pynq. Otherwise any object with the
        interface of :mod:`device` (e.g. ``bnnc.sim.device.SimDevice``).
    timeout
        seconds one batch may take (default: the device's ``default_timeout``).
    batch_size
        frames per DMA transfer (default: as many as one transfer can carry).
    """

    def __init__(self, bundle_dir: str | Path = ".", device: Optional[Device] = None, *,
                 timeout: Optional[float] = None, batch_size: Optional[int] = None) -> None:
        self.bundle = Path(bundle_dir)
        spec_file = self.bundle / "model.json"
        if not spec_file.is_file():
            raise BundleError(f"{spec_file} not found: Accelerator takes a deploy bundle "
                              "(the deploy/ folder of a project made by bnnc compile)")
        self.spec: ModelSpec = load_spec(spec_file)
        if device is None:
            device = self._open_board()
        self.device = device
        self.timeout = float(timeout if timeout is not None
                             else getattr(device, "default_timeout", 10.0))
        if not self.timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
        max_bytes = int(getattr(device, "max_transfer_bytes", MAX_TRANSFER_BYTES))
        frame_bytes = 8 * max(self.spec.in_words, self.spec.out_words)
        self.max_batch = max(1, max_bytes // frame_bytes)
        self.batch_size = self._check_batch(batch_size) if batch_size is not None else self.max_batch
        self._in: Any = None
        self._out: Any = None
        self._capacity = 0  # frames the current buffers hold
        self.last_run: Optional[RunStats] = None

    def _open_board(self) -> Device:
        bit = self.bundle / BITFILE
        hwh = bit.with_suffix(".hwh")
        missing = [p.name for p in (bit, hwh) if not p.is_file()]
        if missing:
            raise BundleError(f"{' and '.join(missing)} missing in {self.bundle}: run 'make "
                              "bitstream' in the project (needs Vivado) and copy deploy/ to "
                              "the board, or pass device=SimDevice(build_dir) to simulate")
        from .pynq_device import PynqDevice

        return PynqDevice(bit)

    def _check_batch(self, batch_size: Any) -> int:
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or not 1 <= int(batch_size) <= self.max_batch:
            raise ValueError(f"batch_size must be an integer from 1 to {self.max_batch} (one "
                             f"DMA transfer), not {batch_size!r}")
        return int(batch_size)

    # ------------------------------------------------------------------ inputs
    def _check_inputs(self, images: Any) -> np.ndarray:
        spec = self.spec
        name = spec.input_name
        x = np.asarray(images)
        if x.dtype == object or x.dtype.kind in "USV":
            raise InputError(f"input {name!r} must be a numeric array, got dtype {x.dtype}")
        want = tuple(spec.input_shape)
        if x.ndim == len(want) + 1 and x.shape[0] == 0:
            raise InputError(f"input {name!r} holds no images (shape {tuple(x.shape)})")
        if spec.input_dtype == "uint8" and x.dtype != np.uint8 and x.size:
            if x.dtype.kind in "iub":
                lo, hi = int(x.min()), int(x.max())
                if lo < 0 or hi > 255:
                    raise InputError(f"input {name!r} takes uint8 pixels 0..255, got "
                                     f"{x.dtype} values from {lo} to {hi}")
                raise InputError(f"input {name!r} must be uint8 (the model's graph input "
                                 f"type), got {x.dtype}; its values are within 0..255, so "
                                 "x.astype(np.uint8) converts them exactly")
            raise InputError(f"input {name!r} must be uint8 (the model's graph input type), "
                             f"got {x.dtype}")
        return x

    def _pack(self, q: np.ndarray) -> np.ndarray:
        if self.spec.element == "bipolar":
            return pack_frames(q, 1, bipolar=True)
        return pack_frames(q, 8)

    def _ensure_buffers(self, frames: int) -> None:
        """Contiguous DMA buffers for ``frames`` frames, reused; grown when too small."""
        if frames <= self._capacity:
            return
        self._free_buffers()
        self._in = self.device.alloc(frames * self.spec.in_words)
        self._out = self.device.alloc(frames * self.spec.out_words)
        self._capacity = frames

    def _free_buffers(self) -> None:
        for buf in (self._in, self._out):
            free = getattr(buf, "freebuffer", None)
            if callable(free):
                free()
        self._in = self._out = None
        self._capacity = 0

    # ------------------------------------------------------------------ running
    def _wait_idle(self, deadline: float) -> None:
        while not self.device.read_register("ctrl") & AP_IDLE:
            if time.monotonic() > deadline:
                raise DeviceTimeout(f"the accelerator did not become idle within "
                                    f"{self.timeout:g} s (ap_idle never set); reload the overlay")

    def _run_batch(self, n: int) -> float:
        """Send ``n`` frames already in the input buffer; return the seconds it took."""
        in_view = self._in[: n * self.spec.in_words]
        out_view = self._out[: n * self.spec.out_words]
        t0 = time.perf_counter()
        self._wait_idle(time.monotonic() + self.timeout)
        self.device.write_register("n_frames", n)
        self.device.write_register("ctrl", AP_START)
        self.device.transfer(in_view, out_view, self.timeout)
        return time.perf_counter() - t0

    def scores(self, images: Any, batch_size: Optional[int] = None) -> np.ndarray:
        """Integer class scores (N, classes) as int64; see :meth:`predict`."""
        t_start = time.perf_counter()
        x = self._check_inputs(images)
        q = self.spec.quantize(x)  # checks shape / dtype / finiteness; InputError
        n = q.shape[0]
        bs = self.batch_size if batch_size is None else self._check_batch(batch_size)
        bs = min(bs, n)
        self._ensure_buffers(bs)
        out = np.empty((n, self.spec.classes), dtype=np.int64)
        lat = []
        for start in range(0, n, bs):
            m = min(bs, n - start)
            words = self._pack(q[start: start + m])
            self._in[: words.size] = words
            lat.append(self._run_batch(m))
            got = np.array(self._out[: m * self.spec.out_words], dtype=np.uint64)
            out[start: start + m] = self.spec.unpack(got, m)
        self.last_run = RunStats(frames=n, batches=len(lat), batch_frames=bs,
                                 seconds=time.perf_counter() - t_start,
                                 device_seconds=float(sum(lat)),
                                 latency_s=float(np.mean(lat)), min_latency_s=float(min(lat)))
        return out

    def predict(self, images: Any, raw: bool = False,
                batch_size: Optional[int] = None) -> np.ndarray:
        """The model's outputs for ``images`` (what the ONNX graph returns, float32).

        ``images`` is exactly what the ONNX graph input takes: shape (N, *input_shape)
        (or one image without the batch axis) and its dtype. ``raw=True`` returns the
        accelerator's integer scores instead. Timing lands in :attr:`last_run`.
        """
        s = self.scores(images, batch_size)
        return s if raw else self.spec.scores_to_output(s)

    def close(self) -> None:
        """Free the DMA buffers and the device."""
        self._free_buffers()
        close = getattr(self.device, "close", None)
        if callable(close):
            close()

    def __enter__(self) -> "Accelerator":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"Accelerator({str(self.bundle)!r}, model={self.spec.name!r}, "
                f"device={type(self.device).__name__})")
