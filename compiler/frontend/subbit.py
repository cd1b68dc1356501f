"""Sub-bit (codebook) layers in the frontend (DESIGN.md section 5).

A binary 3x3 conv is a sub-bit layer when its kernels take at most ``2**tau`` distinct
+-1 patterns (``tau <= 8``). Two ways to find the codebook:

* the explicit form ``Conv(x, Mul(Reshape(Gather(codebook, indices), shape), scale))``
  that :func:`bnnc.nn.export_onnx` writes (docs/subbit-training.md): the file's own
  codebook and indices are used, and a negative ``scale[o]`` moves into the threshold;
* discovery in a plain binary conv (also with BatchNorm folded in by the exporter): each
  output channel's weights are a per-channel scale times +-1 kernels. A negative scale
  shows the complements of the codewords, so each channel's sign is normalized first
  (the sign that keeps the layer's pattern set smallest) and moved into the channel's
  affine, which the binarization turns into a flipped comparison: exact.

Codeword bit order: tap ``(ky, kx)`` is bit ``ky*K + kx`` of a pattern (the row-major
flattening; ``codebook[k, t]`` is tap ``t``).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np
import onnx

from ..errors import UsageError

__all__ = ["SubBitMode", "parse_subbit", "Codebook", "explicit_codebook", "normalize_signs",
           "find_codebook", "MAX_TAU"]

MAX_TAU = 8


@dataclass(frozen=True)
class SubBitMode:
    """``--subbit``: "auto", "off", or "tau" with ``tau`` = N."""

    kind: str
    tau: int | None = None


def parse_subbit(text: str | SubBitMode) -> SubBitMode:
    """``"auto" | "off" | "tau=N"`` (1 <= N <= 8) -> :class:`SubBitMode`."""
    if isinstance(text, SubBitMode):
        return text
    t = str(text).strip().lower()
    if t in ("auto", "off"):
        return SubBitMode(t)
    if t.startswith("tau="):
        try:
            n = int(t[4:])
        except ValueError:
            n = -1
        if 1 <= n <= MAX_TAU:
            return SubBitMode("tau", n)
    raise UsageError(f"--subbit {text!r}: expected auto, off or tau=N with N in 1..{MAX_TAU} "
                     "(e.g. --subbit tau=5)")


@dataclass(frozen=True)
class Codebook:
    """A layer's codebook: ``codebook`` (2**tau, T) int8 +-1, ``indices`` (F, C) int64, and
    ``flip`` (F,) bool: channels whose signs were negated (the sign moves to the affine)."""

    codebook: np.ndarray
    indices: np.ndarray
    tau: int
    flip: np.ndarray
    patterns_used: int


def _patterns(signs: np.ndarray) -> np.ndarray:
    """+-1 (F, C, K, K) -> (F, C) int64 patterns, tap (ky, kx) at bit ky*K + kx."""
    f, c = signs.shape[:2]
    bits = (signs.reshape(f, c, -1) > 0).astype(np.int64)
    return (bits << np.arange(bits.shape[-1], dtype=np.int64)).sum(axis=-1)


def _kernels(patterns: np.ndarray, taps: int) -> np.ndarray:
    """Patterns -> (..., taps) int8 +-1."""
    bits = (patterns[..., None] >> np.arange(taps, dtype=np.int64)) & 1
    return np.where(bits == 1, 1, -1).astype(np.int8)


def normalize_signs(pats: np.ndarray, active: np.ndarray, taps: int) -> np.ndarray:
    """Per output channel, whether to negate its kernels so the layer's pattern set is small.

    Greedy (most-varied channels first, each picking the sign that adds fewer new patterns),
    then two passes that re-decide each channel against all the others. Channels that are
    not ``active`` (scale 0) stay unflipped. Returns ``flip`` (F,) bool.
    """
    full = (1 << taps) - 1
    f_count = pats.shape[0]
    flip = np.zeros(f_count, dtype=bool)
    rows = [set(pats[f].tolist()) for f in range(f_count)]
    comp = [{full ^ p for p in r} for r in rows]
    counts: Counter[int] = Counter()
    order = sorted((f for f in range(f_count) if active[f]), key=lambda f: -len(rows[f]))
    for f in order:
        a, b = rows[f], comp[f]
        na = sum(1 for p in a if counts[p] == 0)
        nb = sum(1 for p in b if counts[p] == 0)
        flip[f] = nb < na
        counts.update(b if flip[f] else a)
    for _ in range(2):
        changed = False
        for f in order:
            cur, other = (comp[f], rows[f]) if flip[f] else (rows[f], comp[f])
            counts.subtract(cur)
            n_cur = sum(1 for p in cur if counts[p] <= 0)
            n_other = sum(1 for p in other if counts[p] <= 0)
            if n_other < n_cur:
                flip[f] = not flip[f]
                cur = other
                changed = True
            counts.update(cur)
        if not changed:
            break
    return flip


def find_codebook(signs: np.ndarray, alpha: np.ndarray, *, tau: int | None,
                  flip: np.ndarray | None = None) -> Codebook:
    """The codebook of a binary conv's +-1 ``signs`` (F, C, K, K) after sign normalization.

    ``alpha`` (F,) are the channels' magnitudes (0: the channel's weights do not matter).
    ``tau``: the codebook size 2**tau to build (None: the smallest that holds the patterns,
    at least 1). ``flip``: given sign normalization (explicit form), else found here. The
    caller checks ``patterns_used <= 2**tau``.
    """
    taps = signs.shape[2] * signs.shape[3]
    active = np.asarray(alpha) != 0
    pats = _patterns(signs)
    if flip is None:
        flip = normalize_signs(pats, active, taps)
    full = (1 << taps) - 1
    norm = np.where(flip[:, None], full ^ pats, pats)
    used = sorted(set(norm[active].ravel().tolist()))
    n = len(used)
    t = tau if tau is not None else max(1, math.ceil(math.log2(max(n, 1))))
    size = 1 << t
    book = list(used[:size])
    taken = set(used)
    free = (p for p in range(full + 1) if p not in taken)
    while len(book) < size:  # unused rows: distinct patterns nobody selects
        book.append(next(free))
    where = {p: i for i, p in enumerate(book)}
    idx = np.array([[where.get(p, 0) for p in row] for row in norm.tolist()], dtype=np.int64)
    idx[~active] = 0
    return Codebook(codebook=_kernels(np.array(book, dtype=np.int64), taps), indices=idx,
                    tau=t, flip=flip & active, patterns_used=n)


def explicit_codebook(weight: str, producer: Mapping[str, onnx.NodeProto],
                      const: Callable[[str], np.ndarray | None]
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Recognise ``weight = Mul(Reshape(Gather(codebook, indices), shape), scale)``.

    Returns (codebook (R, T) float, indices (F, C) int64, scale (F,) float) or None. The
    pattern is matched by op types (docs/subbit-training.md), not by names; the Mul may be
    missing (scale 1) and its operands may come in either order.
    """
    node = producer.get(weight)
    scale: np.ndarray | None = None
    if node is not None and node.op_type == "Mul":
        a, b = node.input[0], node.input[1]
        pa, pb = producer.get(a), producer.get(b)
        if pa is not None and pa.op_type == "Reshape":
            node, scale = pa, const(b)
        elif pb is not None and pb.op_type == "Reshape":
            node, scale = pb, const(a)
        else:
            return None
        if scale is None:
            return None
    if node is None or node.op_type != "Reshape":
        return None
    g = producer.get(node.input[0])
    if g is None or g.op_type != "Gather":
        return None
    axis = next((a.i for a in g.attribute if a.name == "axis"), 0)
    book, idx = const(g.input[0]), const(g.input[1])
    if axis != 0 or book is None or idx is None or book.ndim != 2 or idx.ndim != 2:
        return None
    rows = book.shape[0]
    if rows < 2 or rows & (rows - 1) or rows > (1 << MAX_TAU):
        return None
    if not np.isin(book, (-1.0, 1.0)).all():
        return None
    f = idx.shape[0]
    s = np.ones(f) if scale is None else np.asarray(scale, dtype=np.float64)
    if s.size == 1:
        s = np.full(f, float(s.reshape(-1)[0]))
    if s.size != f:
        return None
    return book, idx.astype(np.int64), s.reshape(-1)
