"""Helpers of the board-flow tests: paths and a tclsh runner with Vivado stubs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest


REPO = Path(__file__).resolve().parents[2]
DIGITS = REPO / "examples" / "digits"
STUBS = Path(__file__).resolve().parent / "vivado_stubs.tcl"


@pytest.fixture(scope="session")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The shipped digits models compiled once for pynq-z2 (import it into a test module)."""
    import bnnc

    root = tmp_path_factory.mktemp("board_projects")
    return {m: bnnc.compile(DIGITS / f"{m}.onnx", root / m) for m in ("tfc", "cnv")}


def tclsh() -> str:
    path = shutil.which("tclsh")
    if path is None:
        pytest.fail("tclsh is missing; make test installs it (Debian package tcl)")
    return path


def run_tcl(script: Path, tmp: Path, *, argv: tuple[str, ...] = (), board_parts: str = "",
            ) -> tuple[list[str], str, str]:
    """Source ``script`` under the Vivado stubs; return (calls, stdout, stderr)."""
    run_dir = tmp / "impl_1"
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "bnnc_wrapper.bit").write_bytes(b"bit")
    harness = tmp / "harness.tcl"
    harness.write_text(
        f"source {{{STUBS}}}\n"
        f"set ::board_parts {{{board_parts}}}\n"
        f"set ::run_dir {{{run_dir}}}\n"
        f"set ::wrapper {{{tmp / 'bnnc_wrapper.v'}}}\n"
        f"set argv {{{' '.join(argv)}}}\nset argc {len(argv)}\n"
        f"run_script {{{script}}}\n")
    proc = subprocess.run([tclsh(), str(harness)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "TCLERROR" not in proc.stdout, proc.stdout
    calls = [line[5:] for line in proc.stdout.splitlines() if line.startswith("CALL ")]
    return calls, proc.stdout, proc.stderr
