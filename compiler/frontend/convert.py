"""ONNX -> bnnc IR.

The converter walks the ONNX graph in topological order and tracks, for every
tensor, what it is in integer terms: the IR node that produces an exact integer
tensor ``t`` plus a pending per-channel affine ``v = a[c] * t + b[c]`` that the
float model applies to it. Scalar and per-channel Mul/Add/Sub/Div and
BatchNormalization only update the affine; a binarization (GreaterOrEqual/Where,
Sign) turns ``a*t + b >= c`` into an exact integer threshold on ``t``; the graph
output's affine becomes the host's final float scale and bias. Affine values
are kept as 60-digit decimals (exact for every float32 parameter; BatchNorm's
square root to 60 digits), so thresholds are exact, never float32 accidents.
"""

from __future__ import annotations

import decimal
import math
import warnings
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Callable, Sequence

import numpy as np
import onnx
from onnx import numpy_helper, shape_inference

from .. import ir
from ..errors import ModelError, UnsupportedError, UsageError
from ..cost import subbit_weight_bits
from .load import MAX_ELEMENTS
from . import subbit as _subbit

__all__ = ["onnx_to_ir", "ConvertOptions"]

_CTX = decimal.Context(prec=60)
_TIE = Decimal("1e-30")


@dataclass(frozen=True, kw_only=True)
class ConvertOptions:
    """Frontend options. ``input_shape`` fixes symbolic (C, H, W) dimensions."""

    input_shape: tuple[int, ...] | None = None
    subbit: str = "auto"  # "auto" | "off" | "tau=N" (frontend/subbit.py)


# ---------------------------------------------------------------- values
@dataclass(frozen=True)
class _Val:
    """What the converter knows about one ONNX tensor."""

    kind: str  # "raw" | "pixel" | "bipolar" | "acc" | "const" | "cond" | "shape"
    node: str | None = None  # IR node producing the integer tensor
    shape: tuple[int, int, int] = (0, 0, 0)  # (C, H, W); flat tensors are (F, 1, 1)
    flat: bool = False  # the ONNX tensor is rank 2 (N, F)
    a: tuple[Decimal, ...] | None = None  # None = identity
    b: tuple[Decimal, ...] | None = None
    pad: tuple[int, Decimal] | None = None  # pending constant Pad (amount, value in v domain)
    pool: tuple[int, str] | None = None  # pending max-pool on an accumulator (kernel, onnx node)
    array: np.ndarray | None = None  # for constants
    cond: tuple["_Val", tuple[Decimal, ...], bool] | None = None  # (value, c, strict): v >= c
    acc_range: tuple[int, int] = (0, 0)  # bounds of the integer tensor
    extra: Any = None  # kind "bitplane": the pattern matched so far (frontend.bitplane)

    @property
    def channels(self) -> int:
        return self.shape[0]

    def scale(self) -> tuple[Decimal, ...]:
        return self.a if self.a is not None else (Decimal(1),) * self.channels

    def bias(self) -> tuple[Decimal, ...]:
        return self.b if self.b is not None else (Decimal(0),) * self.channels


def _dec(x: float) -> Decimal:
    return Decimal(float(x))


def _node_label(node: onnx.NodeProto) -> str:
    return f"node {node.name or '(unnamed)'!r} ({node.op_type})"


class _Converter:
    def __init__(self, model: onnx.ModelProto, opts: ConvertOptions) -> None:
        self.model = model
        self.opts = opts
        self.g = model.graph
        self.vals: dict[str, _Val] = {}
        self.nodes: list[ir.Node] = []
        self.consts: dict[str, np.ndarray] = {}
        self.names: set[str] = set()
        self.input_node: ir.Input | None = None
        self.value_shapes: dict[str, list[int | str]] = {}
        self.diagnostics: list[str] = []
        self.counters: dict[str, int] = {}
        self.onnx_names: dict[str, str] = {}
        self._quant: dict[str, object] = {}  # input quantization set by a quantizer op
        self.subbit = _subbit.parse_subbit(opts.subbit)
        self.producer = {o: n for n in self.g.node for o in n.output if o}

    # -------------------------------------------------------------- helpers
    def fresh(self, base: str) -> str:
        base = "".join(ch if (ch.isalnum() or ch == "_") else "_" for ch in base).strip("_")
        base = base or "n"
        if base[0].isdigit():
            base = "n" + base
        name, k = base, 1
        while name in self.names:
            k += 1
            name = f"{base}_{k}"
        self.names.add(name)
        return name

    def emit(self, node: ir.Node) -> str:
        self.nodes.append(node)
        return node.name

    def const_of(self, name: str, node: onnx.NodeProto, what: str) -> np.ndarray:
        v = self.vals.get(name)
        if v is None or v.kind != "const" or v.array is None:
            raise UnsupportedError(f"{_node_label(node)}: {what} must be a constant "
                                   "(an initializer or Constant node)")
        return v.array

    def val(self, name: str, node: onnx.NodeProto) -> _Val:
        return self.vals[name]

    # -------------------------------------------------------------- driver
    def run(self) -> ir.Graph:
        inits = {t.name for t in self.g.initializer}
        gin = next(i for i in self.g.input if i.name not in inits)
        # the input shape first: shape inference must not see an absurd or symbolic shape
        self.vals[gin.name] = self._graph_input(gin)
        order = self._topo()
        self._check_op_types(order, inits)
        try:
            inferred = shape_inference.infer_shapes(self._with_input_shape(gin),
                                                    strict_mode=False)
            for vi in list(inferred.graph.value_info) + list(inferred.graph.output):
                dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
                        for d in vi.type.tensor_type.shape.dim]
                self.value_shapes[vi.name] = dims
        except Exception:
            pass  # shapes are then derived by the converter itself
        for vi in self.g.value_info:  # e.g. written by qonnx's shape inference through custom ops
            if vi.name not in self.value_shapes and vi.type.tensor_type.HasField("shape"):
                self.value_shapes[vi.name] = [
                    d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
                    for d in vi.type.tensor_type.shape.dim]
        for t in self.g.initializer:
            arr = numpy_helper.to_array(t)  # load_onnx checked dims against the data
            self.vals[t.name] = _Val(kind="const", array=arr)
        for node in order:
            standard = node.domain in ("", "ai.onnx")
            if standard and node.op_type != "Constant" and self._fold_constant(node):
                continue
            if any(i and i in self.vals and self.vals[i].kind == "bitplane" for i in node.input):
                _bitplane.handle(self, node)  # the bit-plane first layer's pattern
                continue
            handler = _handler(node)
            assert handler is not None  # _check_op_types refused the others
            handler(self, node)
        out = self.g.output[0].name
        self._finish(self.vals[out], out)
        graph = ir.Graph(self.nodes, self.consts, {"diagnostics": tuple(self.diagnostics),
                                                   "onnx_names": dict(self.onnx_names)})
        return graph.verify()

    def _with_input_shape(self, gin: onnx.ValueInfoProto) -> onnx.ModelProto:
        """The model with ``--input-shape`` written into its graph input (for shape inference)."""
        if self.opts.input_shape is None:
            return self.model
        m = onnx.ModelProto()
        m.CopyFrom(self.model)
        vi = next(i for i in m.graph.input if i.name == gin.name)
        for d, n in zip(vi.type.tensor_type.shape.dim[1:], self.opts.input_shape):
            d.dim_value = n
        return m

    def _check_op_types(self, order: list[onnx.NodeProto], inits: set[str]) -> None:
        """Refuse unsupported ops up front, before a later node fails for a confusing reason.

        Nodes computing only on constants (e.g. weight binarization) are folded, whatever
        their op type.
        """
        const = set(inits)
        for node in order:
            ins = [i for i in node.input if i]
            if node.op_type == "Constant" or (ins and all(i in const for i in ins)):
                if node.domain not in ("", "ai.onnx") and _handler(node) is None:
                    raise UnsupportedError(
                        f"{_node_label(node)}: op type '{node.domain}.{node.op_type}' on "
                        "constants cannot be evaluated by bnnc; fold it before export (e.g. "
                        "qonnx's cleanup) or remove it")
                const.update(o for o in node.output if o)
                continue
            standard = node.domain in ("", "ai.onnx")
            if _handler(node) is not None:
                continue
            op = node.op_type if standard else f"{node.domain}.{node.op_type}"
            outs = {o.name for o in self.g.output}
            raise UnsupportedError(f"{_node_label(node)}: op type {op!r} is not supported by "
                                   f"bnnc; {_unsupported_hint(node, outs)}")

    def _fold_constant(self, node: onnx.NodeProto) -> bool:
        """Evaluate a node whose inputs are all constants (e.g. weight binarization ops)."""
        ins = [i for i in node.input if i]
        if not ins or not all(self.vals[i].kind == "const" for i in ins):
            return False
        for o in node.output:  # e.g. ConstantOfShape/Expand/Tile to an absurd shape
            dims = self.value_shapes.get(o) or []
            known = [d for d in dims if isinstance(d, int)]
            if dims and len(known) == len(dims) and math.prod(known) > MAX_ELEMENTS:
                raise UnsupportedError(f"{_node_label(node)}: this constant expression makes a "
                                       f"tensor of shape {dims} ({math.prod(known):,} elements), "
                                       f"more than bnnc accepts ({MAX_ELEMENTS:,}); check the "
                                       "exported model")
        from onnx.reference import ReferenceEvaluator

        feeds = {i: self.vals[i].array for i in ins}
        inputs = [onnx.helper.make_tensor_value_info(i, onnx.helper.np_dtype_to_tensor_dtype(
            np.asarray(feeds[i]).dtype), None) for i in ins]
        outputs = [onnx.helper.make_tensor_value_info(o, onnx.TensorProto.UNDEFINED, None)
                   for o in node.output if o]
        opset = [o for o in self.model.opset_import if o.domain in ("", "ai.onnx")]
        g = onnx.helper.make_graph([node], "fold", inputs, outputs)
        m = onnx.helper.make_model(g, opset_imports=opset)
        try:
            results = ReferenceEvaluator(m).run(None, feeds)
        except Exception as exc:
            raise UnsupportedError(f"{_node_label(node)}: could not evaluate this constant "
                                   f"expression ({type(exc).__name__}: {exc})") from None
        for o, r in zip([o for o in node.output if o], results):
            self.vals[o] = _Val(kind="const", array=np.asarray(r))
        return True

    def _topo(self) -> list[onnx.NodeProto]:
        produced = set(self.vals) | {t.name for t in self.g.initializer}
        pending = list(self.g.node)
        order: list[onnx.NodeProto] = []
        while pending:
            rest = []
            for n in pending:
                if all((not i) or i in produced for i in n.input):
                    order.append(n)
                    produced.update(o for o in n.output if o)
                else:
                    rest.append(n)
            if len(rest) == len(pending):  # guarded by load's cycle check
                raise ModelError(f"{_node_label(rest[0])} cannot be reached: the graph has a "
                                 "cycle or dangling names (load it with bnnc.load_onnx first)")
            pending = rest
        return order

    def _graph_input(self, gin: onnx.ValueInfoProto) -> _Val:
        tt = gin.type.tensor_type
        elem = tt.elem_type
        dims: list[int | str] = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
                                 for d in tt.shape.dim]
        if len(dims) not in (2, 4):
            raise UnsupportedError(f"graph input {gin.name!r} has rank {len(dims)} ({dims}); "
                                   "bnnc expects (N, C, H, W) images or (N, F) vectors")
        rest = dims[1:]
        if self.opts.input_shape is not None:
            if len(self.opts.input_shape) != len(rest):
                given = ",".join(map(str, self.opts.input_shape))
                raise UsageError(f"--input-shape {given} has {len(self.opts.input_shape)} dims "
                                 f"but graph input {gin.name!r} (shape {dims}) has {len(rest)} "
                                 "besides the batch; give exactly those")
            rest = list(self.opts.input_shape)
        hint = "C,H,W" if len(rest) == 3 else "F"
        for d in rest:
            if not isinstance(d, int):
                fill = ",".join(str(x) if isinstance(x, int) else n
                                for x, n in zip(rest, hint.split(",")))
                raise UnsupportedError(
                    f"graph input {gin.name!r} has shape {dims}: only the batch dimension may "
                    f"be symbolic; fix the others with --input-shape {hint} (here {fill})")
            if d <= 0:
                raise ModelError(f"graph input {gin.name!r} has shape {dims}: dimension {d} is "
                                 f"not positive; re-export the model or fix it with "
                                 f"--input-shape {hint}")
        c3, h3, w3 = (*(int(d) for d in rest), *(1,) * (3 - len(rest)))
        shape = (c3, h3, w3)
        if math.prod(shape) > MAX_ELEMENTS or max(shape) > (1 << 20):
            raise UnsupportedError(f"graph input {gin.name!r} has shape {dims}: "
                                   f"{math.prod(shape):,} elements per frame is beyond any FPGA "
                                   "design bnnc can build; check the exported input shape or "
                                   f"fix it with --input-shape {hint}")
        elem_name = onnx.TensorProto.DataType.Name(elem).lower()
        if elem == onnx.TensorProto.UINT8:
            kind = "pixel"
        elif elem in (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16):
            kind = "raw"
        else:
            raise UnsupportedError(f"graph input {gin.name!r} has element type {elem_name}; "
                                   "expected uint8 pixels or float with an explicit quantization")
        self._input_info: dict[str, Any] = dict(onnx_name=gin.name, onnx_dtype=elem_name, shape=shape,
                                flat=len(dims) == 2)
        return _Val(kind=kind, node=None, shape=shape, flat=len(dims) == 2,
                    acc_range=(0, 255))

    def make_input(self, dtype: ir.DType, **quant: Any) -> str:
        if self.input_node is not None:
            raise UnsupportedError("the graph input is used in two different ways; bnnc needs "
                                   "one quantization of the input")
        info = self._input_info
        node = ir.Input(name=self.fresh("input"), shape=info["shape"], dtype=dtype,
                        onnx_name=info["onnx_name"], onnx_dtype=info["onnx_dtype"], **quant)
        self.input_node = node
        self.emit(node)
        return node.name

    def integer_source(self, v: _Val, node: onnx.NodeProto) -> _Val:
        """Make sure ``v`` is backed by an IR node (creates the Input node on first use)."""
        if v.node is not None:
            return v
        if v.kind == "pixel":
            name = self.make_input(ir.UINT8, quant="uint8" if self._input_info["onnx_dtype"] == "uint8"
                                   else "quantize_linear", **getattr(self, "_quant", {}))
            return replace(v, node=name)
        if v.kind == "raw":
            raise UnsupportedError(
                f"{_node_label(node)} reads the float graph input directly; bnnc needs the input "
                "quantized: a uint8 input (followed by Cast), QuantizeLinear to uint8, or a "
                "binarization (GreaterOrEqual/Where or Sign) as the first operation")
        raise UnsupportedError(f"{_node_label(node)}: unexpected operand")

    # -------------------------------------------------------------- finish
    def _finish(self, v: _Val, out_name: str) -> None:
        if v.kind == "bitplane":
            raise UnsupportedError(
                f"graph output {out_name!r} is the real-valued output of the bit-plane layer "
                f"started at {v.extra.first}; bnnc needs it binarized (bnnc.nn.Binarize after "
                "BitPlaneInput) and class scores from a final binary Conv/Gemm")
        if v.kind != "acc" or v.node is None:
            raise UnsupportedError(
                f"graph output {out_name!r} is a {v.kind} tensor; bnnc expects the output to be "
                "class scores computed by a final binary Conv/Gemm/MatMul (optionally followed by "
                "BatchNorm or a per-class affine)")
        if v.pool is not None:
            raise UnsupportedError(f"graph output {out_name!r}: a MaxPool on the final scores "
                                   "is not supported")
        scale = np.array([float(x) for x in v.scale()], dtype=np.float64)
        bias = np.array([float(x) for x in v.bias()], dtype=np.float64)
        sname = self.fresh("output")
        self.consts[f"{sname}.scale"] = scale
        self.consts[f"{sname}.bias"] = bias
        self.emit(ir.Output(name=sname, inputs=(v.node,), scale=f"{sname}.scale",
                            bias=f"{sname}.bias", onnx_name=out_name))


# ---------------------------------------------------------------- affine helpers
def _per_channel(arr: np.ndarray, v: _Val, node: onnx.NodeProto) -> tuple[Decimal, ...]:
    """Broadcast a constant operand to one Decimal per channel of ``v``, or refuse."""
    a = np.asarray(arr, dtype=np.float64)
    c = v.channels
    if a.size == 1:
        return (_dec(a.reshape(-1)[0]),) * c
    squeezed = a.reshape(-1)
    if v.flat:
        ok = a.ndim <= 2 and a.size == c and (a.ndim < 2 or a.shape[0] == 1)
    else:
        shp = a.shape
        ok = (a.size == c and a.ndim >= 3 and shp[-1] == 1 and shp[-2] == 1
              and (a.ndim == 3 or shp[0] == 1))
    if not ok:
        raise UnsupportedError(f"{_node_label(node)}: constant operand of shape {list(a.shape)} "
                               f"is neither a scalar nor per-channel for a tensor with {c} "
                               "channels; bnnc folds only per-tensor or per-channel affine ops")
    if not np.isfinite(squeezed).all():
        raise UnsupportedError(f"{_node_label(node)}: constant operand holds non-finite values")
    return tuple(_dec(x) for x in squeezed)


def _affine(v: _Val, node: onnx.NodeProto, fa: Callable[[Decimal, Decimal], Decimal] | None,
            fb: Callable[[Decimal, Decimal], Decimal], k: tuple[Decimal, ...]) -> _Val:
    # "raw": an affine on the float graph input, consumed by an input binarization or quantizer
    if v.kind not in ("acc", "pixel", "bipolar", "raw"):
        raise UnsupportedError(f"{_node_label(node)}: cannot apply an affine op to a {v.kind} value")
    if v.pad is not None:
        raise UnsupportedError(f"{_node_label(node)}: an affine op between Pad and Conv is not "
                               "supported")
    with decimal.localcontext(_CTX):
        a = tuple(fa(x, kk) if fa else x for x, kk in zip(v.scale(), k))
        b = tuple(fb(x, kk) for x, kk in zip(v.bias(), k))
    return replace(v, a=a, b=b)


def _binary_operands(cv: _Converter, node: onnx.NodeProto) -> tuple[_Val, np.ndarray, bool]:
    x, y = (cv.vals[i] for i in node.input[:2])
    if x.kind == "const" and y.kind == "const":
        raise UnsupportedError(f"{_node_label(node)}: constant folding of {node.op_type} "
                               "is not supported here")
    if y.kind == "const":
        assert y.array is not None
        return x, y.array, False
    if x.kind == "const":
        assert x.array is not None
        return y, x.array, True
    raise UnsupportedError(f"{_node_label(node)}: {node.op_type} of two computed tensors "
                           "(e.g. a residual add) is not supported yet; one operand must be constant")


def _h_mul(cv: _Converter, node: onnx.NodeProto) -> None:
    v, k, _ = _binary_operands(cv, node)
    kk = _per_channel(k, v, node)
    cv.vals[node.output[0]] = _affine(v, node, lambda a, c: a * c, lambda b, c: b * c, kk)


def _h_div(cv: _Converter, node: onnx.NodeProto) -> None:
    v, k, swapped = _binary_operands(cv, node)
    if swapped:
        raise UnsupportedError(f"{_node_label(node)}: dividing a constant by a tensor is not "
                               "an affine op")
    kk = _per_channel(k, v, node)
    if any(c == 0 for c in kk):
        raise UnsupportedError(f"{_node_label(node)}: division by zero in the constant operand")
    cv.vals[node.output[0]] = _affine(v, node, lambda a, c: a / c, lambda b, c: b / c, kk)


def _h_add(cv: _Converter, node: onnx.NodeProto) -> None:
    v, k, _ = _binary_operands(cv, node)
    kk = _per_channel(k, v, node)
    cv.vals[node.output[0]] = _affine(v, node, None, lambda b, c: b + c, kk)


def _h_sub(cv: _Converter, node: onnx.NodeProto) -> None:
    v, k, swapped = _binary_operands(cv, node)
    kk = _per_channel(k, v, node)
    if swapped:  # c - v
        cv.vals[node.output[0]] = _affine(v, node, lambda a, c: -a, lambda b, c: c - b, kk)
    else:
        cv.vals[node.output[0]] = _affine(v, node, None, lambda b, c: b - c, kk)


def _h_batchnorm(cv: _Converter, node: onnx.NodeProto) -> None:
    v = cv.vals[node.input[0]]
    gamma, beta, mean, var = (np.asarray(cv.const_of(n, node, "BatchNormalization parameters"),
                                         dtype=np.float64).reshape(-1) for n in node.input[1:5])
    eps = next((a.f for a in node.attribute if a.name == "epsilon"), 1e-5)
    for nm, arr in (("scale", gamma), ("B", beta), ("mean", mean), ("var", var)):
        if arr.size != v.channels:
            raise UnsupportedError(f"{_node_label(node)}: {nm} has {arr.size} values for "
                                   f"{v.channels} channels")
        if not np.isfinite(arr).all():
            bad = int(np.flatnonzero(~np.isfinite(arr))[0])
            raise ModelError(f"{_node_label(node)}: {nm}[{bad}] is {arr[bad]}; BatchNorm "
                             "parameters must be finite (retrain or fix the checkpoint)")
    if not math.isfinite(eps):
        raise ModelError(f"{_node_label(node)}: epsilon is {eps}; it must be finite")
    with decimal.localcontext(_CTX):
        e = _dec(eps)
        scales = []
        shifts = []
        for c in range(v.channels):
            q = _dec(var[c]) + e
            if q <= 0:
                raise ModelError(f"{_node_label(node)}: channel {c} has var + epsilon = "
                                 f"{float(q):g} <= 0 (var {var[c]:g}, epsilon {eps:g}); a "
                                 "variance must be positive: fix running_var in the checkpoint "
                                 "(retrain or re-export)")
            s = _dec(gamma[c]) / q.sqrt()
            scales.append(s)
            shifts.append(_dec(beta[c]) - _dec(mean[c]) * s)
    cv.vals[node.output[0]] = _affine(v, node, lambda a, s: a * s, lambda b, s: b * s,
                                      tuple(scales))
    out = cv.vals[node.output[0]]
    with decimal.localcontext(_CTX):
        cv.vals[node.output[0]] = replace(out, b=tuple(b + t for b, t in zip(out.bias(), shifts)))


def _h_pow(cv: _Converter, node: onnx.NodeProto) -> None:
    """Pow of a computed tensor: affine only with exponent 1 (Pow of constants was folded)."""
    e = cv.vals.get(node.input[1])
    if e is not None and e.kind == "const" and e.array is not None and np.all(e.array == 1):
        cv.vals[node.output[0]] = cv.vals[node.input[0]]
        return
    raise UnsupportedError(
        f"{_node_label(node)}: Pow of a computed tensor is not an affine op; bnnc folds Pow "
        "only on constants (such as the (var + eps) ** 0.5 of a TensorNorm)")


def _h_identity(cv: _Converter, node: onnx.NodeProto) -> None:
    cv.vals[node.output[0]] = cv.vals[node.input[0]]


def _h_cast(cv: _Converter, node: onnx.NodeProto) -> None:
    v = cv.vals[node.input[0]]
    to = next(a.i for a in node.attribute if a.name == "to")
    if v.kind == "const":
        assert v.array is not None
        cv.vals[node.output[0]] = replace(v, array=v.array.astype(
            onnx.helper.tensor_dtype_to_np_dtype(to)))
        return
    if v.kind == "pixel" and to in (onnx.TensorProto.INT64, onnx.TensorProto.INT32):
        cv.vals[node.output[0]] = _bitplane.start(cv, node, v)  # index of a plane table
        return
    if to not in (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16):
        raise UnsupportedError(f"{_node_label(node)}: cast to "
                               f"{onnx.TensorProto.DataType.Name(to)} is not supported; only casts "
                               "to float are")
    cv.vals[node.output[0]] = v


def _h_constant(cv: _Converter, node: onnx.NodeProto) -> None:
    attr = node.attribute[0]
    if attr.name == "value":
        arr = numpy_helper.to_array(attr.t)
    elif attr.name == "value_float":
        arr = np.array(attr.f, dtype=np.float32)
    elif attr.name == "value_floats":
        arr = np.array(list(attr.floats), dtype=np.float32)
    elif attr.name == "value_int":
        arr = np.array(attr.i, dtype=np.int64)
    elif attr.name == "value_ints":
        arr = np.array(list(attr.ints), dtype=np.int64)
    else:
        raise UnsupportedError(f"{_node_label(node)}: Constant attribute {attr.name!r} not supported")
    cv.vals[node.output[0]] = _Val(kind="const", array=arr)


def _h_quantize(cv: _Converter, node: onnx.NodeProto) -> None:
    v = cv.vals[node.input[0]]
    if v.kind != "raw" or v.a is not None:
        raise UnsupportedError(f"{_node_label(node)}: QuantizeLinear is supported only directly on "
                               "the float graph input")
    scale = np.asarray(cv.const_of(node.input[1], node, "the scale")).reshape(-1)
    zp = (np.asarray(cv.const_of(node.input[2], node, "the zero point"))
          if len(node.input) > 2 and node.input[2] else np.zeros(1, dtype=np.uint8))
    if scale.size != 1 or zp.size != 1 or zp.dtype != np.uint8:
        raise UnsupportedError(f"{_node_label(node)}: only per-tensor QuantizeLinear to uint8 is "
                               "supported")
    if not (np.isfinite(scale).all() and scale[0] > 0):
        raise ModelError(f"{_node_label(node)}: the quantization scale must be positive and finite")
    cv._quant = dict(quant_scale=float(scale[0]), quant_zero_point=int(zp.reshape(-1)[0]))
    cv.vals[node.output[0]] = replace(v, kind="pixel")


def _h_dequantize(cv: _Converter, node: onnx.NodeProto) -> None:
    v = cv.vals[node.input[0]]
    if v.kind != "pixel":
        raise UnsupportedError(f"{_node_label(node)}: DequantizeLinear is supported only after "
                               "QuantizeLinear of the graph input")
    scale = np.asarray(cv.const_of(node.input[1], node, "the scale")).reshape(-1)
    zp = (np.asarray(cv.const_of(node.input[2], node, "the zero point")).reshape(-1)
          if len(node.input) > 2 and node.input[2] else np.zeros(1))
    if scale.size != 1 or zp.size != 1:
        raise UnsupportedError(f"{_node_label(node)}: only per-tensor DequantizeLinear is supported")
    s, z = _dec(scale[0]), _dec(zp[0])
    cv.vals[node.output[0]] = _affine(v, node, lambda a, c: a * s, lambda b, c: (b - z) * s,
                                      (Decimal(0),) * v.channels)


# ---------------------------------------------------------------- binarization
def _h_compare(cv: _Converter, node: onnx.NodeProto) -> None:
    """GreaterOrEqual / Greater / LessOrEqual / Less with a constant: a condition."""
    x, y = (cv.vals[i] for i in node.input[:2])
    op = node.op_type
    if y.kind == "const" and x.kind != "const":
        v, k, flip = x, y.array, False
    elif x.kind == "const" and y.kind != "const":
        v, k, flip = y, x.array, True
    else:
        raise UnsupportedError(f"{_node_label(node)}: a comparison needs one constant operand")
    assert k is not None
    if flip:  # c OP v  ==  v OP' c
        op = {"GreaterOrEqual": "LessOrEqual", "Greater": "Less", "LessOrEqual": "GreaterOrEqual",
              "Less": "Greater"}[op]
    kk = _per_channel(k, v, node)
    cv.vals[node.output[0]] = _Val(kind="cond", shape=v.shape, flat=v.flat,
                                   cond=(v, kk, op in ("Greater", "Less")),
                                   array=np.array(op in ("LessOrEqual", "Less")))


def _h_not(cv: _Converter, node: onnx.NodeProto) -> None:
    v = cv.vals[node.input[0]]
    if v.kind != "cond":
        raise UnsupportedError(f"{_node_label(node)}: Not is supported only on a comparison")
    assert v.array is not None and v.cond is not None
    base, kk, strict = v.cond
    # not (v >= c) == v < c: flip direction and strictness
    cv.vals[node.output[0]] = replace(v, cond=(base, kk, not strict),
                                      array=np.array(not bool(v.array)))


def _h_where(cv: _Converter, node: onnx.NodeProto) -> None:
    c = cv.vals[node.input[0]]
    if c.kind != "cond":
        raise UnsupportedError(f"{_node_label(node)}: Where is supported only as a binarization "
                               "Where(x >= t, hi, lo) with constant hi and lo")
    for name, what in ((node.input[1], "'true'"), (node.input[2], "'false'")):
        if cv.vals[name].kind != "const":
            raise UnsupportedError(
                f"{_node_label(node)}: the {what} branch {name!r} is a computed tensor; bnnc "
                "supports Where only as a binarization Where(x >= t, +1, -1) with constant "
                "branches (bnnc.nn.Binarize exports that form)")
    hi = np.asarray(cv.const_of(node.input[1], node, "the 'true' value")).reshape(-1)
    lo = np.asarray(cv.const_of(node.input[2], node, "the 'false' value")).reshape(-1)
    if hi.size != 1 or lo.size != 1 or hi[0] == lo[0]:
        raise UnsupportedError(f"{_node_label(node)}: Where needs two different scalar constants "
                               f"(found {hi.tolist()} and {lo.tolist()})")
    assert c.cond is not None and c.array is not None
    base, kk, strict = c.cond
    less = bool(c.array)
    hi_v, lo_v = _dec(hi[0]), _dec(lo[0])
    if less:  # v <= c  == not (v > c): swap the branches of v > c
        strict = not strict
        hi_v, lo_v = lo_v, hi_v
    cv.vals[node.output[0]] = _binarize(cv, node, base, kk, strict, hi_v, lo_v)


def _h_sign(cv: _Converter, node: onnx.NodeProto) -> None:
    v = cv.vals[node.input[0]]
    zeros = (Decimal(0),) * v.channels
    out = _binarize(cv, node, v, zeros, False, Decimal(1), Decimal(-1), sign_op=True)
    cv.vals[node.output[0]] = out


def _binarize(cv: _Converter, node: onnx.NodeProto, v: _Val, c: tuple[Decimal, ...],
              strict: bool, hi: Decimal, lo: Decimal, sign_op: bool = False) -> _Val:
    """``hi if v >= c (v > c when strict) else lo``: an exact integer threshold on v's source."""
    if v.kind == "bitplane":
        return _bitplane.binarize(cv, node, v, c, strict, hi, lo, sign_op)
    with decimal.localcontext(_CTX):
        mid, half = (hi + lo) / 2, (hi - lo) / 2
    out_affine = (None, None) if (mid == 0 and half == 1) else (
        (half,) * v.channels, (mid,) * v.channels)
    if v.kind == "raw":  # binarization of the float graph input
        sa, sb = v.scale(), v.bias()
        if len(set(sa)) != 1 or len(set(sb)) != 1 or len(set(c)) != 1 or sa[0] <= 0 or strict:
            raise UnsupportedError(f"{_node_label(node)}: binarizing the float input needs one "
                                   "per-tensor threshold of the form x >= t")
        with decimal.localcontext(_CTX):
            t_in = (c[0] - sb[0]) / sa[0]
        name = cv.make_input(ir.BIPOLAR, quant="binarize", binarize_threshold=float(t_in))
        if v.flat and cv._input_info["shape"][1:] != (1, 1):
            name = cv.emit(ir.Flatten(name=cv.fresh("flatten"), inputs=(name,)))
        return _Val(kind="bipolar", node=name, shape=v.shape, flat=v.flat,
                    a=out_affine[0], b=out_affine[1], acc_range=(-1, 1))
    if v.kind not in ("acc", "pixel", "bipolar"):
        raise UnsupportedError(f"{_node_label(node)}: cannot binarize a {v.kind} value")
    v = cv.integer_source(v, node)
    if v.pad is not None:
        raise UnsupportedError(f"{_node_label(node)}: a binarization between Pad and Conv is "
                               "not supported")
    lo_acc, hi_acc = v.acc_range
    ts, invs = [], []
    with decimal.localcontext(_CTX):
        for ch, (a, b, cc) in enumerate(zip(v.scale(), v.bias(), c)):
            if a == 0:
                on = (b > cc) if strict else (b >= cc)
                ts.append(lo_acc)
                invs.append(not on)
                if sign_op and b == cc:
                    cv.diagnostics.append(f"{_node_label(node)}: channel {ch} is always exactly 0 "
                                          "before Sign; ONNX Sign gives 0 there, bnnc gives +1")
                continue
            t = (cc - b) / a  # v >= c  <=>  acc >= t (a > 0)  or  acc <= t (a < 0)
            r = t.to_integral_value()
            exact = abs(t - r) < _TIE
            if exact:
                t = r
                if sign_op and lo_acc <= int(r) <= hi_acc:
                    cv.diagnostics.append(
                        f"{_node_label(node)}: channel {ch}: the value before Sign is exactly 0 "
                        f"when the integer sum is {int(r)}; ONNX Sign gives 0 there, bnnc gives +1")
            if a > 0:
                # acc >= t   (strict: acc > t)
                thr = (int(t) + 1 if strict else int(t)) if exact else int(t.to_integral_value(
                    rounding=decimal.ROUND_CEILING))
                ts.append(thr)
                invs.append(False)
            else:
                # acc <= t   (strict: acc < t)  ==  not (acc >= thr)
                thr = (int(t) if strict else int(t) + 1) if exact else int(t.to_integral_value(
                    rounding=decimal.ROUND_FLOOR)) + 1
                ts.append(thr)
                invs.append(True)
    t_arr = np.clip(np.array(ts, dtype=np.int64), lo_acc, hi_acc + 1)
    inv = np.array(invs, dtype=bool)
    if v.pool is not None:  # threshold first, then pool: OR (a > 0) or AND (a < 0)
        src = _emit_threshold(cv, node, v, t_arr, inv)
        k, _ = v.pool
        cv.counters["pool"] = cv.counters.get("pool", 0) + 1
        name = cv.fresh(f"pool{cv.counters['pool']}")
        cv.consts[f"{name}.and_mask"] = inv.astype(np.uint8)
        cv.emit(ir.MaxPool(name=name, inputs=(src,), kernel=k, stride=k,
                           and_mask=f"{name}.and_mask"))
        shape = v.shape  # already the pooled shape (recorded by the MaxPool handler)
    else:
        name = _emit_threshold(cv, node, v, t_arr, inv)
        shape = v.shape
    return _Val(kind="bipolar", node=name, shape=shape, flat=v.flat, a=out_affine[0],
                b=out_affine[1], acc_range=(-1, 1))


def _emit_threshold(cv: _Converter, node: onnx.NodeProto, v: _Val, t: np.ndarray,
                    inv: np.ndarray) -> str:
    assert v.node is not None
    name = cv.fresh(f"{v.node}_act")
    cv.consts[f"{name}.thresholds"] = t
    cv.consts[f"{name}.invert"] = inv.astype(np.uint8)
    return cv.emit(ir.Threshold(name=name, inputs=(v.node,), thresholds=f"{name}.thresholds",
                                invert=f"{name}.invert"))


# ---------------------------------------------------------------- layers
def _binary_weights(w: np.ndarray, node: onnx.NodeProto) -> tuple[np.ndarray, np.ndarray]:
    """Split weights (F, ...) into per-output-channel magnitude alpha (F,) and +-1 signs."""
    w = np.asarray(w, dtype=np.float64)
    flat = w.reshape(w.shape[0], -1)
    if not np.isfinite(flat).all():
        raise ModelError(f"{_node_label(node)}: the weights hold non-finite values")
    mag = np.abs(flat)
    alpha = mag[:, 0].copy()
    # An all-zero row is a channel scaled by 0 (BatchNorm gamma == 0 folded in by the
    # exporter): its output is the bias alone, so any signs with alpha = 0 are exact.
    zero_row = (mag == 0).all(axis=1)
    bad = ((mag != alpha[:, None]) | (mag == 0)) & ~zero_row[:, None]
    if bad.any():
        f, i = np.argwhere(bad)[0]
        vals = np.unique(flat[f])[:6]
        raise UnsupportedError(
            f"{_node_label(node)}: weights are not binary: output channel {f} holds "
            f"{', '.join(f'{x:g}' for x in vals)}{' ...' if np.unique(flat[f]).size > 6 else ''}; "
            "expected +-1 (or one magnitude per output channel, e.g. BatchNorm folded in by the "
            "exporter). Binarize the weights before export (bnnc.nn.BinaryConv2d/BinaryLinear)")
    signs = np.where(flat > 0, 1, -1).astype(np.int8).reshape(w.shape)
    return alpha, signs


def _input_affine(cv: _Converter, v: _Val, node: onnx.NodeProto) -> tuple[Decimal, tuple[Decimal, ...]]:
    a = v.scale()
    if len(set(a)) != 1:
        raise UnsupportedError(
            f"{_node_label(node)}: the input of this layer has a per-channel scale; bnnc needs one "
            "scale for all channels (per-tensor normalization (x - m) / s); fold per-channel "
            "scales into the previous layer")
    if a[0] == 0:
        raise UnsupportedError(f"{_node_label(node)}: the input is scaled by 0")
    return a[0], v.bias()


def _pad_in_source(cv: _Converter, v: _Val, node: onnx.NodeProto, pad_v: Decimal,
                   a: Decimal, b: tuple[Decimal, ...]) -> tuple[int, bool]:
    """The integer value padded taps take in the source domain, and whether it is masked."""
    with decimal.localcontext(_CTX):
        src = {(pad_v - bb) / a for bb in b}
    if len(src) != 1:
        raise UnsupportedError(f"{_node_label(node)}: padding value {float(pad_v)} maps to "
                               "different source values per channel; not supported")
    s = src.pop()
    if v.kind == "bipolar":
        if s == 0:
            return 0, True
        if s in (1, -1):
            return int(s), False
        raise UnsupportedError(f"{_node_label(node)}: padding value {float(pad_v)} is "
                               f"{float(s)} in the binary domain; expected 0, +1 or -1")
    if s != s.to_integral_value() or not (0 <= s <= 255):
        raise UnsupportedError(
            f"{_node_label(node)}: padding value {float(pad_v)} corresponds to pixel value "
            f"{float(s)}, which is not an integer in 0..255; bnnc pads 8-bit layers with a pixel "
            "value (use a normalization whose mean is an integer pixel value, or no padding)")
    return int(s), False


def _layer(cv: _Converter, node: onnx.NodeProto, v: _Val, w_signed: np.ndarray,
           alpha: np.ndarray, bias: np.ndarray | None, make: Callable[[str, str, int, bool], ir.Node],
           out_shape: tuple[int, int, int], pad: int, pad_v: Decimal) -> _Val:
    v = cv.integer_source(v, node)
    if v.kind not in ("bipolar", "pixel"):
        raise UnsupportedError(
            f"{_node_label(node)}: the input of this layer is a {v.kind} tensor; bnnc needs binary "
            "(+-1) activations or 8-bit pixels here (is a binarization missing before it?)")
    if v.pool is not None:
        raise UnsupportedError(f"{_node_label(node)}: MaxPool on integers must be followed by a "
                               "binarization before the next layer")
    a, b = _input_affine(cv, v, node)
    pad_src, masked = (0, v.kind == "bipolar")
    if pad:
        pad_src, masked = _pad_in_source(cv, v, node, pad_v, a, b)
    kind = "conv" if w_signed.ndim == 4 else "fc"
    cv.counters[kind] = cv.counters.get(kind, 0) + 1
    name = cv.fresh(f"{kind}{cv.counters[kind]}")
    cv.onnx_names[name] = node.name or node.op_type
    cv.consts[f"{name}.weights"] = w_signed
    irnode = make(name, f"{name}.weights", pad_src, masked)
    assert v.node is not None
    irnode = replace(irnode, inputs=(v.node,))
    cv.emit(irnode)
    F = w_signed.shape[0]
    # v_in = a*s + b[c]  =>  out_f = alpha_f * (a * acc_f + sum_taps w * b[c_tap]) + bias_f
    wsum = w_signed.reshape(F, w_signed.shape[1], -1).sum(axis=2)  # (F, C)
    n_taps = int(np.prod(w_signed.shape[1:]))
    with decimal.localcontext(_CTX):
        sa, sb = [], []
        for f in range(F):
            al = _dec(alpha[f])
            const = sum((Decimal(int(wsum[f, c])) * b[c] for c in range(len(b))), Decimal(0))
            sa.append(al * a)
            sb.append(al * const + (_dec(bias[f]) if bias is not None else Decimal(0)))
    if pad and not masked and v.kind == "bipolar":
        pass  # +-1 padding: every tap holds a real value; the const term above is exact
    if pad and masked:
        # zero-padded taps contribute nothing in the float model, and nothing to acc; but the
        # b-term above assumed every tap present: only valid when b == 0 (checked: masked => b == 0)
        pass
    emax = 255 if v.kind == "pixel" else 1
    return _Val(kind="acc", node=name, shape=out_shape, flat=v.flat if len(out_shape) else False,
                a=tuple(sa), b=tuple(sb), acc_range=(-emax * n_taps, emax * n_taps))


def _attr(node: onnx.NodeProto, name: str, default: Any) -> Any:
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def _h_pad(cv: _Converter, node: onnx.NodeProto) -> None:
    v = cv.vals[node.input[0]]
    mode = _attr(node, "mode", b"constant")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    if mode != "constant":
        raise UnsupportedError(f"{_node_label(node)}: Pad mode {mode!r} is not supported; only "
                               "constant padding")
    pads = np.asarray(cv.const_of(node.input[1], node, "the pads")).reshape(-1).tolist()
    value = 0.0
    if len(node.input) > 2 and node.input[2]:
        value = float(np.asarray(cv.const_of(node.input[2], node, "the pad value")).reshape(-1)[0])
    if len(node.input) > 3 and node.input[3]:
        raise UnsupportedError(f"{_node_label(node)}: Pad with axes is not supported")
    if len(pads) != 8 or any(pads[i] for i in (0, 1, 4, 5)) or len(set(pads[i] for i in (2, 3, 6, 7))) != 1:
        raise UnsupportedError(f"{_node_label(node)}: only equal padding of H and W is supported "
                               f"(pads={pads})")
    if v.flat or v.kind not in ("bipolar", "pixel"):
        raise UnsupportedError(f"{_node_label(node)}: Pad is supported only on binary or pixel "
                               "feature maps that feed a Conv")
    cv.vals[node.output[0]] = replace(v, pad=(int(pads[2]), _dec(value)))


def _h_conv(cv: _Converter, node: onnx.NodeProto) -> None:
    v = cv.vals[node.input[0]]
    w = cv.const_of(node.input[1], node, "the weight")
    bias = (np.asarray(cv.const_of(node.input[2], node, "the bias"), dtype=np.float64).reshape(-1)
            if len(node.input) > 2 and node.input[2] else None)
    if v.flat:
        raise UnsupportedError(f"{_node_label(node)}: Conv on a flattened tensor")
    if w.ndim != 4:
        raise UnsupportedError(f"{_node_label(node)}: only 2-D convolutions are supported "
                               f"(weight shape {list(w.shape)})")
    F, C, kh, kw = w.shape
    group = int(_attr(node, "group", 1))
    dil = list(_attr(node, "dilations", [1, 1]))
    strides = list(_attr(node, "strides", [1, 1]))
    pads = list(_attr(node, "pads", [0, 0, 0, 0]))
    auto_pad = _attr(node, "auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
    if group != 1:
        raise UnsupportedError(f"{_node_label(node)}: grouped/depth-wise convolution "
                               f"(group={group}) is not supported yet; use group=1 (an ordinary "
                               "nn.Conv2d / bnnc.nn.BinaryConv2d with groups=1)")
    if auto_pad not in ("NOTSET", "VALID"):
        raise UnsupportedError(f"{_node_label(node)}: auto_pad={auto_pad} is not supported; "
                               "export with explicit pads")
    if any(d != 1 for d in dil):
        raise UnsupportedError(f"{_node_label(node)}: dilation {dil} is not supported")
    if kh != kw or len(set(strides)) != 1 or len(set(pads)) != 1:
        raise UnsupportedError(f"{_node_label(node)}: only square kernels with equal strides and "
                               f"pads are supported (kernel {kh}x{kw}, strides {strides}, pads {pads})")
    if C != v.channels:
        raise ModelError(f"{_node_label(node)}: weight expects {C} input channels, the input has "
                         f"{v.channels}")
    k, s, p = kh, strides[0], pads[0]
    pad_v = Decimal(0)
    if v.pad is not None:
        if p:
            raise UnsupportedError(f"{_node_label(node)}: both a Pad op and Conv pads")
        p, pad_v = v.pad
        v = replace(v, pad=None)
    _, H, W = v.shape
    oh, ow = (H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1
    if oh <= 0 or ow <= 0:
        raise ModelError(f"{_node_label(node)}: kernel {k} does not fit the {H}x{W} input")
    alpha, signs = _binary_weights(w, node)
    book = _subbit_plan(cv, node, v, signs, alpha, k)
    if book is not None:  # a negated channel: its sign moves into the affine (exact)
        signs = np.where(book.flip[:, None, None, None], -signs, signs).astype(np.int8)
        alpha = np.where(book.flip, -alpha, alpha)

    def make(name: str, wkey: str, pad_src: int, masked: bool) -> ir.Node:
        if book is not None:
            cv.consts.pop(wkey, None)
            cv.consts[f"{name}.codebook"] = book.codebook
            cv.consts[f"{name}.indices"] = book.indices
            return ir.SubBitConv(name=name, codebook=f"{name}.codebook",
                                 indices=f"{name}.indices", tau=book.tau, kernel=k, stride=s,
                                 pad=p, pad_value=pad_src)
        return ir.Conv(name=name, weights=wkey, kernel=k, stride=s, pad=p, pad_value=pad_src)

    cv.vals[node.output[0]] = _layer(cv, node, v, signs, alpha, bias, make, (F, oh, ow), p, pad_v)


def _subbit_plan(cv: _Converter, node: onnx.NodeProto, v: _Val, signs: np.ndarray,
                 alpha: np.ndarray, k: int) -> _subbit.Codebook | None:
    """The codebook this conv is compiled with under ``--subbit``, or None (a plain conv)."""
    mode = cv.subbit
    if mode.kind == "off":
        return None

    def const(name: str) -> np.ndarray | None:
        val = cv.vals.get(name)
        return val.array if val is not None and val.kind == "const" else None

    explicit = _subbit.explicit_codebook(node.input[1], cv.producer, const)
    if v.kind != "bipolar" or k != 3:
        if explicit is not None:
            cv.diagnostics.append(f"{_node_label(node)}: its sub-bit codebook is compiled as a "
                                  f"plain conv (codebook kernels need binary 3x3 input; this "
                                  f"layer has {'8-bit' if v.kind == 'pixel' else v.kind} input)")
        return None
    active = alpha != 0
    book: _subbit.Codebook | None = None
    if explicit is not None:
        cb, idx, scale = explicit
        flip = (scale < 0) & active
        ok = (idx.shape == signs.shape[:2] and cb.shape[1] == k * k and idx.size > 0
              and int(idx.min()) >= 0 and int(idx.max()) < cb.shape[0])
        if ok:
            norm = np.where(flip[:, None, None, None], -signs, signs)
            ok = np.array_equal(norm[active].reshape(-1, k * k),
                                np.where(cb[idx[active]] > 0, 1, -1).reshape(-1, k * k))
        if ok and mode.kind == "auto":
            idx = np.where(active[:, None], idx, 0)
            used = len({tuple(r) for r in cb[idx[active]].reshape(-1, k * k).tolist()})
            book = _subbit.Codebook(codebook=np.where(cb > 0, 1, -1).astype(np.int8),
                                    indices=idx.astype(np.int64),
                                    tau=int(cb.shape[0]).bit_length() - 1, flip=flip,
                                    patterns_used=used)
        elif ok:
            book = _subbit.find_codebook(signs, alpha, tau=mode.tau, flip=flip)
    if book is None:
        book = _subbit.find_codebook(signs, alpha, tau=mode.tau)
    if mode.kind == "tau":
        assert mode.tau is not None
        if book.patterns_used > (1 << mode.tau):
            raise UnsupportedError(
                f"{_node_label(node)}: --subbit tau={mode.tau} needs at most {1 << mode.tau} "
                f"distinct 3x3 kernel patterns per layer, found {book.patterns_used} (after "
                "normalizing each output channel's sign); use --subbit auto (such layers stay "
                f"plain convs) or a larger tau (up to {_subbit.MAX_TAU})")
        return book
    if explicit is None:  # discovery: only when the layer qualifies and saves weight bits
        plain, sub = subbit_weight_bits(book.tau, k * k, *signs.shape[:2])
        if book.tau > _subbit.MAX_TAU or sub >= plain:
            return None
    return book


def _dense(cv: _Converter, node: onnx.NodeProto, v: _Val, wmat: np.ndarray,
           bias: np.ndarray | None) -> None:
    """wmat: (F, in_features) in ONNX (NCHW-flatten) order."""
    if not v.flat:
        if v.shape[1:] == (1, 1) and False:
            pass
        raise UnsupportedError(f"{_node_label(node)}: the input must be a flattened (N, F) tensor "
                               "(add Flatten/Reshape before it)")
    if wmat.shape[1] != v.channels:
        raise ModelError(f"{_node_label(node)}: weight expects {wmat.shape[1]} inputs, the input "
                         f"has {v.channels}")
    alpha, signs = _binary_weights(wmat, node)

    def make(name: str, wkey: str, pad_src: int, masked: bool) -> ir.Node:
        return ir.Dense(name=name, weights=wkey)

    out = _layer(cv, node, v, signs, alpha, bias, make, (wmat.shape[0], 1, 1), 0, Decimal(0))
    cv.vals[node.output[0]] = replace(out, flat=True)


def _h_gemm(cv: _Converter, node: onnx.NodeProto) -> None:
    v = cv.vals[node.input[0]]
    w = np.asarray(cv.const_of(node.input[1], node, "B (the weight)"), dtype=np.float64)
    if _attr(node, "transA", 0):
        raise UnsupportedError(f"{_node_label(node)}: Gemm with transA=1 is not supported")
    alpha = float(_attr(node, "alpha", 1.0))
    beta = float(_attr(node, "beta", 1.0))
    wmat = w if _attr(node, "transB", 0) else w.T
    wmat = wmat * alpha
    bias = None
    if len(node.input) > 2 and node.input[2]:
        bias = np.asarray(cv.const_of(node.input[2], node, "C (the bias)"), dtype=np.float64)
        bias = np.broadcast_to(bias.reshape(-1), (wmat.shape[0],)) * beta
    _dense(cv, node, v, wmat, bias)


def _h_matmul(cv: _Converter, node: onnx.NodeProto) -> None:
    v = cv.vals[node.input[0]]
    w = np.asarray(cv.const_of(node.input[1], node, "the weight (second operand)"),
                   dtype=np.float64)
    if w.ndim != 2:
        raise UnsupportedError(f"{_node_label(node)}: MatMul weight must be 2-D")
    _dense(cv, node, v, w.T, None)


def _flatten_val(cv: _Converter, v: _Val, node: onnx.NodeProto) -> _Val:
    if v.flat:
        return v
    if v.kind not in ("bipolar", "pixel", "acc", "raw"):
        raise UnsupportedError(f"{_node_label(node)}: cannot flatten a {v.kind} value")
    if v.pool is not None or v.pad is not None:
        raise UnsupportedError(f"{_node_label(node)}: Flatten right after an integer MaxPool or Pad")
    C, H, W = v.shape
    reps = H * W
    a = None if v.a is None else tuple(x for x in v.a for _ in range(reps))
    b = None if v.b is None else tuple(x for x in v.b for _ in range(reps))
    node_name = v.node
    if node_name is not None and reps > 1:
        node_name = cv.emit(ir.Flatten(name=cv.fresh("flatten"), inputs=(node_name,)))
    elif v.kind in ("pixel", "raw") and v.node is None:
        # the graph input itself is flattened: the Input node keeps (C, H, W), flatten after it
        pass
    return replace(v, node=node_name, shape=(C * H * W, 1, 1), flat=True, a=a, b=b)


def _h_flatten(cv: _Converter, node: onnx.NodeProto) -> None:
    v = cv.vals[node.input[0]]
    axis = int(_attr(node, "axis", 1))
    if axis != 1:
        raise UnsupportedError(f"{_node_label(node)}: Flatten axis={axis}; only axis=1 "
                               "(keep the batch) is supported")
    if v.kind in ("pixel", "raw") and v.node is None and not v.flat:
        v = cv.integer_source(v, node) if v.kind == "pixel" else v
    cv.vals[node.output[0]] = _flatten_val(cv, v, node)


def _h_reshape(cv: _Converter, node: onnx.NodeProto) -> None:
    v = cv.vals[node.input[0]]
    if v.kind == "const":
        shape = np.asarray(cv.const_of(node.input[1], node, "the shape")).reshape(-1)
        assert v.array is not None
        cv.vals[node.output[0]] = replace(v, array=v.array.reshape(shape.tolist()))
        return
    target: list[int | str] | None = None
    sv = cv.vals.get(node.input[1])
    if sv is not None and sv.kind == "const" and sv.array is not None:
        target = [int(x) for x in sv.array.reshape(-1)]
    elif node.output[0] in cv.value_shapes:
        target = cv.value_shapes[node.output[0]]
    total = v.shape[0] * v.shape[1] * v.shape[2]
    ok = target is not None and len(target) == 2 and (
        target[1] in (-1, total) or (target[0] not in (-1,) and target[1] == total))
    if not ok:
        raise UnsupportedError(f"{_node_label(node)}: only a Reshape that flattens to (N, {total}) "
                               f"is supported (target shape {target})")
    if v.kind == "pixel" and v.node is None:
        v = cv.integer_source(v, node)
    cv.vals[node.output[0]] = _flatten_val(cv, v, node)


def _h_maxpool(cv: _Converter, node: onnx.NodeProto) -> None:
    v = cv.vals[node.input[0]]
    ks = list(_attr(node, "kernel_shape", []))
    strides = list(_attr(node, "strides", ks))
    pads = list(_attr(node, "pads", [0, 0, 0, 0]))
    if _attr(node, "ceil_mode", 0) or any(pads) or list(_attr(node, "dilations", [1, 1])) != [1, 1]:
        raise UnsupportedError(f"{_node_label(node)}: only MaxPool without padding, dilation or "
                               "ceil_mode is supported")
    if len(ks) != 2 or ks[0] != ks[1] or strides != ks:
        raise UnsupportedError(f"{_node_label(node)}: only square MaxPool with stride == kernel "
                               f"is supported, found kernel {ks} with strides {strides}; use "
                               "non-overlapping pooling, e.g. MaxPool2d(2) (kernel 2, stride 2)")
    if len(node.output) > 1 and node.output[1]:
        raise UnsupportedError(f"{_node_label(node)}: MaxPool indices output is not supported")
    k = ks[0]
    C, H, W = v.shape
    if v.flat or H < k or W < k:
        raise UnsupportedError(f"{_node_label(node)}: MaxPool {k}x{k} on a {H}x{W} map")
    if v.kind == "bipolar":
        v = cv.integer_source(v, node)
        if v.a is not None and any(x < 0 for x in v.a):
            raise UnsupportedError(f"{_node_label(node)}: MaxPool of a negatively scaled binary "
                                   "tensor is not supported")
        assert v.node is not None  # an integer source is a computed tensor
        cv.counters["pool"] = cv.counters.get("pool", 0) + 1
        name = cv.fresh(f"pool{cv.counters['pool']}")
        cv.emit(ir.MaxPool(name=name, inputs=(v.node,), kernel=k, stride=k))
        cv.vals[node.output[0]] = replace(v, node=name, shape=(C, H // k, W // k))
    elif v.kind == "acc":
        if v.pool is not None:
            raise UnsupportedError(f"{_node_label(node)}: two MaxPools in a row on integers")
        cv.vals[node.output[0]] = replace(v, pool=(k, (node.name or "pool").split("/")[-1] or "pool"),
                                          shape=(C, H // k, W // k))
    else:
        raise UnsupportedError(f"{_node_label(node)}: MaxPool on a {v.kind} tensor is not supported")


_HINTS = {
    "activation": "hidden activations must be binary: binarize with Sign or "
                  "GreaterOrEqual + Where(+1, -1) (bnnc.nn.Binarize exports that)",
    "recurrent": "recurrent layers cannot be compiled; bnnc builds feed-forward networks of "
                 "binary Conv/Gemm/MatMul layers",
    "avgpool": "use MaxPool with stride == kernel (max-pooling binary values is exact)",
}
_OP_HINT = {
    **{op: "activation" for op in ("Relu", "LeakyRelu", "PRelu", "Sigmoid", "HardSigmoid",
                                   "Tanh", "Elu", "Selu", "Gelu", "Clip", "Softplus", "HardSwish")},
    **{op: "recurrent" for op in ("LSTM", "GRU", "RNN", "Loop", "Scan")},
    **{op: "avgpool" for op in ("AveragePool", "GlobalAveragePool")},
}


def _unsupported_hint(node: onnx.NodeProto, graph_outputs: set[str]) -> str:
    if node.op_type in ("Softmax", "LogSoftmax") and set(node.output) & graph_outputs:
        return ("a final (Log)Softmax does not change the predicted class: export the logits "
                "(without the softmax) and apply it on the host if you need probabilities")
    if node.op_type in _OP_HINT:
        return _HINTS[_OP_HINT[node.op_type]]
    return ("remove or replace it; supported: " + ", ".join(sorted(_HANDLERS)) +
            "; QONNX: " + ", ".join(sorted(_qonnx.HANDLERS)))


def _h_bitplane_only(cv: _Converter, node: onnx.NodeProto) -> None:
    """Gather/Transpose/PRelu/ReduceSum outside the bit-plane pattern (which handles them)."""
    if node.op_type in _OP_HINT:
        hint = _HINTS[_OP_HINT[node.op_type]]
    else:
        hint = ("bnnc supports it only inside the bit-plane first layer that "
                "bnnc.nn.BitPlaneInput exports (Cast -> Gather(plane table) -> ...)")
    raise UnsupportedError(f"{_node_label(node)}: op type {node.op_type!r} on this tensor is not "
                           f"supported; {hint}")


_HANDLERS: dict[str, Callable[[_Converter, onnx.NodeProto], None]] = {
    "Add": _h_add, "Sub": _h_sub, "Mul": _h_mul, "Div": _h_div,
    "BatchNormalization": _h_batchnorm, "Identity": _h_identity, "Dropout": _h_identity,
    "Cast": _h_cast, "Constant": _h_constant,
    "QuantizeLinear": _h_quantize, "DequantizeLinear": _h_dequantize,
    "GreaterOrEqual": _h_compare, "Greater": _h_compare, "LessOrEqual": _h_compare,
    "Less": _h_compare, "Not": _h_not, "Where": _h_where, "Sign": _h_sign,
    "Conv": _h_conv, "Gemm": _h_gemm, "MatMul": _h_matmul, "Pad": _h_pad,
    "Flatten": _h_flatten, "Reshape": _h_reshape, "MaxPool": _h_maxpool, "Pow": _h_pow,
    **{op: _h_bitplane_only for op in ("Gather", "Transpose", "PRelu", "ReduceSum")},
}
_Handler = Callable[[_Converter, onnx.NodeProto], None]


def _handler(node: onnx.NodeProto) -> _Handler | None:
    """The handler of a node: ``_HANDLERS`` for standard ops, :mod:`.qonnx_ops` for QONNX."""
    if node.domain in ("", "ai.onnx"):
        return _HANDLERS.get(node.op_type)
    if node.domain in _qonnx.QONNX_DOMAINS:
        return _qonnx.HANDLERS.get(node.op_type)
    return None


def onnx_to_ir(model: onnx.ModelProto, opts: ConvertOptions | None = None) -> ir.Graph:
    """Convert a loaded ONNX model into the high-level bnnc IR.

    Raises :class:`~bnnc.errors.UnsupportedError` / :class:`~bnnc.errors.ModelError` naming the
    node, what was expected and what was found.
    """
    return _Converter(_qonnx.prepare(model), opts or ConvertOptions()).run()


from . import qonnx_ops as _qonnx  # noqa: E402  (QONNX handlers; imports this module)
from . import bitplane as _bitplane  # noqa: E402  (the bit-plane first layer's pattern)
