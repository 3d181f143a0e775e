"""A real iCEBreaker bitstream through yowasp Yosys/nextpnr for the digits net's shape
(64-128-10, T=2; the bitstream depends on the shape only, so random weights do)."""

import json

from boards.build import spram_layers
from hw.layout import AcceleratorShape
from sw.cli import main
from sw.modelfile import save_model

from ..sw.helpers import random_model

RATE = {"kind": "rate-lfsr", "seed": 3, "lfsr_width": 16, "prob_bits": 8}


def test_icebreaker_bitstream_and_report(tmp_path, capsys):
    model = random_model(sizes=(64, 128, 10), timesteps=2, encoder=RATE)
    model.meta = {}
    save_model(model, tmp_path / "m.npz")
    main(
        [
            "build",
            str(tmp_path / "m.npz"),
            "--board",
            "icebreaker",
            "--build-dir",
            str(tmp_path / "b"),
            "--json",
        ]
    )
    summary = json.loads(capsys.readouterr().out)
    bitstream = tmp_path / "b" / "icebreaker-64-128-10-T2-P4" / "top.bin"
    assert summary["bitstream"] == str(bitstream) and bitstream.stat().st_size > 100_000
    lc = summary["utilization"]["ICESTORM_LC"]
    assert 0 < lc["used"] <= lc["available"] == 5280
    assert summary["weights_in_spram"] == [True]
    assert summary["utilization"]["ICESTORM_SPRAM"]["used"] == 2  # 32-bit words: 2 x 16 bits
    assert summary["utilization"]["ICESTORM_RAM"]["used"] <= 30
    clock = summary["fmax"]["cd_sync.clk"]
    assert clock["achieved"] >= clock["constraint"] > 11.9


def test_weights_go_to_spram_largest_first_while_blocks_last():
    mnist = AcceleratorShape(sizes=(784, 128, 10), timesteps=4, lanes=8)
    assert spram_layers(mnist) == [True]  # 12,544 x 64 bits: 4 blocks
    deep = AcceleratorShape(sizes=(784, 128, 128, 10), timesteps=4, lanes=8)
    assert spram_layers(deep) == [True, False]  # both need 4 blocks; the larger wins
    small = AcceleratorShape(sizes=(64, 32, 32, 10), timesteps=2, lanes=4)
    assert spram_layers(small) == [True, True]  # 2 + 2 blocks
