"""How a convolutional layer's neurons fall into accumulator groups of ``P`` lanes.

Pure Python (the RTL generators, the layout and the cycle bounds share it).

``P`` divides ``C_out``: a group is ``P`` channels of one output position, ``Gc = C_out / P``
groups a position (``pack`` 1). ``P`` a multiple of ``C_out``: a group is ``Q = P / C_out``
neighbouring output columns of one row, all channels (``pack`` Q, ``Gc`` 1), *position
packing*: an input spike's weights for the ``Q`` columns are read as one word, so the layer
takes ``Q`` positions a cycle, and its update pass updates ``P`` neurons a row as well.

A packed layer is, to the expander, a convolution over *super-columns* ``j`` (columns
``j Q .. j Q + Q - 1``; ``ceil(W_out / Q)`` of them, the last one's columns past ``W_out``
are padding) with a wider kernel of ``k + (Q - 1) s`` columns and a column stride of
``Q s``: lane ``q C_out + o`` of super-column tap ``kx'`` holds ``w[o, c, ky, kx' - q s]``
(0 where ``kx' - q s`` is not a tap of the kernel). Rows are as they are. Its neurons keep
their numbers (``(oy W_out + ox) C_out + o``): a group's lane ``p`` is neuron
``base + p`` with ``base = (oy W_out + j Q) C_out``, and the padding lanes never send a spike.
"""

from __future__ import annotations

import numpy as np

from sw.numerics import ConvGeometry

__all__ = ["ConvGroups"]


class ConvGroups:
    """The groups of a conv layer of ``geometry`` at ``lanes`` (see the module).

    Raises
    ------
    ValueError
        If ``lanes`` neither divides the output channels nor is a multiple of them.
    """

    def __init__(self, geometry: ConvGeometry, lanes: int):
        C = geometry.out_channels
        if not isinstance(lanes, int) or lanes < 1 or (C % lanes and lanes % C):
            raise ValueError(
                f"lanes must divide the layer's {C} output channels or be a multiple of them, "
                f"not {lanes!r}"
            )
        self.geometry, self.lanes = geometry, lanes
        #: ``Q``: output columns a group holds
        self.pack = max(1, lanes // C)
        #: ``Gc``: groups of one position (1 when packed)
        self.burst = max(1, C // lanes)
        g, Q = geometry, self.pack
        #: super-columns a row of groups covers (the last one may hold padding columns)
        self.out_width = -(-g.out_width // Q)
        #: kernel columns of the packed kernel, and its column stride
        self.kernel_width = g.kernel + (Q - 1) * g.stride
        self.stride_width = Q * g.stride
        self.groups = g.out_height * self.out_width * self.burst
        self.weight_words = g.in_channels * g.kernel * self.kernel_width * self.burst

    def row_taps(self, y: int) -> list[tuple[int, int]]:
        """``(ky, oy)`` pairs input row ``y`` reaches, ascending ``ky``."""
        g = self.geometry
        return g.input_taps(y, g.map_height, g.out_height)

    def column_taps(self, x: int) -> list[tuple[int, int]]:
        """``(kx', j)`` pairs (packed kernel column, super-column) input column ``x`` reaches,
        ascending ``kx'``; ``kx' = x' + padding - j Q s`` for the pooled column ``x'``."""
        g = self.geometry
        pooled = x // g.pool
        if pooled >= g.map_width:
            return []
        pairs = []
        for tap in range(self.kernel_width):
            j, rem = divmod(pooled + g.padding - tap, self.stride_width)
            if rem == 0 and 0 <= j < self.out_width:
                pairs.append((tap, j))
        return pairs

    def bursts(self) -> np.ndarray:
        """Cycles each input index costs the layer's event phase, int64 [n_in]: the groups it
        adds weights to (rows reached x super-columns reached x ``Gc``)."""
        g = self.geometry
        _, y, x = g.input_coords(np.arange(g.n_in))
        rows = np.array([len(self.row_taps(r)) for r in range(g.in_height)])
        cols = np.array([len(self.column_taps(c)) for c in range(g.in_width)])
        return (rows[y] * cols[x] * self.burst).astype(np.int64)

    def weight_rows(self, weight) -> np.ndarray:
        """The weight memory's rows before packing into words: int64 [words / Gc, Gc P], row
        ``(c k + ky) k' + kx'`` the weights of every lane (see the module)."""
        g, Q, C = self.geometry, self.pack, self.geometry.out_channels
        w = np.asarray(weight, dtype=np.int64)  # [C_out, C_in, k, k]
        rows = np.zeros((g.in_channels, g.kernel, self.kernel_width, Q * C), dtype=np.int64)
        for q in range(Q):
            shift = q * g.stride
            rows[:, :, shift : shift + g.kernel, q * C : (q + 1) * C] = w.transpose(1, 2, 3, 0)
        return rows.reshape(-1, Q * C)

    def lane_biases(self, bias) -> np.ndarray:
        """The biases of a group's lanes when packed (each channel's, ``Q`` times), else the
        channels': int64 [Gc P]."""
        return np.tile(np.asarray(bias, dtype=np.int64), self.pack)

    def live_lanes(self) -> int:
        """Bit mask of the lanes of the last super-column that are neurons (not padding)."""
        g, C = self.geometry, self.geometry.out_channels
        columns = g.out_width - (self.out_width - 1) * self.pack
        return (1 << (columns * C)) - 1

    def base(self, group: int) -> int:
        """The neuron of lane 0 of ``group``."""
        g = self.geometry
        position, channel_group = divmod(group, self.burst)
        oy, j = divmod(position, self.out_width)
        return (oy * g.out_width + j * self.pack) * g.out_channels + channel_group * self.lanes
