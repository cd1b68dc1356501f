"""Bit-plane layer configurations shared by the HLS and RTL kernel tests.

A case is compiled the real way: :func:`bnnc.testing.bitplane_net` writes the ONNX
pattern with random float32 parameters, the frontend computes the exact tables and
thresholds, the passes lower it with the case's PE. The kernels are then fed the
golden model's streams (pixels for the code ROM, windows for the unit).
"""

from __future__ import annotations

import functools
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from bnnc import golden, ir
from bnnc.frontend.convert import onnx_to_ir
from bnnc.passes import Fold, pipeline, run_pipeline
from bnnc.testing import bitplane_net


def all_values(n_frames: int, channels: int, size: int, seed: int) -> np.ndarray:
    """Random frames; when a frame has >= 256 pixels, frame 0 holds every value 0..255 in
    every channel (a different permutation per channel)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(n_frames, channels, size * size))
    if size * size >= 256:
        for c in range(channels):
            x[0, c, :256] = rng.permutation(256)
    return x.reshape(n_frames, channels, size, size).astype(np.uint8)


@dataclass(frozen=True)
class BP:
    channels: int
    filters: int
    size: int
    kernel: int
    pad: int
    stride: int
    pe: int

    @property
    def id(self) -> str:
        return (f"c{self.channels}f{self.filters}_{self.size}x{self.size}k{self.kernel}"
                f"p{self.pad}s{self.stride}_pe{self.pe}")

    def graph(self) -> ir.Graph:
        return _lowered(self)

    def streams(self, frames: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        x = all_values(frames, self.channels, self.size, seed=self.size * 7 + self.channels)
        return x, golden.run_all(self.graph(), x)


@functools.lru_cache(maxsize=None)
def _lowered(case: BP) -> ir.Graph:
    with tempfile.TemporaryDirectory() as td:
        path = bitplane_net(Path(td) / "m.onnx", channels=case.channels, filters=case.filters,
                            size=case.size, kernel=case.kernel, pad=case.pad,
                            stride=case.stride, seed=zlib.crc32(case.id.encode()) % 1000)
        g = onnx_to_ir(onnx.load(path))
    return run_pipeline(g, pipeline(Fold(overrides={"conv1": {"pe": case.pe}})))


CASES = [
    BP(1, 4, 16, 3, 1, 1, pe=2),   # every pixel value; NF = 2 (the window is re-read)
    BP(3, 6, 16, 3, 1, 1, pe=6),   # every pixel value of 3 channels; 24 planes, NF = 1
    BP(2, 4, 9, 2, 0, 2, pe=1),    # 2x2 kernel, stride 2, no padding; NF = 4
]
