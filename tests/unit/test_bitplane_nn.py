"""bnnc.nn.BitPlaneInput: code table, bit-planes, grouping, plane weights, ONNX export.

The naive numpy model ``_reference`` below is the living definition of the
layer (docs/bitplane-training.md); the module, and onnxruntime on the exported
file, are compared with it.
"""

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

from onnx import numpy_helper  # noqa: E402

from bnnc import nn as bnn  # noqa: E402
from bnnc.errors import UsageError  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
EXPORTERS = ("dynamo", "legacy")
# The op types on the data path, in order, for both exporters (docs/bitplane-training.md).
CONTRACT_OPS = ["Cast", "Gather", "Transpose", "Reshape", "Pad", "Conv", "Mul", "Add", "PRelu",
                "Reshape", "Mul", "ReduceSum", "BatchNormalization"]


# ---------------------------------------------------------------- helpers

def _all_pixels(c: int, n: int = 1) -> torch.Tensor:
    """(n, c, 16, 16) uint8: every channel holds all 256 values, each channel in another order."""
    g = torch.Generator().manual_seed(3)
    rows = [torch.randperm(256, generator=g).view(16, 16) for _ in range(n * c)]
    return torch.stack(rows).view(n, c, 16, 16).to(torch.uint8)


def _random_images(n: int = 6, c: int = 3, h: int = 7, w: int = 9) -> torch.Tensor:
    g = torch.Generator().manual_seed(4)
    return torch.randint(0, 256, (n, c, h, w), dtype=torch.uint8, generator=g)


def _randomized(layer: bnn.BitPlaneInput, seed: int = 0) -> bnn.BitPlaneInput:
    """Give every float parameter and BN statistic a random, non-trivial value."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for t in (layer.weight, layer.scale, layer.shift, layer.slope, layer.bn.weight,
                  layer.bn.bias, layer.bn.running_mean):
            t.copy_(torch.rand(t.shape, generator=g) * 4 - 2)
        layer.bn.running_var.copy_(torch.rand(layer.bn.running_var.shape, generator=g) * 3 + 0.5)
        if isinstance(layer.plane_weight, torch.nn.Parameter):
            layer.plane_weight.copy_(torch.rand(8, generator=g) * 8)
    return layer.eval()


def _reference_code(p: int) -> int:
    """The paper's code in plain float64 numpy, as an independent check."""
    q = int(np.clip(np.round(128.0 * (p / 127.5 - 1.0)), -127, 127))
    return q & 0xFF


def _reference(layer: bnn.BitPlaneInput, x: np.ndarray) -> np.ndarray:
    """Naive float64 loops over (channel, plane, filter): the layer's definition."""
    table = layer.code_table.numpy().astype(np.int64)
    w = np.where(layer.weight.detach().numpy() >= 0, 1.0, -1.0)
    a, d, alpha = (t.detach().numpy().astype(np.float64) for t in layer.branch_affine())
    m = layer.plane_weight.detach().numpy().astype(np.float64)
    bn = layer.bn
    k, s, p, f_count = layer.kernel_size, layer.stride, layer.padding, layer.filters
    n, c_count, h, wd = x.shape
    oh, ow = (h + 2 * p - k) // s + 1, (wd + 2 * p - k) // s + 1
    u = np.zeros((n, f_count, oh, ow))
    codes = table[x.astype(np.int64)]
    for c in range(c_count):
        for i in range(8):
            plane = np.where((codes[:, c] >> i) & 1 == 1, 1.0, -1.0)
            plane = np.pad(plane, ((0, 0), (p, p), (p, p)), constant_values=1.0)
            for f in range(f_count):
                b = (c * 8 + i) * f_count + f
                y = np.zeros((n, oh, ow))
                for ky in range(k):
                    for kx in range(k):
                        y += w[b, 0, ky, kx] * plane[:, ky:ky + s * oh:s, kx:kx + s * ow:s]
                z = a[b] * y + d[b]
                u[:, f] += m[i] * np.where(z >= 0, z, alpha[b] * z)
    mean, var = bn.running_mean.numpy()[None, :, None, None], bn.running_var.numpy()[None, :, None, None]
    gamma, beta = (t.detach().numpy()[None, :, None, None] for t in (bn.weight, bn.bias))
    return (u - mean) / np.sqrt(var + bn.eps) * gamma + beta


def _constants(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    out = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for n in model.graph.node:
        if n.op_type == "Constant":
            for a in n.attribute:
                if a.name == "value":
                    out[n.output[0]] = numpy_helper.to_array(a.t)
    return out


def _chain(model: onnx.ModelProto) -> list[onnx.NodeProto]:
    """The data path: from the graph input, follow each node's first input.

    Leaves out the legacy exporter's shape arithmetic (Shape, Gather on shapes,
    Concat, ...) that computes Reshape's and Pad's shape arguments.
    """
    value = model.graph.input[0].name
    chain = []
    for n in model.graph.node:
        data_input = n.input[1] if n.op_type == "Gather" and len(n.input) > 1 else n.input[0] \
            if n.input else ""
        if data_input == value and n.op_type != "Shape":
            chain.append(n)
            value = n.output[0]
    return chain


# ---------------------------------------------------------------- code table and planes

def test_twos_complement_table_all_256_values() -> None:
    table = bnn.twos_complement_table()
    assert table == [_reference_code(p) for p in range(256)]
    # Endpoints clip to -127 / +127; the centre splits into -1 / +1 (0 is never produced).
    signed = [q - 256 if q >= 128 else q for q in table]
    assert (signed[0], signed[1], signed[127], signed[128], signed[254], signed[255]) \
        == (-127, -127, -1, 1, 127, 127)
    assert 0 not in signed and -128 not in signed
    assert signed == sorted(signed)


@pytest.mark.parametrize("code", ["twos_complement", "identity", "custom"])
def test_planes_for_all_256_pixel_values(code: str) -> None:
    custom = [(255 - p) if p % 3 else p - 128 for p in range(256)]  # bytes and negatives
    table = {"twos_complement": bnn.twos_complement_table(), "identity": list(range(256)),
             "custom": [v % 256 for v in custom]}[code]
    layer = bnn.BitPlaneInput(3, 2, code=custom if code == "custom" else code)
    assert layer.code_table.tolist() == table
    x = _all_pixels(3, n=2)
    planes = layer.planes(x)
    assert planes.shape == (2, 24, 16, 16) and planes.dtype == torch.float32
    codes = np.array(table)[x.numpy().astype(np.int64)]
    for c in range(3):
        for i in range(8):  # plane index c*8 + i, i = 0 is the LSB; bit 1 -> +1
            want = np.where((codes[:, c] >> i) & 1 == 1, 1.0, -1.0)
            assert np.array_equal(planes[:, c * 8 + i].numpy(), want), (c, i)
    # The +-1 plane table is the code table's bits.
    bits = (np.array(table)[:, None] >> np.arange(8)) & 1
    assert np.array_equal(layer.plane_table.numpy(), np.where(bits == 1, 1.0, -1.0))


# ---------------------------------------------------------------- conv grouping

def test_conv_is_depthwise_over_channels_and_planes() -> None:
    """Changing one (channel, plane) input changes only that plane's F branches."""
    torch.manual_seed(0)
    c_count, f_count = 3, 4
    layer = bnn.BitPlaneInput(c_count, f_count).eval()
    g = torch.Generator().manual_seed(1)
    planes = torch.where(torch.rand(2, c_count * 8, 6, 6, generator=g) < 0.5, 1.0, -1.0)
    base = layer.conv(planes)
    assert base.shape == (2, c_count * 8 * f_count, 6, 6)
    for j in range(c_count * 8):
        changed = planes.clone()
        changed[:, j, 2, 3] *= -1
        diff = (layer.conv(changed) != base).flatten(2).any(-1).any(0)
        touched = torch.nonzero(diff).flatten().tolist()
        assert touched and set(touched) <= set(range(j * f_count, (j + 1) * f_count)), (j, touched)


def test_conv_weight_layout_pad_plus_one_and_odd_integer_outputs() -> None:
    torch.manual_seed(0)
    layer = bnn.BitPlaneInput(2, 3).eval()
    assert tuple(layer.weight.shape) == (2 * 8 * 3, 1, 3, 3)
    g = torch.Generator().manual_seed(2)
    planes = torch.where(torch.rand(1, 16, 5, 5, generator=g) < 0.5, 1.0, -1.0)
    y = layer.conv(planes)
    w = torch.where(layer.weight >= 0, 1.0, -1.0)
    padded = torch.nn.functional.pad(planes, (1, 1, 1, 1), value=1.0)
    for c in range(2):
        for i in range(8):
            for f in range(3):
                b = (c * 8 + i) * 3 + f
                want = torch.nn.functional.conv2d(padded[:, c * 8 + i:c * 8 + i + 1], w[b:b + 1])
                assert torch.equal(y[:, b:b + 1], want)
    values = set(y.detach().flatten().tolist())
    assert values <= set(range(-9, 10, 2))  # odd integers: 10 possible values


# ---------------------------------------------------------------- stages and plane weights

@pytest.mark.parametrize("kind, want", [("pow2_half", [1, 1, 2, 2, 4, 4, 8, 8]),
                                        ("pow2", [1, 2, 4, 8, 16, 32, 64, 128]),
                                        ("learned", [1, 1, 2, 2, 4, 4, 8, 8])])
def test_plane_weights(kind: str, want: list[int]) -> None:
    assert bnn.plane_weight_values(kind) == [float(v) for v in want]
    layer = bnn.BitPlaneInput(2, 3, plane_weights=kind)
    assert layer.plane_weight.tolist() == want
    assert isinstance(layer.plane_weight, torch.nn.Parameter) == (kind == "learned")
    assert ("plane_weight" in dict(layer.named_parameters())) == (kind == "learned")
    # fuse: a one in branch (c, i, f) contributes m_i to output filter f only.
    for c, i, f in [(0, 0, 0), (1, 7, 2), (0, 5, 1)]:
        r = torch.zeros(1, 2 * 8 * 3, 1, 1)
        r[0, (c * 8 + i) * 3 + f] = 1.0
        u = layer.fuse(r)
        assert u.shape == (1, 3, 1, 1)
        assert u.flatten().tolist() == [float(want[i]) if g == f else 0.0 for g in range(3)]


def test_learned_plane_weights_get_gradients() -> None:
    torch.manual_seed(0)
    layer = bnn.BitPlaneInput(1, 2, plane_weights="learned")
    layer(_random_images(c=1)).sum().backward()
    assert layer.plane_weight.grad is not None and layer.plane_weight.grad.abs().sum() > 0
    assert layer.weight.grad is not None  # straight-through to the latent conv weights


def test_activation_is_affine_then_prelu() -> None:
    layer = bnn.BitPlaneInput(1, 1, affine="filter")
    with torch.no_grad():
        layer.scale.fill_(0.5)
        layer.shift.fill_(-1.0)
        layer.slope.fill_(0.125)
    y = torch.tensor([-9.0, -3.0, 1.0, 2.0, 3.0, 9.0]).view(1, 1, 6, 1).repeat(1, 8, 1, 1)
    r = layer.activate(y)[0, 0, :, 0].tolist()
    assert r == [-0.6875, -0.3125, -0.0625, 0.0, 0.5, 3.5]


@pytest.mark.parametrize("kwargs", [
    {},
    {"plane_weights": "pow2", "affine": "filter"},
    {"plane_weights": "learned", "code": "identity"},
    {"stride": 2, "padding": 2},
])
def test_forward_matches_naive_reference(kwargs: dict) -> None:
    torch.manual_seed(0)
    layer = _randomized(bnn.BitPlaneInput(3, 4, **kwargs))
    for x in (_all_pixels(3), _random_images()):
        with torch.no_grad():
            got = layer(x).numpy()
        want = _reference(layer, x.numpy())
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


def test_clip_latent_weights_reaches_the_bitplane_conv() -> None:
    layer = bnn.BitPlaneInput(1, 2)
    with torch.no_grad():
        layer.weight.mul_(100.0)
    bnn.clip_latent_weights_(layer)
    assert layer.weight.abs().max() <= 1.0


@pytest.mark.parametrize("kwargs, message", [
    ({"in_channels": 0}, "BitPlaneInput: in_channels must be a positive integer, not 0"),
    ({"filters": 2.0}, "BitPlaneInput: filters must be a positive integer, not 2.0"),
    ({"padding": -1}, "BitPlaneInput: padding must be a non-negative integer, not -1"),
    ({"plane_weights": "linear"}, "plane_weights must be one of .*, not 'linear'"),
    ({"affine": "channel"}, "affine must be one of .*, not 'channel'"),
    ({"code": "gray"}, "code must be 'twos_complement', 'identity' or a sequence of 256"),
    ({"code": list(range(255))}, "a code table needs 256 entries .*, not 255"),
    ({"code": [0] * 255 + [256]}, "code table entry 255 must be an integer in -128..255, not 256"),
])
def test_rejects_bad_arguments(kwargs: dict, message: str) -> None:
    args = {"in_channels": 1, "filters": 2, **kwargs}
    with pytest.raises(UsageError, match=message):
        bnn.BitPlaneInput(**args)


def test_rejects_float_or_misshaped_input() -> None:
    layer = bnn.BitPlaneInput(3, 2)
    with pytest.raises(UsageError, match="expects a uint8 tensor of raw pixels, not torch.float32"):
        layer(torch.zeros(1, 3, 4, 4))
    with pytest.raises(UsageError, match=r"expects pixels of shape \(N, 3, H, W\), not \(1, 1, 4, 4\)"):
        layer(torch.zeros(1, 1, 4, 4, dtype=torch.uint8))


# ---------------------------------------------------------------- ONNX export

@pytest.mark.parametrize("exporter", EXPORTERS)
@pytest.mark.parametrize("kwargs", [{}, {"plane_weights": "learned", "affine": "filter"}])
def test_export_contract_and_onnxruntime_equals_torch(exporter: str, kwargs: dict,
                                                      tmp_path: Path) -> None:
    torch.manual_seed(0)
    c_count, f_count = 3, 4
    layer = _randomized(bnn.BitPlaneInput(c_count, f_count, **kwargs))
    x_all = _all_pixels(c_count, n=2)
    path = bnn.export_onnx(layer, x_all, tmp_path / "bp.onnx", exporter=exporter)
    proto = onnx.load(str(path))
    chain = _chain(proto)
    assert [n.op_type for n in chain] == CONTRACT_OPS
    consts = _constants(proto)

    def const(node: onnx.NodeProto, k: int) -> np.ndarray:
        return consts[node.input[k]]

    cast, gather, transpose, reshape1, pad, conv, mul, add, prelu, reshape2, mulm, rsum, bn = chain
    attrs = {n.name: {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
             for n in chain}
    assert attrs[cast.name]["to"] == onnx.TensorProto.INT64
    assert np.array_equal(const(gather, 0), layer.plane_table.numpy())
    assert attrs[gather.name].get("axis", 0) == 0
    assert attrs[transpose.name]["perm"] == [0, 1, 4, 2, 3]
    assert const(pad, 2).item() == 1.0
    assert attrs[conv.name]["group"] == c_count * 8
    w = const(conv, 1)
    assert w.shape == (c_count * 8 * f_count, 1, 3, 3) and len(conv.input) == 2
    assert np.array_equal(w, np.where(layer.weight.detach().numpy() >= 0, 1.0, -1.0))
    a, d, alpha = (t.detach().numpy() for t in layer.branch_affine())
    assert np.array_equal(const(mul, 1).ravel(), a)
    assert np.array_equal(const(add, 1).ravel(), d)
    assert np.array_equal(const(prelu, 1).ravel(), alpha)
    assert np.array_equal(const(mulm, 1).ravel(), layer.plane_weight.detach().numpy())
    assert const(mulm, 1).shape == (8, 1, 1, 1)
    assert const(rsum, 1).tolist() == [1, 2] and attrs[rsum.name]["keepdims"] == 0
    for k, t in enumerate((layer.bn.weight, layer.bn.bias, layer.bn.running_mean,
                           layer.bn.running_var), start=1):
        assert np.array_equal(const(bn, k), t.detach().numpy())

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for x in (x_all, _random_images(c=c_count, h=16, w=16)):
        (got,) = session.run(None, {"input": x.numpy()})
        with torch.no_grad():
            want = layer(x).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4 * np.abs(want).max())


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_export_then_binarize_is_exact(exporter: str, tmp_path: Path) -> None:
    """The next layer binarizes: onnxruntime's bits equal torch's bits (no ties here)."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(_randomized(bnn.BitPlaneInput(3, 5), seed=1), bnn.Binarize())
    x_all = _all_pixels(3, n=3)
    path = bnn.export_onnx(model, x_all, tmp_path / "bpb.onnx", exporter=exporter)
    assert [n.op_type for n in _chain(onnx.load(str(path)))] \
        == CONTRACT_OPS + ["GreaterOrEqual", "Where"]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for x in (x_all, _random_images(c=3, h=16, w=16)):
        (got,) = session.run(None, {"input": x.numpy()})
        with torch.no_grad():
            want = model.eval()(x).numpy()
        assert np.array_equal(got, want)


def test_quantize_params_exports_few_bit_values_and_narrow_exact_tables(tmp_path: Path) -> None:
    """quantize_params: a, d on the 1/16 grid, slopes and learned plane weights powers of
    two (or 0) in the forward pass and in the ONNX file, gradients still reach the float
    parameters, and the compiler's exact tables come out narrow (float32 values: ~50 bits)."""
    from bnnc import ir
    from bnnc.frontend.bitplane import table_bits
    from bnnc.frontend.convert import onnx_to_ir

    layer = _randomized(bnn.BitPlaneInput(2, 3, quantize_params=True, plane_weights="learned"))
    layer.train()
    layer(_random_images(c=2)).sum().backward()
    assert all(t.grad is not None and t.grad.abs().sum() > 0
               for t in (layer.scale, layer.shift, layer.slope, layer.plane_weight))
    model = torch.nn.Sequential(layer.eval(), bnn.Binarize(), bnn.Flatten(),
                                bnn.BinaryLinear(3 * 7 * 9, 4), bnn.BatchNorm1d(4)).eval()
    path = bnn.export_onnx(model, _random_images(c=2), tmp_path / "q.onnx")
    chain = _chain(onnx.load(str(path)))
    consts = _constants(onnx.load(str(path)))
    mul, add, prelu, mulm = (consts[chain[k].input[1]].ravel() for k in (6, 7, 8, 10))
    for v in (mul, add):
        assert np.array_equal(v * 16, np.round(v * 16)) and np.abs(v).max() <= 4
    for v, lo, hi in ((prelu, -6, 0), (mulm, -8, 8)):
        nz = v[v != 0]
        e = np.log2(np.abs(nz))
        assert np.array_equal(e, np.round(e)) and e.min() >= lo and e.max() <= hi
    g = onnx_to_ir(onnx.load(str(path)))
    conv = next(n for n in g if isinstance(n, ir.BitPlaneConv))
    assert table_bits(g.consts[conv.tables]) <= 24


def test_testing_quantized_params_round_as_quantize_params() -> None:
    """bnnc.testing.quantized_branch_params (random few-bit nets without torch, e.g. the
    CNV-W1A1 bit-plane benchmark) rounds exactly as BitPlaneInput(quantize_params=True)."""
    from bnnc.nn.bitplane import SLOPE_MAX_SHIFT, _fixed_ste, _pow2_ste
    from bnnc.testing import quantized_branch_params

    rng = np.random.default_rng(4)
    edges = np.array([0.0, 1 / 32, 3 / 32, -1 / 32, 4.2, -5.0, 2.0 ** -7, 2.0 ** -7.5,
                      1.5 * 2.0 ** -3, 2.0 ** -6.5, 0.75, -0.3])
    a, d, alpha = (np.concatenate([edges, rng.normal(0, s, 400)]).astype(np.float32)
                   for s in (0.6, 1.5, 0.4))
    got = quantized_branch_params(a.astype(np.float64), d.astype(np.float64),
                                  alpha.astype(np.float64))
    want = (_fixed_ste(torch.tensor(a)), _fixed_ste(torch.tensor(d)),
            _pow2_ste(torch.tensor(alpha), -SLOPE_MAX_SHIFT, 0))
    for g, w in zip(got, want):
        assert np.array_equal(g.astype(np.float32), w.numpy())


# ---------------------------------------------------------------- training smoke test

@pytest.fixture
def digits_example() -> Iterator[Path]:
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
def test_train_bitplane_one_epoch(digits_example: Path, tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("_bnnc_train_bitplane",
                                                  digits_example / "train_bitplane.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    summary = module.main(["--epochs", "1", "--out", str(tmp_path)])
    assert summary["epochs"] == 1 and summary["model"] == "bitplane"
    assert json.loads((tmp_path / "bitplane.json").read_text()) == summary
    assert summary["onnxruntime_test_accuracy"] > 0.3
    proto = onnx.load(str(tmp_path / "bitplane.onnx"))
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8
    ops = [n.op_type for n in _chain(proto)]
    assert ops[:len(CONTRACT_OPS) + 2] == CONTRACT_OPS + ["GreaterOrEqual", "Where"]
