"""cocotb on Verilator and Icarus: generated RTL against the golden model, bit for bit."""

import dataclasses
import json

import numpy as np
import pytest

from boards.catalog import BOARDS
from boards.variant import accelerator_variant
from hw.layout import AcceleratorShape, AcceleratorVariant
from sim.runner import SimulationError, run_cosim
from stablespike.main import main
from sw.modelfile import load_model, save_model

from ..random_models import random_conv_model, random_model

RATE = {"kind": "rate-lfsr", "seed": 5, "lfsr_width": 16, "prob_bits": 8}


@pytest.fixture(scope="module")
def digits_model(tmp_path_factory):
    """A digits net trained for a few epochs and exported at 8-bit weights."""
    root = tmp_path_factory.mktemp("digits")
    main(
        [
            "train",
            "--dataset",
            "digits",
            "--timesteps",
            "2",
            "--epochs",
            "4",
            "--out",
            str(root / "run"),
            "--quiet",
        ]
    )
    main(
        [
            "export",
            str(root / "run"),
            "--out",
            str(root / "m.npz"),
            "--finetune-epochs",
            "1",
            "--quiet",
        ]
    )
    return root / "m.npz"


def test_digits_on_verilator_with_stalls(digits_model, tmp_path):
    result = run_cosim(
        digits_model, simulator="verilator", samples=300, stall=0.3, build_dir=tmp_path
    )
    inference = result.inference
    assert inference["samples"] == 300 and inference["errors"] == 0
    assert inference["accuracy"] > 0.7
    assert result.tests["reset_mid_inference"]["errors"] == 0
    # Event-driven: far below the dense cost of T * (64*128 + 128*10) accumulates.
    assert inference["cycles_per_inference"] < 2 * 64 * 128 / 8


@pytest.mark.parametrize("board", ["icebreaker", "ulx3s-85f", "ulx3s-85f-1-bit-columns"])
def test_board_variants_on_verilator(digits_model, tmp_path, board):
    """The variant each board builds (leak on DSP multipliers; registered weight memories and
    their read-back a cycle later) in every mode, read back, reset mid-inference. With 1-bit
    columns (32 of them, as MNIST's 64 at P=16) the weights are registered twice."""
    variant = accelerator_variant(
        BOARDS[board.removesuffix("-1-bit-columns")],
        AcceleratorShape.from_model(load_model(digits_model), lanes=4),
    )
    assert variant.leak_multiplier != variant.register_weights
    # ECP5: the 2,048-word weight memory in 9-bit columns, one DP16KD deep each
    assert variant.weight_columns == ((9,) if variant.register_weights else (None,))
    if board.endswith("-1-bit-columns"):
        variant = dataclasses.replace(variant, weight_columns=[1])
    for mode in ("normal", "noise"):
        result = run_cosim(
            digits_model,
            simulator="verilator",
            samples=40,
            stall=0.3,
            mode=mode,
            lanes=4,
            build_dir=tmp_path,
            variant=variant,
        )
        assert {name: t["errors"] for name, t in result.tests.items()} == {
            "inference": 0,
            "read_back": 0,
            "reset_mid_inference": 0,
        }


@pytest.mark.parametrize("mode,fast", [("skeleton", False), ("noise", True)])
def test_digits_modes_on_icarus(digits_model, tmp_path, mode, fast):
    """Both modes; the skeleton with Python driving and watching every cycle, the noise in the
    Verilog harness (sim.harness): the two paths check the same things."""
    result = run_cosim(
        digits_model,
        simulator="icarus",
        samples=12,
        stall=0.2,
        mode=mode,
        build_dir=tmp_path,
        tests=("inference",),
        fast=fast,
    )
    assert result.inference["errors"] == 0
    assert result.inference["bit_exact"] == 12


ODD_MODELS = [
    # sizes, T, weight bits, lanes, encoder, reset
    ((23, 13, 5), 3, 4, 4, None, "hard"),
    ((17, 11, 9, 3), 2, 8, 3, RATE, "subtract"),
    ((9, 19, 4), 4, 8, 8, None, "hard"),
]


@pytest.mark.parametrize("simulator", ["verilator", "icarus"])
@pytest.mark.parametrize("sizes,T,wb,lanes,encoder,reset", ODD_MODELS)
def test_random_models_with_odd_sizes(tmp_path, simulator, sizes, T, wb, lanes, encoder, reset):
    model = random_model(
        sizes=sizes,
        timesteps=T,
        weight_bits=wb,
        encoder=encoder,
        reset=reset,
        threshold=8 if wb == 4 else 40,
        seed=T,
    )
    model.meta = {}
    save_model(model, tmp_path / "m.npz")
    result = run_cosim(
        tmp_path / "m.npz",
        simulator=simulator,
        samples=24,
        lanes=lanes,
        stall=0.3,
        mode="noise" if T > 1 else "normal",
        build_dir=tmp_path,
        seed=7,
    )
    assert result.inference["errors"] == 0
    assert result.tests["reset_mid_inference"]["errors"] == 0


CONV_MODELS = [
    # simulator, input shape, convs (C_out, k, stride, padding[, pool]), dense widths, T, lanes,
    # encoder (the RTL is the same on both simulators: each runs one of the two nets)
    # (the first layer two columns a group: position packing, hw.conv_groups)
    ("icarus", (2, 9, 7), ((4, 3, 2, 1), (4, 3, 1, 1, 2)), (), 2, (8, 2), None),
    ("verilator", (1, 8, 8), ((4, 3, 1, 1), (8, 3, 2, 1, 2)), (5,), 3, 4, RATE),
]


@pytest.mark.parametrize("simulator,input_shape,convs,dense,T,lanes,encoder", CONV_MODELS)
def test_conv_models(tmp_path, simulator, input_shape, convs, dense, T, lanes, encoder):
    """Conv nets (pooling, a dense layer after the convs, the encoder in front) on both
    simulators: every layer's spikes, the skeleton and noise, read-back of the shared weights,
    a reset mid-inference."""
    model = random_conv_model(
        input_shape, convs, dense, timesteps=T, encoder=encoder, threshold=60, seed=T
    )
    model.meta = {}
    save_model(model, tmp_path / "m.npz")
    result = run_cosim(
        tmp_path / "m.npz",
        simulator=simulator,
        samples=16 if simulator == "icarus" else 40,
        lanes=lanes,
        stall=0.3,
        mode="noise",
        build_dir=tmp_path,
        seed=3,
    )
    assert {name: t["errors"] for name, t in result.tests.items()} == {
        "inference": 0,
        "read_back": 0,
        "reset_mid_inference": 0,
    }
    assert result.tests["read_back"]["words"] > 0
    assert result.inference["cycles_per_inference"] >= result.bounds["bottleneck"]


def test_a_wrong_golden_trace_is_reported_with_its_location(digits_model, tmp_path, monkeypatch):
    """The checker can fail: corrupt one golden spike and expect sample/layer/timestep/neuron."""
    import sim.runner as runner

    original = runner.prepare_stimulus

    def corrupted(*args, **kwargs):
        path, bounds, source = original(*args, **kwargs)
        meta = json.loads(path.read_text())
        arrays = dict(np.load(meta["arrays"]))
        arrays["spikes0"][1, 0, 5] ^= 1
        np.savez(meta["arrays"], **arrays)
        return path, bounds, source

    monkeypatch.setattr(runner, "prepare_stimulus", corrupted)
    with pytest.raises(SimulationError, match="sample 1: layer 0, timestep 0, neuron 5"):
        run_cosim(
            digits_model, simulator="verilator", samples=3, build_dir=tmp_path, tests=("inference",)
        )


def test_cli_rtl_and_sim(digits_model, tmp_path, capsys):
    main(["rtl", str(digits_model), "--lanes", "4", "--out", str(tmp_path / "rtl")])
    ports = json.loads((tmp_path / "rtl" / "stablespike_top.json").read_text())
    assert ports["shape"]["lanes"] == 4 and "o__payload" in ports["ports"]
    capsys.readouterr()
    main(
        [
            "sim",
            str(digits_model),
            "--samples",
            "10",
            "--lanes",
            "4",
            "--build-dir",
            str(tmp_path / "b"),
        ]
    )
    out = capsys.readouterr().out
    assert "10/10 samples bit-exact" in out and "cycles/inference" in out


def test_bench_rtl_report(digits_model, tmp_path):
    from sim.bench import bench_rtl

    result = bench_rtl(
        digits_model,
        lanes=(2, 8),
        samples=6,
        icarus_samples=3,
        out_dir=tmp_path,
        build_dir=tmp_path / "b",
    )
    assert [r["lanes"] for r in result["lanes"]] == [2, 8]
    assert all(r["bit_exact"] for r in result["lanes"] + result["speed"])
    # More lanes, fewer cycles; never below the bottleneck bound.
    assert result["lanes"][1]["cycles"] < result["lanes"][0]["cycles"]
    assert all(r["cycles"] >= r["bottleneck"] for r in result["lanes"])
    assert "| 8 | 6 | yes |" in (tmp_path / "rtl-m.md").read_text()

    from sim.bench import bench_speed

    speed = bench_speed(
        digits_model,
        lanes=8,
        samples=6,
        icarus_samples=3,
        out_dir=tmp_path,
        build_dir=tmp_path / "b",
    )
    drivers = [(r["simulator"], r["driver"]) for r in speed["rtl"]]
    assert drivers == [(s, d) for s in ("verilator", "icarus") for d in ("python", "harness")]
    assert all(r["bit_exact"] and r["cycles_per_s"] > 0 for r in speed["rtl"])
    hashes = {r["scores_sha256"] for r in speed["golden"]}
    assert len(hashes) == 1 and len(speed["golden"]) == 2  # float64 and int64 products agree
    assert "| icarus | harness | 3 | yes |" in (tmp_path / "speed-m.md").read_text()


def test_bench_sparsity_report(tmp_path):
    """Two conv models of one shape, the second with a higher threshold (sparser): fewer
    synaptic events and fewer cycles, both bit-exact."""
    from sim.bench import bench_sparsity

    paths = []
    for name, threshold in (("dense", 30), ("sparse", 90)):
        model = random_conv_model(
            (2, 8, 8),
            ((4, 3, 1, 1), (4, 3, 2, 1)),
            classes=10,
            timesteps=2,
            threshold=threshold,
            seed=1,
        )
        save_model(model, tmp_path / f"{name}.npz")
        paths.append(tmp_path / f"{name}.npz")
    result = bench_sparsity(
        paths,
        name="t",
        lanes=(8, 2),  # the first layer two columns a group
        update_lanes=(4, 2),  # its update pass two rows a group
        samples=8,
        limit=40,
        board=BOARDS["ulx3s-85f"],  # its variant: weight registers, forwarding
        out_dir=tmp_path,
        build_dir=tmp_path / "b",
    )
    dense, sparse = result["rows"]
    assert dense["bit_exact"] and sparse["bit_exact"]
    assert sparse["synaptic_events_per_inference"] < dense["synaptic_events_per_inference"]
    assert sparse["cycles"] < dense["cycles"]
    report = (tmp_path / "sparsity-t.md").read_text()
    assert "| sparse.npz | - | - | " in report  # no training meta
    assert "P = 8,2 (U = 4,2) in the ulx3s-85f build's variant" in report
    assert (tmp_path / "sparsity-t.png").stat().st_size > 1000


def _bit_exact_cycles(tmp_path, model, configs: dict) -> tuple[dict, dict]:
    """Verilator runs of ``model`` (30 samples) for each ``configs`` entry (``run_cosim``
    keywords), each checked bit-exact and at or above its own bound: the runs and their cycles
    per inference, by key."""
    model.meta = {}
    save_model(model, tmp_path / "m.npz")
    runs = {
        key: run_cosim(
            tmp_path / "m.npz", samples=30, build_dir=tmp_path, tests=("inference",), **options
        )
        for key, options in configs.items()
    }
    cycles = {k: r.inference["cycles_per_inference"] for k, r in runs.items()}
    assert all(r.inference["errors"] == 0 for r in runs.values())
    assert all(cycles[k] >= runs[k].bounds["bottleneck"] for k in runs)
    return runs, cycles


def test_the_update_pass_beside_the_next_timestep_takes_fewer_cycles(tmp_path):
    """Two accumulator banks (the default) against one (the iCE40's): the same spikes to the
    bit, fewer cycles an inference, and neither below its own bound (with two banks a layer's
    update pass is a unit of its own)."""
    model = random_conv_model((2, 8, 8), ((8, 3, 2, 1), (8, 3, 1, 1)), (), timesteps=3, seed=2)
    runs, cycles = _bit_exact_cycles(
        tmp_path,
        model,
        {
            overlap: {"lanes": 4, "variant": AcceleratorVariant(overlap_update=overlap)}
            for overlap in (False, True)
        },
    )
    assert "layer0 update" in runs[True].bounds["units"]
    assert cycles[True] < 0.95 * cycles[False], cycles


@pytest.mark.slow  # (bench sparsity at packed lanes: test_bench_sparsity_report, default run)
def test_packed_conv_layers_take_fewer_cycles_with_the_same_spikes(tmp_path):
    """Lanes per layer, twice each layer's channels (two output columns a group, hw.conv_groups)
    against as many as the channels: bit-exact both, fewer cycles, neither below its bound."""
    model = random_conv_model((2, 10, 10), ((4, 3, 2, 1), (8, 3, 1, 1)), (), timesteps=2, seed=5)
    _, cycles = _bit_exact_cycles(
        tmp_path,
        model,
        {
            lanes: {"lanes": lanes, "variant": AcceleratorVariant(register_weights=True)}
            for lanes in ((4, 8), (8, 16))
        },
    )
    assert cycles[8, 16] < 0.8 * cycles[4, 8], cycles
