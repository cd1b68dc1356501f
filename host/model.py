"""The model description the compiler writes for the host (``model.json``), and the
conversions between ONNX-graph values and accelerator words. Numpy only.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .packing import pack_frames, unpack_frames, words_per_frame

__all__ = ["ModelSpec", "InputError", "load_spec"]


class InputError(ValueError):
    """Inputs that do not match what the model's ONNX graph input takes."""


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """What the host needs to feed the accelerator and interpret its output."""

    name: str
    input_name: str
    input_dtype: str  # ONNX graph input element type: "uint8" or "float"
    input_shape: list[int]  # ONNX graph input shape without the batch axis
    frame_shape: list[int]  # (C, H, W) the accelerator sees
    element: str  # "uint8" or "bipolar"
    quant: str  # "uint8" | "quantize_linear" | "binarize"
    quant_scale: float
    quant_zero_point: int
    binarize_threshold: float
    in_words: int  # 64-bit words per frame
    output_name: str
    classes: int
    out_words: int
    scale: list[float]
    bias: list[float]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1) + "\n"

    # ---------------------------------------------------------------- inputs
    def quantize(self, x: np.ndarray) -> np.ndarray:
        """ONNX-graph input values (N, *input_shape) -> accelerator values (N, C, H, W).

        uint8 pixels stay as they are; a float input is quantized exactly as the graph
        does (QuantizeLinear: round half to even, saturate) or binarized (x >= t -> +1).
        """
        x = np.asarray(x)
        want = tuple(self.input_shape)
        if x.ndim == len(want):
            x = x[None]
        if x.ndim != len(want) + 1 or tuple(x.shape[1:]) != want:
            raise InputError(f"input {self.input_name!r} must have shape (N, "
                             f"{', '.join(map(str, want))}), got {tuple(x.shape)}")
        if self.input_dtype == "uint8":
            if x.dtype != np.uint8:
                raise InputError(f"input {self.input_name!r} must be uint8 (the model's graph "
                                 f"input type), got {x.dtype}")
            q = x
        else:
            if not np.issubdtype(x.dtype, np.floating):
                raise InputError(f"input {self.input_name!r} must be floating point, got {x.dtype}")
            if not np.isfinite(x).all():
                raise InputError(f"input {self.input_name!r} holds NaN or infinite values")
            xf = x.astype(np.float32)
            if self.quant == "quantize_linear":
                q = np.clip(np.rint(xf / np.float32(self.quant_scale)) + self.quant_zero_point,
                            0, 255).astype(np.uint8)
            elif self.quant == "binarize":
                q = np.where(xf >= np.float32(self.binarize_threshold), 1, -1).astype(np.int8)
            else:
                raise InputError(f"unknown input quantization {self.quant!r}")
        return np.ascontiguousarray(q).reshape((q.shape[0], *self.frame_shape))

    def pack(self, x: np.ndarray) -> np.ndarray:
        """ONNX-graph input values -> uint64 DMA words for the whole batch."""
        q = self.quantize(x)
        if self.element == "bipolar":
            return pack_frames(q, 1, bipolar=True)
        return pack_frames(q, 8)

    # ---------------------------------------------------------------- outputs
    def unpack(self, words: np.ndarray, n: int) -> np.ndarray:
        """uint64 DMA words -> (n, classes) int64 integer scores."""
        return unpack_frames(words, n, self.classes, 32)

    def scores_to_output(self, scores: np.ndarray) -> np.ndarray:
        """Integer scores -> the ONNX output values (float32): scale * s + bias."""
        s = np.asarray(scores, dtype=np.float64)
        y = s * np.asarray(self.scale, dtype=np.float64) + np.asarray(self.bias, dtype=np.float64)
        return y.astype(np.float32)


def load_spec(path: str | Path) -> ModelSpec:
    """Read a ``model.json`` written by the compiler."""
    data = json.loads(Path(path).read_text())
    return ModelSpec(**data)


def words_for(elements: int, bits: int) -> int:
    return words_per_frame(elements, bits)
