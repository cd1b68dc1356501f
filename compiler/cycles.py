"""The exact cycle model of the RTL kernels (``rtl_templates/``) and of whole designs.

Definitions (DESIGN.md section 2). Cycle 0 is the first cycle after reset in which the
input is offered. A *handshake* happens in a cycle where valid and ready are both high.

* node latency: cycles from the node's first input handshake to the last output
  handshake of frame 0, with the input always valid and the output always ready;
* node interval: steady-state cycles between the last output handshakes of
  consecutive frames, same conditions;
* design latency: cycles from the first input handshake on the AXI4-Stream input to
  the last output handshake of frame 0 on the AXI4-Stream output (output always
  ready, input always valid);
* design interval: steady-state cycles between the last output handshakes of
  consecutive frames, same conditions.

How the kernels move (see the header comment of each Verilog module):

* every edge between two kernels is a :file:`bnnc_fifo` with latency 1: a word written
  in cycle ``c`` can be read from cycle ``c + 1``;
* the width converter, the matrix-vector unit and the max-pool follow a *static
  schedule*: a fixed sequence of steps per frame, each step reading at most one word
  and writing at most one word, one step per cycle at most, a step firing as soon as
  its input word is there (and, in the design, its output FIFO has room). Closed forms
  (per frame; R = width ratio, SF = MW/SIMD, NF = MH/PE, CB = C/SIMD):

  ==================  ===========================================  ==========================
  kernel              interval (steps per frame)                   latency
  ==================  ===========================================  ==========================
  width copy          IN_WORDS                                     IN_WORDS - 1
  width down          max(OUT_WORDS, R*(IN_WORDS-1) + 1)           OUT_WORDS - 1
  width up            IN_WORDS                                     IN_WORDS - 1
  matvec              PIXELS * NF * SF                             PIXELS * NF * SF - 1
  bit-plane unit      PIXELS * NF * SF (SF = taps, the matvec's)   PIXELS * NF * SF - 1
  code ROM            PIXELS                                       PIXELS - 1
  max-pool            H * W * CB                                   ((OH*K-1)*W + OW*K) * CB - 1
  ==================  ===========================================  ==========================

* the sliding window has an independent read side and emit side (one word each per
  cycle at most) coupled through its K+S-row line buffer. With ``read(i)`` the read
  cycle of input word ``i`` (row ``g``), ``emit(j)`` the emit cycle of tap ``j``:

      read(i) = max(read(i-1) + 1, arrival(i), emit(J(g) - 1) + 1)
      emit(j) = max(emit(j-1) + 1, read(need(j)) + 1)      (padding taps: no read term)

  where ``J(g)`` is the first tap whose window top row exceeds ``g - (K+S)`` and
  ``need(j)`` the input word of tap ``j``. In a design the window stream feeds its
  matrix-vector unit through a FIFO of depth :data:`WINDOW_FIFO_DEPTH`, which adds
  ``emit(j) >= consume(j - depth) + 1``; the pair is evaluated together, exactly.

Design figures come from composing the kernels' recurrences along the graph
(:func:`design_timing`). FIFO depths (:func:`fifo_depths`) are the largest occupancy
each edge reaches (a) for one frame through the empty design and (b) in the steady
state with frames arriving once per design interval, so that no FIFO other than the
window FIFOs ever fills in those runs. Then (monotonicity of the valid/ready
recurrences) the RTL measures exactly the modelled latency and interval, never
deadlocks, and returns to full rate after any stall.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from . import ir
from .cost import shape_of
from .errors import InternalError

__all__ = ["NodeTiming", "DesignTiming", "node_timing", "design_timing", "fifo_depths",
           "hardware_nodes", "WINDOW_FIFO_DEPTH", "MIN_FIFO_DEPTH", "MODEL_FRAMES"]

WINDOW_FIFO_DEPTH = 2   # sliding window -> matrix-vector FIFO (backpressure is modelled)
MIN_FIFO_DEPTH = 2
MODEL_FRAMES = 5        # frames simulated to reach the steady state


@dataclass(frozen=True)
class NodeTiming:
    """Isolated timing of one kernel (input always valid, output always ready)."""

    name: str
    kind: str
    in_words: int     # per frame
    out_words: int    # per frame
    interval: int
    latency: int


@dataclass(frozen=True)
class DesignTiming:
    """Whole-design figures and the FIFO depth of every stream."""

    interval: int
    latency: int
    in_words: int
    out_words: int
    fifo_depths: Mapping[str, int]
    nodes: tuple[NodeTiming, ...]


# ------------------------------------------------------------------ kernel schedules
def hardware_nodes(graph: ir.Graph) -> list[ir.Node]:
    """The kernels of ``graph`` in stream order (FlattenNHWC is wiring; Input/Output are ports)."""
    out: list[ir.Node] = []
    for n in graph:
        if isinstance(n, (ir.WidthConvert, ir.SlidingWindow, ir.MatVec, ir.CodebookMatVec,
                          ir.Pool, ir.CodeMap, ir.BitPlaneMatVec)):
            out.append(n)
        elif not isinstance(n, (ir.Input, ir.Output, ir.FlattenNHWC)):
            raise InternalError(f"the RTL backend has no kernel for {n.kind} ({n.name!r}); "
                                "run the lowering passes first")
    return out


def _wc_words(n: ir.WidthConvert) -> tuple[int, int]:
    return -(-n.frame_bits // n.in_bits), -(-n.frame_bits // n.out_bits)


def _static_schedule(graph: ir.Graph, n: ir.Node) -> tuple[np.ndarray, np.ndarray]:
    """(reads, writes): boolean arrays over the steps of one frame of a static kernel."""
    if isinstance(n, ir.WidthConvert):
        iw, ow = _wc_words(n)
        if n.in_bits == n.out_bits:
            ones = np.ones(iw, dtype=bool)
            return ones, ones.copy()
        if n.in_bits > n.out_bits:
            r = n.in_bits // n.out_bits
            last_read = r * (iw - 1) + 1
            i = np.arange(max(ow, last_read))
            return (i % r == 0) & (i < last_read), i < ow
        r = n.out_bits // n.in_bits
        i = np.arange(iw)
        return np.ones(iw, dtype=bool), (i % r == r - 1) | (i == iw - 1)
    if isinstance(n, ir.CodeMap):  # one pixel word in, one out, per step
        _, h, w = shape_of(graph, n.inputs[0])
        ones = np.ones(h * w, dtype=bool)
        return ones, ones.copy()
    if isinstance(n, (ir.MatVec, ir.BitPlaneMatVec, ir.CodebookMatVec)):
        _, h, w = shape_of(graph, n.inputs[0])
        sf, nf = _sf_nf(n)
        i = np.arange(h * w * nf * sf)
        return (i % (nf * sf)) < sf, (i % sf) == sf - 1
    if isinstance(n, ir.Pool):
        cb = n.channels // n.simd
        k = n.kernel
        oh, ow = n.height // k, n.width // k
        i = np.arange(n.height * n.width * cb)
        y, x = i // (n.width * cb), (i // cb) % n.width
        wr = (y < oh * k) & (x < ow * k) & (x % k == k - 1) & (y % k == k - 1)
        return np.ones(i.size, dtype=bool), wr
    raise InternalError(f"{n.kind} has no static schedule")


def _sf_nf(n: ir.MatVec | ir.CodebookMatVec | ir.BitPlaneMatVec) -> tuple[int, int]:
    """(SF, NF): input words and output words per vector of a (codebook) matrix-vector unit."""
    if isinstance(n, ir.CodebookMatVec):
        return n.channels // n.simd, n.mh // n.pe
    return n.mw // n.simd, n.mh // n.pe


def _static_fire(rd: np.ndarray, arrival: np.ndarray) -> np.ndarray:
    """Fire cycle of every step: fire(t) = max(fire(t-1) + 1, arrival of its input word)."""
    steps = rd.size
    t = np.arange(steps, dtype=np.int64)
    a = np.full(steps, np.iinfo(np.int64).min // 4, dtype=np.int64)
    a[rd] = arrival
    slack = np.maximum.accumulate(a - t)
    return t + np.maximum(slack, 0)


@dataclass(frozen=True)
class _Window:
    """Per-frame tap tables of a sliding window."""

    in_words: int
    row: int
    nr: int
    height: int
    in_img: np.ndarray   # bool per tap
    need: np.ndarray     # input word (within the frame) of each tap
    top: np.ndarray      # clamped window top row (within the frame) of each tap


def _window(n: ir.SlidingWindow, graph: ir.Graph) -> _Window:
    _, oh, ow = shape_of(graph, n.name)
    k, s, p, cb = n.kernel, n.stride, n.pad, n.channels // n.simd
    if n.order == "ckk":
        # one word per (oy, ox, cb); it waits for its bottom-right tap inside the image
        oy, ox, c = np.meshgrid(np.arange(oh), np.arange(ow), np.arange(cb), indexing="ij")
        y = np.minimum(oy * s - p + k - 1, n.height - 1).ravel()
        x = np.minimum(ox * s - p + k - 1, n.width - 1).ravel()
        c = c.ravel()
        return _Window(in_words=n.height * n.width * cb, row=n.width * cb, nr=k + s,
                       height=n.height, in_img=np.ones(y.size, dtype=bool),
                       need=(y * n.width + x) * cb + c,
                       top=np.maximum(oy * s - p, 0).ravel())
    oy, ox, ky, kx, c = np.meshgrid(np.arange(oh), np.arange(ow), np.arange(k), np.arange(k),
                                    np.arange(cb), indexing="ij")
    y = (oy * s - p + ky).ravel()
    x = (ox * s - p + kx).ravel()
    c = c.ravel()
    in_img = (y >= 0) & (y < n.height) & (x >= 0) & (x < n.width)
    need = np.where(in_img, (y * n.width + x) * cb + c, -1)
    top = np.maximum(oy * s - p, 0).ravel()
    return _Window(in_words=n.height * n.width * cb, row=n.width * cb, nr=k + s,
                   height=n.height, in_img=in_img, need=need, top=top)


def _window_run(win: _Window, frames: int, arrival: np.ndarray,
                consumer: tuple[int, int] | None,
                depth: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Evaluate the sliding-window recurrences (optionally with its matvec consumer).

    Returns (read cycles of the input words, emit cycles of the taps, consume cycles of
    the taps by the matvec; equal to the emit cycles when ``consumer`` is None).
    ``consumer`` = (SF, NF) of the matvec reading the taps through a FIFO of ``depth``.
    """
    taps = win.in_img.size
    total_taps = taps * frames
    offs = np.repeat(np.arange(frames, dtype=np.int64), taps)
    in_img = np.tile(win.in_img, frames).tolist()
    need = (np.tile(win.need, frames) + offs * win.in_words).tolist()
    top_g = np.tile(win.top, frames) + offs * win.height
    n_reads = win.in_words * frames
    rows = np.arange(n_reads, dtype=np.int64) // win.row
    jfree = np.searchsorted(top_g, rows - win.nr, side="right").tolist()  # J(g)
    arr = arrival.tolist()
    read = [0] * n_reads
    emit = [0] * total_taps
    cons = [0] * total_taps
    ri = 0
    prev_r = prev_e = prev_c = -1
    if consumer is not None:
        sf, nf = consumer
        gap = (nf - 1) * sf
    for j in range(total_taps):
        e = prev_e + 1
        if in_img[j]:
            nd = need[j]
            while ri <= nd:
                t = prev_r + 1
                if arr[ri] > t:
                    t = arr[ri]
                jf = jfree[ri]
                if jf > 0 and emit[jf - 1] + 1 > t:
                    t = emit[jf - 1] + 1
                read[ri] = prev_r = t
                ri += 1
            if read[nd] + 1 > e:
                e = read[nd] + 1
        if consumer is not None:
            if j >= depth and cons[j - depth] + 1 > e:
                e = cons[j - depth] + 1
            c = e + 1
            if j > 0:
                step = prev_c + 1 + (gap if j % sf == 0 else 0)
                if step > c:
                    c = step
            cons[j] = prev_c = c
        emit[j] = prev_e = e
    while ri < n_reads:
        t = max(prev_r + 1, arr[ri])
        jf = jfree[ri]
        if jf > 0:
            t = max(t, emit[jf - 1] + 1)
        read[ri] = prev_r = t
        ri += 1
    e_arr = np.array(emit, dtype=np.int64)
    c_arr = np.array(cons, dtype=np.int64) if consumer is not None else e_arr
    return np.array(read, dtype=np.int64), e_arr, c_arr


def _frame_ends(times: np.ndarray, per_frame: int) -> np.ndarray:
    return times.reshape(-1, per_frame)[:, -1]


def node_timing(graph: ir.Graph, n: ir.Node, frames: int = MODEL_FRAMES) -> NodeTiming:
    """Isolated interval and latency of kernel ``n`` (input always valid, output ready)."""
    if isinstance(n, ir.SlidingWindow):
        win = _window(n, graph)
        zeros = np.zeros(win.in_words * frames, dtype=np.int64)
        _, emit, _ = _window_run(win, frames, zeros, None, 0)
        ends = _frame_ends(emit, win.in_img.size)
        return NodeTiming(name=n.name, kind="window", in_words=win.in_words,
                          out_words=win.in_img.size, interval=int(ends[-1] - ends[-2]),
                          latency=int(ends[0]))
    rd, wr = _static_schedule(graph, n)
    last = int(np.flatnonzero(wr)[-1])
    kind = {ir.WidthConvert: "dwc", ir.MatVec: "matvec", ir.Pool: "maxpool",
            ir.CodebookMatVec: "codebook", ir.CodeMap: "codemap",
            ir.BitPlaneMatVec: "bitplane"}[type(n)]
    return NodeTiming(name=n.name, kind=kind, in_words=int(rd.sum()), out_words=int(wr.sum()),
                      interval=int(rd.size), latency=last)


# ------------------------------------------------------------------ whole designs
def _io_words(graph: ir.Graph) -> tuple[int, int]:
    c, h, w = graph.input.shape
    in_words = -(-(c * h * w * graph.input.dtype.bits) // 64)
    oc, oh, ow = shape_of(graph, graph.output.inputs[0])
    return in_words, -(-(oc * oh * ow * 32) // 64)


def _stream_of(graph: ir.Graph, name: str) -> str:
    """The stream (producer kernel or the input) that node ``name``'s output really is."""
    n = graph.node(name)
    while isinstance(n, ir.FlattenNHWC):
        n = graph.node(n.inputs[0])
    return n.name


@dataclass
class _Run:
    writes: dict[str, np.ndarray]  # stream -> write cycle of every word (into its FIFO)
    reads: dict[str, np.ndarray]   # stream -> read cycle of every word (out of its FIFO)
    out: np.ndarray                # AXI output handshake cycles


def _simulate(graph: ir.Graph, in_times: np.ndarray, frames: int,
              window_depth: int = WINDOW_FIFO_DEPTH) -> _Run:
    """Compose the kernel recurrences; FIFOs never fill except the window FIFOs."""
    writes: dict[str, np.ndarray] = {graph.input.name: in_times}
    reads: dict[str, np.ndarray] = {}
    nodes = hardware_nodes(graph)
    skip: set[str] = set()
    for n in nodes:
        if n.name in skip:
            continue
        src = _stream_of(graph, n.inputs[0])
        arrival = writes[src] + 1
        if isinstance(n, ir.SlidingWindow):
            cons = graph.consumers(n.name)
            if len(cons) != 1 or not isinstance(cons[0], (ir.MatVec, ir.BitPlaneMatVec,
                                                          ir.CodebookMatVec)):
                raise InternalError(f"sliding window {n.name!r} must feed exactly one matvec")
            mv = cons[0]
            assert isinstance(mv, (ir.MatVec, ir.BitPlaneMatVec, ir.CodebookMatVec))
            sf, nf = _sf_nf(mv)
            read, emit, cons_t = _window_run(_window(n, graph), frames, arrival, (sf, nf),
                                             window_depth)
            reads[src] = read
            writes[n.name] = emit
            reads[n.name] = cons_t
            last = cons_t.reshape(-1, sf)[:, -1]  # consume of each pixel's last word
            writes[mv.name] = (last[:, None] + np.arange(nf) * sf).ravel()
            skip.add(mv.name)
            continue
        rd, wr = _static_schedule(graph, n)
        fire = _static_fire(np.tile(rd, frames), arrival)
        reads[src] = fire[np.tile(rd, frames)]
        writes[n.name] = fire[np.tile(wr, frames)]
    out_stream = _stream_of(graph, graph.output.inputs[0])
    reads[out_stream] = writes[out_stream] + 1
    for s, w in writes.items():
        r = reads.get(s)
        if r is None or r.size != w.size:
            raise InternalError(f"stream {s!r}: {w.size} words written, "
                                f"{0 if r is None else r.size} read; kernel word counts disagree")
    return _Run(writes=writes, reads=reads, out=reads[out_stream])


def _occupancy(w: np.ndarray, r: np.ndarray) -> int:
    """Smallest FIFO depth that accepts every write: count before the write < depth."""
    before = np.searchsorted(r, w, side="left")  # reads strictly before each write
    return int((np.arange(w.size) - before).max(initial=0)) + 1


def design_timing(graph: ir.Graph, frames: int = MODEL_FRAMES) -> DesignTiming:
    """The design's latency and interval and the FIFO depths that realize them."""
    in_words, out_words = _io_words(graph)
    single = _simulate(graph, np.arange(in_words, dtype=np.int64), 1)
    latency = int(single.out[-1])
    free = _simulate(graph, np.arange(in_words * frames, dtype=np.int64), frames)
    ends = _frame_ends(free.out, out_words)
    interval = int(ends[-1] - ends[-2])
    starts = (np.arange(frames, dtype=np.int64) * interval)[:, None]
    paced = _simulate(graph, (starts + np.arange(in_words)).ravel(), frames)
    pends = _frame_ends(paced.out, out_words)
    if int(pends[-1] - pends[-2]) != interval:
        raise InternalError(f"cycle model: paced run gives interval {int(pends[-1] - pends[-2])}, "
                            f"free run {interval}; please report this bnnc bug")
    depths: dict[str, int] = {}
    window_streams = {n.name for n in graph if isinstance(n, ir.SlidingWindow)}
    for s in single.writes:
        if s in window_streams:
            depths[s] = WINDOW_FIFO_DEPTH
            continue
        d = max(_occupancy(single.writes[s], single.reads[s]),
                _occupancy(paced.writes[s], paced.reads[s]), MIN_FIFO_DEPTH)
        depths[s] = d
    nodes = tuple(node_timing(graph, n) for n in hardware_nodes(graph))
    return DesignTiming(interval=interval, latency=latency, in_words=in_words,
                        out_words=out_words, fifo_depths=depths, nodes=nodes)


def fifo_depths(graph: ir.Graph) -> dict[str, int]:
    """FIFO depth of every stream (keyed by producer name; the input stream by the Input's)."""
    return dict(design_timing(graph).fifo_depths)
