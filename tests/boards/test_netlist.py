"""deploy --netlist: the synthesized netlist of a board, with Yosys's cell models, against the
golden model; and a deliberately wrong synthesis step that the RTL simulation cannot see,
caught by it. (iCE40 only: the ECP5 netlist's simulation is not validated yet, docs/boards.md.)"""

import json

import pytest

from boards.host.messages import load_blocks
from boards.protocol import Command, Frame, encode_frame
from boards.variant import board_shape
from sim.netlist_link import NetlistBoardLink
from stablespike.main import main
from sw.modelfile import load_model, save_model

from ..random_models import random_model

RATE = {"kind": "rate-lfsr", "seed": 1, "lfsr_width": 16, "prob_bits": 8}
#: A wrong synthesis step: the iCE40 block RAMs' read port set to 512 x 8 bits while their
#: write port stays as mapped (a width the RTL never sees).
WRONG_READ_WIDTH = "setparam -set READ_MODE 1 t:SB_RAM40_4K"


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    """A net of the digits' shape with a small hidden layer (quick to synthesize)."""
    path = tmp_path_factory.mktemp("netlist") / "m.npz"
    save_model(random_model(sizes=(64, 12, 10), timesteps=2, encoder=RATE, threshold=60), path)
    return path


def test_icebreaker_netlist_answers_like_the_golden_model(small_model, capsys):
    """A whole deploy (identify, load, read back every word, commit, run) against the iCE40
    netlist, in Icarus (compiles in seconds; Verilator takes minutes for a netlist)."""
    main(["deploy", str(small_model), "--board", "icebreaker", "--netlist", "--lanes", "2"]
         + ["--netlist-simulator", "icarus", "--samples", "2", "--json"])  # fmt: skip
    summary = json.loads(capsys.readouterr().out)
    assert summary["sim"] == "netlist" and summary["exact"] and summary["samples"] == 2
    assert summary["baud"] == 3_000_000  # 12 MHz oscillator, 4 cycles a bit
    assert summary["verified_words"] > 0 and summary["cycles_per_inference"] > 0


def _first_block_read_back(link, model, shape):
    """Identify, then the first block of weights written and read back: the difference from
    what was written (None when equal)."""
    blocks = load_blocks(model, shape)
    frames = [encode_frame(Command.IDENTIFY), blocks[0].write_frame(shape), blocks[0].read_frame()]
    identify, written, read = link.transact(frames, len(frames))
    assert identify.command == Command.IDENTIFY and written == Frame(Command.WRITE, b"")
    return blocks[0].first_difference(shape, read.payload)


def test_netlist_check_catches_a_wrong_synthesis_step(small_model, tmp_path):
    """The iCE40 netlist as built reads back what was written; the same netlist with a wrong
    block RAM read width does not, while its RTL (and so the RTL simulation) is the same."""
    model = load_model(small_model)
    shape = board_shape(model, "icebreaker", 2, None)
    right = NetlistBoardLink(shape, "icebreaker", build_dir=tmp_path, simulator="icarus")
    assert _first_block_read_back(right, model, shape) is None
    wrong = NetlistBoardLink(
        shape, "icebreaker", build_dir=tmp_path, steps=(WRONG_READ_WIDTH,), simulator="icarus"
    )
    assert wrong.synthesis_dir == right.synthesis_dir  # synthesized once
    assert "SB_RAM40_4K" in wrong._netlist().read_text()
    assert _first_block_read_back(wrong, model, shape) is not None
