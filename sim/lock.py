"""One simulation at a time per build folder: an exclusive lock beside the build."""

from __future__ import annotations

import fcntl
import sys
from contextlib import contextmanager
from pathlib import Path

__all__ = ["build_lock"]


@contextmanager
def build_lock(build: Path, progress=None):
    """Hold an exclusive lock on the build folder ``build`` (the file ``build/.lock``) while
    compiling into it and running from it, so that two commands sharing the folder take turns
    instead of overwriting each other's stimulus and replies. Waiting is reported to
    ``progress`` (default: stderr). The lock goes with the process, however it ends."""
    build.mkdir(parents=True, exist_ok=True)
    with open(build / ".lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            message = f"waiting for another simulation using {build}"
            (progress or (lambda text: print(text, file=sys.stderr)))(message)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
