"""The Python API: ``bnnc.compile(...)`` -> :class:`Project`."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from . import golden, ir
from .backends.board import generate_board
from .backends.hls import generate_hls, io_words
from .backends.rtl import generate_rtl
from .cycles import design_timing
from .cost import shape_of
from .errors import ModelError, UsageError
from .frontend.convert import ConvertOptions, onnx_to_ir
from .frontend.load import load_onnx
from .passes import Fold, pipeline, run_pipeline
from .report import build_report
from .serialize import load_graph, save_graph
from .targets import Target, get_target
from .host.model import InputError, ModelSpec, load_spec
from .tools import find_ap_types

__all__ = ["compile_model", "load_project", "Project", "CompileOptions", "BACKENDS"]

BACKENDS = ("golden", "csim", "rtlsim", "onnxruntime")
GENERATE = ("hls", "rtl", "both")
PROJECT_MARKER = "bnnc_project.json"


@dataclass(frozen=True, kw_only=True)
class CompileOptions:
    """Everything ``bnnc compile`` takes besides the model and the output directory."""

    target: str = "pynq-z2"
    fold: Mapping[str, Mapping[str, int | str]] = field(default_factory=dict)
    fps: float | None = None
    input_shape: tuple[int, ...] | None = None
    dump_ir: str | None = None
    backend: str = "hls"  # what make bitstream builds from: "hls" or "rtl" (the Verilog twin)
    tools: Mapping[str, str] = field(default_factory=dict)  # explicit "vivado" / "hls" executables
    generate: str = "both"  # which projects to write: "hls" (hls/), "rtl" (rtl/) or "both"
    subbit: str = "auto"  # sub-bit codebook layers: "auto", "off" or "tau=N" (DESIGN.md s. 5)


@dataclass(frozen=True)
class RtlsimResult:
    """Integer scores (N, classes) and the measured cycles of an RTL simulation."""

    scores: np.ndarray
    run: Any  # bnnc.sim.rtlsim.RtlRun: cycles, latency, interval, cycles_per_second


@dataclass
class Project:
    """A compiled accelerator project on disk."""

    path: Path
    graph: ir.Graph
    spec: ModelSpec
    report: dict[str, Any]
    source: Path | None = None

    @property
    def rtl_dir(self) -> Path:
        return self.path / "rtl"

    @property
    def hls_dir(self) -> Path:
        return self.path / "hls"

    def scores(self, x: np.ndarray, backend: str = "golden") -> np.ndarray:
        """Integer class scores (N, classes) for ONNX-graph inputs ``x``."""
        try:
            q = self.spec.quantize(x)
        except InputError as exc:
            raise UsageError(str(exc)) from None
        if backend == "golden":
            return golden.run(self.graph, q)
        if backend == "csim":
            from .csim import run_csim

            words = self._pack(q)
            out = run_csim(self.hls_dir, words, q.shape[0], self.spec.out_words)
            return self.spec.unpack(out, q.shape[0])
        if backend == "rtlsim":
            return self.rtlsim(x).scores
        raise UsageError(f"backend {backend!r} gives no integer scores; use one of golden, csim, "
                         "rtlsim")

    def rtlsim(self, x: np.ndarray, *, backpressure: float = 0.0, gaps: float = 0.0,
               seed: int = 1) -> "RtlsimResult":
        """Cycle-accurate Verilator simulation of ``rtl/`` on ONNX-graph inputs ``x``.

        ``backpressure``/``gaps``: probabilities of the output holding TREADY low and the
        input holding TVALID low in a cycle (seeded). Returns scores and measured cycles.
        """
        from .sim.rtlsim import run_top

        if not (self.rtl_dir / "files.f").exists():
            raise UsageError(f"{self.path} has no RTL project (rtl/); compile with "
                             "--generate rtl or both")
        try:
            q = self.spec.quantize(x)
        except InputError as exc:
            raise UsageError(str(exc)) from None
        run = run_top(self.rtl_dir, self._pack(q), q.shape[0], seed=seed, gaps=gaps,
                      backpressure=backpressure)
        return RtlsimResult(scores=self.spec.unpack(run.words, q.shape[0]), run=run)

    def synth(self, *, jobs: int = 1, only: tuple[str, ...] = (), yosys: str | None = None,
              progress: Callable[[str], None] | None = None) -> dict[str, Any]:
        """Synthesize ``rtl/`` with Yosys (``synth_xilinx`` for the target's family).

        Each kernel unit is synthesized on its own (cached by a hash of its sources and
        parameters) and the figures are summed. The result (per unit and total LUT, FF,
        BRAM36, DSP, the compiler's estimates beside them with their error, and whether the
        design fits the target) is stored as ``report["synth"]`` and in ``report.json``,
        and returned. See docs/synth.md.
        """
        from .synth import synthesize

        if not (self.rtl_dir / "rtl.json").exists():
            raise UsageError(f"{self.path} has no RTL project (rtl/); compile with "
                             "--generate rtl or both")
        target = get_target(self.report["target"]["name"])
        res = synthesize(self.rtl_dir, target, graph=self.graph, model=self.spec.name,
                         yosys=yosys, jobs=jobs, only=only, progress=progress)
        data = res.to_json()
        if not only:  # a partial run is returned, not stored as the project's figures
            self.report["synth"] = data
            (self.path / "report.json").write_text(json.dumps(self.report, indent=1) + "\n")
        return data

    def output_tolerance(self) -> np.ndarray:
        """Per-output bound on |outputs - onnxruntime's float32 outputs| (DESIGN.md s. 1).

        The host computes ``scale * s + bias`` exactly (float64, then rounded to float32);
        onnxruntime sums the last layer's MW terms in float32. Its rounding error is bounded
        relative to the magnitude of those terms, not of the result (which may cancel to
        near zero): ``16 * eps32 * (|scale| * MW * max|x| + |bias|)`` per output.
        """
        last = self.graph.node(self.graph.output.inputs[0])
        while not isinstance(last, ir.MatVec):
            last = self.graph.node(last.inputs[0])
        emax = 255 if last.in_dtype.bits == 8 else 1
        scale = np.abs(np.asarray(self.spec.scale, dtype=np.float64))
        bias = np.abs(np.asarray(self.spec.bias, dtype=np.float64))
        return 16 * float(np.finfo(np.float32).eps) * (scale * last.mw * emax + bias)

    def locate_csim_mismatch(self, x: np.ndarray, frame: int) -> str:
        """Trace frame ``frame`` of ``x`` through C-simulation; name the first bad layer."""
        from .csim import locate_mismatch

        q = self.spec.quantize(x)[frame: frame + 1]
        return locate_mismatch(self.graph, self.hls_dir, self._pack(q), q[0])

    def _pack(self, q: np.ndarray) -> np.ndarray:
        from .host.packing import pack_frames

        if self.spec.element == "bipolar":
            return pack_frames(q, 1, bipolar=True)
        return pack_frames(q, 8)

    def predict(self, x: np.ndarray, backend: str = "golden", raw: bool = False) -> np.ndarray:
        """The model's outputs for ``x`` (what the ONNX graph outputs), or raw integer scores.

        ``backend``: ``"golden"`` (numpy IR model), ``"rtlsim"`` (Verilator simulation of
        the generated Verilog), ``"csim"`` (g++ C-simulation of the
        generated HLS) or ``"onnxruntime"`` (the source model, for comparison).
        """
        if backend == "onnxruntime":
            if self.source is None or not self.source.exists():
                raise UsageError("the source .onnx file of this project is not available")
            import onnxruntime as ort

            sess = ort.InferenceSession(str(self.source), providers=["CPUExecutionProvider"])
            xin = np.asarray(x)
            if xin.ndim == len(self.spec.input_shape):
                xin = xin[None]
            return sess.run(None, {self.spec.input_name: xin})[0]
        if backend not in BACKENDS:
            raise UsageError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        s = self.scores(x, backend)
        return s if raw else self.spec.scores_to_output(s)


def _spec(graph: ir.Graph, name: str, input_shape: list[int]) -> ModelSpec:
    inp, out = graph.input, graph.output
    in_words, out_words = io_words(graph)
    classes = shape_of(graph, out.inputs[0])[0]
    return ModelSpec(name=name, input_name=inp.onnx_name,
                     input_dtype="uint8" if inp.onnx_dtype == "uint8" else "float",
                     input_shape=list(input_shape), frame_shape=list(inp.shape),
                     element="bipolar" if inp.dtype.bits == 1 else "uint8", quant=inp.quant,
                     quant_scale=inp.quant_scale, quant_zero_point=inp.quant_zero_point,
                     binarize_threshold=inp.binarize_threshold, in_words=in_words,
                     output_name=out.onnx_name, classes=classes, out_words=out_words,
                     scale=[float(v) for v in graph.consts[out.scale]],
                     bias=[float(v) for v in graph.consts[out.bias]])


def _onnx_input_shape(model: Any, opts: CompileOptions) -> list[int]:
    inits = {t.name for t in model.graph.initializer}
    gin = next(i for i in model.graph.input if i.name not in inits)
    dims = [d.dim_value if d.HasField("dim_value") else -1 for d in gin.type.tensor_type.shape.dim]
    rest = list(opts.input_shape) if opts.input_shape else dims[1:]
    return [int(d) for d in rest]


def _prepare_out_dir(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise UsageError(f"output path {out} exists and is not a directory")
    if out.exists() and any(out.iterdir()) and not (out / PROJECT_MARKER).exists():
        raise UsageError(f"output directory {out} is not empty and is not a bnnc project; "
                         "choose another -o directory or empty it")


def compile_model(model: str | Path, out_dir: str | Path = "build",
                  options: CompileOptions | None = None,
                  progress: Callable[[str], None] | None = None) -> Project:
    """Compile an ONNX model into an accelerator project in ``out_dir``.

    The project is written to a temporary directory beside ``out_dir`` and moved into
    place only when complete, so a failed compile never leaves a project that looks whole.

    Raises
    ------
    BnncError
        with a message naming what is wrong (unsupported op, non-binary weights, illegal
        folding, missing tool, ...).
    """
    opts = options or CompileOptions()
    say = progress or (lambda msg: None)
    target: Target = get_target(opts.target)
    out = Path(out_dir)
    _prepare_out_dir(out)
    t0 = time.perf_counter()
    say(f"loading {model}")
    onnx_model = load_onnx(model)
    say("converting ONNX to IR")
    graph = onnx_to_ir(onnx_model, ConvertOptions(input_shape=opts.input_shape,
                                                  subbit=opts.subbit))
    fold = Fold(target=target, fps=opts.fps, overrides=opts.fold)
    say("running passes: " + ", ".join(getattr(p, "__name__", "") for p in pipeline(fold)))
    hw = run_pipeline(graph, pipeline(fold), dump_dir=opts.dump_ir)
    name = Path(model).stem
    if opts.generate not in GENERATE:
        raise UsageError(f"generate={opts.generate!r}: expected one of {', '.join(GENERATE)}")
    ap_types = find_ap_types() if opts.generate in ("hls", "both") else None
    say("cycle model and FIFO depths")
    timing = design_timing(hw)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        if ap_types is not None:
            say("generating HLS project")
            generate_hls(hw, tmp / "hls", target, name, str(ap_types))
        if opts.generate in ("rtl", "both"):
            say("generating RTL project")
            generate_rtl(hw, tmp / "rtl", name, timing)
        save_graph(hw, tmp / "ir")
        spec = _spec(hw, name, _onnx_input_shape(onnx_model, opts))
        (tmp / "model.json").write_text(spec.to_json())
        report = build_report(hw, target, name, timing=timing)
        (tmp / "report.json").write_text(json.dumps(report, indent=1) + "\n")
        (tmp / PROJECT_MARKER).write_text(json.dumps(
            {"format": "bnnc-project", "version": 1, "model": name,
             "source": str(Path(model).resolve()), "target": target.name}, indent=1) + "\n")
        say("generating board flow and deploy bundle")
        generate_board(tmp, target, name, source=opts.backend, tools=opts.tools)
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    say(f"done in {time.perf_counter() - t0:.2f} s: {out}")
    return Project(path=out, graph=hw, spec=spec, report=report, source=Path(model).resolve())


def load_project(path: str | Path) -> Project:
    """Open a project written by :func:`compile_model`."""
    p = Path(path)
    if not (p / PROJECT_MARKER).exists():
        raise ModelError(f"{p} is not a bnnc project (no {PROJECT_MARKER}); run 'bnnc compile "
                         f"MODEL.onnx -o {p}' first")
    meta = json.loads((p / PROJECT_MARKER).read_text())
    graph = load_graph(p / "ir")
    spec = load_spec(p / "model.json")
    report = json.loads((p / "report.json").read_text())
    src = Path(meta["source"]) if meta.get("source") else None
    return Project(path=p, graph=graph, spec=spec, report=report, source=src)
