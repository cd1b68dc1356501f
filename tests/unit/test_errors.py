"""Broken models: every one is refused fast, in the frontend, with a message for people.

Each case in ``broken_models`` is written at test time, compiled with ``bnnc compile``
(through ``bnnc.cli.main``) and must: exit 2, print a one-to-three-line message without a
traceback that names the node and op (where there is one), what is wrong and the fix,
leave no output directory, and finish in well under 5 s. The messages are pinned by their
key phrases, not their full text.
"""

from __future__ import annotations

import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import onnx
import pytest

import broken_models as bm
from bnnc import golden
from bnnc.cli import main
from bnnc.errors import BnncError, ModelError, UnsupportedError, UsageError
from bnnc.frontend.convert import ConvertOptions, onnx_to_ir
from bnnc.frontend.load import load_onnx

TIME_LIMIT_S = 5.0  # "never hangs": generous, each case takes milliseconds

# case -> (error class, phrases the message must contain)
EXPECTED: dict[str, tuple[type[BnncError], tuple[str, ...]]] = {
    # the 14 kinds of broken model
    "corrupt": (ModelError, ("corrupt.onnx", "not a readable ONNX file", "corrupt",
                             "re-export")),
    "truncated": (ModelError, ("truncated.onnx", "not a readable ONNX file", "truncated",
                               "re-export")),
    "empty_file": (ModelError, ("empty.onnx", "the file is empty (0 bytes)", "re-export")),
    "softmax_middle": (UnsupportedError, ("node 'softmax1' (Softmax)", "not supported by bnnc",
                                          "remove or replace it", "supported: Add,")),
    "sigmoid_middle": (UnsupportedError, ("node 'sigmoid1' (Sigmoid)", "not supported by bnnc",
                                          "hidden activations must be binary",
                                          "GreaterOrEqual + Where(+1, -1)")),
    "lstm": (UnsupportedError, ("node 'lstm1' (LSTM)", "not supported by bnnc",
                                "recurrent layers cannot be compiled")),
    "float_weights": (UnsupportedError, ("node 'conv1' (Conv)", "weights are not binary",
                                         "output channel 0 holds -1, -0.7, 0.3, 1",
                                         "expected +-1", "Binarize the weights before export")),
    "nan_batchnorm": (ModelError, ("node 'bn1' (BatchNormalization)", "scale[1] is nan",
                                   "must be finite", "fix the checkpoint")),
    "negative_var": (ModelError, ("node 'bn1' (BatchNormalization)", "channel 2",
                                  "var + epsilon = -0.49999 <= 0", "var -0.5",
                                  "variance must be positive", "fix running_var")),
    "symbolic_hw": (UnsupportedError, ("graph input 'x'", "['N', 1, 'H', 'W']",
                                       "only the batch dimension may be symbolic",
                                       "--input-shape C,H,W (here 1,H,W)")),
    "dangling": (ModelError, ("node 'bn1' (BatchNormalization)", "reads tensor 'conv1_out'",
                              "dangling name", "re-export")),
    "cycle": (ModelError, ("the graph has a cycle",
                           "node 'loop_b' (Relu) -> node 'loop_a' (Add) -> node 'loop_b' (Relu)",
                           "must be acyclic", "re-export")),
    "two_inputs": (UnsupportedError, ("2 inputs ('x', 'mask')", "exactly one image input",
                                      "make the others initializers or constants")),
    "opset7": (UnsupportedError, ("opset 7 is too old", "opset >= 13",
                                  "opset_version=13", "onnx.version_converter")),
    "empty_graph": (ModelError, ("the graph is empty (no nodes)", "re-export")),
    "billion_input_channels": (UnsupportedError, ("graph input 'x'",
                                                  "['N', 1000000000, 8, 8]",
                                                  "64,000,000,000 elements per frame",
                                                  "--input-shape C,H,W")),
    "billion_weight_channels": (UnsupportedError, ("initializer 'conv1.w'",
                                                   "node 'conv1', Conv",
                                                   "[1000000000, 1, 3, 3]",
                                                   "9,000,000,000 elements",
                                                   "more than bnnc accepts")),
    "missing_external_data": (ModelError, ("external.onnx",
                                           "external data file 'external.onnx.data' is missing",
                                           "keep it beside the .onnx file")),
    # malformed in other ways
    "lfs_pointer": (ModelError, ("not a readable ONNX file", "Git LFS pointer",
                                 "git lfs pull")),
    "weight_data_mismatch": (ModelError, ("initializer 'conv1.w'", "node 'conv1', Conv",
                                          "shape [40, 1, 3, 3]",
                                          "holds 144 bytes instead of 1,440", "re-export")),
    "missing_conv_weight": (ModelError, ("node 'conv1' (Conv) has 1 input;",
                                         "takes 2 to 3", "re-export")),
    "cast_without_to": (ModelError, ("node 'cast' (Cast)", "required attribute 'to'",
                                     "re-export")),
    "huge_constant_expression": (UnsupportedError, ("node 'make_big' (ConstantOfShape)",
                                                    "[1048576, 1024]",
                                                    "1,073,741,824 elements",
                                                    "more than bnnc accepts")),
    "zero_channels": (ModelError, ("graph input 'x'", "dimension 0 is not positive",
                                   "--input-shape")),
    # other user mistakes
    "grouped_conv": (UnsupportedError, ("node 'conv2' (Conv)", "group=2", "use group=1")),
    "maxpool_overlapping": (UnsupportedError, ("node 'pool1' (MaxPool)", "stride == kernel",
                                               "kernel [3, 3] with strides [1, 1]",
                                               "MaxPool2d(2)")),
    "float_input": (UnsupportedError, ("node 'conv1' (Conv)",
                                       "reads the float graph input directly",
                                       "a uint8 input (followed by Cast)", "QuantizeLinear")),
    "softmax_end": (UnsupportedError, ("node 'softmax' (Softmax)", "not supported by bnnc",
                                       "does not change the predicted class",
                                       "export the logits")),
    "where_computed_branches": (UnsupportedError, ("node 'act1' (Where)",
                                                   "'true' branch 'b1' is a computed tensor",
                                                   "Where(x >= t, +1, -1)",
                                                   "constant branches")),
}

ALL_CASES = {**bm.BROKEN, **bm.MALFORMED, **bm.MISTAKES}


def test_every_case_has_an_expected_message() -> None:
    assert set(EXPECTED) == set(ALL_CASES)
    assert len(bm.BROKEN) >= 14


def _compile(path: Path, out: Path, *extra: str) -> int:
    return main(["compile", str(path), "-o", str(out), "-q", *extra])


# ---------------------------------------------------------------- the valid model
def _check_against_onnxruntime(path: Path, graph: object) -> None:
    ort = pytest.importorskip("onnxruntime")
    x = np.random.default_rng(0).integers(0, 256, (16, 1, 8, 8), dtype=np.uint8)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ref = sess.run(None, {"x": x})[0]
    scores = golden.run(graph, x)
    out = graph.output
    y = scores * graph.consts[out.scale] + graph.consts[out.bias]
    # +-1 weights on +-1 activations: every value is a small integer, exact in float32
    assert np.array_equal(y, ref)


def test_tiny_bnn_is_valid_and_matches_onnxruntime(tmp_path: Path) -> None:
    model = bm.tiny_bnn()
    onnx.checker.check_model(model, full_check=True)
    path = bm.save(model, tmp_path / "tiny.onnx")
    graph = onnx_to_ir(load_onnx(path))
    _check_against_onnxruntime(path, graph)


# ---------------------------------------------------------------- every broken model
def _passes_must_not_run(*args: object, **kwargs: object) -> None:
    raise AssertionError("the model got past the frontend")


@pytest.mark.parametrize("case", sorted(ALL_CASES))
def test_cli_refuses_with_a_message_for_people(case: str, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bnnc.api.run_pipeline", _passes_must_not_run)
    path = ALL_CASES[case](tmp_path)
    out = tmp_path / "build"
    t0 = time.perf_counter()
    rc = _compile(path, out)
    elapsed = time.perf_counter() - t0
    err = capsys.readouterr().err
    _, phrases = EXPECTED[case]
    assert rc == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert 1 <= len(lines) <= 3, err
    assert lines[0].startswith("bnnc compile: error: ")
    for phrase in phrases:
        assert phrase in err, f"{phrase!r} not in {err!r}"
    assert not out.exists(), "a failed compile must not leave an output directory"
    assert elapsed < TIME_LIMIT_S


@pytest.mark.parametrize("case", sorted(ALL_CASES))
def test_frontend_raises_the_right_error(case: str, tmp_path: Path) -> None:
    path = ALL_CASES[case](tmp_path)
    cls, phrases = EXPECTED[case]
    with pytest.raises(BnncError) as info:
        onnx_to_ir(load_onnx(path))
    assert type(info.value) is cls
    assert phrases[-1] in str(info.value)


# ---------------------------------------------------------------- absurd sizes: fast, no allocation
@pytest.mark.parametrize("case", ["billion_input_channels", "billion_weight_channels",
                                  "huge_constant_expression", "weight_data_mismatch"])
def test_absurd_sizes_are_refused_without_allocating(case: str, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    path = ALL_CASES[case](tmp_path)
    converted: list[str] = []
    real_to_array = onnx.numpy_helper.to_array

    def to_array(t: onnx.TensorProto, *args: object, **kwargs: object) -> np.ndarray:
        converted.append(t.name)
        return real_to_array(t, *args, **kwargs)

    monkeypatch.setattr(onnx.numpy_helper, "to_array", to_array)
    tracemalloc.start()
    try:
        with pytest.raises(BnncError):
            onnx_to_ir(load_onnx(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 32 * 1024 ** 2, f"peak {peak:,} bytes"
    # the absurd tensor is refused from its header; only the huge expression's small
    # operands are ever turned into arrays
    assert converted == [] or case == "huge_constant_expression"


# ---------------------------------------------------------------- --input-shape
def test_input_shape_fixes_symbolic_dims(tmp_path: Path) -> None:
    path = bm.write_symbolic_hw(tmp_path)
    graph = onnx_to_ir(load_onnx(path), ConvertOptions(input_shape=(1, 8, 8)))
    assert graph.input.shape == (1, 8, 8)
    _check_against_onnxruntime(path, graph)


def test_cli_input_shape_gets_past_the_frontend(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    path = bm.write_symbolic_hw(tmp_path)
    dump = tmp_path / "ir"
    rc = _compile(path, tmp_path / "build", "--input-shape", "1,8,8", "--dump-ir", str(dump))
    err = capsys.readouterr().err
    # later stages (HLS generation) may fail for their own reasons; the frontend must not
    assert (dump / "00_frontend.txt").exists(), err
    assert "symbolic" not in err
    assert rc in (0, 2)


def test_input_shape_of_the_wrong_rank_is_a_usage_error(tmp_path: Path) -> None:
    path = bm.write_symbolic_hw(tmp_path)
    with pytest.raises(UsageError, match=r"--input-shape 8,8 has 2 dims but graph input 'x' "
                                         r"\(shape \['N', 1, 'H', 'W'\]\) has 3 besides the batch"):
        onnx_to_ir(load_onnx(path), ConvertOptions(input_shape=(8, 8)))


# ---------------------------------------------------------------- the real command line
def _bnnc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bnnc", *args], capture_output=True,
                          text=True, timeout=60)


def test_console_hides_the_traceback_and_debug_shows_it(tmp_path: Path) -> None:
    path = bm.write_float_weights(tmp_path)
    plain = _bnnc("compile", str(path), "-o", str(tmp_path / "a"), "-q")
    assert plain.returncode == 2
    assert "Traceback" not in plain.stderr
    assert plain.stderr.startswith("bnnc compile: error: node 'conv1' (Conv): weights are not "
                                   "binary")
    debug = _bnnc("--debug", "compile", str(path), "-o", str(tmp_path / "b"), "-q")
    assert debug.returncode != 0
    assert "Traceback (most recent call last)" in debug.stderr
    assert ("bnnc.errors.UnsupportedError: node 'conv1' (Conv): weights are not binary"
            in debug.stderr)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
