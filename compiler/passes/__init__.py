"""Graph -> Graph passes, run in the one visible order of :data:`PIPELINE`.

Every pass is a pure function (or a frozen dataclass with options and ``__call__``);
:func:`run_pipeline` verifies the IR after each one and can dump it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from .. import ir
from .fold import Fold
from .lower import (flatten_to_nhwc, fuse_thresholds, insert_width_converters, lower_bitplane,
                    lower_layers, lower_pool, popcount_domain, size_accumulators)

__all__ = ["PIPELINE", "pipeline", "run_pipeline", "Fold"]

Pass = Callable[[ir.Graph], ir.Graph]


def pipeline(fold: Fold) -> tuple[Pass, ...]:
    """The ordered passes from the frontend's IR to the folded hardware IR."""
    return (
        flatten_to_nhwc,          # NCHW Flatten + Dense -> stream-order flatten, permuted weights
        lower_bitplane,           # BitPlaneConv + Threshold -> code ROM + 1-bit window + unit
        lower_layers,             # Conv -> SlidingWindow + MatVec; Dense -> MatVec
        fuse_thresholds,          # MatVec + Threshold -> thresholding MatVec
        popcount_domain,          # unmasked bipolar thresholds -> popcount domain
        lower_pool,               # binary MaxPool -> Pool (OR / AND)
        size_accumulators,        # accumulator and threshold widths from exact bounds
        fold,                     # PE / SIMD per layer (automatic or given)
        insert_width_converters,  # stream width converters between kernels
    )


PIPELINE: tuple[Pass, ...] = pipeline(Fold())


def run_pipeline(graph: ir.Graph, passes: Sequence[Pass] = PIPELINE,
                 dump_dir: str | Path | None = None) -> ir.Graph:
    """Run ``passes`` in order, verifying after each; optionally dump the IR after each."""
    graph.verify()
    if dump_dir is not None:
        d = Path(dump_dir)
        d.mkdir(parents=True, exist_ok=True)
        (d / "00_frontend.txt").write_text(graph.summary())
    for i, p in enumerate(passes, start=1):
        graph = p(graph).verify()
        if dump_dir is not None:
            name = getattr(p, "__name__", type(p).__name__.lower())
            (Path(dump_dir) / f"{i:02d}_{name}.txt").write_text(graph.summary())
    return graph
