"""Shared fixtures (small IDX data sets written by the tests, the full-data switch, a terminal
for the drop-in's figures) and the tests' layers: a test that starts a child process is marked
`process`, one that drives a real terminal `tmux`, one that runs the Textual app `app`, and all
three are `slow`, so `pytest -m "not slow"` (`make test-fast`) runs the unit layer alone. A test
that starts a process or runs the app unmarked fails: the marks stay true as tests are added."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from tests.support.idx import write_small_idx

FULL_DATA = Path("/usr/share/datasets/fashion-mnist")


def pytest_collection_modifyitems(config, items):
    """Process, terminal and app tests are the slow layer."""
    for item in items:
        if any(item.get_closest_marker(kind) for kind in ("process", "tmux", "app")):
            item.add_marker(pytest.mark.slow)


# What a process test starts: smtui or Python, a shell, a terminal. Libraries may run helpers of
# their own (ctypes runs ldconfig to find a library as torch loads): those are no test's doing.
CHILDREN = re.compile(r"(python[\d.]*|smtui|tmux|bash|sh|su|unshare|env|make)$")


@pytest.fixture(autouse=True)
def _isolated(request, tmp_path_factory, monkeypatch):
    """No network and a private cache for every test; a child smtui, Python, shell or terminal,
    or the app, only in a test marked as such."""
    monkeypatch.setenv("SMTUI_NO_DOWNLOAD", "1")
    monkeypatch.setenv("SMTUI_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    with monkeypatch.context() as guard:
        if not request.node.get_closest_marker("slow"):
            _refuse_unmarked(request.node.name, guard)
        yield
    if "tui_trainer.ui.threads" in sys.modules:   # an app test made this thread's torch serial
        import torch
        from tui_trainer.ui.threads import default_threads
        torch.set_num_threads(default_threads())


def _refuse_unmarked(test: str, guard: pytest.MonkeyPatch) -> None:
    """A unit test that starts a process a test starts, or runs the app, fails saying which
    mark it needs."""
    from textual.app import App

    real_init = subprocess.Popen.__init__

    def popen(self, args, *rest, **kw):
        program = args if isinstance(args, (str, bytes)) else args[0]
        name = os.path.basename(os.fsdecode(program).split()[0]) if program else ""
        if CHILDREN.match(name):
            raise AssertionError(f"{test} starts {name}: mark it @pytest.mark.process "
                                 "(or tmux)")
        real_init(self, args, *rest, **kw)

    def app(*args, **kw):
        raise AssertionError(f"{test} runs the app: mark it @pytest.mark.app")
    guard.setattr(subprocess.Popen, "__init__", popen)
    guard.setattr(App, "run_test", app)
    guard.setattr(App, "run_async", app)


@pytest.fixture
def small_data_dir(tmp_path) -> Path:
    """A folder holding four small, valid IDX .gz files."""
    folder = tmp_path / "idx"
    write_small_idx(folder)
    return folder


@pytest.fixture
def data_dir(tmp_path) -> Path:
    """A folder of small IDX files big enough for a run in the app (2,000 train, 50 test)."""
    folder = tmp_path / "idx"
    write_small_idx(folder, n_train=2000, n_test=50)
    return folder


@pytest.fixture
def slow_data(tmp_path) -> Path:
    """Enough images that an epoch at batch size 2 takes a noticeable time."""
    folder = tmp_path / "idx"
    write_small_idx(folder, n_train=3000, n_test=100)
    return folder


@pytest.fixture
def terminal(monkeypatch, capsys):
    """stdout as a terminal of 100 columns, in colour, for the drop-in's figures; returns a
    function that gives what was printed since, without its colour codes."""
    from tui_trainer.learner import drawing
    monkeypatch.setattr(drawing, "on_terminal", lambda: True)
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.delenv("NO_COLOR", raising=False)

    def screen() -> str:
        return re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", capsys.readouterr().out)
    yield screen
    drawing.BOTTOM.release()   # stdout as it was, for the next test


@pytest.fixture
def full_data_dir() -> Path:
    """The full Fashion-MNIST: skipped when absent, except in CI where it must be present."""
    if not (FULL_DATA / "train-images-idx3-ubyte.gz").is_file():
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian's dataset-fashion-mnist for the full-data tests")
        pytest.skip("full Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
    return FULL_DATA
