"""The memory estimate before synthesis, and the refusal of a net that does not fit."""

import time

import pytest

from boards.catalog import BOARDS
from boards.toolchain.bitstream import BuildError, build_board
from boards.toolchain.memory import memory_plan, memory_totals
from boards.variant import accelerator_variant, board_shape
from hw.layout import AcceleratorShape
from sw.modelfile import save_model

from ..random_models import random_conv_model, random_model

RATE = {"kind": "rate-lfsr", "seed": 3, "lfsr_width": 16, "prob_bits": 8}


def _totals(sizes, T, lanes, update_lanes, name):
    board = BOARDS[name]
    shape = AcceleratorShape(sizes=sizes, timesteps=T, lanes=lanes, update_lanes=update_lanes)
    return memory_totals(memory_plan(shape, board, accelerator_variant(board, shape)), board)


def test_estimate_matches_measured_builds():
    """The block RAMs of builds in docs/results/boards.md (nextpnr's counts): the estimate is
    within one block of each."""
    measured = [
        ((64, 128, 10), 2, 2, 1, "icebreaker", "EBR", 16),
        ((64, 128, 10), 2, 4, 1, "icebreaker", "EBR", 18),
        ((784, 128, 10), 4, 8, 1, "icebreaker", "EBR", 29),
        ((64, 128, 10), 2, 8, 8, "ulx3s-85f", "DP16KD", 9),
        ((784, 128, 10), 4, 16, 16, "ulx3s-85f", "DP16KD", 70),
    ]
    for sizes, T, P, U, board, kind, built in measured:
        assert abs(_totals(sizes, T, P, U, board)[kind]["needed"] - built) <= 1, (sizes, P)
    assert _totals((784, 128, 10), 4, 8, 1, "icebreaker")["SPRAM"]["needed"] == 4


def test_conv_weights_are_shared_in_the_plan():
    model = random_conv_model((2, 34, 34), ((16, 3, 2, 1), (32, 3, 2, 1)), timesteps=2)
    board = BOARDS["ulx3s-85f"]
    plan = memory_plan(
        shape := board_shape(model, board, 16), board, accelerator_variant(board, shape)
    )
    weights = {u.block: u for u in plan if u.name == "weights"}
    assert weights["layer0"].words == 2 * 3 * 3  # C_in k^2 Gc words of P weights
    assert weights["layer1"].words == 16 * 3 * 3 * 2
    membranes = {u.block: u for u in plan if u.name == "membranes"}
    assert membranes["layer0"].words == 17 * 17  # one word of P = 16 neurons a position


def test_lanes_per_layer_size_each_layers_memories():
    """The second conv layer at 32 lanes: its words twice as wide and half as many groups;
    the first layer's as at 16 lanes."""
    model = random_conv_model((2, 34, 34), ((16, 3, 2, 1), (32, 3, 2, 1)), timesteps=2)
    board = BOARDS["ulx3s-85f"]

    def memories(lanes):
        shape = board_shape(model, board, lanes)
        plan = memory_plan(shape, board, accelerator_variant(board, shape))
        return {(u.block, u.name.split(" x")[0]): (u.words, u.bits) for u in plan}

    uniform, wide = memories(16), memories((16, 32))
    for name in ("weights", "membranes", "accumulators", "biases"):
        assert wide["layer0", name] == uniform["layer0", name]
    assert wide["layer1", "weights"] == (16 * 3 * 3, 32 * 8)  # Gc = 1
    assert wide["layer1", "membranes"] == (9 * 9, 32 * 16)
    assert wide["layer1", "accumulators"][0] == uniform["layer1", "accumulators"][0] // 2


def test_a_net_that_does_not_fit_is_refused_before_synthesis(tmp_path):
    model = random_model(sizes=(784, 512, 10), timesteps=2, encoder=RATE)
    save_model(model, tmp_path / "big.npz")
    t0 = time.perf_counter()
    # its weights (4x the 4 SPRAMs) left for the block RAMs
    with pytest.raises(BuildError, match=r"does not fit \(822 EBR needed, 30 available") as e:
        build_board(tmp_path / "big.npz", BOARDS["icebreaker"], lanes=8, build_dir=tmp_path / "b")
    assert time.perf_counter() - t0 < 10  # no Yosys, no nextpnr
    assert "Largest: layer0 weights 50176 x 64 bits: 784 EBR" in str(e.value)
    assert not (tmp_path / "b").exists()


def test_default_lanes_are_the_boards_per_layer_within_each_conv_layers_channels():
    board = BOARDS["ulx3s-85f"]  # 8 lanes
    model = random_conv_model((2, 12, 12), ((6, 3, 2, 1), (16, 3, 1, 1)), (5,), timesteps=2)
    assert board_shape(model, board, None).lanes == (6, 8, 8)
    model = random_conv_model((2, 12, 12), ((8, 3, 2, 1), (16, 3, 1, 1)), timesteps=2)
    assert board_shape(model, board, None).lanes == 8


def test_a_few_wide_accumulator_words_are_lut_ram_on_the_ecp5():
    """The second conv layer at 64 lanes (two columns a word): 45 groups of 64 x 16-bit
    accumulators would fill 29 DP16KDs a bank a tenth deep; they are LUT RAM, the first
    layer's 153 groups stay in block RAM, and the LIF layer's memories carry the attribute."""
    from amaranth.back import rtlil

    from hw.lif import LIFLayer
    from hw.lutram_bank import COLUMN_LANES

    model = random_conv_model((2, 34, 34), ((16, 3, 2, 1), (32, 3, 2, 1)), timesteps=2)
    board = BOARDS["ulx3s-85f"]
    shape = board_shape(model, board, (32, 64), (32, 16))
    variant = accelerator_variant(board, shape)
    assert [dict(a) for a in variant.accumulator_attrs] == [{}, {"ram_style": "distributed"}]
    plan = {(u.block, u.name): u for u in memory_plan(shape, board, variant)}
    wide = plan["layer1", "accumulators x2"]
    assert (wide.words, wide.bits, wide.kind, wide.blocks) == (45, 64 * 16, "logic", 0)
    assert plan["layer0", "accumulators x2"].kind == "DP16KD"
    assert plan["layer0", "accumulators x2"].blocks > 0
    # on the iCE40 (one bank, no LUT RAM) and at 16 lanes (many groups) they stay block RAM
    for name, lanes in (("icebreaker", 16), ("ulx3s-85f", 16)):
        shape16 = board_shape(model, BOARDS[name], lanes)
        assert not any(accelerator_variant(BOARDS[name], shape16).accumulator_attrs[1])
    text = rtlil.convert(LIFLayer(shape.layer(1), variant.for_layers(2).layer(1)))
    # both banks, in columns of lanes (hw.lutram_bank)
    assert text.count('attribute \\ram_style "distributed"') == 2 * 64 // COLUMN_LANES


def test_wide_shallow_weights_are_block_ram_on_the_ecp5():
    """The first conv layer's weights at 32 lanes (30 words of 256 bits) are DP16KD, not the
    LUT RAM Yosys would pick (its read address fanned out to 128 LUT RAMs), and at 16 lanes
    beside a 64-lane layer; at 16 lanes alone and on the iCE40 they stay as they were, and the
    plan counts the blocks."""
    model = random_conv_model((2, 34, 34), ((16, 3, 2, 1), (32, 3, 2, 1)), timesteps=2)
    board = BOARDS["ulx3s-85f"]
    shape = board_shape(model, board, (32, 64), (32, 16))
    variant = accelerator_variant(board, shape)
    assert [dict(a) for a in variant.weight_attrs] == [{"ram_style": "block"}] * 2
    plan = {(u.block, u.name): u for u in memory_plan(shape, board, variant)}
    first = plan["layer0", "weights"]
    assert first.words == shape.weight_words(0) <= 32  # Yosys' LUT RAM depth
    assert (first.bits, first.kind, first.blocks) == (32 * 8, "DP16KD", 8)
    for name, lanes in (("ulx3s-85f", 16), ("icebreaker", 16)):
        narrow = board_shape(model, BOARDS[name], lanes)
        assert accelerator_variant(BOARDS[name], narrow).weight_attrs[0] == {}
    # a 16-lane first layer beside a 64-lane one: block RAM too (the wide layer's LUT RAMs
    # spread its LUT RAMs out), 4 DP16KD; on the iCE40 not
    mixed = board_shape(model, board, (16, 64), (16, 16))
    assert accelerator_variant(board, mixed).weight_attrs[0] == {"ram_style": "block"}
    plan = {
        (u.block, u.name): u for u in memory_plan(mixed, board, accelerator_variant(board, mixed))
    }
    assert (plan["layer0", "weights"].kind, plan["layer0", "weights"].blocks) == ("DP16KD", 4)
    ice = board_shape(model, BOARDS["icebreaker"], (16, 64), (16, 16))
    assert accelerator_variant(BOARDS["icebreaker"], ice).weight_attrs[0] == {}


def test_a_design_with_a_wide_layer_registers_every_layers_rows():
    """Beside a 64-lane layer the 16-lane first layer issues its rows and writes its membranes
    from registers too (``registered_rows``); a design of narrow layers does not."""
    model = random_conv_model((2, 34, 34), ((16, 3, 2, 1), (32, 3, 2, 1)), timesteps=2)
    board = BOARDS["ulx3s-85f"]
    mixed = accelerator_variant(board, board_shape(model, board, (16, 64), (16, 16)))
    assert mixed.layer(0).registered_rows and mixed.layer(1).registered_rows
    narrow = accelerator_variant(board, board_shape(model, board, 16))
    assert not narrow.layer(0).registered_rows and not narrow.layer(1).registered_rows
