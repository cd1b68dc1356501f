"""C-simulation of a generated HLS project with g++ (no vendor tools)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from .errors import SimulationMismatch, ToolError
from .tools import cache_dir, find_ap_types, find_cxx

__all__ = ["build_csim", "run_csim", "CXXFLAGS"]

CXXFLAGS = ("-std=c++14", "-O1", "-Wall", "-Wextra", "-Werror", "-Wno-unknown-pragmas",
            "-Wno-unused-parameter", "-Wno-unused-label")


def _digest(hls_dir: Path, cxx: str, ap_types: Path) -> str:
    h = hashlib.sha256()
    h.update(" ".join((cxx, str(ap_types)) + CXXFLAGS).encode())
    for p in sorted(hls_dir.glob("*.cpp")) + sorted(hls_dir.glob("*.h")) + \
            sorted((hls_dir / "include").glob("*.h")):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:20]


def build_csim(hls_dir: str | Path) -> Path:
    """Compile the project's testbench (cached by a hash of the sources); return the binary."""
    hls_dir = Path(hls_dir)
    cxx = find_cxx()
    ap_types = find_ap_types()
    exe = cache_dir() / "csim" / _digest(hls_dir, cxx, ap_types) / "tb_bnnc"
    if exe.exists():
        return exe
    exe.parent.mkdir(parents=True, exist_ok=True)
    tmp = exe.with_name(f"tb_bnnc.tmp{id(exe)}")
    cmd = [cxx, *CXXFLAGS, f"-I{hls_dir / 'include'}", f"-I{hls_dir}", "-isystem", str(ap_types),
           "-o", str(tmp), str(hls_dir / "bnnc_top.cpp"), str(hls_dir / "tb_bnnc.cpp")]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        msg = "\n".join(proc.stderr.strip().splitlines()[:15])
        raise ToolError(f"C-simulation build failed (g++ exit {proc.returncode}):\n{msg}")
    tmp.replace(exe)
    return exe


def run_csim(hls_dir: str | Path, words: np.ndarray, n_frames: int, out_words_per_frame: int,
             timeout: float = 600.0) -> np.ndarray:
    """Run the C-simulation on ``n_frames`` frames of input DMA words; return output words."""
    exe = build_csim(hls_dir)
    with tempfile.TemporaryDirectory(prefix="bnnc-csim-") as td:
        fin, fout = Path(td) / "in.bin", Path(td) / "out.bin"
        np.asarray(words, dtype="<u8").tofile(fin)
        try:
            proc = subprocess.run([str(exe), str(fin), str(fout), str(n_frames)],
                                  capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise SimulationMismatch(f"C-simulation did not finish in {timeout:.0f} s "
                                     "(a kernel may be waiting for data that never comes)") from None
        if proc.returncode != 0:
            raise SimulationMismatch(f"C-simulation failed (exit {proc.returncode}): "
                                     f"{proc.stderr.strip()[:500]}")
        out = np.fromfile(fout, dtype="<u8")
    if out.size != n_frames * out_words_per_frame:
        raise SimulationMismatch(f"C-simulation wrote {out.size} words, expected "
                                 f"{n_frames * out_words_per_frame}")
    return out


def clear_cache() -> None:
    shutil.rmtree(cache_dir() / "csim", ignore_errors=True)
