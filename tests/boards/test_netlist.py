"""deploy --netlist: the synthesized netlist of a board, with Yosys's cell models, against the
golden model, in both simulators; and a deliberately wrong synthesis step that the RTL
simulation cannot see, caught by it, on both board families (in Icarus, which compiles a
netlist in seconds)."""

import json

import pytest

from boards.catalog import BOARDS
from boards.host.messages import load_blocks
from boards.protocol import Command, Frame, encode_frame
from boards.variant import board_shape
from sim.netlist_link import NetlistBoardLink
from stablespike.main import main
from sw.modelfile import load_model, save_model

from ..random_models import random_model

RATE = {"kind": "rate-lfsr", "seed": 1, "lfsr_width": 16, "prob_bits": 8}
#: Wrong synthesis steps the RTL simulation cannot see, by board: the iCE40 block RAMs' read
#: port set to 512 x 8 bits while their write port stays as mapped; on the ECP5 an
#: output-register fold (boards.toolchain.ecp5_outreg) that loses the flip-flops' enable: the first
#: layer's weight block RAM's output register (port B, folded) never enabled.
WRONG_STEPS = {
    "icebreaker": ("setparam -set READ_MODE 1 t:SB_RAM40_4K",),
    "ulx3s-85f": ("cd top", "connect -port core.logic.accelerator.layer0.weights.0.0 OCEB 1'b0",
                  "cd .."),
}  # fmt: skip


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    """A net of the digits' shape with a small hidden layer (quick to synthesize)."""
    path = tmp_path_factory.mktemp("netlist") / "m.npz"
    save_model(random_model(sizes=(64, 12, 10), timesteps=2, encoder=RATE, threshold=60), path)
    return path


@pytest.mark.parametrize(
    "board, clock, baud, simulator",
    [("icebreaker", [], 3_000_000, "icarus"),
     ("ulx3s-85f", ["--clock-mhz", "120"], 15_000_000, "verilator")],
)  # fmt: skip
def test_netlist_answers_like_the_golden_model(small_model, capsys, board, clock, baud, simulator):
    """A whole deploy (identify, load, read back every word, commit, run) against the board's
    synthesized netlist: the iCE40 oscillator build in Icarus; the ECP5 PLL build of the
    120 MHz bitstreams, with its two clocks and the output-register fold, in Verilator (whose
    build keeps only the harness's ports public)."""
    main(["deploy", str(small_model), "--board", board, "--netlist", "--lanes", "2", *clock]
         + ["--netlist-simulator", simulator, "--samples", "2", "--json"])  # fmt: skip
    summary = json.loads(capsys.readouterr().out)
    assert summary["sim"] == "netlist" and summary["exact"] and summary["samples"] == 2
    assert summary["baud"] == baud  # 4 link cycles a bit: 12 MHz oscillator, 60 MHz link
    assert summary["verified_words"] > 0 and summary["cycles_per_inference"] > 0


def _first_block_read_back(link, model, shape):
    """Identify, then the first block of weights written and read back: the difference from
    what was written (None when equal)."""
    blocks = load_blocks(model, shape)
    frames = [encode_frame(Command.IDENTIFY), blocks[0].write_frame(shape), blocks[0].read_frame()]
    identify, written, read = link.transact(frames, len(frames))
    assert identify.command == Command.IDENTIFY and written == Frame(Command.WRITE, b"")
    return blocks[0].first_difference(shape, read.payload)


@pytest.mark.parametrize(
    "name, clock_mhz",
    [("icebreaker", None), pytest.param("ulx3s-85f", 120, marks=pytest.mark.slow)],
)
def test_netlist_check_catches_a_wrong_synthesis_step(small_model, name, clock_mhz):
    """The netlist as built reads back what was written; the same netlist after a wrong step
    does not, while its RTL (and so the RTL simulation) is the same. (The builds of the deploy
    test above, in the same folder: synthesized once.)"""
    model, board = load_model(small_model), BOARDS[name]
    shape = board_shape(model, board, 2, None)
    right = NetlistBoardLink(shape, board, clock_mhz=clock_mhz, simulator="icarus")
    assert _first_block_read_back(right, model, shape) is None
    steps = WRONG_STEPS[name]
    wrong = NetlistBoardLink(shape, board, clock_mhz=clock_mhz, steps=steps, simulator="icarus")
    assert wrong.synthesis_dir == right.synthesis_dir  # synthesized once
    assert wrong._netlist().read_text() != right._netlist().read_text()
    assert _first_block_read_back(wrong, model, shape) is not None
