"""The accelerator a board builds for a model: its shape (lanes, update lanes) and its variant
(where the weights live, registered memories, the leak on multipliers). Pure Python: the build,
the simulated board and ``deploy`` all read it from here.

The arithmetic is the same in every variant; only the memories and the timing differ.
"""

from __future__ import annotations

from hw.layout import AcceleratorShape, AcceleratorVariant

from .catalog import DP16KD_GEOMETRIES, SPRAM_DEPTH, SPRAM_WIDTH, Board

__all__ = [
    "default_lanes",
    "board_shape",
    "block_ram_columns",
    "spram_layers",
    "weights_in_block_ram",
    "weights_in_spram",
    "accumulators_in_lutram",
    "accelerator_variant",
]


def default_lanes(model, board: Board) -> int | tuple[int, ...]:
    """``board``'s lanes (:attr:`Board.lanes`) for ``model``, per LIF layer: the largest count up
    to them that divides a conv layer's output channels, the board's in a dense layer (one
    count when every layer has the same)."""
    counts = [
        max(p for p in range(1, board.lanes + 1) if layer.conv.out_channels % p == 0)
        if layer.conv
        else board.lanes
        for layer in model.layers
    ]
    return counts[0] if len(set(counts)) == 1 else tuple(counts)


def board_shape(
    model, board: Board, lanes: int | tuple | None, update_lanes: int | tuple | None = None
):
    """The :class:`AcceleratorShape` ``board`` builds for ``model`` (an ``IntegerModel``) at
    ``lanes`` (one count or one per LIF layer; ``None``: :func:`default_lanes`);
    ``update_lanes`` ``None``: the board's default (:attr:`Board.update_lanes`, at most each
    layer's lanes)."""
    if lanes is None:
        lanes = default_lanes(model, board)
    shape = AcceleratorShape.from_model(model, lanes=lanes, update_lanes=update_lanes)
    if update_lanes is None and board.update_lanes:
        narrow = tuple(min(board.update_lanes, shape.lanes_of(l)) for l in range(shape.n_layers))
        shape = AcceleratorShape.from_model(model, lanes=lanes, update_lanes=narrow)
    return shape


def block_ram_columns(depth: int) -> int | None:
    """Bits of the widest DP16KD column that holds ``depth`` words in one block (``None``: up
    to 512 words, where Yosys maps a memory that way by itself, or deeper than any block).
    A LIF weight memory split into such columns (``weight_columns``) reads without a
    multiplexer across blocks after the block RAM's slow output."""
    if depth <= DP16KD_GEOMETRIES[0][1]:
        return None
    return next((bits for bits, words in DP16KD_GEOMETRIES if depth <= words), None)


def spram_layers(shape: AcceleratorShape, blocks: int) -> list[bool]:
    """Which LIF layers keep their weights in SPRAM: the largest weight memories first, as long
    as their blocks (``ceil(P*W/16) * ceil(depth/16K)`` each) fit in ``blocks``."""
    need = []
    for l in range(shape.n_layers):
        depth = shape.weight_words(l)
        width = shape.lanes_of(l) * shape.weight_bits
        need.append(-(-width // SPRAM_WIDTH) * -(-depth // SPRAM_DEPTH))
    chosen, used = [False] * shape.n_layers, 0
    for l in sorted(range(shape.n_layers), key=lambda l: -shape.weight_words(l)):
        if used + need[l] <= blocks:
            chosen[l], used = True, used + need[l]
    return chosen


#: An ECP5 accumulator bank at most this many groups deep and at least this many bits wide is
#: LUT RAM: a few words of a wide word in block RAM take a row of DP16KDs a tenth full (the
#: 34x34 net's 64-lane layer: 45 x 1,024 bits, 29 blocks a bank), a build nextpnr did not
#: route (docs/results/conv.md, session 24).
ACCUMULATOR_LUTRAM_DEPTH, ACCUMULATOR_LUTRAM_BITS = 64, 512


#: An ECP5 weight memory this many bits a word or wider is block RAM even when it is shallow
#: (a conv net's first layer: 30 words), where Yosys would take LUT RAM: the LUT RAM's read
#: address, a multiplexer of the event's and the read-back's, fans out to every
#: ``TRELLIS_DPR16X4`` of the word (128 of them at 32 lanes of 8-bit weights) across the die;
#: at 16 lanes (64 of them, below this width: the netlists of the P = 16 builds stay as they
#: are) it was the 34x34 net's critical path at 16,32 lanes, 8.1 ns of routing (77.4 MHz). A
#: block RAM registers the address itself (8 DP16KD at 32 lanes). So do the narrower words of
#: a design with a wide layer (``hw.layout.WIDE_LANES``), whose LUT RAMs that layer's spread out:
#: the 16-lane first layer's weight reads were 119 of the late endpoints of the 34x34 net at
#: 16,64 lanes (up to 10.6 ns at 120 MHz; 4 DP16KD).
WIDE_WEIGHT_BITS = 256


def weights_in_block_ram(board: Board, shape: AcceleratorShape, l: int) -> bool:
    """LIF layer ``l``'s weights are ECP5 block RAM however shallow (:data:`WIDE_WEIGHT_BITS`,
    or any layer of ``shape`` :data:`hw.layout.WIDE_LANES` wide)."""
    wide_word = shape.lanes_of(l) * shape.weight_bits >= WIDE_WEIGHT_BITS
    return board.family == "ecp5" and (wide_word or shape.has_wide_layer)


def weights_in_spram(variant: AcceleratorVariant) -> list[bool]:
    """Which LIF layers of ``variant`` keep their weights in iCE40 SPRAM."""
    return [a.get("ram_style") == "huge" for a in variant.weight_attrs]


def accumulators_in_lutram(board: Board, shape: AcceleratorShape, l: int) -> bool:
    """LIF layer ``l``'s accumulator banks are ECP5 LUT RAM (:data:`ACCUMULATOR_LUTRAM_DEPTH`)."""
    return (
        board.family == "ecp5"
        and shape.groups(l) <= ACCUMULATOR_LUTRAM_DEPTH
        and shape.lanes_of(l) * shape.acc_bits(l) >= ACCUMULATOR_LUTRAM_BITS
    )


def accelerator_variant(board: Board, shape: AcceleratorShape) -> AcceleratorVariant:
    """The accelerator variant ``board`` builds for ``shape``: iCE40 weights in SPRAM,
    registered weight memories on ECP5 (in block-RAM-deep columns) and on the iCE40 when a
    layer's weights take more than one SPRAM deep (a multiplexer follows the SPRAM outputs),
    the leak on DSP multipliers where there are enough of them; wide ECP5 weight words in block
    RAM (:func:`weights_in_block_ram`); two accumulator banks, so
    that each layer's update pass overlaps the next timestep's events, on the ECP5 (the iCE40's
    block RAM is short: the MNIST net takes 29 of its 30 blocks with one bank), in LUT RAM
    where they are a few wide words (:func:`accumulators_in_lutram`); every layer's update
    rows and membrane writes from registers in a design with a wide layer; and the
    board's RUN feed (:attr:`Board.feed_words`). The arithmetic is the same in every
    variant."""
    in_spram = spram_layers(shape, board.sprams)
    deep_spram = any(s and shape.weight_words(l) > SPRAM_DEPTH for l, s in enumerate(in_spram))

    def weight_memory(l):  # SPRAM, block RAM however shallow, or as Yosys maps it
        if in_spram[l]:
            return {"ram_style": "huge"}
        return {"ram_style": "block"} if weights_in_block_ram(board, shape, l) else {}

    return AcceleratorVariant(
        weight_attrs=[weight_memory(l) for l in range(shape.n_layers)],
        register_weights=board.registered_weights or deep_spram,
        # the leak on DSP multipliers (one per update lane and layer) where there are enough
        leak_multiplier=sum(shape.update_lanes_of(l) for l in range(shape.n_layers))
        <= board.leak_multipliers
        and shape.membrane_bits <= board.leak_multiplier_bits,
        readout_weight_columns=(
            block_ram_columns(shape.n_hidden) if board.registered_weights else None
        ),
        # (a shallow memory in one column: it is written at an address of its own, and no
        # write multiplexer lies before its reads)
        weight_columns=[
            (block_ram_columns(shape.weight_words(l)) or shape.lanes_of(l) * shape.weight_bits)
            if board.registered_weights
            else None
            for l in range(shape.n_layers)
        ],
        feed_words=board.feed_words,
        overlap_update=board.registered_weights,
        accumulator_attrs=[
            {"ram_style": "distributed"} if accumulators_in_lutram(board, shape, l) else {}
            for l in range(shape.n_layers)
        ],
        # a design with a wide layer issues every layer's rows and writes every layer's
        # membranes from registers: the 16-lane first layer's membrane write address (the
        # clear's or the write-back's row) reached its 8 block RAMs across the die on the 34x34
        # net at 16,64 lanes (5.5 ns of routing, the critical path of seed 2 at 86.6 MHz)
        registered_rows=shape.has_wide_layer,
    )
