"""Host client: identify the board, load a model, run samples; over a serial port or against a
simulated board (:class:`sim.simboard.SimulatedLink`,
:class:`sim.board_link.VerilatorBoardLink`: any object with ``transact``).

Links move whole batches of frames, as many on the wire as the board's receive buffer allows
(:class:`~boards.host.messages.SendWindow`), which keeps a 3 Mbaud cable busy and lets the
simulated board run without per-frame round trips.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

import numpy as np

from hw.layout import AcceleratorShape

from ..protocol import (
    Command,
    Frame,
    FrameDecoder,
    FrameError,
    Status,
    encode_frame,
    identify_payload,
    parse_status,
)
from .messages import (
    Result,
    SendWindow,
    commit_frame,
    load_blocks,
    parse_result,
    run_frame,
)

__all__ = ["SerialLink", "BoardClient", "DeviceError", "progress_bar"]


def progress_bar(total: int, where: str):
    """Replies received so far (shown on a terminal only)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=f"frames to {where}", unit="frame", disable=None, leave=False)


class DeviceError(RuntimeError):
    """The board answered with an error, the wrong thing, or not at all."""


class SerialLink:
    """A serial port (pyserial) at ``baud``; ``timeout`` seconds without a byte is a failure.

    ``wait_seconds``: how long to wait for the port to appear (it vanishes while a board is
    programmed: openFPGALoader unbinds the kernel's serial driver from the FTDI chip and binds it
    again when it exits, so ``/dev/ttyUSB0`` comes back a moment later); 0 fails at once. The port
    is put into low-latency mode where the OS allows it (``low_latency``): otherwise the Linux
    FTDI driver holds a short reply for up to 16 ms."""

    persistent = True
    #: Seconds between attempts to open a port that is not there (yet).
    RETRY_SECONDS = 0.25

    def __init__(
        self,
        port: str,
        *,
        baud: int,
        timeout: float = 2.0,
        connection=None,
        wait_seconds: float = 0.0,
        opener=None,
        progress=None,
    ):
        """``connection``: an open pyserial-like object to use instead of opening ``port``;
        ``opener``: what opens it (``serial.Serial``'s arguments); ``progress``: one line when
        it starts waiting."""
        if connection is None:
            connection = self._open(port, baud, timeout, wait_seconds, opener, progress)
        self.port = connection
        self.resynchronised = 0  # times the replies lost step with the frames
        self.low_latency = False
        set_low_latency = getattr(connection, "set_low_latency_mode", None)
        if set_low_latency is not None:
            try:
                set_low_latency(True)
                self.low_latency = True
            except (OSError, ValueError, NotImplementedError):
                pass  # not a tty that has it (a USB-serial bridge without the ioctl)

    @classmethod
    def _open(cls, port, baud, timeout, wait_seconds, opener, progress):
        import serial

        opener = opener or serial.Serial
        deadline = time.monotonic() + wait_seconds
        waiting = False
        while True:
            try:
                return opener(port, baudrate=baud, timeout=timeout)
            except (serial.SerialException, OSError, ValueError) as e:
                if time.monotonic() >= deadline:
                    after = (
                        f"; it did not come back within {wait_seconds:g} s after programming: "
                        f"unplug the board and plug it in again (docs/boards.md)"
                        if waiting
                        else ""
                    )
                    raise DeviceError(
                        f"no answer from {port}: it does not open as a serial port ({e}){after}"
                    ) from None
                if not waiting and progress is not None:
                    progress(
                        f"waiting for {port} to come back (the loader re-binds the board's "
                        f"serial driver after programming)"
                    )
                waiting = True
                time.sleep(cls.RETRY_SECONDS)

    def transact(self, frames: list[bytes], n_replies: int) -> list:
        """Send ``frames`` (as many on the wire as the board's receive buffer allows) and
        collect their ``n_replies`` replies, which come back in order.

        Replies are matched to frames by their order, so after the first reply that arrives
        damaged, or a silence of ``timeout`` seconds once replies have come, the rest cannot be
        matched (a damaged length swallows the replies behind it): the link stops sending,
        reads until the line is quiet, and gives every frame from that one on a
        :class:`~boards.protocol.FrameError` (``BAD_CRC``, or ``TIMEOUT`` for silence), which
        the client sends again. Not a byte back is a :class:`DeviceError` (a dead board or a
        wrong port)."""
        decoder, replies, window = FrameDecoder(), [], SendWindow()
        queue = list(reversed(frames))
        with progress_bar(n_replies, self.port.port) as bar:
            try:
                lost = self._serve(queue, decoder, replies, window, n_replies, bar)
            except OSError as e:  # pyserial's SerialException is one
                raise DeviceError(
                    f"no answer from {self.port.port}: {len(replies)} of {n_replies} replies ({e})"
                ) from None
        self.resynchronised += lost is not None
        return replies + [lost] * (n_replies - len(replies))

    def _serve(self, queue, decoder, replies, window, n_replies, bar) -> FrameError | None:
        """Replies into ``replies`` until all came (None) or the line lost step (the
        FrameError that the unmatched frames get)."""
        heard = False
        while len(replies) < n_replies:
            while queue and window.fits(len(queue[-1])):
                frame = queue.pop()
                self.port.write(frame)
                window.sent(len(frame))
            chunk = self.port.read(max(1, self.port.in_waiting))
            if not chunk:
                if not heard:
                    raise DeviceError(f"no answer from {self.port.port}: 0 of {n_replies} replies")
                return FrameError(Status.TIMEOUT, None)
            heard = True
            for reply in decoder.feed(chunk):
                if isinstance(reply, FrameError):
                    self._drain()
                    return reply
                replies.append(reply)
                window.answered()
                bar.update()
        return None

    def _drain(self):
        """Read until the line is quiet: the replies still on their way are not matched."""
        while self.port.read(max(1, self.port.in_waiting)):
            pass


@dataclass
class Session:
    """What one session with the board gave: the load (writes, words read back and the hash of
    the read-back), the host time and a result per sample."""

    writes: int
    load_bytes: tuple  # (to the board, from the board) for identify, writes and read-back
    verified_words: int
    readback_sha256: str
    seconds: float
    results: list[Result]
    #: The board's link counters after the session (STATUS, :data:`~boards.protocol.STATUS_FIELDS`)
    link_status: dict | None = None


#: Replies after which a frame is sent again: the frame (or the reply) was damaged on the line.
RETRY_STATUSES = (Status.BAD_CRC, Status.TIMEOUT)


def damaged(reply) -> bool:
    if isinstance(reply, FrameError):  # the reply itself arrived damaged
        return True
    return reply.command == Command.ERROR and reply.payload[:1] in (
        bytes([s]) for s in RETRY_STATUSES
    )


class BoardClient:
    """Identify, load and run in one batch of frames (the simulated board keeps its state only
    within one batch; a real board keeps it until it is reset or reprogrammed). On a real board
    a frame whose request or reply was damaged on the line (CRC, timeout) is sent again, up to
    ``retries`` times; every frame is idempotent."""

    def __init__(self, link, shape: AcceleratorShape, *, retries: int = 3):
        self.link, self.shape, self.retries = link, shape, retries
        self.resent = 0
        self.warnings: list[str] = []

    def _exchange(self, frames: list[bytes], *, write_read_pairs: bool = False) -> list:
        """Send ``frames``, then send again those whose reply was damaged. With
        ``write_read_pairs`` the frames are (WRITE, READ of what it wrote) pairs, and a
        damaged WRITE is sent again with its READ."""
        replies = self.link.transact(frames, len(frames))
        for _ in range(self.retries if self.link.persistent else 0):
            again = {i for i, r in enumerate(replies) if damaged(r)}
            if write_read_pairs:
                again |= {i + 1 for i in again if i % 2 == 0}
            again = sorted(again)
            if not again:
                break
            self.resent += len(again)
            for i, reply in zip(again, self.link.transact([frames[i] for i in again], len(again))):
                replies[i] = reply
        return replies

    def session(self, model, samples: np.ndarray, mode: str = "normal", noise_seed=None) -> Session:
        """Load ``model`` (identify first) in blocks, each WRITE followed by a READ of what it
        wrote, compare every word, commit, then run ``samples``; raises :class:`DeviceError`
        on any wrong answer."""
        blocks = load_blocks(model, self.shape, mode=mode, noise_seed=noise_seed)
        load = [f for b in blocks for f in (b.write_frame(self.shape), b.read_frame())]
        runs = [run_frame(self.shape, s) for s in samples]
        # the link's counters last: dropped bytes and error replies of the whole session
        runs_and_status = runs + [encode_frame(Command.STATUS)]
        identify = encode_frame(Command.IDENTIFY)
        t0 = time.perf_counter()
        if self.link.persistent:  # a real board: each step only after the one before is sound
            self._check_identify(self._exchange([identify])[0])
            replies = [None] + self._exchange(load, write_read_pairs=True)
            self._check_load(replies[1:], blocks)
            replies += self._exchange([commit_frame()] + runs_and_status)
        else:  # the simulated board lives for one batch: send it all, then check in order
            frames = [identify] + load + [commit_frame()] + runs_and_status
            replies = self.link.transact(frames, len(frames))
            self._check_identify(replies[0])
            self._check_load(replies[1 : 1 + len(load)], blocks)
        seconds = time.perf_counter() - t0
        n_load = 1 + len(load)
        if replies[n_load] != Frame(Command.COMMIT, b""):
            raise DeviceError(f"the board did not take the commit: {replies[n_load]}")
        *run_replies, status_reply = replies[n_load + 1 :]
        results = []
        for i, reply in enumerate(run_replies):
            if reply.command != Command.RESULT:
                raise DeviceError(f"sample {i}: expected a RESULT, got {reply}")
            results.append(parse_result(reply.payload, self.shape.n_classes))
        load_bytes = (
            len(identify) + sum(map(len, load)),
            6
            + len(identify_payload(self.shape))
            + sum(6 + len(r.payload) for r in replies[1:n_load]),
        )
        readback_bytes = b"".join(r.payload for r in replies[2:n_load:2])
        return Session(
            writes=len(blocks),
            load_bytes=load_bytes,
            verified_words=sum(len(b.words) for b in blocks),
            readback_sha256=hashlib.sha256(readback_bytes).hexdigest(),
            seconds=seconds,
            results=results,
            link_status=(
                parse_status(status_reply.payload)
                if isinstance(status_reply, Frame) and status_reply.command == Command.STATUS
                else None
            ),
        )

    def _check_load(self, replies, blocks):
        """Every block's WRITE acknowledged and its READ equal to what was written, else
        DeviceError naming the first failure."""
        writes, reads = replies[0::2], replies[1::2]
        bad = [r for r in writes if r != Frame(Command.WRITE, b"")]
        if bad:
            raise DeviceError(f"{len(bad)} of {len(blocks)} writes failed, first: {bad[0]}")
        wrong = [r for r in reads if not isinstance(r, Frame) or r.command != Command.READ]
        if wrong:
            raise DeviceError(f"{len(wrong)} of {len(blocks)} reads failed, first: {wrong[0]}")
        for block, reply in zip(blocks, reads):
            difference = block.first_difference(self.shape, reply.payload)
            if difference:
                raise DeviceError(f"read-back differs from the model: {difference}")

    def _check_identify(self, reply):
        """Refuse a board of another shape; note one built from other sources (its last 4
        bytes, the design hash, differ) in ``self.warnings``."""
        expected = Frame(Command.IDENTIFY, identify_payload(self.shape))
        same_shape = (
            isinstance(reply, Frame)
            and reply.command == Command.IDENTIFY
            and reply.payload[:-4] == expected.payload[:-4]
        )
        if not same_shape:
            raise DeviceError(
                f"the board identifies as {reply}, the model needs {expected}: "
                f"build the bitstream for this model's shape"
            )
        if reply.payload[-4:] != expected.payload[-4:]:
            self.warnings.append(
                f"the bitstream was built from other sources (design hash "
                f"{reply.payload[-4:].hex()}, these sources {expected.payload[-4:].hex()}); "
                f"the read-back and the golden-model check still apply"
            )
