"""Train the CNV-like digits net with a bit-plane first layer and export ``bitplane.onnx``.

    python examples/digits/train_bitplane.py [--epochs N] [--out DIR]

The network of ``train_cnv.py`` with its 8-bit first layer (``Input8`` ->
``BinaryConv2d(1, 32)`` -> BatchNorm) replaced by ``BitPlaneInput(1, 32)``
(Vorabbi et al. 2023): the uint8 pixel's 8 bit-planes, one binary 3x3 conv per
plane, a per-branch affine and PReLU, plane weights 1, 1, 2, 2, 4, 4, 8, 8,
summation and a BatchNorm. Every layer after it is unchanged, so the two
first-layer styles are compared on the same net, data and training recipe.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import torch

from bnnc import nn as bnn
from training import run


def build_bitplane() -> torch.nn.Sequential:
    """8x8x1 uint8 -> bit-plane conv32 -> conv32 -> pool -> conv64 -> pool -> conv64 -> fc128 -> fc10."""
    return torch.nn.Sequential(OrderedDict([
        ("bitplane", bnn.BitPlaneInput(1, 32, code="twos_complement", plane_weights="pow2_half",
                                         quantize_params=True)),
        ("act1", bnn.Binarize()),
        ("conv2", bnn.BinaryConv2d(32, 32, 3, padding=1, pad_value=0)),
        ("bn2", bnn.BatchNorm2d(32)),
        ("act2", bnn.Binarize()),
        ("pool2", bnn.MaxPool2d(2)),
        ("conv3", bnn.BinaryConv2d(32, 64, 3, padding=1, pad_value=+1)),
        ("bn3", bnn.BatchNorm2d(64)),
        ("act3", bnn.Binarize()),
        ("pool3", bnn.MaxPool2d(2)),
        ("conv4", bnn.BinaryConv2d(64, 64, 3, padding=1, pad_value=-1)),
        ("bn4", bnn.BatchNorm2d(64)),
        ("act4", bnn.Binarize()),
        ("flatten", bnn.Flatten()),
        ("fc1", bnn.BinaryLinear(64 * 2 * 2, 128)),
        ("bn5", bnn.BatchNorm1d(128)),
        ("act5", bnn.Binarize()),
        ("fc2", bnn.BinaryLinear(128, 10)),
        ("bn6", bnn.BatchNorm1d(10)),
    ]))


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Train and export; returns the JSON summary (see ``training.run``)."""
    return run("bitplane", build_bitplane, argv, epochs=50, lr=1e-2)


if __name__ == "__main__":
    main()
