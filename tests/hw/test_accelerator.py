"""The whole accelerator in the Amaranth simulator against the golden model."""

import numpy as np
import pytest

from hw.accelerator import Accelerator, generate_verilog
from hw.layout import AcceleratorShape, AcceleratorVariant, Select, config_writes
from sim.golden_check import sample_mismatches
from sw import golden

from ..random_models import random_conv_model, random_model
from .harness import run_accelerator

RATE = {"kind": "rate-lfsr", "seed": 3, "lfsr_width": 16, "prob_bits": 8}

CASES = [
    # sizes, T, lanes, weight_bits, reset, encoder, stall
    ((10, 7, 5), 4, 3, 8, "hard", RATE, 0.3),
    ((6, 9, 4, 3), 4, 1, 4, "subtract", None, 0.2),
    ((13, 17, 4), 1, 8, 8, "hard", RATE, 0.0),
    ((11, 5, 6, 2), 3, 4, 8, "hard", None, 0.4),
]


def check(model, x, result, mode, noise_seed=None):
    ref = golden.run(model, x, mode=mode, noise_seed=noise_seed, trace=True)
    for s, r in enumerate(result):
        mismatches = sample_mismatches(ref, s, r, skeleton=mode != "normal", noise=mode == "noise")
        assert not mismatches, mismatches[0]
    return ref


@pytest.mark.parametrize("sizes,T,lanes,wb,reset,encoder,stall", CASES)
def test_accelerator_matches_golden_in_every_mode(sizes, T, lanes, wb, reset, encoder, stall):
    check_every_mode(sizes, T, lanes, wb, reset, encoder, stall)


@pytest.mark.parametrize("case", [CASES[0], CASES[3]])
@pytest.mark.parametrize(
    "options",
    [
        {"register_weights": True},
        {"leak_multiplier": True},
        {"register_weights": True, "leak_multiplier": True},  # MNIST on the UP5K
        {"update_lanes": 1, "register_weights": True, "leak_multiplier": True},
        {"update_lanes": 1},
    ],
)
def test_board_variants_match_golden(case, options):
    """The variants the board builds choose (registered weight memories on ECP5, the leak on
    DSP multipliers, the update pass one neuron a cycle on the UP5K) compute the same."""
    check_every_mode(*case, **options)


def check_every_mode(sizes, T, lanes, wb, reset, encoder, stall, **options):
    model = random_model(
        sizes=sizes,
        timesteps=T,
        threshold=8 if wb == 4 else 30,
        encoder=encoder,
        weight_bits=wb,
        reset=reset,
    )
    rng = np.random.default_rng(len(sizes) * 10 + T)
    if encoder:
        x = rng.integers(0, 257, size=(5, sizes[0]))
    else:
        x = (rng.random((5, T, sizes[0])) < 0.5).astype(np.uint8)
        x[0] = 0
    active = 0
    for mode in ["normal", "skeleton", "noise"] if T > 1 else ["normal"]:
        noise_seed = 1234 if mode == "noise" else None
        result = run_accelerator(
            model,
            x,
            lanes=lanes,
            mode=mode,
            stall=stall,
            noise_seed=noise_seed,
            **options,
        )
        ref = check(model, x, result, mode, noise_seed)
        active += sum(int(s.sum()) for s in ref.spikes)
        assert all(r["cycles"] > 0 for r in result)
    assert active > 0


@pytest.mark.parametrize("case", [CASES[0], CASES[1]])
def test_the_cycle_count_is_the_interval_between_results(case):
    """Samples offered back to back, results taken as they come: each result's cycle count
    is the number of cycles since the previous result's last word, to the cycle (the result
    words' own cycles included). With a slow reader the cycles its words wait are left out:
    the first sample's count is the same, and the later ones, whose work went on meanwhile,
    at most as high (a lower bound there)."""
    sizes, T, lanes, wb, reset, encoder, _ = case
    model = random_model(sizes=sizes, timesteps=T, threshold=30, encoder=encoder, weight_bits=wb)
    rng = np.random.default_rng(7)
    if encoder:
        x = rng.integers(0, 257, size=(4, sizes[0]))
    else:
        x = (rng.random((4, T, sizes[0])) < 0.5).astype(np.uint8)
    result = run_accelerator(model, x, lanes=lanes)
    intervals = np.diff([r["taken_at"] for r in result])
    assert [r["cycles"] for r in result[1:]] == intervals.tolist()
    slow = run_accelerator(model, x, lanes=lanes, reader_stall=0.7)
    assert slow[0]["cycles"] == result[0]["cycles"]
    assert all(s["cycles"] <= r["cycles"] for s, r in zip(slow, result))


CONV_CASES = [
    # input shape, convs (C_out, k, stride, padding), dense widths, T, lanes, encoder, options
    ((2, 7, 6), ((4, 3, 2, 1), (4, 3, 1, 1)), (), 3, 2, None, {}),
    ((1, 8, 8), ((4, 3, 2, 1),), (6,), 2, 4, RATE, {"update_lanes": 1}),
    ((2, 9, 7), ((2, 3, 1, 1), (4, 3, 1, 1, 2)), (5,), 2, 2, None, {}),  # sum pooling
    # lanes per layer; the first layer two columns a group (position packing, hw.conv_groups)
    ((2, 7, 6), ((2, 3, 2, 1), (8, 3, 1, 1)), (5,), 2, (4, 8, 5), None, {}),
    (
        (2, 6, 5),
        ((2, 3, 1, 1), (4, 3, 2, 0)),
        (3,),
        2,
        (4, 8, 3),  # both conv layers packed, narrow update passes, forwarding
        None,
        {"register_weights": True, "weight_columns": [1, 1, None], "update_lanes": (1, 2, 1)},
    ),
    (
        (2, 6, 5),
        ((2, 3, 1, 1), (4, 3, 2, 0)),
        (),
        2,
        2,
        None,
        {
            "register_weights": True,
            "leak_multiplier": True,
            "weight_columns": [1, 1],
            "readout_weight_columns": 3,  # 3-bit columns of the readout's 24-bit words
        },
    ),
]


@pytest.mark.parametrize("input_shape,convs,dense,T,lanes,encoder,options", CONV_CASES)
def test_conv_nets_match_golden(input_shape, convs, dense, T, lanes, encoder, options):
    """Conv layers (after the encoder or the input, after each other, before a dense layer),
    in every mode, with stalls; the board variants among them."""
    model = random_conv_model(
        input_shape, convs, dense, timesteps=T, encoder=encoder, threshold=60, seed=T
    )
    n_in = model.n_inputs
    rng = np.random.default_rng(T)
    if encoder:
        x = rng.integers(0, 257, size=(3, n_in))
    else:
        x = (rng.random((3, T, n_in)) < 0.4).astype(np.uint8)
    active = 0
    for mode in ("normal", "skeleton", "noise"):
        noise_seed = 4321 if mode == "noise" else None
        result = run_accelerator(
            model, x, lanes=lanes, mode=mode, stall=0.3, noise_seed=noise_seed, **options
        )
        ref = check(model, x, result, mode, noise_seed)
        active += sum(int(s.sum()) for s in ref.spikes[1:])
    assert active > 0  # the layers after the first saw spikes


def test_skeleton_stamps_do_not_alias_over_many_steps():
    """The readout's step stamps wrap every 8 steps with 3 hidden neurons: 40 samples of T=3
    with sparse, bursty input make neurons fall silent for longer than a wrap, and every
    stable spike must still be exactly the golden model's."""
    model = random_model(sizes=(6, 3, 2), timesteps=3, threshold=30, encoder=None)
    rng = np.random.default_rng(7)
    busy = rng.random((40, 1, 1)) < 0.3  # a third of the samples have input at all
    x = ((rng.random((40, 3, 6)) < 0.6) & busy).astype(np.uint8)
    for mode in ("skeleton", "noise"):
        noise_seed = 99 if mode == "noise" else None
        result = run_accelerator(model, x, lanes=2, mode=mode, noise_seed=noise_seed)
        ref = check(model, x, result, mode, noise_seed)
        stable_spikes = int(ref.skeleton.sum())
        assert stable_spikes > 0
    silent = [s for s in range(40) if ref.spikes[0][s].sum() == 0]
    assert len(silent) >= 6  # gaps longer than a stamp wrap (8 steps) did occur


def test_config_writes_reject_a_model_of_another_shape():
    model = random_model(sizes=(10, 7, 5), timesteps=2)
    with pytest.raises(ValueError, match="do not match the accelerator"):
        config_writes(model, AcceleratorShape(sizes=(10, 8, 5), timesteps=2))


def test_shapes_need_a_distinct_lane_seed_per_input_and_counted_neuron():
    """8-bit lanes have 85 distinct seeds (gcd(0x9E37, 255) = 3): 85 rate-coded inputs and 85
    counted neurons fit, one more of either is refused (spike inputs need no lanes)."""
    AcceleratorShape(sizes=(85, 85, 5), timesteps=2, lfsr_width=8)
    AcceleratorShape(sizes=(500, 85, 5), timesteps=2, lfsr_width=8, encoder="spikes")
    with pytest.raises(ValueError, match="86 inputs need as many distinct LFSR lane seeds"):
        AcceleratorShape(sizes=(86, 8, 5), timesteps=2, lfsr_width=8)
    with pytest.raises(ValueError, match="86 readout neurons need .* has 85"):
        AcceleratorShape(sizes=(8, 86, 5), timesteps=2, lfsr_width=8, encoder="spikes")


def test_lanes_per_layer_reach_each_layer_and_equal_counts_are_one_design():
    shape = AcceleratorShape(sizes=(10, 7, 6, 5), timesteps=2, lanes=(4, 2))
    assert [shape.layer(l).lanes for l in range(2)] == [4, 2]
    assert [shape.layer(l).update_lanes for l in range(2)] == [4, 2]
    assert shape.word_bits(Select.of_layer(Select.LAYER_WEIGHT, 1)) == 2 * shape.weight_bits
    assert shape.cfg_data_bits >= 4 * shape.weight_bits
    assert AcceleratorShape.from_dict(shape.as_dict()) == shape
    assert shape.lanes_label == "4,2"
    same = AcceleratorShape(sizes=(10, 7, 6, 5), timesteps=2, lanes=(4, 4))
    assert same == AcceleratorShape(sizes=(10, 7, 6, 5), timesteps=2, lanes=4)
    assert same.lanes_label == "4"


def test_shape_validation_messages():
    with pytest.raises(ValueError, match="sizes must be"):
        AcceleratorShape(sizes=(10, 5), timesteps=2)
    with pytest.raises(ValueError, match="lanes must be a positive integer, not 0"):
        AcceleratorShape(sizes=(10, 7, 5), timesteps=2, lanes=0)
    with pytest.raises(
        ValueError, match=r"update_lanes must be a positive divisor of the lanes \(4\) of layer 0"
    ):
        AcceleratorShape(sizes=(10, 7, 5), timesteps=2, lanes=4, update_lanes=3)
    with pytest.raises(ValueError, match=r"lanes must be .* one per LIF layer \(2\), not \(4,\)"):
        AcceleratorShape(sizes=(10, 7, 6, 5), timesteps=2, lanes=(4,))
    with pytest.raises(ValueError, match=r"divisor of the lanes \(2\) of layer 1, not 4"):
        AcceleratorShape(sizes=(10, 7, 6, 5), timesteps=2, lanes=(4, 2), update_lanes=4)
    with pytest.raises(TypeError, match="shape must be an AcceleratorShape"):
        Accelerator((10, 7, 5))
    one_layer = AcceleratorVariant(weight_columns=[None])
    with pytest.raises(
        ValueError, match=r"weight_columns needs one entry per LIF layer \(2\), not 1"
    ):
        Accelerator(AcceleratorShape(sizes=(10, 7, 6, 5), timesteps=2), one_layer)
    model = random_conv_model((2, 7, 6), ((6, 3, 2, 1),))
    with pytest.raises(ValueError, match=r"conv layer 0 has 6 output channels: .* not 4 \(try 3\)"):
        AcceleratorShape.from_model(model, lanes=4)


def test_verilog_and_port_list(tmp_path):
    shape = AcceleratorShape(sizes=(10, 7, 5), timesteps=2, lanes=4)
    path = generate_verilog(shape, tmp_path)
    text = path.read_text()
    assert "module stablespike_top" in text
    import json

    ports = json.loads((tmp_path / "stablespike_top.json").read_text())["ports"]
    for name in (
        "i__payload",
        "i__valid",
        "i__ready",
        "o__payload",
        "cfg__payload",
        "trace0__valid",
        "stable__valid",
        "noise__addr",
    ):
        assert name in ports and f" {name};" in text
