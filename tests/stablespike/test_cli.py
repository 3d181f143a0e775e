"""The command line: bad input gives one error line naming the flag, exit code 2, and nothing
is written."""

import json
from pathlib import Path

import numpy as np
import pytest

from stablespike import models, options
from stablespike.main import main
from sw.modelfile import save_model

from ..random_models import cli_error, random_model


@pytest.fixture
def model_file(tmp_path):
    model = random_model(weight_bits=8)
    model.meta["dataset"] = "digits"
    path = tmp_path / "m.npz"
    save_model(model, path)
    return path


BAD_FLAGS = [
    (["train", "--epochs", "0"], "--epochs", "at least 1"),
    (["train", "--seed", "-1"], "--seed", "'-1'"),
    (["train", "--timesteps", "0"], "--timesteps", "'0'"),
    (["train", "--lr", "nan"], "--lr", "(0, inf)"),
    (["train", "--gamma", "inf"], "--gamma", "[0, inf)"),
    (["train", "--beta", "inf"], "--beta", "[0, inf)"),
    (["train", "--beta", "-1"], "--beta", "[0, inf)"),
    (["train", "--noise-scale", "inf"], "--noise-scale", "[0, inf)"),
    (["eval", "M", "--limit", "0"], "--limit", "'0'"),
    (["eval", "M", "--limit", "-5"], "--limit", "'-5'"),
    (["sim", "M", "--samples", "0"], "--samples", "'0'"),
    (["sim", "M", "--stall", "1"], "--stall", "[0, 1)"),
    (["build", "M", "--board", "icebreaker", "--lanes", "0"], "--lanes", "1..256"),
    (["build", "M", "--board", "icebreaker", "--lanes", "1000"], "--lanes", "1..256"),
    (["build", "M", "--board", "icebreaker", "--baud", "0"], "--baud", "'0'"),
    (["build", "M", "--board", "icebreaker", "--clock-mhz", "-3"], "--clock-mhz", "'-3'"),
    (["deploy", "M", "--board", "icebreaker", "--sim", "--samples", "-1"], "--samples", "'-1'"),
    (["deploy", "M", "--board", "icebreaker", "--lanes", "x"], "--lanes", "'x'"),
    (["deploy", "M", "--board", "icebreaker", "--lanes", "4,x"], "--lanes", "'4,x'"),
    (["build", "M", "--board", "icebreaker", "--lanes", "4,0"], "--lanes", "per LIF layer"),
]


@pytest.mark.parametrize("argv,flag,detail", BAD_FLAGS, ids=[" ".join(a[0]) for a in BAD_FLAGS])
def test_bad_flags_are_one_line_naming_the_flag(tmp_path, capsys, argv, flag, detail):
    argv = [str(tmp_path / "m.npz") if a == "M" else a for a in argv]
    if argv[0] == "train":
        argv += ["--out", str(tmp_path / "run")]
    err = cli_error(capsys, argv)
    assert flag in err and detail in err
    assert not (tmp_path / "run").exists()  # nothing written, so a corrected retry runs


def test_outputs_that_cannot_be_written(tmp_path, capsys, model_file):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    err = cli_error(capsys, ["train", "--out", str(a_file)])
    assert f"{a_file} is a file" in err
    err = cli_error(capsys, ["train", "--out", str(a_file / "run")])
    assert f"{a_file} is a file" in err
    err = cli_error(capsys, ["export", str(tmp_path), "--out", str(tmp_path)])
    assert "is a folder" in err
    err = cli_error(capsys, ["rtl", str(model_file), "--out", str(a_file / "rtl")])
    assert "--out" in err and "is a file" in err


@pytest.mark.parametrize("name", ["a" * 300 + ".npz", "a/" * 2100 + "m.npz"])
def test_an_output_name_the_system_refuses_is_one_line(tmp_path, capsys, name):
    """A name longer than the file system's limit, or a path longer than the system's: one
    line naming the reason while the options are read (it was a traceback)."""
    err = cli_error(capsys, ["export", str(tmp_path), "--out", str(tmp_path / name)])
    assert "--out" in err and "too long" in err
    err = cli_error(capsys, ["train", "--out", str(tmp_path / name)])
    assert "--out" in err and "too long" in err


def test_read_only_output_folder(tmp_path, capsys, monkeypatch):
    # as root every folder is writable, so the permission check is what is tested
    monkeypatch.setattr(options.os, "access", lambda path, mode: False)
    err = cli_error(capsys, ["train", "--out", str(tmp_path / "run")])
    assert "not writable" in err


def test_errors_of_the_work_are_one_line(tmp_path, capsys, model_file):
    err = cli_error(capsys, ["eval", str(tmp_path / "absent.npz")])
    assert "absent.npz" in err and "no such file" in err
    err = cli_error(capsys, ["eval", str(tmp_path), "--engine", "golden"])
    assert "run folder" in err
    # a model file whose header lacks the dataset the command needs
    model = random_model(weight_bits=8)
    del model.meta["dataset"]
    save_model(model, tmp_path / "nodata.npz")
    err = cli_error(capsys, ["eval", str(tmp_path / "nodata.npz")])
    assert "meta.dataset" in err and "nothing" in err
    # ... or names data of another shape (12 inputs and 3 classes against digits' 64 and 10)
    err = cli_error(capsys, ["eval", str(model_file)])
    assert "meta.dataset" in err and "'digits' with 64 rate inputs" in err


def test_ctrl_c_is_one_line_and_exit_130(monkeypatch, capsys, model_file):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(models, "cmd_eval", interrupted)
    with pytest.raises(SystemExit) as info:
        main(["eval", str(model_file)])
    assert info.value.code == 130
    assert capsys.readouterr().err == "stablespike: interrupted\n"


def test_train_seed_is_checked_before_the_run_folder_is_made(tmp_path):
    from sw.train import Trainer
    from sw.train_config import TrainConfig

    with pytest.raises(ValueError, match="seed"):
        Trainer(TrainConfig(seed=-1, epochs=1), tmp_path / "run")
    assert not (tmp_path / "run").exists()
    assert json.dumps(TrainConfig().__dict__)  # the defaults stay valid JSON


def test_eval_per_sample_and_noise_seed(tmp_path, capsys):
    from sw import golden
    from sw.data import load_dataset

    from ..random_models import random_conv_model

    model = random_conv_model(input_shape=(2, 8, 8), dense=(5,), classes=10, threshold=20)
    save_model(model, tmp_path / "c.npz")
    data = load_dataset(model.meta["dataset"], model.timesteps)
    lines = tmp_path / "per-sample.jsonl"
    argv = ["eval", str(tmp_path / "c.npz"), "--mode", "noise", "--limit", "7", "--json"]
    main(argv + ["--noise-seed", "9", "--per-sample", str(lines)])
    summary = json.loads(capsys.readouterr().out)
    records = [json.loads(line) for line in lines.read_text().splitlines()]
    expected = golden.run(model, data.test_x[:7], mode="noise", noise_seed=9)
    assert [r["index"] for r in records] == list(range(7))
    assert [r["scores"] for r in records] == expected.scores.tolist()
    assert [r["class"] for r in records] == expected.predictions.tolist()
    assert [r["label"] for r in records] == data.test_y[:7].tolist()
    assert summary["accuracy"] == np.mean(expected.predictions == data.test_y[:7])
    # the seed was used (the model's own gives other scores), and the synaptic events count
    # the noise spikes the readout adds
    own = golden.run(model, data.test_x[:7], mode="noise")
    assert not np.array_equal(own.scores, expected.scores)
    assert expected.readout_additions.sum() > 0
    events = sum(expected.layer_synaptic_events) + model.n_classes * (expected.readout_additions)
    assert summary["synaptic_events_per_inference"] == pytest.approx(events.mean())


def test_sigterm_stops_the_processes_the_command_started(tmp_path):
    """A SIGTERM while a command waits on a tool that started its own children (as make starts
    the compiler under the simulator runner): one line, exit 143, and no child left running."""
    import signal
    import subprocess
    import sys
    import time

    pid_file = tmp_path / "grandchild"
    script = f"""
import subprocess
from stablespike.main import stop_on_sigterm
stop_on_sigterm()
subprocess.run(["sh", "-c", "sleep 60 & echo $! > {pid_file}; wait"])
"""
    process = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not (pid_file.is_file() and pid_file.read_text().strip()):
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.05)
    grandchild = int(pid_file.read_text())
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 143
    assert process.stderr.read().strip().startswith("stablespike: terminated; stopped the")
    time.sleep(0.2)
    stat = Path(f"/proc/{grandchild}/stat")
    # gone, or a zombie no one has reaped yet (its parent, the shell, was stopped too)
    assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] in "ZX"


def test_the_command_line_builds_without_torch_or_the_hdl():
    """Every command's options (choices and defaults included) come from pure-Python modules,
    so ``--help``, ``eval`` and the board commands start without loading torch (1.5-2 s) or
    Amaranth; a command imports them when it runs."""
    import subprocess
    import sys

    script = (
        "import sys; from stablespike.main import build_parser; build_parser(); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'amaranth', 'cocotb'}))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_lanes_are_one_count_or_one_per_layer():
    assert options.LANES("16") == 16
    assert options.LANES("16,32") == (16, 32)
