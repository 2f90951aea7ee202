"""The packages show the pipeline: each imports only the packages below it
(docs/architecture.md). A sideways or upward import fails here, naming the module."""

from __future__ import annotations

import ast
from pathlib import Path

import reconciler

ROOT = Path(reconciler.__file__).parent

# What each top-level module or package may import, besides itself.
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "secrets": set(),
    "core": {"errors", "secrets"},
    "config": {"core", "errors", "secrets"},
    "upstream": {"core", "errors", "secrets"},
    "targets": {"core", "upstream", "errors", "secrets"},
    "sandbox": {"core", "upstream", "targets", "errors", "secrets"},
    "output": {"core", "errors", "secrets"},
    "importers": {"core", "output", "errors", "secrets"},
    "watch": {"core", "config", "targets", "output", "errors", "secrets"},
    "commands": {
        "config",
        "core",
        "importers",
        "output",
        "sandbox",
        "targets",
        "upstream",
        "watch",
        "errors",
        "secrets",
    },
    "cli_console": {"cli_options", "commands", "errors"},
    "cli_options": {"core", "targets", "errors"},
    "cli": {"cli_console", "cli_options", "commands", "core", "targets", "errors", "secrets"},
    "__main__": {"cli"},
    "__init__": set(),
}


def imported(path: Path) -> set[str]:
    """The top-level reconciler packages a module imports."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "reconciler":
                names = [f"reconciler.{a.name}" for a in node.names]
            else:
                names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        out.update(n.split(".")[1] for n in names if n.startswith("reconciler."))
    return out


def test_every_package_imports_only_those_below_it() -> None:
    wrong = []
    for path in sorted(ROOT.rglob("*.py")):
        layer = path.relative_to(ROOT).parts[0].removesuffix(".py")
        assert layer in ALLOWED, f"{path}: a new top-level module; give it a layer here"
        for name in sorted(imported(path) - ALLOWED[layer] - {layer}):
            wrong.append(f"{path.relative_to(ROOT.parent)} imports reconciler.{name}")
    assert wrong == []


def test_the_check_sees_imports() -> None:
    assert imported(ROOT / "cli.py") >= {"commands", "cli_options"}
