"""The training loop shared by ``train_tfc.py`` and ``train_cnv.py``.

Trains a ``bnnc.nn`` model on the digits split with Adam and a cosine learning
rate, prints one line per epoch, exports ONNX with :func:`bnnc.nn.export_onnx`,
re-scores the test set in onnxruntime and writes a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch

from bnnc.nn import clip_latent_weights_, export_onnx
from data import load_split

__all__ = ["run"]

HERE = Path(__file__).resolve().parent


def run(name: str, build_model: Callable[[], torch.nn.Module], argv: Sequence[str] | None, *,
        epochs: int, lr: float, batch_size: int = 64,
        describe: Callable[[torch.nn.Module], dict[str, Any]] | None = None) -> dict[str, Any]:
    """Train, export and score one model; see the module docstring.

    Parameters
    ----------
    name : str
        Model name: writes ``<out>/<name>.onnx`` and ``<out>/<name>.json``.
    build_model : callable
        Returns a fresh model (called after seeding).
    argv : sequence of str or None
        Command-line arguments (``--epochs N``, ``--out DIR``); None reads sys.argv.
    epochs : int
        Default number of epochs.
    lr : float
        Adam's initial learning rate (cosine-annealed to 0).
    batch_size : int
        Minibatch size.
    describe : callable, optional
        ``describe(trained_model)`` returns extra entries for the JSON summary.

    Returns
    -------
    dict
        The JSON summary (accuracies, epochs, seconds).
    """
    parser = argparse.ArgumentParser(description=f"Train the digits {name.upper()} BNN "
                                     "and export it to ONNX.")
    parser.add_argument("--epochs", type=int, default=epochs,
                        help=f"training epochs (default {epochs})")
    parser.add_argument("--out", type=Path, default=HERE,
                        help="output folder (default: this script's folder)")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error(f"--epochs must be at least 1, not {args.epochs}")

    start = time.perf_counter()
    torch.manual_seed(0)
    torch.set_num_threads(2)
    x_train_np, y_train_np, x_test_np, y_test_np = load_split()
    x_train, y_train = torch.from_numpy(x_train_np), torch.from_numpy(y_train_np)
    x_test, y_test = torch.from_numpy(x_test_np), torch.from_numpy(y_test_np)

    model = build_model()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs)
    loss_fn = torch.nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(0)
    n = len(x_train)
    print(f"{name}: {n} training / {len(x_test)} test images, {args.epochs} epochs")
    print(f"{'epoch':>5} {'loss':>8} {'train acc':>9} {'test acc':>8} {'time':>6}")
    for epoch in range(1, args.epochs + 1):
        model.train()
        total = 0.0
        for idx in torch.randperm(n, generator=gen).split(batch_size):
            if len(idx) < 2:  # BatchNorm needs two samples in training mode
                continue
            loss = loss_fn(model(x_train[idx]), y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            clip_latent_weights_(model)
            total += loss.item() * len(idx)
        sched.step()
        train_acc = _accuracy(model, x_train, y_train)
        test_acc = _accuracy(model, x_test, y_test)
        print(f"{epoch:>5} {total / n:>8.4f} {train_acc:>9.4f} {test_acc:>8.4f} "
              f"{time.perf_counter() - start:>5.1f}s", flush=True)

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    onnx_path = export_onnx(model, x_test, out / f"{name}.onnx")
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    (scores,) = session.run(None, {session.get_inputs()[0].name: x_test_np})
    ort_acc = float(np.mean(scores.argmax(axis=1) == y_test_np))
    (out / "data").mkdir(exist_ok=True)
    np.save(out / "data" / "x_test.npy", x_test_np)
    np.save(out / "data" / "y_test.npy", y_test_np)
    summary = {
        "model": name,
        "epochs": args.epochs,
        "seconds": round(time.perf_counter() - start, 1),
        "train_accuracy": round(train_acc, 4),
        "torch_test_accuracy": round(test_acc, 4),
        "onnxruntime_test_accuracy": round(ort_acc, 4),
        "n_test": len(x_test_np),
    }
    if describe is not None:
        summary.update(describe(model))
    (out / f"{name}.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {onnx_path} (onnxruntime test accuracy {ort_acc:.4f}) "
          f"in {summary['seconds']} s")
    return summary


def _accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        return float((model(x).argmax(dim=1) == y).float().mean())
