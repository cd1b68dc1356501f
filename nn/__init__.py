"""bnnc.nn: PyTorch modules for plain binary neural networks, and their ONNX export.

Train with these modules, then :func:`export_onnx` writes the ONNX file that
``bnnc compile`` takes. Semantics follow DESIGN.md section 2: binarization is
``x >= 0 -> +1 else -1`` (sign(0) = +1), weights are bipolar (+-1).
"""

from torch.nn import BatchNorm1d, BatchNorm2d, Flatten, MaxPool2d

from .binarize import Binarize, BinaryInput, binarize
from .bitplane import BitPlaneInput, plane_weight_values, twos_complement_table
from .export import ExportError, export_onnx
from .layers import BinaryConv2d, BinaryLinear, Input8, clip_latent_weights_
from .subbit import SubBitConv2d, kernels_to_patterns, patterns_to_kernels

__all__ = [
    "BatchNorm1d",
    "BatchNorm2d",
    "Binarize",
    "BinaryConv2d",
    "BinaryInput",
    "BinaryLinear",
    "BitPlaneInput",
    "ExportError",
    "Flatten",
    "Input8",
    "MaxPool2d",
    "SubBitConv2d",
    "binarize",
    "clip_latent_weights_",
    "export_onnx",
    "kernels_to_patterns",
    "patterns_to_kernels",
    "plane_weight_values",
    "twos_complement_table",
]
