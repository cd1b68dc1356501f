"""The cocotb testbench that runs inside the simulator (loaded by :mod:`bnnc.sim.cocotb_tb`).

Do not import this module yourself: cocotb imports it in the simulator process, and it
reads its job (a JSON file named by the ``+bnnc_job=`` plusarg, written by
:func:`bnnc.sim.cocotb_tb.run_cocotb`). The bench is built from the usual parts:

* driver: a cocotbext-axi ``AxiStreamSource`` on ``in_r_*`` sends each batch of frames as
  one AXI4-Stream packet (TLAST on its last word); seeded random *gaps* hold TVALID low
  between words (never inside a handshake, as AXI4-Stream requires);
* a cocotbext-axi ``AxiStreamSink`` on ``out_r_*`` with seeded random *backpressure*
  (TREADY low);
* monitor: samples both handshakes on every rising edge of ``ap_clk`` and records, per
  frame, the cycle of its first input word and of its last output word (cycle 0 is the
  first cycle after reset), and stops with "no progress" after ``limit`` idle cycles;
* checker: each received packet must hold exactly one batch (TLAST on its last word,
  TKEEP all ones), and its scores must equal the expected (golden) scores.

``mode``: ``"rtl"`` (bnnc's Verilog: ``n_frames`` is a plain input port) or ``"hls"``
(Verilog exported by Vitis HLS: ``n_frames`` and ap_start are AXI-Lite registers on
``s_axi_control_*``, written before each batch as the host driver does).
"""

from __future__ import annotations

import itertools
import json
import logging
import random
import time
from pathlib import Path
from typing import Any, Iterator

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import Event, RisingEdge
from cocotbext.axi import (AxiLiteBus, AxiLiteMaster, AxiStreamBus, AxiStreamFrame,
                           AxiStreamSink, AxiStreamSource)

from bnnc.host.packing import unpack_frames

AP_START, AP_IDLE = 0x1, 0x4
REG_CTRL, REG_N_FRAMES = 0x00, 0x10


def _pauses(p: float, seed: int) -> Iterator[bool]:
    rng = random.Random(seed)
    return (rng.random() < p for _ in itertools.count())


class _Monitor:
    """Handshake counter: per-frame first-input and last-output cycles, hang detection."""

    def __init__(self, dut: Any, job: dict[str, Any], batches: list[tuple[int, int]]) -> None:
        self.dut = dut
        # bnnc's Verilog takes n_frames as a port: set it to the next batch's size as soon
        # as a batch's last word has left (a short last batch gets its TLAST in time)
        self.next_size = {hi - 1: nhi - nlo for (_, hi), (nlo, nhi) in zip(batches, batches[1:])}
        self.rtl = job["mode"] == "rtl"
        self.n = int(job["n_frames"])
        self.in_wpf, self.out_wpf = int(job["in_words"]), int(job["out_words"])
        self.limit = int(job["limit"])
        self.first_in = [0] * self.n
        self.last_out = [0] * self.n
        self.cycle = 0
        self.error = ""

    async def run(self) -> None:
        d = self.dut
        n_in, n_out = self.n * self.in_wpf, self.n * self.out_wpf
        i_in = i_out = idle = 0
        edge = RisingEdge(d.ap_clk)
        while i_out < n_out:
            await edge
            hs_in = bool(d.in_r_TVALID.value) and bool(d.in_r_TREADY.value)
            hs_out = bool(d.out_r_TVALID.value) and bool(d.out_r_TREADY.value)
            if hs_in and i_in < n_in:
                if i_in % self.in_wpf == 0:
                    self.first_in[i_in // self.in_wpf] = self.cycle
                i_in += 1
            if hs_out:
                if (i_out + 1) % self.out_wpf == 0:
                    f = i_out // self.out_wpf
                    self.last_out[f] = self.cycle
                    if self.rtl and f in self.next_size:
                        d.n_frames.value = self.next_size[f]
                i_out += 1
            idle = 0 if (hs_in or hs_out) else idle + 1
            if idle > self.limit:
                self.error = (f"no progress for {self.limit} cycles at cycle {self.cycle}: "
                              f"{i_in} of {n_in} input words taken, {i_out} of {n_out} output "
                              "words seen (deadlock?)")
                return
            self.cycle += 1


@cocotb.test()
async def stream_frames(dut: Any) -> None:
    """Send the job's frames, check every output against golden, measure the cycles."""
    job = json.loads(Path(str(cocotb.plusargs["bnnc_job"])).read_text())
    for name in ("cocotb.bnnc_top", "cocotbext.axi"):
        logging.getLogger(name).setLevel(logging.WARNING)
    n, batch = int(job["n_frames"]), int(job["batch"])
    in_wpf, out_wpf, classes = int(job["in_words"]), int(job["out_words"]), int(job["classes"])
    words = np.load(job["inputs"]).astype("<u8")
    expected = np.load(job["expected"]) if job.get("expected") else None
    batches = [(b, min(b + batch, n)) for b in range(0, n, batch)]

    Clock(dut.ap_clk, 10, unit="ns").start()  # cocotb 2: the clock runs its own task
    dut.ap_rst_n.value = 0
    if job["mode"] == "rtl":
        dut.n_frames.value = batches[0][1]
    source = AxiStreamSource(AxiStreamBus.from_prefix(dut, "in_r"), dut.ap_clk, dut.ap_rst_n,
                             reset_active_level=False)
    sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "out_r"), dut.ap_clk, dut.ap_rst_n,
                         reset_active_level=False)
    for bus in (source, sink):
        bus.log.setLevel(logging.WARNING)
    ctrl = None
    if job["mode"] == "hls":
        ctrl = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axi_control"), dut.ap_clk,
                             dut.ap_rst_n, reset_active_level=False)
        ctrl.write_if.log.setLevel(logging.WARNING)
        ctrl.read_if.log.setLevel(logging.WARNING)
    if job["gaps"] > 0:
        source.set_pause_generator(_pauses(float(job["gaps"]), int(job["seed"])))
    if job["backpressure"] > 0:
        sink.set_pause_generator(_pauses(float(job["backpressure"]), int(job["seed"]) + 1))
    for _ in range(4):
        await RisingEdge(dut.ap_clk)
    dut.ap_rst_n.value = 1

    monitor = _Monitor(dut, job, batches)
    received: list[np.ndarray] = []
    errors: list[str] = []
    batch_done = [Event() for _ in batches]

    async def receive() -> None:
        for k, (lo, hi) in enumerate(batches):
            frame = await sink.recv()
            got = np.frombuffer(bytes(frame.tdata), dtype="<u8")
            want = (hi - lo) * out_wpf
            if got.size != want or len(frame.tdata) % 8:
                errors.append(f"batch {k} (frames {lo}..{hi - 1}): TLAST after "
                              f"{len(frame.tdata) / 8:g} words, expected after {want}")
            elif frame.tkeep is not None and not all(frame.tkeep):
                errors.append(f"batch {k}: TKEEP not all ones")
            else:
                received.append(got)
                if expected is not None:
                    s = unpack_frames(got, hi - lo, classes, 32)
                    bad = np.argwhere(s != expected[lo:hi])
                    if bad.size and not errors:
                        i, j = (int(v) for v in bad[0])
                        errors.append(f"output differs from golden in "
                                      f"{len(np.unique(bad[:, 0]))} frame(s) of batch {k}; "
                                      f"first: frame {lo + i}, output {j}: rtl "
                                      f"{int(s[i, j])}, golden {int(expected[lo + i, j])}")
            batch_done[k].set()

    async def control() -> None:
        assert ctrl is not None
        for k, (lo, hi) in enumerate(batches):
            while not int.from_bytes((await ctrl.read(REG_CTRL, 4)).data, "little") & AP_IDLE:
                pass
            await ctrl.write(REG_N_FRAMES, (hi - lo).to_bytes(4, "little"))
            await ctrl.write(REG_CTRL, AP_START.to_bytes(4, "little"))
            await batch_done[k].wait()

    for lo, hi in batches:
        source.send_nowait(AxiStreamFrame(words[lo * in_wpf: hi * in_wpf].tobytes()))
    cocotb.start_soon(receive())
    if ctrl is not None:
        cocotb.start_soon(control())
    t0, c0 = time.perf_counter(), time.process_time()
    await monitor.run()
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    for _ in range(2):  # the sink takes the last word at the same edge as the monitor
        await RisingEdge(dut.ap_clk)
    if not monitor.error and not errors and len(received) != len(batches):
        errors.append(f"{len(received)} of {len(batches)} batches ended with TLAST")
    error = monitor.error or "; ".join(errors)
    out = np.concatenate(received) if received else np.zeros(0, dtype="<u8")
    np.save(job["outputs"], out)
    Path(job["result"]).write_text(json.dumps({
        "error": error, "cycles": monitor.cycle, "seconds": seconds, "cpu_seconds": cpu,
        "first_in": monitor.first_in, "last_out": monitor.last_out}) + "\n")
    assert not error, error
