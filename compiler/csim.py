"""C-simulation of a generated HLS project with g++ (no vendor tools)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import SimulationMismatch, ToolError
from .tools import cache_dir, find_ap_types, find_cxx

if TYPE_CHECKING:
    from . import ir

__all__ = ["build_csim", "run_csim", "CXXFLAGS"]

# -fno-exceptions: g++ otherwise emits a cleanup region per element of every large ROM
# initializer of ap_uint objects (minutes of compile time for a CNV).
CXXFLAGS = ("-std=c++14", "-O1", "-fno-exceptions", "-Wall", "-Wextra", "-Werror",
            "-Wno-unknown-pragmas", "-Wno-unused-parameter", "-Wno-unused-label")


def _digest(hls_dir: Path, cxx: str, ap_types: Path, flags: tuple[str, ...]) -> str:
    h = hashlib.sha256()
    h.update(" ".join((cxx, str(ap_types)) + flags).encode())
    for p in sorted(hls_dir.glob("*.cpp")) + sorted(hls_dir.glob("*.h")) + \
            sorted((hls_dir / "include").glob("*.h")):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:20]


def build_csim(hls_dir: str | Path, trace: bool = False) -> Path:
    """Compile the project's testbench (cached by a hash of the sources); return the binary.

    ``trace`` builds with -DBNNC_TRACE: the binary then dumps every stream (see
    bnnc_trace.h) into the directory given as its fourth argument.
    """
    hls_dir = Path(hls_dir)
    cxx = find_cxx()
    ap_types = find_ap_types()
    flags = CXXFLAGS + (("-DBNNC_TRACE",) if trace else ())
    exe = cache_dir() / "csim" / _digest(hls_dir, cxx, ap_types, flags) / "tb_bnnc"
    if exe.exists():
        return exe
    exe.parent.mkdir(parents=True, exist_ok=True)
    tmp = exe.with_name(f"tb_bnnc.tmp{id(exe)}")
    cmd = [cxx, *flags, f"-I{hls_dir / 'include'}", f"-I{hls_dir}", "-isystem", str(ap_types),
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


def _frame_bits_words(values: np.ndarray, ebits: int, word_bits: int) -> list[int]:
    """One frame (C, H, W) as NHWC elements of ``ebits`` chopped into ``word_bits`` words."""
    flat = np.ascontiguousarray(np.asarray(values).transpose(1, 2, 0)).reshape(-1)
    if ebits == 1:
        codes = (flat > 0).astype(object)
    else:
        codes = (flat.astype(np.int64) & ((1 << ebits) - 1)).astype(object)
    big = 0
    for i, c in enumerate(codes.tolist()):
        big |= int(c) << (i * ebits)
    total = len(codes) * ebits
    n = -(-total // word_bits)
    mask = (1 << word_bits) - 1
    return [(big >> (k * word_bits)) & mask for k in range(n)]


def expected_words(graph: "ir.Graph", node: "ir.Node", value: np.ndarray) -> list[int]:
    """The words golden says ``node``'s output stream carries for one frame ``value``."""
    from . import ir
    from .cost import elem_bits
    from .host.packing import tensor_to_words

    v = value[None]
    if isinstance(node, ir.SlidingWindow) and node.order == "ckk":
        kk = node.kernel * node.kernel
        words = tensor_to_words(v, node.dtype.bits, node.simd * kk,
                                bipolar=node.dtype.bits == 1)
        if not node.masked:
            return words
        # one valid bit per tap: tap t of the word's first channel is 0 when padded
        taps = np.ascontiguousarray(value.transpose(1, 2, 0)).reshape(-1, node.simd, kk)[:, 0, :]
        shift = node.simd * kk * node.dtype.bits
        return [w | (sum(1 << t for t in np.flatnonzero(row != 0).tolist()) << shift)
                for w, row in zip(words, taps)]
    if isinstance(node, ir.SlidingWindow):
        return tensor_to_words(v, node.dtype.bits, node.simd, bipolar=node.dtype.bits == 1,
                               masked=node.masked)
    if isinstance(node, (ir.MatVec, ir.CodebookMatVec)):
        if node.thresholds is not None:
            return tensor_to_words(v, 1, node.pe, bipolar=True)
        return tensor_to_words(v, 32, node.pe, bipolar=False)
    if isinstance(node, ir.Pool):
        return tensor_to_words(v, 1, node.simd, bipolar=True)
    if isinstance(node, ir.BitPlaneMatVec):
        return tensor_to_words(v, 1, node.pe, bipolar=True)
    if isinstance(node, ir.CodeMap):
        return tensor_to_words(v, 1, node.channels * 8, bipolar=True)
    if isinstance(node, ir.WidthConvert):
        return _frame_bits_words(value, elem_bits(graph, node.name), node.out_bits)
    raise TypeError(node.kind)


def locate_mismatch(graph: "ir.Graph", hls_dir: str | Path, frame_words: np.ndarray,
                    frame_values: np.ndarray) -> str:
    """Re-run one frame with stream tracing; describe the first stream that differs."""
    from . import golden, ir

    exe = build_csim(hls_dir, trace=True)
    values = golden.run_all(graph, frame_values[None])
    with tempfile.TemporaryDirectory(prefix="bnnc-trace-") as td:
        fin, fout = Path(td) / "in.bin", Path(td) / "out.bin"
        np.asarray(frame_words, dtype="<u8").tofile(fin)
        subprocess.run([str(exe), str(fin), str(fout), "1", td], capture_output=True, text=True,
                       timeout=600)
        for node in graph:
            if isinstance(node, (ir.Input, ir.Output, ir.FlattenNHWC)):
                continue
            want = expected_words(graph, node, values[node.name][0])
            path = Path(td) / f"{node.name}.txt"
            got = [int(s, 16) for s in path.read_text().split()] if path.exists() else []
            if got != want:
                if len(got) != len(want):
                    return (f"first differing layer output: {node.name} ({node.kind}) wrote "
                            f"{len(got)} words, golden expects {len(want)}")
                k = next(i for i, (a, b) in enumerate(zip(got, want)) if a != b)
                return (f"first differing layer output: {node.name} ({node.kind}), word {k} of "
                        f"{len(want)}: csim 0x{got[k]:x}, golden 0x{want[k]:x}")
    return "every layer's stream equals golden's; the difference is in the output adapter"
