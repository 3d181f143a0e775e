"""The command line: bad input gives one error line naming the flag, exit code 2, and nothing
is written."""

import json

import pytest

from sw import cli
from sw.cli import main
from sw.modelfile import save_model

from .helpers import cli_error, random_model


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
    (["train", "--lr", "nan"], "--lr", "above 0"),
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


def test_read_only_output_folder(tmp_path, capsys, monkeypatch):
    # as root every folder is writable, so the permission check is what is tested
    monkeypatch.setattr(cli.os, "access", lambda path, mode: False)
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

    monkeypatch.setattr(cli, "cmd_eval", interrupted)
    with pytest.raises(SystemExit) as info:
        main(["eval", str(model_file)])
    assert info.value.code == 130
    assert capsys.readouterr().err == "stablespike: interrupted\n"


def test_train_seed_is_checked_before_the_run_folder_is_made(tmp_path):
    from sw.train import TrainConfig, Trainer

    with pytest.raises(ValueError, match="seed"):
        Trainer(TrainConfig(seed=-1, epochs=1), tmp_path / "run")
    assert not (tmp_path / "run").exists()
    assert json.dumps(TrainConfig().__dict__)  # the defaults stay valid JSON
