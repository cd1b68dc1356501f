"""A corpus of broken ONNX models, written with onnx.helper at test time.

Every broken model starts from :func:`tiny_bnn`, a valid 8x8 binary network::

    x (N,1,8,8) uint8 -> Cast -> Div 255 -> Conv 3x3 (+-1, pad 1) -> BatchNormalization
      -> GreaterOrEqual 0 -> Where(1, -1) -> Flatten -> Gemm (+-1) -> y (N, 10)

and changes one thing a user can get wrong. Nodes have stable names ("conv1", "bn1",
"fc1", ...) so the tests can pin messages that name them. Nothing here is committed
as a binary: each ``write_*`` function writes its file into a directory it is given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

__all__ = ["tiny_bnn", "save", "BROKEN", "MALFORMED", "MISTAKES", "Case"]

C_OUT = 4
CLASSES = 10
OPSET = 17


def _signs(shape: tuple[int, ...], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.where(rng.random(shape) < 0.5, -1.0, 1.0).astype(np.float32)


def _init(name: str, arr: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(arr), name)


def tiny_bnn(*, input_dims: list[int | str] | None = None, opset: int = OPSET,
             conv_weights: np.ndarray | None = None, bn_scale: np.ndarray | None = None,
             bn_var: np.ndarray | None = None) -> onnx.ModelProto:
    """The valid tiny BNN, optionally with one of its parts replaced."""
    dims = input_dims if input_dims is not None else ["N", 1, 8, 8]
    rng = np.random.default_rng(1)
    w1 = conv_weights if conv_weights is not None else _signs((C_OUT, 1, 3, 3), 2)
    gamma = bn_scale if bn_scale is not None else rng.uniform(0.5, 1.5, C_OUT).astype(np.float32)
    var = bn_var if bn_var is not None else rng.uniform(0.5, 2.0, C_OUT).astype(np.float32)
    inits = [
        _init("k255", np.array(255.0, np.float32)),
        _init("conv1.w", w1),
        _init("bn1.scale", gamma),
        _init("bn1.bias", rng.normal(0, 0.5, C_OUT).astype(np.float32)),
        _init("bn1.mean", rng.normal(0, 1.0, C_OUT).astype(np.float32)),
        _init("bn1.var", var),
        _init("zero", np.array(0.0, np.float32)),
        _init("one", np.array(1.0, np.float32)),
        _init("minus_one", np.array(-1.0, np.float32)),
        _init("fc1.w", _signs((CLASSES, C_OUT * 8 * 8), 3)),
    ]
    nodes = [
        helper.make_node("Cast", ["x"], ["xf"], name="cast", to=TensorProto.FLOAT),
        helper.make_node("Div", ["xf", "k255"], ["xn"], name="norm"),
        helper.make_node("Conv", ["xn", "conv1.w"], ["c1"], name="conv1", kernel_shape=[3, 3],
                         pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c1", "bn1.scale", "bn1.bias", "bn1.mean",
                                                "bn1.var"], ["b1"], name="bn1", epsilon=1e-5),
        helper.make_node("GreaterOrEqual", ["b1", "zero"], ["ge1"], name="ge1"),
        helper.make_node("Where", ["ge1", "one", "minus_one"], ["a1"], name="act1"),
        helper.make_node("Flatten", ["a1"], ["f1"], name="flatten", axis=1),
        helper.make_node("Gemm", ["f1", "fc1.w"], ["y"], name="fc1", transB=1),
    ]
    graph = helper.make_graph(
        nodes, "tiny_bnn", [helper.make_tensor_value_info("x", TensorProto.UINT8, dims)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", CLASSES])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def save(model: onnx.ModelProto, path: Path) -> Path:
    """Write ``model`` as is (no checker, no shape inference: broken graphs stay broken)."""
    path.write_bytes(model.SerializeToString())
    return path


def _node(model: onnx.ModelProto, name: str) -> onnx.NodeProto:
    return next(n for n in model.graph.node if n.name == name)


def _replace_nodes(model: onnx.ModelProto, nodes: list[onnx.NodeProto]) -> onnx.ModelProto:
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return model


def _insert_after(model: onnx.ModelProto, after: str, node: onnx.NodeProto,
                  rewire: str) -> onnx.ModelProto:
    """Insert ``node`` after node ``after``; the node that read ``rewire`` reads node's output."""
    out = list(model.graph.node)
    idx = next(i for i, n in enumerate(out) if n.name == after)
    for n in out[idx + 1:]:
        for k, i in enumerate(n.input):
            if i == rewire:
                n.input[k] = node.output[0]
    out.insert(idx + 1, node)
    return _replace_nodes(model, out)


# ---------------------------------------------------------------- the 14 kinds of broken file
def write_corrupt(d: Path) -> Path:
    rng = np.random.default_rng(0)
    # bytes that protobuf cannot parse (field 0 / wire type 7 are illegal)
    return _write(d / "corrupt.onnx", b"\x07\xff\x00" + rng.bytes(4093))


def write_truncated(d: Path) -> Path:
    data = tiny_bnn().SerializeToString()
    return _write(d / "truncated.onnx", data[: len(data) // 2])


def write_empty(d: Path) -> Path:
    return _write(d / "empty.onnx", b"")


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def write_softmax_middle(d: Path) -> Path:
    m = tiny_bnn()
    sm = helper.make_node("Softmax", ["b1"], ["sm1"], name="softmax1", axis=1)
    return save(_insert_after(m, "bn1", sm, "b1"), d / "softmax.onnx")


def write_sigmoid_middle(d: Path) -> Path:
    m = tiny_bnn()
    sig = helper.make_node("Sigmoid", ["b1"], ["s1"], name="sigmoid1")
    return save(_insert_after(m, "bn1", sig, "b1"), d / "sigmoid.onnx")


def write_lstm(d: Path) -> Path:
    """An LSTM over the 8 rows of the image (8 steps of 8 features)."""
    hidden = 4
    rng = np.random.default_rng(0)
    inits = [
        _init("k255", np.array(255.0, np.float32)),
        _init("perm_shape", np.array([8, -1, 8], np.int64)),
        _init("lstm.W", rng.normal(size=(1, 4 * hidden, 8)).astype(np.float32)),
        _init("lstm.R", rng.normal(size=(1, 4 * hidden, hidden)).astype(np.float32)),
        _init("fc1.w", _signs((CLASSES, hidden), 3)),
    ]
    nodes = [
        helper.make_node("Cast", ["x"], ["xf"], name="cast", to=TensorProto.FLOAT),
        helper.make_node("Div", ["xf", "k255"], ["xn"], name="norm"),
        helper.make_node("Reshape", ["xn", "perm_shape"], ["seq"], name="to_seq"),
        helper.make_node("LSTM", ["seq", "lstm.W", "lstm.R"], ["", "h"], name="lstm1",
                         hidden_size=hidden),
        helper.make_node("Flatten", ["h"], ["hf"], name="flatten", axis=1),
        helper.make_node("Gemm", ["hf", "fc1.w"], ["y"], name="fc1", transB=1),
    ]
    graph = helper.make_graph(
        nodes, "lstm", [helper.make_tensor_value_info("x", TensorProto.UINT8, ["N", 1, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", CLASSES])], inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    m.ir_version = 8
    return save(m, d / "lstm.onnx")


def write_float_weights(d: Path) -> Path:
    w = _signs((C_OUT, 1, 3, 3), 2)
    w[0, 0, 0, 0], w[0, 0, 0, 1] = 0.3, -0.7
    return save(tiny_bnn(conv_weights=w), d / "float_weights.onnx")


def write_nan_batchnorm(d: Path) -> Path:
    return save(tiny_bnn(bn_scale=np.array([1.0, np.nan, 1.0, 1.0], np.float32)),
                d / "nan_bn.onnx")


def write_negative_var(d: Path) -> Path:
    return save(tiny_bnn(bn_var=np.array([1.0, 1.0, -0.5, 1.0], np.float32)), d / "neg_var.onnx")


def write_symbolic_hw(d: Path) -> Path:
    return save(tiny_bnn(input_dims=["N", 1, "H", "W"]), d / "symbolic.onnx")


def write_dangling(d: Path) -> Path:
    m = tiny_bnn()
    _node(m, "bn1").input[0] = "conv1_out"  # a name nothing produces (conv1 writes "c1")
    return save(m, d / "dangling.onnx")


def write_cycle(d: Path) -> Path:
    m = tiny_bnn()
    nodes = list(m.graph.node)
    # relu_a reads relu_b's output and relu_b reads relu_a's: a two-node loop before fc1
    loop = [helper.make_node("Add", ["f1", "loop_b"], ["loop_a"], name="loop_a"),
            helper.make_node("Relu", ["loop_a"], ["loop_b"], name="loop_b")]
    _node(m, "fc1").input[0] = "loop_b"
    return save(_replace_nodes(m, nodes[:-1] + loop + nodes[-1:]), d / "cycle.onnx")


def write_two_inputs(d: Path) -> Path:
    m = tiny_bnn()
    m.graph.input.append(helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["N", 10]))
    return save(m, d / "two_inputs.onnx")


def write_old_opset(d: Path) -> Path:
    return save(tiny_bnn(opset=7), d / "opset7.onnx")


def write_empty_graph(d: Path) -> Path:
    m = tiny_bnn()
    del m.graph.node[:]
    del m.graph.initializer[:]
    m.graph.output[0].name = "x"
    return save(m, d / "empty_graph.onnx")


def write_billion_input_channels(d: Path) -> Path:
    m = tiny_bnn(input_dims=["N", 1_000_000_000, 8, 8])
    return save(m, d / "billion_input.onnx")


def write_billion_weight_channels(d: Path) -> Path:
    """A Conv weight whose dims claim 1e9 output channels, with 36 bytes of raw data."""
    m = tiny_bnn()
    w = next(t for t in m.graph.initializer if t.name == "conv1.w")
    del w.dims[:]
    w.dims.extend([1_000_000_000, 1, 3, 3])
    return save(m, d / "billion_weight.onnx")


def write_missing_external_data(d: Path) -> Path:
    m = tiny_bnn()
    path = d / "external.onnx"
    onnx.save_model(m, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="external.onnx.data", size_threshold=0)
    (d / "external.onnx.data").unlink()
    return path


# ---------------------------------------------------------------- malformed in other ways
def write_lfs_pointer(d: Path) -> Path:
    return _write(d / "lfs.onnx", b"version https://git-lfs.github.com/spec/v1\n"
                                  b"oid sha256:0123456789abcdef\nsize 123456\n")


def write_weight_data_mismatch(d: Path) -> Path:
    """conv1.w claims 40 output channels but holds the data of 4."""
    m = tiny_bnn()
    next(t for t in m.graph.initializer if t.name == "conv1.w").dims[0] = 40
    return save(m, d / "data_mismatch.onnx")


def write_missing_conv_weight(d: Path) -> Path:
    m = tiny_bnn()
    del _node(m, "conv1").input[1:]
    return save(m, d / "conv_no_weight.onnx")


def write_cast_without_to(d: Path) -> Path:
    m = tiny_bnn()
    del _node(m, "cast").attribute[:]
    return save(m, d / "cast_no_to.onnx")


def write_huge_constant_expression(d: Path) -> Path:
    """ConstantOfShape([2**20, 2**10]): a gigabyte tensor computed from a 16-byte initializer."""
    m = tiny_bnn()
    m.graph.initializer.append(_init("big_shape", np.array([1 << 20, 1 << 10], np.int64)))
    nodes = [helper.make_node("ConstantOfShape", ["big_shape"], ["big"], name="make_big"),
             helper.make_node("Add", ["big", "k255"], ["k255_big"], name="add_big"),
             *m.graph.node]
    _replace_nodes(m, nodes)
    _node(m, "norm").input[1] = "k255_big"
    return save(m, d / "huge_constant.onnx")


def write_zero_channels(d: Path) -> Path:
    return save(tiny_bnn(input_dims=["N", 0, 8, 8]), d / "zero_channels.onnx")


# ---------------------------------------------------------------- other user mistakes
def write_grouped_conv(d: Path) -> Path:
    m = tiny_bnn()
    # conv2: 4 -> 4 channels in 2 groups, inserted after the first binarization
    m.graph.initializer.append(_init("conv2.w", _signs((C_OUT, C_OUT // 2, 3, 3), 5)))
    conv2 = helper.make_node("Conv", ["a1", "conv2.w"], ["c2"], name="conv2",
                             kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=2)
    return save(_insert_after(m, "act1", conv2, "a1"), d / "group2.onnx")


def write_maxpool_overlapping(d: Path) -> Path:
    m = tiny_bnn()
    pool = helper.make_node("MaxPool", ["a1"], ["p1"], name="pool1", kernel_shape=[3, 3],
                            strides=[1, 1])
    m = _insert_after(m, "act1", pool, "a1")
    w = next(t for t in m.graph.initializer if t.name == "fc1.w")
    w.CopyFrom(_init("fc1.w", _signs((CLASSES, C_OUT * 6 * 6), 3)))
    return save(m, d / "maxpool_stride1.onnx")


def write_float_input(d: Path) -> Path:
    m = tiny_bnn()
    m.graph.input[0].type.tensor_type.elem_type = TensorProto.FLOAT
    nodes = [n for n in m.graph.node if n.name not in ("cast", "norm")]
    _node(m, "conv1").input[0] = "x"
    return save(_replace_nodes(m, nodes), d / "float_input.onnx")


def write_softmax_end(d: Path) -> Path:
    m = tiny_bnn()
    _node(m, "fc1").output[0] = "logits"
    m.graph.node.append(helper.make_node("Softmax", ["logits"], ["y"], name="softmax", axis=1))
    return save(m, d / "softmax_end.onnx")


def write_where_computed_branches(d: Path) -> Path:
    m = tiny_bnn()
    # Where(b1 >= 0, b1, -1): the 'true' branch is a computed tensor (a ReLU-like clamp)
    _node(m, "act1").input[1] = "b1"
    return save(m, d / "where_branches.onnx")


Case = Callable[[Path], Path]

BROKEN: dict[str, Case] = {
    "corrupt": write_corrupt,
    "truncated": write_truncated,
    "empty_file": write_empty,
    "softmax_middle": write_softmax_middle,
    "sigmoid_middle": write_sigmoid_middle,
    "lstm": write_lstm,
    "float_weights": write_float_weights,
    "nan_batchnorm": write_nan_batchnorm,
    "negative_var": write_negative_var,
    "symbolic_hw": write_symbolic_hw,
    "dangling": write_dangling,
    "cycle": write_cycle,
    "two_inputs": write_two_inputs,
    "opset7": write_old_opset,
    "empty_graph": write_empty_graph,
    "billion_input_channels": write_billion_input_channels,
    "billion_weight_channels": write_billion_weight_channels,
    "missing_external_data": write_missing_external_data,
}

MALFORMED: dict[str, Case] = {
    "lfs_pointer": write_lfs_pointer,
    "weight_data_mismatch": write_weight_data_mismatch,
    "missing_conv_weight": write_missing_conv_weight,
    "cast_without_to": write_cast_without_to,
    "huge_constant_expression": write_huge_constant_expression,
    "zero_channels": write_zero_channels,
}

MISTAKES: dict[str, Case] = {
    "grouped_conv": write_grouped_conv,
    "maxpool_overlapping": write_maxpool_overlapping,
    "float_input": write_float_input,
    "softmax_end": write_softmax_end,
    "where_computed_branches": write_where_computed_branches,
}
