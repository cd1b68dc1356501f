"""Benchmark: CNV-W1A1 with BNN-PYNQ's folding vs bnnc's automatic pynq-z2 folding.

Usage: python bench/cnv_fold.py [--frames 3] [--jobs 2] [--out bench/results/cnv_fold.json]

Builds the BNN-PYNQ CNV-W1A1 topology with random +-1 weights (bnnc.testing.cnv_w1a1) and
compiles it twice for pynq-z2 with the RTL backend:
  (a) BNN-PYNQ's published folding (cnvW1A1 config.h; bench/compile_time.py);
  (b) bnnc's automatic folding for 3,050 frames/s (``--fps 3050``).
For each: RTL simulation of FRAMES random frames with Verilator (outputs == golden, measured
interval == the cycle model), then Yosys synth_xilinx -family xc7 of every unit (bnnc
synth) with LUT/FF/BRAM36/DSP and the cost model's estimate error. Prints the table and
writes JSON. Yosys's mapping is not Vivado's; BNN-PYNQ's own figures (Vivado, PYNQ-Z1) are
quoted as the published reference only.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compile_time import BNN_PYNQ_CNV_FOLD  # noqa: E402

from bnnc import golden  # noqa: E402
from bnnc.api import CompileOptions, compile_model  # noqa: E402
from bnnc.host.packing import pack_frames  # noqa: E402
from bnnc.sim.rtlsim import build_top, run_top  # noqa: E402
from bnnc.testing import cnv_w1a1  # noqa: E402

REFERENCE = {"design": "BNN-PYNQ CNV-W1A1 (published, Vivado, PYNQ-Z1, 100 MHz)", "fps": 3050,
             "luts": 26072, "bram36": 124, "dsps": 24}
FPS_TARGET = 3050.0


def build(name: str, model: Path, work: Path, opts: CompileOptions, frames: int, jobs: int,
          say) -> dict:
    t0 = time.perf_counter()
    proj = compile_model(model, work / name, opts)
    t_compile = time.perf_counter() - t0
    say(f"{name}: compiled in {t_compile:.1f} s; RTL simulation of {frames} frame(s)")
    t0 = time.perf_counter()
    build_top(proj.rtl_dir)
    t_verilate = time.perf_counter() - t0
    x = np.random.default_rng(0).integers(0, 256, (frames, 3, 32, 32))
    run = run_top(proj.rtl_dir, pack_frames(x, 8), frames)
    equal = bool(np.array_equal(proj.spec.unpack(run.words, frames), golden.run(proj.graph, x)))
    say(f"{name}: interval {run.interval} cycles/frame (model "
        f"{proj.report['cycle_model']['interval']}); synthesizing")
    t0 = time.perf_counter()
    syn = proj.synth(jobs=jobs, progress=lambda m: say(f"{name}: {m}"))
    t_synth = time.perf_counter() - t0
    clock = proj.report["target"]["clock_mhz"]
    return {
        "folding": proj.report["folding"],
        "rtlsim_equals_golden": equal, "frames": frames,
        "interval_measured": run.interval, "interval_model": proj.report["cycle_model"]["interval"],
        "fps_at_100mhz": round(clock * 1e6 / run.interval, 1) if run.interval else None,
        "yosys": syn["total"], "estimate": syn["estimate"], "estimate_error": syn["error"],
        "fits": syn["fits"], "units": [{k: u[k] for k in ("name", "kind", "luts", "ffs", "bram36",
                                                         "dsps", "estimate", "error", "cached")}
                                       for u in syn["units"]],
        "compile_s": round(t_compile, 2), "verilator_build_s": round(t_verilate, 1),
        "synth_s": round(t_synth, 1),
        "synth_cold": not all(u["cached"] for u in syn["units"]),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "cnv_fold.json"))
    args = ap.parse_args()

    def say(msg: str) -> None:
        print(f"[bench] {msg}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory() as td:
        work = Path(td)
        model = cnv_w1a1(work / "cnv_w1a1.onnx")
        a = build("bnn-pynq-fold", model, work, CompileOptions(
            fold=BNN_PYNQ_CNV_FOLD, generate="rtl", backend="rtl"), args.frames, args.jobs, say)
        b = build("bnnc-auto-fold", model, work, CompileOptions(
            fps=FPS_TARGET, generate="rtl", backend="rtl"), args.frames, args.jobs, say)

    def row(name: str, r: dict) -> str:
        y = r["yosys"]
        return (f"{name:34} {r['interval_measured']:>9,} {r['fps_at_100mhz']:>7,.0f} "
                f"{y['luts']:>7,} {y['ffs']:>7,} {y['bram36']:>6g} {y['dsps']:>4} "
                f"{'yes' if r['rtlsim_equals_golden'] else 'NO':>6}")

    print(f"{'CNV-W1A1, pynq-z2, 100 MHz':34} {'interval':>9} {'FPS':>7} {'LUT':>7} {'FF':>7} "
          f"{'BRAM36':>6} {'DSP':>4} {'golden':>6}")
    print(row("(a) BNN-PYNQ folding, bnnc RTL", a))
    print(row("(b) bnnc auto folding (--fps 3050)", b))
    print(f"{'BNN-PYNQ published (Vivado, Z1)':34} {'':>9} {REFERENCE['fps']:>7,} "
          f"{REFERENCE['luts']:>7,} {'':>7} {REFERENCE['bram36']:>6} {REFERENCE['dsps']:>4}")
    print("\n(a), (b): measured interval by Verilator RTL simulation; LUT/FF/BRAM36/DSP by Yosys "
          "synth_xilinx -family xc7 (Yosys's mapping, not Vivado's; LUT includes LUT-RAM)")
    for name, r in (("(a)", a), ("(b)", b)):
        e = r["estimate_error"]
        print(f"{name} cost-model estimate vs Yosys: LUT {e['luts']:+.1%}, FF {e['ffs']:+.1%}, "
              f"BRAM36 {e['bram36']:+.1%}; worst unit LUT error "
              f"{max(abs(u['error']['luts'] or 0) for u in r['units']):.0%}; compile "
              f"{r['compile_s']} s + synthesis {r['synth_s']} s"
              f"{' (cold)' if r['synth_cold'] else ' (cached)'}")
    print("\n(b) folding: " + ", ".join(f"{k} {v.get('pe', '-')}x{v['simd']}" for k, v in
                                       b["folding"].items()))
    ok_a = a["interval_measured"] == a["interval_model"] == 32768 and a["rtlsim_equals_golden"]
    ok_b = (b["rtlsim_equals_golden"] and b["interval_measured"] == b["interval_model"]
            and b["fps_at_100mhz"] >= FPS_TARGET and b["fits"]
            and b["yosys"]["luts"] < a["yosys"]["luts"] and b["yosys"]["bram36"] < a["yosys"]["bram36"])
    print(f"\n(a) interval exactly 32,768 cycles/frame: {'yes' if ok_a else 'NO'}; (b) >= 3,050 FPS, "
          f"fits, fewer LUT and fewer BRAM36 than (a): {'yes' if ok_b else 'NO'}")
    res = {"a_bnn_pynq_fold": a, "b_auto_fold": b, "reference": REFERENCE,
           "a_ok": ok_a, "b_beats_a": ok_b, "python": platform.python_version(),
           "note": "Yosys synth_xilinx mapping, not Vivado's; units synthesized separately"}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=1) + "\n")
    return 0 if ok_a and ok_b else 1


if __name__ == "__main__":
    sys.exit(main())
