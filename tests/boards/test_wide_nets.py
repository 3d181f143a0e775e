"""The list of logic-driven nets with many sinks (``boards.toolchain.wide_nets``), on a netlist
mapped by the ECP5 build's Yosys steps."""

import json

import pytest
from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from boards.toolchain.wide_nets import main, wide_nets

from ..hw.ecp5_synthesis import ecp5_cell_counts

LANES = 40


class SharedEnable(wiring.Component):
    """``LANES`` registers loaded under one enable computed by a LUT (``a & b``), and one
    register fanned out to every lane's output logic."""

    a: In(1)
    b: In(1)
    data: In(LANES)
    q: Out(LANES)

    def elaborate(self, platform):
        m = Module()
        enable = Signal()
        m.d.comb += enable.eq(self.a & self.b)
        held, flag = Signal(LANES), Signal()
        m.d.sync += flag.eq(self.a)
        with m.If(enable):
            m.d.sync += held.eq(self.data)
        m.d.comb += self.q.eq(held ^ flag.replicate(LANES))
        return m


def test_the_logic_driven_enable_is_listed_and_the_register_is_not(tmp_path, capsys):
    ecp5_cell_counts(SharedEnable(), tmp_path, keep_copies=False)
    netlist = json.loads((tmp_path / "top.json").read_text())
    nets = wide_nets(netlist, min_sinks=LANES)
    # the enable: a LUT into the clock enable of every held bit (the flag's net, from a
    # flip-flop, is as wide but not listed)
    assert [(net.driver, net.loads) for net in nets] == [("LUT4", {"TRELLIS_FF": LANES})]
    assert wide_nets(netlist, min_sinks=LANES + 1) == []
    assert main([str(tmp_path / "top.json"), "--min-sinks", str(LANES)]) == 0
    out = capsys.readouterr().out
    assert f"1 logic-driven nets with {LANES} sinks or more" in out
    assert f"{LANES}  " in out and f"(LUT4 -> {LANES} TRELLIS_FF)" in out


def test_a_file_that_is_no_netlist_is_named(tmp_path, capsys):
    (tmp_path / "bad.json").write_text('{"creator": "x"}')
    with pytest.raises(SystemExit):
        main([str(tmp_path / "bad.json")])
    assert "bad.json: the netlist has no modules" in capsys.readouterr().err
    with pytest.raises(ValueError, match="no module 'core'; it has top"):
        wide_nets({"modules": {"top": {"cells": {}, "netnames": {}}}}, top="core")
