"""Save and load IR graphs: ``graph.json`` (nodes) + ``consts.npz`` (constants)."""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from . import ir
from .errors import ModelError

__all__ = ["save_graph", "load_graph", "graph_to_json"]

_NODE_TYPES = {cls.__name__: cls for cls in (
    ir.Input, ir.Conv, ir.Dense, ir.Threshold, ir.MaxPool, ir.Flatten, ir.Output,
    ir.SlidingWindow, ir.MatVec, ir.Pool, ir.FlattenNHWC, ir.WidthConvert,
    ir.SubBitConv, ir.CodebookMatVec,
    ir.BitPlaneConv, ir.CodeMap, ir.BitPlaneMatVec)}


def _dtype_to_json(d: ir.DType) -> dict[str, object]:
    if isinstance(d, ir.Bipolar):
        return {"type": "bipolar"}
    if isinstance(d, ir.UInt):
        return {"type": "uint", "width": d.width}
    if isinstance(d, ir.Int):
        return {"type": "int", "width": d.width}
    raise TypeError(d)


def _dtype_from_json(d: dict[str, Any]) -> ir.DType:
    t = d["type"]
    if t == "bipolar":
        return ir.BIPOLAR
    if t == "uint":
        return ir.UInt(width=int(d["width"]))
    return ir.Int(width=int(d["width"]))


def graph_to_json(graph: ir.Graph) -> dict[str, object]:
    nodes = []
    for n in graph:
        fields: dict[str, object] = {"kind": n.kind}
        for f in dataclasses.fields(n):
            v = getattr(n, f.name)
            if isinstance(v, ir.DType):
                v = _dtype_to_json(v)
            elif isinstance(v, tuple):
                v = list(v)
            fields[f.name] = v
        nodes.append(fields)
    meta = {k: (list(v) if isinstance(v, tuple) else v) for k, v in graph.meta.items()}
    return {"format": "bnnc-ir", "version": 1, "nodes": nodes, "meta": meta}


def save_graph(graph: ir.Graph, directory: str | Path) -> None:
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    (d / "graph.json").write_text(json.dumps(graph_to_json(graph), indent=1) + "\n")
    _write_npz(d / "consts.npz", graph.consts)


def _write_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """An .npz that np.load reads, with fixed zip timestamps (byte-identical rebuilds)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for key in sorted(arrays):
            buf = io.BytesIO()
            arr = np.asarray(arrays[key])
            if arr.dtype == object:  # exact wide integers (bit-plane tables): decimal text
                arr = np.array([str(int(v)) for v in arr.ravel()], dtype=str).reshape(arr.shape)
            np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            zf.writestr(info, buf.getvalue())


def _from_npy(arr: np.ndarray) -> np.ndarray:
    """Decimal text arrays (see :func:`_write_npz`) back to object arrays of Python ints."""
    if arr.dtype.kind != "U":
        return arr
    out = np.empty(arr.shape, dtype=object)
    out.ravel()[:] = [int(v) for v in arr.ravel()]
    return out


def load_graph(directory: str | Path) -> ir.Graph:
    d = Path(directory)
    try:
        spec = json.loads((d / "graph.json").read_text())
        with np.load(d / "consts.npz", allow_pickle=False) as z:
            consts = {k: _from_npy(z[k]) for k in z.files}
    except FileNotFoundError as exc:
        raise ModelError(f"{d}: not a bnnc build directory ({Path(exc.filename).name} is "
                         "missing); run 'bnnc compile' first") from None
    except (ValueError, OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"{d}: the saved IR is corrupt ({exc}); recompile the model") from None
    nodes = []
    for fields in spec["nodes"]:
        cls = _NODE_TYPES[fields.pop("kind")]
        kwargs = {}
        for f in dataclasses.fields(cls):
            if f.name not in fields:
                continue
            v = fields[f.name]
            if isinstance(v, dict) and "type" in v:
                v = _dtype_from_json(v)
            elif isinstance(v, list):
                v = tuple(v)
            kwargs[f.name] = v
        nodes.append(cls(**kwargs))
    meta = spec.get("meta", {})
    return ir.Graph(nodes, consts, meta).verify()
