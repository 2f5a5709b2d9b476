"""What the TUI's views draw: the status bar, tiles and bars without colour, the curves' axes and
legend, markup in paths and messages, where the run is on leaving."""

from __future__ import annotations

import json
import os
import sys

import pytest

from tests.support.tmux import Tmux, tmux_only
from tests.support.app import long_app
from tests.support.waits import wait_exit, wait_for

MARKUP = "runs[/]x[bold]"


def test_the_status_bar_shows_no_stale_pace():
    from tui_trainer.ui.panels.status import StatusBar

    bar = StatusBar()
    bar.progress(2, 10, 5, 10, 123456.0, 65.0)
    for state, shown in (("training", True), ("paused", False), ("stopped", False),
                         ("crashed", False), ("watching", True)):
        bar.state = state
        line = bar.render().plain.splitlines()[1]
        assert ("123,456 img/s" in line and "ETA 1:05" in line) is shown, line
        assert ("– img/s" in line and "ETA –" in line) is not shown


def test_a_watched_runs_figures_stay_whole_on_an_80_column_status_bar():
    """`smtui view` at 80x24: the run's memory was dropped before this viewer's thread count
    (`... · 1 thread · run: cpu 74%`). The viewer's threads go first now."""
    from tui_trainer.ui.panels.status import StatusBar

    bar = StatusBar()
    bar.progress(2, 10, 5, 10, 19865.0, 1252.0)
    bar.state, bar.dataset, bar.device, bar.threads = "watching", "full", "cpu", 1
    bar.machine = "run: cpu 74% · mem 650 MB"
    parts = [text for _, text in sorted(bar.line_parts())]
    assert parts[4:] == ["run: cpu 74%", "mem 650 MB", "1 thread"]
    for state in ("paused", "stalled", "finished", "crashed"):   # figures of its last epoch,
        bar.state = state                                        # not of the process now
        assert [text for _, text in sorted(bar.line_parts())][4:] == ["1 thread"], state
    bar.machine = "cpu 74% · mem 650 MB"   # this process's own, while it trains
    assert [text for _, text in sorted(bar.line_parts())][5:] == ["cpu 74%", "mem 650 MB"]


def test_tiles_and_bars_say_truth_and_prediction_without_colour():
    from tui_trainer.ui.panels.predictions import ProbabilityBars, SampleGrid

    grid = SampleGrid()
    grid.show([[[0] * 14] * 14] * 2, [9, 0], [9, 6])
    assert grid.label(0, "true").text.strip() == "T ankle boot"
    assert grid.label(0, "pred").text.strip() == "P ✓ ankle boot"
    assert grid.label(1, "pred").text.strip() == "P ✗ shirt"
    bars = ProbabilityBars()
    drawn = []
    bars.update = drawn.append                    # what it would draw, without an app
    probs = [0.05] * 10
    probs[6], probs[0] = 0.4, 0.2
    bars.show(probs, true=0)
    lines = drawn[-1].plain.splitlines()
    assert any(line.startswith("T t-shirt") for line in lines)
    assert any(line.startswith("P shirt") for line in lines)


def test_the_loss_axis_fits_the_loss_after_the_first_epoch():
    from tui_trainer.ui.panels.curves import CurvesPanel

    panel = CurvesPanel()
    panel.reset(10)
    panel.add("train loss", 0.1, 2.0)                   # the first batches
    assert panel.loss_range() == (0.0, 2.0)
    for epoch, loss in enumerate([0.78, 0.57, 0.53, 0.50, 0.49], start=1):
        panel.add("train loss", epoch, loss)
    low, high = panel.loss_range()
    assert (low, high) == pytest.approx((0.45, 0.8))   # 0.49-0.78 fill the axis, not 2.0


def test_the_x_axis_spans_the_runs_shown_and_the_legend_is_outside():
    from tui_trainer.ui.panels.curves import CurvesPanel

    panel = CurvesPanel()
    panel.reset(10)                                      # the form's 10 epochs, no run yet
    panel.overlays = [("lr 0.1 test acc", [1.0, 2.0, 3.0, 4.0, 5.0], [0.7] * 5),
                      ("lr 0.03 test acc", [1.0, 2.0, 3.0], [0.6] * 3)]
    assert panel.span() == 5.0                           # 5-epoch runs drawn to 5, not 10
    panel.add("test acc", 1, 0.8)                        # this session's run of 10 epochs
    assert panel.span() == 10
    legend = panel.legend().plain
    assert "test acc (right)" in legend and "lr 0.1 test acc" in legend
    assert "lr 0.03 test acc" in legend


def test_leaving_the_tui_says_where_the_run_is(capsys, tmp_path):
    from tui_trainer.ui.launch import say_where

    say_where(str(tmp_path / "runs" / "x"), "stopped")
    err = capsys.readouterr().err
    assert f"smtui: last run (stopped): {tmp_path}/runs/x" in err
    assert f"smtui: resume with: smtui --resume {tmp_path}/runs/x" in err
    assert f"smtui: look at it with: smtui view {tmp_path}/runs/x" in err
    say_where(str(tmp_path / "y"), "finished")
    err = capsys.readouterr().err
    assert "resume" not in err and "smtui view" in err


@pytest.mark.app
async def test_markup_in_paths_and_messages_is_shown_literally(data_dir, tmp_path):
    out = tmp_path / MARKUP
    app = long_app(data_dir, out, epochs=1, batch_size=64)
    async with app.run_test(size=(250, 30)) as pilot:     # wide: no path is wrapped
        await pilot.press("s")
        await wait_for(pilot, lambda: app.controller.state.last_status == "finished")
        await pilot.press("7")
        await pilot.pause()
        log = "".join(line.text for line in app.log_view.lines)   # lines may wrap
        assert f"{out}/" in log
        app.log_message("an [red]error[/] from [/] somewhere")
        await pilot.pause()
        assert "an [red]error[/] from [/] somewhere" in app.log_view.lines[-1].text
        await pilot.press("5")                      # the runs table names the run literally
        await pilot.pause()
        assert app.is_running


def test_a_dumb_terminal_gets_plain_lines_headless(monkeypatch):
    """TERM=dumb: no carriage returns or erase codes, only whole lines, even on a terminal."""
    import io

    from tui_trainer.core.events import BatchEnd
    from tui_trainer.headless.single import ConsoleReporter

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True
    for term, bar in (("xterm-256color", True), ("dumb", False)):
        monkeypatch.setenv("TERM", term)
        out, err = Terminal(), Terminal()
        reporter = ConsoleReporter(2, out=out, err=err)
        reporter(BatchEnd(1, 5, 10, 80, 1000.0, 0.5, 0.8))
        reporter.line("epoch 1/2")
        assert ("\r" in err.getvalue() or "\x1b[2K" in err.getvalue()) == bar, term


COLOUR_MODES = [{"NO_COLOR": "1"}, {"TERM": "dumb"}, {"TERM": "xterm"},
                {"TERM": "xterm-256color"}, {"TERM": "xterm-256color", "COLORTERM": "truecolor"}]


@pytest.mark.tmux
@tmux_only
@pytest.mark.parametrize("env", COLOUR_MODES, ids=["NO_COLOR", "dumb", "16 colours",
                                                    "256 colours", "truecolor"])
def test_every_tab_draws_in_every_colour_mode(data_dir, tmp_path, env):
    """The real TUI in tmux under each colour mode: a run, then every tab (the Train view too,
    at 160x48) and the viewer's tabs, without a crash; q leaves with exit code 0."""
    settings = " ".join(f"{k}={v}" for k, v in env.items())
    exit_file = tmp_path / "exit"
    command = (f"cd {os.getcwd()} && env {settings} SMTUI_NO_DOWNLOAD=1 {sys.executable} -m "
               f"tui_trainer --data-dir {data_dir} --out {tmp_path}/runs --epochs 2 "
               f"--batch-size 64; echo EXIT=$? > {exit_file}; sleep 30")
    tmux = Tmux(command, 160, 48)
    try:
        tmux.wait_for(" idle ", timeout=90)
        tmux.keys("s")
        tmux.wait_for("finished", timeout=90)
        every_tab(tmux, "torch loaded")
        tmux.keys("q")
        assert wait_exit(exit_file, timeout=60) == "EXIT=0"
    finally:
        tmux.kill()
    view_exit = tmp_path / "view-exit"
    tmux = Tmux(f"cd {os.getcwd()} && env {settings} {sys.executable} -m tui_trainer view "
                f"{tmp_path}/runs; echo EXIT=$? > {view_exit}; sleep 30", 160, 48)
    try:
        tmux.wait_for("finished", timeout=90)
        tmux.keys("1")
        tmux.wait_for("batch size    64 ", "Traceback", timeout=30)   # the run's, not defaults
        every_tab(tmux, "Watching")
        tmux.keys("q")
        assert wait_exit(view_exit, timeout=60) == "EXIT=0"
    finally:
        tmux.kill()


def every_tab(tmux: Tmux, log_text: str) -> None:
    """Press each tab's key and wait for its content: no traceback, no error anywhere."""
    for key, text in (("2", "loss (left axis)"), ("3", "class probabilities"),
                      ("4", "answers"), ("5", "recipe"), ("6", "exercises 1-3"),
                      ("7", log_text), ("8", "class templates"), ("9", "loss (left axis)")):
        tmux.keys(key)
        screen = tmux.wait_for(text, "Traceback", timeout=30)
        assert "Traceback" not in screen and "Error" not in screen, (key, screen)


@pytest.mark.tmux
@tmux_only
def test_a_crash_inside_the_ui_stops_the_run_with_a_checkpoint(tmp_path):
    """An exception in the app's own code (here: the handler of an epoch's end) closes the
    window with its traceback; the training thread stops at its next batch with a checkpoint
    instead of training on unseen, and the process says where the run is, exit 1."""
    program = tmp_path / "crash.py"
    program.write_text(
        "import sys\n"
        "from tui_trainer.core.events import EpochEnd\n"
        "from tui_trainer.ui import controller\n"
        "def broken(self, event):\n"
        "    raise RuntimeError('drawing failed')\n"
        "controller.EVENT_HANDLERS[EpochEnd] = broken\n"
        "from tui_trainer.cli import main\n"
        f"main(['--dataset', 'subset', '--epochs', '100000', '--batch-size', '8', "
        f"'--out', {str(tmp_path / 'runs')!r}])\n")
    exit_file = tmp_path / "exit"
    tmux = Tmux(f"cd {os.getcwd()} && {sys.executable} {program}; echo EXIT=$? > {exit_file}; "
                "sleep 30", 120, 40)
    try:
        tmux.wait_for(" idle ", timeout=90)
        tmux.keys("s")
        assert wait_exit(exit_file, timeout=120) == "EXIT=1"
        screen = tmux.wait_for("resume with", timeout=10)
        assert "RuntimeError: drawing failed" in screen and "last run (stopped)" in screen
    finally:
        tmux.kill()
    [run_dir] = (tmp_path / "runs").iterdir()
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "stopped" and status["epoch"] < 100000
    assert "the window crashed (RuntimeError: drawing failed)" in status["reason"]
    assert (run_dir / "checkpoint.pt").is_file()


@pytest.mark.app
async def test_the_log_text_can_be_selected_with_the_mouse_and_copied(tmp_path):
    """A drag over the Log tab selects its text, drawn in the selection style; ctrl+c then
    copies it (and does not quit, as it does with nothing selected)."""
    from tui_trainer.core.config import TrainConfig
    from tui_trainer.ui.app import SmtuiApp
    from tui_trainer.ui.panels.log import LogPanel

    app = SmtuiApp(TrainConfig(out=str(tmp_path)))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.controller.state.status == "idle")
        app.log_message("first line to copy")
        app.log_message("second line")
        await pilot.press("7")
        log = app.query_one(LogPanel)
        await wait_for(pilot, lambda: any("second line" in s.text for s in log.lines))
        row = next(i for i, s in enumerate(log.lines) if "first line to copy" in s.text)
        column = log.lines[row].text.index("first")
        y = row - int(log.scroll_offset.y)
        await pilot.mouse_down(log, offset=(column, y))
        await pilot.hover(log, offset=(column + 10, y))
        await pilot.mouse_up(log, offset=(column + 10, y))
        await wait_for(pilot, lambda: bool(app.screen.get_selected_text()))
        assert app.screen.get_selected_text().startswith("first line")
        def style_of_first() -> object:
            return next(seg.style for seg in log.render_line(y) if "first" in seg.text)
        selected = style_of_first()
        await pilot.press("ctrl+c")
        await wait_for(pilot, lambda: app.clipboard.startswith("first line"))
        assert app.is_running and not app.screen.get_selected_text()
        assert style_of_first() != selected             # the span was drawn as selected


@pytest.mark.app
async def test_a_notification_is_kept_in_the_log_whatever_its_markup(tmp_path):
    """Every notification is also a Log line; text that is not valid markup (`[/]`) is kept as
    written rather than ending the app."""
    from tui_trainer.core.config import TrainConfig
    from tui_trainer.ui.app import SmtuiApp

    app = SmtuiApp(TrainConfig(out=str(tmp_path)))
    async with app.run_test(size=(100, 30)) as pilot:
        app.notify("[b]bold[/b] said plainly")
        app.notify("a run named [/] odd", markup=False)
        await pilot.pause()
        lines = [line.plain for line in app.log_view.texts]
        assert any(line.endswith("bold said plainly") for line in lines)
        assert any(line.endswith("a run named [/] odd") for line in lines)
        assert app.is_running


@pytest.mark.app
async def test_a_press_on_a_notification_just_removed_goes_nowhere(tmp_path):
    """A right or left press, or a drag, on a notification that has left the screen but not yet
    its last drawn frame (it expired a moment before) is dropped: Textual's text selection read
    the removed widget's parent and ended the app."""
    from textual import events
    from textual.widgets._toast import Toast   # the notification widget has no public name
    from tui_trainer.core.config import TrainConfig
    from tui_trainer.ui.app import SmtuiApp

    app = SmtuiApp(TrainConfig(out=str(tmp_path)))
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        app.notify("using the embedded subset", timeout=60)

        def drawn() -> bool:   # the notification on the screen's map, where the pointer is
            toasts = app.screen.query(Toast)
            return bool(toasts) and toasts.first().region.area > 0 and app.screen.get_widget_at(
                toasts.first().region.x + 2, toasts.first().region.y + 1)[0] is toasts.first()
        await wait_for(pilot, drawn)
        toast = app.screen.query(Toast).first()
        x, y = toast.region.x + 2, toast.region.y + 1
        with app.batch_update():   # no new frame until the presses are handled, whatever the load
            await toast.remove()
            assert app.screen.get_widget_at(x, y)[0] is toast   # the frame still shows it
            for button in (3, 1, 2):
                app.post_message(events.MouseDown(None, x, y, 0, 0, button, False, False,
                                                  False, screen_x=x, screen_y=y))
                app.post_message(events.MouseMove(None, x - 1, y, -1, 0, button, False, False,
                                                  False, screen_x=x - 1, screen_y=y))
                app.post_message(events.MouseUp(None, x - 1, y, 0, 0, button, False, False,
                                                False, screen_x=x - 1, screen_y=y))
            await pilot.pause()
            assert app.screen.get_widget_at(x, y)[0] is toast   # handled against that frame
        await wait_for(pilot, lambda: app.screen.get_widget_at(x, y)[0] is not toast)
        assert app.is_running and app.return_code is None
        await pilot.click("#status")                        # the pointer still works
        assert app.is_running
