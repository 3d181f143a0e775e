"""Board clocks: the board oscillator through a PLL, searched for the closest reachable frequency
at or below the one asked for.

iCE40 (``SB_PLL40_2F_PAD``): ``f = f_in * (DIVF + 1) / ((DIVR + 1) * 2**DIVQ)`` with the phase
detector at 10..133 MHz and the VCO at 533..1066 MHz (Lattice iCE40 sysCLOCK PLL guide; the
same rules as icepll). ECP5 (``EHXPLLL``): ``f = f_in * CLKFB_DIV / CLKI_DIV`` with the VCO
``f * CLKOP_DIV`` at 400..800 MHz and the phase detector at >= 3.125 MHz (as ecppll); the half
frequency comes from the secondary output ``CLKOS`` at ``CLKOS_DIV = 2 * CLKOP_DIV`` (<= 128).
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import ClockSignal, Instance, Module, Signal

from .core import LINK_DOMAIN

__all__ = ["PLLSetting", "ice40_pll", "ecp5_pll", "add_pll"]

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


def add_pll(m: Module, platform, setting: PLLSetting) -> tuple[float, Signal]:
    """Drive the clocks of the ``sync`` and ``link`` domains (added to ``m`` by the caller, with
    their resets) from a PLL on the board oscillator: ``link``
    (:data:`boards.gateware.core.LINK_DOMAIN`) at half the frequency of ``sync``, from the PLL's
    second output (the UART and the command processor need far less than the accelerator's
    clock). Returns the ``link`` clock's frequency (Hz) and the PLL's lock signal."""
    clk_in = platform.request(platform.default_clk, dir="-")
    link_clk, clk_out = ClockSignal(LINK_DOMAIN), Signal()
    lock = Signal()
    p = setting.params
    link_hz = setting.f_out / 2
    if setting.family == "ice40":
        m.submodules.pll = Instance(
            "SB_PLL40_2F_PAD",
            p_FEEDBACK_PATH="SIMPLE",
            p_DIVR=p["DIVR"],
            p_DIVF=p["DIVF"],
            p_DIVQ=p["DIVQ"],
            p_FILTER_RANGE=p["FILTER_RANGE"],
            p_PLLOUT_SELECT_PORTA="GENCLK_HALF",
            p_PLLOUT_SELECT_PORTB="GENCLK",
            i_PACKAGEPIN=clk_in.io,
            i_RESETB=1,
            i_BYPASS=0,
            o_PLLOUTGLOBALA=link_clk,
            o_PLLOUTGLOBALB=clk_out,
            o_LOCK=lock,
        )
    else:
        from amaranth.lib import io

        m.submodules.clk_in = clk_buf = io.Buffer("i", clk_in)
        m.submodules.pll = Instance(
            "EHXPLLL",
            p_PLLRST_ENA="DISABLED",
            p_INTFB_WAKE="DISABLED",
            p_STDBY_ENABLE="DISABLED",
            p_DPHASE_SOURCE="DISABLED",
            p_OUTDIVIDER_MUXA="DIVA",
            p_CLKI_DIV=p["CLKI_DIV"],
            p_CLKFB_DIV=p["CLKFB_DIV"],
            p_CLKOP_ENABLE="ENABLED",
            p_CLKOP_DIV=p["CLKOP_DIV"],
            p_CLKOP_CPHASE=p["CLKOP_DIV"] - 1,
            p_CLKOP_FPHASE=0,
            p_CLKOS_ENABLE="ENABLED",
            p_CLKOS_DIV=2 * p["CLKOP_DIV"],
            p_CLKOS_CPHASE=2 * p["CLKOP_DIV"] - 1,
            p_CLKOS_FPHASE=0,
            p_FEEDBK_PATH="CLKOP",
            i_RST=0,
            i_STDBY=0,
            i_CLKI=clk_buf.i,
            i_CLKFB=clk_out,
            i_PHASESEL0=0,
            i_PHASESEL1=0,
            i_PHASEDIR=1,
            i_PHASESTEP=1,
            i_PHASELOADREG=1,
            i_PLLWAKESYNC=0,
            i_ENCLKOP=0,
            o_CLKOP=clk_out,
            o_CLKOS=link_clk,
            o_LOCK=lock,
            a_FREQUENCY_PIN_CLKI=f"{setting.f_in / 1e6:g}",
            a_FREQUENCY_PIN_CLKOP=f"{setting.f_out / 1e6:g}",
            a_FREQUENCY_PIN_CLKOS=f"{link_hz / 1e6:g}",
            a_ICP_CURRENT="12",
            a_LPF_RESISTOR="8",
            a_MFG_ENABLE_FILTEROPAMP="1",
            a_MFG_GMCREF_SEL="2",
        )
    m.d.comb += ClockSignal("sync").eq(clk_out)
    # No explicit constraint: nextpnr derives the output clock from the PLL's parameters (a
    # constraint on the domain's clock net is dropped, as that net is renamed in synthesis).
    return link_hz, lock
