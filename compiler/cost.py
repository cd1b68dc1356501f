"""Analytic cost model of hardware nodes: cycles per frame, stream widths, resources.

Cycle figures are the steady-state cycles a node needs per frame at II=1 (DESIGN.md
section 3: a MatVec takes NF * SF * pixels). Resource figures are estimates for
7-series/UltraScale fabric (LUT6, BRAM36 = 2 x BRAM18), used to choose the folding
and to report; ``bnnc synth`` (Yosys) gives measured figures to compare against.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import ir

__all__ = ["NodeCost", "node_cost", "shape_of", "stream_bits", "memory_cost", "codebook_cost",
           "subbit_weight_bits", "bitplane_cost", "fifo_cost", "rom_cost", "rom_in_bram",
           "bram_tiles", "lutram_luts", "LUTS_PER_BRAM36", "weight_rom", "weight_in_bram",
           "table_columns"]


@dataclass(frozen=True, kw_only=True)
class NodeCost:
    cycles: int
    luts: int
    brams: float  # BRAM36 equivalents (BRAM18 = 0.5)
    weight_bits: int = 0
    threshold_bits: int = 0
    ffs: int = 0
    dsps: int = 0


# Budget-proportional exchange rate between the two memory resources: xc7z020 has 53,200
# LUTs and 140 BRAM36 tiles, so one tile is worth 380 LUTs of its budget.
LUTS_PER_BRAM36 = 380


def bram_tiles(width: int, depth: int) -> float:
    """BRAM36 tiles (RAMB18 = 0.5) for a ``depth`` x ``width`` memory, best aspect ratio."""
    if width * depth == 0:
        return 0.0
    best = math.inf
    for d, w in ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36)):  # RAMB18
        best = min(best, math.ceil(width / w) * math.ceil(depth / d) / 2)
    for d, w in ((32768, 1), (16384, 2), (8192, 4), (4096, 9), (2048, 18), (1024, 36)):  # RAMB36
        best = min(best, float(math.ceil(width / w) * math.ceil(depth / d)))
    return best


def rom_logic_luts(width: int, depth: int) -> int:
    """LUTs of a constant table in logic, as it maps inside a bnnc_matvec (calibrated: about
    two LUTs per bit of a <= 64-word table, 2.9 per bit and 64-word block of a deeper one,
    whose F7/F8 mux trees and address logic Yosys does not pack tightly)."""
    if depth <= 64:
        return 2 * width
    return math.ceil(2.9 * width * math.ceil(depth / 64))


def rom_in_bram(width: int, depth: int) -> bool:
    """Whether a ROM goes to block RAM: when its tiles cost less of the budget than its
    LUTs (LUTS_PER_BRAM36). The RTL pins the choice (bnnc_matvec W_BRAM/T_BRAM ->
    rom_style), so Yosys and Vivado map what the model assumed."""
    return width * depth > 0 and bram_tiles(width, depth) * LUTS_PER_BRAM36 < rom_logic_luts(width, depth)


def rom_cost(width: int, depth: int, bram: bool | None = None) -> tuple[int, int, float]:
    """(LUTs, FFs, BRAM36) of a ROM with a registered (synchronous) read; ``bram`` pins
    the placement (None: :func:`rom_in_bram` decides)."""
    if width * depth == 0:
        return 0, 0, 0.0
    if rom_in_bram(width, depth) if bram is None else bram:
        return 0, 0, bram_tiles(width, depth)
    return rom_logic_luts(width, depth), width, 0.0


def weight_rom(n: ir.MatVec | ir.CodebookMatVec) -> tuple[int, int]:
    """(width, depth) of a matvec's weight memory: PE*SIMD weight bits per word for a
    MatVec, PE*SIMD tau-bit indices for a CodebookMatVec; NF*SF words."""
    if isinstance(n, ir.CodebookMatVec):
        return n.pe * n.simd * n.tau, (n.mh // n.pe) * (n.channels // n.simd)
    return n.pe * n.simd, (n.mh // n.pe) * (n.mw // n.simd)


def weight_in_bram(n: ir.MatVec | ir.CodebookMatVec) -> bool:
    """Whether ``n``'s weight memory is block RAM: its ``weight_mem`` pin, or for "auto"
    the :func:`rom_in_bram` rule. The RTL backend pins the same choice (rom_style)."""
    if n.weight_mem != "auto":
        return n.weight_mem == "bram"
    if isinstance(n, ir.MatVec) and n.in_dtype.bits == 1:
        width, depth = weight_rom(n)
        nf = n.mh // n.pe
        bram = bram_tiles(width, depth) * LUTS_PER_BRAM36 + _bram_mux_luts(width, depth)
        return bram < _matvec_rom_luts(width, depth, nf)
    return rom_in_bram(*weight_rom(n))


def _matvec_rom_luts(width: int, depth: int, nf: int) -> int:
    """LUTs of a binary bnnc_matvec's weight ROM in logic, next to its XNOR and popcount.

    Calibrated on Yosys synth_xilinx (bench/matvec_cost.py, 16 LUT-ROM units of 128 to
    4,096 lanes, 8 to 72 words; the unit estimates of 17 matvecs re-checked after the
    bnnc_popcount split: -10% to +6%): about 1 LUT per bit of a <= 32-word ROM (5 address bits: the ROM bit and the XNOR with
    the input bit share a LUT6), from 2.0 (33 words) to 2.9 (64 words) per bit of a 6-bit
    address; deeper ones are 64-word blocks (the remainder costs as a shallow ROM) and a
    block multiplexer. With NF = 1 (the address is the SF counter) and <= 16 words, Yosys
    moves the read register to the address and the ROM vanishes into the popcount logic.
    """
    if width * depth == 0 or (nf == 1 and depth <= 16):
        return 0
    def block(words: int) -> float:  # one block of <= 64 words
        return 1.0 if words <= 32 else 2.0 + 0.9 * (words - 32) / 32

    full, rem = divmod(depth, 64)
    per_bit = block(64) * full + (block(rem) if rem else 0.0)
    return math.ceil(width * (per_bit + _mux_luts(math.ceil(depth / 64))))


def _bram_mux_luts(width: int, depth: int) -> int:
    """LUTs that select among the block RAMs of a ROM stacked in depth. Yosys takes the
    RAMB36 aspect with the fewest tiles (the deepest of equals, at most 1K x 36); a word
    wider than 36 bits spread over ceil(depth / aspect depth) tiles in depth costs about
    1.2 LUTs per bit and doubling of that count (calibrated on CNV conv5/conv6 units of
    64 to 256 bits and 2,304 to 9,216 words; a 64 x 4,096 ROM takes 4K x 9 tiles, no mux)."""
    if width <= 36 or depth <= 1024:
        return 0
    tiles, deep = min((math.ceil(width / w) * math.ceil(depth / d), math.ceil(depth / d))
                      for d, w in ((32768, 1), (16384, 2), (8192, 4), (4096, 9), (2048, 18),
                                   (1024, 36)))
    return 0 if deep <= 1 else math.ceil(1.2 * width * math.log2(deep))


def lutram_luts(width: int, depth: int) -> int:
    """LUTs of a RAM with an asynchronous read (distributed RAM: RAM32M holds 32 x 6 bits,
    RAM64M 64 x 3, in 4 LUTs each; banks are muxed)."""
    if width * depth == 0:
        return 0
    if depth <= 32:
        return 4 * math.ceil(width / 6)
    banks = 1 << max(0, math.ceil(math.log2(depth / 64)))
    return banks * 4 * math.ceil(width / 3) + (banks - 1) * width // 2


def _bits(n: int) -> int:
    """Bits of a counter over ``n`` values (at least 1)."""
    return max(1, math.ceil(math.log2(n))) if n > 1 else 1


# The control of the matrix-vector units (bnnc_matvec, bnnc_codebook, bnnc_bitplane):
# bnnc_matvec_schedule's counters, as narrow as their ranges, and the handshake. Narrowing
# them saved 26-37 LUTs per unit (Yosys, nine CNV-W1A1 matvec units; docs/synth.md
# "Counters"): 150 -> 120 keeps the per-lane/ROM fit of bench/matvec_cost.py; the FFs are
# the counters' bits + ~8 (within 11% on those units but conv6 with a 72-word buffer).
_SCHEDULE_LUTS = 120


def _schedule_ffs(sf: int, nf: int) -> int:
    """Flip-flops of bnnc_matvec_schedule's counters (sf, nf, tile) plus the handshake."""
    return 8 + _bits(sf) + _bits(nf) + _bits(sf * nf)


def memory_cost(width: int, depth: int) -> tuple[int, float]:
    """(LUTs, BRAM36) for a ROM/RAM of ``depth`` words of ``width`` bits.

    Small memories go to distributed RAM (one LUT6 holds 64 bits); larger ones to BRAM18
    in the best aspect ratio (16K x 1 ... 512 x 36). (The MatVec, window, pool and FIFO
    estimates use the calibrated rom_cost / lutram_luts / fifo_cost instead.)
    """
    bits = width * depth
    if bits == 0:
        return 0, 0.0
    if depth <= 64 or bits <= 4096:
        return math.ceil(width * math.ceil(depth / 64)), 0.0
    best = math.inf
    for d, w in ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36)):
        n = math.ceil(width / w) * math.ceil(depth / d)
        best = min(best, n)
    return 0, best / 2


def shape_of(graph: ir.Graph, name: str) -> tuple[int, int, int]:
    """(C, H, W) of a node's output tensor, derived from node attributes."""
    n = graph.node(name)
    if isinstance(n, ir.Input):
        return n.shape
    if isinstance(n, ir.SlidingWindow):
        oh = (n.height + 2 * n.pad - n.kernel) // n.stride + 1
        ow = (n.width + 2 * n.pad - n.kernel) // n.stride + 1
        return (n.kernel * n.kernel * n.channels, oh, ow)
    if isinstance(n, (ir.MatVec, ir.CodebookMatVec, ir.BitPlaneMatVec)):
        _, h, w = shape_of(graph, n.inputs[0])
        return (n.mh, h, w)
    if isinstance(n, ir.SubBitConv):
        c, h, w = shape_of(graph, n.inputs[0])
        f = graph.consts[n.indices].shape[0]
        return (f, (h + 2 * n.pad - n.kernel) // n.stride + 1, (w + 2 * n.pad - n.kernel) // n.stride + 1)
    if isinstance(n, ir.CodeMap):
        c, h, w = shape_of(graph, n.inputs[0])
        return (c * 8, h, w)
    if isinstance(n, ir.BitPlaneConv):
        c, h, w = shape_of(graph, n.inputs[0])
        f = graph.consts[n.weights].shape[0]
        return (f, (h + 2 * n.pad - n.kernel) // n.stride + 1, (w + 2 * n.pad - n.kernel) // n.stride + 1)
    if isinstance(n, ir.Pool):
        return (n.channels, n.height // n.kernel, n.width // n.kernel)
    if isinstance(n, (ir.FlattenNHWC, ir.Flatten)):
        c, h, w = shape_of(graph, n.inputs[0])
        return (c * h * w, 1, 1)
    if isinstance(n, ir.Conv):
        c, h, w = shape_of(graph, n.inputs[0])
        f = graph.consts[n.weights].shape[0]
        return (f, (h + 2 * n.pad - n.kernel) // n.stride + 1, (w + 2 * n.pad - n.kernel) // n.stride + 1)
    if isinstance(n, ir.Dense):
        return (graph.consts[n.weights].shape[0], 1, 1)
    if isinstance(n, ir.MaxPool):
        c, h, w = shape_of(graph, n.inputs[0])
        return (c, (h - n.kernel) // n.stride + 1, (w - n.kernel) // n.stride + 1)
    return shape_of(graph, n.inputs[0])


def elem_bits(graph: ir.Graph, name: str) -> int:
    """Bits per element of a node's output stream."""
    n = graph.node(name)
    if isinstance(n, ir.Input):
        return n.dtype.bits
    if isinstance(n, (ir.MatVec, ir.CodebookMatVec)):
        return 1 if n.thresholds is not None else 32
    if isinstance(n, ir.SlidingWindow):
        return n.dtype.bits
    if isinstance(n, (ir.Pool, ir.Threshold, ir.CodeMap, ir.BitPlaneMatVec)):
        return 1
    if isinstance(n, (ir.Conv, ir.Dense, ir.SubBitConv)):
        return 32
    return elem_bits(graph, n.inputs[0])


def stream_bits(graph: ir.Graph, name: str) -> int:
    """Data bits per word of a node's output stream (without a mask bit)."""
    n = graph.node(name)
    if isinstance(n, ir.Input):
        return 64
    if isinstance(n, ir.SlidingWindow):
        return n.simd * n.dtype.bits * (n.kernel * n.kernel if n.order == "ckk" else 1)
    if isinstance(n, (ir.MatVec, ir.CodebookMatVec)):
        return n.pe * (1 if n.thresholds is not None else 32)
    if isinstance(n, ir.Pool):
        return n.simd
    if isinstance(n, ir.WidthConvert):
        return n.out_bits
    if isinstance(n, ir.CodeMap):
        return n.channels * 8
    if isinstance(n, ir.BitPlaneMatVec):
        return n.pe
    return stream_bits(graph, n.inputs[0])


def node_cost(graph: ir.Graph, n: ir.Node) -> NodeCost:
    """Cycles per frame and estimated resources of one hardware node.

    The resource figures model the RTL kernels (rtl_templates/) as Yosys synth_xilinx maps
    them; their constants were calibrated against it (bench/cnv_fold.py, docs/synth.md).
    """
    if isinstance(n, ir.MatVec):
        _, h, w = shape_of(graph, n.inputs[0])
        sf, nf = n.mw // n.simd, n.mh // n.pe
        cycles = nf * sf * h * w
        lanes = n.pe * n.simd
        in_bram = weight_in_bram(n)
        wl, wf, wb = rom_cost(lanes, nf * sf, in_bram)
        if n.in_dtype.bits == 1:  # binary: bnnc_matvec's calibrated ROM terms (see helpers)
            if in_bram:
                wl = _bram_mux_luts(lanes, nf * sf)
            else:
                wl = _matvec_rom_luts(lanes, nf * sf, nf)
                wf = 0 if wl == 0 else lanes
        tl = tf = 0
        tb = 0.0
        tbits = 0
        if n.thresholds is not None:
            tbits = n.mh * (n.acc_bits + 1)
            tl, tf, tb = rom_cost(n.pe * (n.acc_bits + 1), nf)
        tl //= 4  # Yosys folds most threshold constants into the comparators
        if n.in_dtype.bits == 1:
            # xnor + popcount adder trees ($countones in chunks of <= 128 bits, then their
            # sum): grows with log2 SIMD per lane. Yosys, 20 units with weights in BRAM
            # (bench/matvec_cost.py): 2.0 LUTs per lane at SIMD 32, 2.3 at 64, 2.5 at 128,
            # 2.8 at 288, 2.9 at 576
            logic = math.ceil(lanes * (0.9 + 0.2 * math.log2(2 * n.simd)))
        else:
            # signed adder chain of SIMD products, wider with log2(SIMD) (Yosys: 1.45 LUTs
            # per lane-bit at SIMD = 3, 2.5 at SIMD = 27, 8-bit inputs)
            logic = math.ceil(lanes * n.in_dtype.bits * (1.1 + 0.3 * math.log2(n.simd)))
        logic += math.ceil(1.5 * n.pe * n.acc_bits)  # accumulate + compare per PE
        in_w = n.simd * n.in_dtype.bits + int(n.masked)
        # the SF-word input buffer: LUT-RAM, or a register when SF = 1 (Yosys)
        ibuf = lutram_luts(in_w, sf) if nf > 1 and sf > 1 else 0
        ibuf_ff = in_w if nf > 1 and sf == 1 else 0
        luts = _SCHEDULE_LUTS + logic + wl + tl + ibuf
        ffs = _schedule_ffs(sf, nf) + n.pe * n.acc_bits + wf + tf + ibuf_ff
        return NodeCost(cycles=cycles, luts=luts, brams=wb + tb, ffs=ffs,
                        weight_bits=n.mw * n.mh, threshold_bits=tbits)
    if isinstance(n, ir.CodebookMatVec):
        return codebook_cost(graph, n, n.mode)
    if isinstance(n, ir.SlidingWindow) and n.order == "ckk":
        # one word = all K*K taps of SIMD channels, read in one cycle from a LUT-RAM line
        # buffer (asynchronous reads) of K banks (column mod K) holding all K+S row slots,
        # each with K read ports (one per window row: the row slot is in the address), so
        # that a tap only selects among K banks (one LUT per tap-bit for K <= 4, the
        # padding select included). Banks deeper than 64 words per port are split per row
        # slot, with an (K+S):1 row multiplexer before the column one. Counters are as
        # narrow as their ranges. Calibrated on Yosys (CNV-W1A1 ckk windows, 4 to 64 bits
        # per word): ~140 LUTs of control.
        c, oh, ow = shape_of(graph, n.name)
        k = n.kernel
        cb = n.channels // n.simd
        wordbits = n.simd * n.dtype.bits
        rows = k + n.stride
        taps = k * k
        depth = math.ceil(n.width / k) * cb      # words per bank and row slot
        lw = _bits(depth)
        if rows << lw <= 64:
            buf = k * lutram_luts(wordbits * k, rows << lw)
            rowmux = 0
        else:
            buf = rows * k * lutram_luts(wordbits, depth)
            rowmux = taps * wordbits * _mux_luts(rows)
        mux = taps * wordbits * _mux_luts(k)
        gw = _bits(n.height + 2 * k + 2 * n.stride + 2) + 2
        xw = _bits(n.width + 2 * k + 2 * n.stride + 2) + 2
        ffs = (3 * gw + 2 * xw + 2 * _bits(cb) + 2 * _bits(k) + 2 * lw + 2 * _bits(rows)
               + _bits(oh) + _bits(ow))
        return NodeCost(cycles=max(oh * ow * cb, n.height * n.width * cb),
                        luts=140 + buf + rowmux + mux, brams=0.0, ffs=ffs)
    if isinstance(n, ir.BitPlaneMatVec):
        return bitplane_cost(graph, n)
    if isinstance(n, ir.CodeMap):
        _, h, w = shape_of(graph, n.inputs[0])
        rl, rb = memory_cost(8, 256)
        return NodeCost(cycles=h * w, luts=20 + n.channels * rl, brams=n.channels * rb)
    if isinstance(n, ir.SlidingWindow):
        c, oh, ow = shape_of(graph, n.name)
        cb = n.channels // n.simd
        out_words = oh * ow * n.kernel * n.kernel * cb
        in_words = n.height * n.width * cb
        wordbits = n.simd * n.dtype.bits
        rows = n.kernel + n.stride
        # the line buffer reads asynchronously (LUT-RAM); counters as narrow as their ranges
        # and registered row bases (~145 LUTs, calibrated on Yosys: CNV-W1A1 windows of 24
        # to 128-bit words); the padding select only with P > 0
        depth = rows * n.width * cb
        buf = lutram_luts(wordbits, depth)
        pad = wordbits if n.pad > 0 else 0
        gw = _bits(n.height + 2 * n.kernel + 2 * n.stride + 2) + 2
        xw = _bits(n.width * cb + (2 * n.kernel + 2 * n.stride + 2) * cb) + 2
        ffs = (4 * gw + 2 * xw + 3 * _bits(depth) + _bits(n.width * cb) + 2 * _bits(n.kernel)
               + _bits(cb) + _bits(oh) + _bits(ow))
        return NodeCost(cycles=max(out_words, in_words), luts=145 + pad + buf,
                        brams=0.0, ffs=ffs)
    if isinstance(n, ir.Pool):
        # counters as narrow as their ranges (x, y, cb, kx, ky, and the running row address
        # col / col_base); the merged rows in LUT-RAM; the CB-word row register in FFs, or
        # a shift register (SRL, about one LUT per bit) from CB = 3. Yosys, the four
        # CNV-W1A1 pools: ~6 LUTs + 1.5 per counter bit + 2 per lane of merge logic
        cb = n.channels // n.simd
        ow = n.width // n.kernel
        rows = lutram_luts(n.simd, ow * cb)
        count = (_bits(n.width) + _bits(n.height) + _bits(cb) + 2 * _bits(n.kernel)
                 + 2 * _bits(ow * cb))
        hreg_luts, hreg_ffs = (n.simd, 0) if cb > 2 else (0, n.simd * cb)
        return NodeCost(cycles=n.height * n.width * cb,
                        luts=6 + math.ceil(1.5 * count) + 2 * n.simd + rows + hreg_luts,
                        brams=0.0, ffs=4 + count + hreg_ffs)
    if isinstance(n, ir.WidthConvert):
        return width_convert_cost(n)
    return NodeCost(cycles=0, luts=0, brams=0.0)


def width_convert_cost(n: ir.WidthConvert) -> NodeCost:
    """Cycles and resources of bnnc_width_convert.

    down (in = R*out bits): the input word's R-1 unwritten parts in a register shifted by
    one part per step (a 2:1 multiplexer per bit) and the R:1-free output select; up (out =
    R*in bits): R-1 registered parts, the last passed through, selected only where the
    frame's last output word is zero-padded. Counters as narrow as their ranges; the
    frame's step counter only where the frame does not end on a whole input (down) /
    output (up) word. Yosys, the CNV-W1A1 width converters (64 -> 8 to 1 -> 8 bits).
    """
    in_words = -(-n.frame_bits // n.in_bits)
    out_words = -(-n.frame_bits // n.out_bits)
    cycles = max(in_words, out_words)
    if n.in_bits == n.out_bits:
        return NodeCost(cycles=cycles, luts=0, brams=0.0, ffs=0)
    narrow, wide = min(n.in_bits, n.out_bits), max(n.in_bits, n.out_bits)
    r = wide // narrow
    stored = wide - narrow
    if n.in_bits > n.out_bits:
        whole = out_words == r * in_words
        steps = max(out_words, r * (in_words - 1) + 1)
        luts = stored + narrow + 2
    else:
        whole = in_words % r == 0
        steps = in_words
        luts = 2 * r + (0 if whole else stored)
    sb = 0 if whole else _bits(steps)
    return NodeCost(cycles=cycles, luts=luts + 2 * sb, brams=0.0, ffs=_bits(r) + stored + sb)


# id(tables) -> (tables, bits (MH, planes, taps + 1, acc_bits) uint8): the bit matrix of
# a unit's tables, computed once per constant array (folding asks for many PE values)
_TABLE_BITS: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _table_bit_matrix(tables: np.ndarray, acc_bits: int) -> np.ndarray:
    hit = _TABLE_BITS.get(id(tables))
    if hit is not None and hit[0] is tables and hit[1].shape[-1] == acc_bits:
        return hit[1]
    flat = [int(v) for v in np.asarray(tables).ravel()]
    bits = np.array([[(v >> k) & 1 for k in range(acc_bits)] for v in flat], dtype=np.uint8)
    bits = bits.reshape(*tables.shape, acc_bits)
    if len(_TABLE_BITS) >= 16:
        _TABLE_BITS.pop(next(iter(_TABLE_BITS)))
    _TABLE_BITS[id(tables)] = (tables, bits)
    return bits


def table_columns(tables: np.ndarray, pe: int, acc_bits: int) -> tuple[int, int]:
    """Non-constant and distinct non-constant bit columns of a bit-plane unit's tables.

    In ``bnnc_bitplane.v`` bit ``k`` (of the entry sign-extended to ``acc_bits``) of PE
    ``p``'s plane-``j`` entry is a constant function of the row ``nf`` and the tap count
    ``n``: the column of its values over all ``(nf, n)``. Returns ``(N, D)``: the columns
    that are not constant (adder inputs that are not wired to 0 or 1) and, per (PE,
    plane), the distinct ones among them (the table functions synthesis keeps).
    """
    bits = _table_bit_matrix(tables, acc_bits)
    mh, planes, t1, _ = bits.shape
    nf = mh // pe
    cols = bits.reshape(nf, pe, planes, t1, acc_bits).transpose(1, 2, 4, 0, 3).reshape(
        pe * planes, acc_bits, nf * t1)
    varies = cols.min(axis=2) != cols.max(axis=2)
    packed = np.packbits(cols, axis=2)
    distinct = {(g, packed[g, k].tobytes()) for g, k in zip(*np.nonzero(varies))}
    return int(varies.sum()), len(distinct)


def bitplane_cost(graph: ir.Graph, n: ir.BitPlaneMatVec) -> NodeCost:
    """Cycles and resources of the bit-plane unit as bnnc_bitplane.v builds it.

    Per (PE, plane): a tap counter of clog2(TAPS+1) bits; per PE a comparator and the sum
    of PLANES table entries, which Yosys builds as one multi-operand adder: 1.5 LUTs per
    non-constant entry bit (an entry's 4-input table function of the count merges into
    the adder's cells), plus 0.8 LUT per nf address bit for each distinct non-constant
    table column (:func:`table_columns`; the table then depends on nf as well). Fitted to
    Yosys synth_xilinx on twelve units (17-bit and 60-bit tables, 8 to 24 planes, NF 1, 2,
    4: all within 15 %; bench/bitplane.py, tests/rtl/test_synth.py).
    Weights: a synchronous ROM (rom_cost). Thresholds: each bit of their registered read is
    a function of nf, and Yosys merges equal ones: at most 2**NF - 2 distinct non-constant
    bits.
    """
    _, h, w = shape_of(graph, n.inputs[0])
    sf, nf = n.taps, n.mh // n.pe
    cb = n.taps.bit_length()  # clog2(TAPS + 1)
    nfb = (nf - 1).bit_length()
    wl, wf, wb = rom_cost(n.pe * n.simd, nf * sf)
    twidth = n.pe * (n.acc_bits + 1)
    if rom_in_bram(twidth, nf):
        tl = tf = 0
        tb = bram_tiles(twidth, nf)
    else:
        tl = tf = min(twidth, 2 ** nf - 2) if nf < 24 else twidth
        tb = 0.0
    varying, distinct = table_columns(graph.consts[n.tables], n.pe, n.acc_bits)
    sums = math.ceil(1.5 * varying + 0.8 * nfb * distinct)
    per_pe = n.planes * (cb + 1) + n.acc_bits
    ibuf = lutram_luts(n.simd, sf) if nf > 1 else 0
    # (30 LUTs of control fewer than bnnc_matvec, as fitted: 120 vs 150 before the
    # schedule's counters were narrowed)
    luts = _SCHEDULE_LUTS - 30 + n.pe * per_pe + sums + wl + tl + ibuf
    ffs = _schedule_ffs(sf, nf) + n.pe * n.planes * cb + wf + tf + n.pe
    return NodeCost(cycles=nf * sf * h * w, luts=luts, brams=wb + tb, ffs=ffs,
                    weight_bits=n.mw * n.mh,
                    threshold_bits=n.mh * (n.acc_bits + 1) + n.mh * n.planes * (n.taps + 1) * n.entry_bits)


def subbit_weight_bits(tau: int, taps: int, f: int, c: int) -> tuple[int, int]:
    """(plain, sub-bit) weight bits of a codebook layer: taps*F*C vs taps*2**tau + tau*F*C."""
    return taps * f * c, taps * (1 << tau) + tau * f * c


def _mux_luts(n: int) -> int:
    """LUT6s of an n:1 multiplexer of one bit (4:1 per LUT6, MUXF7/MUXF8 combine for free)."""
    return 0 if n <= 1 else math.ceil(n / 4) + (1 if n > 16 else 0)


def codebook_cost(graph: ir.Graph, n: ir.CodebookMatVec, mode: str) -> NodeCost:
    """Cycles and resources of a codebook matrix-vector unit built as ``mode``.

    Both modes read PE*SIMD tau-bit indices per cycle from a ROM of NF*SF words per PE
    (the sub-bit weight memory). decode: per (PE, channel, tap) one LUT holds the codeword
    ROM bit and the XNOR (tau+1 inputs; tau+2 with a tap-valid bit), then the
    XNOR-popcount tree of T*SIMD bits. reuse: per channel and codeword one popcount of T
    bits (shared by all PEs), then per (PE, channel) a 2**tau:1 multiplexer of the
    popcount's bits and an adder tree of SIMD popcounts per PE.
    """
    _, h, w = shape_of(graph, n.inputs[0])
    sf, nf = n.channels // n.simd, n.mh // n.pe
    cycles = nf * sf * h * w
    wl, wf, wb = rom_cost(*weight_rom(n), weight_in_bram(n))
    if mode == "decode" and wl and nf * sf > 32:
        # Yosys: an index ROM in LUTs deeper than 32 words does not merge into the codeword
        # LUTs (at <= 32 words it does); about 2 more LUTs per index bit (calibrated on the
        # CNV-W1A1 sub-bit conv3/conv4 units at 64 words, tau 4 and 5: within 5%)
        wl += 2 * n.pe * n.simd * n.tau
    tbits = tl = tf = 0
    tb = 0.0
    if n.thresholds is not None:
        tbits = n.mh * (n.acc_bits + 1)
        tl, tf, tb = rom_cost(n.pe * (n.acc_bits + 1), nf)
    tl //= 4  # as in bnnc_matvec: Yosys folds most threshold constants into the comparators
    t = n.taps
    pcw = max(1, math.ceil(math.log2(t + 1)))
    if mode == "decode":
        rom_inputs = n.tau + 1 + int(n.masked)
        per_tap = 1 << max(0, rom_inputs - 6)
        # Yosys: the codeword bit stays a LUT of its own (the XNOR merges into the
        # popcount, as in bnnc_matvec); 3.0-3.5 LUTs per (channel, tap) in all
        per_pe = n.simd * t * per_tap + math.ceil(n.simd * t * 2.1) + 2 * n.acc_bits
        shared = 0
    else:
        per_pe = n.simd * pcw * _mux_luts(1 << n.tau) + n.simd * (pcw + 1) + 2 * n.acc_bits
        shared = n.simd * (1 << n.tau) * math.ceil(t * 1.25)
    ibuf = lutram_luts(n.simd * t + (t if n.masked else 0), sf) if nf > 1 else 0
    luts = _SCHEDULE_LUTS + n.pe * per_pe + shared + wl + tl + ibuf
    ffs = _schedule_ffs(sf, nf) + n.pe * n.acc_bits + wf + tf
    _, sub = subbit_weight_bits(n.tau, t, n.mh, n.channels)
    return NodeCost(cycles=cycles, luts=luts, brams=wb + tb, ffs=ffs, weight_bits=sub,
                    threshold_bits=tbits)


def fifo_cost(width: int, depth: int) -> NodeCost:
    """A bnnc_fifo of ``depth`` words of ``width`` bits. Its read address is a register,
    so Yosys moves a deep FIFO (over 64 words) into block RAM; shallower ones are LUT-RAM."""
    aw = max(1, math.ceil(math.log2(max(depth, 2))))
    if depth > 64:
        return NodeCost(cycles=0, luts=30 + 4 * aw, brams=max(0.5, bram_tiles(width, depth)),
                        ffs=width + 3 * aw)
    return NodeCost(cycles=0, luts=lutram_luts(width, depth) + 4 * aw + 4, brams=0.0,
                    ffs=3 * aw + 2)
