"""Starting the app in a process, and what the process says once its window has closed.

`run_tui` (`smtui`, `smtui view`, `smtui compare`) and `run_script` (a learner's `train_ch3` on
a terminal) build the app, run it, and then wait for any loop still saving its checkpoint, so
that closing the window never loses a run's end; the run's directory and the commands that go
on with it are then said on the restored terminal. The app itself knows nothing of processes.
"""

from __future__ import annotations

import signal
import sys

from ..core.config import TrainConfig
from ..core.console import STOP_SIGNALS, SafeStream, next_steps, sweep_steps
from ..core.errors import SmtuiError
from .app import SmtuiApp


def run_tui(config: TrainConfig | None, resume: str | None = None, *, watch: str | None = None,
            compare: list[str] | None = None, theme: str | None = None,
            theme_given: bool = False) -> int:
    """Run the app until the user quits; returns the exit code.

    The window may close before the training thread has written its last checkpoint (after a
    1.5 s grace); the process waits for it here, so quitting never loses the run's end.
    """
    app = SmtuiApp(config, resume, watch=watch, compare=compare, theme=known_theme(
        theme, theme_given))
    if theme_given and theme is not None:
        from ..store.settings import save_theme
        problem = save_theme(theme)   # --theme is remembered, as a theme picked in the palette
        if problem:
            SafeStream(sys.stderr).write(f"smtui: warning: theme not remembered: {problem}\n")
    app.run()
    # The app's loop is closed and its signal handlers with it: a further hang-up (a shell
    # forwards one after the terminal's own) must not kill the process before the run's end.
    if hasattr(signal, "SIGHUP") and signal.getsignal(signal.SIGHUP) == signal.SIG_DFL:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    for control in app.runs.state.unfinished():
        control.request_stop(STOP_SIGNALS.get(app.signal_code - 128)
                             if app.signal_code else None)
        control.finished.wait(120)
    if app.runs.state.run_dir and not watch:
        from ..store.rundir import RunDir
        states = {d: RunDir(d).read_status().get("state", app.runs.state.last_status)
                  for d in app.runs.state.sweep_dirs or [app.runs.state.run_dir]}
        if app.runs.state.sweep_dirs:
            say_where_sweep(states)
        else:
            say_where(app.runs.state.run_dir, states[app.runs.state.run_dir])
    return app.return_code or 0


def known_theme(theme: str | None, given: bool) -> str | None:
    """`theme` when Textual has it; an unknown --theme is an error, an unknown theme from the
    settings file a warning (the default theme is used)."""
    from textual.theme import BUILTIN_THEMES
    if theme is None or theme in BUILTIN_THEMES:
        return theme
    names = ", ".join(BUILTIN_THEMES)
    if given:
        raise SmtuiError(f"--theme must be one of {names} (got {theme!r})", exit_code=2)
    SafeStream(sys.stderr).write(f"smtui: warning: theme {theme!r} from the settings file is "
                                 f"not one of {names}: ignored\n")
    return None


def run_script(session):
    """Train a learner's prepared `session` (d2l.train_ch3) in the app, which closes when the
    run ends; returns its RunEnded. The window is gone before anything is raised or printed.
    The scrollback then holds what a pipe would: the epochs as headless lines, with what the
    script printed while the window was open between them, in order (transcript.py); an
    exception from the learner's code is raised after them, so a mistake at epoch 3 leaves the
    two epochs it finished on the screen."""
    from ..core.console import epoch_line
    from ..core.events import RunEnded

    app = SmtuiApp(session.config, script=session)
    app.run()
    for each in app.runs.state.unfinished():
        each.request_stop()
        each.finished.wait(120)
    out = SafeStream(sys.stdout)
    app.printed.write_out([epoch_line(row, session.config.epochs) for row in session.history],
                          out, SafeStream(sys.stderr))
    if app.runs.state.error is not None:
        raise app.runs.state.error
    ended = app.runs.state.ended or RunEnded("stopped", session.epoch, "the window was closed")
    if ended.status != "finished":
        out.write(f"d2l: {ended.message}\n")
    if session.run is not None:
        out.write(f"d2l: run directory: {session.run.path} (smtui view "
                  f"{session.run.path})\n")
    return ended


def say_where_sweep(states: dict[str, str]) -> None:
    """After the window has closed: the last sweep's run directories with their states, and the
    commands that go on with them."""
    err = SafeStream(sys.stderr)
    err.write(f"smtui: last sweep: {len(states)} run directories\n")
    for run_dir, state in states.items():
        err.write(f"  {state:<9} {run_dir}\n")
    from ..store.catalog import sweep_folder
    for line in sweep_steps(states, tui=True, folder=sweep_folder(list(states))):
        err.write(line + "\n")


def say_where(run_dir: str, state: str) -> None:
    """After the window has closed: the last run's directory and the commands that go on with
    it, on the restored terminal (quietly nothing when the terminal is gone)."""
    err = SafeStream(sys.stderr)
    err.write(f"smtui: last run ({state}): {run_dir}\n")
    for line in next_steps(run_dir, state, tui=True):
        err.write(line + "\n")
