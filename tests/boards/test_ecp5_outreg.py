"""The ECP5 build folds the flip-flops after a block RAM read into the DP16KD's output register
(boards.toolchain.ecp5_outreg), and only where they do exactly what the output register does."""

import json
import os
import subprocess

import pytest
from amaranth.back import rtlil
from amaranth.hdl import Elaboratable, Module, Signal
from amaranth.lib.fifo import SyncFIFOBuffered

from boards.catalog import BOARDS
from boards.toolchain.bitstream import synthesis_options, toolchain_env
from boards.toolchain.ecp5_outreg import fold_output_registers, main
from hw.layout import AcceleratorVariant
from hw.ports import UNDEFINED_AT_START, NoCollisionFIFO, RegisteredRead, no_collision_memory


class ReadThenRegister(Elaboratable):
    """A 1 K x 18-bit block RAM read (:class:`RegisteredRead`) and a register after it, loaded
    when ``take`` is set: ``rdata``. ``case``: "plain"; "reset": the register is reset by the
    domain's reset; "also-out": the read data also leaves the design directly; "wide": 512 x
    36 bits, a pseudo-dual-port block RAM."""

    def __init__(self, case: str):
        self.case = case
        self.width, self.depth = (36, 512) if case == "wide" else (18, 1024)
        self.addr = Signal(range(self.depth), name="addr")
        self.we = Signal(name="we")
        self.wdata = Signal(self.width, name="wdata")
        self.take = Signal(name="take")
        self.rdata = Signal(self.width, name="rdata")
        self.raw = Signal(self.width, name="raw")

    def ports(self):
        return [self.addr, self.we, self.wdata, self.take, self.rdata, self.raw]

    def elaborate(self, platform):
        m = Module()
        m.submodules.memory = memory = no_collision_memory(shape=self.width, depth=self.depth)
        write, read = memory.write_port(), RegisteredRead(m, memory)
        m.d.comb += [write.en.eq(self.we), write.addr.eq(self.addr), write.data.eq(self.wdata)]
        m.d.comb += read.addr.eq(self.addr)
        stage = Signal(self.width, reset_less=self.case != "reset")
        with m.If(self.take):
            m.d.sync += stage.eq(read.data)
        m.d.comb += self.rdata.eq(stage)
        if self.case == "also-out":
            m.d.comb += self.raw.eq(read.data)
        return m


class FifoThenRegisters(Elaboratable):
    """A 1 K x 18-bit FIFO whose entries pass two registers that move together (``take``),
    as a LIF layer's spike FIFO on the ECP5 (``hw.lif``): ``fifo`` is ``NoCollisionFIFO`` or,
    for comparison, ``SyncFIFOBuffered``."""

    def __init__(self, fifo):
        self.fifo = fifo
        self.we = Signal(name="we")
        self.wdata = Signal(18, name="wdata")
        self.take = Signal(name="take")
        self.rdata = Signal(18, name="rdata")

    def ports(self):
        return [self.we, self.wdata, self.take, self.rdata]

    def elaborate(self, platform):
        m = Module()
        m.submodules.fifo = fifo = self.fifo(width=18, depth=1024)
        first = Signal(18, reset_less=True, attrs={UNDEFINED_AT_START: 1})
        second = Signal(18, reset_less=True, attrs={UNDEFINED_AT_START: 1})
        m.d.comb += [fifo.w_en.eq(self.we), fifo.w_data.eq(self.wdata), fifo.r_en.eq(self.take)]
        with m.If(self.take):
            m.d.sync += [first.eq(fifo.r_data), second.eq(first)]
        m.d.comb += self.rdata.eq(second)
        return m


def synthesise(tmp_path, case) -> dict:
    """Yosys' ECP5 netlist of :class:`ReadThenRegister` (``case`` a string) or
    ``case`` itself, with the board build's options."""
    top = ReadThenRegister(case) if isinstance(case, str) else case
    (tmp_path / "top.il").write_text(rtlil.convert(top, name="top", ports=top.ports()))
    options = synthesis_options(BOARDS["ulx3s-85f"], AcceleratorVariant(weight_attrs=[{}]))
    script = [
        "read_rtlil top.il",
        options["script_after_read"],
        "synth_ecp5 -top top",
        "write_json top.json",
    ]
    (tmp_path / "top.ys").write_text("\n".join(script))
    toolchain_env()
    subprocess.run([os.environ["YOSYS"], "-q", "top.ys"], cwd=tmp_path, check=True)
    return json.loads((tmp_path / "top.json").read_text())


def cells_of(netlist: dict, kind: str) -> list:
    return [c for c in netlist["modules"]["top"]["cells"].values() if c["type"] == kind]


def test_the_register_after_a_block_ram_read_becomes_its_output_register(tmp_path):
    netlist = synthesise(tmp_path, "plain")
    assert len(cells_of(netlist, "TRELLIS_FF")) == 18  # the register after the read
    assert fold_output_registers(netlist) == 1
    assert cells_of(netlist, "TRELLIS_FF") == []
    (ram,) = cells_of(netlist, "DP16KD")
    ports = netlist["modules"]["top"]["ports"]
    read = next(p for p in "AB" if ram["parameters"].get(f"REGMODE_{p}") == "OUTREG")
    assert ram["parameters"][f"REGMODE_{'B' if read == 'A' else 'A'}"] == "NOREG"
    assert [ram["connections"][f"DO{read}{i}"][0] for i in range(18)] == ports["rdata"]["bits"]
    assert ram["connections"][f"OCE{read}"] == ports["take"]["bits"]  # the register's enable
    assert fold_output_registers(netlist) == 0  # nothing left to fold


def test_a_36_bit_read_takes_both_output_registers(tmp_path):
    """512 x 36 bits: a pseudo-dual-port block RAM, whose one read comes out on both ports'
    data pins (low half on A's)."""
    netlist = synthesise(tmp_path, "wide")
    assert fold_output_registers(netlist) == 1
    assert cells_of(netlist, "TRELLIS_FF") == []
    (ram,) = cells_of(netlist, "DP16KD")
    ports = netlist["modules"]["top"]["ports"]
    pins = [f"DO{p}{i}" for p in "AB" for i in range(18)]
    assert [ram["connections"][pin][0] for pin in pins] == ports["rdata"]["bits"]
    for p in "AB":
        assert ram["parameters"][f"REGMODE_{p}"] == "OUTREG"
        assert ram["connections"][f"OCE{p}"] == ports["take"]["bits"]


@pytest.mark.parametrize("case", ["reset", "also-out"])
def test_a_register_the_output_register_cannot_replace_stays(tmp_path, case):
    """A register with a reset (the output register's reset would also clear the read), or read
    data that also goes elsewhere: the netlist is left as it is."""
    netlist = synthesise(tmp_path, case)
    assert len(cells_of(netlist, "DP16KD")) == 1
    before = json.dumps(netlist, sort_keys=True)
    assert fold_output_registers(netlist) == 0
    assert json.dumps(netlist, sort_keys=True) == before


def test_the_command_rewrites_the_netlist_in_place(tmp_path, capsys):
    synthesise(tmp_path, "plain")
    main([str(tmp_path / "top.json")])
    assert "1 block RAM read ports use their output register" in capsys.readouterr().out
    (ram,) = cells_of(json.loads((tmp_path / "top.json").read_text()), "DP16KD")
    assert "OUTREG" in (ram["parameters"].get("REGMODE_A"), ram["parameters"].get("REGMODE_B"))


def test_a_spike_fifo_read_folds_into_the_output_register(tmp_path):
    """The FIFO read without a register into two registers: the first becomes the block RAM's
    read, the second its output register, and no flip-flop or multiplexer is left on the
    data's way out. Behind ``SyncFIFOBuffered`` Yosys keeps an old word on a read-write
    collision with flip-flops and a multiplexer after the block RAM, and nothing folds."""
    netlist = synthesise(tmp_path, FifoThenRegisters(NoCollisionFIFO))
    assert fold_output_registers(netlist) == 1
    (ram,) = cells_of(netlist, "DP16KD")
    ports = netlist["modules"]["top"]["ports"]
    read = next(p for p in "AB" if ram["parameters"].get(f"REGMODE_{p}") == "OUTREG")
    assert [ram["connections"][f"DO{read}{i}"][0] for i in range(18)] == ports["rdata"]["bits"]
    buffered = synthesise(tmp_path, FifoThenRegisters(SyncFIFOBuffered))
    assert fold_output_registers(buffered) == 0
