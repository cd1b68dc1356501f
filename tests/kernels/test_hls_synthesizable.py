"""The kernel headers use only constructs Vitis HLS can synthesize (bnnc.backends.hls_check)."""

from __future__ import annotations

import pytest

from bnnc.backends.hls_check import check_files, check_source

from hls_harness import TEMPLATES

# Headers that are C-simulation helpers by design and never reach synthesis.
CSIM_ONLY: set[str] = set()  # every header must pass; csim-only code sits under #ifndef __SYNTHESIS__

KERNEL_HEADERS = sorted(p for p in TEMPLATES.glob("*.h") if p.name not in CSIM_ONLY)


def test_there_are_kernel_headers() -> None:
    names = {p.name for p in KERNEL_HEADERS}
    assert {"bnnc_common.h", "bnnc_width_convert.h", "bnnc_sliding_window.h", "bnnc_matvec.h",
            "bnnc_pool.h"} <= names


@pytest.mark.parametrize("header", KERNEL_HEADERS, ids=lambda p: p.name)
def test_kernel_header_is_synthesizable(header) -> None:
    findings = check_files([header])
    assert not findings, "\n".join(map(str, findings))


@pytest.mark.parametrize("snippet, rule", [
    ("void f() { int* p = (int*)malloc(4); free(p); }", "dynamic-memory"),
    ("void f() { int* p = new int[4]; delete[] p; }", "dynamic-memory"),
    ("#include <vector>\nvoid f() { std::vector<int> v; }", "std-library"),
    ("void f(std::string s) {}", "std-library"),
    ('void f(int x) { printf("%d", x); }', "console-io"),
    ("void f(hls::stream<int>& s) { while (true) { s.write(1); } }", "unbounded-loop"),
    ("void f(hls::stream<int>& s) { for (;;) s.write(1); }", "unbounded-loop"),
    ("int fact(int n) { return n < 2 ? 1 : n * fact(n - 1); }", "recursion"),
])
def test_checker_finds(snippet: str, rule: str) -> None:
    findings = check_source(snippet, "x.h")
    assert rule in {f.rule for f in findings}, findings
    assert all(str(f).startswith("x.h:") for f in findings)


@pytest.mark.parametrize("snippet", [
    # a bounded while loop with a trip count
    "void f(unsigned n) { while (true) {\n#pragma HLS LOOP_TRIPCOUNT max=8\n if (!--n) break; } }",
    # template recursion is resolved at compile time
    "template <int N> struct t { static int s() { return t<N - 1>::s() + 1; } };",
    # deleted functions, comments and strings mention forbidden names harmlessly
    "struct s { s(const s&) = delete; };  // std::vector, malloc(), new\nconst char* m = \"printf(\";",
    # C-simulation-only code
    "#ifndef __SYNTHESIS__\n#include <iostream>\n#endif\nvoid f() {}",
    "#if !defined(__SYNTHESIS__)\nvoid dbg() { printf(\"x\"); }\n#else\nvoid dbg() {}\n#endif",
])
def test_checker_accepts(snippet: str) -> None:
    assert check_source(snippet) == []


def test_checker_reports_line_numbers() -> None:
    findings = check_source("// header\n\nvoid f() {\n  int* p = new int;\n}\n", "k.h")
    assert [(f.line, f.rule) for f in findings] == [(4, "dynamic-memory")]
    assert "fixed-size array" in findings[0].message


def test_checker_skips_only_the_csim_branch() -> None:
    src = "#ifndef __SYNTHESIS__\nvoid a() {}\n#else\nvoid b() { exit(1); }\n#endif\n"
    assert [f.rule for f in check_source(src)] == ["console-io"]
