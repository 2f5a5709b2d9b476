"""The code's shape, checked: short functions, no import cycle, Textual's private names fenced."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "tui_trainer"
MAX_FUNCTION_LINES = 80


def modules(folder: Path, prefix: str) -> dict[str, Path]:
    """{dotted name: file} of every module under `folder`."""
    found = {}
    for path in folder.rglob("*.py"):
        parts = list(path.relative_to(folder).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join([prefix, *parts])] = path
    return found


def imported(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The known modules `name` imports, at its top or inside its functions."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(t for t in targets if t in known and t != name)
    return found


def cycles(known: dict[str, Path]) -> list[list[str]]:
    """Every import cycle among `known`, as the path that closes it."""
    graph = {name: imported(name, path, known) for name, path in known.items()}
    found, state = [], {}

    def visit(name: str, stack: list[str]) -> None:
        state[name] = "open"
        for nxt in sorted(graph[name]):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    return found


def test_no_function_in_the_package_is_over_80_lines():
    long = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines})")
    assert long == []


def test_the_cycle_finder_finds_one(tmp_path):
    (tmp_path / "a.py").write_text("def f():\n    from . import b\n")
    (tmp_path / "b.py").write_text("from .a import f\n")
    (tmp_path / "c.py").write_text("from . import a\n")
    assert cycles(modules(tmp_path, "p")) == [["p.a", "p.b", "p.a"]]


def test_no_import_cycle_in_the_package_or_the_benchmarks():
    known = {**modules(PACKAGE, "tui_trainer"), **modules(ROOT / "benchmarks", "benchmarks")}
    assert cycles(known) == []


def test_textuals_private_names_are_used_in_one_module_and_are_all_there():
    from tui_trainer.ui import textual_private

    assert textual_private.missing() == []
    private = re.compile(r"\b_check_bindings\b|\b_handle_exception\b|\b_line_cache\b|\._file\b")
    users = sorted(str(path.relative_to(ROOT)) for path in PACKAGE.rglob("*.py")
                   if private.search(path.read_text()))
    assert users == ["tui_trainer/ui/textual_private.py"]
