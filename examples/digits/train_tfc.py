"""Train the TFC-like binary MLP on the 8x8 digits and export ``tfc.onnx``.

    python examples/digits/train_tfc.py [--epochs N] [--out DIR]

Input8 (uint8 pixels / 255) -> Flatten -> 3 x (BinaryLinear -> BatchNorm1d),
with Binarize after the first two; the last BatchNorm's affine output is the
class score.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import torch

from bnnc import nn as bnn
from training import run


def build_tfc() -> torch.nn.Sequential:
    """Input8 -> Flatten -> 64-256-256-10 binary MLP with BatchNorm."""
    return torch.nn.Sequential(OrderedDict([
        ("input", bnn.Input8(mean=0.0, std=255.0)),
        ("flatten", bnn.Flatten()),
        ("fc1", bnn.BinaryLinear(64, 256)),
        ("bn1", bnn.BatchNorm1d(256)),
        ("act1", bnn.Binarize()),
        ("fc2", bnn.BinaryLinear(256, 256)),
        ("bn2", bnn.BatchNorm1d(256)),
        ("act2", bnn.Binarize()),
        ("fc3", bnn.BinaryLinear(256, 10)),
        ("bn3", bnn.BatchNorm1d(10)),
    ]))


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Train and export; returns the JSON summary (see ``training.run``)."""
    return run("tfc", build_tfc, argv, epochs=30, lr=1e-2)


if __name__ == "__main__":
    main()
