"""scikit-learn's 8x8 handwritten digits as raw uint8 images, with a fixed split.

The data set ships with scikit-learn (1,797 images, 10 classes), so everything
here works offline. Pixels 0..16 become uint8 0..255 (``round(p * 255 / 16)``),
the format the accelerator takes.
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

__all__ = ["load_split"]


def load_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Load the digits and split them 80/20, stratified, with a fixed seed.

    Returns
    -------
    x_train, y_train, x_test, y_test : np.ndarray
        Images as uint8 arrays of shape (N, 1, 8, 8) and labels as int64
        arrays of shape (N,). The split is
        ``train_test_split(test_size=0.2, random_state=0, stratify=y)``:
        1,437 training and 360 test images.
    """
    digits = load_digits()
    x = np.round(digits.images * 255 / 16).astype(np.uint8)[:, None, :, :]
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.2, random_state=0, stratify=y)
    return x_train, y_train, x_test, y_test
