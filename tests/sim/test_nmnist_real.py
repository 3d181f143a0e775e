"""Real N-MNIST recordings (the shared ``nmnist-small`` subset, CC BY-SA 4.0) end to end: the
reader on every file, then a small conv net trained on them, frozen, evaluated from another
data root, and run on the RTL bit for bit against the golden model."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from sim.runner import run_cosim
from stablespike.main import main
from sw import data

#: Where the recordings are: $STABLESPIKE_NMNIST_SMALL, else ../shared/data/nmnist-small beside
#: the repository (as on the project's machines and in CI).
FOLDER = Path(
    os.environ.get(
        "STABLESPIKE_NMNIST_SMALL",
        Path(__file__).resolve().parents[3] / "shared" / "data" / "nmnist-small",
    )
)
#: Recordings per class in nmnist-small (its README).
CLASS_COUNTS = [97, 116, 99, 93, 105, 92, 94, 117, 87, 100]


@pytest.fixture(scope="module")
def recordings():
    if not (FOLDER / "Train").is_dir():
        message = f"no N-MNIST recordings at {FOLDER} (set STABLESPIKE_NMNIST_SMALL)"
        if os.environ.get("CI"):
            pytest.fail(message + "; CI must have them")
        pytest.skip(message)
    return FOLDER


def test_every_real_recording_reads_and_splits(recordings):
    ds = data.load_dataset("nmnist", 2, recordings)
    assert ds.input_shape == (2, 34, 34) and ds.encoding == "spikes"
    labels = np.concatenate([ds.train_y, ds.test_y])
    assert np.bincount(labels).tolist() == CLASS_COUNTS
    assert (len(ds.train_y), len(ds.test_y)) == (801, 199)
    # the validation split keeps a fifth of every class
    share = np.bincount(ds.test_y) / np.array(CLASS_COUNTS)
    assert np.all(np.abs(share - 0.2) < 0.02)
    # real sensor data: dense edges and noise, about a quarter of the inputs per 150 ms bin
    rate = float(ds.train_x.mean())
    assert 0.15 < rate < 0.35, rate
    assert set(np.unique(ds.train_x)) == {0, 1}


def test_real_net_exports_evaluates_and_runs_bit_exact(recordings, tmp_path, capsys):
    run, model = tmp_path / "run", tmp_path / "nmnist.npz"
    root = ["--data-root", str(recordings)]
    main(["train", "--dataset", "nmnist", *root, "--arch", "conv:4,8", "--timesteps", "2"]
         + ["--epochs", "3", "--augment-shift", "1", "--method", "spike-only"]
         + ["--out", str(run), "--quiet"])  # fmt: skip
    main(["export", str(run), "--out", str(model), "--finetune-epochs", "1", "--quiet"])
    capsys.readouterr()
    main(["eval", str(model), *root, "--json"])
    golden = json.loads(capsys.readouterr().out)
    assert golden["dataset"] == "nmnist" and golden["samples"] == 199
    assert golden["accuracy"] > 0.4  # 3 epochs on 801 recordings; chance is 0.1
    # the float net on every recording, both splits (as a sim-to-real test reads them)
    main(["eval", str(run), "--engine", "float", *root, "--split", "all", "--json"])
    everything = json.loads(capsys.readouterr().out)
    assert everything["samples"] == 1000 and everything["split"] == "all"
    result = run_cosim(
        model, simulator="verilator", samples=12, lanes=4, data_root=recordings,
        build_dir=tmp_path / "sim", stall=0.2,
    )  # fmt: skip
    inference = result.inference
    assert inference["samples"] == 12 and inference["errors"] == 0
    assert result.tests["reset_mid_inference"]["errors"] == 0
