"""bnnc: compile trained binary neural networks into FPGA streaming accelerators."""

from .errors import BnncError

__all__ = ["BnncError", "__version__"]
__version__ = "0.1.0"
