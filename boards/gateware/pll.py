"""The PLL cells of the board tops (their settings are searched in :mod:`boards.clocks`).

iCE40 (``SB_PLL40_2F_PAD``): ``f = f_in * (DIVF + 1) / ((DIVR + 1) * 2**DIVQ)`` with the phase
detector at 10..133 MHz and the VCO at 533..1066 MHz (Lattice iCE40 sysCLOCK PLL guide; the
same rules as icepll). ECP5 (``EHXPLLL``): ``f = f_in * CLKFB_DIV / CLKI_DIV`` with the VCO
``f * CLKOP_DIV`` at 400..800 MHz and the phase detector at >= 3.125 MHz (as ecppll); the half
frequency comes from the secondary output ``CLKOS`` at ``CLKOS_DIV = 2 * CLKOP_DIV`` (<= 128).
"""

from __future__ import annotations

from amaranth.hdl import ClockSignal, Instance, Module, Signal

from ..clocks import PLLSetting
from .core import LINK_DOMAIN

__all__ = ["add_pll"]


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
