"""A real iCEBreaker bitstream through yowasp Yosys/nextpnr, for a small model's shape."""

import json

from sw.cli import main
from sw.modelfile import save_model

from ..sw.helpers import random_model

RATE = {"kind": "rate-lfsr", "seed": 3, "lfsr_width": 16, "prob_bits": 8}


def test_icebreaker_bitstream_and_report(tmp_path, capsys):
    model = random_model(sizes=(6, 5, 3), timesteps=2, encoder=RATE)
    model.meta = {}
    save_model(model, tmp_path / "m.npz")
    main(
        [
            "build",
            str(tmp_path / "m.npz"),
            "--board",
            "icebreaker",
            "--lanes",
            "2",
            "--build-dir",
            str(tmp_path / "b"),
            "--json",
        ]
    )
    summary = json.loads(capsys.readouterr().out)
    bitstream = tmp_path / "b" / "icebreaker-6-5-3-T2-P2" / "top.bin"
    assert summary["bitstream"] == str(bitstream) and bitstream.stat().st_size > 100_000
    lc = summary["utilization"]["ICESTORM_LC"]
    assert 0 < lc["used"] <= lc["available"] == 5280
    clock = summary["fmax"]["cd_sync.clk"]
    assert clock["achieved"] >= clock["constraint"] > 11.9
