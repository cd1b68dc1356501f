"""Benchmark: LUTs per (output channel, input channel) pair of four ways to compute a 3x3
binary conv's popcounts, measured by Yosys, to see where sub-bit codebooks can save logic.

Usage: python bench/subbit_lanes.py [--jobs 2] [--designs bnn,decode,reuse-lutram]
                                    [--out bench/results/subbit_lanes.json]

Each design is one matrix-vector datapath step of a conv with L = 64 input channels per
cycle (576 window bits) and PE output channels per cycle: the inputs (window bits,
weights or tau-bit indices) are module ports and the PE sums are registered outputs, so
what is counted is the compute alone (weight memories, schedule and thresholds excluded;
those are in bench/subbit.py's whole-network figures):

- ``bnn``: per PE, XNOR of 576 weight bits with the window and a popcount (as
  rtl_templates/bnnc_matvec.v writes it: ``$countones`` in chunks of at most 128 bits).
- ``decode``: per PE and channel, the tau-bit index looks up a 9-bit codeword in a
  constant 2**tau-word ROM, XNOR with the channel's 3x3 window, one popcount per PE over all
  576 bits (bnnc_codebook.v with REUSE=0).
- ``reuse-mux``: per channel, the popcounts against all 2**tau constant codewords (shared by
  the PEs); per PE and channel a 2**tau:1 multiplexer of 4-bit counts picks one by index,
  and a sum over the 64 channels (bnnc_codebook.v with REUSE=1). Not in the default list:
  Yosys takes 20+ minutes on each of these (so does ``decode`` at tau=5 with 2 shared cores).
- ``reuse-lutram`` (not in bnnc; a candidate): per channel ONE popcount per cycle against
  codeword k of a shared counter, written into a double-buffered 2*2**tau-deep LUT-RAM
  table; per PE and channel an asynchronous read at the index, and the sum. It hides the
  2**tau fill cycles only when each window is used for at least 2**tau cycles, i.e. when
  C_out/PE >= 2**tau.

Codewords are drawn at random (seeded) from the 512 3x3 patterns. LUTs count LUT1-6 and
LUT-RAM cells as LUTs (RAM64M = 4), as ``bnnc synth`` does. Yosys's synth_xilinx mapping,
not Vivado's: absolute figures run higher than Vivado's (no LUT6_2 packing), the ratios
are what this table is for.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bnnc.synth import YOSYS_TOOL, count_cells
from bnnc.tools import find_tool, tool_env

LANES = 64
TAP_BITS = 9
SUM_W = 10  # popcount of 576 bits


def _codewords(tau: int) -> list[int]:
    return random.Random(tau).sample(range(1 << TAP_BITS), 1 << tau)


def _popcount9(a: str) -> str:
    return "+".join(f"{a}[{j}]" for j in range(TAP_BITS))


def bnn(pe: int, tau: int) -> str:
    n = LANES * TAP_BITS
    chunks = " + ".join(f"$countones(a[{min(lo + 127, n - 1)}:{lo}])" for lo in range(0, n, 128))
    return f"""
module top (input clk, input [{n - 1}:0] x, input [{pe * n - 1}:0] w, output reg [{pe * SUM_W - 1}:0] q);
  genvar p;
  for (p = 0; p < {pe}; p = p + 1) begin : g
    wire [{n - 1}:0] a = ~(x ^ w[p*{n} +: {n}]);
    wire [31:0] s = {chunks};
    always @(posedge clk) q[p*{SUM_W} +: {SUM_W}] <= s[{SUM_W - 1}:0];
  end
endmodule
"""


def _rom(tau: int, sel: str) -> str:
    rows = "\n".join(f"      {tau}'d{k}: cw = 9'd{c};" for k, c in enumerate(_codewords(tau)))
    return f"""  reg [8:0] cw;
  always @(*) case ({sel})
{rows}
    default: cw = 9'd0;
  endcase
"""


def decode(pe: int, tau: int) -> str:
    n = LANES * TAP_BITS
    chunks = " + ".join(f"$countones(a[{min(lo + 127, n - 1)}:{lo}])" for lo in range(0, n, 128))
    return f"""
module lane (input [{tau - 1}:0] i, input [8:0] x, output [8:0] a);
{_rom(tau, "i")}  assign a = ~(x ^ cw);
endmodule
module top (input clk, input [{n - 1}:0] x, input [{pe * LANES * tau - 1}:0] idx, output reg [{pe * SUM_W - 1}:0] q);
  genvar p, l;
  for (p = 0; p < {pe}; p = p + 1) begin : g
    wire [{n - 1}:0] a;
    for (l = 0; l < {LANES}; l = l + 1) begin : c
      lane u (.i(idx[(p*{LANES}+l)*{tau} +: {tau}]), .x(x[l*9 +: 9]), .a(a[l*9 +: 9]));
    end
    wire [31:0] s = {chunks};
    always @(posedge clk) q[p*{SUM_W} +: {SUM_W}] <= s[{SUM_W - 1}:0];
  end
endmodule
"""


def _sum(pe_lanes: str) -> str:
    return f"""  for (p = 0; p < PE; p = p + 1) begin : s
    integer j; reg [{SUM_W - 1}:0] acc;
    always @(*) begin acc = 0; for (j = 0; j < {LANES}; j = j + 1) acc = acc + {pe_lanes}; end
    always @(posedge clk) q[p*{SUM_W} +: {SUM_W}] <= acc;
  end
"""


def reuse_mux(pe: int, tau: int) -> str:
    words = 1 << tau
    pcs = "\n".join(
        f"    assign pc[{k}*4 +: 4] = {_popcount9(f'a{k}')};" for k in range(words))
    xn = "\n".join(f"    wire [8:0] a{k} = ~(x[l*9 +: 9] ^ 9'd{c});"
                   for k, c in enumerate(_codewords(tau)))
    return f"""
module top #(parameter PE = {pe}) (input clk, input [{LANES * 9 - 1}:0] x, input [{pe * LANES * tau - 1}:0] idx,
  output reg [{pe * SUM_W - 1}:0] q);
  genvar p, l;
  wire [{pe * LANES * 4 - 1}:0] rd;
  for (l = 0; l < {LANES}; l = l + 1) begin : g
    wire [{words * 4 - 1}:0] pc;
{xn}
{pcs}
    for (p = 0; p < PE; p = p + 1) begin : r
      wire [{tau - 1}:0] i = idx[(p*{LANES}+l)*{tau} +: {tau}];
      assign rd[(p*{LANES}+l)*4 +: 4] = pc[i*4 +: 4];
    end
  end
{_sum(f"rd[(p*{LANES}+j)*4 +: 4]")}endmodule
"""


def reuse_lutram(pe: int, tau: int) -> str:
    return f"""
module top #(parameter PE = {pe}) (input clk, input [{tau - 1}:0] k, input buf_w, input buf_r, input we,
  input [{LANES * 9 - 1}:0] x, input [{pe * LANES * tau - 1}:0] idx, output reg [{pe * SUM_W - 1}:0] q);
{_rom(tau, "k")}  genvar p, l;
  wire [{pe * LANES * 4 - 1}:0] rd;
  for (l = 0; l < {LANES}; l = l + 1) begin : g
    wire [8:0] a = ~(x[l*9 +: 9] ^ cw);
    wire [3:0] pc = {_popcount9("a")};
    reg [3:0] m [0:{2 * (1 << tau) - 1}];
    always @(posedge clk) if (we) m[{{buf_w, k}}] <= pc;
    for (p = 0; p < PE; p = p + 1) begin : r
      assign rd[(p*{LANES}+l)*4 +: 4] = m[{{buf_r, idx[(p*{LANES}+l)*{tau} +: {tau}]}}];
    end
  end
{_sum(f"rd[(p*{LANES}+j)*4 +: 4]")}endmodule
"""


DESIGNS = {"bnn": bnn, "decode": decode, "reuse-mux": reuse_mux, "reuse-lutram": reuse_lutram}


def synth(yosys: str, text: str) -> tuple[dict[str, int], float]:
    with tempfile.TemporaryDirectory(prefix="bnnc-lanes-") as d:
        Path(d, "top.v").write_text(text)
        t0 = time.time()
        proc = subprocess.run(
            [yosys, "-q", "-p", "read_verilog -sv top.v; synth_xilinx -family xc7 -top top "
             "-flatten -noiopad; tee -q -o stat.json stat -json"],
            cwd=d, capture_output=True, text=True, env=tool_env(Path(yosys).name), check=False)
        if proc.returncode != 0:
            raise SystemExit(f"yosys failed: {(proc.stderr or proc.stdout)[-500:]}")
        stat = json.loads(Path(d, "stat.json").read_text())
        return dict(stat["design"]["num_cells_by_type"]), time.time() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--designs", default="bnn,decode,reuse-lutram",
                    help="comma-separated, of: " + ", ".join(DESIGNS))
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "subbit_lanes.json"))
    args = ap.parse_args()
    yosys = find_tool(YOSYS_TOOL)
    kinds = [d for d in args.designs.split(",") if d]
    bad = [d for d in kinds if d not in DESIGNS]
    if bad or "bnn" not in kinds:
        ap.error(f"--designs must include bnn and name only {', '.join(DESIGNS)}; got {args.designs}")
    cases = [("bnn", pe, 0) for pe in (2, 4)]
    cases += [(d, pe, tau) for d in kinds if d != "bnn" for tau in (4, 5) for pe in (2, 4)]

    def run(case: tuple[str, int, int]) -> dict[str, object]:
        name, pe, tau = case
        cells, secs = synth(yosys, DESIGNS[name](pe, tau))
        r = count_cells(cells)
        return {"design": name, "tau": tau or None, "pe": pe, "pairs": pe * LANES,
                "luts": r.luts, "ffs": r.ffs, "luts_per_pair": round(r.luts / (pe * LANES), 1),
                "seconds": round(secs, 1)}

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as ex:
        rows = list(ex.map(run, cases))
    base = {r["pe"]: r["luts"] for r in rows if r["design"] == "bnn"}
    print(f"{'design':<13} {'tau':>3} {'PE':>3} {'LUT':>7} {'LUT/pair':>9} {'vs bnn':>7}")
    for r in rows:
        r["vs_bnn"] = round(base[r["pe"]] / r["luts"], 2)  # type: ignore[index,operator]
        print(f"{r['design']:<13} {r['tau'] or '-':>3} {r['pe']:>3} {r['luts']:>7,} "
              f"{r['luts_per_pair']:>9} {r['vs_bnn']:>6}x")
    out = {"command": f"python bench/subbit_lanes.py --jobs {args.jobs} --designs {args.designs}",
           "lanes": LANES, "note": "compute datapath only (ports in, registered sums out); "
           "Yosys synth_xilinx -family xc7; vs_bnn = bnn LUTs / design LUTs at the same PE",
           "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
