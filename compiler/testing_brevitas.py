"""Brevitas reference networks (BNN-PYNQ topologies), exported to QONNX, and qonnx's executor.

The networks follow the published BNN-PYNQ / FINN topologies:

* TFC-W1A1 / LFC-W1A1: 1x28x28 input, flattened, ``2x - 1``, binarized (1-bit input
  quantizer); three binary dense layers of 64 (TFC) or 1024 (LFC) units, each followed by
  BatchNorm and a binary activation; a binary dense layer of 10 and a scalar TensorNorm.
* CNV-W1A1: 3x32x32 input, ``2x - 1``, an 8-bit input quantizer (scale 2^-7); binary 3x3
  convolutions without padding 64, 64, max-pool 2, 128, 128, max-pool 2, 256, 256 (each
  with BatchNorm and a binary activation); dense 512, 512 (BatchNorm, binary) and 10; a
  scalar TensorNorm.

Weights are random latent floats behind binary quantizers; BatchNorm statistics are
calibrated on random inputs and gamma/beta randomized (some gamma negative, one zero), so
thresholds are non-trivial. Throughput and bit-exactness do not depend on trained values.

brevitas and torch are imported only when a builder is called.

>>> from bnnc.testing_brevitas import build, export_qonnx  # doctest: +SKIP
>>> path = export_qonnx(build("cnv-w1a1", seed=0), "cnv.onnx")  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["NETWORKS", "INPUT_SHAPES", "build", "export_qonnx", "build_qonnx", "run_qonnx",
           "random_inputs", "compare_outputs"]

#: network name -> (kind, hidden width) ; the BNN-PYNQ names
NETWORKS = {"tfc-w1a1": ("fc", 64), "lfc-w1a1": ("fc", 1024), "cnv-w1a1": ("cnv", 0)}
INPUT_SHAPES = {"tfc-w1a1": (1, 28, 28), "lfc-w1a1": (1, 28, 28), "cnv-w1a1": (3, 32, 32)}

_TIE_REL = 2.0 ** -20
_CNV_CONVS = ((64, False), (64, True), (128, False), (128, True), (256, False), (256, False))
_CNV_DENSE = (512, 512)


def _modules() -> dict[str, Any]:
    """Import torch and brevitas lazily and define the modules that need them."""
    import torch
    from torch import nn
    import brevitas.nn as qnn
    from brevitas.core.scaling import ScalingImplType
    from brevitas.quant import (Int8ActPerTensorFloat, SignedBinaryActPerTensorConst,
                                SignedBinaryWeightPerTensorConst)

    class Input8Bit(Int8ActPerTensorFloat):
        """Signed 8-bit input quantizer with the fixed scale 2^-7 (range [-1, 1 - 2^-7])."""

        scaling_impl_type = ScalingImplType.CONST
        scaling_const = 127 / 128  # brevitas divides by 127: scale 2^-7 exactly
        min_val = -1.0
        max_val = 127 / 128

    class TensorNorm(nn.Module):
        """One scale and one offset for the whole tensor (BNN-PYNQ's final normalization).

        Eval: ``(x - mean) / (var + eps) ** 0.5 * weight + bias``, exported as Sub, Pow (on
        constants), Div, Mul, Add.
        """

        def __init__(self, eps: float = 1e-4) -> None:
            super().__init__()
            self.eps = eps
            self.weight = nn.Parameter(torch.tensor(1.0))
            self.bias = nn.Parameter(torch.tensor(0.0))
            self.register_buffer("running_mean", torch.tensor(0.0))
            self.register_buffer("running_var", torch.tensor(1.0))

        def forward(self, x: "torch.Tensor") -> "torch.Tensor":
            mean, var = self.running_mean, self.running_var
            x = (x - mean) / (var + self.eps).pow(0.5)  # type: ignore[operator, union-attr]
            return x * self.weight + self.bias

    def binary_act() -> nn.Module:
        return qnn.QuantIdentity(act_quant=SignedBinaryActPerTensorConst)

    class FC(nn.Module):
        def __init__(self, hidden: int, layers: int, in_features: int, classes: int) -> None:
            super().__init__()
            self.input_quant = binary_act()
            feats: list[nn.Module] = []
            fin = in_features
            for _ in range(layers):
                feats += [qnn.QuantLinear(fin, hidden, bias=False,
                                          weight_quant=SignedBinaryWeightPerTensorConst),
                          nn.BatchNorm1d(hidden, eps=1e-4), binary_act()]
                fin = hidden
            self.features = nn.Sequential(*feats)
            self.classifier = qnn.QuantLinear(fin, classes, bias=False,
                                              weight_quant=SignedBinaryWeightPerTensorConst)
            self.norm = TensorNorm()

        def forward(self, x: "torch.Tensor") -> "torch.Tensor":
            x = torch.flatten(x, 1)
            x = self.input_quant(2.0 * x - 1.0)
            return self.norm(self.classifier(self.features(x)))

    class CNV(nn.Module):
        def __init__(self, classes: int) -> None:
            super().__init__()
            self.input_quant = qnn.QuantIdentity(act_quant=Input8Bit)
            convs: list[nn.Module] = []
            cin = 3
            for cout, pool in _CNV_CONVS:
                convs += [qnn.QuantConv2d(cin, cout, 3, bias=False,
                                          weight_quant=SignedBinaryWeightPerTensorConst),
                          nn.BatchNorm2d(cout, eps=1e-4), binary_act()]
                if pool:
                    convs.append(nn.MaxPool2d(2))
                cin = cout
            self.convs = nn.Sequential(*convs)
            dense: list[nn.Module] = []
            fin = cin
            for fout in _CNV_DENSE:
                dense += [qnn.QuantLinear(fin, fout, bias=False,
                                          weight_quant=SignedBinaryWeightPerTensorConst),
                          nn.BatchNorm1d(fout, eps=1e-4), binary_act()]
                fin = fout
            self.dense = nn.Sequential(*dense)
            self.classifier = qnn.QuantLinear(fin, classes, bias=False,
                                              weight_quant=SignedBinaryWeightPerTensorConst)
            self.norm = TensorNorm()

        def forward(self, x: "torch.Tensor") -> "torch.Tensor":
            x = self.input_quant(2.0 * x - 1.0)
            x = torch.flatten(self.convs(x), 1)
            return self.norm(self.classifier(self.dense(x)))

    return dict(torch=torch, nn=nn, FC=FC, CNV=CNV, TensorNorm=TensorNorm)


def random_inputs(name: str, n: int, seed: int = 0) -> np.ndarray:
    """``n`` float32 frames of pixels/255 in [0, 1] for network ``name``."""
    rng = np.random.default_rng(seed)
    shape = INPUT_SHAPES[_check_name(name)]
    return (rng.integers(0, 256, (n, *shape)) / 255.0).astype(np.float32)


def _check_name(name: str) -> str:
    key = name.lower()
    if key not in NETWORKS:
        raise ValueError(f"unknown network {name!r}; choose one of {', '.join(NETWORKS)}")
    return key


def build(name: str, *, seed: int = 0, classes: int = 10, calibrate: int = 64) -> Any:
    """A BNN-PYNQ network in Brevitas, in eval mode, with calibrated random BatchNorms.

    Parameters
    ----------
    name:
        ``"tfc-w1a1"``, ``"lfc-w1a1"`` or ``"cnv-w1a1"``.
    seed:
        seeds the latent weights, the calibration inputs and gamma/beta.
    calibrate:
        random frames whose statistics become the BatchNorm running mean/var.
    """
    key = _check_name(name)
    m = _modules()
    torch, nn = m["torch"], m["nn"]
    kind, hidden = NETWORKS[key]
    torch.manual_seed(seed)
    if kind == "fc":
        net = m["FC"](hidden, 3, int(np.prod(INPUT_SHAPES[key])), classes)
    else:
        net = m["CNV"](classes)
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for mod in net.modules():  # latent weights within the binary quantizer's clamp
            if hasattr(mod, "weight_quant") and isinstance(getattr(mod, "weight", None),
                                                           torch.Tensor):
                mod.weight.uniform_(-0.1, 0.1)
        norms = [mod for mod in net.modules()
                 if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d, m["TensorNorm"]))]
        for bn in norms:
            if isinstance(bn, m["TensorNorm"]):
                continue
            bn.momentum = None  # cumulative average over the calibration batches
            bn.reset_running_stats()
        net.train()
        x = torch.from_numpy(random_inputs(key, calibrate, seed))
        feats = _forward_until_norm(net, x)
        net.eval()
        for bn in norms:
            if isinstance(bn, m["TensorNorm"]):
                mean, std = float(feats.mean()), float(feats.std()) + 1e-3
                bn.running_mean.fill_(mean)
                bn.running_var.fill_(std * std)
                bn.weight.fill_(float(rng.uniform(0.5, 2.0)))
                bn.bias.fill_(float(rng.normal(0.0, 0.5)))
                continue
            c = bn.num_features
            gamma = rng.normal(1.0, 0.5, c) * rng.choice([1.0, -1.0], c, p=[0.8, 0.2])
            gamma[rng.integers(0, c)] = 0.0  # a constant channel (gamma == 0)
            bn.weight.copy_(torch.from_numpy(gamma.astype(np.float32)))
            bn.bias.copy_(torch.from_numpy(rng.normal(0.0, 0.3, c).astype(np.float32)))
    net.bnnc_input_shape = INPUT_SHAPES[key]
    return net.eval()


def _forward_until_norm(net: Any, x: Any) -> Any:
    """Forward in train mode (updating BatchNorm statistics); returns the classifier output."""
    out = x
    out = net.input_quant(2.0 * out - 1.0) if not hasattr(net, "features") else \
        net.input_quant(2.0 * out.flatten(1) - 1.0)
    if hasattr(net, "features"):
        out = net.features(out)
    else:
        out = net.dense(net.convs(out).flatten(1))
    return net.classifier(out)


def export_qonnx(net: Any, path: str | Path, *, input_shape: tuple[int, ...] | None = None,
                 dynamo: bool | None = None) -> Path:
    """Export ``net`` with ``brevitas.export.export_qonnx`` (batch 1) to ``path``.

    ``input_shape`` (C, H, W) defaults to the shape :func:`build` recorded on the network;
    ``dynamo=None`` keeps Brevitas's default exporter for the installed torch.
    """
    import torch
    from brevitas.export import export_qonnx as _export

    shape = tuple(input_shape or getattr(net, "bnnc_input_shape"))
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    kwargs = {} if dynamo is None else {"dynamo": dynamo}
    _export(net.eval(), torch.zeros((1, *shape)), str(p), **kwargs)
    _inline_external_data(p)
    return p


def _inline_external_data(path: Path) -> None:
    """Make ``path`` one self-contained file (the dynamo exporter leaves a .data file)."""
    import onnx
    from onnx import external_data_helper

    head = onnx.load(str(path), load_external_data=False)
    files = {dict((e.key, e.value) for e in t.external_data).get("location")
             for t in head.graph.initializer if external_data_helper.uses_external_data(t)}
    files.discard(None)
    stale = path.with_name(path.name + ".data")  # written by torch, unused after brevitas saves
    if not files:
        stale.unlink(missing_ok=True)
        return
    model = onnx.load(str(path))
    for t in model.graph.initializer:
        t.data_location = onnx.TensorProto.DEFAULT
        del t.external_data[:]
    onnx.save(model, str(path))
    for f in files:
        (path.parent / str(f)).unlink(missing_ok=True)


def build_qonnx(name: str, path: str | Path, *, seed: int = 0,
                dynamo: bool | None = None) -> Path:
    """:func:`build` then :func:`export_qonnx`; returns the .onnx path."""
    return export_qonnx(build(name, seed=seed), path, dynamo=dynamo)


def run_qonnx(path: str | Path, x: np.ndarray, *, count_ties: bool = False
              ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Run a QONNX file with qonnx's executor (``execute_onnx``), one frame at a time.

    Brevitas exports have a batch of 1 baked into the graph; frames are run one by one
    and the outputs concatenated. With ``count_ties`` also returns, per frame, how many
    values entering a binarization (BipolarQuant, 1-bit Quant) lie within float32 rounding
    of the threshold 0 (``|v| <= 2**-20 * max |v|`` of that tensor, generous against the
    few-ULP error of a float32 dot product and BatchNorm): the only places where bnnc's
    exact integers may legitimately differ from the float32 model.
    """
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.infer_shapes import InferShapes

    model = ModelWrapper(str(path)).transform(InferShapes())  # the executor needs all shapes
    inits = {t.name for t in model.graph.initializer}
    iname = next(i.name for i in model.graph.input if i.name not in inits)
    oname = model.graph.output[0].name
    watch = [n.input[0] for n in model.graph.node
             if n.input and n.input[0] not in inits and _is_binary_quant(model, n)]
    outs, ties = [], []
    for frame in np.asarray(x, dtype=np.float32):
        res = execute_onnx(model, {iname: frame[None]}, return_full_exec_context=count_ties)
        outs.append(np.asarray(res[oname]))
        if count_ties:
            k = 0
            for t in watch:
                v = np.abs(np.asarray(res[t], dtype=np.float64))
                k += int((v <= _TIE_REL * float(v.max(initial=0.0))).sum())
            ties.append(k)
    y = np.concatenate(outs, axis=0)
    return (y, np.array(ties, dtype=np.int64)) if count_ties else y


def _is_binary_quant(model: Any, node: Any) -> bool:
    if node.op_type == "BipolarQuant":
        return True
    if node.op_type == "Quant" and len(node.input) == 4:
        bits = model.get_initializer(node.input[3])
        return bits is not None and int(np.asarray(bits).reshape(-1)[0]) == 1
    return False


def compare_outputs(scores: np.ndarray, scale: np.ndarray, bias: np.ndarray,
                    ref: np.ndarray, ties: np.ndarray | None = None,
                    ulp_bound: float = 16.0) -> dict[str, int | float]:
    """DESIGN.md section 1's output contract: bnnc's integers against a float reference.

    ``scores``: bnnc's integer class scores (N, K); ``scale``/``bias``: the host's final
    affine; ``ref``: the reference model's float32 outputs; ``ties``: per-frame binarization
    near-ties of the reference run (:func:`run_qonnx`). Returns counts:

    * ``score_mismatch``: frames whose integer scores, recovered from ``ref`` as
      ``rint((ref - bias) / scale)``, differ from ``scores``;
    * ``unexplained``: of those, frames without a binarization tie (must be 0);
    * ``max_ulp`` / ``ulp_violations``: float32 distance of ``scale * s + bias`` from ``ref``
      on frames whose scores agree, and how many values exceed ``ulp_bound``;
    * ``argmax_diff``: frames whose reference argmax is not among bnnc's top-scoring classes;
      ``top_ties``: frames where several classes share bnnc's top score (the float argmax
      then depends on rounding).
    """
    s = np.asarray(scores, dtype=np.int64)
    ref = np.asarray(ref, dtype=np.float32).reshape(s.shape)
    scale = np.broadcast_to(np.asarray(scale, dtype=np.float64), s.shape[1:])
    bias = np.broadcast_to(np.asarray(bias, dtype=np.float64), s.shape[1:])
    with np.errstate(divide="ignore", invalid="ignore"):
        rec = np.where(scale != 0, (ref.astype(np.float64) - bias) / scale, s)
    bad = (np.rint(rec).astype(np.int64) != s).any(axis=1)
    tie_frames = np.zeros(len(s), dtype=bool) if ties is None else np.asarray(ties) > 0
    y = (s * scale + bias).astype(np.float32)
    ulp = np.spacing(np.maximum(np.abs(ref), np.float32(1.0)).astype(np.float32))
    err = np.abs(y.astype(np.float64) - ref.astype(np.float64)) / ulp
    err[bad] = 0.0
    top = s.max(axis=1, keepdims=True)
    in_top = np.take_along_axis(s, ref.argmax(axis=1)[:, None], axis=1)[:, 0] == top[:, 0]
    return {"frames": int(len(s)), "score_mismatch": int(bad.sum()),
            "unexplained": int((bad & ~tie_frames).sum()),
            "binarization_ties": int(tie_frames.sum()),
            "max_ulp": float(err.max(initial=0.0)), "ulp_bound": ulp_bound,
            "ulp_violations": int((err > ulp_bound).sum()),
            "argmax_diff": int((~in_top & ~bad).sum()),
            "top_ties": int(((s == top).sum(axis=1) > 1).sum())}
