"""Memory of a board build, estimated from the shape before synthesis: which block uses how
much block RAM (and SPRAM), and whether it fits the board.

Every memory of the design is listed with its words and bits a word, and mapped as Yosys maps
it: an iCE40 memory to 4-kbit block RAMs (256 x 16, 512 x 8, 1024 x 4 or 2048 x 2, the
geometry that takes the fewest blocks) or, for LIF weights marked for it, to 16 K x 16 SPRAMs;
an ECP5 memory of at most :data:`ECP5_LUTRAM_WORDS` words or :data:`ECP5_LUTRAM_BITS` bits to
LUT RAM or flip-flops (logic), as are the accumulator banks the variant puts there
(``accumulator_attrs``), a larger one to 18-kbit DP16KDs (512 x 36 .. 16 K x 1), in columns
where the build splits the weights (``weight_columns``). Checked against the builds in
docs/results/boards.md: UP5K digits P=2 / P=4 and MNIST P=8 16 / 18 / 30 EBR estimated (16 / 18
/ 29 built), ULX3S digits P=8 and MNIST P=16 9 / 70 DP16KD (9 / 70), a conv net 7 (7). Cells
are not estimated; nextpnr reports them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from hw.layout import AcceleratorShape, AcceleratorVariant
from sw import numerics

from ..catalog import DP16KD_GEOMETRIES, EBR_GEOMETRIES, SPRAM_DEPTH, SPRAM_WIDTH, Board

__all__ = ["MemoryUse", "memory_plan", "memory_totals", "format_memory_plan"]

#: ECP5 memories up to this deep, or this small, are LUT RAM or flip-flops (Yosys prefers them
#: to a DP16KD there).
ECP5_LUTRAM_WORDS, ECP5_LUTRAM_BITS = 32, 1024


@dataclass(frozen=True)
class MemoryUse:
    """One memory: ``block`` (``layer0``, ``readout``, ...), ``name``, ``words`` x ``bits``,
    and what it takes: ``blocks`` of ``kind`` (``EBR``, ``DP16KD``, ``SPRAM`` or ``logic``)."""

    block: str
    name: str
    words: int
    bits: int
    kind: str
    blocks: int


def _blocks(words: int, bits: int, geometries) -> int:
    return min(-(-bits // w) * -(-words // d) for w, d in geometries)


def _map(
    board: Board,
    block: str,
    name: str,
    words: int,
    bits: int,
    *,
    spram=False,
    columns=None,
    lutram=False,
    block_ram=False,
):
    if lutram:  # (an ECP5 memory its attributes put in LUT RAM)
        return MemoryUse(block, name, words, bits, "logic", 0)
    if board.family == "ice40":
        if spram:
            blocks = -(-bits // SPRAM_WIDTH) * -(-words // SPRAM_DEPTH)
            return MemoryUse(block, name, words, bits, "SPRAM", blocks)
        return MemoryUse(block, name, words, bits, "EBR", _blocks(words, bits, EBR_GEOMETRIES))
    if not block_ram and (words <= ECP5_LUTRAM_WORDS or words * bits <= ECP5_LUTRAM_BITS):
        return MemoryUse(block, name, words, bits, "logic", 0)
    if columns:
        full, rest = divmod(bits, columns)
        blocks = full * _blocks(words, columns, DP16KD_GEOMETRIES)
        blocks += _blocks(words, rest, DP16KD_GEOMETRIES) if rest else 0
    else:
        blocks = _blocks(words, bits, DP16KD_GEOMETRIES)
    return MemoryUse(block, name, words, bits, "DP16KD", blocks)


def memory_plan(
    shape: AcceleratorShape, board: Board, variant: AcceleratorVariant
) -> list[MemoryUse]:
    """Every memory of ``board``'s build of ``shape`` with the accelerator ``variant``
    (:func:`boards.variant.accelerator_variant`), in design order."""
    T = shape.timesteps
    plan = []
    if shape.encoder == "rate-lfsr":
        plan.append(
            _map(board, "encoder", "intensities", 2 * shape.sizes[0], numerics.PROB_BITS + 1)
        )
    for l in range(shape.n_layers):
        block = f"layer{l}"
        P, U = shape.lanes_of(l), shape.update_lanes_of(l)
        plan.append(
            _map(
                board,
                block,
                "weights",
                shape.weight_words(l),
                P * shape.weight_bits,
                spram=variant.weight_attrs[l].get("ram_style") == "huge",
                block_ram=variant.weight_attrs[l].get("ram_style") == "block",
                columns=variant.weight_columns[l],
            )
        )
        plan.append(_map(board, block, "biases", shape.bias_words(l), U * shape.bias_bits))
        plan.append(_map(board, block, "membranes", shape.rows(l), U * shape.membrane_bits))
        accumulators = _map(
            board,
            block,
            "accumulators",
            shape.groups(l),
            P * shape.acc_bits(l),
            lutram=variant.accumulator_attrs[l].get("ram_style") == "distributed",
        )
        # a bank for the event phase and one for the update pass (``overlap_update``); with
        # one bank, read through two ports in a forwarding conv layer (hw.lif): two copies
        banks = 2 if variant.overlap_update else 1
        forwarding = shape.convs[l] and variant.register_weights and shape.groups(l) > 1
        copies = 2 if forwarding and banks == 1 else 1
        if copies * banks > 1:
            accumulators = MemoryUse(
                block,
                f"accumulators x{copies * banks}",
                accumulators.words,
                accumulators.bits,
                accumulators.kind,
                copies * banks * accumulators.blocks,
            )
        plan.append(accumulators)
        # a timestep's masks, and a margin of one entry a pipeline stage (hw.lif)
        fifo_words = shape.spikes_ahead(l) + 16
        # an entry names its group (row: LayerShape.row_entries), or a packed conv layer's
        # first neuron (hw.lif)
        layer = shape.layer(l)
        named = shape.sizes[l + 1] if layer.pack > 1 else layer.entries
        entry_bits = layer.entry_lanes + named.bit_length() + 1
        plan.append(_map(board, block, "spike FIFO", fifo_words, entry_bits))
    H, C = shape.n_hidden, shape.n_classes
    stamp_bits = max(1, (H + 2).bit_length())
    plan += [
        _map(
            board,
            "readout",
            "weights",
            H,
            C * shape.weight_bits,
            columns=variant.readout_weight_columns,
        ),
        _map(board, "readout", "biases", C, shape.bias_bits),
        _map(board, "readout", "stable counts", H, max(1, (T - 1).bit_length())),
        _map(board, "readout", "step stamps", H, stamp_bits),
    ]
    words = shape.sizes[0] if shape.encoder == "rate-lfsr" else T * (shape.sizes[0] + 1)
    plan.append(_map(board, "link", "frame buffer", words, 16))
    if variant.feed_words == 2:  # a copy for the second read port (boards.gateware.command)
        plan.append(_map(board, "link", "frame buffer, second read", words, 16))
    plan.append(_map(board, "link", "UART FIFOs", 512, 8))
    return plan


def memory_totals(plan: list[MemoryUse], board: Board) -> dict:
    """``{kind: {"needed", "available"}}`` for the board's block RAM and SPRAM."""
    totals = {board.block_ram: {"needed": 0, "available": board.block_rams}}
    if board.sprams:
        totals["SPRAM"] = {"needed": 0, "available": board.sprams}
    for use in plan:
        if use.kind in totals:
            totals[use.kind]["needed"] += use.blocks
    return totals


def format_memory_plan(plan: list[MemoryUse], board: Board) -> str:
    """A table of the memories per block, and the totals against the board's."""
    lines = [f"{'block':<9} {'memory':<14} {'words':>7} x {'bits':<5} {'kind':<7} blocks"]
    for use in plan:
        lines.append(
            f"{use.block:<9} {use.name:<14} {use.words:>7} x {use.bits:<5} {use.kind:<7} "
            f"{use.blocks}"
        )
    for kind, t in memory_totals(plan, board).items():
        lines.append(f"{kind}: {t['needed']} of {t['available']} (estimate)")
    return "\n".join(lines)


def as_json(plan: list[MemoryUse]) -> list[dict]:
    return [asdict(use) for use in plan]
