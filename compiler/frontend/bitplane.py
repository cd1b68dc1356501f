"""Recognize the bit-plane first layer (``bnnc.nn.BitPlaneInput``) and compute it exactly.

The exported pattern (docs/bitplane-training.md section 2) on the uint8 graph input is

    Cast(int) -> Gather(plane table 256x8) -> Transpose -> Reshape -> [Pad(+1)]
      -> Conv(group = C*8, +-1 weights) -> Mul(a) -> Add(d) -> PRelu(alpha)
      -> Reshape -> Mul(plane weights) -> ReduceSum(axes 1, 2) -> BatchNormalization
      -> a binarization (GreaterOrEqual/Greater/... + Where, or Sign)

The converter hands every node that reads a pending bit-plane value to :func:`handle`,
which checks it against the next expected stage and collects its constants. At the
binarization :func:`binarize` emits the IR: a :class:`~bnnc.ir.BitPlaneConv` and a
:class:`~bnnc.ir.Threshold`.

Exactness. The conv output of branch ``b = (c*8 + i)*F + f`` is ``y = 2n - K*K`` for
``n`` agreeing taps, so stages affine -> PReLU -> plane weight are a table of ``K*K + 1``
values ``m_i * PReLU(a_b*y + d_b, alpha_b)``. Every float parameter is a dyadic rational,
so each entry is one too; the tables are stored as integers ``entry * 2**E`` (Python
ints, ``E`` the largest denominator exponent of the layer). The fused BatchNorm +
comparison ``gamma*(u - mean)/sqrt(var + eps) + beta >= c`` on ``u = U / 2**E`` is
decided for an integer ``U`` exactly in rational arithmetic (the square root is
compared by squaring), and the integer threshold is found by bisection over the exact
range of ``U``. Nothing is fitted to data.
"""

from __future__ import annotations

import decimal
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import TYPE_CHECKING, Sequence

import numpy as np
import onnx

from .. import ir
from ..errors import ModelError, UnsupportedError

if TYPE_CHECKING:
    from .convert import _Converter, _Val

__all__ = ["start", "handle", "binarize", "exact_tables", "exact_threshold", "BITPLANE_OPS"]

PLANES = 8
# ops that only ever appear inside the pattern (the converter routes them here)
BITPLANE_OPS = ("Gather", "Transpose", "PRelu", "ReduceSum")
_COMPARE = ("GreaterOrEqual", "Greater", "LessOrEqual", "Less")


def _label(node: onnx.NodeProto) -> str:
    return f"node {node.name or '(unnamed)'!r} ({node.op_type})"


@dataclass
class _State:
    """What is known of the bit-plane layer so far; ``stage`` names the last op matched."""

    stage: str
    first: str                      # label of the Cast, for messages
    channels: int
    height: int
    width: int
    code: list[int] = field(default_factory=list)
    pad: int = 0
    kernel: int = 0
    stride: int = 1
    filters: int = 0
    out_hw: tuple[int, int] = (0, 0)
    weights: np.ndarray | None = None     # (F, C*8, K, K) int8 +-1
    a: np.ndarray | None = None           # (B,) float, branch b = (c*8 + i)*F + f
    d: np.ndarray | None = None
    alpha: np.ndarray | None = None
    m: np.ndarray | None = None           # (8,)
    bn: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float] | None = None
    source: str = ""                      # the IR Input node


# the op expected after each stage (Pad is optional after "reshape")
_NEXT = {
    "index": ("Gather",), "gather": ("Transpose",), "transpose": ("Reshape",),
    "reshape": ("Pad", "Conv"), "pad": ("Conv",), "conv": ("Mul",), "mul": ("Add",),
    "add": ("PRelu",), "prelu": ("Reshape",), "reshape2": ("Mul",), "planemul": ("ReduceSum",),
    "sum": ("BatchNormalization", *_COMPARE, "Sign"), "bn": (*_COMPARE, "Sign"),
}


def _attr(node: onnx.NodeProto, name: str, default: object) -> object:
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def start(cv: "_Converter", node: onnx.NodeProto, v: "_Val") -> "_Val":
    """A Cast of the uint8 pixels to an integer type: the index of a bit-plane table."""
    v = cv.integer_source(v, node)
    if v.flat:
        raise UnsupportedError(f"{_label(node)}: a bit-plane layer needs (N, C, H, W) pixels, "
                               "not a flattened input")
    c, h, w = v.shape
    st = _State(stage="index", first=_label(node), channels=c, height=h, width=w,
                source=str(v.node))
    return replace(v, kind="bitplane", extra=st, a=None, b=None)


def _const(cv: "_Converter", name: str, node: onnx.NodeProto, what: str) -> np.ndarray:
    return np.asarray(cv.const_of(name, node, what))


def _per_branch(arr: np.ndarray, n: int, node: onnx.NodeProto, what: str) -> np.ndarray:
    a = np.asarray(arr, dtype=np.float64)
    if a.size == 1:
        a = np.full(n, float(a.reshape(-1)[0]))
    elif a.size != n or any(d != 1 for i, d in enumerate(a.shape) if d != n):
        raise UnsupportedError(f"{_label(node)}: {what} of shape {list(a.shape)}; the bit-plane "
                               f"layer needs one value per branch ({n}, e.g. shape [1, {n}, 1, 1]) "
                               "or a scalar")
    a = a.reshape(-1)
    if not np.isfinite(a).all():
        raise ModelError(f"{_label(node)}: {what} holds non-finite values")
    return a


def handle(cv: "_Converter", node: onnx.NodeProto) -> None:
    """Match one more op of the pattern (``node`` reads a pending bit-plane value)."""
    from . import convert

    src = next(cv.vals[i] for i in node.input if i and cv.vals[i].kind == "bitplane")
    st: _State = src.extra
    op = node.op_type
    expected = _NEXT[st.stage]
    if op not in expected or node.domain not in ("", "ai.onnx"):
        raise UnsupportedError(
            f"{_label(node)} follows the bit-plane pattern started at {st.first} after its "
            f"{st.stage!r} stage; expected {' or '.join(expected)}. bnnc compiles the exact "
            "export of bnnc.nn.BitPlaneInput (docs/bitplane-training.md): re-export with "
            "bnnc.nn.export_onnx, dynamo exporter")
    if op in _COMPARE or op == "Sign":
        _finish_shape(st)
        out = replace(src, shape=(st.filters, *st.out_hw))
        cv.vals[src_name(node, cv)] = out
        if op == "Sign":
            convert._h_sign(cv, node)
        else:
            convert._h_compare(cv, node)
        return
    C, H, W = st.channels, st.height, st.width
    P = C * PLANES
    new = replace(st)
    if op == "Gather":
        if node.input[1] not in cv.vals or cv.vals[node.input[1]].kind != "bitplane":
            raise UnsupportedError(f"{_label(node)}: the pixels must be the indices of the "
                                   "plane table Gather")
        table = _const(cv, node.input[0], node, "the plane table (data)")
        axis = int(_attr(node, "axis", 0))  # type: ignore[call-overload]
        if axis != 0 or table.shape != (256, PLANES) or not np.isin(table, (-1.0, 1.0)).all():
            raise UnsupportedError(
                f"{_label(node)}: expected a (256, 8) table of +-1 read on axis 0 (bit i of the "
                f"code of pixel p at [p, i]), found shape {list(table.shape)}, axis {axis}")
        new.code = [int(sum(1 << i for i in range(PLANES) if table[p, i] > 0))
                    for p in range(256)]
    elif op == "Transpose":
        perm = list(_attr(node, "perm", []))  # type: ignore[call-overload]
        if perm != [0, 1, 4, 2, 3]:
            raise UnsupportedError(f"{_label(node)}: expected perm [0, 1, 4, 2, 3] (planes "
                                   f"next to channels), found {perm}")
    elif op == "Reshape":
        shape = [int(x) for x in _const(cv, node.input[1], node, "the shape").reshape(-1)]
        if st.stage == "transpose":
            want: Sequence[int] = [P, H, W]
        else:
            want = [C, PLANES, st.filters, *st.out_hw]
        if shape[1:] != list(want) or shape[0] not in (-1, 1):
            raise UnsupportedError(f"{_label(node)}: expected shape [-1, "
                                   f"{', '.join(map(str, want))}], found {shape}")
    elif op == "Pad":
        mode = _attr(node, "mode", b"constant")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        pads = [int(x) for x in _const(cv, node.input[1], node, "the pads").reshape(-1)]
        value = (float(_const(cv, node.input[2], node, "the pad value").reshape(-1)[0])
                 if len(node.input) > 2 and node.input[2] else 0.0)
        p = pads[2] if len(pads) == 8 else -1
        if (mode != "constant" or len(pads) != 8 or pads != [0, 0, p, p, 0, 0, p, p]
                or (len(node.input) > 3 and node.input[3])):
            raise UnsupportedError(f"{_label(node)}: expected constant padding of H and W alike "
                                   f"(pads [0, 0, p, p, 0, 0, p, p]), found mode {mode!r}, "
                                   f"pads {pads}")
        if value != 1.0:
            raise UnsupportedError(f"{_label(node)}: the bit-planes must be padded with +1 (bit "
                                   f"1), found {value:g}; bnnc.nn.BitPlaneInput pads with +1")
        new.pad = p
    elif op == "Conv":
        _conv(cv, node, new, P)
    elif op == "Mul" and st.stage == "conv":
        new.a = _per_branch(_const(cv, _other(node, cv), node, "the scale"), P * st.filters,
                            node, "the scale a")
    elif op == "Add":
        new.d = _per_branch(_const(cv, _other(node, cv), node, "the shift"), P * st.filters,
                            node, "the shift d")
    elif op == "PRelu":
        if cv.vals[node.input[0]].kind != "bitplane":
            raise UnsupportedError(f"{_label(node)}: the slope must be a constant")
        new.alpha = _per_branch(_const(cv, node.input[1], node, "the slope"), P * st.filters,
                                node, "the PReLU slope")
    elif op == "Mul":
        m = np.asarray(_const(cv, _other(node, cv), node, "the plane weights"), dtype=np.float64)
        if m.ndim < 4 or m.shape[-4] != PLANES or m.size != PLANES:
            raise UnsupportedError(f"{_label(node)}: expected 8 plane weights of shape "
                                   f"[8, 1, 1, 1], found shape {list(m.shape)}")
        if not np.isfinite(m).all():
            raise ModelError(f"{_label(node)}: the plane weights hold non-finite values")
        new.m = m.reshape(-1)
    elif op == "ReduceSum":
        if len(node.input) > 1 and node.input[1]:
            axes = [int(x) for x in _const(cv, node.input[1], node, "the axes").reshape(-1)]
        else:
            raw = _attr(node, "axes", [])
            axes = [int(x) for x in raw] if isinstance(raw, (list, tuple)) else []
        keep = int(_attr(node, "keepdims", 1))  # type: ignore[call-overload]
        if sorted(a % 6 for a in axes) != [1, 2] or keep != 0:
            raise UnsupportedError(f"{_label(node)}: expected a sum over axes [1, 2] (channels "
                                   f"and planes) with keepdims=0, found axes {axes}, "
                                   f"keepdims {keep}")
    elif op == "BatchNormalization":
        F = st.filters
        arrs = [np.asarray(_const(cv, n, node, "BatchNormalization parameters"),
                           dtype=np.float64).reshape(-1) for n in node.input[1:5]]
        for nm, arr in zip(("scale", "B", "mean", "var"), arrs):
            if arr.size != F:
                raise UnsupportedError(f"{_label(node)}: {nm} has {arr.size} values for {F} "
                                       "filters")
            if not np.isfinite(arr).all():
                raise ModelError(f"{_label(node)}: {nm} holds non-finite values")
        eps = float(_attr(node, "epsilon", 1e-5))  # type: ignore[arg-type]
        new.bn = (arrs[0], arrs[1], arrs[2], arrs[3], eps)
    stage = {"Gather": "gather", "Transpose": "transpose", "Pad": "pad", "Conv": "conv",
             "Add": "add", "PRelu": "prelu", "ReduceSum": "sum",
             "BatchNormalization": "bn"}.get(op)
    if op == "Reshape":
        stage = "reshape" if st.stage == "transpose" else "reshape2"
    if op == "Mul":
        stage = "mul" if st.stage == "conv" else "planemul"
    assert stage is not None
    new.stage = stage
    cv.vals[node.output[0]] = replace(src, extra=new)


def src_name(node: onnx.NodeProto, cv: "_Converter") -> str:
    return next(i for i in node.input if i and cv.vals[i].kind == "bitplane")


def _other(node: onnx.NodeProto, cv: "_Converter") -> str:
    """The constant operand of a binary op whose other operand is the bit-plane value."""
    ins = [i for i in node.input[:2] if i]
    rest = [i for i in ins if cv.vals[i].kind != "bitplane"]
    if len(rest) != 1:
        raise UnsupportedError(f"{_label(node)}: expected one constant operand")
    return rest[0]


def _conv(cv: "_Converter", node: onnx.NodeProto, st: _State, P: int) -> None:
    w = np.asarray(_const(cv, node.input[1], node, "the weight"), dtype=np.float64)
    if len(node.input) > 2 and node.input[2]:
        raise UnsupportedError(f"{_label(node)}: the bit-plane conv has a bias; expected none "
                               "(the per-branch shift is the Add after it)")
    group = int(_attr(node, "group", 1))  # type: ignore[call-overload]
    if w.ndim != 4 or w.shape[1] != 1 or group != P or w.shape[0] % P:
        raise UnsupportedError(f"{_label(node)}: expected a depth-wise conv over the {P} "
                               f"planes (group={P}, weight [{P}*F, 1, K, K]), found group "
                               f"{group}, weight {list(w.shape)}")
    k = w.shape[2]
    strides = list(_attr(node, "strides", [1, 1]))  # type: ignore[call-overload]
    pads = list(_attr(node, "pads", [0, 0, 0, 0]))  # type: ignore[call-overload]
    dil = list(_attr(node, "dilations", [1, 1]))  # type: ignore[call-overload]
    auto = _attr(node, "auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if any(pads) or auto not in ("NOTSET", "VALID"):
        raise UnsupportedError(f"{_label(node)}: the bit-plane conv pads with zeros (pads "
                               f"{pads}); the planes must be padded with +1 by a Pad node, as "
                               "bnnc.nn.BitPlaneInput exports")
    if w.shape[3] != k or len(set(strides)) != 1 or any(d != 1 for d in dil):
        raise UnsupportedError(f"{_label(node)}: only square kernels, equal strides and no "
                               f"dilation (kernel {list(w.shape[2:])}, strides {strides}, "
                               f"dilations {dil})")
    if not np.isin(w, (-1.0, 1.0)).all():
        bad = np.unique(w[~np.isin(w, (-1.0, 1.0))])[:4]
        raise UnsupportedError(f"{_label(node)}: the bit-plane conv weights must be exactly "
                               f"+-1, found {', '.join(f'{x:g}' for x in bad)}; export with "
                               "bnnc.nn.export_onnx (it freezes the binary weights)")
    F = w.shape[0] // P
    s = int(strides[0])
    oh = (st.height + 2 * st.pad - k) // s + 1
    ow = (st.width + 2 * st.pad - k) // s + 1
    if oh <= 0 or ow <= 0:
        raise ModelError(f"{_label(node)}: kernel {k} does not fit the {st.height}x{st.width} "
                         "input")
    st.kernel, st.stride, st.filters, st.out_hw = k, s, F, (oh, ow)
    # row b = j*F + f (j = c*8 + i) -> [f, j]
    st.weights = np.where(w[:, 0] > 0, 1, -1).astype(np.int8).reshape(P, F, k, k).transpose(
        1, 0, 2, 3).copy()


def _finish_shape(st: _State) -> None:
    if st.stage not in ("sum", "bn"):
        raise UnsupportedError(f"the bit-plane layer started at {st.first} is binarized before "
                               "its ReduceSum")


# ---------------------------------------------------------------- exact arithmetic
def exact_tables(st: _State) -> tuple[np.ndarray, int]:
    """Integer tables (F, C*8, K*K + 1) (object, Python ints) and the exponent E.

    Entry ``[f, j, n]`` is ``2**E * m_i * PReLU(a_b * (2n - K*K) + d_b, alpha_b)`` with
    ``j = c*8 + i``, ``b = j*F + f``; exact for every float parameter.
    """
    assert st.a is not None and st.d is not None and st.alpha is not None and st.m is not None
    F, P, K2 = st.filters, st.channels * PLANES, st.kernel * st.kernel
    vals: list[Fraction] = []
    for f in range(F):
        for j in range(P):
            b = j * F + f
            a, d, al = Fraction(float(st.a[b])), Fraction(float(st.d[b])), Fraction(float(st.alpha[b]))
            m = Fraction(float(st.m[j % PLANES]))
            for n in range(K2 + 1):
                z = a * (2 * n - K2) + d
                vals.append(m * (z if z >= 0 else al * z))
    e = max((v.denominator.bit_length() - 1 for v in vals), default=0)
    ints = [int(v * (1 << e)) for v in vals]
    arr = np.empty(len(ints), dtype=object)
    arr[:] = ints
    return arr.reshape(F, P, K2 + 1), e


def _sign(x: Fraction) -> int:
    return (x > 0) - (x < 0)


def _cmp_sqrt(x: Fraction, r: Fraction, v: Fraction) -> int:
    """Sign of ``x - r*sqrt(v)`` (v > 0), exactly."""
    if r == 0:
        return _sign(x)
    if x >= 0 and r < 0:
        return 1
    if x <= 0 and r > 0:
        return -1
    d = _sign(x * x - r * r * v)  # x and r have the same sign here, x != 0
    return d if x > 0 else -d


def exact_threshold(lo: int, hi: int, e: int, c: Fraction, strict: bool,
                    bn: tuple[float, float, float, float, float] | None) -> tuple[int, bool, bool]:
    """Integer threshold ``t`` and ``invert`` with ``(U >= t) xor invert == cond(U)`` on [lo, hi].

    ``cond(U)``: ``BN(U / 2**e) >= c`` (``>`` when ``strict``), BN the inference
    BatchNorm ``gamma*(u - mean)/sqrt(var + eps) + beta`` (identity when ``bn`` is None).
    Also returns whether the value before the comparison can equal ``c`` exactly at the
    threshold (a tie that ONNX ``Sign`` resolves to 0).
    """
    if bn is None:
        gamma, beta, mean, v = Fraction(1), Fraction(0), Fraction(0), Fraction(1)
    else:
        g, bt, mn, var, eps = bn
        gamma, beta, mean = Fraction(g), Fraction(bt), Fraction(mn)
        v = Fraction(var) + Fraction(eps)
    scale = Fraction(1, 1 << e)
    r = c - beta

    def s(u: int) -> int:  # sign of BN(u) - c (sqrt(v) > 0 multiplies it)
        return _cmp_sqrt(gamma * (u * scale - mean), r, v)

    def cond(u: int) -> bool:
        return s(u) > 0 if strict else s(u) >= 0

    if gamma == 0:
        return lo, not cond(lo), s(lo) == 0
    want = gamma > 0  # cond is increasing in u for gamma > 0: find its first True
    a, b = lo, hi + 1  # first u in [lo, hi] with cond(u) == want, else hi + 1
    while a < b:
        mid = (a + b) // 2
        if cond(mid) == want:
            b = mid
        else:
            a = mid + 1
    tie = any(s(u) == 0 for u in (a - 1, a) if lo <= u <= hi)
    return a, not want, tie


def binarize(cv: "_Converter", node: onnx.NodeProto, v: "_Val", c: tuple[decimal.Decimal, ...],
             strict: bool, hi: decimal.Decimal, lo: decimal.Decimal, sign_op: bool) -> "_Val":
    """The binarization after the layer: emit BitPlaneConv + Threshold, return the bits."""
    from .convert import _Val

    st: _State = v.extra
    _finish_shape(st)
    if st.a is None or st.weights is None:  # pragma: no cover - guarded by the stage order
        raise UnsupportedError(f"{_label(node)}: incomplete bit-plane layer")
    tables, e = exact_tables(st)
    lo_u = [sum(min(int(x) for x in row) for row in tables[f]) for f in range(st.filters)]
    hi_u = [sum(max(int(x) for x in row) for row in tables[f]) for f in range(st.filters)]
    ts, invs = [], []
    for f in range(st.filters):
        bn = None if st.bn is None else tuple(float(x[f]) for x in st.bn[:4]) + (st.bn[4],)
        if bn is not None and Fraction(bn[3]) + Fraction(bn[4]) <= 0:
            raise ModelError(f"{_label(node)}: filter {f} has var + epsilon <= 0 in the "
                             "bit-plane layer's BatchNorm; fix running_var (retrain or re-export)")
        t, inv, tie = exact_threshold(lo_u[f], hi_u[f], e, Fraction(c[f]), strict,
                                      bn)  # type: ignore[arg-type]
        if sign_op and tie:
            cv.diagnostics.append(f"{_label(node)}: filter {f}: the value before Sign is exactly "
                                  "0 for some plane sums; ONNX Sign gives 0 there, bnnc gives +1")
        ts.append(t)
        invs.append(inv)
    cv.counters["conv"] = cv.counters.get("conv", 0) + 1
    name = cv.fresh(f"conv{cv.counters['conv']}")
    cv.onnx_names[name] = st.first
    cv.consts[f"{name}.code"] = np.array(st.code, dtype=np.uint8)
    cv.consts[f"{name}.weights"] = st.weights
    cv.consts[f"{name}.tables"] = tables
    cv.emit(ir.BitPlaneConv(name=name, inputs=(st.source,), code=f"{name}.code",
                            weights=f"{name}.weights", tables=f"{name}.tables",
                            kernel=st.kernel, stride=st.stride, pad=st.pad))
    act = cv.fresh(f"{name}_act")
    tarr = np.empty(st.filters, dtype=object)
    tarr[:] = ts
    cv.consts[f"{act}.thresholds"] = tarr
    cv.consts[f"{act}.invert"] = np.array(invs, dtype=np.uint8)
    cv.emit(ir.Threshold(name=act, inputs=(name,), thresholds=f"{act}.thresholds",
                         invert=f"{act}.invert"))
    with decimal.localcontext(decimal.Context(prec=60)):
        mid, half = (hi + lo) / 2, (hi - lo) / 2
    F = st.filters
    affine = (None, None) if (mid == 0 and half == 1) else ((half,) * F, (mid,) * F)
    return _Val(kind="bipolar", node=act, shape=(F, *st.out_hw), flat=False, a=affine[0],
                b=affine[1], acc_range=(-1, 1))


def table_bits(tables: np.ndarray) -> int:
    """Signed width of the widest entry of an object table."""
    lo = min(int(x) for x in np.asarray(tables).ravel())
    hi = max(int(x) for x in np.asarray(tables).ravel())
    return max(_bits_signed(lo, hi), 2)


def _bits_signed(lo: int, hi: int) -> int:
    """Bits of a two's-complement number holding every value of [lo, hi]."""
    return max(x.bit_length() if x >= 0 else (~x).bit_length() for x in (lo, hi)) + 1
