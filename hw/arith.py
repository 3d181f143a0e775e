"""Products by constants as shifts and adds (no multiplier blocks).

Yosys infers a DSP multiplier for any product; on the ECP5 one takes 3.9-4 ns plus the routing
to and from its site, which set the clock of designs whose only products are by small constants
(the readout's ``T`` and ``T - 1``, the conv expander's reciprocals and strides). In signed-digit
form those constants have two or three nonzero digits: one or two adders.
"""

from amaranth.hdl import Const

__all__ = ["signed_digits", "times_constant"]


def signed_digits(constant: int) -> list[tuple[int, int]]:
    """``constant`` (>= 0) in non-adjacent form: ``(shift, sign)`` pairs, ``sign`` +1 or -1,
    with ``constant == sum(sign << shift)`` and the fewest nonzero digits (241 = 256 - 16 + 1)."""
    if constant < 0:
        raise ValueError(f"constant must be at least 0, not {constant!r}")
    digits, shift = [], 0
    while constant:
        if constant & 1:
            sign = 2 - (constant & 3)  # +1 if the next bit is 0, else -1 (carry upwards)
            digits.append((shift, sign))
            constant -= sign
        constant >>= 1
        shift += 1
    return digits


def times_constant(value, constant: int):
    """``value * constant`` (``value`` signed or unsigned, ``constant >= 0``) as shifted copies
    of ``value`` added and subtracted, one per signed digit of ``constant``."""
    digits = sorted(signed_digits(constant), key=lambda d: -d[1])  # additions first
    if not digits:
        return Const(0, 1)
    result = value << digits[0][0]
    for shift, sign in digits[1:]:
        result = result + (value << shift) if sign > 0 else result - (value << shift)
    return result
