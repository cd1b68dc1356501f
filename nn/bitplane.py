"""A binarized first layer that reads 8-bit pixels through their bit-planes.

After Vorabbi, Maltoni and Santi (2023), "Input Layer Binarization with
Bit-Plane Encoding" (DESIGN.md section 5). No multi-bit arithmetic touches the
pixels: each pixel is mapped to an 8-bit code, each code bit becomes a +-1 map
(a bit-plane), each (channel, plane) pair goes through its own binary
convolution, and the per-plane results are re-weighted and summed.

For an input of ``C`` channels and ``F`` filters, with ``P = 8`` planes,
``B = C * P * F`` branches, and ``K``, ``s``, ``pad`` the kernel size, stride
and padding (default 3, 1, 1), the forward pass on uint8 pixels
``x[n, c, h, w]`` is

1. code:   ``q[n, c, h, w] = table[x[n, c, h, w]]``           (uint8, 256 entries)
2. planes: ``b[n, c*P + i, h, w] = +1 if (q >> i) & 1 else -1``, ``i = 0`` (LSB) .. 7 (MSB)
3. conv:   ``y = conv2d(pad(b, pad, value=+1), W, stride=s, groups=C*P)`` with
           ``W`` of shape ``(B, 1, K, K)``, every element +-1; output channel
           ``k = (c*P + i)*F + f`` reads plane ``c*P + i`` only, so ``y`` holds
           odd integers in ``[-K*K, K*K]``
4. affine: ``z[:, k] = a[k] * y[:, k] + d[k]``
5. act:    ``r = z if z >= 0 else alpha[k] * z``           (ONNX PRelu)
6. fusion: ``u[n, f, h, w] = sum over c, i of m[i] * r[n, (c*P + i)*F + f, h, w]``
7. BN:     ``out = BatchNorm2d(F)(u)``                     (real-valued; the next layer binarizes)

``docs/bitplane-training.md`` is the contract between this module, its ONNX
export and the compiler.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from fractions import Fraction
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import UsageError
from .layers import _BinaryWeight

__all__ = ["BitPlaneInput", "PLANES", "PARAM_FRAC_BITS", "PARAM_INT_BITS", "SLOPE_MAX_SHIFT",
           "PLANE_MAX_SHIFT", "plane_weight_values", "twos_complement_table"]

PLANES = 8
"""Bit-planes per channel: plane 0 is the least significant bit of the code."""

PlaneWeights = Literal["pow2_half", "pow2", "learned"]
AffineScope = Literal["branch", "filter"]
_PLANE_WEIGHTS = ("pow2_half", "pow2", "learned")
_AFFINE_SCOPES = ("branch", "filter")


def twos_complement_table() -> list[int]:
    """The paper's default code: centre, scale to [-127, 127], take the 8-bit two's complement.

    ``q = clip(round(128 * (p / 127.5 - 1)), -127, 127)`` for ``p = 0..255``,
    stored as the unsigned byte ``q mod 256``. Computed in exact rational
    arithmetic; no ``p`` gives an exact half, so the rounding mode is irrelevant.

    Returns
    -------
    list of int
        256 codes in ``0..255``; entry ``p`` is the code of pixel value ``p``.
    """
    table = []
    for p in range(256):
        q = round(Fraction(128) * (Fraction(p) / Fraction(255, 2) - 1))
        q = max(-127, min(127, q))
        table.append(q % 256)
    return table


def plane_weight_values(kind: str) -> list[float]:
    """The fixed weight of each bit-plane, plane 0 (LSB) first.

    Parameters
    ----------
    kind : {"pow2_half", "pow2", "learned"}
        ``"pow2_half"``: ``m_i = 2**(i // 2)`` = 1, 1, 2, 2, 4, 4, 8, 8 (the
        paper's); ``"pow2"``: ``m_i = 2**i``; ``"learned"``: the initial value
        of learned weights, equal to ``"pow2_half"``.

    Returns
    -------
    list of float
        Eight powers of two.
    """
    if kind == "pow2":
        return [float(2 ** i) for i in range(PLANES)]
    if kind in ("pow2_half", "learned"):
        return [float(2 ** (i // 2)) for i in range(PLANES)]
    raise UsageError(f"BitPlaneInput: plane_weights must be one of {_PLANE_WEIGHTS}, not {kind!r}")


class BitPlaneInput(_BinaryWeight):
    """Bit-plane first layer: uint8 pixels in, ``F`` real-valued feature maps out.

    See the module docstring for the exact computation. Put ``Binarize()``
    after it: the fused, batch-normalized value is what the next layer
    binarizes. The conv weights are latent floats binarized with a
    straight-through estimator (``clip_latent_weights_`` clamps them and
    ``export_onnx`` freezes them to +-1 like ``BinaryConv2d``'s).

    Parameters
    ----------
    in_channels : int
        Pixel channels ``C`` (1 for grey, 3 for RGB).
    filters : int
        Binary filters ``F`` per (channel, plane); also the output channels.
    code : "twos_complement", "identity" or sequence of 256 ints
        Pixel-to-code table. ``"twos_complement"`` (default):
        :func:`twos_complement_table`; ``"identity"``: the pixel's own bits;
        a sequence: entry ``p`` is the code of pixel ``p``, an integer in
        ``0..255`` or ``-128..127`` (read as 8-bit two's complement).
    plane_weights : {"pow2_half", "pow2", "learned"}
        Plane weights ``m_i`` (see :func:`plane_weight_values`); ``"learned"`` makes
        them a parameter of 8 floats initialized to ``"pow2_half"``.
    affine : {"branch", "filter"}
        Scope of the affine ``a, d`` and the negative slope ``alpha``:
        ``"branch"`` (default) one set per (channel, plane, filter);
        ``"filter"`` one per filter, shared by all channels and planes. Both
        export the same per-branch vectors.
    kernel_size, stride, padding : int
        Square kernel (default 3), stride (1) and border rows/columns (1); the
        border is always filled with +1 (bit 1).
    quantize_params : bool
        Train (and export) the per-branch stage on few-bit values, so that the
        compiler's exact tables are narrow (docs/bitplane.md, "Table width"):
        ``a`` and ``d`` on the grid ``k / 2**PARAM_FRAC_BITS`` with
        ``|k| <= 2**PARAM_INT_BITS * 2**PARAM_FRAC_BITS``, the negative slope
        ``alpha`` a signed power of two ``2**-e``, ``0 <= e <= SLOPE_MAX_SHIFT``
        (or 0), learned plane weights a power of two. Straight-through
        estimator: the forward pass uses the quantized values, the gradient
        reaches the float parameters unchanged. Off (default): float32 values,
        exact but wide tables (about 66 bits).
    """

    weight: Tensor
    code_table: Tensor
    plane_table: Tensor
    plane_weight: Tensor

    def __init__(self, in_channels: int, filters: int, *,
                 code: str | Sequence[int] = "twos_complement",
                 plane_weights: PlaneWeights = "pow2_half", affine: AffineScope = "branch",
                 kernel_size: int = 3, stride: int = 1, padding: int = 1,
                 quantize_params: bool = False) -> None:
        super().__init__()
        for what, v in (("in_channels", in_channels), ("filters", filters),
                        ("kernel_size", kernel_size), ("stride", stride)):
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise UsageError(f"BitPlaneInput: {what} must be a positive integer, not {v!r}")
        if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
            raise UsageError(
                f"BitPlaneInput: padding must be a non-negative integer, not {padding!r}")
        if affine not in _AFFINE_SCOPES:
            raise UsageError(f"BitPlaneInput: affine must be one of {_AFFINE_SCOPES}, "
                             f"not {affine!r}")
        weights = plane_weight_values(plane_weights)
        self.in_channels = in_channels
        self.filters = filters
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.code = code if isinstance(code, str) else "table"
        self.plane_weights_kind = plane_weights
        self.affine = affine
        self.quantize_params = bool(quantize_params)
        self._frozen = False

        table = _code_table(code)
        self.register_buffer("code_table", torch.tensor(table, dtype=torch.uint8))
        self.register_buffer("plane_table", torch.tensor(
            [[1.0 if (q >> i) & 1 else -1.0 for i in range(PLANES)] for q in table]))
        m = torch.tensor(weights, dtype=torch.float32)
        if plane_weights == "learned":
            self.plane_weight = torch.nn.Parameter(m)
        else:
            self.register_buffer("plane_weight", m)

        n_branch = in_channels * PLANES * filters
        self.weight = torch.nn.Parameter(torch.empty(n_branch, 1, kernel_size, kernel_size))
        n_affine = n_branch if affine == "branch" else filters
        # Initial scale 1/K: the +-1 conv output y spans [-K*K, K*K], so a*y spans [-K, K].
        self.scale = torch.nn.Parameter(torch.full((n_affine,), 1.0 / kernel_size))
        self.shift = torch.nn.Parameter(torch.zeros(n_affine))
        self.slope = torch.nn.Parameter(torch.full((n_affine,), 0.25))
        self.bn = torch.nn.BatchNorm2d(filters)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Kaiming-uniform latent conv weights, as ``torch.nn.Conv2d`` (fan-in K*K)."""
        torch.nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))

    def _freeze(self) -> None:
        """Prepare for export (irreversible; ``export_onnx`` calls it on a private copy).

        The conv weight becomes a buffer of +-1, and the affine, slope and
        plane weights become plain buffers, per branch whatever ``affine`` was,
        so both exporters write them as constants of the shapes in the contract.
        """
        if self._frozen:
            return
        with torch.no_grad():  # (quantized with quantize_params: read before freezing)
            a, d, alpha = (t.detach().clone() for t in self.branch_affine())
            m = self.plane_weights().detach().clone()
        super()._freeze()
        for name, value in (("scale", a), ("shift", d), ("slope", alpha), ("plane_weight", m)):
            delattr(self, name)
            self.register_buffer(name, value)
        self.affine = "branch"

    # ------------------------------------------------------------ stages

    def planes(self, x: Tensor) -> Tensor:
        """Stages 1-2: uint8 ``(N, C, H, W)`` -> +-1 float ``(N, C*8, H, W)``, index ``c*8 + i``."""
        if x.dtype != torch.uint8:
            raise UsageError(f"BitPlaneInput expects a uint8 tensor of raw pixels, not {x.dtype}; "
                             "pass the pixels as torch.uint8 (0..255)")
        if not torch.jit.is_tracing() and (x.dim() != 4 or x.shape[1] != self.in_channels):
            raise UsageError(f"BitPlaneInput expects pixels of shape (N, {self.in_channels}, H, W), "
                             f"not {tuple(x.shape)}")
        n, c, h, w = x.shape
        pm = F.embedding(x.long(), self.plane_table)                   # (N, C, H, W, 8)
        return pm.permute(0, 1, 4, 2, 3).reshape(n, c * PLANES, h, w)

    def conv(self, planes: Tensor) -> Tensor:
        """Stage 3: +-1 planes ``(N, C*8, H, W)`` -> integer-valued ``(N, C*8*F, H', W')``.

        Pads with +1, then a grouped conv (``groups = C*8``): output channel
        ``(c*8 + i)*F + f`` is plane ``c*8 + i`` correlated with the +-1 kernel
        ``weight[(c*8 + i)*F + f, 0]``.
        """
        p = self.padding
        if p:
            planes = F.pad(planes, (p, p, p, p), mode="constant", value=1.0)
        return F.conv2d(planes, self.binary_weight(), stride=self.stride,
                        groups=self.in_channels * PLANES)

    def activate(self, y: Tensor) -> Tensor:
        """Stages 4-5: ``r = PReLU(a*y + d, alpha)`` per branch, shape unchanged."""
        a, d, alpha = self.branch_affine()
        z = y * a.view(1, -1, 1, 1) + d.view(1, -1, 1, 1)
        return F.prelu(z, alpha)

    def branch_affine(self) -> tuple[Tensor, Tensor, Tensor]:
        """Per-branch ``(a, d, alpha)``, each of shape ``(C*8*F,)``, branch ``(c*8 + i)*F + f``."""
        a: Tensor = self.scale
        d: Tensor = self.shift
        alpha: Tensor = self.slope
        if self.quantize_params and not self._frozen:
            a, d, alpha = _fixed_ste(a), _fixed_ste(d), _pow2_ste(alpha, -SLOPE_MAX_SHIFT, 0)
        if self.affine == "branch":
            return a, d, alpha
        reps = self.in_channels * PLANES
        return a.repeat(reps), d.repeat(reps), alpha.repeat(reps)

    def plane_weights(self) -> Tensor:
        """The 8 plane weights ``m_i`` (powers of two when learned with ``quantize_params``)."""
        m = self.plane_weight
        if self.quantize_params and not self._frozen and isinstance(m, torch.nn.Parameter):
            return _pow2_ste(m, -PLANE_MAX_SHIFT, PLANE_MAX_SHIFT)
        return m

    def fuse(self, r: Tensor) -> Tensor:
        """Stage 6: ``(N, C*8*F, H, W)`` -> ``(N, F, H, W)``, weighted sum over channels and planes."""
        n, _, h, w = r.shape
        r = r.reshape(n, self.in_channels, PLANES, self.filters, h, w)
        return (r * self.plane_weights().view(PLANES, 1, 1, 1)).sum(dim=(1, 2))

    def forward(self, x: Tensor) -> Tensor:
        return self.bn(self.fuse(self.activate(self.conv(self.planes(x)))))

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.filters}, code={self.code}, "
                f"plane_weights={self.plane_weights_kind}, affine={self.affine}, "
                f"kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding} (+1)"
                + (", quantize_params=True" if self.quantize_params else ""))


PARAM_FRAC_BITS = 4
"""With ``quantize_params``: fraction bits of the affine ``a``, ``d`` (grid 1/16)."""
PARAM_INT_BITS = 2
"""With ``quantize_params``: ``|a|, |d| <= 2**PARAM_INT_BITS`` (so 7 bits + sign)."""
SLOPE_MAX_SHIFT = 6
"""With ``quantize_params``: the negative slope is ``+-2**-e``, ``0 <= e <= 6``, or 0."""
PLANE_MAX_SHIFT = 8
"""With ``quantize_params``: learned plane weights are ``2**e``, ``|e| <= 8``."""


def _fixed_ste(x: Tensor) -> Tensor:
    """Round to the grid ``k / 2**PARAM_FRAC_BITS``, clamped; straight-through gradient."""
    step = 2.0 ** PARAM_FRAC_BITS
    lim = 2.0 ** PARAM_INT_BITS
    q = torch.clamp(torch.round(x * step) / step, -lim, lim)
    return x + (q - x).detach()


def _pow2_ste(x: Tensor, lo: int, hi: int) -> Tensor:
    """Nearest signed power of two ``+-2**e`` (in log2), ``lo <= e <= hi``, or 0 below
    ``2**(lo - 1)``; straight-through gradient."""
    mag = x.abs()
    e = torch.clamp(torch.round(torch.log2(torch.clamp(mag, min=2.0 ** (lo - 2)))), lo, hi)
    q = torch.where(mag < 2.0 ** (lo - 1), torch.zeros_like(x), torch.sign(x) * 2.0 ** e)
    return x + (q - x).detach()


def _code_table(code: str | Sequence[int]) -> list[int]:
    if isinstance(code, str):
        if code == "twos_complement":
            return twos_complement_table()
        if code == "identity":
            return list(range(256))
        raise UsageError("BitPlaneInput: code must be 'twos_complement', 'identity' or a "
                         f"sequence of 256 integers, not {code!r}")
    values = list(code)
    if len(values) != 256:
        raise UsageError(f"BitPlaneInput: a code table needs 256 entries (one per pixel "
                         f"value), not {len(values)}")
    bad = [(p, v) for p, v in enumerate(values)
           if isinstance(v, bool) or not isinstance(v, numbers.Integral)
           or not -128 <= v <= 255]
    if bad:
        p, v = bad[0]
        raise UsageError(f"BitPlaneInput: code table entry {p} must be an integer in "
                         f"-128..255, not {v!r}")
    return [int(v) % 256 for v in values]
