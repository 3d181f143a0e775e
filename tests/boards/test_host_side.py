"""The host side of the board link installs and runs without the HDL: ``boards.host``,
``boards.protocol``, ``boards.catalog`` and ``boards.variant`` import neither Amaranth nor
torch, and make a model's frames and the IDENTIFY reply they expect."""

import subprocess
import sys
import textwrap

import boards.gateware.command  # noqa: F401  (the gateware, imported here)
from boards.catalog import BOARDS
from boards.protocol import identify_payload

HOST_ONLY = textwrap.dedent(
    """
    import importlib.abc, sys

    class Blocked(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.split(".")[0] in ("amaranth", "amaranth_boards", "torch"):
                raise ImportError(f"{name} is blocked")

    sys.meta_path.insert(0, Blocked())
    from boards.catalog import BOARDS
    from boards.host import client, deploy, messages
    from boards.protocol import identify_payload
    from boards.variant import board_shape
    from tests.random_models import random_model

    model = random_model(sizes=(12, 9, 5, 3), timesteps=3)
    shape = board_shape(model, BOARDS["icebreaker"], lanes=None)
    frames = messages.load_frames(model, shape)
    print(len(frames), identify_payload(shape).hex())
    """
)


def test_host_side_runs_without_amaranth_or_torch():
    done = subprocess.run(
        [sys.executable, "-c", HOST_ONLY], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    n_frames, identify = done.stdout.split()
    assert int(n_frames) > 0
    # the design hash in it is the one computed here, with the gateware imported
    from boards.variant import board_shape
    from tests.random_models import random_model

    shape = board_shape(random_model(sizes=(12, 9, 5, 3), timesteps=3), BOARDS["icebreaker"], None)
    assert bytes.fromhex(identify) == identify_payload(shape)
