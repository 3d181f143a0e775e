"""deploy --sim: the host client against the simulated board, checked against the golden model."""

import json

import pytest

from boards.client import BoardClient, DeviceError, SimulatedLink
from hw.layout import AcceleratorShape
from sw.cli import main
from sw.modelfile import save_model

from ..sw.helpers import random_model

RATE = {"kind": "rate-lfsr", "seed": 1, "lfsr_width": 16, "prob_bits": 8}


@pytest.fixture
def digits_shaped_model(tmp_path):
    model = random_model(sizes=(64, 12, 10), timesteps=2, encoder=RATE, threshold=60)
    save_model(model, tmp_path / "m.npz")  # meta names the digits dataset
    return model, tmp_path / "m.npz"


def test_deploy_sim_matches_golden(digits_shaped_model, capsys):
    _, path = digits_shaped_model
    main(
        [
            "deploy",
            str(path),
            "--board",
            "icebreaker",
            "--sim",
            "--lanes",
            "4",
            "--samples",
            "6",
            "--json",
        ]
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["exact"] and summary["samples"] == 6
    assert summary["load_writes"] > 64 * 3 and summary["cycles_per_inference"] > 0


def test_a_board_of_another_shape_is_refused(digits_shaped_model):
    model, _ = digits_shaped_model
    other = AcceleratorShape(sizes=(64, 13, 10), timesteps=2, lanes=4)
    client = BoardClient(SimulatedLink(other), AcceleratorShape.from_model(model, lanes=4))
    with pytest.raises(DeviceError, match="build the bitstream for this model's shape"):
        client.session(model, [])
