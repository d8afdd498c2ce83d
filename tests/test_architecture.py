"""The shape of the code base (ARCHITECTURE.md): who may import whom, how large a module or a
function may grow, and that modules use each other's public names only.

Imports are checked by import-linter with the contracts in pyproject.toml ([tool.importlinter]);
sizes and private names by reading the source with ``ast``. Test modules are not size-checked.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator, Tuple

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("plugin", "gui", "export")
CHECKED = PACKAGES + ("bench", "examples", "scripts")  # every folder of code that is not a test
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80

# Known offenders outside plugin/, at their current size (none today): they may shrink, not grow, and
# an entry must go as soon as its module or function fits (the test says so). plugin/ may have none.
MODULE_ALLOWLIST: Dict[str, int] = {
}
FUNCTION_ALLOWLIST: Dict[str, int] = {
}


def _sources(folders) -> Iterator[Tuple[str, str]]:
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            yield path.relative_to(ROOT).as_posix(), path.read_text(encoding="utf-8")


def _functions(tree: ast.AST, prefix: str = "") -> Iterator[Tuple[str, int]]:
    """(qualified name, lines) of every function and method, nested ones included."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield prefix + node.name, node.end_lineno - node.lineno + 1
            yield from _functions(node, f"{prefix}{node.name}.")
        elif isinstance(node, ast.ClassDef):
            yield from _functions(node, f"{prefix}{node.name}.")
        else:
            yield from _functions(node, prefix)


def test_import_contracts_hold():
    """plugin/ imports neither export/ nor gui/ (the host launcher starts gui lazily), nor torch or
    Qt; gui/ and export/ never import each other; plugin/'s modules import each other without cycles."""
    if sys.version_info < (3, 11):
        pytest.importorskip("importlinter", reason="import-linter needs Python 3.11")
    code = ("import sys; from importlinter.cli import lint_imports; "
            "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, no_logo=True))")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    if "No module named 'importlinter'" in r.stderr:
        pytest.fail("import-linter is not installed: scripts/setup.sh --test installs it (pyproject's test extra)")
    assert r.returncode == 0, r.stdout + r.stderr


def test_modules_and_functions_stay_small():
    too_big, stale = [], []
    for name, text in _sources(CHECKED):
        lines = len(text.splitlines())
        limit = MODULE_ALLOWLIST.get(name, MAX_MODULE_LINES)
        if lines > limit:
            too_big.append(f"{name}: {lines} lines (limit {limit})")
        elif name in MODULE_ALLOWLIST and lines <= MAX_MODULE_LINES:
            stale.append(f"{name} fits in {MAX_MODULE_LINES} lines now: remove it from MODULE_ALLOWLIST")
        for func, length in _functions(ast.parse(text)):
            key = f"{name}::{func}"
            limit = FUNCTION_ALLOWLIST.get(key, MAX_FUNCTION_LINES)
            if length > limit:
                too_big.append(f"{key}: {length} lines (limit {limit})")
            elif key in FUNCTION_ALLOWLIST and length <= MAX_FUNCTION_LINES:
                stale.append(f"{key} fits in {MAX_FUNCTION_LINES} lines now: remove it from FUNCTION_ALLOWLIST")
    missing = [k for k in list(MODULE_ALLOWLIST) + [f.split("::")[0] for f in FUNCTION_ALLOWLIST]
               if not (ROOT / k).is_file()]
    stale += [f"{k} no longer exists: remove it from the allowlist" for k in sorted(set(missing))]
    assert not too_big, "split these (one concern per module, ARCHITECTURE.md):\n" + "\n".join(too_big)
    assert not stale, "\n".join(stale)


def test_plugin_is_not_on_the_allowlists():
    assert not [k for k in list(MODULE_ALLOWLIST) + list(FUNCTION_ALLOWLIST) if k.startswith("plugin/")]


def test_modules_use_each_others_public_names_only():
    """No ``from x import _private`` and no ``obj._private`` on anything but ``self``/``cls``: what
    another module needs is public (a name without the underscore) and documented there."""
    found = []
    for name, text in _sources(PACKAGES):
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom):
                found += [f"{name}:{node.lineno}: from {node.module} import {a.name}" for a in node.names
                          if a.name.startswith("_") and not a.name.startswith("__")]
            elif isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                if not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                    found.append(f"{name}:{node.lineno}: {ast.unparse(node)}")
    assert not found, "private names used from outside their owner:\n" + "\n".join(found)
