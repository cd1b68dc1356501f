"""Train the small CNV-like binary CNN on the 8x8 digits and export ``cnv.onnx``.

    python examples/digits/train_cnv.py [--epochs N] [--out DIR]

Four 3x3 binary convolutions (one of each padding value: 0, 0, +1, -1) with
BatchNorm and Binarize, two 2x2 max-pools, then two binary dense layers; the
last BatchNorm's affine output is the class score.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import torch

from bnnc import nn as bnn
from training import run


def build_cnv() -> torch.nn.Sequential:
    """8x8x1 -> conv32 -> conv32 -> pool -> conv64 -> pool -> conv64 -> fc128 -> fc10."""
    return torch.nn.Sequential(OrderedDict([
        ("input", bnn.Input8(mean=0.0, std=255.0)),
        ("conv1", bnn.BinaryConv2d(1, 32, 3, padding=1, pad_value=0)),
        ("bn1", bnn.BatchNorm2d(32)),
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
    return run("cnv", build_cnv, argv, epochs=50, lr=1e-2)


if __name__ == "__main__":
    main()
