"""Sub-bit kernel-subset convolution (Wang et al., "Sub-bit Neural Networks", ICCV 2021).

A :class:`SubBitConv2d` layer restricts its 3x3 binary kernels to a per-layer
codebook of ``2**tau`` distinct binary kernels ("codewords"); every
(output channel, input channel) pair stores only the ``tau``-bit index of its
codeword. Weight bits: ``9 * 2**tau + tau * C_out * C_in`` instead of
``9 * C_out * C_in`` (tau = 5: 0.56 bit per weight for large layers).

Training scheme (written from the paper's description)
------------------------------------------------------
1. Random sampling: the codebook starts as ``2**tau`` distinct kernels drawn
   without replacement from the 512 binary 3x3 kernels (``torch.randperm``,
   so ``torch.manual_seed`` makes it reproducible).
2. Kernel-aware binarization: every latent real kernel ``w`` (one per
   (out, in) pair, 9 taps) is replaced in the forward pass by its nearest
   codeword in Euclidean distance, which for +-1 codewords is the codeword with
   the largest inner product ``<w, c>`` (ties: the lowest codebook row). The
   forward pass uses ``scale[o] * codeword`` and the gradient reaches the latent
   weight straight through (clipped STE: passed where ``|w| <= 1``).
3. Refinement: a real "latent pattern" matrix (``2**tau x 9``, a Parameter
   trained by the user's optimizer) receives, for each codeword, the sum of the
   gradients of all kernels that use it. The binary codebook the forward pass
   uses is a separate buffer (the binary memory); every ``refine_every``
   training steps it is re-binarized from the latent patterns
   (``p >= 0 -> +1``). Duplicates are resolved so the ``2**tau`` codewords stay
   distinct: rows whose sign did not change keep their codeword, changed rows
   claim theirs in order of use (most used first), and a row that collides
   falls back to its previous codeword, or if that is taken too, to the free
   9-bit kernel nearest to its latent pattern; its latent pattern is then
   aligned with the codeword it got.
4. Per-output-channel scale (positive): ``"mean_abs"`` (mean absolute latent
   weight of the output channel, as XNOR-Net), ``"learned"`` (``exp`` of a
   learnable log-scale) or ``"none"`` (1).

Codeword bit order (the one order used everywhere in bnnc)
----------------------------------------------------------
A 3x3 binary kernel ``k`` (values +-1, indexed ``k[ky, kx]``) is the 9-bit
*pattern* ``p = sum over taps of b(ky, kx) << (3 * ky + kx)``, with bit
``b = 1`` for ``+1`` and ``0`` for ``-1`` (bipolar encoding of DESIGN.md
section 2). Tap (0, 0) is bit 0 (least significant), tap (0, 2) is bit 2,
tap (2, 2) is bit 8. This is the row-major flattening of the kernel, so the
ONNX form ``Reshape(Gather(codebook[2**tau, 9], indices), [C_out, C_in, 3, 3])``
puts element ``t = 3 * ky + kx`` of a codebook row at tap ``(ky, kx)``.
:func:`kernels_to_patterns` and :func:`patterns_to_kernels` convert.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import UsageError
from .layers import _PAD_VALUES, _BinaryWeight, _check_positive_int

__all__ = ["SubBitConv2d", "kernels_to_patterns", "patterns_to_kernels"]

Scale = Literal["mean_abs", "learned", "none"]

_TAPS = 9
_TAU_MAX = 8
# _ALL_KERNELS[p] is the +-1 kernel (flattened, float) of 9-bit pattern p.
_BIT_WEIGHTS = (1 << torch.arange(_TAPS, dtype=torch.int64))
_ALL_KERNELS = torch.where((torch.arange(512)[:, None] & _BIT_WEIGHTS) != 0, 1.0, -1.0)


def kernels_to_patterns(kernels: Tensor) -> Tensor:
    """9-bit patterns of +-1 3x3 kernels (the bit order of the module docstring).

    Parameters
    ----------
    kernels : Tensor
        Shape ``(..., 3, 3)``; an element ``>= 0`` counts as +1 (bit 1), a
        negative one as -1 (bit 0).

    Returns
    -------
    Tensor
        int64, shape ``(...)``: ``sum of (k[ky, kx] >= 0) << (3 * ky + kx)``.
    """
    if kernels.dim() < 2 or tuple(kernels.shape[-2:]) != (3, 3):
        raise UsageError("kernels_to_patterns: expected a tensor of 3x3 kernels (shape "
                         f"(..., 3, 3)), not shape {tuple(kernels.shape)}")
    bits = (kernels.reshape(*kernels.shape[:-2], _TAPS) >= 0).to(torch.int64)
    return (bits * _BIT_WEIGHTS.to(kernels.device)).sum(dim=-1)


def patterns_to_kernels(patterns: Tensor) -> Tensor:
    """+-1 3x3 kernels of 9-bit patterns (inverse of :func:`kernels_to_patterns`).

    Parameters
    ----------
    patterns : Tensor
        Integer tensor of any shape, values in 0..511.

    Returns
    -------
    Tensor
        int8, shape ``(..., 3, 3)``: tap ``(ky, kx)`` is +1 where bit
        ``3 * ky + kx`` is set, else -1.
    """
    if patterns.is_floating_point() or patterns.is_complex() or patterns.dtype == torch.bool:
        raise UsageError(f"patterns_to_kernels: expected an integer tensor, not {patterns.dtype}")
    if patterns.numel() and (int(patterns.min()) < 0 or int(patterns.max()) > 511):
        raise UsageError("patterns_to_kernels: 9-bit patterns must lie in 0..511, found "
                         f"{int(patterns.min())}..{int(patterns.max())}")
    bits = (patterns.to(torch.int64)[..., None] & _BIT_WEIGHTS.to(patterns.device)) != 0
    one = torch.ones((), dtype=torch.int8, device=patterns.device)
    return torch.where(bits, one, -one).reshape(*patterns.shape, 3, 3)


class _GatherCodewords(torch.autograd.Function):
    """``codebook[indices]`` with straight-through gradients to two latent tensors.

    Forward: the selected +-1 codewords, shape ``(C_out, C_in, 9)``. Backward:
    the latent kernels get the incoming gradient where ``|w| <= 1``; each latent
    pattern row gets the sum of the gradients of the kernels that selected it.
    """

    @staticmethod
    def forward(  # type: ignore[override]
            ctx: Any, weight: Tensor, patterns: Tensor, codebook: Tensor, indices: Tensor
    ) -> Tensor:
        ctx.save_for_backward(weight, indices)
        ctx.rows = codebook.shape[0]
        return codebook[indices]

    @staticmethod
    def backward(  # type: ignore[override]
            ctx: Any, grad: Tensor) -> tuple[Tensor, Tensor, None, None]:
        weight, indices = ctx.saved_tensors
        grad_weight = grad * (weight.abs() <= 1).to(grad.dtype)
        grad_patterns = torch.zeros(ctx.rows, _TAPS, dtype=grad.dtype, device=grad.device)
        grad_patterns.index_add_(0, indices.reshape(-1), grad.reshape(-1, _TAPS))
        return grad_weight, grad_patterns, None, None


class SubBitConv2d(_BinaryWeight):
    """3x3 binary convolution whose kernels come from a learned codebook of ``2**tau``.

    See the module docstring for the training scheme and the codeword bit order.
    Exported by :func:`bnnc.nn.export_onnx` either with the codebook explicit
    (``Gather`` over the codebook, the default) or folded into a plain ``Conv``
    weight; docs/subbit-training.md is the contract.

    Parameters
    ----------
    in_channels, out_channels : int
        Channel counts.
    tau : int
        Index bits per kernel, 1..8: the codebook has ``2**tau`` distinct
        kernels (default 5: 32 codewords).
    stride : int
        Stride (default 1).
    padding : int
        Padded rows/columns on each side (default 0).
    pad_value : float
        ``0``, ``+1`` or ``-1``, as :class:`bnnc.nn.BinaryConv2d`.
    refine_every : int or None
        Re-binarize the codebook from the latent patterns every this many
        training steps (forward passes in training mode with gradients
        enabled; default 20). ``None``: only when :meth:`refine` is called.
    scale : {"mean_abs", "learned", "none"}
        Per-output-channel positive scale of the kernels (default ``"mean_abs"``).
    pattern_init : float
        Magnitude of the initial latent patterns (``pattern_init * codeword``,
        default 0.25): with Adam at learning rate ``lr`` a tap can flip after
        about ``pattern_init / lr`` steps of consistent gradient.
    """

    weight: Tensor
    codewords: Tensor
    steps: Tensor
    frozen_indices: Tensor  # after _freeze
    frozen_scale: Tensor  # after _freeze

    def __init__(self, in_channels: int, out_channels: int, tau: int = 5, *, stride: int = 1,
                 padding: int = 0, pad_value: float = 0.0, refine_every: int | None = 20,
                 scale: Scale = "mean_abs", pattern_init: float = 0.25) -> None:
        super().__init__()
        _check_positive_int("SubBitConv2d", "in_channels", in_channels)
        _check_positive_int("SubBitConv2d", "out_channels", out_channels)
        _check_positive_int("SubBitConv2d", "stride", stride)
        if isinstance(tau, bool) or not isinstance(tau, int) or not 1 <= tau <= _TAU_MAX:
            raise UsageError(f"SubBitConv2d: tau must be an integer from 1 to {_TAU_MAX} "
                             f"(a codebook of 2**tau distinct 3x3 kernels), not {tau!r}")
        if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
            raise UsageError(
                f"SubBitConv2d: padding must be a non-negative integer, not {padding!r}")
        if isinstance(pad_value, bool) or not isinstance(pad_value, (int, float)) \
                or float(pad_value) not in _PAD_VALUES:
            raise UsageError(
                f"SubBitConv2d: pad_value must be 0, +1 or -1, not {pad_value!r}")
        if refine_every is not None:
            _check_positive_int("SubBitConv2d", "refine_every", refine_every)
        if scale not in ("mean_abs", "learned", "none"):
            raise UsageError("SubBitConv2d: scale must be 'mean_abs', 'learned' or 'none', "
                             f"not {scale!r}")
        if isinstance(pattern_init, bool) or not isinstance(pattern_init, (int, float)) \
                or not 0 < pattern_init <= 1:
            raise UsageError(f"SubBitConv2d: pattern_init must be in (0, 1], not {pattern_init!r}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = 3
        self.tau = tau
        self.stride = stride
        self.padding = padding
        self.pad_value = float(pad_value)
        self.refine_every = refine_every
        self.scale_mode: Scale = scale
        self._frozen = False

        rows = 1 << tau
        self.weight = torch.nn.Parameter(torch.empty(out_channels, in_channels, 3, 3))
        torch.nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        sampled = torch.randperm(512)[:rows]
        codewords = patterns_to_kernels(sampled).reshape(rows, _TAPS)
        self.register_buffer("codewords", codewords)
        self.latent_patterns = torch.nn.Parameter(codewords.float() * float(pattern_init))
        self.log_scale = (torch.nn.Parameter(torch.zeros(out_channels))
                          if scale == "learned" else None)
        self.register_buffer("steps", torch.zeros((), dtype=torch.int64))

    # ------------------------------------------------------------ public views

    def codebook(self) -> Tensor:
        """The current codewords: int8, shape ``(2**tau, 3, 3)``, values +-1, rows distinct."""
        return self.codewords.detach().clone().reshape(-1, 3, 3)

    def codebook_patterns(self) -> Tensor:
        """The codewords as 9-bit patterns (int64, shape ``(2**tau,)``; see the bit order)."""
        return kernels_to_patterns(self.codebook())

    def indices(self) -> Tensor:
        """Codeword index of every kernel: int64, shape ``(C_out, C_in)``, in ``0..2**tau-1``."""
        if self._frozen:
            return self.frozen_indices.detach().clone()
        with torch.no_grad():
            return self._select(self.weight.detach())

    def channel_scale(self) -> Tensor:
        """The positive per-output-channel scale: float, shape ``(C_out,)``."""
        if self._frozen:
            return self.frozen_scale.detach().clone()
        with torch.no_grad():
            return self._scale(self.weight.detach())

    def effective_weight(self) -> Tensor:
        """The weight the forward pass convolves with: ``scale[o] * codebook[indices[o, i]]``.

        Returns
        -------
        Tensor
            float, shape ``(C_out, C_in, 3, 3)``.
        """
        if self._frozen:
            return self.weight.detach().clone()
        cb = self.codebook().to(torch.float32)
        return self.channel_scale()[:, None, None, None] * cb[self.indices()]

    def weight_bits(self) -> dict[str, int]:
        """Weight storage: plain BNN ``9*C_out*C_in`` vs sub-bit ``9*2**tau + tau*C_out*C_in``."""
        pairs = self.out_channels * self.in_channels
        return {"plain": _TAPS * pairs, "subbit": _TAPS * (1 << self.tau) + self.tau * pairs}

    # ------------------------------------------------------------ training

    def binary_weight(self) -> Tensor:
        """The weight of the forward pass (see :meth:`effective_weight`), with STE gradients."""
        if self._frozen:
            return self.weight
        w = self.weight
        with torch.no_grad():
            idx = self._select(w.detach())
        kernels = _GatherCodewords.apply(w.reshape(self.out_channels, self.in_channels, _TAPS),
                                         self.latent_patterns, self.codewords.to(w.dtype), idx)
        sign_weight = kernels.reshape(self.out_channels, self.in_channels, 3, 3)
        return self._scale(w)[:, None, None, None] * sign_weight

    def forward(self, x: Tensor) -> Tensor:
        if self.training and not self._frozen and torch.is_grad_enabled():
            self.steps += 1
            if self.refine_every is not None and int(self.steps) % self.refine_every == 0:
                self.refine()
        w = self.binary_weight()
        p = self.padding
        if p == 0 or self.pad_value == 0.0:
            return F.conv2d(x, w, None, stride=self.stride, padding=p)
        x = F.pad(x, (p, p, p, p), mode="constant", value=self.pad_value)
        return F.conv2d(x, w, None, stride=self.stride, padding=0)

    def refine(self) -> None:
        """Re-binarize the codebook from the latent patterns, keeping the codewords distinct.

        See step 3 of the module docstring. Also clamps the latent patterns to
        ``[-1, 1]``.
        """
        if self._frozen:
            raise UsageError("SubBitConv2d.refine: the layer is frozen for export; refine the "
                             "trained model, not the exported copy")
        with torch.no_grad():
            latent = self.latent_patterns
            latent.clamp_(-1.0, 1.0)
            old = self.codewords.clone()
            proposed = torch.where(latent >= 0, 1, -1).to(torch.int8)
            old_codes = _codes(old)
            new_codes = _codes(proposed)
            usage = torch.bincount(self._select(self.weight.detach()).reshape(-1),
                                   minlength=old.shape[0]).tolist()
            unchanged = [k for k in range(old.shape[0]) if new_codes[k] == old_codes[k]]
            changed = sorted((k for k in range(old.shape[0]) if new_codes[k] != old_codes[k]),
                             key=lambda k: (-usage[k], k))
            taken: set[int] = set()
            result = list(old_codes)
            pending = []
            for k in unchanged + changed:
                if new_codes[k] in taken:
                    pending.append(k)
                else:
                    result[k] = new_codes[k]
                    taken.add(new_codes[k])
            for k in pending:
                if old_codes[k] not in taken:
                    result[k] = old_codes[k]
                else:
                    score = _ALL_KERNELS.to(latent.device, latent.dtype) @ latent[k]
                    score[list(taken)] = -math.inf
                    result[k] = int(torch.argmax(score))  # first maximum: lowest pattern
                taken.add(result[k])
            codewords = patterns_to_kernels(torch.tensor(result)).reshape(-1, _TAPS)
            self.codewords.copy_(codewords.to(self.codewords.device))
            # Align each latent row's signs with its codeword (changes only the fallback rows).
            target = codewords.to(latent.device, latent.dtype)
            latent.copy_(target * latent.abs().clamp_min(1e-3))

    # ------------------------------------------------------------ internals

    def _select(self, w: Tensor) -> Tensor:
        """Nearest codeword of each latent kernel: argmax of the inner product (first on ties)."""
        flat = w.reshape(self.out_channels * self.in_channels, _TAPS)
        scores = flat @ self.codewords.to(flat.dtype).t()
        return torch.argmax(scores, dim=1).reshape(self.out_channels, self.in_channels)

    def _scale(self, w: Tensor) -> Tensor:
        if self.scale_mode == "mean_abs":
            return w.abs().mean(dim=(1, 2, 3))
        if self.scale_mode == "learned" and self.log_scale is not None:
            return torch.exp(self.log_scale)
        return torch.ones(self.out_channels, dtype=w.dtype, device=w.device)

    def _freeze(self) -> None:
        """Replace the latent parameters by buffers: the effective weight, indices, scale.

        Irreversible: used by ``export_onnx`` on a private copy of the model.
        """
        if self._frozen:
            return
        with torch.no_grad():
            idx = self._select(self.weight.detach())
            scale = self._scale(self.weight.detach()).detach().clone()
            weight = scale[:, None, None, None] * self.codewords.to(scale.dtype)[idx].reshape(
                self.out_channels, self.in_channels, 3, 3)
        del self.weight
        del self.latent_patterns
        self.log_scale = None
        self.register_buffer("weight", weight)
        self.register_buffer("frozen_indices", idx)
        self.register_buffer("frozen_scale", scale)
        self._frozen = True

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, tau={self.tau}, stride={self.stride}, "
                f"padding={self.padding}, pad_value={self.pad_value:+g}, "
                f"refine_every={self.refine_every}, scale={self.scale_mode!r}")


def _codes(codewords: Tensor) -> list[int]:
    """9-bit pattern of each row of a ``(rows, 9)`` +-1 tensor."""
    return kernels_to_patterns(codewords.reshape(-1, 3, 3)).tolist()  # type: ignore[no-any-return]


# ---------------------------------------------------------------- ONNX: explicit codebook form

def _explicit_codebook_onnx(path: Path, layers: list[tuple[str, SubBitConv2d]]) -> None:
    """Rewrite an exported file so each sub-bit Conv computes its weight from its codebook.

    Expects ``path`` written by the exporter from a model whose ``layers`` are
    frozen (the "folded" form: each such layer is a ``Conv`` whose weight
    initializer is ``s[o] * codebook[indices[o, i]]``, where ``s`` is the
    layer's scale times any BatchNorm factor the exporter folded in). Replaces
    that initializer by ``Mul(Reshape(Gather(codebook, indices), shape), s)``
    (docs/subbit-training.md); the new weight equals the old one bit for bit.

    Raises
    ------
    ExportError
        A layer's Conv cannot be found (its weight is not of that form).
    """
    from .export import ExportError  # local: export.py imports this module

    model = onnx.load(str(path))
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    used = ({n.name for n in graph.node} | {o for n in graph.node for o in n.output}
            | set(inits) | {i.name for i in graph.input} | {o.name for o in graph.output}
            | {v.name for v in graph.value_info})
    claimed: set[int] = set()
    for qualname, layer in layers:
        codebook = layer.codewords.detach().cpu().numpy().astype(np.float32)  # (K, 9)
        indices = layer.frozen_indices.detach().cpu().numpy().astype(np.int64)  # (O, I)
        signs = codebook[indices].reshape(layer.out_channels, layer.in_channels, 3, 3)
        found = None
        for pos, node in enumerate(graph.node):
            if node.op_type != "Conv" or pos in claimed or len(node.input) < 2 \
                    or node.input[1] not in inits:
                continue
            w = onnx.numpy_helper.to_array(inits[node.input[1]])
            if w.shape != signs.shape or w.dtype != np.float32:
                continue
            s = w[:, 0, 0, 0] * signs[:, 0, 0, 0]  # exact: signs are +-1
            if np.array_equal(w, s[:, None, None, None] * signs):
                found = (pos, node, s.astype(np.float32))
                break
        if found is None:
            raise ExportError(
                f"{path}: no Conv in the exported graph has the weights of SubBitConv2d "
                f"'{qualname}' (per output channel, a scale times the codewords it selects); "
                "export with subbit='folded', or report this as a bug")
        pos, node, scale = found
        claimed.add(pos)
        old_weight = node.input[1]
        prefix = qualname or "subbit"

        def fresh(base: str) -> str:
            name, n = base, 1
            while name in used:
                name, n = f"{base}_{n}", n + 1
            used.add(name)
            return name

        # The folded weight initializer goes unless another node reads it.
        readers = sum(1 for n in graph.node for i in n.input if i == old_weight)
        if readers == 1:
            graph.initializer.remove(inits.pop(old_weight))
            used.discard(old_weight)
        t_codebook = fresh(f"{prefix}.codebook")
        t_indices = fresh(f"{prefix}.indices")
        t_shape = fresh(f"{prefix}.kernel_shape")
        t_scale = fresh(f"{prefix}.scale")
        t_kernels = fresh(f"{prefix}.kernels")
        t_signs = fresh(f"{prefix}.sign_weight")
        t_weight = fresh(f"{prefix}.weight")
        o, i = indices.shape
        for name, array in ((t_codebook, codebook), (t_indices, indices),
                            (t_shape, np.array([o, i, 3, 3], dtype=np.int64)),
                            (t_scale, scale.reshape(o, 1, 1, 1))):
            tensor = onnx.numpy_helper.from_array(array, name)
            graph.initializer.append(tensor)
            inits[name] = tensor
        new_nodes = [
            onnx.helper.make_node("Gather", [t_codebook, t_indices], [t_kernels], axis=0,
                                  name=fresh(f"{prefix}.subbit_gather")),
            onnx.helper.make_node("Reshape", [t_kernels, t_shape], [t_signs],
                                  name=fresh(f"{prefix}.subbit_reshape")),
            onnx.helper.make_node("Mul", [t_signs, t_scale], [t_weight],
                                  name=fresh(f"{prefix}.subbit_scale")),
        ]
        float_t = onnx.TensorProto.FLOAT
        graph.value_info.extend([
            onnx.helper.make_tensor_value_info(t_kernels, float_t, [o, i, _TAPS]),
            onnx.helper.make_tensor_value_info(t_signs, float_t, [o, i, 3, 3]),
            onnx.helper.make_tensor_value_info(t_weight, float_t, [o, i, 3, 3]),
        ])
        node.input[1] = t_weight
        for k, new in enumerate(new_nodes):
            graph.node.insert(pos + k, new)
        claimed = {c + len(new_nodes) if c >= pos else c for c in claimed}
    onnx.save(model, str(path))
