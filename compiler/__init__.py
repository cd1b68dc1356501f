"""bnnc: compile trained binary neural networks into FPGA streaming accelerators.

>>> import bnnc
>>> proj = bnnc.compile("model.onnx", "build", target="pynq-z2")   # doctest: +SKIP
>>> proj.predict(x, backend="csim")                                  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping

from .errors import BnncError

__all__ = ["BnncError", "compile", "load_project", "__version__"]
__version__ = "0.1.0"

if TYPE_CHECKING:
    from .api import Project


def compile(model: str | Path, out_dir: str | Path = "build", *, target: str = "pynq-z2",  # noqa: A001
            fold: Mapping[str, Mapping[str, int | str]] | None = None, fps: float | None = None,
            input_shape: tuple[int, ...] | None = None, dump_ir: str | None = None,
            subbit: str = "auto", progress: Callable[[str], None] | None = None) -> "Project":
    """Compile ``model`` (.onnx) into an accelerator project in ``out_dir``.

    Returns a :class:`bnnc.api.Project` with ``.report`` and ``.predict(x, backend=...)``.
    """
    from .api import CompileOptions, compile_model

    opts = CompileOptions(target=target, fold=dict(fold or {}), fps=fps,
                          input_shape=input_shape, dump_ir=dump_ir, subbit=subbit)
    return compile_model(model, out_dir, opts, progress=progress)


def load_project(path: str | Path) -> "Project":
    """Open a project directory written by :func:`compile`."""
    from .api import load_project as _load

    return _load(path)
