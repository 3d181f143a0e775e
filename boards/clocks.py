"""Board clocks in numbers (pure Python: the host checks a baud rate without the HDL).

The PLLs: the board oscillator through a PLL, searched for the closest reachable frequency at or
below the one asked for. iCE40 (``SB_PLL40_2F_PAD``): ``f = f_in * (DIVF + 1) / ((DIVR + 1) *
2**DIVQ)`` with the phase detector at 10..133 MHz and the VCO at 533..1066 MHz (Lattice iCE40
sysCLOCK PLL guide; the same rules as icepll). ECP5 (``EHXPLLL``): ``f = f_in * CLKFB_DIV /
CLKI_DIV`` with the VCO ``f * CLKOP_DIV`` at 400..800 MHz and the phase detector at >= 3.125 MHz
(as ecppll); the half frequency comes from the secondary output ``CLKOS`` at ``CLKOS_DIV = 2 *
CLKOP_DIV`` (<= 128). (The cells themselves: :mod:`boards.gateware.pll`.)

The link: the UART and the command processor run on the oscillator, or at half the PLL's
output in PLL builds; a UART bit is a whole number of link cycles (:func:`baud_divisor`).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "PLLSetting",
    "ice40_pll",
    "ecp5_pll",
    "pll_setting",
    "link_hz",
    "MAX_BAUD_ERROR",
    "BaudError",
    "baud_divisor",
    "uart_divisor",
]

#: The ECP5 PLL's VCO range and its middle (Hz).
ECP5_VCO_MIN, ECP5_VCO_MAX, ECP5_VCO_MIDDLE = 400e6, 800e6, 600e6


@dataclass(frozen=True)
class PLLSetting:
    family: str
    f_in: float
    f_out: float
    params: dict


def ice40_pll(f_in: float, f_target: float) -> PLLSetting:
    best = None
    for divr in range(16):
        pfd = f_in / (divr + 1)
        if not 10e6 <= pfd <= 133e6:
            continue
        for divf in range(128):
            vco = pfd * (divf + 1)
            if not 533e6 <= vco <= 1066e6:
                continue
            for divq in range(1, 7):
                f = vco / 2**divq
                if f <= f_target and (best is None or f > best[0]):
                    best = (f, divr, divf, divq, pfd)
    if best is None:
        raise ValueError(f"no iCE40 PLL setting reaches {f_target / 1e6:.1f} MHz from {f_in / 1e6}")
    f, divr, divf, divq, pfd = best
    filter_range = next(
        i + 1 for i, top in enumerate((17e6, 26e6, 44e6, 66e6, 101e6, 1e12)) if pfd < top
    )
    params = {"DIVR": divr, "DIVF": divf, "DIVQ": divq, "FILTER_RANGE": filter_range}
    return PLLSetting("ice40", f_in, f, params)


def ecp5_pll(f_in: float, f_target: float) -> PLLSetting:
    """The closest ECP5 setting at or below ``f_target``; of the output dividers that reach it,
    the one whose VCO is nearest the middle of its range (600 MHz, as ecppll prefers: the
    bottom of the range, 400 MHz, leaves the loop the least margin)."""
    best = None
    for clki in range(1, 129):
        if f_in / clki < 3.125e6:
            break
        for clkfb in range(1, 129):
            f = f_in * clkfb / clki
            if f > f_target or (best is not None and f < best[0]):
                continue
            for clkop in range(1, 65):  # CLKOS_DIV = 2 * CLKOP_DIV is at most 128
                vco = f * clkop
                if not ECP5_VCO_MIN <= vco <= ECP5_VCO_MAX:
                    continue
                candidate = (f, -abs(vco - ECP5_VCO_MIDDLE), clki, clkfb, clkop)
                if best is None or candidate[:2] > best[:2]:
                    best = candidate
    if best is None:
        raise ValueError(f"no ECP5 PLL setting reaches {f_target / 1e6:.1f} MHz from {f_in / 1e6}")
    f, _, clki, clkfb, clkop = best
    params = {"CLKI_DIV": clki, "CLKFB_DIV": clkfb, "CLKOP_DIV": clkop}
    return PLLSetting("ecp5", f_in, f, params)


def pll_setting(family: str, f_in: float, clock_hz: float | None) -> PLLSetting | None:
    """The PLL setting of a ``family`` build at ``clock_hz`` from the oscillator's ``f_in`` (Hz);
    None for a build from the oscillator (``clock_hz`` None)."""
    if clock_hz is None:
        return None
    return (ecp5_pll if family == "ecp5" else ice40_pll)(f_in, clock_hz)


def link_hz(family: str, f_in: float, clock_hz: float | None) -> float:
    """The link clock (Hz): the oscillator's, or half the PLL's output."""
    pll = pll_setting(family, f_in, clock_hz)
    return f_in if pll is None else pll.f_out / 2


#: Largest difference between the baud rate asked for and the one a divisor gives (relative).
#: An 8N1 receiver that samples mid-bit tolerates about 4.5 % between the two ends in all; a
#: host adapter takes its own share (the FTDI chips round their rate too).
MAX_BAUD_ERROR = 0.02


class BaudError(ValueError):
    """No whole number of clock cycles a bit gives the baud rate within :data:`MAX_BAUD_ERROR`."""


def baud_divisor(clock_hz: float, baud: int) -> int:
    """Clock cycles a bit for ``baud`` from ``clock_hz``: the nearest whole number (at least 4).
    :class:`BaudError` when the rate it gives is more than :data:`MAX_BAUD_ERROR` off."""
    divisor = max(4, round(clock_hz / baud))
    error = clock_hz / divisor / baud - 1
    if abs(error) > MAX_BAUD_ERROR:
        raise BaudError(
            f"{baud} baud from a {clock_hz / 1e6:g} MHz clock: the nearest divisor, {divisor}, "
            f"gives {clock_hz / divisor:.0f} baud ({error:+.2%}), more than "
            f"{MAX_BAUD_ERROR:.0%} off"
        )
    return divisor


def uart_divisor(family: str, f_in: float, clock_hz: float | None, baud: int) -> int:
    """Link cycles a UART bit of a ``family`` build at ``clock_hz`` (None: the oscillator's
    ``f_in``); :class:`BaudError` naming accelerator clocks near the one asked for whose link
    clock gives ``baud``, when this one does not."""
    try:
        return baud_divisor(link_hz(family, f_in, clock_hz), baud)
    except BaudError as e:
        raise BaudError(f"{e}; {_clocks_for_baud(family, f_in, clock_hz, baud)}") from None


def _clocks_for_baud(family: str, f_in: float, clock_hz: float | None, baud: int) -> str:
    search = ecp5_pll if family == "ecp5" else ice40_pll
    asked = clock_hz or f_in
    good = set()
    for divisor in range(4, 200):  # link = clock / 2 = divisor * baud, exactly reachable
        candidate = 2 * divisor * baud
        if 0.5 * asked <= candidate <= 1.5 * asked:
            try:
                if search(f_in, candidate).f_out == candidate:
                    good.add(candidate)
            except ValueError:
                continue
    if not good:
        return f"no PLL clock near {asked / 1e6:g} MHz gives it: choose another --baud"
    nearest = [f"{f / 1e6:g}" for f in sorted(good, key=lambda f: abs(f - asked))[:4]]
    others = f" (or {', '.join(nearest[1:])})" if nearest[1:] else ""
    return f"at --clock-mhz {nearest[0]}{others} the link clock gives it exactly"
