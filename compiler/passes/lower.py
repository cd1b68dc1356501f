"""Lowering passes: high-level layers -> streaming hardware nodes."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .. import ir
from ..cost import elem_bits, shape_of, stream_bits
from ..errors import UnsupportedError

__all__ = ["flatten_to_nhwc", "lower_bitplane", "lower_layers", "fuse_thresholds",
           "popcount_domain", "lower_pool", "size_accumulators", "insert_width_converters"]


def _only_consumer(graph: ir.Graph, name: str) -> ir.Node | None:
    cons = graph.consumers(name)
    return cons[0] if len(cons) == 1 else None


def flatten_to_nhwc(graph: ir.Graph) -> ir.Graph:
    """Flatten(NCHW) feeding a Dense -> FlattenNHWC + Dense with permuted weight columns.

    Expects: every Flatten of a map with H*W > 1 feeds exactly one Dense.
    Guarantees: no Flatten nodes remain; golden outputs unchanged.
    """
    consts = dict(graph.consts)
    nodes: list[ir.Node] = []
    permute: dict[str, tuple[int, int, int]] = {}
    for n in graph:
        if isinstance(n, ir.Flatten):
            c, h, w = shape_of(graph, n.inputs[0])
            cons = graph.consumers(n.name)
            if h * w > 1:
                if not (len(cons) == 1 and isinstance(cons[0], ir.Dense)):
                    raise UnsupportedError(f"Flatten {n.name!r} of a {c}x{h}x{w} map must feed "
                                           "exactly one dense layer")
                permute[cons[0].name] = (c, h, w)
            nodes.append(ir.FlattenNHWC(name=n.name, inputs=n.inputs))
            continue
        if isinstance(n, ir.Dense) and n.name in permute:
            c, h, w = permute[n.name]
            wts = consts[n.weights]
            f = wts.shape[0]
            # new column (y*W + x)*C + c  <-  old column c*H*W + y*W + x
            new = wts.reshape(f, c, h, w).transpose(0, 2, 3, 1).reshape(f, -1)
            key = f"{n.name}.weights_nhwc"
            consts[key] = new
            n = replace(n, weights=key)
        nodes.append(n)
    return graph.replace(nodes, consts)


def _signed_bits(lo: int, hi: int) -> int:
    """Bits of a two's-complement number holding every value of [lo, hi] (Python ints)."""
    return max(x.bit_length() if x >= 0 else (~x).bit_length() for x in (lo, hi)) + 1


def lower_bitplane(graph: ir.Graph) -> ir.Graph:
    """BitPlaneConv -> Threshold becomes CodeMap + SlidingWindow + BitPlaneMatVec.

    Expects: every BitPlaneConv feeds exactly one Threshold (its binarization).
    Guarantees: the code ROM maps each pixel word to its C*8 bit-planes (plane c*8 + i at
    bit c*8 + i), a 1-bit sliding window pads them with +1 and emits one tap of all planes
    per word (SIMD = C*8), and the BitPlaneMatVec holds the exact tables, the clipped
    threshold and the exact entry/sum widths; golden outputs unchanged.
    """
    consts = dict(graph.consts)
    nodes: list[ir.Node] = []
    rename: dict[str, str] = {}
    fused: dict[str, ir.Threshold] = {}
    for n in graph:
        if isinstance(n, ir.BitPlaneConv):
            cons = graph.consumers(n.name)
            if len(cons) != 1 or not isinstance(cons[0], ir.Threshold):
                raise UnsupportedError(f"bit-plane layer {n.name!r} must feed exactly one "
                                       "binarization (the next layer binarizes its output)")
            fused[cons[0].name] = cons[0]
    for n in graph:
        if isinstance(n, ir.Threshold) and n.name in fused:
            rename[n.name] = n.inputs[0]
            continue
        n = replace(n, inputs=tuple(rename.get(i, i) for i in n.inputs))
        if not isinstance(n, ir.BitPlaneConv):
            nodes.append(n)
            continue
        c, h, w = shape_of(graph, n.inputs[0])
        wts = consts[n.weights]  # (F, P, K, K)
        f, p, k = wts.shape[0], wts.shape[1], n.kernel
        thr = next(t for t in fused.values() if t.inputs[0] == n.name)
        tables = consts[n.tables]
        lo = min(sum(min(int(x) for x in tables[i, j]) for j in range(p)) for i in range(f))
        hi = max(sum(max(int(x) for x in tables[i, j]) for j in range(p)) for i in range(f))
        t = [min(max(int(x), lo), hi + 1) for x in consts[thr.thresholds]]
        tkey = f"{n.name}.thresholds_bp"
        tarr = np.empty(f, dtype=object)
        tarr[:] = t
        consts[tkey] = tarr
        wkey = f"{n.name}.weights_mv"
        consts[wkey] = wts.transpose(0, 2, 3, 1).reshape(f, -1)  # columns (ky, kx, plane)
        entry = max(_signed_bits(min(int(x) for x in tables.ravel()),
                                 max(int(x) for x in tables.ravel())), 2)
        code = ir.CodeMap(name=f"{n.name}_code", inputs=n.inputs, code=n.code, channels=c)
        swg = ir.SlidingWindow(name=f"{n.name}_swg", inputs=(code.name,), channels=p, height=h,
                               width=w, kernel=k, stride=n.stride, pad=n.pad, pad_value=1,
                               masked=False, dtype=ir.BIPOLAR, simd=p)
        mv = ir.BitPlaneMatVec(name=n.name, inputs=(swg.name,), weights=wkey, tables=n.tables,
                               thresholds=tkey, invert=thr.invert, mw=k * k * p, mh=f, planes=p,
                               taps=k * k, simd=p, entry_bits=entry,
                               acc_bits=max(_signed_bits(lo, hi + 1), entry + 1))
        nodes += [code, swg, mv]
    return graph.replace(nodes, consts)


def lower_layers(graph: ir.Graph) -> ir.Graph:
    """Conv -> SlidingWindow + MatVec; Dense -> MatVec (accumulators, no thresholds yet).

    Guarantees: MatVec weights are (MH, MW) with columns in window order (ky, kx, c).
    """
    consts = dict(graph.consts)
    nodes: list[ir.Node] = []
    for n in graph:
        if isinstance(n, ir.Conv):
            c, h, w = shape_of(graph, n.inputs[0])
            src = graph.node(n.inputs[0])
            in_dtype = ir.UINT8 if elem_bits(graph, src.name) == 8 else ir.BIPOLAR
            masked = in_dtype.bits == 1 and n.pad > 0 and n.pad_value == 0
            swg = ir.SlidingWindow(name=f"{n.name}_swg", inputs=n.inputs, channels=c, height=h,
                                   width=w, kernel=n.kernel, stride=n.stride, pad=n.pad,
                                   pad_value=n.pad_value, masked=masked, dtype=in_dtype)
            wts = consts[n.weights]
            key = f"{n.name}.weights_mv"
            consts[key] = wts.transpose(0, 2, 3, 1).reshape(wts.shape[0], -1)
            mv = ir.MatVec(name=n.name, inputs=(swg.name,), weights=key,
                           mw=n.kernel * n.kernel * c, mh=wts.shape[0], in_dtype=in_dtype,
                           domain="int" if in_dtype.bits == 8 else "dot", masked=masked)
            nodes += [swg, mv]
        elif isinstance(n, ir.SubBitConv):
            c, h, w = shape_of(graph, n.inputs[0])
            if elem_bits(graph, n.inputs[0]) != 1:
                raise UnsupportedError(f"sub-bit layer {n.name!r} needs binary input; its input "
                                       "is multi-bit (compile it as a plain conv: --subbit off)")
            if n.stride > n.kernel or n.pad >= n.kernel:
                raise UnsupportedError(
                    f"sub-bit layer {n.name!r}: stride {n.stride} and padding {n.pad} with a "
                    f"{n.kernel}x{n.kernel} kernel; codebook windows need stride <= kernel and "
                    "padding < kernel (compile it as a plain conv: --subbit off)")
            masked = n.pad > 0 and n.pad_value == 0
            swg = ir.SlidingWindow(name=f"{n.name}_swg", inputs=n.inputs, channels=c, height=h,
                                   width=w, kernel=n.kernel, stride=n.stride, pad=n.pad,
                                   pad_value=n.pad_value, masked=masked, dtype=ir.BIPOLAR,
                                   order="ckk")
            f = consts[n.indices].shape[0]
            cmv = ir.CodebookMatVec(name=n.name, inputs=(swg.name,), codebook=n.codebook,
                                    indices=n.indices, tau=n.tau, channels=c,
                                    taps=n.kernel * n.kernel, mh=f, domain="dot", masked=masked)
            nodes += [swg, cmv]
        elif isinstance(n, ir.Dense):
            wts = consts[n.weights]
            in_dtype = ir.UINT8 if elem_bits(graph, n.inputs[0]) == 8 else ir.BIPOLAR
            nodes.append(ir.MatVec(name=n.name, inputs=n.inputs, weights=n.weights,
                                   mw=wts.shape[1], mh=wts.shape[0], in_dtype=in_dtype,
                                   domain="int" if in_dtype.bits == 8 else "dot"))
        else:
            nodes.append(n)
    return graph.replace(nodes, consts)


def fuse_thresholds(graph: ir.Graph) -> ir.Graph:
    """MatVec -> Threshold (its only consumer) becomes one thresholding MatVec.

    Guarantees: no Threshold nodes remain (a Threshold elsewhere is refused).
    """
    fused: dict[str, ir.Threshold] = {}
    for n in graph:
        if isinstance(n, ir.Threshold):
            src = graph.node(n.inputs[0])
            if (not isinstance(src, (ir.MatVec, ir.CodebookMatVec))
                    or _only_consumer(graph, src.name) is not n):
                raise UnsupportedError(f"binarization {n.name!r} must directly follow a binary "
                                       "Conv/Gemm/MatMul (with only affine ops between)")
            fused[src.name] = n
    nodes: list[ir.Node] = []
    rename: dict[str, str] = {}
    for n in graph:
        if isinstance(n, ir.Threshold):
            rename[n.name] = n.inputs[0]
            continue
        if n.name in fused:
            assert isinstance(n, (ir.MatVec, ir.CodebookMatVec))
            t = fused[n.name]
            n = replace(n, thresholds=t.thresholds, invert=t.invert)
        n = replace(n, inputs=tuple(rename.get(i, i) for i in n.inputs))
        nodes.append(n)
    return graph.replace(nodes)


def popcount_domain(graph: ir.Graph) -> ir.Graph:
    """Thresholds of unmasked bipolar MatVecs move from the dot to the popcount domain.

    dot = 2*pc - MW, so ``dot >= t``  <=>  ``pc >= ceil((t + MW) / 2)``. Score outputs and
    masked (zero-padded) layers stay in the dot domain.
    """
    consts = dict(graph.consts)
    nodes: list[ir.Node] = []
    for n in graph:
        if (isinstance(n, (ir.MatVec, ir.CodebookMatVec)) and n.domain == "dot" and not n.masked
                and n.thresholds is not None):
            t = consts[n.thresholds].astype(np.int64)
            pc = np.clip(-((-(t + n.mw)) // 2), 0, n.mw + 1)
            key = f"{n.name}.thresholds_pc"
            consts[key] = pc
            n = replace(n, domain="popcount", thresholds=key)
        nodes.append(n)
    return graph.replace(nodes, consts)


def lower_pool(graph: ir.Graph) -> ir.Graph:
    """Binary MaxPool -> Pool: OR of bits (AND on channels of its ``and_mask``)."""
    nodes: list[ir.Node] = []
    for n in graph:
        if isinstance(n, ir.MaxPool):
            if elem_bits(graph, n.inputs[0]) != 1:
                raise UnsupportedError(f"MaxPool {n.name!r} on non-binary data is not supported")
            c, h, w = shape_of(graph, n.inputs[0])
            mask = getattr(n, "and_mask", None)
            n = ir.Pool(name=n.name, inputs=n.inputs, channels=c, height=h, width=w,
                        kernel=n.kernel, and_mask=mask)
        nodes.append(n)
    return graph.replace(nodes)


def _bits_signed(lo: int, hi: int) -> int:
    b = 1
    while not (-(1 << (b - 1)) <= lo and hi <= (1 << (b - 1)) - 1):
        b += 1
    return b


def size_accumulators(graph: ir.Graph) -> ir.Graph:
    """Set each MatVec's signed accumulator width from exact bounds of acc and thresholds."""
    nodes: list[ir.Node] = []
    for n in graph:
        if isinstance(n, (ir.MatVec, ir.CodebookMatVec)):
            if n.domain == "popcount":
                lo, hi = 0, n.mw + 1
            elif n.domain == "dot":
                lo, hi = -n.mw, n.mw + 1
            else:
                lo, hi = -255 * n.mw, 255 * n.mw + 1
            if n.thresholds is not None:
                t = graph.consts[n.thresholds]
                lo, hi = min(lo, int(t.min())), max(hi, int(t.max()))
            bits = _bits_signed(lo, hi)
            if n.thresholds is None:
                bits = max(bits, 2)
                if bits > 32:
                    raise UnsupportedError(f"layer {n.name!r}: scores need {bits} bits, more than "
                                           "the 32-bit output")
            n = replace(n, acc_bits=bits)
        nodes.append(n)
    return graph.replace(nodes)


def insert_width_converters(graph: ir.Graph) -> ir.Graph:
    """Insert WidthConvert nodes wherever a producer's word width differs from its consumer's.

    A conversion between widths where neither divides the other goes through their gcd.
    The graph input arrives as 64-bit DMA words; the output leaves as 64-bit words.
    """
    from math import gcd

    nodes: list[ir.Node] = []
    rename: dict[str, str] = {}
    built = {n.name: n for n in graph}

    def frame_bits_of(name: str) -> int:
        c, h, w = shape_of(graph, name) if name in built else (0, 0, 0)
        return c * h * w * elem_bits(graph, name)

    def convert(src: str, src_bits: int, dst_bits: int, fbits: int, base: str) -> str:
        steps = [dst_bits] if (src_bits % dst_bits == 0 or dst_bits % src_bits == 0) else \
            [gcd(src_bits, dst_bits), dst_bits]
        cur, cur_bits = src, src_bits
        for i, b in enumerate(steps):
            name = f"{base}_dwc{i}" if len(steps) > 1 else f"{base}_dwc"
            nodes.append(ir.WidthConvert(name=name, inputs=(cur,), in_bits=cur_bits, out_bits=b,
                                         frame_bits=fbits))
            cur, cur_bits = name, b
        return cur

    for n in graph:
        n = replace(n, inputs=tuple(rename.get(i, i) for i in n.inputs))
        want = None
        if isinstance(n, ir.SlidingWindow):
            want = n.simd * n.dtype.bits
        elif isinstance(n, ir.MatVec) and not isinstance(built[n.inputs[0]] if n.inputs[0] in built
                                                         else None, ir.SlidingWindow):
            want = n.simd * n.in_dtype.bits
        elif isinstance(n, ir.Pool):
            want = n.simd
        elif isinstance(n, ir.CodeMap):
            want = n.channels * 8
        elif isinstance(n, ir.Output):
            want = 64
        if want is not None:
            src = n.inputs[0]
            src_name = src
            # width of the incoming stream (after any converter already inserted)
            have = stream_bits(graph, _origin(graph, src, rename))
            if have != want:
                fbits = frame_bits_of(_origin(graph, src, rename))
                new_src = convert(src_name, have, want, fbits, n.name)
                n = replace(n, inputs=(new_src,))
        nodes.append(n)
    return graph.replace(nodes)


def _origin(graph: ir.Graph, name: str, rename: dict[str, str]) -> str:
    return name
