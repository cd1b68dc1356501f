"""Snapshot of the generated HLS for a small fixed model: any change to the generator shows
up here as a readable diff. Refresh deliberately with ``pytest --update-snapshots``."""

from __future__ import annotations

import difflib
from pathlib import Path

import numpy as np
import pytest

import bnnc
from bnnc.testing import Chain

SNAPSHOTS = Path(__file__).resolve().parent.parent / "snapshots" / "hls_small"
FILES = ("bnnc_top.cpp", "bnnc_params.h", "bnnc_top.h", "run_hls.tcl")


def _small_model(path: Path) -> None:
    b = Chain((2, 6, 5), seed=5)
    b.cast_float(); b.scalar("Div", 255.0)
    b.conv(2, 4, pad=1); b.batchnorm(4, gamma=np.array([1.0, -1.0, 0.0, 0.5]), spread=50)
    b.binarize()
    b.conv(4, 4, pad=1); b.batchnorm(4); b.binarize()
    b.maxpool(2)
    b.flatten(); b.gemm(4 * 3 * 2, 3); b.batchnorm(3)
    b.build(path)


def test_generated_hls_matches_snapshot(tmp_path, request):
    _small_model(tmp_path / "small.onnx")
    proj = bnnc.compile(tmp_path / "small.onnx", tmp_path / "b",
                        fold={"conv1": {"pe": 2, "simd": 1}, "conv2": {"pe": 4, "simd": 2},
                              "fc1": {"pe": 1, "simd": 4}, "pool1": {"simd": 2}})
    update = request.config.getoption("--update-snapshots")
    for name in FILES:
        got = (proj.hls_dir / name).read_text()
        snap = SNAPSHOTS / name
        if update:
            snap.parent.mkdir(parents=True, exist_ok=True)
            snap.write_text(got)
            continue
        if not snap.exists():
            pytest.fail(f"no snapshot {snap}; run pytest --update-snapshots once")
        want = snap.read_text()
        if got != want:
            diff = "".join(difflib.unified_diff(want.splitlines(True), got.splitlines(True),
                                                f"snapshot/{name}", f"generated/{name}", n=2))
            pytest.fail(f"{name} differs from its snapshot (refresh with --update-snapshots if "
                        f"intended):\n{diff[:4000]}")
