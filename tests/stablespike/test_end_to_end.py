"""train -> export -> eval through the command line, on a few epochs of digits."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from stablespike.main import main
from sw.modelfile import load_model

from ..random_models import cli_error


def test_train_export_eval(tmp_path, capsys):
    run, model_path = tmp_path / "run", tmp_path / "m.npz"
    main(
        [
            "train",
            "--dataset",
            "digits",
            "--method",
            "stablespike",
            "--timesteps",
            "2",
            "--epochs",
            "3",
            "--seed",
            "0",
            "--out",
            str(run),
            "--quiet",
        ]
    )
    for name in (
        "config.json",
        "checkpoint.pt",
        "metrics.csv",
        "metrics.json",
        "curves.png",
        "raster.png",
    ):
        assert (run / name).is_file(), name
    history = json.loads((run / "metrics.json").read_text())
    assert len(history) == 3 and history[-1]["test_accuracy"] > 0.5

    capsys.readouterr()
    main(
        [
            "export",
            str(run),
            "--out",
            str(model_path),
            "--finetune-epochs",
            "1",
            "--json",
            "--quiet",
        ]
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["golden_equals_torch"] is True
    assert summary["golden_accuracy"] == pytest.approx(summary["quantized_accuracy"])
    model = load_model(model_path)
    assert model.sizes == [64, 128, 10] and model.encoder.kind == "rate-lfsr"

    main(["eval", str(model_path), "--engine", "golden", "--json"])
    golden = json.loads(capsys.readouterr().out)
    assert golden["accuracy"] == pytest.approx(summary["golden_accuracy"])
    assert 0 < golden["synaptic_events_per_inference"] < golden["dense_ops_per_inference"]
    main(["eval", str(run), "--engine", "float", "--json"])
    assert json.loads(capsys.readouterr().out)["samples"] == 450


def test_training_resumes_from_its_checkpoint(tmp_path, capsys):
    run = tmp_path / "run"
    args = [
        "train",
        "--dataset",
        "digits",
        "--method",
        "baseline",
        "--timesteps",
        "1",
        "--seed",
        "1",
        "--out",
        str(run),
        "--quiet",
    ]
    main(args + ["--epochs", "2"])
    first = json.loads((run / "metrics.json").read_text())
    assert "different settings" in cli_error(capsys, args + ["--epochs", "3", "--lr", "0.5"])
    config = json.loads((run / "config.json").read_text())
    config["epochs"] = 3
    (run / "config.json").write_text(json.dumps(config))
    main(args + ["--epochs", "3"])
    history = json.loads((run / "metrics.json").read_text())
    assert len(history) == 3 and history[:2] == first

    # a truncated checkpoint, and one that would run code when unpickled, are refused
    checkpoint = run / "checkpoint.pt"
    checkpoint.write_bytes(checkpoint.read_bytes()[:5000])
    err = cli_error(capsys, args + ["--epochs", "3"])
    assert "checkpoint.pt: not a readable checkpoint" in err
    marker = tmp_path / "code-ran"
    torch.save({"model": RunsCode(marker)}, checkpoint)
    assert "not a readable checkpoint" in cli_error(capsys, ["export", str(run), "--out", "m.npz"])
    assert not marker.exists()


class RunsCode:
    """Unpickled, it creates ``marker`` (as a hostile checkpoint could run anything)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_stablespike_at_one_timestep_is_a_clear_error(tmp_path, capsys):
    argv = ["train", "--timesteps", "1", "--method", "stablespike", "--out", str(tmp_path / "r")]
    assert "needs at least 2 timesteps" in cli_error(capsys, argv)


def test_export_of_a_non_run_is_a_clear_error(tmp_path, capsys):
    argv = ["export", str(tmp_path), "--out", str(tmp_path / "m.npz")]
    assert "is not a training run" in cli_error(capsys, argv)


def test_int4_export_of_conv_net_is_exact(tmp_path, capsys):
    run = tmp_path / "conv"
    main(
        [
            "train",
            "--dataset",
            "digits-events",
            "--arch",
            "conv:4",
            "--timesteps",
            "2",
            "--epochs",
            "1",
            "--out",
            str(run),
            "--quiet",
        ]
    )
    capsys.readouterr()
    main(
        [
            "export",
            str(run),
            "--out",
            str(tmp_path / "c.npz"),
            "--weight-bits",
            "4",
            "--finetune-epochs",
            "1",
            "--json",
            "--quiet",
        ]
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["golden_equals_torch"] is True
    layer = load_model(tmp_path / "c.npz").layers[0]
    assert layer.conv.out_shape == (4, 4, 4) and layer.conv.in_shape == (2, 8, 8)
    assert layer.weight.shape == (4, 2, 3, 3) and np.abs(layer.weight).max() <= 7


def test_bench_accuracy_writes_table_json_and_plot(tmp_path):
    from sw.bench import bench_accuracy

    bench_accuracy(
        dataset="digits",
        timesteps=[1, 2],
        seeds=[0],
        variants=["baseline", "spike-only"],
        epochs=1,
        arch="mlp:16",
        limit_train=200,
        out_dir=tmp_path / "results",
        quant_bits=[8],
        runs_root=tmp_path / "runs",
    )
    result = json.loads((tmp_path / "results" / "accuracy-digits-mlp-16.json").read_text())
    assert [(s["variant"], s["timesteps"]) for s in result["summary"]] == [
        ("baseline", 1),
        ("baseline", 2),
        ("spike-only", 2),
    ]
    assert all(q["golden_equals_torch"] for q in result["quantized"])
    md = (tmp_path / "results" / "accuracy-digits-mlp-16.md").read_text()
    assert "| spike-only | 2 | 1 |" in md and "Published reference points" in md
    assert (tmp_path / "results" / "accuracy-digits-mlp-16.png").stat().st_size > 1000


@pytest.fixture(scope="module")
def one_epoch_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("damaged") / "run"
    main(["train", "--dataset", "digits", "--method", "baseline", "--timesteps", "1", "--epochs",
          "1", "--seed", "2", "--out", str(run), "--quiet"])  # fmt: skip
    return run


CONFIG_DAMAGE = [
    ("a string for a number", lambda c: c.update(lr="0.01"), "lr must be a finite number"),
    ("an infinite weight", lambda c: c.update(gamma=float("inf")), "gamma must be a finite"),
    ("a list for a name", lambda c: c.update(arch=["mlp", 128]), "arch must be a string"),
    ("a list for the whole", lambda c: [1, 2], "expected an object of settings, found list"),
]
CHECKPOINT_DAMAGE = [
    ("the state dict a list", lambda s: s.update(model=[1, 2]), "'model' is not a state dict"),
    ("the history a string", lambda s: s.update(history="x"), "'history' is not a list"),
    ("the optimiser a list", lambda s: s.update(optimizer=[0]), "'optimizer' is not an object"),
]


def _copy_run(run, tmp_path):
    """A copy of the run folder ``run`` in ``tmp_path``."""
    copy = tmp_path / "run"
    copy.mkdir()
    for f in run.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    return copy


def _readers_of(run, tmp_path, epochs):
    """The commands that read a run folder: export, float eval, and train resuming it."""
    return (["export", str(run), "--out", str(tmp_path / "m.npz")],
            ["eval", str(run), "--engine", "float"],
            ["train", "--dataset", "digits", "--method", "baseline", "--timesteps", "1",
             "--epochs", str(epochs), "--seed", "2", "--out", str(run), "--quiet"])  # fmt: skip


@pytest.mark.parametrize("name, damage, detail", CONFIG_DAMAGE, ids=[d[0] for d in CONFIG_DAMAGE])
def test_a_damaged_config_is_one_line_everywhere(one_epoch_run, tmp_path, capsys, name, damage,
                                                  detail):  # fmt: skip
    run = _copy_run(one_epoch_run, tmp_path)
    config = json.loads((run / "config.json").read_text())
    edited = damage(config)
    (run / "config.json").write_text(json.dumps(config if edited is None else edited))
    for argv in _readers_of(run, tmp_path, epochs=2):
        err = cli_error(capsys, argv)
        assert "config.json: not a valid run configuration" in err and detail in err, argv


@pytest.mark.parametrize(
    "name, damage, detail", CHECKPOINT_DAMAGE, ids=[d[0] for d in CHECKPOINT_DAMAGE]
)
def test_a_checkpoint_of_the_wrong_structure_is_one_line(one_epoch_run, tmp_path, capsys, name,
                                                          damage, detail):  # fmt: skip
    run = _copy_run(one_epoch_run, tmp_path)
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    damage(state)
    torch.save(state, run / "checkpoint.pt")
    for argv in _readers_of(run, tmp_path, epochs=1):  # the same settings: it resumes
        err = cli_error(capsys, argv)
        assert "not a stablespike checkpoint" in err and detail in err, argv


def test_a_loss_that_stops_being_finite_stops_the_run(tmp_path, capsys, monkeypatch):
    """One line naming the epoch and the losses; the checkpoint of the last good epoch is
    kept (the run resumes from it once the cause is fixed)."""
    from sw import train as training

    run = tmp_path / "run"
    argv = ["train", "--dataset", "digits", "--method", "baseline", "--timesteps", "1",
            "--epochs", "3", "--seed", "2", "--out", str(run), "--quiet"]  # fmt: skip
    real = training.stable_spike_losses
    calls = {"n": 0}

    def poisoned(net, out, config, *rest):
        l_spike, l_noise = real(net, out, config, *rest)
        calls["n"] += 1
        if calls["n"] > 50:  # in the second epoch (digits: 1,347 samples, 43 batches)
            return l_spike + float("nan"), l_noise
        return l_spike, l_noise

    monkeypatch.setattr(training, "stable_spike_losses", poisoned)
    err = cli_error(capsys, argv)
    assert "epoch 2, batch" in err and "the loss is nan" in err
    assert "checkpoint.pt (after epoch 1) is kept" in err
    assert len(torch.load(run / "checkpoint.pt", weights_only=True)["history"]) == 1
