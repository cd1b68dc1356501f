"""The host driver end to end on the simulated accelerator (C-simulation engine):
bit-exact against golden, outputs within DESIGN.md section 1's contract of onnxruntime."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from onnx import TensorProto

import bnnc
from bnnc.api import CompileOptions, compile_model
from bnnc.errors import UsageError
from bnnc.host.device import AP_START, DeviceError
from bnnc.host.driver import Accelerator
from bnnc.sim.device import ENGINES, SimDevice, register_engine
from bnnc.testing import Chain

from board_helpers import DIGITS, projects  # noqa: F401  (fixture)
from conftest import compare_with_onnxruntime

X = np.load(DIGITS / "data" / "x_test.npy")
Y = np.load(DIGITS / "data" / "y_test.npy")


class CountingSim(SimDevice):
    """A SimDevice that counts buffer allocations."""

    allocs = 0

    def alloc(self, words):
        self.allocs += 1
        return super().alloc(words)


@pytest.mark.csim
@pytest.mark.parametrize("name", ["tfc", "cnv"])
def test_driver_on_simulated_device_equals_golden_and_onnxruntime(projects, name):
    proj = projects[name]
    acc = Accelerator(proj.path / "deploy", device=SimDevice(proj.path), batch_size=128)
    raw = acc.predict(X, raw=True)
    assert acc.last_run.frames == 360 and acc.last_run.batches == 3
    assert acc.last_run.batch_frames == 128
    golden = proj.scores(X, backend="golden")
    assert raw.dtype == np.int64 and np.array_equal(raw, golden)
    y = acc.predict(X)
    assert y.dtype == np.float32 and np.array_equal(y, proj.spec.scores_to_output(golden))
    ref = proj.predict(X, backend="onnxruntime")
    stats = compare_with_onnxruntime(y, ref, proj.output_tolerance())
    assert stats["argmax_diff"] == 0 and stats["violations"] == 0, stats
    trained = json.loads((DIGITS / f"{name}.json").read_text())
    assert round(float((y.argmax(1) == Y).mean()), 4) == round(trained["torch_test_accuracy"], 4)
    assert "360 frames in 3 batch(es) of <= 128" in str(acc.last_run)


@pytest.mark.csim
def test_buffers_are_reused_and_grown(projects):
    proj = projects["tfc"]
    dev = CountingSim(proj.path)
    acc = Accelerator(proj.path / "deploy", device=dev)
    assert acc.max_batch == ((1 << 26) - 1) // (8 * max(proj.spec.in_words, proj.spec.out_words))
    one = acc.predict(X[0])  # one image without the batch axis
    assert one.shape == (1, 10) and dev.allocs == 2
    acc.predict(X[:20])
    assert dev.allocs == 4 and acc._capacity == 20  # grown
    acc.predict(X[:7])
    acc.predict(X[:20], batch_size=5)
    assert dev.allocs == 4  # reused
    assert acc.last_run.batches == 4 and dev.batches == 1 + 1 + 1 + 4
    with acc:
        pass
    assert acc._in is None and acc._capacity == 0


@pytest.mark.csim
def test_bipolar_float_input_model_round_trips(tmp_path):
    b = Chain((2, 4, 4), dtype=TensorProto.FLOAT, seed=5)
    b.binarize(threshold=0.25)
    b.flatten(); b.gemm(32, 16); b.batchnorm(16); b.binarize()
    b.gemm(16, 4); b.batchnorm(4)
    b.build(tmp_path / "bip.onnx")
    proj = bnnc.compile(tmp_path / "bip.onnx", tmp_path / "build")
    assert proj.spec.element == "bipolar"
    x = np.random.default_rng(0).normal(0.2, 1.0, (50, 2, 4, 4)).astype(np.float32)
    acc = Accelerator(proj.path / "deploy", device=SimDevice(proj.path), batch_size=16)
    assert np.array_equal(acc.predict(x, raw=True), proj.scores(x, backend="golden"))
    stats = compare_with_onnxruntime(acc.predict(x), proj.predict(x, backend="onnxruntime"),
                                     proj.output_tolerance())
    assert stats["argmax_diff"] == 0 and stats["violations"] == 0
    x[3, 1, 2, 2] = np.nan
    with pytest.raises(ValueError, match="input 'x' holds NaN or infinite values"):
        acc.predict(x)


@pytest.mark.csim
def test_run_on_board_script_with_the_simulated_device(projects, tmp_path):
    proj = projects["tfc"]
    np.save(tmp_path / "x.npy", X[:100])
    np.save(tmp_path / "y.npy", Y[:100])
    res = subprocess.run([sys.executable, str(proj.path / "deploy" / "run_on_board.py"),
                          "--images", str(tmp_path / "x.npy"), "--labels", str(tmp_path / "y.npy"),
                          "--sim", str(proj.path), "--outputs", str(tmp_path / "out.npy")],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    y = proj.predict(X[:100])
    acc = int((y.argmax(1) == Y[:100]).sum())
    assert f"accuracy: {acc / 100:.2%} ({acc} of 100)" in res.stdout
    assert "tfc on the simulated" in res.stdout and "frames/s" in res.stdout
    assert "compiler's estimate:" in res.stdout
    assert np.array_equal(np.load(tmp_path / "out.npy"), y)


@pytest.mark.rtlsim
def test_driver_on_the_rtl_engine(projects):
    """The same driver on the cycle-accurate RTL simulation of rtl/ (Verilator)."""
    proj = projects["tfc"]
    acc = Accelerator(proj.path / "deploy", device=SimDevice(proj.path, engine="rtl"),
                      batch_size=25)
    assert np.array_equal(acc.predict(X[:60], raw=True), proj.scores(X[:60]))
    assert acc.last_run.batches == 3


def test_engines(projects, tmp_path):
    proj = projects["tfc"]
    with pytest.raises(UsageError, match="unknown simulation engine 'spice'; choose one of csim, "):
        SimDevice(proj.path, engine="spice")
    with pytest.raises(UsageError, match="is not a bnnc project"):
        SimDevice(tmp_path)
    hls_only = tmp_path / "hls_only"
    compile_model(DIGITS / "tfc.onnx", hls_only, CompileOptions(generate="hls"))
    with pytest.raises(UsageError, match=r"has no RTL project \(rtl/\); compile with --generate "
                                         r"rtl or both, or use engine='csim'"):
        SimDevice(hls_only, engine="rtl")

    def golden_engine(build):  # an engine is a factory: build dir -> runner
        from bnnc.host.packing import unpack_frames

        p = bnnc.load_project(build)

        def run(words, n, timeout):
            per = p.spec.in_words * 8
            q = words.view(np.uint8).reshape(n, per)[:, :64].reshape(n, 8, 8, 1).transpose(0, 3, 1, 2)
            s = bnnc.golden.run(p.graph, q)
            out = np.zeros((n, p.spec.out_words * 2), dtype="<i4")
            out[:, : s.shape[1]] = s
            assert np.array_equal(unpack_frames(out.view("<u8").reshape(-1), n, 10), s)
            return out.view("<u8").reshape(-1)
        return run

    register_engine("golden-test", golden_engine)
    try:
        for engine in ("golden-test", golden_engine):
            acc = Accelerator(proj.path / "deploy", device=SimDevice(proj.path, engine=engine))
            assert np.array_equal(acc.predict(X[:30], raw=True), proj.scores(X[:30]))
    finally:
        del ENGINES["golden-test"]


def test_sim_device_checks_the_protocol(projects):
    proj = projects["tfc"]
    words_in, words_out = proj.spec.in_words, proj.spec.out_words
    dev = SimDevice(proj.path, engine=lambda build: (lambda w, n, t: np.zeros(n * words_out, np.uint64)))
    a, b = dev.alloc(4 * words_in), dev.alloc(4 * words_out)
    with pytest.raises(DeviceError, match="DMA transfer before ap_start"):
        dev.transfer(a, b, 1.0)
    dev.write_register("ctrl", AP_START)
    with pytest.raises(DeviceError, match="n_frames is 0: write the batch size before ap_start"):
        dev.transfer(a, b, 1.0)
    dev.write_register("n_frames", 3)
    with pytest.raises(DeviceError, match=rf"the input transfer has {4 * words_in} words but "
                                          rf"n_frames=3 needs {3 * words_in}"):
        dev.transfer(a, b, 1.0)
    with pytest.raises(DeviceError, match="ap_start written while the accelerator is busy"):
        dev.write_register("ctrl", AP_START)
    with pytest.raises(DeviceError, match="no register 'N_FRAMES'"):
        dev.write_register("N_FRAMES", 1)
    dev.transfer(a[: 3 * words_in], b[: 3 * words_out], 1.0)
    assert dev.read_register("ctrl") == 0x6  # idle | done
    bad = SimDevice(proj.path, engine=lambda build: (lambda w, n, t: np.zeros(n, np.uint64)))
    bad.write_register("n_frames", 2)
    bad.write_register("ctrl", AP_START)
    with pytest.raises(DeviceError, match=rf"the <lambda> engine returned 2 words for 2 frame\(s\), "
                                          rf"expected {2 * words_out}"):
        bad.transfer(a[: 2 * words_in], b[: 2 * words_out], 1.0)


@pytest.mark.rtlsim
@pytest.mark.parametrize("name", ["subbit", "bitplane"])
def test_driver_on_the_technique_examples(name, tmp_path):
    """The shipped sub-bit and bit-plane digits nets through the driver on the RTL engine:
    integer scores equal golden, outputs within the onnxruntime contract, accuracy as trained."""
    proj = bnnc.compile(DIGITS / f"{name}.onnx", tmp_path / name)
    acc = Accelerator(proj.path / "deploy", device=SimDevice(proj.path, engine="rtl"),
                      batch_size=180)
    raw = acc.predict(X, raw=True)
    assert acc.last_run.batches == 2
    assert np.array_equal(raw, proj.scores(X, backend="golden"))
    y = acc.predict(X)
    stats = compare_with_onnxruntime(y, proj.predict(X, backend="onnxruntime"),
                                     proj.output_tolerance())
    assert stats["argmax_diff"] == 0 and stats["violations"] == 0, stats
    trained = json.loads((DIGITS / f"{name}.json").read_text())
    assert round(float((y.argmax(1) == Y).mean()), 4) == round(trained["onnxruntime_test_accuracy"], 4)
