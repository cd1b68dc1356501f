"""Shared pytest fixtures and helpers."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

REPO = Path(__file__).resolve().parent.parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-snapshots", action="store_true",
                     help="rewrite tests/snapshots/ from the current generator output")


@pytest.fixture(autouse=True, scope="session")
def _bnnc_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Cache compiled simulators in the repo's git-ignored .bnnc-cache/ across runs."""
    import os

    os.environ.setdefault("BNNC_CACHE", str(REPO / ".bnnc-cache"))


def compare_with_onnxruntime(y: np.ndarray, ref: np.ndarray,
                             tolerance: np.ndarray | None = None) -> dict[str, float]:
    """Output-contract check (DESIGN.md section 1): argmax identical, and with a
    ``tolerance`` (Project.output_tolerance()) the number of outputs outside it."""
    y = np.asarray(y, dtype=np.float32)
    ref = np.asarray(ref, dtype=np.float32)
    err = np.abs(y.astype(np.float64) - ref.astype(np.float64))
    ulp = np.spacing(np.maximum(np.abs(ref), np.float32(1.0)).astype(np.float32))
    out = {"max_ulp": float((err / ulp).max(initial=0.0)),
           "argmax_diff": int((y.argmax(1) != ref.argmax(1)).sum())}
    if tolerance is not None:
        out["violations"] = int((err > np.asarray(tolerance)[None, :]).sum())
    return out
