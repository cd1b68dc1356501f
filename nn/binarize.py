"""Binarization with a straight-through estimator (STE).

The forward pass is the bipolar sign of DESIGN.md section 2: ``x >= 0 -> +1``,
otherwise ``-1`` (so sign(0) = +1). The backward pass is the clipped
straight-through estimator of Courbariaux et al.: the incoming gradient passes
where ``|x| <= 1`` and is zero elsewhere.

Both ONNX exporters see the same two operators, ``GreaterOrEqual(x, 0)`` followed
by ``Where(cond, 1, -1)``: the dynamo exporter traces (inlines) the forward of the
autograd function, the legacy TorchScript exporter calls ``_SignSTE.symbolic``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

__all__ = ["Binarize", "BinaryInput", "binarize"]


class _SignSTE(torch.autograd.Function):
    """``x >= 0 -> +1 else -1``; gradient ``grad * (|x| <= 1)``."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        one = torch.ones((), dtype=x.dtype, device=x.device)
        return torch.where(x >= 0, one, -one)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad * (x.abs() <= 1).to(grad.dtype)

    @staticmethod
    def symbolic(g: Any, x: Any) -> Any:
        """Legacy (TorchScript) export: ``Where(GreaterOrEqual(x, 0), 1, -1)``."""
        zero = g.op("Constant", value_t=torch.tensor(0.0, dtype=torch.float32))
        one = g.op("Constant", value_t=torch.tensor(1.0, dtype=torch.float32))
        minus_one = g.op("Constant", value_t=torch.tensor(-1.0, dtype=torch.float32))
        return g.op("Where", g.op("GreaterOrEqual", x, zero), one, minus_one)


def binarize(x: Tensor) -> Tensor:
    """Bipolar sign with a straight-through estimator.

    Parameters
    ----------
    x : Tensor
        Float tensor of any shape.

    Returns
    -------
    Tensor
        Same shape and dtype as ``x``, every element ``+1.0`` (where ``x >= 0``)
        or ``-1.0``. The gradient with respect to ``x`` is ``grad * (|x| <= 1)``.
    """
    return _SignSTE.apply(x)  # type: ignore[no-any-return]


class Binarize(torch.nn.Module):
    """Activation ``x >= 0 -> +1 else -1`` with a clipped straight-through gradient.

    Exports to ONNX as ``GreaterOrEqual(x, 0) -> Where(cond, 1, -1)``.
    """

    def forward(self, x: Tensor) -> Tensor:
        return binarize(x)


class BinaryInput(Binarize):
    """First stage of a binary-input network: binarizes a float input.

    The exported graph's input is float and its first operators are
    ``GreaterOrEqual`` and ``Where``. The accelerator takes the resulting bits.
    """
