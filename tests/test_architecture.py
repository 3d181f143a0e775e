"""The import rules of docs/architecture.md: what each folder may import at its top."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: What the host side never imports at its top: it runs without the HDL.
HOST_FORBIDDEN = {
    "amaranth",
    "amaranth_boards",
    "torch",
    "cocotb",
    "sim",
    "boards.gateware",
    "boards.build",
}

#: (files, the modules and packages their top-level imports must not name)
RULES = [
    ("sw/numerics.py", {"torch", "amaranth", "cocotb", "hw", "sim", "boards", "stablespike", "sw"}),
    ("sw/*.py", {"amaranth", "cocotb", "hw", "sim", "boards", "stablespike"}),
    ("hw/*.py", {"torch", "cocotb", "sim", "boards", "stablespike"}),
    ("sim/*.py", {"torch", "stablespike"}),
    ("boards/protocol.py", HOST_FORBIDDEN),
    ("boards/catalog.py", HOST_FORBIDDEN),
    ("boards/variant.py", HOST_FORBIDDEN),
    ("boards/host/*.py", HOST_FORBIDDEN),
    ("boards/gateware/*.py", {"torch", "cocotb", "sim"}),
    ("boards/build/*.py", {"torch", "cocotb"}),
    ("stablespike/*.py", {"torch", "amaranth", "cocotb", "hw", "sim", "boards", "sw"}),
]


def top_level_imports(path: Path) -> set[str]:
    """The dotted names of the modules the module's top-level statements import (relative
    imports resolved against the file's own package)."""
    package = path.relative_to(ROOT).parts[:-1]
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
            base = package[: len(package) - node.level + 1] if node.level else ()
            names.add(".".join([*base, *filter(None, [node.module])]))
    return names


def named(module: str, forbidden: set[str]) -> bool:
    """Whether ``module`` is one of ``forbidden`` or inside one of them."""
    return any(module == f or module.startswith(f + ".") for f in forbidden)


@pytest.mark.parametrize("pattern,forbidden", RULES, ids=[r[0] for r in RULES])
def test_folders_import_only_what_the_architecture_allows(pattern, forbidden):
    files = sorted(ROOT.glob(pattern))
    assert files, f"no files match {pattern}"
    broken = {
        str(f.relative_to(ROOT)): sorted(m for m in top_level_imports(f) if named(m, forbidden))
        for f in files
    }
    assert not {f: n for f, n in broken.items() if n}, "imports against docs/architecture.md"
