"""The board code path (host/pynq_device.py) against a fake of pynq's device layer:
pynq.Overlay (ip_dict, the DMA's channels, the accelerator's registers) and
pynq.allocate. The fake hardware computes with golden, so results are checked too."""

from __future__ import annotations

import ast
import time

import numpy as np
import pytest

import bnnc
import pynq
from bnnc.host import driver as driver_mod
from bnnc.host.device import DeviceError, DeviceTimeout
from bnnc.host.driver import Accelerator, BundleError
from bnnc.host.pynq_device import PynqDevice

from board_helpers import DIGITS, REPO, projects  # noqa: F401  (fixture)

X = np.load(DIGITS / "data" / "x_test.npy")


class FakeBuffer(np.ndarray):
    """What pynq.allocate returns: an ndarray with physical_address, flush, freebuffer."""

    freed = False

    def freebuffer(self):
        self.freed = True


class FakeChannel:
    """A simple-mode AXI DMA channel: transfer() arms it, idle turns true after a few polls."""

    def __init__(self, hw, kind):
        self.hw, self.kind = hw, kind
        self.buf = None
        self.transferred = 0
        self.busy_polls = 0
        self.error = False

    @property
    def idle(self):
        if self.busy_polls:
            self.busy_polls -= 1
            return False
        return self.buf is None or self.hw.done

    def transfer(self, buf, start=0, nbytes=0):
        assert isinstance(buf, np.ndarray) and buf.dtype == np.uint64
        self.buf = buf
        self.hw.log.append((self.kind, "transfer", buf.size))
        self.busy_polls = self.hw.polls
        self.hw.kick()

    def wait(self):
        assert self.idle, "wait() on a busy channel would block forever"
        self.hw.log.append((self.kind, "wait"))
        if self.kind == "recv" and self.hw.done:
            self.transferred = self.hw.short_by + self.buf.nbytes
        self.buf = None


class FakeHardware:
    """The accelerator behind the DMA: golden scores packed like the HLS output adapter."""

    def __init__(self, proj, polls=2, hang=False, never_idle=False):
        self.proj, self.polls, self.hang, self.never_idle = proj, polls, hang, never_idle
        self.regs = {0x00: 0x4, 0x10: 0}
        self.log = []
        self.done = False
        self.short_by = 0
        self.send = FakeChannel(self, "send")
        self.recv = FakeChannel(self, "recv")

    def read(self, offset):
        self.log.append(("read", offset))
        return 0 if self.never_idle else self.regs[offset]

    def write(self, offset, value):
        self.log.append(("write", offset, value))
        self.regs[offset] = value
        if offset == 0 and value & 1:
            self.done = False

    def kick(self):
        if self.hang or self.send.buf is None or self.recv.buf is None:
            return
        assert self.regs[0x00] & 1, "DMA started before ap_start"
        n, spec = self.regs[0x10], self.proj.spec
        assert self.send.buf.size == n * spec.in_words and self.recv.buf.size == n * spec.out_words
        px = self.send.buf.view(np.uint8).reshape(n, spec.in_words * 8)[:, :64]
        s = bnnc.golden.run(self.proj.graph, px.reshape(n, 1, 8, 8))
        out = np.zeros((n, spec.out_words * 2), dtype="<i4")
        out[:, : s.shape[1]] = s
        self.recv.buf[:] = out.view("<u8").reshape(-1)
        self.regs[0x00] = 0x6  # done | idle
        self.done = True


class FakeDMA:
    def __init__(self, hw):
        self.sendchannel, self.recvchannel = hw.send, hw.recv
        self.buffer_max_size = (1 << 26) - 1


class FakeIP:
    def __init__(self, hw):
        self.read, self.write = hw.read, hw.write


def install(monkeypatch, hw, ip_dict=None):
    """Replace pynq.Overlay and pynq.allocate; return the record of what was called."""
    rec = {"overlays": [], "allocs": []}

    class FakeOverlay:
        def __init__(self, bitfile, download=True):
            rec["overlays"].append((bitfile, download))
            self.ip_dict = ip_dict if ip_dict is not None else {
                "axi_dma_0": {"type": "xilinx.com:ip:axi_dma:7.1", "registers": {}},
                "bnnc_top_0": {"type": "bnnc.org:hls:bnnc_top:1.0",
                               "registers": {"CTRL": {"address_offset": 0},
                                             "n_frames": {"address_offset": 16}}},
                "ps7_0": {"type": "xilinx.com:ip:processing_system7:5.5"},
            }
            self.axi_dma_0 = FakeDMA(hw)
            self.bnnc_top_0 = FakeIP(hw)

        def free(self):
            rec["freed"] = True

    def allocate(shape, dtype="u4", **kw):
        buf = np.zeros(shape, dtype=dtype).view(FakeBuffer)
        rec["allocs"].append(buf)
        return buf

    monkeypatch.setattr(pynq, "Overlay", FakeOverlay)
    monkeypatch.setattr(pynq, "allocate", allocate)
    return rec


@pytest.fixture()
def bundle(projects, tmp_path):
    """The tfc deploy bundle with (fake) overlay files."""
    import shutil

    d = tmp_path / "deploy"
    shutil.copytree(projects["tfc"].path / "deploy", d)
    (d / "bnnc.bit").write_bytes(b"bit")
    (d / "bnnc.hwh").write_text("<hwh/>")
    return d


def test_predict_through_pynq(monkeypatch, projects, bundle):
    proj = projects["tfc"]
    hw = FakeHardware(proj)
    rec = install(monkeypatch, hw)
    acc = Accelerator(bundle, batch_size=100)
    assert isinstance(acc.device, PynqDevice) and acc.timeout == 10.0
    assert rec["overlays"] == [(str(bundle / "bnnc.bit"), True)]
    raw = acc.predict(X[:250], raw=True)
    assert np.array_equal(raw, proj.scores(X[:250]))
    assert acc.last_run.batches == 3
    # two contiguous buffers, sized for one batch, reused by the next call
    assert [b.size for b in rec["allocs"]] == [100 * proj.spec.in_words, 100 * proj.spec.out_words]
    # per batch: wait for ap_idle, n_frames, ap_start, arm S2MM, start MM2S, wait for both
    first = hw.log[: hw.log.index(("recv", "wait")) + 1]
    assert first == [("read", 0x00), ("write", 0x10, 100), ("write", 0x00, 1),
                     ("recv", "transfer", 100 * proj.spec.out_words),
                     ("send", "transfer", 100 * proj.spec.in_words),
                     ("send", "wait"), ("recv", "wait")]
    assert ("write", 0x10, 50) in hw.log  # the last, partial batch
    hw.log.clear()
    y = acc.predict(X[:10])
    assert np.array_equal(y, proj.predict(X[:10]))
    assert len(rec["allocs"]) == 2
    acc.predict(X[:150], batch_size=150)  # a bigger batch: new buffers, old ones freed
    assert len(rec["allocs"]) == 4 and rec["allocs"][0].freed and rec["allocs"][1].freed
    acc.close()
    assert rec["allocs"][2].freed and rec.get("freed")


def test_register_offsets_default_without_hwh_registers(monkeypatch, projects, bundle):
    hw = FakeHardware(projects["tfc"])
    ips = {"axi_dma_0": {"type": "xilinx.com:ip:axi_dma:7.1"},
           "bnnc_top_0": {"type": "bnnc.org:rtl:bnnc_top:1.0"}}
    install(monkeypatch, hw, ips)
    acc = Accelerator(bundle)
    assert acc.device.offsets == {"ctrl": 0x00, "n_frames": 0x10}
    assert np.array_equal(acc.predict(X[:5], raw=True), projects["tfc"].scores(X[:5]))


def test_overlay_without_the_accelerator(monkeypatch, projects, bundle):
    install(monkeypatch, FakeHardware(projects["tfc"]),
            {"axi_dma_0": {"type": "xilinx.com:ip:axi_dma:7.1"},
             "axi_gpio_0": {"type": "xilinx.com:ip:axi_gpio:2.0"}})
    with pytest.raises(DeviceError, match=r"the overlay must hold exactly one bnnc accelerator "
                                          r"\(bnnc_top\), found 0: axi_dma_0 \(xilinx.com:ip:axi_dma:"
                                          r"7.1\), axi_gpio_0 \(xilinx.com:ip:axi_gpio:2.0\)"):
        Accelerator(bundle)


def test_dma_timeout(monkeypatch, projects, bundle):
    install(monkeypatch, FakeHardware(projects["tfc"], hang=True))
    acc = Accelerator(bundle, timeout=0.05)
    t0 = time.monotonic()
    with pytest.raises(DeviceTimeout, match=r"the input \(MM2S\) DMA transfer did not finish within "
                                            r"0.05 s \(64 words in, 40 words out\); the accelerator "
                                            r"is stalled"):
        acc.predict(X[:8])
    assert time.monotonic() - t0 < 2
    assert isinstance(DeviceTimeout("x"), TimeoutError)


def test_accelerator_never_idle(monkeypatch, projects, bundle):
    install(monkeypatch, FakeHardware(projects["tfc"], never_idle=True))
    acc = Accelerator(bundle, timeout=0.05)
    with pytest.raises(DeviceTimeout, match=r"the accelerator did not become idle within 0.05 s"):
        acc.predict(X[:2])


def test_dma_error_and_short_transfer(monkeypatch, projects, bundle):
    hw = FakeHardware(projects["tfc"], hang=True)
    install(monkeypatch, hw)
    acc = Accelerator(bundle, timeout=1.0)
    hw.send.error = True
    with pytest.raises(DeviceError, match=r"the input \(MM2S\) DMA channel of axi_dma_0 reports an "
                                          r"error; reload the overlay"):
        acc.predict(X[:2])
    hw = FakeHardware(projects["tfc"])
    hw.short_by = -8
    install(monkeypatch, hw)
    acc = Accelerator(bundle)
    with pytest.raises(DeviceError, match=r"the accelerator returned 72 bytes, expected 80 \(TLAST "
                                          r"came early or late\)"):
        acc.predict(X[:2])


def test_missing_overlay_files(projects, tmp_path):
    with pytest.raises(BundleError, match=r"bnnc.bit and bnnc.hwh missing in .*deploy: run 'make "
                                          r"bitstream' in the project \(needs Vivado\)"):
        Accelerator(projects["tfc"].path / "deploy")
    with pytest.raises(BundleError, match=r"model.json not found: Accelerator takes a deploy bundle"):
        Accelerator(tmp_path)


def test_pynq_itself_needs_a_board(projects, bundle):
    """Without the fake, pynq 4 raises 'No Devices Found' here; the driver passes it on."""
    with pytest.raises(RuntimeError, match="No Devices Found"):
        Accelerator(bundle)


def test_host_runs_on_the_boards_python():
    """host/ is copied to the board: Python 3.10 syntax, imports only numpy and pynq."""
    allowed = {"numpy", "pynq", "__future__", "time", "json", "dataclasses", "pathlib", "typing"}
    for path in sorted((REPO / "host").glob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path), feature_version=(3, 10))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                mods = [(node.module or "").split(".")[0]]
            else:
                continue
            assert set(mods) <= allowed, (path.name, mods)
    assert driver_mod.__name__ == "bnnc.host.driver"
