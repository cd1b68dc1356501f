"""Folding: choose PE (output parallelism) and SIMD (input parallelism) per layer."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Mapping

from .. import ir
from ..cost import NodeCost, codebook_cost, node_cost, shape_of, weight_in_bram
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


def legal_folds(graph: ir.Graph, node: ir.Node, wide_windows: bool = False) -> dict[str, list[int]]:
    """Legal values of each folding parameter of ``node``.

    PE divides the output channels, SIMD divides the input channels of a conv (the inputs
    of a dense layer); no stream or weight word may exceed MAX_WORD_BITS.
    """
    if isinstance(node, ir.MatVec):
        src = graph.node(node.inputs[0])
        simd_of = src.channels if isinstance(src, ir.SlidingWindow) else node.mw
        out_bits = 1 if node.thresholds is not None else 32
        ebits = node.in_dtype.bits
        simds = set(_divisors(simd_of))
        if wide_windows and _wide_window_ok(src):
            assert isinstance(src, ir.SlidingWindow)
            kk = src.kernel * src.kernel
            simds |= {kk * d for d in _divisors(src.channels)}
        return {"pe": [d for d in _divisors(node.mh) if d * out_bits <= MAX_WORD_BITS],
                "simd": [d for d in sorted(simds)
                         if d * ebits + int(node.masked) <= MAX_WORD_BITS]}
    if isinstance(node, ir.CodebookMatVec):
        out_bits = 1 if node.thresholds is not None else 32
        in_bits = node.taps + (node.taps if node.masked else 0)
        return {"pe": [d for d in _divisors(node.mh) if d * out_bits <= MAX_WORD_BITS],
                "simd": [d for d in _divisors(node.channels)
                         if d * in_bits <= MAX_WORD_BITS and d * node.tau <= MAX_WORD_BITS]}
    if isinstance(node, ir.Pool):
        return {"simd": [d for d in _divisors(node.channels) if d <= MAX_WORD_BITS]}
    if isinstance(node, ir.BitPlaneMatVec):
        return {"pe": [d for d in _divisors(node.mh) if d <= MAX_WORD_BITS],
                "simd": [node.planes]}
    return {}


def _wide_window_ok(src: ir.Node) -> bool:
    """A matvec behind this window may take whole-window ("ckk") words: SIMD = K*K*d."""
    return (isinstance(src, ir.SlidingWindow) and src.kernel > 1 and not src.masked
            and src.pad < src.kernel and src.stride <= src.kernel)


def window_order(src: ir.SlidingWindow, simd: int) -> tuple[str, int]:
    """(order, channels per word) of the window feeding a matvec of ``simd`` elements: one
    tap of ``simd`` channels ("kkc") when ``simd`` divides the channels, else all K*K taps
    of ``simd / K*K`` channels ("ckk")."""
    if src.channels % simd == 0:
        return "kkc", simd
    return "ckk", simd // (src.kernel * src.kernel)


def codebook_modes(node: ir.CodebookMatVec) -> tuple[str, ...]:
    """The lowerings the automatic choice considers: reuse only when 2**tau < the outputs
    (``--fold L.subbit=reuse`` forces it anyway)."""
    return ("decode", "reuse") if (1 << node.tau) < node.mh else ("decode",)


def _limit_text(graph: ir.Graph, node: ir.Node, param: str, wide_windows: bool = False) -> str:
    if isinstance(node, ir.BitPlaneMatVec):
        if param == "simd":
            return (f"simd of a bit-plane layer is fixed to its {node.planes} planes (one "
                    "window tap per word)")
        return f"pe must divide {node.mh}"
    if isinstance(node, ir.CodebookMatVec):
        n = node.mh if param == "pe" else node.channels
    elif isinstance(node, ir.MatVec):
        src = graph.node(node.inputs[0])
        if (param == "simd" and wide_windows and isinstance(src, ir.SlidingWindow)
                and _wide_window_ok(src)):
            kk = src.kernel * src.kernel
            return (f"simd must divide {src.channels} (one tap per word) or be {kk} times a "
                    f"divisor of it (whole {src.kernel}x{src.kernel} windows per word), and "
                    f"keep words within {MAX_WORD_BITS} bits")
        n = node.mh if param == "pe" else (src.channels if isinstance(src, ir.SlidingWindow)
                                           else node.mw)
    else:
        n = node.channels  # type: ignore[attr-defined]
    return f"{param} must divide {n} and keep words within {MAX_WORD_BITS} bits"


def parse_fold_spec(text: str) -> dict[str, dict[str, int | str]]:
    """``"conv2.pe=8,conv2.simd=32,conv3.subbit=reuse"`` -> ``{"conv2": {"pe": 8, "simd": 32},
    "conv3": {"subbit": "reuse"}}``; ``LAYER.mem=bram|lut|auto`` pins a weight memory."""
    out: dict[str, dict[str, int | str]] = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        try:
            key, value = item.split("=")
            layer, param = key.rsplit(".", 1)
            param, value = param.strip(), value.strip()
            if param == "subbit":
                if value not in ir.CODEBOOK_MODES:
                    raise FoldingError(f"--fold {item}: the lowering of a sub-bit layer is "
                                       f"'decode' or 'reuse', not {value!r}")
                out.setdefault(layer.strip(), {})[param] = value
            elif param == "mem":
                if value not in ir.WEIGHT_MEMS:
                    raise FoldingError(f"--fold {item}: a weight memory goes to 'bram', "
                                       f"'lut' or 'auto', not {value!r}")
                out.setdefault(layer.strip(), {})[param] = value
            else:
                out.setdefault(layer.strip(), {})[param] = int(value)
        except ValueError:
            raise FoldingError(f"cannot parse folding {item!r}; expected LAYER.pe=N, "
                               "LAYER.simd=N, LAYER.subbit=decode|reuse or "
                               "LAYER.mem=bram|lut|auto, comma-separated "
                               "(e.g. conv2.pe=8,conv2.simd=32)") from None
    return out


@dataclass(frozen=True, kw_only=True)
class Fold:
    """Set PE/SIMD of every MatVec and SIMD of every Pool.

    Automatic: starting from PE = SIMD = 1, repeatedly widen the bottleneck layer (SIMD
    first, then PE) while the estimated design fits ``target``'s budget, until ``fps`` is
    reached or the bottleneck cannot be widened. A weight memory starts where the cost
    model's rule puts it (``weight_mem="auto"``); when a widening step overruns the LUT
    budget, weight memories move from LUTs to block RAM (most LUTs saved per tile first)
    while the BRAM budget lasts, and the other way round when BRAM overruns: the same
    rule for every matvec kind, so the placement follows whichever resource is free. ``overrides`` fix layers by name and are
    checked against the legal values (PE divides the output channels, SIMD divides the
    input channels of a conv or the inputs of a dense layer).
    """

    target: Target = field(default_factory=lambda: TARGETS["pynq-z2"])
    fps: float | None = None
    overrides: Mapping[str, Mapping[str, int | str]] = field(default_factory=dict)
    wide_windows: bool = False  # plain convs may also take whole-window ("ckk") words

    @property
    def __name__(self) -> str:  # noqa: D401 - used by the IR dump
        return "fold"

    def __call__(self, graph: ir.Graph) -> ir.Graph:
        ww = self.wide_windows
        names = {n.name for n in graph if legal_folds(graph, n, ww)}
        modes: dict[str, str] = {}
        pinned: dict[str, str] = {}  # weight memories the user placed
        for layer, params in self.overrides.items():
            if layer not in names:
                raise FoldingError(f"--fold names layer {layer!r}, which has no folding; layers: "
                                   f"{', '.join(sorted(names))}")
            legal = legal_folds(graph, graph.node(layer), ww)
            for p, v in params.items():
                if p == "subbit":
                    node = graph.node(layer)
                    if not isinstance(node, ir.CodebookMatVec):
                        raise FoldingError(f"--fold {layer}.subbit={v}: layer {layer!r} is not a "
                                           "sub-bit (codebook) layer; sub-bit layers: " + (
                                               ", ".join(n.name for n in graph
                                                         if isinstance(n, ir.CodebookMatVec))
                                               or "none"))
                    modes[layer] = str(v)
                    continue
                if p == "mem":
                    if not isinstance(graph.node(layer), (ir.MatVec, ir.CodebookMatVec)):
                        raise FoldingError(f"--fold {layer}.mem={v}: layer {layer!r} has no "
                                           "weight memory (only matrix-vector layers do)")
                    pinned[layer] = str(v)
                    continue
                if p not in legal:
                    raise FoldingError(f"layer {layer!r} has no parameter {p!r}; it has "
                                       f"{', '.join(legal)}")
                if v not in legal[p]:
                    raise FoldingError(f"illegal folding {layer}.{p}={v}: "
                                       f"{_limit_text(graph, graph.node(layer), p, ww)}; legal "
                                       f"values: {', '.join(map(str, legal[p]))}")
        state: dict[str, dict[str, int]] = {}
        for n in graph:
            legal = legal_folds(graph, n, ww)
            if legal:
                state[n.name] = {p: int(self.overrides.get(n.name, {}).get(p, 1)) for p in legal}
        mems = dict(pinned)  # + the weight memories the folding moves to "bram" or "lut"
        g = _apply(graph, state, modes, mems)
        if self.overrides and all(set(legal_folds(graph, graph.node(k), ww)) <= set(self.overrides.get(k, {}))
                                  for k in state):
            return g
        budget_l = self.target.luts * self.target.lut_fraction - SHELL_LUTS
        budget_b = self.target.bram36 * self.target.bram_fraction - SHELL_BRAMS
        start = _place_memories(g, mems, budget_l, budget_b, set(pinned))
        if start is not None and start != mems:  # the narrowest folding may need moves too
            mems = start
            g = _apply(graph, state, modes, mems)
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
                fixed = {k: int(v) for k, v in self.overrides.get(owner, {}).items()
                         if k not in ("subbit", "mem")}
                step = _next_step(graph, state, owner, fixed, ww)
                if step is None:
                    frozen.add(owner)
                    continue
                trial = {k: dict(v) for k, v in state.items()}
                trial[owner].update(step)
                tg = _apply(graph, trial, modes, mems)
                tmems = _place_memories(tg, mems, budget_l, budget_b, set(pinned))
                if tmems is None:
                    frozen.add(owner)
                    continue
                if tmems != mems:
                    tg = _apply(graph, trial, modes, tmems)
                    if (sum(node_cost(tg, n).luts for n in tg) > budget_l
                            or sum(node_cost(tg, n).brams for n in tg) > budget_b):
                        frozen.add(owner)
                        continue
                state, g, mems, progressed = trial, tg, tmems, True
            if not progressed:
                break
        if self.fps is not None:
            limit = int(self.target.clock_mhz * 1e6 / self.fps)
            if max(node_cost(g, n).cycles for n in g) <= limit:
                state = _cheapest(graph, state, modes, limit, self.target, self.overrides, ww,
                                  mems)
                g = _apply(graph, state, modes, mems)
        return g


def _place_memories(g: ir.Graph, mems: Mapping[str, str], budget_l: float,
                    budget_b: float, pinned: set[str]) -> dict[str, str] | None:
    """Weight-memory pins that make the folded graph ``g`` fit both budgets, or None.

    Greedy: while LUTs overrun, move the LUT-held weight memory that saves the most LUTs
    per added BRAM tile to block RAM (if the BRAM budget allows); while BRAM overruns,
    move the block-RAM one that frees the most tiles per added LUT to LUTs. A memory
    moves at most once per call, so this ends.
    """
    out = dict(mems)
    costs = {n.name: node_cost(g, n) for n in g}
    luts = sum(c.luts for c in costs.values())
    brams = sum(c.brams for c in costs.values())
    moved = set(pinned)
    while luts > budget_l or brams > budget_b:
        if luts > budget_l and brams > budget_b:
            return None
        to_bram = luts > budget_l
        best: tuple[float, str, int, float] | None = None
        for n in g:
            if (not isinstance(n, (ir.MatVec, ir.CodebookMatVec)) or n.name in moved
                    or weight_in_bram(n) == to_bram):
                continue
            alt = node_cost(g, replace(n, weight_mem="bram" if to_bram else "lut"))
            dl, db = alt.luts - costs[n.name].luts, alt.brams - costs[n.name].brams
            if (to_bram and (dl >= 0 or brams + db > budget_b)) or \
                    (not to_bram and (db >= 0 or luts + dl > budget_l)):
                continue
            gain = -dl / max(db, 0.5) if to_bram else -db / max(dl, 1)
            if best is None or gain > best[0]:
                best = (gain, n.name, dl, db)
        if best is None:
            return None
        _, name, dl, db = best
        out[name] = "bram" if to_bram else "lut"
        moved.add(name)
        luts, brams = luts + dl, brams + db
        costs[name] = NodeCost(cycles=costs[name].cycles, luts=costs[name].luts + dl,
                               brams=costs[name].brams + db)
    return out


def _cheapest(graph: ir.Graph, state: dict[str, dict[str, int]], modes: Mapping[str, str],
              limit: int, target: Target, overrides: Mapping[str, Mapping[str, int | str]],
              ww: bool, mems: Mapping[str, str]) -> dict[str, dict[str, int]]:
    """Refold for the least resources at ``limit`` cycles per frame (an --fps target).

    Coordinate descent: layer by layer, try every legal (PE, SIMD) (SIMD of a pool) whose
    design still meets ``limit``, and keep the one with the lowest estimated cost, counted
    as shares of the target's LUT and BRAM budgets and including the width converters the
    choice implies between neighbours (a layer whose PE matches the next layer's SIMD needs
    none). Sweeps until nothing changes. The estimate is the calibrated bnnc.cost model.
    """
    from itertools import product

    from .lower import insert_width_converters

    def cost(st: Mapping[str, Mapping[str, int]]) -> float | None:
        g = insert_width_converters(_apply(graph, st, modes, mems))
        cs = [node_cost(g, n) for n in g]
        if max(c.cycles for c in cs) > limit:
            return None
        return (sum(c.luts for c in cs) / target.luts
                + sum(c.brams for c in cs) / target.bram36)

    best = cost(state)
    if best is None:
        return state
    for _ in range(4):
        changed = False
        for name in state:
            legal = legal_folds(graph, graph.node(name), ww)
            fixed = overrides.get(name, {})
            params = [p for p in legal if p not in fixed]
            if not params:
                continue
            for values in product(*(legal[p] for p in params)):
                trial = {k: dict(v) for k, v in state.items()}
                trial[name].update(zip(params, values))
                if trial[name] == state[name]:
                    continue
                c = cost(trial)
                if c is not None and c < best - 1e-12:
                    state, best, changed = trial, c, True
        if not changed:
            break
    return state


def _owner(g: ir.Graph, n: ir.Node) -> str | None:
    """The foldable node whose parameters set ``n``'s speed."""
    if isinstance(n, (ir.MatVec, ir.CodebookMatVec, ir.Pool, ir.BitPlaneMatVec)):
        return n.name
    if isinstance(n, ir.SlidingWindow):
        cons = g.consumers(n.name)
        return cons[0].name if cons else None
    return None


def _next_step(graph: ir.Graph, state: dict[str, dict[str, int]], name: str,
               fixed: Mapping[str, int], wide_windows: bool = False) -> dict[str, int] | None:
    legal = legal_folds(graph, graph.node(name), wide_windows)
    cur = state[name]
    for p in ("simd", "pe"):
        if p in legal and p not in fixed:
            bigger = [v for v in legal[p] if v > cur[p]]
            if bigger:
                return {p: bigger[0]}
    return None


def _apply(graph: ir.Graph, state: Mapping[str, Mapping[str, int]],
           modes: Mapping[str, str] | None = None,
           mems: Mapping[str, str] | None = None) -> ir.Graph:
    """The graph with ``state``'s folding and ``mems``'s weight-memory pins; a codebook
    layer's lowering is ``modes[name]`` or the one the cost model finds cheaper (fewer
    LUTs, then fewer BRAMs) at that folding."""
    mems = mems or {}
    nodes: list[ir.Node] = []
    consts = dict(graph.consts)
    simd_of_consumer: dict[str, int] = {}
    order_of: dict[str, str] = {}
    for n in graph:
        if isinstance(n, ir.BitPlaneMatVec):
            simd_of_consumer[n.inputs[0]] = state[n.name]["simd"]
        elif isinstance(n, ir.CodebookMatVec):
            simd_of_consumer[n.inputs[0]] = state[n.name]["simd"]
            order_of[n.inputs[0]] = "ckk"
        elif isinstance(n, ir.MatVec):
            src = graph.node(n.inputs[0])
            simd = state[n.name]["simd"]
            if isinstance(src, ir.SlidingWindow):
                order_of[src.name], simd_of_consumer[src.name] = window_order(src, simd)
    for n in graph:
        if isinstance(n, (ir.MatVec, ir.CodebookMatVec)) and n.name in mems:
            n = replace(n, weight_mem=mems[n.name])
        if isinstance(n, (ir.MatVec, ir.BitPlaneMatVec)):
            n = replace(n, pe=state[n.name]["pe"], simd=state[n.name]["simd"])
            if order_of.get(n.inputs[0]) == "ckk" and graph.node(n.inputs[0]).kind == "SlidingWindow":
                # weight columns follow the window: (ky, kx, c) -> (c, ky, kx)
                src = graph.node(n.inputs[0])
                assert isinstance(src, ir.SlidingWindow)
                key = f"{n.name}.weights_ckk"
                w = graph.consts[n.weights]
                consts[key] = w.reshape(n.mh, src.kernel, src.kernel, src.channels) \
                    .transpose(0, 3, 1, 2).reshape(n.mh, -1)
                n = replace(n, weights=key)
        elif isinstance(n, ir.CodebookMatVec):
            n = replace(n, pe=state[n.name]["pe"], simd=state[n.name]["simd"])
            if modes and n.name in modes:
                n = replace(n, mode=modes[n.name])
            else:
                costs = {m: codebook_cost(graph, n, m) for m in codebook_modes(n)}
                n = replace(n, mode=min(costs, key=lambda m: (costs[m].luts, costs[m].brams)))
        elif isinstance(n, ir.Pool):
            n = replace(n, simd=state[n.name]["simd"])
        elif isinstance(n, ir.SlidingWindow):
            n = replace(n, simd=simd_of_consumer.get(n.name, 1),
                        order=order_of.get(n.name, n.order))
        nodes.append(n)
    return graph.replace(nodes, consts)
