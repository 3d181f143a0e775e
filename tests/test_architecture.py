"""The import rules of docs/architecture.md, checked two ways.

Statically: every import of every module (at the top, inside ``try``/``if`` blocks, and lazily
inside functions), with ``from pkg import mod`` resolved to the module, against the layering:
a folder never imports a folder above it, not even lazily. Dynamically: each layer imported in a
subprocess with the packages it must not need blocked, so that an import reached through another
module (the host imports ``hw.layout``; ``hw.layout`` must not import Amaranth) fails too.
"""

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("sw", "hw", "boards", "sim", "stablespike")

#: What the host side may not need: it runs without the HDL, the trainer or the simulators.
HDL_AND_TOOLS = ("amaranth", "amaranth_boards", "torch", "cocotb", "cocotb_tools")
#: Host-side modules below the gateware (pure Python).
HOST_SIDE = ("boards/__init__.py", "boards/protocol.py", "boards/catalog.py",
             "boards/variant.py", "boards/clocks.py", "boards/host/*.py")  # fmt: skip

#: (files, project modules they never import, not even lazily; packages they do not import at
#: their top). A folder's name stands for every module in it.
RULES = [
    ("sw/numerics.py", {"sw", "hw", "boards", "sim", "stablespike"}, {"torch", "amaranth"}),
    ("sw/**/*.py", {"hw", "boards", "sim", "stablespike"}, {"amaranth", "cocotb"}),
    ("hw/*.py", {"boards", "sim", "stablespike"}, {"torch", "cocotb"}),
    *((p, {"boards.gateware", "boards.toolchain", "sim", "stablespike"}, set(HDL_AND_TOOLS))
      for p in HOST_SIDE),
    ("boards/gateware/*.py", {"boards.host", "boards.toolchain", "sim", "stablespike"},
     {"torch", "cocotb"}),
    ("boards/toolchain/*.py", {"boards.host", "sim", "stablespike"}, {"torch", "cocotb"}),
    ("sim/*.py", {"stablespike"}, {"torch"}),
    ("stablespike/*.py", set(), {*HDL_AND_TOOLS, "sw", "hw", "boards", "sim"}),
]  # fmt: skip

#: Lazy imports that break a rule on purpose, each with its reason: (file, module).
ALLOWED_LAZY: dict[tuple[str, str], str] = {}

#: Layers imported in a subprocess with packages blocked: (modules, the blocked packages).
#: Every module of a layer is imported, so what they import is imported as well.
IMPORT_CHECKS = [
    (("sw.numerics",), ("torch", "amaranth", "cocotb")),
    (("sw.golden", "sw.modelfile", "sw.archive", "sw.nmnist", "sw.data", "sw.evaluate"),
     ("torch", "amaranth", "cocotb")),
    (("hw.layout", "boards.protocol", "boards.catalog", "boards.variant", "boards.clocks",
      "boards.host.client", "boards.host.messages", "boards.host.deploy"), HDL_AND_TOOLS),
    (("stablespike.main",), HDL_AND_TOOLS),
    (("hw.accelerator", "boards.gateware.top", "boards.toolchain.bitstream"), ("torch", "cocotb")),
    (("sim.runner", "sim.links", "sim.netlist_link", "sim.board_bench"), ("torch",)),
]  # fmt: skip


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str, root: Path) -> bool:
    path = root.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports_of(path: Path, root: Path = ROOT) -> list[tuple[str, bool, int]]:
    """Every import of the module at ``path``: (the dotted module, whether it is lazy: inside a
    function, line). Imports inside top-level ``try``/``if``/``with`` blocks run at import time
    and count as top-level; ``from pkg import name`` is ``pkg.name`` when that is a module of
    the project, else ``pkg``; relative imports are resolved against the file's package."""
    own = module_name(path, root).split(".")
    package = own if path.name == "__init__.py" else own[:-1]
    found = []

    def visit(node, lazy):
        for child in ast.iter_child_nodes(node):
            inner = lazy or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                found.extend((alias.name, inner, child.lineno) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module != "__future__":
                base = package[: len(package) - child.level + 1] if child.level else []
                target = ".".join([*base, *filter(None, [child.module])])
                for alias in child.names:
                    sub = f"{target}.{alias.name}"
                    found.append((sub if _is_module(sub, root) else target, inner, child.lineno))
            visit(child, inner)

    visit(ast.parse(path.read_text()), False)
    return found


def named(module: str, names) -> bool:
    """Whether ``module`` is one of ``names`` or inside one of them."""
    return any(module == n or module.startswith(n + ".") for n in names)


def breaks(files, never, not_at_top, root: Path = ROOT) -> list[str]:
    """The imports of ``files`` against a rule, one line each (file:line module)."""
    found = []
    for f in files:
        rel = str(f.relative_to(root))
        own = module_name(f, root)
        for module, lazy, line in imports_of(f, root):
            if named(own, [module]) or (lazy and (rel, module) in ALLOWED_LAZY):
                continue  # a package's own modules; a lazy import allowed on purpose
            if named(module, never) or (not lazy and named(module, not_at_top)):
                found.append(f"{rel}:{line} {module}{' (lazy)' if lazy else ''}")
    return found


def blocked_import_failures(modules, blocked, root: Path = ROOT) -> str:
    """Import ``modules`` in a fresh Python with ``blocked`` packages made unimportable: the
    output of the first that fails (empty when all import)."""
    script = textwrap.dedent(f"""
        import importlib, importlib.abc, sys
        BLOCKED = {tuple(blocked)!r}
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ImportError(f"{{name}} is blocked in this layer")
        sys.meta_path.insert(0, Block())
        for module in {tuple(modules)!r}:
            try:
                importlib.import_module(module)
            except ImportError as e:
                sys.exit(f"{{module}}: {{e}}")
    """)
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=300
    )
    return done.stderr.strip() if done.returncode else ""


@pytest.mark.parametrize("pattern, never, not_at_top", RULES, ids=[r[0] for r in RULES])
def test_no_module_imports_what_its_folder_may_not(pattern, never, not_at_top):
    files = sorted(ROOT.glob(pattern))
    assert files, f"no files match {pattern}"
    assert breaks(files, never, not_at_top) == [], "imports against docs/architecture.md"


@pytest.mark.parametrize("modules, blocked", IMPORT_CHECKS, ids=[m[0] for m, _ in IMPORT_CHECKS])
def test_each_layer_imports_without_what_it_must_not_need(modules, blocked):
    assert blocked_import_failures(modules, blocked) == ""


def test_every_module_is_under_a_rule():
    ruled = {f for pattern, _, _ in RULES for f in ROOT.glob(pattern)}
    every = {f for p in PACKAGES for f in (ROOT / p).rglob("*.py")}
    assert sorted(str(f.relative_to(ROOT)) for f in every - ruled) == []


def _write(root: Path, files: dict[str, str]):
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def test_the_static_check_sees_package_imports_and_imports_in_blocks(tmp_path):
    """Two breaks a check of top-level ``import`` statements alone misses."""
    _write(tmp_path, {
        "boards/__init__.py": "", "boards/gateware/__init__.py": "", "boards/host/__init__.py": "",
        "boards/host/a.py": "from boards import gateware\n",
        "boards/host/b.py": "try:\n    import amaranth\nexcept ImportError:\n    pass\n",
        "boards/host/c.py": "def f():\n    from ..gateware import top\n",
        "boards/gateware/top.py": "",
    })  # fmt: skip
    host = sorted((tmp_path / "boards" / "host").glob("*.py"))
    never = {"boards.gateware"}
    assert breaks(host, never, set(HDL_AND_TOOLS), tmp_path) == [
        "boards/host/a.py:1 boards.gateware",
        "boards/host/b.py:2 amaranth",
        "boards/host/c.py:2 boards.gateware.top (lazy)",
    ]


def test_the_import_check_sees_what_a_layer_imports_through_another(tmp_path):
    """The host imports a numbers-only module of hw/; if that module imports Amaranth, the host
    needs it too, which only importing it shows."""
    _write(tmp_path, {
        "hw/__init__.py": "", "hw/layout.py": "import amaranth\n",
        "host.py": "import hw.layout\n",
    })  # fmt: skip
    failure = blocked_import_failures(("host",), ("amaranth",), tmp_path)
    assert failure == "host: amaranth is blocked in this layer"
    _write(tmp_path, {"hw/layout.py": "import json\n"})
    assert blocked_import_failures(("host",), ("amaranth",), tmp_path) == ""
