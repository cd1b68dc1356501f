"""Errors meant for people. The CLI prints them without a traceback and exits 2."""

from __future__ import annotations

__all__ = ["BnncError", "ModelError", "UnsupportedError", "FoldingError", "ToolError",
           "SimulationMismatch", "UsageError", "InternalError"]


class BnncError(Exception):
    """Base class: the message says what was expected, what was found and how to fix it."""

    exit_code = 2


class ModelError(BnncError):
    """The model file is unreadable or malformed (corrupt, cyclic, dangling names, ...)."""


class UnsupportedError(BnncError):
    """The model is valid ONNX but uses something bnnc cannot compile."""


class FoldingError(BnncError):
    """An illegal PE/SIMD folding was requested."""


class ToolError(BnncError):
    """A required external tool (g++, headers, Verilator, ...) is missing or failed."""


class SimulationMismatch(BnncError):
    """A simulation result differs from the golden model (a compiler bug: exit code 1)."""

    exit_code = 1


class UsageError(BnncError):
    """Bad command-line or API arguments (missing files, wrong input shape, ...)."""


class InternalError(BnncError):
    """bnnc produced something it should not have (a bug: please report it; exit code 1)."""

    exit_code = 1
