"""Train the CNV-like digits net with sub-bit (tau = 5) convolutions; export ``subbit.onnx``.

    python examples/digits/train_subbit.py [--epochs N] [--out DIR]

The network of ``train_cnv.py`` with every convolution but the first made a
:class:`bnnc.nn.SubBitConv2d` (a per-layer codebook of 2**5 = 32 distinct 3x3
binary kernels, a 5-bit index per (out, in) channel pair); the first layer
stays 8-bit input x binary weights. ``subbit.onnx`` states each codebook
explicitly (``Gather`` over the codebook, docs/subbit-training.md);
``subbit.json`` adds tau and the weight bits of every sub-bit layer.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import torch

from bnnc import nn as bnn
from training import run

TAU = 5
PATTERN_INIT = 1.0  # latent patterns start at +-1: a codeword flips only on a consistent gradient


def build_subbit(tau: int = TAU) -> torch.nn.Sequential:
    """8x8x1 -> conv32 -> sub-bit conv32 -> pool -> sub-bit conv64 -> pool -> sub-bit conv64
    -> fc128 -> fc10 (the paddings of ``train_cnv.py``: 0, 0, +1, -1)."""
    return torch.nn.Sequential(OrderedDict([
        ("input", bnn.Input8(mean=0.0, std=255.0)),
        ("conv1", bnn.BinaryConv2d(1, 32, 3, padding=1, pad_value=0)),
        ("bn1", bnn.BatchNorm2d(32)),
        ("act1", bnn.Binarize()),
        ("conv2", bnn.SubBitConv2d(32, 32, tau, padding=1, pad_value=0,
                                   pattern_init=PATTERN_INIT)),
        ("bn2", bnn.BatchNorm2d(32)),
        ("act2", bnn.Binarize()),
        ("pool2", bnn.MaxPool2d(2)),
        ("conv3", bnn.SubBitConv2d(32, 64, tau, padding=1, pad_value=+1,
                                   pattern_init=PATTERN_INIT)),
        ("bn3", bnn.BatchNorm2d(64)),
        ("act3", bnn.Binarize()),
        ("pool3", bnn.MaxPool2d(2)),
        ("conv4", bnn.SubBitConv2d(64, 64, tau, padding=1, pad_value=-1,
                                   pattern_init=PATTERN_INIT)),
        ("bn4", bnn.BatchNorm2d(64)),
        ("act4", bnn.Binarize()),
        ("flatten", bnn.Flatten()),
        ("fc1", bnn.BinaryLinear(64 * 2 * 2, 128)),
        ("bn5", bnn.BatchNorm1d(128)),
        ("act5", bnn.Binarize()),
        ("fc2", bnn.BinaryLinear(128, 10)),
        ("bn6", bnn.BatchNorm1d(10)),
    ]))


def describe(model: torch.nn.Module) -> dict[str, Any]:
    """tau and the weight bits of each sub-bit layer (plain BNN vs sub-bit)."""
    layers = {}
    for name, m in model.named_modules():
        if isinstance(m, bnn.SubBitConv2d):
            bits = m.weight_bits()
            layers[name] = {
                "c_in": m.in_channels,
                "c_out": m.out_channels,
                "codewords_used": int(m.indices().unique().numel()),
                "plain_weight_bits": bits["plain"],
                "subbit_weight_bits": bits["subbit"],
                "ratio": round(bits["plain"] / bits["subbit"], 3),
            }
    plain = sum(v["plain_weight_bits"] for v in layers.values())
    subbit = sum(v["subbit_weight_bits"] for v in layers.values())
    return {"tau": TAU, "subbit_layers": layers,
            "subbit_layers_total": {"plain_weight_bits": plain, "subbit_weight_bits": subbit,
                                    "ratio": round(plain / subbit, 3)}}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Train and export; returns the JSON summary (see ``training.run``)."""
    return run("subbit", build_subbit, argv, epochs=50, lr=1e-2, describe=describe)


if __name__ == "__main__":
    main()
