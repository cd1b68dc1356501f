"""Binary-weight layers and the 8-bit input stage.

Binary layers keep latent float weights for training; the forward pass uses
their bipolar sign (``w >= 0 -> +1 else -1``) with a straight-through gradient.
:func:`bnnc.nn.export_onnx` exports a copy of the model whose binary layers hold
the signs as a ``weight`` buffer, so the ONNX file contains the weights as
exact +-1 constants (unless the exporter folds a following BatchNorm into them).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import UsageError
from .binarize import binarize

__all__ = ["BinaryConv2d", "BinaryLinear", "Input8", "clip_latent_weights_"]

_PAD_VALUES = (0.0, 1.0, -1.0)


class _BinaryWeight(torch.nn.Module):
    """Shared weight handling: latent float weight, or frozen signs for export."""

    weight: Tensor
    _frozen: bool

    def binary_weight(self) -> Tensor:
        """The weight used by the forward pass: every element +1.0 or -1.0.

        Returns
        -------
        Tensor
            ``sign(latent weight)`` (with sign(0) = +1) and a straight-through
            gradient, or the frozen +-1 buffer after export preparation.
        """
        if self._frozen:
            return self.weight
        return binarize(self.weight)

    def _freeze(self) -> None:
        """Replace the latent weight parameter by a ``weight`` buffer of its signs.

        Irreversible: used by ``export_onnx`` on a private copy of the model.
        """
        if self._frozen:
            return
        with torch.no_grad():
            signs = torch.where(self.weight >= 0, 1.0, -1.0).to(self.weight.dtype)
        del self.weight
        self.register_buffer("weight", signs)
        self._frozen = True


class BinaryLinear(_BinaryWeight):
    """Fully connected layer with bipolar (+-1) weights.

    Parameters
    ----------
    in_features, out_features : int
        Input and output widths.
    bias : bool
        Add a float bias (default ``False``: a following BatchNorm provides it).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = False) -> None:
        super().__init__()
        _check_positive_int("BinaryLinear", "in_features", in_features)
        _check_positive_int("BinaryLinear", "out_features", out_features)
        self.in_features = in_features
        self.out_features = out_features
        self._frozen = False
        self.weight = torch.nn.Parameter(torch.empty(out_features, in_features))
        self.bias = torch.nn.Parameter(torch.empty(out_features)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialize as ``torch.nn.Linear`` does (Kaiming-uniform latent weights)."""
        torch.nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1.0 / math.sqrt(self.in_features)
            torch.nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.binary_weight(), self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class BinaryConv2d(_BinaryWeight):
    """2-D convolution with bipolar (+-1) weights and a choice of padding value.

    Parameters
    ----------
    in_channels, out_channels : int
        Input and output channel counts.
    kernel_size : int
        Square kernel size K.
    stride : int
        Stride (default 1).
    padding : int
        Number of padded rows/columns on each side (default 0).
    pad_value : float
        Value of the padded taps: ``0`` (a padded tap contributes nothing;
        exported as the ONNX Conv ``pads`` attribute), ``+1`` or ``-1``
        (exported as an ONNX ``Pad`` with that constant, then a Conv without
        padding). Binary activations are +-1, so +-1 padding keeps every tap
        binary.
    bias : bool
        Add a float bias (default ``False``).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
                 stride: int = 1, padding: int = 0, pad_value: float = 0.0,
                 bias: bool = False) -> None:
        super().__init__()
        _check_positive_int("BinaryConv2d", "in_channels", in_channels)
        _check_positive_int("BinaryConv2d", "out_channels", out_channels)
        _check_positive_int("BinaryConv2d", "kernel_size", kernel_size)
        _check_positive_int("BinaryConv2d", "stride", stride)
        if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
            raise UsageError(
                f"BinaryConv2d: padding must be a non-negative integer, not {padding!r}")
        if isinstance(pad_value, bool) or not isinstance(pad_value, (int, float)) \
                or float(pad_value) not in _PAD_VALUES:
            raise UsageError(
                f"BinaryConv2d: pad_value must be 0, +1 or -1, not {pad_value!r}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.pad_value = float(pad_value)
        self._frozen = False
        self.weight = torch.nn.Parameter(
            torch.empty(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = torch.nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialize as ``torch.nn.Conv2d`` does (Kaiming-uniform latent weights)."""
        torch.nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.in_channels * self.kernel_size * self.kernel_size
            bound = 1.0 / math.sqrt(fan_in)
            torch.nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        w = self.binary_weight()
        p = self.padding
        if p == 0 or self.pad_value == 0.0:
            return F.conv2d(x, w, self.bias, stride=self.stride, padding=p)
        x = F.pad(x, (p, p, p, p), mode="constant", value=self.pad_value)
        return F.conv2d(x, w, self.bias, stride=self.stride, padding=0)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, pad_value={self.pad_value:+g}, "
                f"bias={self.bias is not None}")


class Input8(torch.nn.Module):
    """First stage of an 8-bit-input network: uint8 pixels to ``(p - mean) / std``.

    Exported as ``uint8 graph input -> Cast(to=float) -> Sub(mean) -> Div(std)``;
    the ``Sub`` is omitted when ``mean == 0``. The scalars are per tensor, so the
    compiler folds them exactly into the first layer's thresholds.

    Parameters
    ----------
    mean : float
        Subtracted from every pixel (default 0).
    std : float
        Divisor, non-zero (default 255: pixels map to [0, 1]).
    """

    def __init__(self, mean: float = 0.0, std: float = 255.0) -> None:
        super().__init__()
        for what, v in (("mean", mean), ("std", std)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise UsageError(f"Input8: {what} must be a finite number (one value for the "
                                 f"whole tensor), not {v!r}")
        if std == 0:
            raise UsageError("Input8: std must be non-zero, not 0")
        self.mean = float(mean)
        self.std = float(std)

    def forward(self, x: Tensor) -> Tensor:
        if x.dtype != torch.uint8:
            raise UsageError(f"Input8 expects a uint8 tensor of raw pixels, not {x.dtype}; "
                             "pass the pixels as torch.uint8 (0..255)")
        y = x.to(torch.float32)
        if self.mean != 0.0:
            y = y - self.mean
        return y / self.std

    def extra_repr(self) -> str:
        return f"mean={self.mean:g}, std={self.std:g}"


def clip_latent_weights_(model: torch.nn.Module, bound: float = 1.0) -> None:
    """Clamp the latent weights of every binary layer in ``model`` to ``[-bound, bound]``.

    Call after each optimizer step: the straight-through gradient is zero for
    ``|w| > 1``, so a latent weight that drifts beyond 1 would never change sign
    again.

    Parameters
    ----------
    model : torch.nn.Module
        Any module; only ``BinaryLinear`` and ``BinaryConv2d`` children are touched.
    bound : float
        Positive clamp bound (default 1).
    """
    if not bound > 0:
        raise UsageError(f"clip_latent_weights_: bound must be positive, not {bound!r}")
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, _BinaryWeight) and not m._frozen:
                m.weight.clamp_(-bound, bound)


def _check_positive_int(layer: str, what: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise UsageError(f"{layer}: {what} must be a positive integer, not {value!r}")
