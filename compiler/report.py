"""The compile report: per-layer folding, cycles, memory and resource estimates."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import __version__, ir
from .cost import node_cost, shape_of, subbit_weight_bits, weight_in_bram
from .passes.fold import SHELL_BRAMS, SHELL_LUTS
from .targets import Target

if TYPE_CHECKING:
    from .cycles import DesignTiming

__all__ = ["build_report", "format_report"]

_KIND = {ir.MatVec: "matvec", ir.SlidingWindow: "window", ir.Pool: "maxpool",
         ir.WidthConvert: "dwc", ir.CodebookMatVec: "codebook", ir.CodeMap: "codemap",
         ir.BitPlaneMatVec: "bitplane"}


def build_report(graph: ir.Graph, target: Target, model: str,
                 timing: "DesignTiming | None" = None) -> dict[str, Any]:
    """A JSON-able report of the folded hardware graph.

    ``timing`` (:func:`bnnc.cycles.design_timing`) adds the exact cycle model: per layer
    ``interval_cycles``/``latency_cycles`` in isolation, and the design's ``cycle_model``
    (interval, latency, FIFO depths). ``bnnc rtlsim --report`` adds measured figures.
    """
    from .cycles import design_timing

    timing = timing or design_timing(graph)
    per_node = {t.name: t for t in timing.nodes}
    layers = []
    folding: dict[str, dict[str, int | str]] = {}
    for n in graph:
        kind = _KIND.get(type(n))
        if kind is None:
            continue
        c = node_cost(graph, n)
        in_shape = list(shape_of(graph, n.inputs[0]))
        out_shape = list(shape_of(graph, n.name)) if not isinstance(n, ir.WidthConvert) else in_shape
        row: dict[str, Any] = {"name": n.name, "kind": kind, "in_shape": in_shape,
                               "out_shape": out_shape, "cycles": c.cycles, "luts": c.luts,
                               "bram36": c.brams, "weight_bits": c.weight_bits,
                               "threshold_bits": c.threshold_bits,
                               "interval_cycles": per_node[n.name].interval,
                               "latency_cycles": per_node[n.name].latency}
        if isinstance(n, ir.MatVec):
            row.update(pe=n.pe, simd=n.simd, mw=n.mw, mh=n.mh, domain=n.domain,
                       input=str(n.in_dtype), output="bipolar" if n.thresholds else "int32",
                       acc_bits=n.acc_bits, weight_memory="bram" if weight_in_bram(n) else "lut")
            folding[n.name] = {"pe": n.pe, "simd": n.simd}
        elif isinstance(n, ir.CodebookMatVec):
            plain, sub = subbit_weight_bits(n.tau, n.taps, n.mh, n.channels)
            row.update(pe=n.pe, simd=n.simd, mw=n.mw, mh=n.mh, domain=n.domain,
                       input="bipolar", output="bipolar" if n.thresholds else "int32",
                       acc_bits=n.acc_bits, tau=n.tau, lowering=n.mode,
                       plain_weight_bits=plain, subbit_weight_bits=sub,
                       weight_memory="bram" if weight_in_bram(n) else "lut")
            folding[n.name] = {"pe": n.pe, "simd": n.simd, "subbit": n.mode}
        elif isinstance(n, ir.BitPlaneMatVec):
            row.update(pe=n.pe, simd=n.simd, mw=n.mw, mh=n.mh, planes=n.planes, taps=n.taps,
                       input="bipolar planes", output="bipolar", entry_bits=n.entry_bits,
                       acc_bits=n.acc_bits)
            folding[n.name] = {"pe": n.pe, "simd": n.simd}
        elif isinstance(n, (ir.SlidingWindow, ir.Pool)):
            row.update(simd=n.simd)
            if isinstance(n, ir.Pool):
                folding[n.name] = {"simd": n.simd}
        elif isinstance(n, ir.WidthConvert):
            row.update(in_bits=n.in_bits, out_bits=n.out_bits)
        layers.append(row)
    # the headline interval is the exact cycle model's (what RTL simulation measures); the
    # bottleneck is the layer with the longest exact interval in isolation
    worst = max(layers, key=lambda r: (r["interval_cycles"], r["cycles"]))
    luts = sum(r["luts"] for r in layers) + SHELL_LUTS
    brams = sum(r["bram36"] for r in layers) + SHELL_BRAMS
    fps = target.clock_mhz * 1e6 / timing.interval
    return {
        "generator": f"bnnc {__version__}",
        "model": model,
        "target": {"name": target.name, "part": target.part, "clock_mhz": target.clock_mhz,
                   "luts": target.luts, "bram36": target.bram36, "dsps": target.dsps},
        "layers": layers,
        "folding": folding,
        "bottleneck": {"name": worst["name"], "cycles": worst["interval_cycles"]},
        "interval_cycles": timing.interval,
        "fps": fps,
        "estimate": {"luts": luts, "bram36": brams, "shell_luts": SHELL_LUTS,
                     "shell_bram36": SHELL_BRAMS,
                     "fits": luts <= target.luts and brams <= target.bram36},
        "cycle_model": {"interval": timing.interval, "latency": timing.latency,
                        "fifo_depths": dict(timing.fifo_depths)},
        "weight_bits": sum(r["weight_bits"] for r in layers),
        "threshold_bits": sum(r["threshold_bits"] for r in layers),
    }


def format_report(rep: dict[str, Any]) -> str:
    """The report as a terminal table."""
    head = ("layer", "kind", "in", "out", "PE", "SIMD", "cycles", "interval", "latency",
            "weights", "LUT", "BRAM36")
    rows = [head]
    for r in rep["layers"]:
        rows.append((r["name"], r["kind"], "x".join(map(str, r["in_shape"])),
                     "x".join(map(str, r["out_shape"])), str(r.get("pe", "")),
                     str(r.get("simd", "")), f"{r['cycles']:,}",
                     f"{r['interval_cycles']:,}" if "interval_cycles" in r else "",
                     f"{r['latency_cycles']:,}" if "latency_cycles" in r else "",
                     f"{r['weight_bits']:,}" if r["weight_bits"] else "",
                     f"{r['luts']:,}", f"{r['bram36']:g}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = []
    for k, row in enumerate(rows):
        cells = [c.ljust(w) if i < 4 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    t = rep["target"]
    est = rep["estimate"]
    lines.append("")
    lines.append(f"bottleneck: {rep['bottleneck']['name']} ({rep['interval_cycles']:,} cycles/frame)"
                 f" -> {rep['fps']:,.0f} frames/s at {t['clock_mhz']:g} MHz")
    lines.append(f"estimate (incl. DMA shell): {est['luts']:,} / {t['luts']:,} LUT, "
                 f"{est['bram36']:g} / {t['bram36']} BRAM36 on {t['name']} ({t['part']}): "
                 f"{'fits' if est['fits'] else 'DOES NOT FIT'}")
    lines.append(f"weights: {rep['weight_bits']:,} bits, thresholds: {rep['threshold_bits']:,} bits")
    for r in rep["layers"]:
        if r["kind"] == "codebook":
            lines.append(f"sub-bit {r['name']}: tau={r['tau']}, {r['lowering']}, weight bits "
                         f"{r['plain_weight_bits']:,} plain (9*C_out*C_in) -> "
                         f"{r['subbit_weight_bits']:,} sub-bit (9*2^tau + tau*C_out*C_in), "
                         f"{r['plain_weight_bits'] / r['subbit_weight_bits']:.2f}x fewer")
    cm = rep.get("cycle_model")
    if cm:
        line = (f"cycle model (exact, RTL): interval {cm['interval']:,} cycles/frame, "
                f"latency {cm['latency']:,} cycles")
        meas = rep.get("rtlsim")
        if meas:
            line += (f"; measured by rtlsim: interval {meas.get('interval') or '-'}, "
                     f"latency {meas['latency']:,}")
        lines.append(line)
    syn = rep.get("synth")
    if syn:
        from .synth import format_synth

        lines.append("")
        lines.append("synthesis (bnnc synth):")
        lines.append(format_synth(syn))
    return "\n".join(lines)
