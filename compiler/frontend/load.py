"""Loading and sanity-checking ONNX files before anything large is allocated."""

from __future__ import annotations

import os
from pathlib import Path

import onnx
from onnx import external_data_helper

from ..errors import ModelError, UnsupportedError

__all__ = ["load_onnx", "MIN_OPSET", "MAX_ELEMENTS"]

MIN_OPSET = 13
MAX_FILE_BYTES = 2 * 1024 ** 3
MAX_ELEMENTS = 1 << 28  # elements in one tensor (weights or a feature map)


def _tensor_elements(t: onnx.TensorProto) -> int:
    n = 1
    for d in t.dims:
        if d < 0:
            raise ModelError(f"initializer {t.name!r} has a negative dimension {d}")
        n *= d
        if n > MAX_ELEMENTS:
            raise UnsupportedError(
                f"initializer {t.name!r} has shape {list(t.dims)} ({n:,}+ elements), more than "
                f"bnnc accepts ({MAX_ELEMENTS:,}); this is not a model an FPGA can hold")
    return n


def load_onnx(path: str | os.PathLike[str]) -> onnx.ModelProto:
    """Read an ONNX file (with external data beside it), refusing broken files fast.

    Raises
    ------
    ModelError
        missing, empty, truncated or corrupt file; cyclic graph; dangling tensor names.
    UnsupportedError
        too-old opset, several graph inputs, absurd tensor sizes.
    """
    p = Path(path)
    if not p.exists():
        raise ModelError(f"{p}: no such file")
    if p.is_dir():
        raise ModelError(f"{p}: is a directory, expected an .onnx file")
    size = p.stat().st_size
    if size == 0:
        raise ModelError(f"{p}: the file is empty (0 bytes); re-export the model")
    if size > MAX_FILE_BYTES:
        raise UnsupportedError(f"{p}: {size:,} bytes is larger than any model bnnc compiles "
                               f"(limit {MAX_FILE_BYTES:,})")
    try:
        model = onnx.load(str(p), load_external_data=False)
    except Exception as exc:  # protobuf DecodeError and friends
        raise ModelError(f"{p}: not a readable ONNX file ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else 'truncated or corrupt'}); "
                         "the file may be truncated or not an ONNX model") from None
    if not model.HasField("graph"):
        raise ModelError(f"{p}: the file parsed but holds no graph (truncated or not ONNX?)")
    for t in model.graph.initializer:
        _tensor_elements(t)
    for node in model.graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                _tensor_elements(attr.t)
    if any(external_data_helper.uses_external_data(t) for t in model.graph.initializer):
        missing = []
        for t in model.graph.initializer:
            if external_data_helper.uses_external_data(t):
                loc = {e.key: e.value for e in t.external_data}.get("location", "")
                if not (p.parent / loc).exists():
                    missing.append(loc)
        if missing:
            raise ModelError(f"{p}: external data file {missing[0]!r} is missing; keep it beside "
                             "the .onnx file (torch writes model.onnx.data next to model.onnx)")
        try:
            external_data_helper.load_external_data_for_model(model, str(p.parent))
        except Exception as exc:
            raise ModelError(f"{p}: could not read external data: {exc}") from None
    _check_structure(model, str(p))
    return model


def _check_structure(model: onnx.ModelProto, where: str) -> None:
    opset = None
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            opset = imp.version
    if opset is None:
        raise UnsupportedError(f"{where}: the model imports no default ONNX opset")
    if opset < MIN_OPSET:
        raise UnsupportedError(f"{where}: opset {opset} is too old; bnnc needs opset >= "
                               f"{MIN_OPSET} (re-export with opset_version={MIN_OPSET} or newer, "
                               "or convert with onnx.version_converter)")
    g = model.graph
    if len(g.node) == 0:
        raise ModelError(f"{where}: the graph is empty (no nodes)")
    inits = {t.name for t in g.initializer}
    real_inputs = [i for i in g.input if i.name not in inits]
    if len(real_inputs) != 1:
        names = ", ".join(repr(i.name) for i in real_inputs) or "none"
        raise UnsupportedError(f"{where}: the graph has {len(real_inputs)} inputs ({names}); "
                               "bnnc compiles models with exactly one image input")
    if len(g.output) != 1:
        raise UnsupportedError(f"{where}: the graph has {len(g.output)} outputs; bnnc needs "
                               "exactly one (the class scores)")
    # dangling names and cycles
    producers: dict[str, int] = {}
    for idx, node in enumerate(g.node):
        for o in node.output:
            if o:
                producers[o] = idx
    available = inits | {i.name for i in g.input}
    for node in g.node:
        for i in node.input:
            if i and i not in available and i not in producers:
                raise ModelError(f"{where}: node {node.name or '(unnamed)'!r} ({node.op_type}) "
                                 f"reads tensor {i!r}, which no node, input or initializer "
                                 "produces (dangling name)")
    for o in g.output:
        if o.name not in producers and o.name not in available:
            raise ModelError(f"{where}: graph output {o.name!r} is produced by no node")
    # Kahn's algorithm: any node left over sits on a cycle
    indeg = []
    users: dict[int, list[int]] = {}
    for idx, node in enumerate(g.node):
        deps = {producers[i] for i in node.input if i in producers}
        indeg.append(len(deps))
        for d in deps:
            users.setdefault(d, []).append(idx)
    ready = [i for i, d in enumerate(indeg) if d == 0]
    done = 0
    while ready:
        i = ready.pop()
        done += 1
        for u in users.get(i, []):
            indeg[u] -= 1
            if indeg[u] == 0:
                ready.append(u)
    if done != len(g.node):
        stuck = next(g.node[i] for i, d in enumerate(indeg) if d > 0)
        raise ModelError(f"{where}: the graph has a cycle (node {stuck.name or '(unnamed)'!r}, "
                         f"{stuck.op_type}, depends on its own output); ONNX graphs must be acyclic")
