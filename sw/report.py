"""What every benchmark report shares: its provenance header and how it is written (no torch,
no amaranth)."""

import dataclasses
import json
import shlex
import sys
from pathlib import Path

from .modelfile import atomic_write

__all__ = ["Summary", "invoked_command", "markdown_table", "report_header", "write_report"]


class Summary:
    """Base of a command's summary (a dataclass: the build's, the deploy's, the co-simulation's):
    typed fields in Python, a JSON object through :meth:`as_dict`. The fields named in
    ``OMITTED_WHEN_NONE`` are left out of the JSON while they are ``None`` (figures a run has
    only in some settings)."""

    OMITTED_WHEN_NONE: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        fields = dataclasses.asdict(self)
        return {k: v for k, v in fields.items() if not (v is None and k in self.OMITTED_WHEN_NONE)}

    def to_json(self) -> str:
        """:meth:`as_dict` as indented JSON (``--json``, ``summary.json``)."""
        return json.dumps(self.as_dict(), indent=1)


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
