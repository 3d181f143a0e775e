#!/usr/bin/env bash
# Set up stablespike in a project-local virtual environment (.venv) with pinned packages,
# plus the few Debian packages the simulators and the programmer need.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv

# --- Debian packages: Icarus Verilog (cocotb simulator), libusb/libftdi (openFPGALoader) ---
apt_packages=(iverilog libusb-1.0-0 libftdi1-2)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup: please install the Debian packages first:" >&2
    echo "  sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

# --- Python packages, pinned ---
if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.requirements.sha256"
want=$(cat requirements.txt requirements-nodeps.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing pinned Python packages into $VENV (a few minutes the first time)"
  pip_quiet() {  # pip's output goes to .venv/pip.log; shown only if pip fails
    if ! "$VENV/bin/python" -m pip "$@" >> "$VENV/pip.log" 2>&1; then
      tail -n 30 "$VENV/pip.log" >&2
      echo "setup: 'pip $*' failed; the whole log is $VENV/pip.log" >&2
      exit 1
    fi
  }
  pip_quiet install -q --upgrade pip
  pip_quiet install -q -r requirements.txt
  pip_quiet install -q --no-deps -r requirements-nodeps.txt
  pip_quiet install -q --no-deps -e .
  echo "$want" > "$stamp"
fi
echo "setup: ready ($("$VENV/bin/python" --version), $VENV)"
