"""Vitis HLS backend: a folded hardware graph -> a C++ streaming project.

One hardware kernel = one static header in ``hls_templates/`` (copied into the
project's ``include/``); Python computes every parameter and packs every constant
memory; Jinja (StrictUndefined) only places them.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import numpy as np

from .. import __version__, ir
from ..cost import shape_of, stream_bits
from ..errors import InternalError
from .hls_check import check_files
from ..targets import Target

__all__ = ["generate_hls", "TEMPLATE_DIR", "STATIC_HEADERS", "KERNEL_OF"]

from .. import hls_templates as _templates  # type: ignore[attr-defined]

# The package bnnc.hls_templates (the repository's hls_templates/ folder, or the copy in
# an installed wheel) holds the static kernel headers and the Jinja fragments.
TEMPLATE_DIR = Path(_templates.__file__).resolve().parent

STATIC_HEADERS = ("bnnc_common.h", "bnnc_width_convert.h", "bnnc_sliding_window.h",
                  "bnnc_matvec.h", "bnnc_pool.h", "bnnc_trace.h", "bnnc_codebook.h",
                  "bnnc_bitplane.h")

# node class -> kernel function of the static headers
KERNEL_OF: dict[type, str] = {
    ir.WidthConvert: "width_convert",
    ir.SlidingWindow: "sliding_window",
    ir.MatVec: "matvec",  # matvec_threshold or matvec_scores
    ir.Pool: "maxpool",
    ir.CodebookMatVec: "codebook",  # codebook_threshold or codebook_scores
    ir.CodeMap: "code_map",
    ir.BitPlaneMatVec: "bitplane_matvec",
}

DEFAULT_FIFO_DEPTH = 2


@dataclass
class _Rom:
    ctype: str
    name: str
    dims: str
    init: str


@dataclass
class _Instance:
    name: str
    kernel: str
    comment: str
    inp: str
    out: str
    params: list[tuple[str, object]] = field(default_factory=list)
    roms: list[_Rom] = field(default_factory=list)
    in_width: int = 0
    out_width: int = 0
    in_words: int = 0
    out_words: int = 0


def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                              trim_blocks=False, lstrip_blocks=False, autoescape=False)


def _c_literal(value: int, bits: int) -> str:
    """A ROM element initializer (rom_u<bits>::t: an integer up to 64 bits, else ap_uint)."""
    if bits <= 64:
        return f"0x{value:x}ULL" if bits > 32 else f"0x{value:x}"
    return f'ap_uint<{bits}>("0x{value:x}", 16)'


def _c_signed(value: int, bits: int) -> str:
    """A rom_s<bits>::t initializer: a long long up to 64 bits, else ap_int via its bits."""
    if bits <= 64:
        return f"{value}LL" if -(1 << 62) < value < (1 << 62) else f"(long long)0x{value & ((1 << 64) - 1):x}ULL"
    return f'ap_uint<{bits}>("0x{value & ((1 << bits) - 1):x}", 16)'


def bitplane_tables(tables: np.ndarray, pe: int) -> list[list[list[int]]]:
    """Object (MH, PLANES, TAPS+1) -> [PE][PLANES][NF*(TAPS+1)]; filter nf*PE + pe."""
    mh, planes, n = tables.shape
    nf = mh // pe
    t = np.asarray(tables, dtype=object).reshape(nf, pe, planes, n).transpose(1, 2, 0, 3)
    return t.reshape(pe, planes, nf * n).tolist()  # type: ignore[no-any-return]


def threshold_rows(graph: ir.Graph, n: Any, wide: bool = False) -> tuple[list[Any], list[Any]]:
    """Per PE, the thresholds and invert flags of its ``MH / PE`` output channels (channel
    ``f * PE + pe`` at row ``pe``, column ``f``), as the HLS and RTL ROMs hold them.
    ``wide``: thresholds wider than 64 bits (Python ints in an object array)."""
    assert n.thresholds is not None and n.invert is not None
    nf = n.mh // n.pe
    thr = graph.consts[n.thresholds]
    t = (np.asarray(thr, dtype=object) if wide else thr.astype(np.int64)).reshape(nf, n.pe)
    inv = graph.consts[n.invert].astype(np.int64).reshape(nf, n.pe)
    return t.T.tolist(), inv.T.tolist()


def _nested(arr: list, fmt) -> str:  # type: ignore[type-arg]
    if isinstance(arr, list) and arr and isinstance(arr[0], list):
        return "{" + ", ".join(_nested(a, fmt) for a in arr) + "}"
    return "{" + ", ".join(fmt(v) for v in arr) + "}"


def _pack_bits(bits: np.ndarray) -> list[int]:
    """(..., B) array of 0/1 -> list over the leading dims of ints, bit i = bits[..., i]."""
    lead = bits.shape[:-1]
    flat = bits.reshape(-1, bits.shape[-1])
    out = []
    for row in flat:
        v = 0
        for i in np.flatnonzero(row).tolist():
            v |= 1 << i
        out.append(v)
    return np.array(out, dtype=object).reshape(lead).tolist() if lead else out


def matvec_weight_words(w: np.ndarray, pe: int, simd: int) -> list[list[int]]:
    """Bipolar (MH, MW) -> [PE][TILES] words; tile nf*SF+sf of PE pe holds neuron nf*PE+pe,
    inputs sf*SIMD .. sf*SIMD+SIMD-1 (bit i = input sf*SIMD+i, 1 = +1)."""
    mh, mw = w.shape
    nf, sf = mh // pe, mw // simd
    bits = (w > 0).astype(np.uint8).reshape(nf, pe, sf, simd).transpose(1, 0, 2, 3)
    return _pack_bits(bits.reshape(pe, nf * sf, simd))  # type: ignore[return-value]


def codebook_patterns(codebook: np.ndarray) -> list[int]:
    """+-1 (2**tau, T) codebook -> its T-bit patterns (tap t at bit t, 1 = +1)."""
    return [int(v) for v in _pack_bits((codebook > 0).astype(np.uint8))]


def codebook_index_words(indices: np.ndarray, pe: int, simd: int, tau: int) -> list[list[int]]:
    """(MH, C) codeword indices -> [PE][TILES] words; tile nf*SF+sf of PE pe holds at bits
    i*tau .. i*tau+tau-1 the index of neuron nf*PE+pe on channel sf*SIMD+i."""
    mh, c = indices.shape
    nf, sf = mh // pe, c // simd
    idx = indices.astype(np.int64).reshape(nf, pe, sf, simd).transpose(1, 0, 2, 3)
    bits = (idx[..., None] >> np.arange(tau)) & 1  # (pe, nf, sf, simd, tau)
    return _pack_bits(bits.reshape(pe, nf * sf, simd * tau).astype(np.uint8))  # type: ignore[return-value]


def _stream(name: str) -> str:
    return f"s_{name}"


def _instances(graph: ir.Graph) -> tuple[list[_Instance], list[dict[str, object]], str, str]:
    insts: list[_Instance] = []
    streams: list[dict[str, object]] = []
    alias: dict[str, str] = {}

    def src_stream(name: str) -> str:
        return alias.get(name, _stream(name))

    def add_stream(name: str, width: int) -> str:
        streams.append({"name": _stream(name), "width": width, "depth": DEFAULT_FIFO_DEPTH})
        return _stream(name)

    first = last = ""
    for n in graph:
        if isinstance(n, ir.Input):
            first = add_stream(n.name, 64)
        elif isinstance(n, ir.FlattenNHWC):
            alias[n.name] = src_stream(n.inputs[0])
        elif isinstance(n, ir.Output):
            last = src_stream(n.inputs[0])
        elif isinstance(n, ir.WidthConvert):
            ins = _Instance(name=n.name, kernel="width_convert",
                            comment=f"{n.in_bits} -> {n.out_bits} bits per word, "
                                    f"{n.frame_bits} bits per frame",
                            inp=src_stream(n.inputs[0]), out=add_stream(n.name, n.out_bits),
                            in_width=n.in_bits, out_width=n.out_bits,
                            in_words=-(-n.frame_bits // n.in_bits),
                            out_words=-(-n.frame_bits // n.out_bits))
            insts.append(ins)
        elif isinstance(n, ir.SlidingWindow):
            c, oh, ow = shape_of(graph, n.name)
            kk = n.kernel * n.kernel
            width = (n.simd * n.dtype.bits * kk + (kk if n.masked else 0) if n.order == "ckk"
                     else n.simd * n.dtype.bits + int(n.masked))
            pad_elem = 0 if n.masked else (1 if (n.dtype.bits == 1 and n.pad_value > 0) else
                                           0 if n.dtype.bits == 1 else n.pad_value)
            ins = _Instance(name=n.name, kernel="sliding_window" + ("_ckk" if n.order == "ckk" else ""),
                            comment=f"{n.kernel}x{n.kernel} stride {n.stride} pad {n.pad} "
                                    f"({'masked zero' if n.masked else f'value {n.pad_value}'}) "
                                    f"on {n.channels}x{n.height}x{n.width} {n.dtype}",
                            inp=src_stream(n.inputs[0]), out=add_stream(n.name, width))
            ins.params = [("C", n.channels), ("H", n.height), ("W", n.width), ("K", n.kernel),
                          ("S", n.stride), ("P", n.pad), ("SIMD", n.simd),
                          ("EBITS", n.dtype.bits), ("OH", oh), ("OW", ow),
                          ("MASKED", bool(n.masked)), ("PAD_ELEM", pad_elem)]
            insts.append(ins)
        elif isinstance(n, ir.MatVec):
            _, h, w = shape_of(graph, n.inputs[0])
            thr = n.thresholds is not None
            out_w = n.pe if thr else n.pe * 32
            ins = _Instance(name=n.name, kernel="matvec_threshold" if thr else "matvec_scores",
                            comment=f"{n.mh}x{n.mw} {n.in_dtype} {n.domain} domain, PE={n.pe} "
                                    f"SIMD={n.simd}, {h * w} pixel(s)",
                            inp=src_stream(n.inputs[0]), out=add_stream(n.name, out_w))
            domain = {"popcount": 0, "dot": 1, "int": 2}[n.domain]
            nf, sf = n.mh // n.pe, n.mw // n.simd
            ins.params = [("MW", n.mw), ("MH", n.mh), ("PE", n.pe), ("SIMD", n.simd),
                          ("PIXELS", h * w), ("IN_BITS", n.in_dtype.bits), ("DOMAIN", domain),
                          ("ACC_BITS", n.acc_bits), ("OUT_BITS", 32), ("MASKED", bool(n.masked))]
            words = matvec_weight_words(graph.consts[n.weights], n.pe, n.simd)
            ins.roms.append(_Rom(ctype=f"bnnc::rom_u<{n.simd}>::t", name=f"{n.name}_w",
                                 dims=f"[{n.pe}][{nf * sf}]",
                                 init=_nested(words, lambda v: _c_literal(int(v), n.simd))))
            if thr:
                t, inv = threshold_rows(graph, n)
                ins.roms.append(_Rom(ctype=f"bnnc::rom_s<{n.acc_bits}>::t", name=f"{n.name}_t",
                                     dims=f"[{n.pe}][{nf}]", init=_nested(t, str)))
                ins.roms.append(_Rom(ctype="bnnc::rom_u<1>::t", name=f"{n.name}_inv",
                                     dims=f"[{n.pe}][{nf}]", init=_nested(inv, str)))
            insts.append(ins)
        elif isinstance(n, ir.CodebookMatVec):
            _, h, w = shape_of(graph, n.inputs[0])
            thr = n.thresholds is not None
            out_w = n.pe if thr else n.pe * 32
            ins = _Instance(name=n.name, kernel="codebook_threshold" if thr else "codebook_scores",
                            comment=f"sub-bit {n.mh}x{n.channels}x{n.taps} on 2**{n.tau} codewords "
                                    f"({n.mode}), {n.domain} domain, PE={n.pe} SIMD={n.simd}, "
                                    f"{h * w} pixel(s)",
                            inp=src_stream(n.inputs[0]), out=add_stream(n.name, out_w))
            nf, sf = n.mh // n.pe, n.channels // n.simd
            ins.params = [("C", n.channels), ("MH", n.mh), ("T", n.taps), ("TAU", n.tau),
                          ("PE", n.pe), ("SIMD", n.simd), ("PIXELS", h * w),
                          ("DOMAIN", {"popcount": 0, "dot": 1}[n.domain]),
                          ("ACC_BITS", n.acc_bits), ("OUT_BITS", 32), ("MASKED", bool(n.masked)),
                          ("REUSE", n.mode == "reuse")]
            book = codebook_patterns(graph.consts[n.codebook])
            ins.roms.append(_Rom(ctype=f"bnnc::rom_u<{n.taps}>::t", name=f"{n.name}_book",
                                 dims=f"[{len(book)}]",
                                 init=_nested(book, lambda v: _c_literal(int(v), n.taps))))
            iw = n.simd * n.tau
            words = codebook_index_words(graph.consts[n.indices], n.pe, n.simd, n.tau)
            ins.roms.append(_Rom(ctype=f"bnnc::rom_u<{iw}>::t", name=f"{n.name}_idx",
                                 dims=f"[{n.pe}][{nf * sf}]",
                                 init=_nested(words, lambda v: _c_literal(int(v), iw))))
            if thr:
                t, inv = threshold_rows(graph, n)
                ins.roms.append(_Rom(ctype=f"bnnc::rom_s<{n.acc_bits}>::t", name=f"{n.name}_t",
                                     dims=f"[{n.pe}][{nf}]", init=_nested(t, str)))
                ins.roms.append(_Rom(ctype="bnnc::rom_u<1>::t", name=f"{n.name}_inv",
                                     dims=f"[{n.pe}][{nf}]", init=_nested(inv, str)))
            insts.append(ins)
        elif isinstance(n, ir.CodeMap):
            _, h, w = shape_of(graph, n.inputs[0])
            ins = _Instance(name=n.name, kernel="code_map",
                            comment=f"256-entry code ROM per channel, {n.channels} channel(s) -> "
                                    f"{n.channels * 8} bit-planes, {h * w} pixels",
                            inp=src_stream(n.inputs[0]), out=add_stream(n.name, n.channels * 8))
            ins.params = [("C", n.channels), ("PIXELS", h * w)]
            code = [int(v) for v in graph.consts[n.code]]
            ins.roms.append(_Rom(ctype="bnnc::rom_u<8>::t", name=f"{n.name}_rom", dims="[256]",
                                 init=_nested(code, lambda v: _c_literal(int(v), 8))))
            insts.append(ins)
        elif isinstance(n, ir.BitPlaneMatVec):
            _, h, w = shape_of(graph, n.inputs[0])
            nf, sf = n.mh // n.pe, n.mw // n.simd
            ins = _Instance(name=n.name, kernel="bitplane_matvec",
                            comment=f"bit-plane unit: {n.mh} filters x {n.planes} planes x "
                                    f"{n.taps} taps, PE={n.pe}, {h * w} pixel(s), tables "
                                    f"{n.entry_bits} bits, sum {n.acc_bits} bits",
                            inp=src_stream(n.inputs[0]), out=add_stream(n.name, n.pe))
            ins.params = [("MW", n.mw), ("MH", n.mh), ("PE", n.pe), ("SIMD", n.simd),
                          ("PLANES", n.planes), ("TAPS", n.taps), ("PIXELS", h * w),
                          ("EBITS", n.entry_bits), ("ACC_BITS", n.acc_bits)]
            words = matvec_weight_words(graph.consts[n.weights], n.pe, n.simd)
            ins.roms.append(_Rom(ctype=f"bnnc::rom_u<{n.simd}>::t", name=f"{n.name}_w",
                                 dims=f"[{n.pe}][{nf * sf}]",
                                 init=_nested(words, lambda v: _c_literal(int(v), n.simd))))
            tabs = bitplane_tables(graph.consts[n.tables], n.pe)
            ins.roms.append(_Rom(ctype=f"bnnc::rom_s<{n.entry_bits}>::t", name=f"{n.name}_tab",
                                 dims=f"[{n.pe}][{n.planes}][{nf * (n.taps + 1)}]",
                                 init=_nested(tabs, lambda v: _c_signed(int(v), n.entry_bits))))
            t, inv = threshold_rows(graph, n, wide=True)
            ins.roms.append(_Rom(ctype=f"bnnc::rom_s<{n.acc_bits}>::t", name=f"{n.name}_t",
                                 dims=f"[{n.pe}][{nf}]",
                                 init=_nested(t, lambda v: _c_signed(int(v), n.acc_bits))))
            ins.roms.append(_Rom(ctype="bnnc::rom_u<1>::t", name=f"{n.name}_inv",
                                 dims=f"[{n.pe}][{nf}]", init=_nested(inv, str)))
            insts.append(ins)
        elif isinstance(n, ir.Pool):
            cb = n.channels // n.simd
            mask = (graph.consts[n.and_mask].astype(np.uint8) if n.and_mask is not None
                    else np.zeros(n.channels, dtype=np.uint8))
            mask_words = _pack_bits(mask.reshape(cb, n.simd))
            ins = _Instance(name=n.name, kernel="maxpool",
                            comment=f"{n.kernel}x{n.kernel} binary max-pool on "
                                    f"{n.channels}x{n.height}x{n.width}",
                            inp=src_stream(n.inputs[0]), out=add_stream(n.name, n.simd))
            ins.params = [("C", n.channels), ("H", n.height), ("W", n.width), ("K", n.kernel),
                          ("SIMD", n.simd)]
            ins.roms.append(_Rom(ctype=f"bnnc::rom_u<{n.simd}>::t", name=f"{n.name}_and", dims=f"[{cb}]",
                                 init=_nested(mask_words, lambda v: _c_literal(int(v), n.simd))))
            insts.append(ins)
        else:
            raise TypeError(f"the HLS backend has no kernel for {n.kind} ({n.name!r}); "
                            "run the lowering passes first")
    return insts, streams, first, last


def io_words(graph: ir.Graph) -> tuple[int, int]:
    """64-bit words per frame at the input and output AXI4-Stream ports."""
    inp = graph.input
    c, h, w = inp.shape
    in_words = -(-(c * h * w * inp.dtype.bits) // 64)
    oc, oh, ow = shape_of(graph, graph.output.inputs[0])
    out_words = -(-(oc * oh * ow * 32) // 64)
    return in_words, out_words


def generate_hls(graph: ir.Graph, out_dir: str | Path, target: Target, model: str,
                 ap_types: str) -> list[Path]:
    """Write the HLS project into ``out_dir`` (created); return the files written."""
    out = Path(out_dir)
    (out / "include").mkdir(parents=True, exist_ok=True)
    insts, streams, first, last = _instances(graph)
    in_words, out_words = io_words(graph)
    inp = graph.input
    env = _env()
    ctx = dict(version=__version__, model=model, instances=insts, streams=streams,
               first_stream=first, last_stream=last, in_words=in_words, out_words=out_words,
               in_desc=f"{'x'.join(map(str, inp.shape))} {inp.dtype} NHWC",
               out_desc=f"{shape_of(graph, graph.output.inputs[0])[0]} int32 scores",
               part=target.part, period_ns=f"{target.period_ns:g}", ap_types=ap_types)
    files = {
        "bnnc_params.h": "params.h.j2",
        "bnnc_top.h": "top.h.j2",
        "bnnc_top.cpp": "top.cpp.j2",
        "tb_bnnc.cpp": "tb.cpp.j2",
        "run_hls.tcl": "run_hls.tcl.j2",
        "Makefile": "Makefile.j2",
    }
    written = []
    for fname, tpl in files.items():
        path = out / fname
        path.write_text(env.get_template(tpl).render(**ctx))
        written.append(path)
    for h in STATIC_HEADERS:
        dst = out / "include" / h
        shutil.copyfile(TEMPLATE_DIR / h, dst)
        written.append(dst)
    synthesized = [p for p in written if p.suffix in (".h", ".cpp") and p.name != "tb_bnnc.cpp"]
    findings = check_files(synthesized)
    if findings:
        f = findings[0]
        raise InternalError(f"generated HLS code uses a construct Vitis HLS cannot synthesize "
                            f"({len(findings)} finding(s)); first: {Path(f.file).name}:{f.line}: "
                            f"[{f.rule}] {f.message}. This is a bnnc bug: please report it")
    return written
