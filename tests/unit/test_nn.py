"""bnnc.nn: binarization semantics, STE gradients, padding, and ONNX export."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import onnx
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxscript")
ort = pytest.importorskip("onnxruntime")

import torch.nn.functional as F  # noqa: E402

from bnnc import nn as bnn  # noqa: E402
from bnnc.errors import BnncError, UsageError  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
EXPORTERS = ("dynamo", "legacy")


# ---------------------------------------------------------------- helpers

def _sign(t: torch.Tensor) -> torch.Tensor:
    return torch.where(t >= 0, 1.0, -1.0)


def _ops(model: onnx.ModelProto) -> list[str]:
    return [n.op_type for n in model.graph.node]


def _data_ops(model: onnx.ModelProto) -> list[str]:
    """Op types of the nodes that depend on the graph input, in graph order.

    Leaves out constant arithmetic such as the legacy exporter's computation of
    Pad's ``pads`` argument (ConstantOfShape, Concat, Slice, ...).
    """
    live = {i.name for i in model.graph.input}
    ops = []
    for n in model.graph.node:
        if any(i in live for i in n.input):
            live.update(n.output)
            ops.append(n.op_type)
    return ops


def _constants(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    """Initializers and Constant-node tensors by name."""
    out = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    for n in model.graph.node:
        if n.op_type == "Constant":
            for a in n.attribute:
                if a.name == "value":
                    out[n.output[0]] = onnx.numpy_helper.to_array(a.t)
    return out


def _weights(model: onnx.ModelProto) -> list[np.ndarray]:
    """The weight operands of the Conv, Gemm and MatMul nodes, in graph order."""
    constants = _constants(model)
    return [constants[n.input[1]] for n in model.graph.node
            if n.op_type in ("Conv", "Gemm", "MatMul")]


def _export(model: torch.nn.Module, x: torch.Tensor, tmp_path: Path, exporter: str
            ) -> onnx.ModelProto:
    path = bnn.export_onnx(model, x, tmp_path / f"m_{exporter}.onnx", exporter=exporter)
    assert path == tmp_path / f"m_{exporter}.onnx"
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name], "no external data file"
    return onnx.load(str(path))


def _float_input(n: int = 5, c: int = 3, h: int = 6, w: int = 6) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, c, h, w, generator=g)
    x[0, 0, 0, :3] = torch.tensor([0.0, -0.0, 1.0])  # exercise sign(0) after export too
    return x


# ---------------------------------------------------------------- Binarize

def test_binarize_forward_sign_of_zero_is_plus_one() -> None:
    x = torch.tensor([-2.0, -1.0, -1e-30, -0.0, 0.0, 1e-30, 0.5, 3.0])
    y = bnn.Binarize()(x)
    assert y.tolist() == [-1.0, -1.0, -1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    assert y.dtype == x.dtype


def test_binarize_ste_gradient_passes_where_abs_x_at_most_one() -> None:
    x = torch.tensor([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 1.0001, 7.0], requires_grad=True)
    upstream = torch.arange(1.0, 9.0)
    bnn.Binarize()(x).backward(upstream)
    assert x.grad is not None
    assert x.grad.tolist() == [0.0, 2.0, 3.0, 4.0, 5.0, 6.0, 0.0, 0.0]


def test_binary_input_is_binarize() -> None:
    x = torch.tensor([[-0.1, 0.0, 0.2]])
    assert bnn.BinaryInput()(x).tolist() == [[-1.0, 1.0, 1.0]]


# ---------------------------------------------------------------- BinaryLinear

def test_binary_linear_uses_signs_and_ste_on_weight() -> None:
    torch.manual_seed(0)
    layer = bnn.BinaryLinear(4, 3)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[0.5, -0.5, 0.0, 2.0],
                                         [-3.0, 0.1, -0.1, 1.0],
                                         [0.2, 0.2, -1.0, -1.5]]))
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    y = layer(x)
    assert y.tolist() == [[1 - 2 + 3 + 4, -1 + 2 - 3 + 4, 1 + 2 - 3 - 4]]
    y.sum().backward()
    # d sum / d w_b[o, i] = x[i]; the STE passes it where |w| <= 1.
    gate = (layer.weight.abs() <= 1).float()
    assert torch.equal(layer.weight.grad, x.expand(3, 4) * gate)


def test_binary_linear_bias_and_clip() -> None:
    layer = bnn.BinaryLinear(2, 2, bias=True)
    with torch.no_grad():
        layer.weight.fill_(5.0)
        layer.bias.copy_(torch.tensor([0.25, -0.5]))
    assert layer(torch.tensor([[1.0, 1.0]])).tolist() == [[2.25, 1.5]]
    bnn.clip_latent_weights_(torch.nn.Sequential(layer))
    assert layer.weight.max().item() == 1.0


@pytest.mark.parametrize("kwargs, message", [
    (dict(in_features=0, out_features=3), "BinaryLinear: in_features must be a positive integer, not 0"),
    (dict(in_features=4, out_features=2.5), "BinaryLinear: out_features must be a positive integer, not 2.5"),
])
def test_binary_linear_rejects_bad_sizes(kwargs: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        bnn.BinaryLinear(**kwargs)


# ---------------------------------------------------------------- BinaryConv2d

@pytest.mark.parametrize("pad_value", [0, 1, -1])
def test_binary_conv_padding_value(pad_value: int) -> None:
    """Zero input, all-(+1) weights: an output counts pad_value over its padded taps."""
    conv = bnn.BinaryConv2d(1, 1, 3, padding=1, pad_value=pad_value)
    with torch.no_grad():
        conv.weight.fill_(0.3)
    y = conv(torch.zeros(1, 1, 4, 4))[0, 0]
    padded_taps = torch.tensor([[5, 3, 3, 5], [3, 0, 0, 3], [3, 0, 0, 3], [5, 3, 3, 5]])
    assert torch.equal(y, pad_value * padded_taps.float())


@pytest.mark.parametrize("pad_value", [0.0, 1.0, -1.0])
@pytest.mark.parametrize("stride", [1, 2])
def test_binary_conv_matches_reference(pad_value: float, stride: int) -> None:
    torch.manual_seed(0)
    conv = bnn.BinaryConv2d(3, 5, 3, stride=stride, padding=1, pad_value=pad_value)
    x = _float_input()
    ref = F.conv2d(F.pad(x, (1, 1, 1, 1), value=pad_value), _sign(conv.weight.detach()),
                   stride=stride)
    assert torch.equal(conv(x), ref)


def test_binary_conv_ste_on_weight() -> None:
    torch.manual_seed(0)
    conv = bnn.BinaryConv2d(2, 3, 3, pad_value=1, padding=1)
    with torch.no_grad():
        conv.weight.mul_(20)  # push some latent weights beyond |w| = 1
    x = _float_input(c=2)
    conv(x).sum().backward()
    w = conv.weight.detach().clone().requires_grad_(True)
    F.conv2d(F.pad(x, (1, 1, 1, 1), value=1.0), w, padding=0).sum().backward()
    gate = (conv.weight.abs() <= 1).float()
    assert 0 < gate.sum() < gate.numel()
    assert torch.equal(conv.weight.grad, w.grad * gate)


@pytest.mark.parametrize("pad_value", [0.5, 2, True, "1"])
def test_binary_conv_rejects_other_pad_values(pad_value: object) -> None:
    with pytest.raises(UsageError, match=r"pad_value must be 0, \+1 or -1, not "):
        bnn.BinaryConv2d(1, 1, 3, padding=1, pad_value=pad_value)  # type: ignore[arg-type]


# ---------------------------------------------------------------- Input8

def test_input8_forward() -> None:
    x = torch.tensor([[[[0, 1, 128, 255]]]], dtype=torch.uint8)
    assert torch.equal(bnn.Input8()(x), x.float() / 255.0)
    y = bnn.Input8(mean=127.5, std=-2.0)(x)
    assert y.dtype == torch.float32
    assert torch.equal(y, (x.float() - 127.5) / -2.0)


def test_input8_rejects_float_input_and_zero_std() -> None:
    with pytest.raises(UsageError, match="Input8 expects a uint8 tensor of raw pixels, not torch.float32"):
        bnn.Input8()(torch.zeros(1, 1, 2, 2))
    with pytest.raises(UsageError, match="Input8: std must be non-zero, not 0"):
        bnn.Input8(std=0.0)


# ---------------------------------------------------------------- export

def _u8(n: int = 5, c: int = 1, h: int = 6, w: int = 6) -> torch.Tensor:
    g = torch.Generator().manual_seed(2)
    return torch.randint(0, 256, (n, c, h, w), dtype=torch.uint8, generator=g)


def _seeded(build: Callable[[], torch.nn.Module]) -> Callable[[], torch.nn.Module]:
    def make() -> torch.nn.Module:
        torch.manual_seed(0)
        return build()
    return make


# (id, model factory, example input, op types on the data path; "A|B": either).
# No BatchNorm here, so the binary weights must reach the file as exact +-1.
EXPORT_CASES = [
    ("binarize", _seeded(bnn.Binarize), _float_input(),
     ["GreaterOrEqual", "Where"]),
    ("binary_input", _seeded(bnn.BinaryInput), _float_input(),
     ["GreaterOrEqual", "Where"]),
    ("linear", _seeded(lambda: torch.nn.Sequential(bnn.Flatten(), bnn.BinaryLinear(108, 7))),
     _float_input(), ["Flatten|Reshape", "Gemm|MatMul"]),
    ("conv_pad0", _seeded(lambda: bnn.BinaryConv2d(3, 4, 3, padding=1, pad_value=0)),
     _float_input(), ["Conv"]),
    ("conv_pad+1", _seeded(lambda: bnn.BinaryConv2d(3, 4, 3, stride=2, padding=1, pad_value=1)),
     _float_input(), ["Pad", "Conv"]),
    ("conv_pad-1", _seeded(lambda: bnn.BinaryConv2d(3, 4, 3, padding=2, pad_value=-1)),
     _float_input(), ["Pad", "Conv"]),
    ("input8", _seeded(bnn.Input8), _u8(), ["Cast", "Div"]),
    ("input8_mean", _seeded(lambda: bnn.Input8(mean=128.0, std=64.0)), _u8(),
     ["Cast", "Sub", "Div"]),
    ("small_cnv", _seeded(lambda: torch.nn.Sequential(
        bnn.Input8(), bnn.BinaryConv2d(1, 4, 3, padding=1, pad_value=-1), bnn.Binarize(),
        bnn.MaxPool2d(2), bnn.Flatten(), bnn.BinaryLinear(36, 3))), _u8(),
     ["Cast", "Div", "Pad", "Conv", "GreaterOrEqual", "Where", "MaxPool", "Flatten|Reshape",
      "Gemm|MatMul"]),
]


@pytest.mark.parametrize("exporter", EXPORTERS)
@pytest.mark.parametrize("case", EXPORT_CASES, ids=[c[0] for c in EXPORT_CASES])
def test_export_runs_in_onnxruntime_like_torch(case: tuple, exporter: str,
                                               tmp_path: Path) -> None:
    _, make, x, expected_ops = case
    model = make()
    proto = _export(model, x, tmp_path, exporter)  # export_onnx already compares outputs

    ops = _data_ops(proto)
    assert len(ops) == len(expected_ops), ops
    for op, allowed in zip(ops, expected_ops):
        assert op in allowed.split("|"), (ops, expected_ops)
    assert "Sign" not in _ops(proto)

    # Graph input: dtype of the example, batch axis named N.
    (inp,) = proto.graph.input
    want_type = onnx.TensorProto.UINT8 if x.dtype == torch.uint8 else onnx.TensorProto.FLOAT
    assert inp.type.tensor_type.elem_type == want_type
    assert [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim] \
        == ["N", *x.shape[1:]]
    assert proto.graph.output[0].type.tensor_type.shape.dim[0].dim_param == "N"

    # Binary weights are exactly the signs of the latent weights (no BN follows).
    layers = [m for m in model.modules() if isinstance(m, (bnn.BinaryLinear, bnn.BinaryConv2d))]
    weights = _weights(proto)
    assert len(weights) == len(layers)
    for layer, w in zip(layers, weights):
        latent = layer.weight.detach().numpy()
        signs = np.where(latent >= 0, 1.0, -1.0).astype(np.float32)
        assert set(np.unique(w).tolist()) == {-1.0, 1.0}
        assert np.array_equal(w, signs) or np.array_equal(w.T, signs)  # MatMul: (in, out)

    # Independent check on another batch size; binarized outputs must match exactly
    # (the example includes +0.0 and -0.0, which binarize to +1).
    session = ort.InferenceSession(str(tmp_path / f"m_{exporter}.onnx"),
                                   providers=["CPUExecutionProvider"])
    x3 = x[:3]
    (got,) = session.run(None, {"input": x3.numpy()})
    with torch.no_grad():
        want = model.eval()(x3).numpy()
    if ops[-1] == "Where":
        assert np.array_equal(got, want)
        assert got[0, 0, 0, :2].tolist() == [1.0, 1.0]
    else:
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)  # float conv sums


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_export_with_batchnorm_matches_torch(exporter: str, tmp_path: Path) -> None:
    """BatchNorm may be folded into Conv/Gemm by the exporter; the outputs still agree."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        bnn.Input8(mean=100.0, std=50.0), bnn.BinaryConv2d(1, 6, 3, padding=1, pad_value=1),
        bnn.BatchNorm2d(6), bnn.Binarize(), bnn.Flatten(), bnn.BinaryLinear(216, 5),
        bnn.BatchNorm1d(5))
    with torch.no_grad():
        for bn in (model[2], model[6]):
            bn.running_mean.uniform_(-3.0, 3.0)
            bn.running_var.uniform_(0.5, 4.0)
            bn.weight.uniform_(-1.0, 1.0)  # negative gammas flip the comparison
            bn.bias.uniform_(-1.0, 1.0)
    proto = _export(model, _u8(n=16), tmp_path, exporter)
    assert _data_ops(proto)[0] == "Cast"


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_export_batch_of_one_and_fixed_batch(exporter: str, tmp_path: Path) -> None:
    path = bnn.export_onnx(bnn.Input8(), _u8(n=1), tmp_path / "dyn.onnx", exporter=exporter)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"input": _u8(n=4).numpy()})
    assert np.array_equal(got, _u8(n=4).numpy().astype(np.float32) / np.float32(255.0))
    proto = onnx.load(str(bnn.export_onnx(bnn.Input8(), _u8(n=4), tmp_path / "fixed.onnx",
                                          exporter=exporter, dynamic_batch=False)))
    dims = [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [4, 1, 6, 6]


def test_export_leaves_the_model_untouched(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(bnn.Flatten(), bnn.BinaryLinear(108, 4), bnn.BatchNorm1d(4))
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    bnn.export_onnx(model, _float_input(), tmp_path / "m.onnx", exporter="legacy")
    assert model.training
    assert isinstance(model[1].weight, torch.nn.Parameter)
    after = model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_export_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="exporter must be 'dynamo' or 'legacy', not 'jit'"):
        bnn.export_onnx(bnn.Binarize(), _float_input(), tmp_path / "m.onnx",
                        exporter="jit")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="example must be one torch.Tensor"):
        bnn.export_onnx(bnn.Binarize(), [_float_input()], tmp_path / "m.onnx")  # type: ignore[arg-type]


def test_export_reports_a_mismatch(tmp_path: Path) -> None:
    with pytest.raises(bnn.ExportError, match="onnxruntime differs from PyTorch by up to"):
        bnn.export_onnx(torch.nn.Sequential(bnn.Flatten(), bnn.BinaryLinear(108, 4)),
                        _float_input(), tmp_path / "m.onnx", exporter="legacy", rtol=-1.0)
    assert issubclass(bnn.ExportError, BnncError)


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
def test_train_tfc_one_epoch(digits_example: Path, tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("_bnnc_train_tfc", digits_example / "train_tfc.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    summary = module.main(["--epochs", "1", "--out", str(tmp_path)])
    assert summary["epochs"] == 1
    assert json.loads((tmp_path / "tfc.json").read_text()) == summary
    assert summary["onnxruntime_test_accuracy"] > 0.5
    x = np.load(tmp_path / "data" / "x_test.npy")
    y = np.load(tmp_path / "data" / "y_test.npy")
    assert x.dtype == np.uint8 and x.shape == (360, 1, 8, 8)
    assert y.dtype == np.int64 and y.shape == (360,)
    proto = onnx.load(str(tmp_path / "tfc.onnx"))
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8
