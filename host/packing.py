"""Stream packing shared by the compiler, the simulators and the board driver.

Numpy only: this module is copied to the board. Conventions (DESIGN.md section 2):

* streams are NHWC, pixel by pixel; a word carries ``simd`` consecutive channels of
  one pixel, channel 0 at the least significant bits;
* a bipolar element is one bit (+1 <-> 1, -1 <-> 0); a uint8 element is 8 bits;
  a score is a little-endian two's-complement int32;
* in a *masked* window stream a word holds one tap's ``simd`` channels plus a valid
  bit above the data (bit ``simd * ebits``); a padded tap is valid=0, data 0;
* at the AXI4-Stream boundary words are 64 bits (the DMA width): a frame is its
  elements back to back, padded with zero bits to a whole number of words.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "tensor_to_words", "words_to_tensor", "frame_bits", "words_per_frame",
    "pack_frames", "unpack_frames",
]


def _elements(x: np.ndarray, ebits: int, bipolar: bool) -> np.ndarray:
    """(N, C, H, W) -> (N, H*W*C) unsigned element codes in stream order."""
    nhwc = np.ascontiguousarray(np.asarray(x).transpose(0, 2, 3, 1)).reshape(x.shape[0], -1)
    if bipolar:
        return (nhwc > 0).astype(np.uint64)
    return (nhwc.astype(np.int64) & ((1 << ebits) - 1)).astype(np.uint64)


def tensor_to_words(x: np.ndarray, ebits: int, simd: int, *, bipolar: bool,
                    masked: bool = False) -> list[int]:
    """Pack an (N, C, H, W) tensor into a list of stream words (Python ints).

    Each word holds ``simd`` elements of ``ebits`` bits; with ``masked`` a word whose
    elements are all 0 (a padded tap) is emitted with valid bit 0, others with 1.
    """
    x = np.asarray(x)
    if x.shape[1] % simd:
        raise ValueError(f"simd={simd} must divide the channel count {x.shape[1]}")
    codes = _elements(x, ebits, bipolar).reshape(-1, simd)
    shifts = np.arange(simd, dtype=np.uint64) * np.uint64(ebits)
    words: list[int] = []
    if masked:
        raw = np.ascontiguousarray(np.asarray(x).transpose(0, 2, 3, 1)).reshape(-1, simd)
        valid = (raw != 0).all(axis=1)
    else:
        valid = np.ones(codes.shape[0], dtype=bool)
    vbit = 1 << (simd * ebits)
    if simd * ebits <= 63:
        packed = (codes << shifts).sum(axis=1, dtype=np.uint64)
        for w, v in zip(packed.tolist(), valid.tolist()):
            words.append((w | vbit) if (masked and v) else (w if v else 0))
    else:
        for row, v in zip(codes.tolist(), valid.tolist()):
            w = 0
            for i, c in enumerate(row):
                w |= int(c) << (i * ebits)
            words.append((w | vbit) if (masked and v) else (w if v else 0))
    return words


def words_to_tensor(words: list[int], shape: tuple[int, int, int, int], ebits: int, simd: int,
                    *, bipolar: bool, signed: bool = False) -> np.ndarray:
    """Inverse of :func:`tensor_to_words` (without mask): words -> (N, C, H, W) int64."""
    n, c, h, w = shape
    if len(words) != n * h * w * (c // simd):
        raise ValueError(f"expected {n * h * w * (c // simd)} words for shape {shape}, "
                         f"got {len(words)}")
    mask = (1 << ebits) - 1
    flat = np.empty(len(words) * simd, dtype=np.int64)
    k = 0
    for word in words:
        for _ in range(simd):
            v = word & mask
            word >>= ebits
            if bipolar:
                v = 1 if v else -1
            elif signed and v >> (ebits - 1):
                v -= 1 << ebits
            flat[k] = v
            k += 1
    return flat.reshape(n, h, w, c).transpose(0, 3, 1, 2).copy()


def frame_bits(elements: int, ebits: int) -> int:
    """Bits of one frame's payload."""
    return elements * ebits


def words_per_frame(elements: int, ebits: int, word_bits: int = 64) -> int:
    """Whole ``word_bits`` words needed for a frame of ``elements`` x ``ebits`` bits."""
    return -(-elements * ebits // word_bits)


def pack_frames(x: np.ndarray, ebits: int, *, bipolar: bool = False,
                word_bits: int = 64) -> np.ndarray:
    """(N, C, H, W) -> uint64 DMA words, NHWC, channel 0 at the LSB, frames padded.

    ``ebits`` is 8 (uint8 pixels) or 1 (bipolar bits).
    """
    if word_bits != 64:
        raise ValueError("only 64-bit DMA words are supported by pack_frames")
    x = np.asarray(x)
    n = x.shape[0]
    codes = _elements(x, ebits, bipolar)  # (N, E)
    per = codes.shape[1]
    wpf = words_per_frame(per, ebits)
    if ebits == 8:
        buf = np.zeros((n, wpf * 8), dtype=np.uint8)
        buf[:, :per] = codes.astype(np.uint8)
        return buf.view("<u8").reshape(-1).copy()
    if ebits == 1:
        bits = np.zeros((n, wpf * 64), dtype=np.uint8)
        bits[:, :per] = codes.astype(np.uint8)
        return np.packbits(bits, axis=1, bitorder="little").view("<u8").reshape(-1).copy()
    raise ValueError(f"unsupported element width {ebits} for DMA packing")


def unpack_frames(words: np.ndarray, n: int, elements: int, ebits: int = 32) -> np.ndarray:
    """uint64 DMA words -> (n, elements) signed integers (int32 scores by default)."""
    words = np.asarray(words, dtype="<u8")
    wpf = words_per_frame(elements, ebits)
    if words.size != n * wpf:
        raise ValueError(f"expected {n * wpf} output words for {n} frames, got {words.size}")
    raw = words.reshape(n, wpf).view(np.uint8).reshape(n, wpf * 8)
    if ebits == 32:
        return raw[:, : elements * 4].copy().view("<i4").astype(np.int64)
    if ebits == 16:
        return raw[:, : elements * 2].copy().view("<i2").astype(np.int64)
    raise ValueError(f"unsupported output element width {ebits}")
