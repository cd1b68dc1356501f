"""The bnnc intermediate representation.

A :class:`Graph` is a DAG of immutable nodes (usually a chain). Every node is a
frozen, keyword-only dataclass naming its input tensor(s) by producer node name.
Arrays (weights, thresholds, masks, affine parameters) live in the graph-level
constant table ``Graph.consts`` as read-only numpy arrays; nodes refer to them by
key.

Tensor semantics (the golden model, :mod:`bnnc.golden`, is the executable spec):

* tensors are 4-D ``(N, C, H, W)`` integer arrays; a vector is ``(N, C, 1, 1)``;
* :class:`Bipolar` values are -1/+1 (bit 0/1 in hardware, channel 0 at the LSB);
  inside a sliding window a *masked* padded tap is 0 ("no contribution");
* :class:`UInt` values are raw unsigned integers (uint8 pixels);
* :class:`Int` values are exact signed integers (accumulators, scores).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Iterable, Iterator, Mapping

import numpy as np

from .errors import BnncError

__all__ = [
    "DType", "Bipolar", "UInt", "Int", "BIPOLAR", "UINT8",
    "Node", "Input", "Conv", "Dense", "Threshold", "MaxPool", "Flatten",
    "SlidingWindow", "MatVec", "Pool", "FlattenNHWC", "WidthConvert", "Output",
    "SubBitConv", "CodebookMatVec", "WINDOW_ORDERS", "CODEBOOK_MODES", "WEIGHT_MEMS",
    "BitPlaneConv", "CodeMap", "BitPlaneMatVec", "Graph", "IRError",
]


class IRError(BnncError):
    """The IR violates an invariant (a compiler bug or a malformed hand-built graph)."""


# ---------------------------------------------------------------- data types
@dataclass(frozen=True, kw_only=True)
class DType:
    """Base class of element data types."""

    @property
    def bits(self) -> int:
        raise NotImplementedError


@dataclass(frozen=True, kw_only=True)
class Bipolar(DType):
    """-1/+1 values, one bit each (1 <-> +1)."""

    @property
    def bits(self) -> int:
        return 1

    def __str__(self) -> str:
        return "bipolar"


@dataclass(frozen=True, kw_only=True)
class UInt(DType):
    """Unsigned integers of ``width`` bits."""

    width: int

    @property
    def bits(self) -> int:
        return self.width

    def __str__(self) -> str:
        return f"uint{self.width}"


@dataclass(frozen=True, kw_only=True)
class Int(DType):
    """Signed integers of ``width`` bits."""

    width: int

    @property
    def bits(self) -> int:
        return self.width

    def __str__(self) -> str:
        return f"int{self.width}"


BIPOLAR = Bipolar()
UINT8 = UInt(width=8)


# ---------------------------------------------------------------- nodes
@dataclass(frozen=True, kw_only=True)
class Node:
    """Base of all IR nodes. ``name`` is unique in a graph; ``inputs`` names producers."""

    name: str
    inputs: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        return type(self).__name__

    def consts(self) -> tuple[str, ...]:
        """Keys of ``Graph.consts`` that this node reads."""
        keys = []
        for f in dataclasses.fields(self):
            if f.metadata.get("const"):
                v = getattr(self, f.name)
                if v is not None:
                    keys.append(v)
        return tuple(keys)


def _const() -> Any:
    """A field naming a constant in ``Graph.consts`` (found by :meth:`Node.consts`)."""
    return field(metadata={"const": True})


def _opt_const() -> Any:
    return field(default=None, metadata={"const": True})


@dataclass(frozen=True, kw_only=True)
class Input(Node):
    """The accelerator input: a frame of ``shape`` (C, H, W) of ``dtype``.

    ``quant`` tells the host how to turn the ONNX graph input into these values:
    ``"uint8"`` (the graph input is uint8, passed through), ``"quantize_linear"``
    (float input, ``clip(round_half_even(x / scale) + zero_point, 0, 255)``) or
    ``"binarize"`` (float input, ``x >= threshold -> +1``).
    """

    shape: tuple[int, int, int]
    dtype: DType
    quant: str = "uint8"
    quant_scale: float = 1.0
    quant_zero_point: int = 0
    binarize_threshold: float = 0.0
    onnx_name: str = "input"
    onnx_dtype: str = "uint8"


@dataclass(frozen=True, kw_only=True)
class Conv(Node):
    """2-D correlation with bipolar weights ``consts[weights]`` of shape (F, C, K, K).

    ``pad_value`` is the value of a padded tap in the input's domain: for a bipolar
    input 0 (the tap contributes nothing), +1 or -1; for a uint8 input, the pixel
    value. Output: exact integer accumulators (Int).
    """

    weights: str = _const()
    kernel: int
    stride: int = 1
    pad: int = 0
    pad_value: int = 0


@dataclass(frozen=True, kw_only=True)
class SubBitConv(Node):
    """A binary conv whose kernels come from a codebook (sub-bit layer, DESIGN.md section 5).

    ``codebook``: (2**tau, K*K) int8 +-1, row k = codeword k, element t = tap (t // K, t % K);
    ``indices``: (F, C) codeword index of kernel (f, c). The layer is the :class:`Conv` with
    weights ``codebook[indices].reshape(F, C, K, K)``; padding as :class:`Conv` (bipolar input).
    Output: exact integer accumulators (Int).
    """

    codebook: str = _const()
    indices: str = _const()
    tau: int
    kernel: int
    stride: int = 1
    pad: int = 0
    pad_value: int = 0


@dataclass(frozen=True, kw_only=True)
class Dense(Node):
    """Fully connected layer with bipolar weights (F, C) on a (N, C, 1, 1) input."""

    weights: str = _const()


@dataclass(frozen=True, kw_only=True)
class Threshold(Node):
    """Per-channel binarization of integers: ``+1 if (x >= t[c]) xor invert[c] else -1``."""

    thresholds: str = _const()
    invert: str = _const()


@dataclass(frozen=True, kw_only=True)
class MaxPool(Node):
    """Max-pool with ``kernel == stride``, no padding, trailing rows/cols dropped.

    On channels where ``and_mask`` is set it is a min-pool instead: the frontend emits it
    when it moves a pool of integers behind a decreasing (gamma < 0) binarization.
    """

    kernel: int
    stride: int
    and_mask: str | None = _opt_const()


@dataclass(frozen=True, kw_only=True)
class Flatten(Node):
    """NCHW flatten: (N, C, H, W) -> (N, C*H*W, 1, 1), index c*H*W + y*W + x."""


@dataclass(frozen=True, kw_only=True)
class Output(Node):
    """The accelerator output: integer scores; the host applies ``y = scale*s + bias``.

    ``scale``/``bias`` are float64 per class, exactly what the source model does after
    its last integer accumulation (folded from BatchNorm, Mul, Add, ...).
    """

    scale: str = _const()
    bias: str = _const()
    onnx_name: str = "output"


@dataclass(frozen=True, kw_only=True)
class BitPlaneConv(Node):
    """Bit-plane first layer (DESIGN.md section 5): uint8 (N, C, H, W) -> exact Int (N, F, OH, OW).

    Pixel ``p`` of channel ``c`` becomes the code ``consts[code][p]`` (256 entries, 0..255);
    bit ``i`` of the code is plane ``c*8 + i`` (+1 for bit 1, -1 for bit 0). Plane ``j``
    is padded by ``pad`` with +1 and correlated with the +-1 kernel ``weights[f, j]``
    (``consts[weights]`` of shape (F, C*8, K, K)); ``n`` = the number of taps that agree
    (0..K*K). The output is ``sum_j tables[f, j, n_j]``, with ``consts[tables]`` of shape
    (F, C*8, K*K + 1) holding exact integers (an object array of Python ints: the entries
    are the layer's dyadic per-plane values scaled by one power of two, so they may need
    more than 64 bits).
    """

    code: str = _const()
    weights: str = _const()
    tables: str = _const()
    kernel: int
    stride: int = 1
    pad: int = 0


# --- hardware-level nodes (after lowering) --------------------------------
WINDOW_ORDERS = ("kkc", "ckk")
CODEBOOK_MODES = ("decode", "reuse")
# Where a matvec's weight memory lives: "auto" = the cost model's rule (bnnc.cost.rom_in_bram),
# "bram" = block RAM, "lut" = LUTs. The folding pass sets it when a budget runs out.
WEIGHT_MEMS = ("auto", "bram", "lut")


@dataclass(frozen=True, kw_only=True)
class SlidingWindow(Node):
    """Sliding-window generator: (N, C, H, W) -> (N, K*K*C, OH, OW).

    ``order`` "kkc": elements in the order (ky, kx, c), a stream word holds ``simd``
    channels of one tap. ``order`` "ckk": elements in the order (c, ky, kx), a stream word
    holds all K*K taps of ``simd`` channels (what codebook kernels need: a channel's taps
    together). Padded taps take ``pad_value``; with ``masked`` the padded taps are 0 in
    golden and carry a cleared valid bit in hardware (bipolar zero padding; one valid bit
    per word in "kkc", one per tap in "ckk").
    """

    channels: int
    height: int
    width: int
    kernel: int
    stride: int = 1
    pad: int = 0
    pad_value: int = 0
    masked: bool = False
    dtype: DType
    simd: int = 1
    order: str = "kkc"


@dataclass(frozen=True, kw_only=True)
class MatVec(Node):
    """Matrix-vector(-threshold) unit, applied per pixel: (N, MW, H, W) -> (N, MH, H, W).

    ``weights``: bipolar (MH, MW) int8, columns in the input vector order.
    ``domain``: "popcount" (acc = number of agreeing bits; bipolar unmasked input only),
    "dot" (acc = sum w*x, masked taps are 0) or "int" (uint8 input, acc = sum w*x).
    With ``thresholds`` the output is bipolar ``(acc >= t) xor invert``, else Int acc.
    """

    weights: str = _const()
    mw: int
    mh: int
    in_dtype: DType
    domain: str = "dot"
    masked: bool = False
    thresholds: str | None = _opt_const()
    invert: str | None = _opt_const()
    pe: int = 1
    simd: int = 1
    acc_bits: int = 32
    weight_mem: str = "auto"  # WEIGHT_MEMS


@dataclass(frozen=True, kw_only=True)
class CodebookMatVec(Node):
    """Codebook matrix-vector(-threshold) unit of a sub-bit conv, applied per pixel.

    Input: a "ckk" window stream (N, C*T, H, W), T = ``taps`` (K*K), elements (c, t);
    bipolar, masked taps 0. Neuron f's weights are ``codebook[indices[f, c]]`` on channel c:
    the node computes exactly what :class:`MatVec` computes with the weight matrix
    ``codebook[indices].reshape(MH, C*T)`` (``domain`` "popcount" or "dot", optional
    thresholds). ``mode`` is only the hardware structure: "decode" (each PE decodes the
    tau-bit index through a codeword ROM, then XNOR-popcount) or "reuse" (per input channel
    the popcounts against all 2**tau codewords are computed once and every PE selects its
    one by index). ``simd`` counts channels per word (T*simd elements).
    """

    codebook: str = _const()
    indices: str = _const()
    tau: int
    channels: int
    taps: int
    mh: int
    domain: str = "dot"
    masked: bool = False
    mode: str = "decode"
    thresholds: str | None = _opt_const()
    invert: str | None = _opt_const()
    pe: int = 1
    simd: int = 1
    acc_bits: int = 32
    weight_mem: str = "auto"  # WEIGHT_MEMS: the index memory

    @property
    def mw(self) -> int:
        return self.channels * self.taps

    @property
    def in_dtype(self) -> DType:
        return BIPOLAR


@dataclass(frozen=True, kw_only=True)
class Pool(Node):
    """Binary max-pool (OR; AND on channels where ``and_mask`` is set), kernel == stride."""

    channels: int
    height: int
    width: int
    kernel: int
    and_mask: str | None = _opt_const()
    simd: int = 1


@dataclass(frozen=True, kw_only=True)
class CodeMap(Node):
    """Per-element code ROM: (N, C, H, W) uint8 -> (N, C*8, H, W) bipolar bit-planes.

    Element ``p`` of channel ``c`` becomes the byte ``consts[code][p]``; its bit ``i`` is
    output channel ``c*8 + i``. In hardware the stream word (one pixel, channel ``c`` at
    bits ``8c..8c+7``) goes through one 256 x 8 ROM per channel and keeps its layout: the
    plane split is wiring.
    """

    code: str = _const()
    channels: int


@dataclass(frozen=True, kw_only=True)
class BitPlaneMatVec(Node):
    """Per-pixel bit-plane unit: window (N, MW, H, W) -> bipolar (N, MH, H, W).

    ``MW = taps * planes`` in window order (tap, plane). For neuron ``f`` and plane ``j``,
    ``n_j`` counts the taps ``t`` whose bit agrees with ``weights[f, t*planes + j]``
    (bipolar (MH, MW), the MatVec layout); the neuron's value is
    ``acc = sum_j tables[f, j, n_j]`` (object array (MH, planes, taps + 1) of exact ints)
    and its output ``+1 if (acc >= thresholds[f]) xor invert[f] else -1``. The schedule is
    the MatVec's with SIMD = planes (one window tap per word): PIXELS * (MH/PE) * taps
    steps per frame. ``entry_bits``/``acc_bits``: signed widths of a table entry and of
    the sum (and threshold).
    """

    weights: str = _const()
    tables: str = _const()
    thresholds: str = _const()
    invert: str = _const()
    mw: int
    mh: int
    planes: int
    taps: int
    pe: int = 1
    simd: int = 1
    entry_bits: int = 2
    acc_bits: int = 2


@dataclass(frozen=True, kw_only=True)
class FlattenNHWC(Node):
    """Flatten in stream order: (N, C, H, W) -> (N, H*W*C, 1, 1), index (y*W + x)*C + c.

    Pure wiring in hardware: the stream is already pixel-major.
    """


@dataclass(frozen=True, kw_only=True)
class WidthConvert(Node):
    """Stream width converter (identity on values); ``in_bits``/``out_bits`` per word."""

    in_bits: int
    out_bits: int
    frame_bits: int


# ---------------------------------------------------------------- graph
class Graph:
    """An immutable DAG of nodes in topological order plus a read-only constant table."""

    __slots__ = ("_nodes", "_consts", "_by_name", "meta")

    def __init__(self, nodes: Iterable[Node], consts: Mapping[str, np.ndarray],
                 meta: Mapping[str, object] | None = None) -> None:
        nodes = tuple(nodes)
        frozen: dict[str, np.ndarray] = {}
        for key in sorted(consts):
            arr = np.array(consts[key], copy=True)
            arr.setflags(write=False)
            frozen[key] = arr
        self._nodes = nodes
        self._consts = MappingProxyType(frozen)
        self._by_name = {n.name: n for n in nodes}
        self.meta = MappingProxyType(dict(meta or {}))

    @property
    def nodes(self) -> tuple[Node, ...]:
        return self._nodes

    @property
    def consts(self) -> Mapping[str, np.ndarray]:
        return self._consts

    def __iter__(self) -> Iterator[Node]:
        return iter(self._nodes)

    def __len__(self) -> int:
        return len(self._nodes)

    def node(self, name: str) -> Node:
        try:
            return self._by_name[name]
        except KeyError:
            raise IRError(f"no node named {name!r} in the graph") from None

    @property
    def input(self) -> Input:
        ins = [n for n in self._nodes if isinstance(n, Input)]
        if len(ins) != 1:
            raise IRError(f"graph must have exactly one Input node, found {len(ins)}")
        return ins[0]

    @property
    def output(self) -> Output:
        outs = [n for n in self._nodes if isinstance(n, Output)]
        if len(outs) != 1:
            raise IRError(f"graph must have exactly one Output node, found {len(outs)}")
        return outs[0]

    def consumers(self, name: str) -> list[Node]:
        return [n for n in self._nodes if name in n.inputs]

    def replace(self, nodes: Iterable[Node] | None = None,
                consts: Mapping[str, np.ndarray] | None = None,
                meta: Mapping[str, object] | None = None) -> "Graph":
        """A new graph; constants not referenced by any node are dropped."""
        nodes = tuple(self._nodes if nodes is None else nodes)
        table = dict(self._consts if consts is None else consts)
        used = {k for n in nodes for k in n.consts()}
        return Graph(nodes, {k: v for k, v in table.items() if k in used},
                     self.meta if meta is None else meta)

    def verify(self) -> "Graph":
        """Check structural invariants; raise :class:`IRError` naming the culprit."""
        seen: set[str] = set()
        for n in self._nodes:
            if n.name in seen:
                raise IRError(f"duplicate node name {n.name!r}")
            for i in n.inputs:
                if i not in seen:
                    raise IRError(f"node {n.name!r} ({n.kind}) reads {i!r}, which is not "
                                  "produced before it (graphs are kept in topological order)")
            for k in n.consts():
                if k not in self._consts:
                    raise IRError(f"node {n.name!r} ({n.kind}) refers to missing constant {k!r}")
            seen.add(n.name)
        self.input  # exactly one
        self.output
        return self

    def summary(self) -> str:
        """A readable listing of the graph (used by ``--dump-ir``)."""
        lines = []
        for n in self._nodes:
            fields = []
            for f in dataclasses.fields(n):
                if f.name in ("name", "inputs"):
                    continue
                v = getattr(n, f.name)
                if f.metadata.get("const") and v is not None:
                    arr = self._consts[v]
                    v = f"{v}<{arr.dtype}{list(arr.shape)}>"
                fields.append(f"{f.name}={v}")
            src = ", ".join(n.inputs)
            lines.append(f"{n.name} = {n.kind}({src}) " + " ".join(fields))
        return "\n".join(lines) + "\n"
