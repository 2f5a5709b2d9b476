"""The code's shape, checked: short functions, layers imported in one direction, no import cycle,
no private name imported across modules, Textual's private names fenced."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "tui_trainer"
MAX_FUNCTION_LINES = 80
# The package's layers, lowest first: a module may import its own layer and those before it.
# Layers on one rank stand side by side and do not import each other.
LAYERS = [{"__init__", "core"}, {"store", "labs"}, {"loop"}, {"headless"}, {"ui"},
          {"learner"}, {"d2l"}, {"cli", "tools"}, {"__main__"}]


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
    tree = ast.parse(path.read_text())
    typing_only = {id(inner) for node in ast.walk(tree) if isinstance(node, ast.If)
                   and getattr(node.test, "id", None) == "TYPE_CHECKING"
                   for inner in ast.walk(node)}   # for annotations: never run
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
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


def layer_of(name: str) -> str:
    """`tui_trainer.loop.train` -> `loop`; a top-level module is its own layer."""
    return name.split(".")[1] if "." in name else "__init__"


def rank(layer: str) -> int:
    return next(i for i, layers in enumerate(LAYERS) if layer in layers)


def upward_imports(known: dict[str, Path]) -> list[str]:
    """Every import of a module by one in a lower layer, or across layers of one rank."""
    wrong = []
    for name, path in known.items():
        for target in imported(name, path, known):
            here, there = layer_of(name), layer_of(target)
            if here != there and rank(there) >= rank(here):
                wrong.append(f"{name} -> {there}")
    return sorted(set(wrong))


def test_every_module_is_in_a_layer():
    layers = {layer_of(name) for name in modules(PACKAGE, "tui_trainer")}
    assert layers <= set().union(*LAYERS)


def test_the_layer_check_finds_an_upward_import(tmp_path):
    for folder in ("core", "loop", "store", "labs"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "__init__.py").write_text("")
    (tmp_path / "core" / "a.py").write_text("def f():\n    from ..loop import b\n")
    (tmp_path / "loop" / "b.py").write_text("from ..core.a import f\n")
    (tmp_path / "store" / "c.py").write_text("from ..labs import d\n")
    (tmp_path / "labs" / "d.py").write_text("")
    assert upward_imports(modules(tmp_path, "tui_trainer")) == [
        "tui_trainer.core.a -> loop", "tui_trainer.store.c -> labs"]


def test_imports_go_down_the_layers():
    assert upward_imports(modules(PACKAGE, "tui_trainer")) == []


def test_no_private_name_is_imported_from_another_module():
    """A name with a leading underscore is its module's own: one imported elsewhere is a name
    that should be public, or code that belongs where the name is."""
    borrowed = []
    for path in [*PACKAGE.rglob("*.py"), *(ROOT / "benchmarks").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                borrowed += [f"{path.relative_to(ROOT)}:{node.lineno} {a.name}"
                             for a in node.names if a.name.startswith("_")
                             and not a.name.startswith("__")]
    assert borrowed == []


def test_the_standard_librarys_private_names_are_used_in_one_module_and_are_all_there():
    from tui_trainer.core import private

    assert private.missing() == []
    users = sorted(str(path.relative_to(ROOT)) for path in PACKAGE.rglob("*.py")
                   if "_run_exitfuncs" in path.read_text())
    assert users == ["tui_trainer/core/private.py"]


def test_a_unit_test_cannot_start_python_or_run_the_app_unmarked():
    """The layers stay true: in a test not marked process, tmux or app, starting Python (or a
    shell, or tmux) or running the app fails naming the mark; a library's own helper runs."""
    import subprocess
    import sys

    from tests.conftest import _refuse_unmarked
    from tui_trainer.ui.app import SmtuiApp

    with pytest.MonkeyPatch.context() as guard:   # undone here, before the test's own guard
        _refuse_unmarked("this test", guard)
        for program in ([sys.executable, "-c", "pass"], ["tmux", "-V"], "sh -c true"):
            with pytest.raises(AssertionError, match="mark it @pytest.mark.process"):
                subprocess.run(program, shell=isinstance(program, str))
        with pytest.raises(AssertionError, match="mark it @pytest.mark.app"):
            SmtuiApp().run_test()
        assert subprocess.run(["true"]).returncode == 0
