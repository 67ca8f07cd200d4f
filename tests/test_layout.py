"""The house rules of DESIGN.md's layout, checked on the source so they cannot drift.

Small modules and classes, imports that point down, and no private name borrowed from another
package: what a package offers the others is what its ``__init__`` exports.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "apifonica_nb"
MAX_MODULE_LINES = 400
MAX_CLASS_LINES = 250

#: Packages (or top-level modules) that must never import the ones listed.
FORBIDDEN = {
    "frame": {"client", "fetch", "history", "cache", "charts", "widgets", "connect"},
    "client": {"frame", "fetch", "history", "cache", "charts", "widgets", "connect"},
    "charts": {"client", "fetch", "history", "cache", "widgets", "connect"},
    "cache": {"client", "fetch", "history", "widgets", "charts", "connect"},
    "history": {"fetch", "widgets", "charts", "connect"},
    "summary": {"client", "fetch", "history", "cache", "widgets", "connect"},
    "errors": {"client", "frame", "fetch", "history", "cache", "charts", "widgets"},
}


def runtime_imports(tree: ast.AST) -> list[ast.ImportFrom]:
    """``from ... import`` statements, except those only under ``if TYPE_CHECKING:``."""
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for inner in ast.walk(node)
    }
    return [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and id(n) not in typing_only]


def modules() -> list[pathlib.Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def room(path: pathlib.Path) -> str:
    """The top-level package (or module) of the package a file belongs to."""
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


def imported(path: pathlib.Path, node: ast.ImportFrom) -> str | None:
    """The room an ``from ... import`` inside the package points at (None: outside it)."""
    if node.level == 0:
        module = node.module or ""
        if not module.startswith("apifonica_nb"):
            return None
        parts = module.split(".")[1:]
    else:
        base = list(path.relative_to(PACKAGE).parts[:-1])
        if node.level > 1:
            base = base[: len(base) - (node.level - 1)]
        parts = base + (node.module.split(".") if node.module else [])
    return parts[0] if parts else ""


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_and_classes_are_small(path: pathlib.Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count("\n") <= MAX_MODULE_LINES, f"{path.name}: {text.count(chr(10))} lines"
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ClassDef):
            size = (node.end_lineno or node.lineno) - node.lineno + 1
            assert size <= MAX_CLASS_LINES, f"class {node.name}: {size} lines"


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_private_names_across_packages_and_imports_point_down(path: pathlib.Path) -> None:
    here = room(path)
    for node in runtime_imports(ast.parse(path.read_text(encoding="utf-8"))):
        there = imported(path, node)
        if there is None or there == here:
            continue
        assert there not in FORBIDDEN.get(here, set()), f"{here} must not import {there}"
        module = node.module or ""
        private_module = any(
            part.startswith("_") and not part.endswith("__") for part in module.split(".")
        )
        assert not private_module or there == "", f"imports the private module {module}"
        for alias in node.names:
            assert not alias.name.startswith("_"), f"imports {alias.name} from {there}"


def test_the_sandbox_server_never_imports_the_client_side() -> None:
    for path in (PACKAGE / "sandbox").glob("*.py"):
        if path.name == "__init__.py":  # only the handle's client() convenience may
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                assert imported(path, node) in (None, "sandbox"), f"{path.name}: {node.module}"


def test_no_process_wide_warning_state_in_the_package() -> None:
    for path in modules():
        text = path.read_text(encoding="utf-8")
        for call in ("catch_warnings(", "simplefilter(", "filterwarnings("):
            assert f"warnings.{call}" not in text, f"{path.name} calls warnings.{call}"
