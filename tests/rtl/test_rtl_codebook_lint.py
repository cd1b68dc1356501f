"""``verilator --lint-only -Wall`` on bnnc_codebook over its parameter corners.

The digits designs instantiate only the configurations the folding picked; this sweeps
the generate branches (decode/reuse, threshold/scores, masked, DOMAIN 0/1, one or several
popcount chunks, NF = 1 and SF = 1, index and threshold ROMs in BRAM or LUTs) through the
shared submodules (bnnc_matvec_schedule, bnnc_rom, bnnc_matvec_acc, bnnc_popcount).
Bits and cycles of the unit are checked against golden in tests/e2e/test_subbit.py and
tests/rtl/test_rtl_designs.py.
"""

from __future__ import annotations

import subprocess

import pytest

from rtl_harness import Instance, KernelBench

pytestmark = pytest.mark.rtlsim

# C, MH, T, TAU, PE, SIMD, DOMAIN, MASKED, THRESH, REUSE, X_BRAM, T_BRAM
_CORNERS = [
    (4, 4, 9, 2, 1, 1, 1, 0, 1, 0, 0, 0),
    (8, 6, 9, 3, 2, 4, 0, 0, 1, 1, 1, 1),
    (32, 4, 9, 5, 2, 32, 1, 1, 1, 0, 0, 1),   # 288 agreeing bits: three popcount chunks
    (16, 8, 9, 2, 4, 8, 1, 1, 0, 0, 1, 0),    # scores
    (16, 4, 9, 3, 1, 16, 0, 0, 0, 1, 0, 0),   # scores, reuse
    (8, 8, 4, 2, 8, 2, 1, 0, 1, 0, 0, 0),     # NF = 1
    (4, 2, 9, 5, 2, 4, 1, 1, 1, 1, 0, 0),     # NF = 1, SF = 1
]


def _inst(k: int, c: int, mh: int, t: int, tau: int, pe: int, simd: int, domain: int,
          masked: int, thresh: int, reuse: int, x_bram: int, t_bram: int) -> Instance:
    acc_bits = (c * t).bit_length() + 2
    vals = dict(C=c, MH=mh, T=t, TAU=tau, PE=pe, SIMD=simd, DOMAIN=domain, ACC_BITS=acc_bits,
                OUT_BITS=32, MASKED=masked, THRESH=thresh, REUSE=reuse, X_BRAM=x_bram,
                T_BRAM=t_bram)
    params = [(a, str(v)) for a, v in vals.items()]
    params += [(f, f'"cb{k}_{f[0].lower()}.mem"') for f in ("B_FILE", "X_FILE", "T_FILE", "I_FILE")]
    return Instance("bnnc_codebook", tuple(params), simd * t + masked * t,
                    pe if thresh else pe * 32)


def test_codebook_lint_clean_at_every_corner(tmp_path) -> None:
    from bnnc.backends.rtl import TEMPLATE_DIR, module_files
    from bnnc.tools import find_tool

    bench = KernelBench("codebook")
    for k, corner in enumerate(_CORNERS):
        bench.add(_inst(k, *corner))
    src = tmp_path / "tb_kernels.v"
    src.write_text(bench.source())
    files = [TEMPLATE_DIR / f for f in module_files("bnnc_codebook")]
    proc = subprocess.run([find_tool("verilator"), "--lint-only", "-Wall", "--top-module",
                           "tb_kernels", *map(str, files), str(src)], capture_output=True,
                          text=True, cwd=tmp_path)
    assert proc.returncode == 0, (proc.stdout + proc.stderr).strip()[:3000]
