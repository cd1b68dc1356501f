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


_FOUR_BIT = {getattr(onnx.TensorProto, n) for n in ("INT4", "UINT4", "FLOAT4E2M1")
             if hasattr(onnx.TensorProto, n)}
_COMPLEX = {onnx.TensorProto.COMPLEX64, onnx.TensorProto.COMPLEX128}


def _tensor_label(t: onnx.TensorProto, users: dict[str, onnx.NodeProto]) -> str:
    user = users.get(t.name)
    if user is None:
        return f"initializer {t.name!r}"
    return f"initializer {t.name!r} (input of node {user.name or '(unnamed)'!r}, {user.op_type})"


def _check_tensor(t: onnx.TensorProto, label: str) -> int:
    """Refuse absurd or inconsistent tensors from their header alone, before any allocation.

    Checks the element count against MAX_ELEMENTS and, for data stored in the file, that the
    data holds exactly that many elements, so ``numpy_helper.to_array`` can neither fail nor
    allocate more than the file holds.
    """
    n = 1
    for d in t.dims:
        if d < 0:
            raise ModelError(f"{label} has a negative dimension in shape {list(t.dims)}; the "
                             "file is corrupt, re-export the model")
        n *= d  # Python ints: no overflow, and at most a few dims
    if n > MAX_ELEMENTS:
        raise UnsupportedError(
            f"{label} has shape {list(t.dims)} ({n:,} elements), more than bnnc accepts in one "
            f"tensor ({MAX_ELEMENTS:,}); no FPGA holds such a layer: check the layer sizes "
            "of the exported model")
    if t.data_location == onnx.TensorProto.EXTERNAL:
        return n  # checked again once the external data is read
    dt = t.data_type
    try:
        itemsize = onnx.helper.tensor_dtype_to_np_dtype(dt).itemsize
        field = onnx.helper.tensor_dtype_to_field(dt)
    except (KeyError, ValueError, TypeError):
        raise ModelError(f"{label} has unknown data type {dt}; the file is corrupt or was written "
                         "by a newer ONNX than the installed one (pip install -U onnx)") from None
    if t.HasField("raw_data"):
        want, have, unit = ((n + 1) // 2 if dt in _FOUR_BIT else n * itemsize,
                            len(t.raw_data), "bytes")
    else:
        want = (n + 1) // 2 if dt in _FOUR_BIT else 2 * n if dt in _COMPLEX else n
        have, unit = len(getattr(t, field)), "values"
    if have != want:
        raise ModelError(f"{label} has shape {list(t.dims)} but its data holds {have:,} {unit} "
                         f"instead of {want:,}; the file is corrupt or truncated, re-export the "
                         "model")
    return n


def load_onnx(path: str | os.PathLike[str]) -> onnx.ModelProto:
    """Read an ONNX file (with external data beside it), refusing broken files fast.

    Raises
    ------
    ModelError
        missing, empty, truncated or corrupt file; tensor data that does not match its shape;
        nodes with the wrong number of inputs or a missing required attribute; cyclic graph;
        dangling tensor names.
    UnsupportedError
        too-old opset, several graph inputs or outputs, absurd tensor sizes.
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
        data = p.read_bytes()
    except OSError as exc:
        raise ModelError(f"{p}: cannot read the file ({exc.strerror or exc})") from None
    try:
        model = onnx.load_model_from_string(data)
    except Exception as exc:  # protobuf DecodeError and friends
        raise ModelError(f"{p}: not a readable ONNX file ({type(exc).__name__}); "
                         f"{_what_is_it(data)}") from None
    head = data[:64]
    del data
    if not model.HasField("graph"):
        raise ModelError(f"{p}: the file parsed but holds no ONNX graph; {_what_is_it(head)}")
    users: dict[str, onnx.NodeProto] = {}
    for node in model.graph.node:
        for i in node.input:
            users.setdefault(i, node)
    for t in model.graph.initializer:
        _check_tensor(t, _tensor_label(t, users))
    for node in model.graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                _check_tensor(attr.t, f"node {node.name or '(unnamed)'!r} ({node.op_type}) "
                                      f"attribute {attr.name!r}")
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
            raise ModelError(f"{p}: could not read external data ({type(exc).__name__}: {exc}); "
                             "keep the .data file beside the .onnx file, as exported") from None
        for t in model.graph.initializer:
            _check_tensor(t, _tensor_label(t, users))
    _check_structure(model, str(p))
    return model


def _what_is_it(head: bytes) -> str:
    """A guess at what a file that is not ONNX is, with the fix."""
    if head.startswith(b"version https://git-lfs"):
        return ("it is a Git LFS pointer, not the model: run 'git lfs pull' to fetch the real file")
    if head.startswith(b"PK\x03\x04"):
        return ("it is a zip archive (a PyTorch .pt checkpoint?): export the model with "
                "torch.onnx.export or bnnc.nn.export_onnx")
    return "the file is truncated or corrupt, or not an ONNX model: re-export or copy it again"


def _label(node: onnx.NodeProto) -> str:
    return f"node {node.name or '(unnamed)'!r} ({node.op_type})"


def _check_structure(model: onnx.ModelProto, where: str) -> None:
    opset = None
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            opset = imp.version
    if opset is None:
        raise UnsupportedError(f"{where}: the model imports no default ONNX opset; re-export it "
                               f"with opset_version={MIN_OPSET} or newer")
    if opset < MIN_OPSET:
        raise UnsupportedError(f"{where}: opset {opset} is too old; bnnc needs opset >= "
                               f"{MIN_OPSET} (re-export with opset_version={MIN_OPSET} or newer, "
                               "or convert with onnx.version_converter)")
    g = model.graph
    if len(g.node) == 0:
        raise ModelError(f"{where}: the graph is empty (no nodes); the export probably failed or "
                         "the graph was stripped: re-export the model")
    inits = {t.name for t in g.initializer}
    real_inputs = [i for i in g.input if i.name not in inits]
    if len(real_inputs) != 1:
        names = ", ".join(repr(i.name) for i in real_inputs) or "none"
        raise UnsupportedError(f"{where}: the graph has {len(real_inputs)} inputs ({names}); "
                               "bnnc compiles models with exactly one image input: export with "
                               "a single input and make the others initializers or constants")
    if len(g.output) != 1:
        names = ", ".join(repr(o.name) for o in g.output) or "none"
        raise UnsupportedError(f"{where}: the graph has {len(g.output)} outputs ({names}); bnnc "
                               "needs exactly one (the class scores): export only that output")
    _check_arity(g, opset, where)
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
                raise ModelError(f"{where}: {_label(node)} reads tensor {i!r}, which no node, "
                                 "input or initializer produces (a dangling name); re-export the "
                                 "model or fix the name if the graph was edited by hand")
    for o in g.output:
        if o.name not in producers and o.name not in available:
            raise ModelError(f"{where}: graph output {o.name!r} is produced by no node; re-export "
                             "the model or fix the name if the graph was edited by hand")
    # Kahn's algorithm: any node left over sits on a cycle or downstream of one
    deps: list[set[int]] = []
    users: dict[int, list[int]] = {}
    for idx, node in enumerate(g.node):
        deps.append({producers[i] for i in node.input if i in producers})
        for d in deps[-1]:
            users.setdefault(d, []).append(idx)
    indeg = [len(d) for d in deps]
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
        cycle = _find_cycle(deps, indeg)
        path = " -> ".join(_label(g.node[i]) for i in cycle + cycle[:1])
        raise ModelError(f"{where}: the graph has a cycle: {path}; ONNX graphs must be acyclic "
                         "(loops belong in a Loop op): re-export the model or fix the edited "
                         "names")


def _find_cycle(deps: list[set[int]], indeg: list[int]) -> list[int]:
    """One cycle among the nodes Kahn's algorithm left over, in data-flow order."""
    # Every left-over node has a left-over dependency; walking dependencies must repeat a node.
    i = next(k for k, d in enumerate(indeg) if d > 0)
    seen: dict[int, int] = {}
    walk: list[int] = []
    while i not in seen:
        seen[i] = len(walk)
        walk.append(i)
        i = min(d for d in deps[i] if indeg[d] > 0)
    return list(reversed(walk[seen[i]:]))


def _check_arity(g: onnx.GraphProto, opset: int, where: str) -> None:
    """Input/output counts and required attributes of standard ops, as their schema says.

    Non-standard ops and ops unknown to the installed onnx are left to the converter, which
    reports them as unsupported.
    """
    for node in g.node:
        if node.domain not in ("", "ai.onnx"):
            continue
        try:
            schema = onnx.defs.get_schema(node.op_type, opset, "")
        except onnx.defs.SchemaError:
            continue
        n_in, n_out = len(node.input), len(node.output)
        for what, n, lo, hi in (("inputs", n_in, schema.min_input, schema.max_input),
                                ("outputs", n_out, schema.min_output, schema.max_output)):
            if not lo <= n <= hi:
                want = f"{lo}" if lo == hi else f"{lo} to {hi}" if hi < 1 << 20 else f"{lo} or more"
                noun = what if n != 1 else what[:-1]
                raise ModelError(f"{where}: {_label(node)} has {n} {noun}; {node.op_type} "
                                 f"(opset {opset}) takes {want}; the file is malformed: "
                                 "re-export the model")
        given = {a.name for a in node.attribute}
        for name, attr in schema.attributes.items():
            if attr.required and name not in given:
                raise ModelError(f"{where}: {_label(node)} lacks its required attribute "
                                 f"{name!r}; the file is malformed: re-export the model")
