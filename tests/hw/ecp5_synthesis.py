"""Run a small design through the ECP5 build's Yosys steps and count the cells it maps to."""

import os
import re
import subprocess

from amaranth.back import rtlil


def ecp5_cell_counts(design, tmp_path, *, keep_copies: bool) -> dict:
    """``{cell type: count}`` of ``design`` after the board build's steps before
    ``synth_ecp5`` (with or without ``KEEP_COPIES``) and ``synth_ecp5`` itself; the mapped
    netlist is left in ``tmp_path / "top.json"``."""
    from boards.toolchain.bitstream import KEEP_COPIES, toolchain_env

    toolchain_env()
    (tmp_path / "design.il").write_text(rtlil.convert(design, name="top"))
    steps = ["read_rtlil design.il", "hierarchy -top top", "proc"]
    steps += [KEEP_COPIES] if keep_copies else []
    steps += ["flatten", "opt -purge", "synth_ecp5 -top top", "tee -q -o stat.txt stat"]
    steps += ["write_json top.json"]  # (the mapped netlist, as the board build writes it)
    subprocess.run([os.environ["YOSYS"], "-q", "-p", "; ".join(steps)], cwd=tmp_path, check=True)
    stat = (tmp_path / "stat.txt").read_text()
    return {cell: int(n) for n, cell in re.findall(r"(\d+)\s+(TRELLIS_\w+)", stat)}
