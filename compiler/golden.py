"""The golden model: numpy execution of the IR, one function per node kind.

This module is the living specification of every node's semantics. All
arithmetic is on integers (int64); matrix products go through float64 BLAS,
which is exact for the integer ranges involved (|sum| < 2**53, checked).
Hardware results are only ever compared with this model.
"""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np

from . import ir
from .errors import UsageError

__all__ = ["run", "run_all", "GOLDEN"]

Consts = Mapping[str, np.ndarray]


def _exact_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Integer a @ b computed with float64 BLAS; exact while |result| < 2**53."""
    bound = float(np.abs(a).max(initial=0)) * float(np.abs(b).max(initial=0)) * a.shape[-1]
    if bound >= 2.0 ** 53:
        return a.astype(np.int64) @ b.astype(np.int64)
    return np.rint(a.astype(np.float64) @ b.astype(np.float64)).astype(np.int64)


def _pad(x: np.ndarray, pad: int, value: int) -> np.ndarray:
    if pad == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=value)


def _windows(x: np.ndarray, k: int, stride: int) -> np.ndarray:
    """(N, C, Hp, Wp) -> (N, OH, OW, K, K, C) views of every window."""
    n, c, hp, wp = x.shape
    oh = (hp - k) // stride + 1
    ow = (wp - k) // stride + 1
    s = x.strides
    view = np.lib.stride_tricks.as_strided(
        x, shape=(n, oh, ow, k, k, c),
        strides=(s[0], s[2] * stride, s[3] * stride, s[2], s[3], s[1]), writeable=False)
    return view


def conv(node: ir.Conv, x: np.ndarray, consts: Consts) -> np.ndarray:
    w = consts[node.weights]  # (F, C, K, K)
    xp = _pad(x, node.pad, node.pad_value)
    win = _windows(xp, node.kernel, node.stride)  # (N, OH, OW, K, K, C)
    n, oh, ow = win.shape[:3]
    cols = win.reshape(n * oh * ow, -1)  # order (ky, kx, c)
    wmat = w.transpose(0, 2, 3, 1).reshape(w.shape[0], -1)  # (F, K*K*C) same order
    acc = _exact_matmul(cols, wmat.T)
    return acc.reshape(n, oh, ow, -1).transpose(0, 3, 1, 2)


def codebook_weights(codebook: np.ndarray, indices: np.ndarray, kernel: int) -> np.ndarray:
    """The (F, C, K, K) +-1 weights of a codebook layer: ``codebook[indices]`` reshaped."""
    f, c = indices.shape
    return codebook[indices].reshape(f, c, kernel, kernel)


def subbit_conv(node: ir.SubBitConv, x: np.ndarray, consts: Consts) -> np.ndarray:
    w = codebook_weights(consts[node.codebook], consts[node.indices], node.kernel)
    plain = ir.Conv(name=node.name, weights="w", kernel=node.kernel, stride=node.stride,
                    pad=node.pad, pad_value=node.pad_value)
    return conv(plain, x, {"w": w})


def dense(node: ir.Dense, x: np.ndarray, consts: Consts) -> np.ndarray:
    w = consts[node.weights]  # (F, C)
    acc = _exact_matmul(x.reshape(x.shape[0], -1), w.T)
    return acc[:, :, None, None]


def _threshold(acc: np.ndarray, t: np.ndarray, inv: np.ndarray) -> np.ndarray:
    bit = (acc >= t[None, :, None, None]) ^ inv[None, :, None, None].astype(bool)
    return np.where(bit, 1, -1).astype(np.int64)


def threshold(node: ir.Threshold, x: np.ndarray, consts: Consts) -> np.ndarray:
    return _threshold(x, consts[node.thresholds], consts[node.invert])


def maxpool(node: ir.MaxPool, x: np.ndarray, consts: Consts) -> np.ndarray:
    k = node.kernel
    n, c, h, w = x.shape
    oh, ow = (h - k) // node.stride + 1, (w - k) // node.stride + 1
    xw = x[:, :, : oh * k, : ow * k].reshape(n, c, oh, k, ow, k)
    out = xw.max(axis=(3, 5))
    if node.and_mask is not None:
        mask = consts[node.and_mask].astype(bool)
        out[:, mask] = xw[:, mask].min(axis=(3, 5))
    return out


def flatten(node: ir.Flatten, x: np.ndarray, consts: Consts) -> np.ndarray:
    return x.reshape(x.shape[0], -1, 1, 1)


def input_(node: ir.Input, x: np.ndarray, consts: Consts) -> np.ndarray:
    return x


def output(node: ir.Output, x: np.ndarray, consts: Consts) -> np.ndarray:
    return x


def sliding_window(node: ir.SlidingWindow, x: np.ndarray, consts: Consts) -> np.ndarray:
    pad_value = 0 if node.masked else node.pad_value
    xp = _pad(x, node.pad, pad_value)
    win = _windows(xp, node.kernel, node.stride)  # (N, OH, OW, K, K, C)
    if node.order == "ckk":
        win = win.transpose(0, 1, 2, 5, 3, 4)  # (N, OH, OW, C, K, K)
    n, oh, ow = win.shape[:3]
    return np.ascontiguousarray(win.reshape(n, oh, ow, -1).transpose(0, 3, 1, 2))


def matvec(node: ir.MatVec, x: np.ndarray, consts: Consts) -> np.ndarray:
    w = consts[node.weights]  # (MH, MW)
    n, mw, h, wd = x.shape
    cols = x.transpose(0, 2, 3, 1).reshape(-1, mw)
    if node.domain == "popcount":
        # number of positions where weight and input agree (both bipolar, no masked taps)
        acc = (_exact_matmul(cols, w.T) + mw) // 2
    else:
        acc = _exact_matmul(cols, w.T)
    acc = acc.reshape(n, h, wd, -1).transpose(0, 3, 1, 2)
    if node.thresholds is None:
        return acc
    assert node.invert is not None
    return _threshold(acc, consts[node.thresholds], consts[node.invert])


def codebook_matvec(node: ir.CodebookMatVec, x: np.ndarray, consts: Consts) -> np.ndarray:
    # both modes compute the same function: a matvec with the decoded weights in (c, t) order
    w = consts[node.codebook][consts[node.indices]].reshape(node.mh, node.mw)
    plain = ir.MatVec(name=node.name, weights="w", mw=node.mw, mh=node.mh,
                      in_dtype=ir.BIPOLAR, domain=node.domain, masked=node.masked,
                      thresholds=None if node.thresholds is None else "t",
                      invert=None if node.invert is None else "i")
    table = {"w": w}
    if node.thresholds is not None and node.invert is not None:
        table["t"], table["i"] = consts[node.thresholds], consts[node.invert]
    return matvec(plain, x, table)


def pool(node: ir.Pool, x: np.ndarray, consts: Consts) -> np.ndarray:
    k = node.kernel
    n, c, h, w = x.shape
    oh, ow = h // k, w // k
    xw = x[:, :, : oh * k, : ow * k].reshape(n, c, oh, k, ow, k)
    out = xw.max(axis=(3, 5))  # OR of bits
    if node.and_mask is not None:
        mask = consts[node.and_mask].astype(bool)
        out[:, mask] = xw[:, mask].min(axis=(3, 5))  # AND of bits
    return out


def flatten_nhwc(node: ir.FlattenNHWC, x: np.ndarray, consts: Consts) -> np.ndarray:
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1)).reshape(x.shape[0], -1, 1, 1)


def width_convert(node: ir.WidthConvert, x: np.ndarray, consts: Consts) -> np.ndarray:
    return x


# ------------------------------------------------------------------ bit-plane layer
def _plane_bits(x: np.ndarray, code: np.ndarray) -> np.ndarray:
    """uint8 (N, C, H, W) -> bipolar (N, C*8, H, W): plane c*8 + i = bit i of code[x]."""
    q = np.asarray(code, dtype=np.int64)[x]
    n, c, h, w = q.shape
    bits = (q[:, :, None] >> np.arange(8)[None, None, :, None, None]) & 1
    return (2 * bits - 1).reshape(n, c * 8, h, w)


def _table_sums(counts: np.ndarray, tables: np.ndarray) -> np.ndarray:
    """Exact ``sum_j tables[f, j, counts[..., f, j]]`` over the last axis: (..., F, P) -> (..., F).

    The table entries are Python ints of any size; they are split into 32-bit limbs
    (two's complement, the top limb signed) so the sums run in int64. The result is int64
    when every possible sum fits in 62 bits, else an object array of Python ints.
    """
    tab = np.asarray(tables, dtype=object)
    f, p, _ = tab.shape
    lo_t, hi_t = min(int(v) for v in tab.ravel()), max(int(v) for v in tab.ravel())
    fits = max(abs(lo_t), abs(hi_t)) * p < (1 << 62)
    limbs: list[np.ndarray] = []
    rest = tab
    while True:
        if max(abs(int(v)) for v in rest.ravel()) < (1 << 32) or fits:
            limbs.append(rest.astype(np.int64))
            break
        limbs.append(np.array([int(v) & 0xFFFFFFFF for v in rest.ravel()],
                              dtype=np.int64).reshape(rest.shape))
        rest = np.array([int(v) >> 32 for v in rest.ravel()], dtype=object).reshape(rest.shape)
    fi = np.arange(f)[:, None]
    pj = np.arange(p)[None, :]
    total: np.ndarray | None = None
    for k, limb in enumerate(limbs):
        part = limb[fi, pj, counts].sum(axis=-1)
        if len(limbs) > 1:
            part = part.astype(object) * (1 << (32 * k))
        total = part if total is None else total + part
    assert total is not None
    return total


def bitplane_conv(node: ir.BitPlaneConv, x: np.ndarray, consts: Consts) -> np.ndarray:
    planes = _plane_bits(x, consts[node.code])
    w = consts[node.weights].astype(np.int64)  # (F, P, K, K)
    win = _windows(_pad(planes, node.pad, 1), node.kernel, node.stride)  # (N, OH, OW, K, K, P)
    dot = np.einsum("nhwabp,fpab->nhwfp", win, w)
    counts = (dot + node.kernel * node.kernel) // 2
    out = _table_sums(counts, consts[node.tables])  # (N, OH, OW, F)
    return out.transpose(0, 3, 1, 2)


def code_map(node: ir.CodeMap, x: np.ndarray, consts: Consts) -> np.ndarray:
    return _plane_bits(x, consts[node.code])


def bitplane_matvec(node: ir.BitPlaneMatVec, x: np.ndarray, consts: Consts) -> np.ndarray:
    n, mw, h, wd = x.shape
    cols = x.transpose(0, 2, 3, 1).reshape(-1, node.taps, node.planes)
    w = consts[node.weights].astype(np.int64).reshape(node.mh, node.taps, node.planes)
    dot = np.einsum("mtp,ftp->mfp", cols, w)
    counts = (dot + node.taps) // 2
    acc = _table_sums(counts, consts[node.tables]).reshape(n, h, wd, -1).transpose(0, 3, 1, 2)
    return _threshold(acc, consts[node.thresholds], consts[node.invert])


GOLDEN: dict[type, Callable[..., np.ndarray]] = {
    ir.Input: input_,
    ir.Conv: conv,
    ir.Dense: dense,
    ir.Threshold: threshold,
    ir.MaxPool: maxpool,
    ir.Flatten: flatten,
    ir.Output: output,
    ir.SlidingWindow: sliding_window,
    ir.MatVec: matvec,
    ir.Pool: pool,
    ir.FlattenNHWC: flatten_nhwc,
    ir.WidthConvert: width_convert,
    ir.SubBitConv: subbit_conv,
    ir.CodebookMatVec: codebook_matvec,
    ir.BitPlaneConv: bitplane_conv,
    ir.CodeMap: code_map,
    ir.BitPlaneMatVec: bitplane_matvec,
}


def _check_input(graph: ir.Graph, x: np.ndarray) -> np.ndarray:
    inp = graph.input
    x = np.asarray(x)
    if x.ndim != 4 or tuple(x.shape[1:]) != tuple(inp.shape):
        raise UsageError(f"golden input must have shape (N, {', '.join(map(str, inp.shape))}), "
                         f"got {x.shape}")
    x = x.astype(np.int64)
    if isinstance(inp.dtype, ir.Bipolar):
        if not np.isin(x, (-1, 1)).all():
            raise UsageError("golden input for a bipolar Input must hold only -1 and +1")
    elif isinstance(inp.dtype, ir.UInt):
        if x.min(initial=0) < 0 or x.max(initial=0) >= 2 ** inp.dtype.width:
            raise UsageError(f"golden input must hold {inp.dtype} values")
    return x


def run_all(graph: ir.Graph, x: np.ndarray) -> dict[str, np.ndarray]:
    """Execute ``graph`` on accelerator-domain input ``x`` (N, C, H, W); every node's output."""
    values: dict[str, np.ndarray] = {}
    for node in graph:
        if isinstance(node, ir.Input):
            values[node.name] = _check_input(graph, x)
            continue
        args = [values[i] for i in node.inputs]
        values[node.name] = GOLDEN[type(node)](node, *args, graph.consts)
    return values


def run(graph: ir.Graph, x: np.ndarray) -> np.ndarray:
    """Integer scores (N, classes) of ``graph`` for accelerator-domain input ``x``."""
    out = run_all(graph, x)[graph.output.name]
    return out.reshape(out.shape[0], -1)
