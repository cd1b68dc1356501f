"""QONNX operators, as Brevitas and FINN write them: BipolarQuant, Quant, MultiThreshold.

The converter (:mod:`bnnc.frontend.convert`) dispatches nodes of the QONNX domains
(:data:`QONNX_DOMAINS`) here. Semantics follow qonnx 1.0's definitions
(``qonnx.custom_op.general``), re-implemented below in numpy for constants:

* ``BipolarQuant(x, scale) = (x >= 0 ? +1 : -1) * scale`` (sign with sign(0) = +1);
* ``Quant(x, scale, zeropt, bitwidth; signed, narrow, rounding_mode)``:
  ``q = round(clip(x / scale + zeropt, qmin, qmax))``, output ``(q - zeropt) * scale``;
  a signed 1-bit Quant is bipolar: ``q = (x / scale + zeropt >= 0 ? +1 : -1)``;
* ``MultiThreshold(x, T; out_scale, out_bias)``: the number of thresholds ``T[c, i]``
  that ``x`` is ``>=``, times ``out_scale`` plus ``out_bias``.

Where they land in bnnc:

* on constants (weights) they are folded; a quantizer that feeds a layer's weights must be
  binary (BipolarQuant, or a signed 1-bit Quant), anything else is refused naming the node
  and its bit width;
* on a computed tensor, a binary quantizer (or a MultiThreshold with one threshold per
  channel) is a binarization: an exact integer threshold, like GreaterOrEqual + Where;
* on the float graph input, an 8-bit Quant becomes the accelerator's uint8 input path
  exactly (host: ``clip(rint(x / s) + z, 0, 255)``); more than 8 bits is refused.

:func:`prepare` runs qonnx's own shape inference and constant folding first (when qonnx
is installed), so shape arithmetic such as ``x.view(x.shape[0], -1)`` becomes constant.
"""

from __future__ import annotations

import decimal
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Callable, cast

import numpy as np
import onnx

from .. import ir
from ..errors import ModelError, UnsupportedError
from .convert import (_CTX, _Val, _affine, _attr, _binarize, _dec, _node_label,
                      _per_channel)

if TYPE_CHECKING:
    from .convert import _Converter

__all__ = ["QONNX_DOMAINS", "HANDLERS", "bipolar_quant", "int_quant", "multithreshold",
           "has_qonnx_nodes", "prepare"]

#: Domains whose BipolarQuant/Quant/MultiThreshold nodes bnnc reads (old Brevitas exports
#: wrote ``onnx.brevitas``; FINN writes ``finn.custom_op.general``).
QONNX_DOMAINS = ("qonnx.custom_op.general", "onnx.brevitas", "finn.custom_op.general")

_ROUNDING: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "ROUND": np.round, "HALF_EVEN": np.round, "CEIL": np.ceil, "FLOOR": np.floor,
    "DOWN": np.trunc,
    "UP": lambda y: np.sign(y) * np.ceil(np.abs(y)),
    "HALF_UP": lambda y: np.sign(y) * np.floor(np.abs(y) + 0.5),
    "HALF_DOWN": lambda y: np.sign(y) * np.ceil(np.abs(y) - 0.5),
}
_WEIGHT_USERS = {"Conv": 1, "Gemm": 1, "MatMul": 1, "ConvTranspose": 1}
_PASS_THROUGH = {"Transpose", "Reshape", "Identity", "Cast", "Flatten", "Squeeze",
                 "Unsqueeze", "Neg"}


# ---------------------------------------------------------------- numpy semantics
def bipolar_quant(x: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """qonnx BipolarQuant: ``(x >= 0 ? 1 : -1) * scale`` in x's float type."""
    x = np.asarray(x)
    ones = np.ones_like(x)
    return np.where(x >= 0, ones, -ones) * np.asarray(scale)


def _int_range(signed: bool, narrow: bool, bits: int) -> tuple[int, int]:
    if signed:
        return (-(1 << (bits - 1)) + (1 if narrow else 0), (1 << (bits - 1)) - 1)
    return (0, (1 << bits) - (2 if narrow else 1))


def int_quant(x: np.ndarray, scale: np.ndarray, zeropt: np.ndarray, bits: int, *,
              signed: bool, narrow: bool, rounding_mode: str = "ROUND") -> np.ndarray:
    """qonnx Quant, computed in the float type of ``x`` as qonnx's executor does."""
    y = np.asarray(x) / np.asarray(scale) + np.asarray(zeropt)
    if bits == 1 and signed:
        ones = np.ones_like(y)
        q = np.where(y >= 0, ones, -ones)
    else:
        lo, hi = _int_range(signed, narrow, bits)
        q = _ROUNDING[rounding_mode](np.clip(y, lo, hi))
    return (q - np.asarray(zeropt)) * np.asarray(scale)


def multithreshold(x: np.ndarray, thresholds: np.ndarray, out_scale: float = 1.0,
                   out_bias: float = 0.0) -> np.ndarray:
    """qonnx MultiThreshold on an (N, C, ...) tensor: count of ``x >= T[c, i]``."""
    x = np.asarray(x)
    t = np.asarray(thresholds)
    xm = np.moveaxis(x, 1, -1)[..., None]  # N ... C 1
    count = (xm >= t).sum(axis=-1)  # T (C, B) or (1, B) broadcasts over C
    return (out_scale * np.moveaxis(count, -1, 1) + out_bias).astype(x.dtype)


# ---------------------------------------------------------------- preparation
def has_qonnx_nodes(model: onnx.ModelProto) -> bool:
    return any(n.domain in QONNX_DOMAINS for n in model.graph.node)


def prepare(model: onnx.ModelProto) -> onnx.ModelProto:
    """qonnx shape inference and constant folding (quantizers kept), when qonnx is installed.

    Folds shape arithmetic on data (``Shape -> Gather -> Concat -> Reshape``) that bnnc
    cannot convert, and gives shapes through the custom ops. Node and tensor names are
    kept. Returns the model unchanged if qonnx is missing or its transforms fail (the
    converter then reports what it cannot handle).
    """
    if not has_qonnx_nodes(model):
        return model
    try:
        from qonnx.core.modelwrapper import ModelWrapper
        from qonnx.transformation.fold_constants import FoldConstants
        from qonnx.transformation.infer_shapes import InferShapes
    except ImportError:
        return model
    m = onnx.ModelProto()
    m.CopyFrom(model)
    try:
        w = ModelWrapper(m)
        w = w.transform(InferShapes())
        w = w.transform(FoldConstants(exclude_op_types=["Quant", "BipolarQuant",
                                                        "MultiThreshold", "Trunc"]))
        return w.model
    except Exception:  # qonnx cannot handle it: convert the model as it is
        return model


# ---------------------------------------------------------------- helpers
def _scalar_int(cv: "_Converter", node: onnx.NodeProto, idx: int, what: str) -> int:
    arr = np.asarray(cv.const_of(node.input[idx], node, what)).reshape(-1)
    if arr.size != 1 or not np.isfinite(arr).all() or float(arr[0]) != int(arr[0]):
        raise UnsupportedError(f"{_node_label(node)}: {what} must be one integer, found "
                               f"{arr.tolist()[:4]}")
    return int(arr[0])


def _weight_user(cv: "_Converter", tensor: str) -> onnx.NodeProto | None:
    """The Conv/Gemm/MatMul whose weight operand ``tensor`` becomes, through reshapes."""
    frontier = [tensor]
    seen: set[str] = set()
    while frontier:
        t = frontier.pop()
        if t in seen:
            continue
        seen.add(t)
        for n in cv.g.node:
            for k, i in enumerate(n.input):
                if i != t:
                    continue
                if _WEIGHT_USERS.get(n.op_type) == k:
                    return n
                if n.op_type in _PASS_THROUGH and k == 0:
                    frontier.extend(o for o in n.output if o)
    return None


def _store_const(cv: "_Converter", node: onnx.NodeProto, arr: np.ndarray) -> None:
    cv.vals[node.output[0]] = _Val(kind="const", array=np.asarray(arr))


def _scale_of(cv: "_Converter", node: onnx.NodeProto) -> np.ndarray:
    s = np.asarray(cv.const_of(node.input[1], node, "the scale"))
    if not np.isfinite(s).all():
        raise ModelError(
            f"{_node_label(node)}: the scale is {np.unique(s)[:4].tolist()}, not finite; Brevitas "
            "exports this for weight_bit_width=1 with its default weight quantizer: use a binary "
            "constant-scale quantizer (weight_quant=SignedBinaryWeightPerTensorConst) and "
            "re-export")
    if (s <= 0).any():
        raise ModelError(f"{_node_label(node)}: the scale must be positive, found "
                         f"{np.unique(s)[:4].tolist()}; re-export the model")
    return s


def _binarize_scaled(cv: "_Converter", node: onnx.NodeProto, v: _Val,
                     scale: np.ndarray) -> _Val:
    """``(v >= 0 ? +1 : -1) * scale``: a binarization, then the scale as a pending affine."""
    zeros = (Decimal(0),) * v.channels
    out = _binarize(cv, node, v, zeros, False, Decimal(1), Decimal(-1))
    if scale.size == 1 and float(scale.reshape(-1)[0]) == 1.0:
        return out
    ks = _per_channel(scale, out, node)
    return _affine(out, node, lambda a, c: a * c, lambda b, c: b * c, ks)


# ---------------------------------------------------------------- handlers
def _h_bipolar_quant(cv: "_Converter", node: onnx.NodeProto) -> None:
    x = cv.vals[node.input[0]]
    scale = _scale_of(cv, node)
    if x.kind == "const":
        assert x.array is not None
        _store_const(cv, node, bipolar_quant(x.array, scale))
        return
    cv.vals[node.output[0]] = _binarize_scaled(cv, node, x, scale)


def _h_quant(cv: "_Converter", node: onnx.NodeProto) -> None:
    if len(node.input) != 4:
        raise ModelError(f"{_node_label(node)}: Quant takes 4 inputs (x, scale, zeropt, "
                         f"bitwidth), found {len(node.input)}; re-export the model")
    x = cv.vals[node.input[0]]
    scale = _scale_of(cv, node)
    zeropt = np.asarray(cv.const_of(node.input[2], node, "the zero point"))
    bits = _scalar_int(cv, node, 3, "the bit width")
    signed = bool(_attr(node, "signed", 1))
    narrow = bool(_attr(node, "narrow", 0))
    mode = _attr(node, "rounding_mode", b"ROUND")
    mode = (mode.decode() if isinstance(mode, bytes) else str(mode)).upper()
    if bits < 1:
        raise ModelError(f"{_node_label(node)}: bit width {bits} is not positive; re-export")
    if mode not in _ROUNDING:
        raise UnsupportedError(f"{_node_label(node)}: rounding mode {mode!r} is unknown; "
                               f"qonnx defines {', '.join(sorted(_ROUNDING))}")
    binary = bits == 1 and signed
    kind = (f"a signed {bits}-bit" if signed else f"an unsigned {bits}-bit")
    if x.kind == "const":
        assert x.array is not None
        user = _weight_user(cv, node.output[0])
        if user is not None and not binary:
            raise UnsupportedError(
                f"{_node_label(node)} quantizes the weights of {_node_label(user)} to {kind} "
                f"integer grid (bit width {bits}); bnnc compiles binary weights only: use a "
                "binary weight quantizer (Brevitas weight_quant=SignedBinaryWeightPerTensorConst,"
                " exported as BipolarQuant, or weight_bit_width=1 with a binary quantizer)")
        if user is not None and zeropt.any():
            raise UnsupportedError(f"{_node_label(node)}: a binary weight quantizer with a "
                                   "non-zero zero point is not binary (+-scale); use zeropt 0")
        _store_const(cv, node, int_quant(x.array, scale, zeropt, bits, signed=signed,
                                         narrow=narrow, rounding_mode=mode))
        return
    if x.kind == "raw" and not binary:
        cv.vals[node.output[0]] = _input_quant(cv, node, x, scale, zeropt, bits, signed,
                                               narrow, mode)
        return
    if not binary:
        raise UnsupportedError(
            f"{_node_label(node)} quantizes an activation to {kind} integer grid (bit width "
            f"{bits}); bnnc needs binary activations between layers: use a binary activation "
            "quantizer (Brevitas act_quant=SignedBinaryActPerTensorConst, exported as "
            "BipolarQuant, or a signed Quant with bit width 1)")
    if zeropt.any():
        raise UnsupportedError(f"{_node_label(node)}: a 1-bit Quant with a non-zero zero point "
                               f"({zeropt.reshape(-1)[:4].tolist()}) is not supported; use 0")
    cv.vals[node.output[0]] = _binarize_scaled(cv, node, x, scale)


def _input_quant(cv: "_Converter", node: onnx.NodeProto, x: _Val, scale: np.ndarray,
                 zeropt: np.ndarray, bits: int, signed: bool, narrow: bool, mode: str) -> _Val:
    """An 8-bit Quant of the float graph input -> the accelerator's uint8 input, exactly.

    ``q = clip(round(v / s + z), lo, hi)`` with ``v = a * x + b`` (a per-tensor affine that
    the graph applies first) is ``clip(rint(x / (s / a)) + k, lo, hi)`` with the integer
    ``k = b / s + z``; the host computes ``u = clip(rint(x / s_h) + z_h, 0, 255)`` with
    ``s_h = s / a`` and ``z_h = k - lo``, and the layer sees ``v_q = s * u + (lo - z) * s``.
    """
    what = f"a signed {bits}-bit" if signed else f"an unsigned {bits}-bit"
    if bits > 8:
        raise UnsupportedError(
            f"{_node_label(node)} quantizes the graph input to {bits} bits; bnnc's input path "
            "takes at most 8 bits (uint8 pixels): quantize the input to 8 bits "
            "(Brevitas QuantIdentity with bit_width=8)")
    if bits != 8:
        raise UnsupportedError(
            f"{_node_label(node)} quantizes the graph input to {what} grid (bit width {bits}); "
            "bnnc's input path is exactly 8 bits (or 1 bit, a binarization): use bit_width=8")
    if narrow:
        raise UnsupportedError(
            f"{_node_label(node)}: a narrow-range 8-bit input quantizer (no "
            f"{'-128' if signed else '255'}) cannot be mapped onto bnnc's uint8 input exactly; "
            "export the input quantizer with narrow_range=False")
    if mode not in ("ROUND", "HALF_EVEN"):
        raise UnsupportedError(
            f"{_node_label(node)}: input rounding mode {mode} is not supported; bnnc's host "
            "rounds half to even (qonnx rounding_mode ROUND)")
    if scale.size != 1 or zeropt.size != 1:
        raise UnsupportedError(f"{_node_label(node)}: a per-channel input quantizer (scale "
                               f"shape {list(scale.shape)}) is not supported; bnnc quantizes the "
                               "input with one scale and zero point")
    a, b = x.scale(), x.bias()
    if len(set(a)) != 1 or len(set(b)) != 1 or a[0] <= 0:
        raise UnsupportedError(f"{_node_label(node)}: the input is transformed per channel "
                               "(or negated) before this quantizer; bnnc folds only one positive "
                               "scale and offset for all channels")
    lo, _ = (-128, 127) if signed else (0, 255)
    s, z = _dec(scale.reshape(-1)[0]), _dec(zeropt.reshape(-1)[0])
    with decimal.localcontext(_CTX):
        k = b[0] / s + z
        s_host = s / a[0]
        if k != k.to_integral_value():
            raise UnsupportedError(
                f"{_node_label(node)}: the input offset {float(b[0]):g} before this quantizer "
                f"is {float(k):g} quantization steps (with zero point {float(z):g}), not a whole "
                "number; bnnc maps the input quantizer onto its uint8 input exactly only for "
                "whole-step offsets")
        zp_host = int(k) - lo
        qa = tuple(s for _ in range(x.channels))
        qb = tuple((lo - z) * s for _ in range(x.channels))
    cv._quant = dict(quant_scale=float(s_host), quant_zero_point=zp_host)
    out = replace(x, kind="pixel", a=qa, b=qb, acc_range=(0, 255))
    if out.flat:  # the float input was flattened first: flatten the uint8 frame after Input
        out = cv.integer_source(out, node)
        assert out.node is not None
        if cv._input_info["shape"][1:] != (1, 1):
            out = replace(out, node=cv.emit(ir.Flatten(name=cv.fresh("flatten"),
                                                       inputs=(out.node,))))
    return out


def _h_multithreshold(cv: "_Converter", node: onnx.NodeProto) -> None:
    x = cv.vals[node.input[0]]
    t = np.asarray(cv.const_of(node.input[1], node, "the thresholds"), dtype=np.float64)
    out_scale = float(cast(float, _attr(node, "out_scale", 1.0)))
    out_bias = float(cast(float, _attr(node, "out_bias", 0.0)))
    layout = _attr(node, "data_layout", b"NCHW")
    layout = layout.decode() if isinstance(layout, bytes) else str(layout)
    if t.ndim != 2:
        raise ModelError(f"{_node_label(node)}: thresholds must be 2-D (channels, steps), "
                         f"found shape {list(t.shape)}")
    if x.kind == "const":
        assert x.array is not None
        _store_const(cv, node, multithreshold(x.array, t, out_scale, out_bias))
        return
    if t.shape[1] != 1:
        bits = int(np.ceil(np.log2(t.shape[1] + 1)))
        raise UnsupportedError(
            f"{_node_label(node)} has {t.shape[1]} thresholds per channel, a {bits}-bit "
            "activation; bnnc needs binary activations (one threshold per channel): use a "
            "binary activation quantizer, or give bnnc the model before FINN's streamlining")
    if layout not in ("NCHW", "NC") and not x.flat and x.shape[1:] != (1, 1):
        raise UnsupportedError(f"{_node_label(node)}: data_layout {layout} is not supported; "
                               "bnnc reads NCHW graphs (convert the model before streamlining)")
    if t.shape[0] not in (1, x.channels):
        raise ModelError(f"{_node_label(node)}: {t.shape[0]} threshold rows for a tensor with "
                         f"{x.channels} channels")
    if out_scale == 0:
        raise UnsupportedError(f"{_node_label(node)}: out_scale 0 makes a constant tensor")
    c = tuple(_dec(v) for v in np.broadcast_to(t[:, 0], (x.channels,)))
    hi, lo = _dec(out_scale + out_bias), _dec(out_bias)
    cv.vals[node.output[0]] = _binarize(cv, node, x, c, False, hi, lo)


HANDLERS: dict[str, Callable[["_Converter", onnx.NodeProto], None]] = {
    "BipolarQuant": _h_bipolar_quant, "Quant": _h_quant, "MultiThreshold": _h_multithreshold,
}
