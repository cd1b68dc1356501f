"""Bad inputs and arguments to the host driver get clear errors (messages pinned)."""

from __future__ import annotations

import numpy as np
import pytest

from bnnc.host.driver import Accelerator, InputError
from bnnc.sim.device import SimDevice

from board_helpers import DIGITS, projects  # noqa: F401  (fixture)

X = np.load(DIGITS / "data" / "x_test.npy")


def _zeros_engine(build):
    from bnnc.host.model import load_spec

    out_words = load_spec(build / "model.json").out_words
    return lambda words, n, timeout: np.zeros(n * out_words, dtype=np.uint64)


@pytest.fixture()
def acc(projects):
    proj = projects["tfc"]
    return Accelerator(proj.path / "deploy", device=SimDevice(proj.path, engine=_zeros_engine))


@pytest.mark.parametrize("images, message", [
    (X.reshape(360, 64), "input 'input' must have shape (N, 1, 8, 8), got (360, 64)"),
    (X[:, :, :4], "input 'input' must have shape (N, 1, 8, 8), got (360, 1, 4, 8)"),
    (X[:0], "input 'input' holds no images (shape (0, 1, 8, 8))"),
    (X.astype(np.float32), "input 'input' must be uint8 (the model's graph input type), got "
                           "float32"),
    (X.astype(np.int64), "input 'input' must be uint8 (the model's graph input type), got int64; "
                         "its values are within 0..255, so x.astype(np.uint8) converts them "
                         "exactly"),
    (X.astype(np.int16) * 2 - 20, "input 'input' takes uint8 pixels 0..255, got int16 values "
                                  "from -20 to 490"),
    (np.array([["a"]]), "input 'input' must be a numeric array, got dtype <U1"),
])
def test_bad_inputs(acc, images, message):
    with pytest.raises(InputError) as info:
        acc.predict(images)
    assert str(info.value) == message
    assert isinstance(info.value, ValueError)


def test_bad_arguments(acc, projects):
    for bad in (0, -3, 2.5, True, acc.max_batch + 1):
        with pytest.raises(ValueError, match=rf"batch_size must be an integer from 1 to "
                                             rf"{acc.max_batch} \(one DMA transfer\), not"):
            acc.predict(X[:4], batch_size=bad)
    proj = projects["tfc"]
    with pytest.raises(ValueError, match="timeout must be a positive number of seconds, not -1"):
        Accelerator(proj.path / "deploy", device=SimDevice(proj.path, engine=_zeros_engine),
                    timeout=-1)
    assert acc.predict(X[:3], raw=True).tolist() == [[0] * 10] * 3
    assert repr(acc).startswith("Accelerator(") and "model='tfc', device=SimDevice)" in repr(acc)
