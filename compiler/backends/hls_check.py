"""A lint for HLS C++: constructs Vitis HLS cannot synthesize.

Vitis HLS is not available where bnnc is tested, so the kernel headers and the
generated sources are scanned for the constructs it rejects (or turns into
unusable hardware):

* dynamic memory (``malloc``/``calloc``/``realloc``/``free``, ``new``, ``delete``);
* standard containers, strings, smart pointers and iostreams (``std::vector``,
  ``std::string``, ``std::cout``, ... and their headers);
* console and process I/O (``printf``, ``fopen``, ``exit``, ...);
* unbounded loops (``while (true)``, ``while (1)``, ``for (;;)``) whose body has no
  ``#pragma HLS LOOP_TRIPCOUNT``;
* direct recursion (a function calling itself by its plain name). Template
  self-instantiation such as ``tree<N/2>::sum(...)`` is resolved at compile time,
  which HLS accepts, and is not reported.

Code inside ``#ifndef __SYNTHESIS__`` / ``#if !defined(__SYNTHESIS__)`` (up to the
matching ``#else``/``#endif``) is C-simulation only and is skipped. The scan is
textual (comments and string literals are removed first): it catches the common
mistakes, it is not a C++ parser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

__all__ = ["Finding", "check_source", "check_files"]


@dataclass(frozen=True, kw_only=True)
class Finding:
    """One construct Vitis HLS cannot synthesize."""

    file: str
    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: [{self.rule}] {self.message}"


_STD_TYPES = ("vector", "string", "map", "unordered_map", "set", "unordered_set", "list",
              "deque", "queue", "stack", "shared_ptr", "unique_ptr", "function", "cout", "cerr",
              "cin", "ostream", "istream", "ifstream", "ofstream", "fstream", "stringstream",
              "ostringstream", "istringstream", "thread", "mutex")
_HEADERS = ("iostream", "fstream", "sstream", "vector", "string", "map", "unordered_map", "set",
            "unordered_set", "list", "deque", "queue", "stack", "memory", "functional", "thread",
            "mutex", "cstdio", "stdio.h", "cstdlib", "stdlib.h")

# (rule, pattern, message); the message's {0} is the pattern's group 1
_SIMPLE_RULES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("dynamic-memory", re.compile(r"\b(malloc|calloc|realloc|free)\s*\("),
     "{0}() allocates at run time; use a fixed-size array"),
    ("dynamic-memory", re.compile(r"\b(new|delete)\b(?!\s*[(;])"),
     "'{0}' allocates at run time; use a fixed-size array"),
    ("std-library", re.compile(r"\bstd::(" + "|".join(_STD_TYPES) + r")\b"),
     "std::{0} is not synthesizable; use fixed-size arrays, ap_uint and hls::stream"),
    ("std-library", re.compile(r"#\s*include\s*<(" + "|".join(re.escape(h) for h in _HEADERS)
                               + r")>"),
     "<{0}> is for C-simulation only; guard it with #ifndef __SYNTHESIS__ or drop it"),
    ("console-io", re.compile(r"\b(printf|fprintf|sprintf|puts|fopen|fclose|fwrite|fread|exit|"
                              r"abort|system)\s*\("),
     "{0}() has no hardware meaning; guard it with #ifndef __SYNTHESIS__ or drop it"),
)

_UNBOUNDED = re.compile(r"\bwhile\s*\(\s*(true|1)\s*\)|\bfor\s*\(\s*;\s*;\s*\)")
_FUNC_DEF = re.compile(r"\b([A-Za-z_]\w*)\s*\(([^;{}()]|\([^()]*\))*\)\s*"
                       r"(const\s*)?(noexcept\s*)?(->\s*[\w:<>, ]+\s*)?\{")
_KEYWORDS = {"if", "for", "while", "switch", "catch", "return", "sizeof", "decltype",
             "static_assert", "alignof"}


def _strip(text: str) -> str:
    """Blank out comments and string/char literals, keeping every newline in place."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("".join(ch if ch == "\n" else " " for ch in text[i:j]))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(c + " " * (j - i - 2) + c if j - i >= 2 else " " * (j - i))
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _drop_csim_only(code: str) -> str:
    """Blank the lines of #ifndef __SYNTHESIS__ regions (nesting-aware)."""
    lines = code.split("\n")
    depth = 0          # preprocessor #if nesting
    skip_at = None     # depth of the active csim-only region
    for k, line in enumerate(lines):
        s = line.strip()
        directive = re.match(r"#\s*(\w+)(.*)", s)
        word = directive.group(1) if directive else ""
        rest = directive.group(2) if directive else ""
        if word in ("if", "ifdef", "ifndef"):
            depth += 1
            csim = (word == "ifndef" and rest.strip() == "__SYNTHESIS__") or \
                   (word == "if" and re.fullmatch(r"\s*!\s*defined\s*\(?\s*__SYNTHESIS__\s*\)?\s*",
                                                  rest) is not None)
            if csim and skip_at is None:
                skip_at = depth
                lines[k] = ""
                continue
        elif word in ("else", "elif") and skip_at == depth:
            skip_at = None
        elif word == "endif":
            if skip_at == depth:
                skip_at = None
                lines[k] = ""
                depth -= 1
                continue
            depth -= 1
        if skip_at is not None:
            lines[k] = ""
    return "\n".join(lines)


def _block_end(code: str, open_brace: int) -> int:
    """Index just past the brace matching the one at ``open_brace``."""
    depth = 0
    for j in range(open_brace, len(code)):
        if code[j] == "{":
            depth += 1
        elif code[j] == "}":
            depth -= 1
            if depth == 0:
                return j + 1
    return len(code)


def check_source(text: str, filename: str = "<source>") -> list[Finding]:
    """Constructs in C++ source ``text`` that Vitis HLS cannot synthesize."""
    code = _drop_csim_only(_strip(text))

    def line_of(pos: int) -> int:
        return code.count("\n", 0, pos) + 1

    findings: list[Finding] = []
    for rule, pattern, message in _SIMPLE_RULES:
        for m in pattern.finditer(code):
            findings.append(Finding(file=filename, line=line_of(m.start()), rule=rule,
                                    message=message.format(m.group(1))))
    for m in _UNBOUNDED.finditer(code):
        brace = code.find("{", m.end())
        semi = code.find(";", m.end())
        body = code[brace:_block_end(code, brace)] if brace >= 0 and (semi < 0 or brace < semi) \
            else code[m.end():semi + 1]
        if not re.search(r"#\s*pragma\s+HLS\s+LOOP_TRIPCOUNT", body):
            findings.append(Finding(
                file=filename, line=line_of(m.start()), rule="unbounded-loop",
                message=f"'{m.group(0)}' has no exit bound; give it a fixed bound or add "
                        "#pragma HLS LOOP_TRIPCOUNT"))
    for m in _FUNC_DEF.finditer(code):
        name = m.group(1)
        if name in _KEYWORDS:
            continue
        body_start = m.end() - 1
        body = code[body_start + 1:_block_end(code, body_start) - 1]
        call = re.search(r"(?<![\w:.>])" + re.escape(name) + r"\s*\(", body)
        if call:
            findings.append(Finding(
                file=filename, line=line_of(body_start + 1 + call.start()), rule="recursion",
                message=f"{name}() calls itself; HLS needs a fixed call depth (unroll it into a "
                        "loop or a template instantiated per level)"))
    return sorted(findings, key=lambda f: (f.line, f.rule))


def check_files(paths: Iterable[Path | str]) -> list[Finding]:
    """:func:`check_source` over files; findings name each file."""
    findings: list[Finding] = []
    for p in paths:
        p = Path(p)
        findings += check_source(p.read_text(), str(p))
    return findings
