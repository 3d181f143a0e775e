"""Provenance helpers shared by the benchmark reports (no torch, no amaranth)."""

import shlex
import sys

__all__ = ["invoked_command", "report_header"]


def invoked_command() -> str:
    """The ``stablespike ...`` command line that is running, for a report's provenance."""
    return "stablespike " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def report_header(title: str, date: str, command: str) -> list[str]:
    """Markdown lines that open every benchmark report: title, date and the command."""
    return [f"# {title}", "", f"Produced on {date} by:", "", "```", command, "```", ""]
