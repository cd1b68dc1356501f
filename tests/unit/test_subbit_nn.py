"""bnnc.nn.SubBitConv2d: codebook invariants, STE gradients, refinement, ONNX export forms."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxscript")
ort = pytest.importorskip("onnxruntime")

import torch.nn.functional as F  # noqa: E402

from bnnc import nn as bnn  # noqa: E402
from bnnc.errors import UsageError  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------- helpers

def _layer(c_in: int = 6, c_out: int = 8, tau: int = 3, seed: int = 0, **kw: object
           ) -> bnn.SubBitConv2d:
    torch.manual_seed(seed)
    return bnn.SubBitConv2d(c_in, c_out, tau, **kw)  # type: ignore[arg-type]


def _x(n: int = 4, c: int = 6, hw: int = 6, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.where(torch.randn(n, c, hw, hw, generator=g) >= 0, 1.0, -1.0)


def _u8(n: int = 8, seed: int = 2) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 1, 6, 6), dtype=torch.uint8, generator=g)


def _rows(codebook: torch.Tensor) -> set[tuple[int, ...]]:
    return {tuple(r) for r in codebook.reshape(codebook.shape[0], 9).tolist()}


def _constants(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    return {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}


def _producer(model: onnx.ModelProto, tensor: str) -> onnx.NodeProto | None:
    return next((n for n in model.graph.node if tensor in n.output), None)


def _net(tau: int = 3) -> torch.nn.Sequential:
    """uint8 -> binary conv -> BN -> sign -> sub-bit conv (pad 0, +1, -1) ... -> BN."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        bnn.Input8(mean=100.0, std=50.0),
        bnn.BinaryConv2d(1, 6, 3, padding=1), bnn.BatchNorm2d(6), bnn.Binarize(),
        bnn.SubBitConv2d(6, 8, tau, padding=1, pad_value=0), bnn.BatchNorm2d(8), bnn.Binarize(),
        bnn.SubBitConv2d(8, 8, tau, padding=1, pad_value=1, scale="learned"),
        bnn.BatchNorm2d(8), bnn.Binarize(),
        bnn.SubBitConv2d(8, 5, tau, stride=2, padding=1, pad_value=-1, scale="none"),
        bnn.BatchNorm2d(5))
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, bnn.BatchNorm2d):
                m.running_mean.uniform_(-3.0, 3.0)
                m.running_var.uniform_(0.5, 4.0)
                m.weight.uniform_(-1.0, 1.0)  # negative gammas: negative folded scales
                m.bias.uniform_(-1.0, 1.0)
            if isinstance(m, bnn.SubBitConv2d) and m.log_scale is not None:
                m.log_scale.uniform_(-0.5, 0.5)
    return model.eval()


# ---------------------------------------------------------------- bit order

def test_bit_order_round_trips_and_is_row_major() -> None:
    every = torch.arange(512)
    kernels = bnn.patterns_to_kernels(every)
    assert kernels.dtype == torch.int8 and kernels.shape == (512, 3, 3)
    assert torch.equal(bnn.kernels_to_patterns(kernels), every)
    # Bit 3*ky + kx is tap (ky, kx); 1 means +1.
    for ky in range(3):
        for kx in range(3):
            k = bnn.patterns_to_kernels(torch.tensor(1 << (3 * ky + kx)))
            assert k[ky, kx] == 1 and int((k == 1).sum()) == 1
    assert bnn.patterns_to_kernels(torch.tensor(0)).eq(-1).all()
    k = torch.tensor([[1, -1, -1], [-1, -1, 1], [-1, -1, 1]])
    assert int(bnn.kernels_to_patterns(k)) == 0b100_100_001


def test_bit_order_rejects_bad_input() -> None:
    with pytest.raises(UsageError, match=r"9-bit patterns must lie in 0..511, found 0..512"):
        bnn.patterns_to_kernels(torch.tensor([0, 512]))
    with pytest.raises(UsageError, match=r"expected a tensor of 3x3 kernels .*not shape \(2, 9\)"):
        bnn.kernels_to_patterns(torch.ones(2, 9))


# ---------------------------------------------------------------- the layer

def test_initial_codebook_is_distinct_sample() -> None:
    layer = _layer(tau=5)
    cb = layer.codebook()
    assert cb.dtype == torch.int8 and cb.shape == (32, 3, 3)
    assert set(cb.unique().tolist()) == {-1, 1}
    assert len(_rows(cb)) == 32
    assert layer.codebook_patterns().unique().numel() == 32
    idx = layer.indices()
    assert idx.dtype == torch.int64 and idx.shape == (8, 6)
    assert int(idx.min()) >= 0 and int(idx.max()) < 32
    assert layer.weight_bits() == {"plain": 9 * 8 * 6, "subbit": 9 * 32 + 5 * 8 * 6}


def test_every_forward_kernel_is_the_nearest_codeword() -> None:
    layer = _layer(tau=3)
    w_used = layer.binary_weight().detach()
    scale = layer.channel_scale()
    codebook = layer.codebook().float().reshape(-1, 9)
    signs = (w_used / scale[:, None, None, None]).reshape(-1, 9)
    assert torch.equal(signs.abs(), torch.ones_like(signs))
    assert _rows(signs.to(torch.int8)) <= _rows(codebook.to(torch.int8))
    # Nearest in Euclidean distance to the latent kernel (ties: lowest row).
    latent = layer.weight.detach().reshape(-1, 1, 9)
    dist = ((latent - codebook[None]) ** 2).sum(-1)
    chosen = layer.indices().reshape(-1)
    assert torch.allclose(dist.gather(1, chosen[:, None])[:, 0], dist.min(dim=1).values)
    # codebook()/indices()/channel_scale() reproduce the effective weight exactly.
    rebuilt = scale[:, None, None, None] * layer.codebook().float()[layer.indices()]
    assert torch.equal(rebuilt, w_used)
    assert torch.equal(layer.effective_weight(), w_used)


@pytest.mark.parametrize("pad_value", [0.0, 1.0, -1.0])
def test_forward_is_a_conv_with_the_effective_weight(pad_value: float) -> None:
    layer = _layer(padding=1, pad_value=pad_value, stride=2)
    x = _x()
    ref = F.conv2d(F.pad(x, (1, 1, 1, 1), value=pad_value), layer.effective_weight(), stride=2)
    assert torch.equal(layer(x), ref)


@pytest.mark.parametrize("scale", ["mean_abs", "learned", "none"])
def test_scale_modes(scale: str) -> None:
    layer = _layer(scale=scale)
    s = layer.channel_scale()
    assert s.shape == (8,) and bool((s > 0).all())
    if scale == "mean_abs":
        assert torch.allclose(s, layer.weight.detach().abs().mean(dim=(1, 2, 3)))
    else:
        assert torch.equal(s, torch.ones(8))
    assert (layer.log_scale is not None) == (scale == "learned")


def test_ste_gradients_reach_weights_and_patterns() -> None:
    layer = _layer(scale="none")
    with torch.no_grad():
        layer.weight[0, 0] = 3.0  # beyond |w| = 1: the clipped STE blocks this kernel
    x = _x()
    upstream = torch.randn(layer(x).shape, generator=torch.Generator().manual_seed(3))
    (layer(x) * upstream).sum().backward()
    w_eff = layer.effective_weight().requires_grad_(True)
    (F.conv2d(x, w_eff) * upstream).sum().backward()
    assert w_eff.grad is not None and layer.weight.grad is not None
    gate = (layer.weight.detach().abs() <= 1).float()
    assert torch.allclose(layer.weight.grad, w_eff.grad * gate)
    assert layer.weight.grad[0, 0].eq(0).all()
    # Each latent pattern row gets the summed gradient of the kernels that use it.
    expected = torch.zeros(8, 9).index_add_(0, layer.indices().reshape(-1),
                                            w_eff.grad.reshape(-1, 9))
    assert layer.latent_patterns.grad is not None
    assert torch.allclose(layer.latent_patterns.grad, expected, atol=1e-6)


def test_refine_follows_latent_signs_and_keeps_codewords_distinct() -> None:
    layer = _layer(tau=3, refine_every=None)
    old = layer.codebook().reshape(8, 9)
    free = next(p for p in range(512) if p not in set(layer.codebook_patterns().tolist()))
    with torch.no_grad():
        # Row 0 moves to a free pattern; rows 1..7 all try to become row 0's old codeword.
        layer.latent_patterns[0] = bnn.patterns_to_kernels(torch.tensor(free)).reshape(9) * 0.3
        layer.latent_patterns[1:] = old[0].float() * 0.3
    layer.refine()
    cb = layer.codebook().reshape(8, 9)
    assert len(_rows(cb)) == 8
    assert int(layer.codebook_patterns()[0]) == free
    # Exactly one of rows 1..7 gets the contested codeword; the others keep theirs.
    got_it = [k for k in range(1, 8) if torch.equal(cb[k], old[0])]
    assert len(got_it) == 1
    assert all(torch.equal(cb[k], old[k]) for k in range(1, 8) if k not in got_it)
    # The latent patterns now binarize to the codebook.
    assert torch.equal(torch.where(layer.latent_patterns >= 0, 1, -1).to(torch.int8), cb)


def test_refine_falls_back_to_nearest_free_pattern() -> None:
    layer = _layer(tau=2, refine_every=None)
    old = layer.codebook().reshape(4, 9)
    with torch.no_grad():
        # Rows 0 and 1 swap codewords in the latent, and rows 2, 3 want row 0's old one.
        layer.latent_patterns[0] = old[1].float() * 0.5
        layer.latent_patterns[1] = old[0].float() * 0.5
        layer.latent_patterns[2] = old[0].float() * 0.5
        layer.latent_patterns[3] = old[0].float() * 0.5
    layer.refine()
    assert len(_rows(layer.codebook())) == 4


def test_training_refines_periodically_and_codewords_stay_distinct() -> None:
    layer = _layer(c_in=4, c_out=16, tau=3, refine_every=2, pattern_init=0.02)
    x = _x(c=4)
    target = torch.randn(4, 16, 4, 4, generator=torch.Generator().manual_seed(4))
    before = layer.codebook()
    layer.train()
    for _ in range(10):
        loss = ((layer(x) - target) ** 2).mean()
        layer.zero_grad()
        loss.backward()
        with torch.no_grad():  # sign-SGD: every latent value moves by 0.05 per step
            for p in layer.parameters():
                p -= 0.05 * torch.sign(p.grad)
        bnn.clip_latent_weights_(layer)
        assert len(_rows(layer.codebook())) == 8
    assert int(layer.steps) == 10
    assert not torch.equal(before, layer.codebook()), "refinement changed no codeword"
    # Eval mode and no_grad forwards do not count as steps.
    layer.eval()
    layer(x)
    assert int(layer.steps) == 10


@pytest.mark.parametrize("kwargs, message", [
    (dict(tau=0), r"SubBitConv2d: tau must be an integer from 1 to 8 .*not 0"),
    (dict(tau=9), r"SubBitConv2d: tau must be an integer from 1 to 8 .*not 9"),
    (dict(pad_value=0.5), r"SubBitConv2d: pad_value must be 0, \+1 or -1, not 0.5"),
    (dict(refine_every=0), "SubBitConv2d: refine_every must be a positive integer, not 0"),
    (dict(scale="max"), "SubBitConv2d: scale must be 'mean_abs', 'learned' or 'none', not 'max'"),
])
def test_rejects_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        bnn.SubBitConv2d(4, 4, **kwargs)


# ---------------------------------------------------------------- export

@pytest.mark.parametrize("exporter", ["legacy", "dynamo"])
def test_export_explicit_codebook(exporter: str, tmp_path: Path) -> None:
    model = _net()
    x = _u8()
    path = bnn.export_onnx(model, x, tmp_path / "m.onnx", exporter=exporter)  # checks ort
    proto = onnx.load(str(path))
    consts = _constants(proto)
    layers = [(n, m) for n, m in model.named_modules() if isinstance(m, bnn.SubBitConv2d)]
    convs = [n for n in proto.graph.node if n.op_type == "Conv"]
    assert len(convs) == 4
    assert convs[0].input[1] in consts  # the plain binary conv keeps its initializer
    for (name, layer), conv in zip(layers, convs[1:]):
        mul = _producer(proto, conv.input[1])
        assert mul is not None and mul.op_type == "Mul"
        reshape = _producer(proto, mul.input[0])
        assert reshape is not None and reshape.op_type == "Reshape"
        gather = _producer(proto, reshape.input[0])
        assert gather is not None and gather.op_type == "Gather"
        assert [a.i for a in gather.attribute if a.name == "axis"] == [0]
        assert list(gather.input) == [f"{name}.codebook", f"{name}.indices"]
        codebook = consts[f"{name}.codebook"]
        assert codebook.dtype == np.float32 and codebook.shape == (8, 9)
        assert np.array_equal(codebook, layer.codebook().reshape(8, 9).numpy())
        indices = consts[f"{name}.indices"]
        assert indices.dtype == np.int64
        assert np.array_equal(indices, layer.indices().numpy())
        assert consts[reshape.input[1]].tolist() == [layer.out_channels, layer.in_channels, 3, 3]
        scale = consts[mul.input[1]]
        assert scale.dtype == np.float32 and scale.shape == (layer.out_channels, 1, 1, 1)
        assert mul.input[1] == f"{name}.scale"
        # scale = the layer's scale times the folded BatchNorm factor (any sign).
        bn = dict(model.named_children())[str(int(name) + 1)]
        factor = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).detach()
        want = (layer.channel_scale() * factor).numpy()
        np.testing.assert_allclose(scale.reshape(-1), want, rtol=1e-6)
    # onnxruntime agrees with torch on another batch too (float conv sums: allclose).
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x2 = _u8(n=5, seed=7)
    (got,) = session.run(None, {"input": x2.numpy()})
    with torch.no_grad():
        np.testing.assert_allclose(got, model(x2).numpy(), rtol=1e-5, atol=1e-4)


def test_export_folded_form(tmp_path: Path) -> None:
    model = _net()
    path = bnn.export_onnx(model, _u8(), tmp_path / "m.onnx", exporter="legacy", subbit="folded")
    proto = onnx.load(str(path))
    assert "Gather" not in [n.op_type for n in proto.graph.node]
    consts = _constants(proto)
    convs = [n for n in proto.graph.node if n.op_type == "Conv"]
    layers = [m for m in model.modules() if isinstance(m, bnn.SubBitConv2d)]
    for layer, conv in zip(layers, convs[1:]):
        w = consts[conv.input[1]]
        signs = layer.codebook().float()[layer.indices()].numpy()
        s = w[:, 0, 0, 0] * signs[:, 0, 0, 0]
        assert np.array_equal(w, s[:, None, None, None] * signs)
        # Per output channel, |w| is one value; the sign patterns are codewords.
        patterns = torch.from_numpy(np.sign(w * s[:, None, None, None])).reshape(-1, 9)
        assert _rows(patterns.to(torch.int8)) <= _rows(layer.codebook())


def test_explicit_and_folded_forms_compute_the_same(tmp_path: Path) -> None:
    model = _net()
    x = _u8()
    outs = []
    for form in ("explicit", "folded"):
        path = bnn.export_onnx(model, x, tmp_path / f"{form}.onnx", exporter="legacy",
                               subbit=form)
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        outs.append(session.run(None, {"input": x.numpy()})[0])
    assert np.array_equal(outs[0], outs[1])


def test_export_leaves_the_layer_trainable(tmp_path: Path) -> None:
    model = _net()
    before = model[4].codebook(), model[4].indices()
    bnn.export_onnx(model, _u8(), tmp_path / "m.onnx", exporter="legacy")
    assert isinstance(model[4].weight, torch.nn.Parameter)
    assert torch.equal(before[0], model[4].codebook())
    assert torch.equal(before[1], model[4].indices())


def test_export_rejects_unknown_subbit_form(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="subbit must be 'explicit' or 'folded', not 'auto'"):
        bnn.export_onnx(_net(), _u8(), tmp_path / "m.onnx", subbit="auto")  # type: ignore[arg-type]


# ---------------------------------------------------------------- training smoke test

@pytest.fixture
def digits_example() -> Iterator[Path]:
    """examples/digits on sys.path; its modules are forgotten afterwards."""
    folder = REPO / "examples" / "digits"
    before = set(sys.modules)
    sys.path.insert(0, str(folder))
    try:
        yield folder
    finally:
        sys.path.remove(str(folder))
        for name in set(sys.modules) - before:
            mod = sys.modules[name]
            if getattr(mod, "__file__", None) and Path(mod.__file__).parent == folder:
                del sys.modules[name]


@pytest.mark.train
def test_train_subbit_one_epoch(digits_example: Path, tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("_bnnc_train_subbit",
                                                  digits_example / "train_subbit.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    summary = module.main(["--epochs", "1", "--out", str(tmp_path)])
    assert json.loads((tmp_path / "subbit.json").read_text()) == summary
    assert summary["epochs"] == 1 and summary["tau"] == 5
    assert summary["subbit_layers"]["conv2"]["subbit_weight_bits"] == 9 * 32 + 5 * 32 * 32
    proto = onnx.load(str(tmp_path / "subbit.onnx"))
    ops = [n.op_type for n in proto.graph.node]
    assert ops.count("Gather") == 3 and ops.count("Conv") == 4
