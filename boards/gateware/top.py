"""The board top: pins, clocks and the board's logic (:class:`boards.gateware.core.BoardCore`)."""

import math

from amaranth.build import ResourceError
from amaranth.hdl import (
    Cat,
    ClockDomain,
    ClockSignal,
    Const,
    DomainRenamer,
    Elaboratable,
    Instance,
    Module,
    ResetSignal,
    Signal,
)
from amaranth.lib import io
from amaranth.lib.cdc import AsyncFFSynchronizer, ResetSynchronizer

from hw.layout import AcceleratorShape, AcceleratorVariant

from ..clocks import PLLSetting, link_hz, pll_setting, uart_divisor
from ..protocol import DEFAULT_BAUD
from .core import LINK_DOMAIN, BoardCore
from .lights import BoardLights
from .pll import add_pll
from .reset import HOLD_SECONDS, PowerOnReset

__all__ = ["BoardTop", "RESET_BUFFER"]

#: The ECP5 cell that puts the accelerator's reset on a global network: a clock buffer, which
#: nextpnr routes to any load (flip-flops' LSR and LUT inputs alike). Its input comes from the
#: fabric, a route nextpnr's router2 did not find after its static placer (a ULX3S-25F build;
#: heap and router2, static and router1 route it): the build leaves the reset in the fabric
#: there (:func:`boards.toolchain.bitstream.reset_on_global`).
RESET_BUFFER = "DCCA"


class BoardTop(Elaboratable):
    """Pins around :class:`boards.gateware.core.BoardCore`: the board's UART and its LEDs
    (activity, heartbeat, error: :meth:`_lights`). With ``clock_hz`` the accelerator runs
    from a PLL on the board oscillator (:mod:`boards.gateware.pll`: the closest setting at or
    below ``clock_hz``), and the link (UART and command processor) at half its frequency;
    without, both run from the oscillator. Both domains stay in reset for
    :data:`boards.gateware.reset.HOLD_SECONDS` after the clock is good (configuration, or the
    PLL's lock), on both families; on the ECP5 the accelerator's reset rides a global network
    unless ``reset_on_global`` is off (:data:`RESET_BUFFER`)."""

    def __init__(
        self,
        shape: AcceleratorShape,
        *,
        baud: int = DEFAULT_BAUD,
        variant: AcceleratorVariant = AcceleratorVariant(),
        clock_hz: float | None = None,
        reset_on_global: bool = True,
    ):
        self.shape, self.baud, self.variant = shape, baud, variant
        self.clock_hz, self.reset_on_global = clock_hz, reset_on_global

    def pll_setting(self, platform) -> PLLSetting | None:
        """The PLL's setting (:func:`boards.clocks.pll_setting`), None from the oscillator."""
        return pll_setting(platform.family, platform.default_clk_frequency, self.clock_hz)

    def link_hz(self, platform) -> float:
        """The link clock (Hz): the oscillator's, or half the PLL's output."""
        return link_hz(platform.family, platform.default_clk_frequency, self.clock_hz)

    def uart_divisor(self, platform) -> int:
        """Link cycles a UART bit (:func:`boards.clocks.uart_divisor`: a
        :class:`~boards.clocks.BaudError` naming clocks that give the baud rate, when this one
        does not)."""
        return uart_divisor(
            platform.family, platform.default_clk_frequency, self.clock_hz, self.baud
        )

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = ClockDomain("sync")
        m.domains.link = ClockDomain(LINK_DOMAIN)
        pll = self.pll_setting(platform)
        if pll is not None:
            link_hz, clock_good = add_pll(m, platform, pll)
        else:  # the oscillator drives both domains
            oscillator = platform.request(platform.default_clk, dir="-")
            m.submodules.clk_pin = clk_pin = io.Buffer("i", oscillator)
            link_hz, clock_good = platform.default_clk_frequency, Const(1)
            m.d.comb += [
                ClockSignal("sync").eq(clk_pin.i),
                ClockSignal(LINK_DOMAIN).eq(clk_pin.i),
            ]
        self._hold_reset(m, clock_good, link_hz, platform.family == "ecp5" and self.reset_on_global)
        m.submodules.core = core = BoardCore(
            self.shape,
            divisor=self.uart_divisor(platform),
            timeout=int(link_hz // 100),  # 10 ms
            variant=self.variant,
            register_rx=platform.family == "ecp5",
        )
        uart = platform.request("uart", 0, dir="-")
        m.submodules.rx_pin = rx_pin = io.Buffer("i", uart.rx)
        m.submodules.tx_pin = tx_pin = io.Buffer("o", uart.tx)
        m.d.comb += [core.uart_rx.eq(rx_pin.i), tx_pin.o.eq(core.uart_tx)]
        self._lights(m, platform, core, rx_pin, link_hz)
        return m

    @staticmethod
    def _lights(m: Module, platform, core, rx_pin, link_hz: float):
        """LED 0: the link's activity; LED 1: the heartbeat (clock running, out of reset); LED
        2, where the board has it: an error (:class:`boards.gateware.lights.BoardLights`)."""
        lights = DomainRenamer(LINK_DOMAIN)(BoardLights(clock_hz=round(link_hz)))
        m.submodules.lights = lights
        m.d.comb += [
            lights.uart_rx.eq(rx_pin.i),
            lights.uart_tx.eq(core.uart_tx),
            lights.counters.eq(Cat(core.rx_overruns, core.rx_framing_errors, core.error_replies)),
        ]
        for index, light in enumerate((lights.activity, lights.alive, lights.error)):
            try:
                led = platform.request("led", index, dir="-")
            except ResourceError:
                break  # the iCEBreaker has two
            m.submodules[f"led_pin_{index}"] = pin = io.Buffer("o", led)
            m.d.comb += pin.o.eq(light)

    @staticmethod
    def _hold_reset(m: Module, clock_good, link_hz: float, reset_on_global: bool):
        """Both domains in reset until the link clock has been good for ``HOLD_SECONDS``;
        ``reset_on_global``: the accelerator's through an ECP5 :data:`RESET_BUFFER`."""
        m.domains.power_on = ClockDomain("power_on", reset_less=True, local=True)
        m.d.comb += ClockSignal("power_on").eq(ClockSignal(LINK_DOMAIN))
        hold_cycles = math.ceil(HOLD_SECONDS * link_hz)
        m.submodules.power_on = power_on = PowerOnReset(hold_cycles=hold_cycles, domain="power_on")
        m.d.comb += power_on.clock_good.eq(clock_good)
        # The accelerator's reset, synchronised, then registered once more: it asserts a cycle
        # later than the synchroniser (it starts set). The reset reaches registers all over the
        # die: on the ECP5 it rides a global network (:data:`RESET_BUFFER`), which reaches
        # every load in the same 1.8 ns (nextpnr's model); in the fabric it took 11.1 ns of
        # routing on the 34x34 net at 16,64 lanes (76.5 MHz; 88.2 on the global, seed 1), and
        # 6.6 ns at P = 16.
        synchronised = Signal()
        m.submodules.reset_sync = AsyncFFSynchronizer(
            ~power_on.ready, synchronised, o_domain="sync"
        )
        sync_reset = Signal(init=1, reset_less=True)
        m.d.sync += sync_reset.eq(synchronised)
        if reset_on_global:
            global_reset = Signal()
            m.submodules.reset_buffer = Instance(
                RESET_BUFFER, i_CLKI=sync_reset, i_CE=Const(1), o_CLKO=global_reset
            )
            m.d.comb += ResetSignal("sync").eq(global_reset)
        else:
            m.d.comb += ResetSignal("sync").eq(sync_reset)
        m.submodules.link_reset_sync = ResetSynchronizer(~power_on.ready, domain=LINK_DOMAIN)
