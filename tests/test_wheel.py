"""The package as a user installs it: a wheel built from the sources (not the editable
install the tests run from) holds everything the command needs; installed on its own, away from
the repository, it answers --help, evaluates a model on the golden model and simulates it."""

import os
import subprocess
import sys

import pytest

from sw.modelfile import save_model

from .random_models import random_model

RATE = {"kind": "rate-lfsr", "seed": 1, "lfsr_width": 16, "prob_bits": 8}


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The wheel installed (without dependencies: they are this environment's) into a folder of
    its own; the environment to run its command with."""
    root = tmp_path_factory.mktemp("wheel")
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(root / "dist"),
                    repo], check=True, cwd=root)  # fmt: skip
    (wheel,) = (root / "dist").glob("stablespike-*.whl")
    target = root / "site"
    subprocess.run([*pip, "install", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, cwd=root)  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(target)}
    return root, target, env


def run(installed, *argv) -> str:
    root, target, env = installed
    done = subprocess.run([str(target / "bin" / "stablespike"), *argv], cwd=root, env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_the_wheel_runs_from_where_it_was_installed(installed, tmp_path):
    root, target, env = installed
    where = subprocess.run(
        [sys.executable, "-c", "import stablespike, sim, hw; print(stablespike.__file__, "
         "sim.__file__, hw.__file__)"], cwd=root, env=env, capture_output=True, text=True,
        check=True,
    ).stdout.split()  # fmt: skip
    assert all(path.startswith(str(target)) for path in where), where
    assert "deploy" in run(installed, "--help")
    model = tmp_path / "m.npz"
    save_model(random_model(sizes=(64, 12, 10), timesteps=2, encoder=RATE, threshold=60), model)
    assert '"accuracy"' in run(installed, "eval", str(model), "--json", "--limit", "50")
    out = run(installed, "sim", str(model), "--samples", "3", "--lanes", "2",
              "--build-dir", str(tmp_path / "sim"))  # fmt: skip
    assert "3/3 samples bit-exact" in out, out
