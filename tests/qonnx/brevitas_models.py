"""Brevitas reference networks for the QONNX tests, exported once and cached between runs."""

from __future__ import annotations

import hashlib
import inspect
import shutil
from pathlib import Path

import pytest

from conftest import REPO

brevitas = pytest.importorskip("brevitas", reason="the QONNX tests need brevitas (pip install "
                                                  "brevitas onnxoptimizer)")
pytest.importorskip("qonnx", reason="the QONNX tests need qonnx (pip install qonnx)")

from bnnc import testing_brevitas as tb  # noqa: E402


def _export_key(name: str, seed: int, dynamo: bool | None) -> str:
    import torch

    h = hashlib.sha256()
    h.update(inspect.getsource(tb).encode())
    h.update(f"{name}|{seed}|{dynamo}|{torch.__version__}|{brevitas.__version__}".encode())
    return h.hexdigest()[:16]


_EXPORTS: dict[tuple[str, int, bool | None], Path] = {}


def exported(name: str, *, seed: int = 0, dynamo: bool | None = None) -> Path:
    """The QONNX export of reference network ``name`` (cached in .bnnc-cache/qonnx/)."""
    key = (name, seed, dynamo)
    if key not in _EXPORTS:
        cache = REPO / ".bnnc-cache" / "qonnx"
        path = cache / f"{name}-{_export_key(name, seed, dynamo)}.onnx"
        if not path.exists():
            tmp = tb.build_qonnx(name, path.with_suffix(".tmp.onnx"), seed=seed, dynamo=dynamo)
            shutil.move(tmp, path)
        _EXPORTS[key] = path
    return _EXPORTS[key]
