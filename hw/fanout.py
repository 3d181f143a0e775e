"""Registered copies of a value, one per lane, to cut its fan-out.

A configuration register (the leak shift, say) drives the same logic in every lane; on the ECP5
the route from the one register to lanes all over the die was the 34x34 net's critical path
(5.2 ns of its 9.2). Each lane gets a register of its own instead, a cycle later (configuration
values are written while the accelerator is idle, long before they are used; a value that
changes, such as the LIF forwarding's selects, is copied a stage before its use). Yosys merges
registers with the same input, so lane ``k``'s register holds ``value ^ k`` and is read as
``register ^ k``: the XOR with a constant costs nothing in the LUTs that read it.

Yosys maps registers bit by bit and then merges again, so each bit would keep two registers,
the bit and its complement, shared by the lanes (the 34x34 net's first layer at P = 16 kept
the registers of lanes 0, 1, 2, 4 and 8 of ``same_at_sum``; at 32,64 lanes one of them drove
16 lanes' adders across the die, 10.7 ns of routing). So the copies carry :data:`KEPT_COPY`,
as the LUT-RAM banks' registers (``hw.lutram_bank``), and the ECP5 build keeps every one.
(The iCE40 build does not: there the XOR keeps two registers a bit.)

A value that stays put for many cycles (a configuration register) may take two levels of
copies (``levels=2``): a few branch registers, each copied by its lanes, two cycles late. The
one register of a wide layer's threshold reached a lane's copy across the die with 12.9 ns of
routing (the 34x34 net at 16,64 lanes); a branch register lets the placer put a stop halfway.
"""

from math import isqrt

from amaranth.hdl import Signal

__all__ = ["KEPT_COPY", "lane_copies"]

#: Wire attribute: the register driving this wire is a copy that synthesis must not merge
#: (the ECP5 build keeps it: ``boards.toolchain.bitstream.KEEP_COPIES``).
KEPT_COPY = "stablespike_kept_copy"


def _registers(m, values, name: str) -> list:
    """A kept register for each of ``values``, ``k``'s holding ``values[k] ^ k``; read back
    as the values a cycle later."""
    copies = []
    for k, value in enumerate(values):
        mask = k % (1 << len(value))
        register = Signal(len(value), name=f"{name}{k}", reset_less=True, attrs={KEPT_COPY: 1})
        m.d.sync += register.eq(value ^ mask)
        copies.append(register ^ mask)
    return copies


def lane_copies(m, value, lanes: int, name: str, *, levels: int = 1) -> list:
    """``lanes`` values equal to ``value`` ``levels`` cycles later, each from a register of its
    own; with ``levels=2`` through ``isqrt(lanes)`` branch registers (lane ``k`` reads branch
    ``k * branches // lanes``)."""
    if levels not in (1, 2):
        raise ValueError(f"lane copies take 1 or 2 levels of registers, not {levels}")
    if levels == 1:
        return _registers(m, [value] * lanes, f"{name}_lane")
    branches = _registers(m, [value] * isqrt(lanes), f"{name}_branch")
    return _registers(
        m, [branches[k * len(branches) // lanes] for k in range(lanes)], f"{name}_lane"
    )
