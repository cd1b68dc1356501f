"""mypy over the whole bnnc package (STYLE.md: type hints everywhere, mypy-clean).

The package's folders are mapped by pyproject.toml (bnnc = compiler/, bnnc.host = host/, ...),
which mypy cannot follow from the source tree, so the test lays the package out as it is
installed (symlinks in a temporary folder) and checks it there."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_mypy_clean(tmp_path):
    conf = tomllib.loads((REPO / "pyproject.toml").read_text())
    dirs = conf["tool"]["setuptools"]["package-dir"]
    root = tmp_path / "bnnc"
    root.mkdir()
    for f in (REPO / dirs["bnnc"]).iterdir():
        if f.suffix == ".py" or (f.is_dir() and f.name != "__pycache__"):
            (root / f.name).symlink_to(f)
    for pkg, folder in dirs.items():
        parts = pkg.split(".")
        if len(parts) == 2 and not (root / parts[1]).exists():
            (root / parts[1]).symlink_to(REPO / folder)
    proc = subprocess.run([sys.executable, "-m", "mypy", "--ignore-missing-imports",
                           "--cache-dir", str(REPO / ".bnnc-cache" / "mypy"), "-p", "bnnc"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
