"""What every benchmark report shares: its provenance header and how it is written (no torch,
no amaranth)."""

import json
import shlex
import sys
from pathlib import Path

from .modelfile import atomic_write

__all__ = ["invoked_command", "report_header", "write_report"]


def invoked_command() -> str:
    """The ``stablespike ...`` command line that is running, for a report's provenance."""
    return "stablespike " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def report_header(title: str, date: str, command: str) -> list[str]:
    """Markdown lines that open every benchmark report: title, date and the command."""
    return [f"# {title}", "", f"Produced on {date} by:", "", "```", command, "```", ""]


def markdown_table(columns, rows) -> list[str]:
    """A markdown table's lines: the ``columns``' names, the rule, and one line per row of
    cells (each written with ``str``)."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]


def write_report(stem: Path, result: dict, markdown: str) -> None:
    """Write ``result`` to ``stem.json`` and ``markdown`` to ``stem.md`` (each atomically,
    making the folder), and print the markdown."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(stem.with_name(stem.name + ".json"), json.dumps(result, indent=1).encode())
    atomic_write(stem.with_name(stem.name + ".md"), markdown.encode())
    print(markdown)
