"""The board top: pins, clocks and the board's logic (:class:`boards.gateware.core.BoardCore`)."""

from amaranth.hdl import ClockDomain, ClockSignal, Elaboratable, Module, ResetSignal
from amaranth.lib import io

from hw.layout import AcceleratorShape, AcceleratorVariant

from ..protocol import DEFAULT_BAUD
from .core import LINK_DOMAIN, BoardCore
from .pll import PLLSetting, add_pll, ecp5_pll, ice40_pll

__all__ = ["BoardTop"]


class BoardTop(Elaboratable):
    """Pins around :class:`boards.gateware.core.BoardCore`: the board's UART and a LED that
    lights while a byte is being sent back to the host. With ``clock_hz`` the accelerator runs
    from a PLL on the board oscillator (:mod:`boards.gateware.pll`: the closest setting at or
    below ``clock_hz``), and the link (UART and command processor) at half its frequency;
    without, both run from the oscillator."""

    def __init__(
        self,
        shape: AcceleratorShape,
        *,
        baud: int = DEFAULT_BAUD,
        variant: AcceleratorVariant = AcceleratorVariant(),
        clock_hz: float | None = None,
    ):
        self.shape, self.baud, self.variant = shape, baud, variant
        self.clock_hz = clock_hz

    def pll_setting(self, platform) -> PLLSetting | None:
        if self.clock_hz is None:
            return None
        search = ecp5_pll if platform.family == "ecp5" else ice40_pll
        return search(platform.default_clk_frequency, self.clock_hz)

    def elaborate(self, platform):
        m = Module()
        pll = self.pll_setting(platform)
        if pll is not None:
            link_hz = add_pll(m, platform, pll)
        else:  # the oscillator drives both domains (the platform's own ``sync``)
            link_hz = platform.default_clk_frequency
            m.domains.link = ClockDomain(LINK_DOMAIN)
            m.d.comb += [
                ClockSignal(LINK_DOMAIN).eq(ClockSignal("sync")),
                ResetSignal(LINK_DOMAIN).eq(ResetSignal("sync", allow_reset_less=True)),
            ]
        m.submodules.core = core = BoardCore(
            self.shape,
            divisor=int(link_hz // self.baud),
            timeout=int(link_hz // 100),  # 10 ms
            variant=self.variant,
            register_rx=platform.family == "ecp5",
        )
        uart = platform.request("uart", 0, dir="-")
        m.submodules.rx_pin = rx_pin = io.Buffer("i", uart.rx)
        m.submodules.tx_pin = tx_pin = io.Buffer("o", uart.tx)
        m.submodules.led_pin = led_pin = io.Buffer("o", platform.request("led", 0, dir="-"))
        m.d.comb += [
            core.uart_rx.eq(rx_pin.i),
            tx_pin.o.eq(core.uart_tx),
            led_pin.o.eq(~core.uart_tx),
        ]
        return m
