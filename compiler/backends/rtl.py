"""Verilog backend: a folded hardware graph -> a synthesizable RTL project.

One kernel = one static Verilog module in ``rtl_templates/`` (copied into the project);
Python computes every parameter, every FIFO depth (:mod:`bnnc.cycles`) and writes every
constant memory as a ``$readmemh`` file; Jinja (StrictUndefined) only instantiates.

Project layout (``build/rtl/``)::

    bnnc_top.v            the top: AXI4-Stream in/out, kernels joined by FIFOs
    bnnc_*.v              the kernel modules (copies of rtl_templates/)
    <layer>_w.mem ...     weights, thresholds, invert flags of every matvec
    files.f               the Verilog files in compile order
    rtl.json              words per frame, FIFO depths, modelled interval and latency
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import numpy as np

from .. import __version__, ir
from .. import rtl_templates as _templates  # type: ignore[attr-defined]
from ..cost import rom_in_bram, shape_of, weight_in_bram
from ..cycles import DesignTiming, design_timing, hardware_nodes
from .hls import (codebook_index_words, codebook_patterns, io_words,
                  matvec_weight_words, threshold_rows)

__all__ = ["generate_rtl", "TEMPLATE_DIR", "MODULE_FILES", "MODULE_OF", "MODULE_DEPS",
           "module_files", "TOP_MODULE"]

TEMPLATE_DIR = Path(_templates.__file__).resolve().parent

# node class -> Verilog module (one file each, named after the module)
MODULE_OF: dict[type, str] = {
    ir.WidthConvert: "bnnc_width_convert",
    ir.SlidingWindow: "bnnc_sliding_window",
    ir.MatVec: "bnnc_matvec",
    ir.Pool: "bnnc_pool",
    ir.CodebookMatVec: "bnnc_codebook",
    ir.CodeMap: "bnnc_code_map",
    ir.BitPlaneMatVec: "bnnc_bitplane",
}
MODULE_FILES = ("bnnc_fifo.v", "bnnc_axis_in.v", "bnnc_axis_out.v", "bnnc_width_convert.v",
                "bnnc_sliding_window.v", "bnnc_matvec.v", "bnnc_pool.v", "bnnc_code_map.v",
                "bnnc_bitplane.v", "bnnc_sliding_window_ckk.v", "bnnc_codebook.v",
                "bnnc_matvec_schedule.v", "bnnc_rom.v", "bnnc_matvec_acc.v", "bnnc_popcount.v")
# submodules a module instantiates (their files come with it: kernel tests, bnnc synth)
MODULE_DEPS: dict[str, tuple[str, ...]] = {
    "bnnc_matvec": ("bnnc_matvec_schedule", "bnnc_rom", "bnnc_matvec_acc", "bnnc_popcount"),
    "bnnc_bitplane": ("bnnc_matvec_schedule", "bnnc_rom"),
    "bnnc_codebook": ("bnnc_matvec_schedule", "bnnc_rom", "bnnc_matvec_acc", "bnnc_popcount"),
}


def module_files(module: str) -> tuple[str, ...]:
    """The Verilog files of ``module`` and of the submodules it instantiates."""
    return (f"{module}.v", *(f"{d}.v" for d in MODULE_DEPS.get(module, ())))
TOP_MODULE = "bnnc_top"


@dataclass
class _Stream:
    name: str
    width: int
    depth: int

    @property
    def range(self) -> str:
        return f"[{self.width - 1}:0] "


@dataclass
class _Inst:
    name: str
    module: str
    comment: str
    inp: str
    out: str
    params: list[tuple[str, str]] = field(default_factory=list)


def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                              autoescape=False)


def _hex_lines(words: list[int], bits: int) -> str:
    digits = max(1, -(-bits // 4))
    return "".join(f"{w:0{digits}x}\n" for w in words)


def _concat(fields: list[list[int]], bits: int) -> list[int]:
    """[PE][N] ints of ``bits`` each -> N words, PE pe at bits pe*bits."""
    mask = (1 << bits) - 1
    out = []
    for col in zip(*fields):
        v = 0
        for pe, f in enumerate(col):
            v |= (int(f) & mask) << (pe * bits)
        out.append(v)
    return out


def bitplane_table_rows(tables: np.ndarray, pe: int, entry_bits: int) -> list[int]:
    """The bit-plane unit's TAB_FILE words: (MH, PLANES, TAPS+1) entries -> NF words; word
    nf holds entry c of (plane j, filter nf*PE + pe) at bits ((pe*PLANES + j)*(TAPS+1) + c)
    * entry_bits, two's complement (bnnc_bitplane.v)."""
    mh, planes, n = tables.shape
    t = np.asarray(tables, dtype=object).reshape(mh // pe, pe * planes * n)
    return _concat([[int(v) for v in col] for col in t.T.tolist()], entry_bits)


def _stream_name(graph: ir.Graph, name: str) -> str:
    n = graph.node(name)
    while isinstance(n, ir.FlattenNHWC):
        n = graph.node(n.inputs[0])
    return n.name


def _out_width(n: ir.Node) -> int:
    if isinstance(n, ir.WidthConvert):
        return n.out_bits
    if isinstance(n, ir.SlidingWindow) and n.order == "ckk":
        kk = n.kernel * n.kernel
        return n.simd * n.dtype.bits * kk + (kk if n.masked else 0)
    if isinstance(n, ir.SlidingWindow):
        return n.simd * n.dtype.bits + int(n.masked)
    if isinstance(n, (ir.MatVec, ir.CodebookMatVec)):
        return n.pe if n.thresholds is not None else n.pe * 32
    if isinstance(n, ir.Pool):
        return n.simd
    if isinstance(n, ir.CodeMap):
        return n.channels * 8
    if isinstance(n, ir.BitPlaneMatVec):
        return n.pe
    raise TypeError(n.kind)


def _instances(graph: ir.Graph, timing: DesignTiming,
               mem: dict[str, str]) -> tuple[list[_Inst], list[_Stream]]:
    depth = timing.fifo_depths
    streams = [_Stream(graph.input.name, 64, depth[graph.input.name])]
    insts: list[_Inst] = []
    for n in hardware_nodes(graph):
        src = _stream_name(graph, n.inputs[0])
        streams.append(_Stream(n.name, _out_width(n), depth[n.name]))
        module = MODULE_OF[type(n)]
        if isinstance(n, ir.SlidingWindow) and n.order == "ckk":
            module = "bnnc_sliding_window_ckk"
        k = _Inst(name=n.name, module=module, comment="", inp=src, out=n.name)
        if isinstance(n, ir.WidthConvert):
            iw, ow = -(-n.frame_bits // n.in_bits), -(-n.frame_bits // n.out_bits)
            k.comment = f"{n.in_bits} -> {n.out_bits} bits per word, {n.frame_bits} bits per frame"
            k.params = [("IN_W", str(n.in_bits)), ("OUT_W", str(n.out_bits)),
                        ("IN_WORDS", str(iw)), ("OUT_WORDS", str(ow))]
        elif isinstance(n, ir.SlidingWindow):
            _, oh, ow = shape_of(graph, n.name)
            pad_elem = 0 if n.masked else (1 if (n.dtype.bits == 1 and n.pad_value > 0) else
                                           0 if n.dtype.bits == 1 else n.pad_value)
            k.comment = (f"{n.kernel}x{n.kernel} stride {n.stride} pad {n.pad} "
                         f"({'masked zero' if n.masked else f'value {n.pad_value}'}) on "
                         f"{n.channels}x{n.height}x{n.width} {n.dtype}")
            k.params = [(key, str(int(v))) for key, v in (
                ("C", n.channels), ("H", n.height), ("W", n.width), ("K", n.kernel),
                ("S", n.stride), ("P", n.pad), ("SIMD", n.simd), ("EBITS", n.dtype.bits),
                ("OH", oh), ("OW", ow), ("MASKED", n.masked), ("PAD_ELEM", pad_elem))]
        elif isinstance(n, ir.MatVec):
            _, h, w = shape_of(graph, n.inputs[0])
            thr = n.thresholds is not None
            nf, sf = n.mh // n.pe, n.mw // n.simd
            k.comment = (f"{n.mh}x{n.mw} {n.in_dtype} {n.domain} domain, PE={n.pe} "
                         f"SIMD={n.simd}, {h * w} pixel(s), "
                         f"{'threshold' if thr else 'int32 score'} output")
            domain = {"popcount": 0, "dot": 1, "int": 2}[n.domain]
            words = matvec_weight_words(graph.consts[n.weights], n.pe, n.simd)
            mem[f"{n.name}_w.mem"] = _hex_lines(_concat(words, n.simd), n.pe * n.simd)
            files = {"W_FILE": f"{n.name}_w.mem", "T_FILE": "", "I_FILE": ""}
            if thr:
                t, inv = threshold_rows(graph, n)
                mem[f"{n.name}_t.mem"] = _hex_lines(_concat(t, n.acc_bits), n.pe * n.acc_bits)
                mem[f"{n.name}_i.mem"] = _hex_lines(_concat(inv, 1), n.pe)
                files.update(T_FILE=f"{n.name}_t.mem", I_FILE=f"{n.name}_i.mem")
            k.params = [(key, str(int(v))) for key, v in (
                ("MW", n.mw), ("MH", n.mh), ("PE", n.pe), ("SIMD", n.simd),
                ("IN_BITS", n.in_dtype.bits), ("DOMAIN", domain), ("ACC_BITS", n.acc_bits),
                ("OUT_BITS", 32), ("MASKED", n.masked), ("THRESH", thr))]
            k.params += [(key, f'"{v}"') for key, v in files.items() if v]
            # ROM placement as the cost model assumed it (rom_style in the module)
            k.params += [("W_BRAM", str(int(weight_in_bram(n)))),
                         ("T_BRAM", str(int(thr and rom_in_bram(n.pe * (n.acc_bits + 1), nf))))]
        elif isinstance(n, ir.CodebookMatVec):
            _, h, w = shape_of(graph, n.inputs[0])
            thr = n.thresholds is not None
            nf, sf = n.mh // n.pe, n.channels // n.simd
            k.comment = (f"sub-bit {n.mh}x{n.channels}x{n.taps} on 2**{n.tau} codewords "
                         f"({n.mode}), {n.domain} domain, PE={n.pe} SIMD={n.simd}, "
                         f"{h * w} pixel(s), {'threshold' if thr else 'int32 score'} output")
            mem[f"{n.name}_b.mem"] = _hex_lines(codebook_patterns(graph.consts[n.codebook]), n.taps)
            iw = n.simd * n.tau
            words = codebook_index_words(graph.consts[n.indices], n.pe, n.simd, n.tau)
            mem[f"{n.name}_x.mem"] = _hex_lines(_concat(words, iw), n.pe * iw)
            files = {"B_FILE": f"{n.name}_b.mem", "X_FILE": f"{n.name}_x.mem", "T_FILE": "",
                     "I_FILE": ""}
            if thr:
                t, inv = threshold_rows(graph, n)
                mem[f"{n.name}_t.mem"] = _hex_lines(_concat(t, n.acc_bits), n.pe * n.acc_bits)
                mem[f"{n.name}_i.mem"] = _hex_lines(_concat(inv, 1), n.pe)
                files.update(T_FILE=f"{n.name}_t.mem", I_FILE=f"{n.name}_i.mem")
            k.params = [(key, str(int(v))) for key, v in (
                ("C", n.channels), ("MH", n.mh), ("T", n.taps), ("TAU", n.tau), ("PE", n.pe),
                ("SIMD", n.simd), ("DOMAIN", {"popcount": 0, "dot": 1}[n.domain]),
                ("ACC_BITS", n.acc_bits), ("OUT_BITS", 32), ("MASKED", n.masked),
                ("THRESH", thr), ("REUSE", n.mode == "reuse"))]
            k.params += [(key, f'"{v}"') for key, v in files.items() if v]
            # ROM placement as the cost model assumed it (rom_style in the module)
            k.params += [("X_BRAM", str(int(weight_in_bram(n)))),
                         ("T_BRAM", str(int(thr and rom_in_bram(n.pe * (n.acc_bits + 1), nf))))]
        elif isinstance(n, ir.CodeMap):
            k.comment = f"code ROM: {n.channels} channel(s) -> {n.channels * 8} bit-planes"
            mem[f"{n.name}_code.mem"] = _hex_lines([int(v) for v in graph.consts[n.code]], 8)
            k.params = [("C", str(n.channels)), ("CODE_FILE", f'"{n.name}_code.mem"')]
        elif isinstance(n, ir.BitPlaneMatVec):
            _, h, w = shape_of(graph, n.inputs[0])
            nf = n.mh // n.pe
            k.comment = (f"bit-plane unit: {n.mh} filters x {n.planes} planes x {n.taps} taps, "
                         f"PE={n.pe}, {h * w} pixel(s), tables {n.entry_bits} bits, sum "
                         f"{n.acc_bits} bits")
            words = matvec_weight_words(graph.consts[n.weights], n.pe, n.simd)
            mem[f"{n.name}_w.mem"] = _hex_lines(_concat(words, n.simd), n.pe * n.simd)
            mem[f"{n.name}_tab.mem"] = _hex_lines(
                bitplane_table_rows(graph.consts[n.tables], n.pe, n.entry_bits),
                n.pe * n.planes * (n.taps + 1) * n.entry_bits)
            t, inv = threshold_rows(graph, n, wide=True)
            mem[f"{n.name}_t.mem"] = _hex_lines(_concat(t, n.acc_bits), n.pe * n.acc_bits)
            mem[f"{n.name}_i.mem"] = _hex_lines(_concat(inv, 1), n.pe)
            k.params = [(key, str(int(v))) for key, v in (
                ("MH", n.mh), ("PE", n.pe), ("PLANES", n.planes), ("TAPS", n.taps),
                ("EBITS", n.entry_bits), ("ACC_BITS", n.acc_bits))]
            k.params += [(key, f'"{n.name}_{s}.mem"') for key, s in (
                ("W_FILE", "w"), ("TAB_FILE", "tab"), ("T_FILE", "t"), ("I_FILE", "i"))]
            k.params += [("W_BRAM", str(int(rom_in_bram(n.pe * n.simd, nf * n.taps)))),
                         ("T_BRAM", str(int(rom_in_bram(n.pe * (n.acc_bits + 1), nf))))]
        elif isinstance(n, ir.Pool):
            mask = (graph.consts[n.and_mask].astype(np.uint8) if n.and_mask is not None
                    else np.zeros(n.channels, dtype=np.uint8))
            bits = sum(1 << i for i in np.flatnonzero(mask).tolist())
            k.comment = f"{n.kernel}x{n.kernel} binary max-pool on {n.channels}x{n.height}x{n.width}"
            k.params = [(key, str(v)) for key, v in (
                ("C", n.channels), ("H", n.height), ("W", n.width), ("K", n.kernel),
                ("SIMD", n.simd))]
            k.params.append(("AND_MASK", f"{n.channels}'h{bits:x}"))
        insts.append(k)
    return insts, streams


def generate_rtl(graph: ir.Graph, out_dir: str | Path, model: str,
                 timing: DesignTiming | None = None) -> list[Path]:
    """Write the Verilog project into ``out_dir`` (created); return the files written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    timing = timing or design_timing(graph)
    mem: dict[str, str] = {}
    insts, streams = _instances(graph, timing, mem)
    in_words, out_words = io_words(graph)
    inp = graph.input
    ctx = dict(version=__version__, model=model, instances=insts, streams=streams,
               first=graph.input.name, last=_stream_name(graph, graph.output.inputs[0]),
               in_words=in_words, out_words=out_words, interval=timing.interval,
               latency=timing.latency,
               in_desc=f"{'x'.join(map(str, inp.shape))} {inp.dtype} NHWC",
               out_desc=f"{shape_of(graph, graph.output.inputs[0])[0]} int32 scores")
    written = []
    top = out / "bnnc_top.v"
    top.write_text(_env().get_template("top.v.j2").render(**ctx))
    written.append(top)
    for f in MODULE_FILES:
        shutil.copyfile(TEMPLATE_DIR / f, out / f)
        written.append(out / f)
    for name, text in sorted(mem.items()):
        (out / name).write_text(text)
        written.append(out / name)
    (out / "files.f").write_text("".join(f"{f}\n" for f in (*MODULE_FILES, "bnnc_top.v")))
    written.append(out / "files.f")
    meta = {"generator": f"bnnc {__version__}", "model": model, "top": TOP_MODULE,
            "in_words": in_words, "out_words": out_words,
            "interval_cycles": timing.interval, "latency_cycles": timing.latency,
            "fifo_depths": dict(timing.fifo_depths),
            "nodes": [{"name": n.name, "kind": n.kind, "interval_cycles": n.interval,
                       "latency_cycles": n.latency} for n in timing.nodes],
            # what bnnc synth needs to synthesize each kernel on its own
            "streams": [{"name": s.name, "width": s.width, "depth": s.depth} for s in streams],
            "instances": [{"name": k.name, "module": k.module, "in": k.inp, "out": k.out,
                           "comment": k.comment, "params": [list(p) for p in k.params]}
                          for k in insts]}
    (out / "rtl.json").write_text(json.dumps(meta, indent=1) + "\n")
    written.append(out / "rtl.json")
    return written
