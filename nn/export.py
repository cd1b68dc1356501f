"""Export a ``bnnc.nn`` model to one self-contained ONNX file, and check it.

The check is the first rung of the verification ladder (DESIGN.md section 1):
the file passes ``onnx.checker`` and onnxruntime reproduces PyTorch's output.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np
import onnx
import torch
from torch import Tensor

from ..errors import BnncError, UsageError
from .layers import _BinaryWeight
from .subbit import SubBitConv2d, _explicit_codebook_onnx

__all__ = ["ExportError", "export_onnx"]

Exporter = Literal["dynamo", "legacy"]
SubBitForm = Literal["explicit", "folded"]

_INPUT_NAME = "input"
_OUTPUT_NAME = "output"
_BATCH_DIM = "N"


class ExportError(BnncError):
    """The exported ONNX file is invalid or onnxruntime disagrees with PyTorch."""


def export_onnx(model: torch.nn.Module, example: Tensor, path: str | os.PathLike[str], *,
                exporter: Exporter = "dynamo", opset: int = 18, dynamic_batch: bool = True,
                rtol: float = 1e-4, subbit: SubBitForm = "explicit") -> Path:
    """Export ``model`` to a single ONNX file and verify it with onnxruntime.

    The model is exported in eval mode from a private copy (the caller's model
    and its train/eval mode are untouched). In that copy every ``BinaryLinear``
    and ``BinaryConv2d`` holds the signs of its latent weights as a buffer, so
    the weights reach the ONNX file as exact +-1 constants, except where the
    exporter folds an eval-mode BatchNorm into the layer before it: the dynamo
    exporter folds every BatchNorm that follows a Conv or Gemm (the weights
    become +-scale per output channel, plus a bias); the legacy exporter folds
    BatchNorm into Conv only and keeps ``MatMul -> BatchNormalization``.

    Parameters
    ----------
    model : torch.nn.Module
        Model with one tensor input and one tensor output.
    example : Tensor
        Example input batch (uint8 for a model starting with ``Input8``). It
        fixes the non-batch input shape and is used for the onnxruntime check.
    path : str or os.PathLike
        Output ``.onnx`` file. Weights are stored inside it (no external data).
    exporter : {"dynamo", "legacy"}
        ``"dynamo"``: ``torch.onnx.export(dynamo=True)`` (the default exporter,
        with its graph optimizer). ``"legacy"``: the TorchScript exporter
        (``dynamo=False``).
    opset : int
        ONNX default-domain opset version (default 18).
    dynamic_batch : bool
        Name the batch axis of the input and output ``"N"`` (default) instead
        of fixing it to the example's batch size.
    rtol : float
        Allowed difference between onnxruntime and PyTorch, relative to the
        largest magnitude of PyTorch's output (default 1e-4: float rounding).
    subbit : {"explicit", "folded"}
        How ``SubBitConv2d`` layers are written (docs/subbit-training.md).
        ``"explicit"`` (default): the Conv weight is computed in the graph as
        ``Mul(Reshape(Gather(codebook, indices), [C_out, C_in, 3, 3]), scale)``
        with the codebook as a ``(2**tau, 9)`` float +-1 initializer (any
        BatchNorm the exporter folds into the Conv is part of ``scale``).
        ``"folded"``: a plain Conv weight initializer ``scale * codeword``, as
        for ``BinaryConv2d``. Models without sub-bit layers are unaffected.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    UsageError
        Bad arguments (unknown exporter, example not a tensor, ...).
    ExportError
        The checker rejects the file, it refers to external data, or
        onnxruntime's output differs from PyTorch's by more than rounding.
    """
    if exporter not in ("dynamo", "legacy"):
        raise UsageError(f"export_onnx: exporter must be 'dynamo' or 'legacy', not {exporter!r}")
    if subbit not in ("explicit", "folded"):
        raise UsageError(f"export_onnx: subbit must be 'explicit' or 'folded', not {subbit!r}")
    if not isinstance(example, Tensor):
        raise UsageError("export_onnx: example must be one torch.Tensor (the model's single "
                         f"input), not {type(example).__name__}")
    if example.dim() == 0 or example.shape[0] == 0:
        raise UsageError("export_onnx: example must have a non-empty batch axis (axis 0), "
                         f"got shape {tuple(example.shape)}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    model = copy.deepcopy(model).eval()
    with torch.no_grad():
        expected = model(example)
        for m in model.modules():
            if isinstance(m, _BinaryWeight):
                m._freeze()
        if not isinstance(expected, Tensor):
            raise UsageError("export_onnx: the model must return one tensor, not "
                             f"{type(expected).__name__}")
        # torch.export specializes a batch axis of size 1, so trace with at least 2 rows.
        trace_input = example
        if dynamic_batch and example.shape[0] == 1:
            trace_input = example.repeat(2, *([1] * (example.dim() - 1)))
        if exporter == "dynamo":
            _export_dynamo(model, trace_input, path, opset, dynamic_batch)
        else:
            _export_legacy(model, trace_input, path, opset, dynamic_batch)
        subbit_layers = [(name, m) for name, m in model.named_modules()
                         if isinstance(m, SubBitConv2d)]
        if subbit == "explicit" and subbit_layers:
            _explicit_codebook_onnx(path, subbit_layers)
    _check_file(path)
    _check_onnxruntime(path, example, expected.detach().cpu().numpy(), rtol)
    return path


def _export_dynamo(model: torch.nn.Module, x: Tensor, path: Path, opset: int,
                   dynamic: bool) -> None:
    dynamic_shapes = ({0: torch.export.Dim(_BATCH_DIM)},) if dynamic else None
    with _quiet_exporter():
        torch.onnx.export(model, (x,), str(path), dynamo=True, opset_version=opset,
                          input_names=[_INPUT_NAME], output_names=[_OUTPUT_NAME],
                          dynamic_shapes=dynamic_shapes, external_data=False, verbose=False)


def _export_legacy(model: torch.nn.Module, x: Tensor, path: Path, opset: int,
                   dynamic: bool) -> None:
    axes = {_INPUT_NAME: {0: _BATCH_DIM}, _OUTPUT_NAME: {0: _BATCH_DIM}} if dynamic else None
    with _quiet_exporter():
        torch.onnx.export(model, (x,), str(path), dynamo=False, opset_version=opset,
                          input_names=[_INPUT_NAME], output_names=[_OUTPUT_NAME],
                          dynamic_axes=axes, verbose=False)


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence the exporters' deprecation and optional-dependency chatter."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        logger.setLevel(level)


def _check_file(path: Path) -> None:
    model = onnx.load(str(path), load_external_data=False)
    external = [t.name for t in model.graph.initializer
                if t.data_location == onnx.TensorProto.EXTERNAL]
    if external:
        raise ExportError(f"{path}: initializers {external[:5]} refer to external data; "
                          "expected a self-contained file")
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as e:
        raise ExportError(f"{path}: onnx.checker rejects the exported model: {e}") from e


def _check_onnxruntime(path: Path, example: Tensor, expected: np.ndarray, rtol: float) -> None:
    try:
        import onnxruntime as ort
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ExportError("export_onnx verifies the file with onnxruntime, which is not "
                          "installed: pip install 'bnnc[run]'") from e
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {session.get_inputs()[0].name: example.cpu().numpy()})
    if got.shape != expected.shape:
        raise ExportError(f"{path}: onnxruntime output has shape {got.shape}, PyTorch's has "
                          f"{expected.shape}")
    diff = np.abs(got.astype(np.float64) - expected.astype(np.float64))
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    bad = diff > rtol * scale
    if bad.any():
        rows = np.unique(np.nonzero(bad)[0])
        raise ExportError(
            f"{path}: onnxruntime differs from PyTorch by up to {diff.max():.3g} (allowed "
            f"{rtol * scale:.3g}) in {int(bad.sum())} of {bad.size} output values "
            f"(samples {rows[:10].tolist()}). If only a few samples differ, a value before a "
            "binarization is within float rounding of its threshold (an exact tie); "
            "otherwise the exporter changed the model's meaning.")
