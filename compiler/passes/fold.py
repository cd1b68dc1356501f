"""Folding: choose PE (output parallelism) and SIMD (input parallelism) per layer."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Mapping

from .. import ir
from ..cost import node_cost, shape_of
from ..errors import FoldingError
from ..targets import TARGETS, Target

__all__ = ["Fold", "legal_folds", "parse_fold_spec"]

# Fixed fabric the rest of the design uses (AXI DMA, interconnect, stream adapters).
SHELL_LUTS = 4000
SHELL_BRAMS = 4.0


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


# Widest stream word and weight word a kernel may use: ap_int's default limit, and wider
# words would be hard to route anyway.
MAX_WORD_BITS = 1024


def legal_folds(graph: ir.Graph, node: ir.Node) -> dict[str, list[int]]:
    """Legal values of each folding parameter of ``node``.

    PE divides the output channels, SIMD divides the input channels of a conv (the inputs
    of a dense layer); no stream or weight word may exceed MAX_WORD_BITS.
    """
    if isinstance(node, ir.MatVec):
        src = graph.node(node.inputs[0])
        simd_of = src.channels if isinstance(src, ir.SlidingWindow) else node.mw
        out_bits = 1 if node.thresholds is not None else 32
        ebits = node.in_dtype.bits
        return {"pe": [d for d in _divisors(node.mh) if d * out_bits <= MAX_WORD_BITS],
                "simd": [d for d in _divisors(simd_of)
                         if d * ebits + int(node.masked) <= MAX_WORD_BITS]}
    if isinstance(node, ir.Pool):
        return {"simd": [d for d in _divisors(node.channels) if d <= MAX_WORD_BITS]}
    if isinstance(node, ir.BitPlaneMatVec):
        return {"pe": [d for d in _divisors(node.mh) if d <= MAX_WORD_BITS],
                "simd": [node.planes]}
    return {}


def _limit_text(graph: ir.Graph, node: ir.Node, param: str) -> str:
    if isinstance(node, ir.BitPlaneMatVec):
        if param == "simd":
            return (f"simd of a bit-plane layer is fixed to its {node.planes} planes (one "
                    "window tap per word)")
        return f"pe must divide {node.mh}"
    if isinstance(node, ir.MatVec):
        src = graph.node(node.inputs[0])
        n = node.mh if param == "pe" else (src.channels if isinstance(src, ir.SlidingWindow)
                                           else node.mw)
    else:
        n = node.channels  # type: ignore[attr-defined]
    return f"{param} must divide {n} and keep words within {MAX_WORD_BITS} bits"


def parse_fold_spec(text: str) -> dict[str, dict[str, int]]:
    """``"conv2.pe=8,conv2.simd=32"`` -> ``{"conv2": {"pe": 8, "simd": 32}}``."""
    out: dict[str, dict[str, int]] = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        try:
            key, value = item.split("=")
            layer, param = key.rsplit(".", 1)
            out.setdefault(layer.strip(), {})[param.strip()] = int(value)
        except ValueError:
            raise FoldingError(f"cannot parse folding {item!r}; expected LAYER.pe=N or "
                               "LAYER.simd=N, comma-separated (e.g. conv2.pe=8,conv2.simd=32)") from None
    return out


@dataclass(frozen=True, kw_only=True)
class Fold:
    """Set PE/SIMD of every MatVec and SIMD of every Pool.

    Automatic: starting from PE = SIMD = 1, repeatedly widen the bottleneck layer (SIMD
    first, then PE) while the estimated design fits ``target``'s budget, until ``fps`` is
    reached or the bottleneck cannot be widened. ``overrides`` fix layers by name and are
    checked against the legal values (PE divides the output channels, SIMD divides the
    input channels of a conv or the inputs of a dense layer).
    """

    target: Target = field(default_factory=lambda: TARGETS["pynq-z2"])
    fps: float | None = None
    overrides: Mapping[str, Mapping[str, int]] = field(default_factory=dict)

    @property
    def __name__(self) -> str:  # noqa: D401 - used by the IR dump
        return "fold"

    def __call__(self, graph: ir.Graph) -> ir.Graph:
        names = {n.name for n in graph if legal_folds(graph, n)}
        for layer, params in self.overrides.items():
            if layer not in names:
                raise FoldingError(f"--fold names layer {layer!r}, which has no folding; layers: "
                                   f"{', '.join(sorted(names))}")
            legal = legal_folds(graph, graph.node(layer))
            for p, v in params.items():
                if p not in legal:
                    raise FoldingError(f"layer {layer!r} has no parameter {p!r}; it has "
                                       f"{', '.join(legal)}")
                if v not in legal[p]:
                    raise FoldingError(f"illegal folding {layer}.{p}={v}: "
                                       f"{_limit_text(graph, graph.node(layer), p)}; legal "
                                       f"values: {', '.join(map(str, legal[p]))}")
        state: dict[str, dict[str, int]] = {}
        for n in graph:
            legal = legal_folds(graph, n)
            if legal:
                state[n.name] = {p: self.overrides.get(n.name, {}).get(p, 1) for p in legal}
        g = _apply(graph, state)
        if self.overrides and all(set(legal_folds(graph, graph.node(k))) <= set(self.overrides.get(k, {}))
                                  for k in state):
            return g
        budget_l = self.target.luts * self.target.lut_fraction - SHELL_LUTS
        budget_b = self.target.bram36 * self.target.bram_fraction - SHELL_BRAMS
        frozen: set[str] = set()
        for _ in range(10000):
            costs = {n.name: node_cost(g, n) for n in g}
            worst = max(c.cycles for c in costs.values())
            if self.fps is not None and self.target.clock_mhz * 1e6 / worst >= self.fps:
                break
            # the node that bounds throughput; SlidingWindows follow their MatVec
            cand = [n for n in g if costs[n.name].cycles == worst]
            owners = [_owner(g, n) for n in cand]
            if any(o is None or o in frozen for o in owners):
                break
            progressed = False
            for owner in dict.fromkeys(owners):
                assert owner is not None
                step = _next_step(graph, state, owner, self.overrides.get(owner, {}))
                if step is None:
                    frozen.add(owner)
                    continue
                trial = {k: dict(v) for k, v in state.items()}
                trial[owner].update(step)
                tg = _apply(graph, trial)
                luts = sum(node_cost(tg, n).luts for n in tg)
                brams = sum(node_cost(tg, n).brams for n in tg)
                if luts > budget_l or brams > budget_b:
                    frozen.add(owner)
                    continue
                state, g, progressed = trial, tg, True
            if not progressed:
                break
        return g


def _owner(g: ir.Graph, n: ir.Node) -> str | None:
    """The foldable node whose parameters set ``n``'s speed."""
    if isinstance(n, (ir.MatVec, ir.Pool, ir.BitPlaneMatVec)):
        return n.name
    if isinstance(n, ir.SlidingWindow):
        cons = g.consumers(n.name)
        return cons[0].name if cons else None
    return None


def _next_step(graph: ir.Graph, state: dict[str, dict[str, int]], name: str,
               fixed: Mapping[str, int]) -> dict[str, int] | None:
    legal = legal_folds(graph, graph.node(name))
    cur = state[name]
    for p in ("simd", "pe"):
        if p in legal and p not in fixed:
            bigger = [v for v in legal[p] if v > cur[p]]
            if bigger:
                return {p: bigger[0]}
    return None


def _apply(graph: ir.Graph, state: Mapping[str, Mapping[str, int]]) -> ir.Graph:
    nodes: list[ir.Node] = []
    simd_of_consumer: dict[str, int] = {}
    for n in graph:
        if isinstance(n, (ir.MatVec, ir.BitPlaneMatVec)):
            simd_of_consumer[n.inputs[0]] = state[n.name]["simd"]
    for n in graph:
        if isinstance(n, (ir.MatVec, ir.BitPlaneMatVec)):
            n = replace(n, pe=state[n.name]["pe"], simd=state[n.name]["simd"])
        elif isinstance(n, ir.Pool):
            n = replace(n, simd=state[n.name]["simd"])
        elif isinstance(n, ir.SlidingWindow):
            n = replace(n, simd=simd_of_consumer.get(n.name, 1))
        nodes.append(n)
    return graph.replace(nodes)
