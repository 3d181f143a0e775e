"""deploy --sim: the host client against the simulated board, checked against the golden model."""

import json

import pytest

from boards.catalog import BOARDS
from boards.host.client import BoardClient, DeviceError
from boards.protocol import Command, Frame
from boards.variant import board_shape
from hw.layout import AcceleratorShape, config_writes
from sim.simboard import SimulatedLink
from stablespike.main import main
from sw.modelfile import save_model

from ..random_models import cli_error, random_model

RATE = {"kind": "rate-lfsr", "seed": 1, "lfsr_width": 16, "prob_bits": 8}


@pytest.fixture
def digits_shaped_model(tmp_path):
    model = random_model(sizes=(64, 12, 10), timesteps=2, encoder=RATE, threshold=60)
    save_model(model, tmp_path / "m.npz")  # meta names the digits dataset
    return model, tmp_path / "m.npz"


@pytest.mark.parametrize("link,samples", [("verilator", 6), ("amaranth", 2), ("bridge", 6)])
def test_deploy_sim_matches_golden(digits_shaped_model, capsys, link, samples):
    """Over the UART pins (verilator, amaranth) the load (some 4 kB of WRITE and READ frames,
    while the board sends read-back replies) is far longer than the board's receive buffer:
    the host's send window must hold frames back."""
    model, path = digits_shaped_model
    main(
        [
            "deploy",
            str(path),
            "--board",
            "icebreaker",
            "--sim",
            "--sim-link",
            link,
            "--lanes",
            "4",
            "--samples",
            str(samples),
            "--json",
        ]
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["exact"] and summary["samples"] == samples
    assert summary["cycles_per_inference"] > 0
    # Every word written once, in blocks of at most the frame buffer (64 RUN words = 128 bytes).
    words = len(config_writes(model, board_shape(model, BOARDS["icebreaker"], 4)))  # U = 1 there
    assert summary["verified_words"] == words
    assert words / 32 < summary["load_writes"] < words / 4


class CorruptingLink(SimulatedLink):
    """The simulated board, with one bit of the first READ reply flipped on the way back."""

    def transact(self, frames, n_replies):
        replies = super().transact(frames, n_replies)
        i = next(i for i, r in enumerate(replies) if r.command == Command.READ)
        payload = bytearray(replies[i].payload)
        payload[-1] ^= 0x10
        replies[i] = Frame(Command.READ, bytes(payload))
        return replies


def test_a_wrong_read_back_is_reported(digits_shaped_model):
    model, _ = digits_shaped_model
    shape = AcceleratorShape.from_model(model, lanes=4)
    client = BoardClient(CorruptingLink(shape), shape)
    with pytest.raises(DeviceError, match=r"read-back differs from the model: select \d+ addr"):
        client.session(model, [])


@pytest.mark.parametrize(
    "other",
    [
        AcceleratorShape(sizes=(64, 13, 10), timesteps=2, lanes=4),
        AcceleratorShape(sizes=(64, 12, 10), timesteps=2, lanes=4, update_lanes=2),
    ],
    ids=["sizes", "update-lanes"],
)
def test_a_board_of_another_shape_is_refused(digits_shaped_model, other):
    model, _ = digits_shaped_model
    client = BoardClient(SimulatedLink(other), AcceleratorShape.from_model(model, lanes=4))
    with pytest.raises(DeviceError, match="build the bitstream for this model's shape"):
        client.session(model, [])


def test_train_export_and_run_on_the_simulated_board(tmp_path, capsys):
    """End to end: train a tiny Stable Spike net, export it, then load it over the simulated
    UART (Verilator), read it back and run test samples, every result equal to the golden model."""
    run, model = tmp_path / "run", tmp_path / "m.npz"
    main(
        [
            "train",
            "--dataset",
            "digits",
            "--method",
            "stablespike",
            "--arch",
            "mlp:24",
            "--timesteps",
            "2",
            "--epochs",
            "3",
            "--out",
            str(run),
            "--quiet",
        ]
    )
    main(["export", str(run), "--out", str(model), "--finetune-epochs", "1", "--quiet"])
    capsys.readouterr()
    deploy_args = ["deploy", str(model), "--board", "icebreaker", "--sim", "--samples", "40"]
    main(deploy_args + ["--clock-mhz", "24", "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert summary["latency_us"] == pytest.approx(summary["cycles_per_inference"] / 24)
    assert summary["inferences_per_second"] == pytest.approx(24e6 / summary["cycles_per_inference"])
    assert summary["exact"] and summary["samples"] == 40 and summary["sim"] == "verilator"
    assert summary["verified_words"] > summary["load_writes"] > 0  # blocks of words
    assert summary["accuracy"] > 0.5


def test_deploy_without_a_dataset_stops_before_the_board(tmp_path, capsys):
    """A model file that names no dataset cannot be checked on a board: one line, before any
    simulated board is built or a port opened."""
    model = random_model(weight_bits=8)
    del model.meta["dataset"]
    save_model(model, tmp_path / "m.npz")
    argv = ["deploy", str(tmp_path / "m.npz"), "--board", "icebreaker", "--sim"]
    err = cli_error(capsys, argv)
    assert "field 'meta.dataset'" in err and "nothing" in err


@pytest.mark.parametrize(
    "sim, baud, clock",
    [(["--sim"], 3_000_000, 25), (["--port", "/dev/null-no-such-port", "--clock-mhz", "120"],
                                   7_000_000, 60)],
)  # fmt: skip
def test_a_baud_the_board_cannot_make_stops_before_the_board(
    digits_shaped_model, capsys, sim, baud, clock
):
    """The simulated line runs at 4 cycles a bit on both ends and would take any --baud: the
    same check as the build's refuses one the board's clock cannot make (3 Mbaud from the
    ULX3S's 25 MHz oscillator: +4.17 %), before a simulated board is built or a port opened (a
    real board is checked when deploy is told the clock it was built for)."""
    _, path = digits_shaped_model
    argv = ["deploy", str(path), "--board", "ulx3s-85f", "--baud", str(baud), *sim]
    err = cli_error(capsys, argv)
    assert f"ulx3s-85f: --baud {baud}: {baud} baud from a {clock} MHz clock" in err
    assert "more than 2% off" in err and "at --clock-mhz" in err
