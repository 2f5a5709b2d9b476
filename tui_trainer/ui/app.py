"""The smtui Textual application: the book's Animator and predict_ch3, live in a terminal.

The app composes the panels and routes the keys. Everything about the run it drives or watches
belongs to one run controller (controller.py): its `RunState`, the worker that runs the core's
loop (`train.fit`, `sweep.fit_sweep`, or a learner's `d2l.train_ch3`), the loop's events, which
arrive here as `TrainingEvent` messages and are handed over, and what the panels show. The other
runs of the Runs tab are `RunsTab`'s (runs_tab.py); what differs between training, watching and
a learner's script is the mode's (modes.py); starting the app in a process and saying where the
run is once it closes is launch.py's. torch is imported in the background after the first
paint, so the window is usable at once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
import time

from rich.errors import MarkupError
from rich.text import Text
from textual import events, on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Static, TabbedContent, TabPane

from ..core.config import TrainConfig
from ..core.console import STOP_SIGNALS, encodable, inert, plural
from ..core.suspend import SuspendClock
from ..loop.meter import ProcessMeter, describe
from .panels.curves import CurvesPanel
from .panels.form import ConfigForm
from .help import HelpScreen
from .pointer import on_removed_widget
from .commands import smtui_commands
from .keys import KeyOrder
from .panels.log import LogPanel
from .controller import Panels, RunController
from .run_state import RunState
from .runs_tab import RELOAD_S, RunsTab
from .transcript import Transcript
from .messages import CoreLoaded, Printed, TrainingEvent, TrainingFailed
from .panels.analysis import AnalysisPanel
from .panels.numerics import NumericsPanel
from .panels.predictions import PredictionsPanel, SampleGrid
from .panels.runs import Comparison, RunRecord, RunsPanel
from .panels.status import StatusBar
from .modes import ScriptMode, TrainMode, WatchMode
from .terminal import TERMINAL_LOST, TerminalWatch, quiet_driver
from .textual_private import on_crash
from .threads import serial_here
from .panels.dashboard import DASH_H, DASH_W, MirrorCurves, TrainView
from .panels.weights import WeightsPanel

MIN_WIDTH, MIN_HEIGHT = 60, 20
QUIT_GRACE_S = 1.5   # a quit leaves when its run has ended, or after this, whichever is first
MACHINE_S = 1.0         # the status bar's CPU and memory figures


class SmtuiApp(App):
    """Configure, train and watch softmax regression on Fashion-MNIST."""

    controller: RunController   # the run's, from on_mount (its panels exist from then on)
    panels: Panels

    COMMAND_PALETTE_DISPLAY = "ctrl+p"
    # Below the minimum size the screen gets -narrow or -short and shows a notice instead.
    # From DASH_W x DASH_H up, the Train tab shows curves, predictions and settings together.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (MIN_WIDTH, "-wide-enough"), (DASH_W, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (MIN_HEIGHT, "-tall-enough"), (DASH_H, "-tall")]
    TITLE = "smtui"
    SUB_TITLE = "softmax regression on Fashion-MNIST"
    CSS = """
    #too-small { display: none; width: 1fr; height: 1fr; content-align: center middle;
                 text-align: center; color: $warning; }
    Screen.-narrow #too-small, Screen.-short #too-small { display: block; }
    Screen.-narrow #main, Screen.-narrow StatusBar, Screen.-narrow Footer,
    Screen.-short #main, Screen.-short StatusBar, Screen.-short Footer { display: none; }
    #main { height: 1fr; }
    TabbedContent { height: 1fr; }
    TabPane { padding: 0; }
    LogPanel { height: 1fr; }
    #--content-tab-train { display: none; }
    Screen.-wide.-tall #--content-tab-train { display: block; }
    #curves-legend { height: auto; padding: 0 1; }
    CurvesPanel { height: 1fr; }
    """
    BINDINGS = [
        Binding("s", "start", "start"),
        Binding("space", "pause", "pause"),
        Binding("x", "stop", "stop"),
        # quit and help before the rest: a footer of 80 columns drops its last keys, and these
        # two must always show
        Binding("q", "quit", "quit"),
        Binding("question_mark", "help", "help", key_display="?"),
        Binding("r", "reset", "reset"),
        Binding("n", "new_samples", "new"),
        Binding("m", "misclassified", "wrong"),
        Binding("c", "save_checkpoint", "ckpt"),
        Binding("o", "overlay", "overlay", show=False),
        Binding("v", "compare_metric", "loss/acc", show=False),
        Binding("escape", "leave_field", "leave field", show=False),
        Binding("1", "tab('setup')", "setup", show=False),
        Binding("2", "tab('curves')", "curves", show=False),
        Binding("3", "tab('predictions')", "predictions", show=False),
        Binding("4", "tab('analysis')", "analysis", show=False),
        Binding("5", "tab('runs')", "runs", show=False),
        Binding("6", "tab('numerics')", "numerics", show=False),
        Binding("7", "tab('log')", "log", show=False),
        Binding("8", "tab('weights')", "weights", show=False),
        Binding("9", "tab('train')", "train", show=False),
        Binding("slash", "filter_runs", "filter runs", show=False, key_display="/"),
        Binding("ctrl+c", "copy_or_quit", "quit", show=False, priority=True),
        Binding("f1", "help", "help", show=False),
        Binding("ctrl+z", "suspend", "suspend", show=False),   # fg comes back
    ]

    def __init__(self, config: TrainConfig | None = None, resume: str | None = None, *,
                 watch: str | None = None, compare: list[str] | None = None,
                 script=None, theme: str | None = None) -> None:
        super().__init__()
        self.remember_theme = False   # a theme picked once the app runs is saved (settings.py)
        if theme:
            self.theme = theme
        self.config = config or TrainConfig()
        # What differs between training, watching a run and a learner's script (modes.py).
        self.mode = WatchMode(watch) if watch else \
            ScriptMode(script) if script is not None else TrainMode()
        # The run's state, held by the run controller once the panels exist (on_mount); the
        # compared runs and how they are shown, by the Runs tab's presenter.
        state = RunState(self.config.epochs, resume=resume)
        self.runs = RunsTab(self, state, Comparison(
            [RunRecord.from_dir(d) for d in compare or []], overlay=bool(compare)))
        self.signal_code: int | None = None   # 128 + the signal that asked the app to quit
        self.suspend_clock: SuspendClock | None = None   # ctrl+z's time, left out of training's
        self.terminal_watch: TerminalWatch | None = None  # from on_mount, on a real terminal
        self.last_size = (0, 0)
        self.continued_at = 0.0   # when fg last brought the app back (time.monotonic)
        self.key_order = KeyOrder(self)
        on_crash(self, self.stop_runs_on_crash)

    def get_system_commands(self, screen):
        """The command palette: smtui's commands (commands.py), then Textual's, less its
        Screenshot (smtui's says where the file went)."""
        yield from smtui_commands(self)
        yield from (c for c in super().get_system_commands(screen) if c.title != "Screenshot")

    def watch_theme(self, theme: str) -> None:
        """A theme the user picks is remembered for the next session."""
        if self.remember_theme:
            from ..store.settings import save_theme
            problem = save_theme(theme)
            if problem:
                self.notify(f"Theme not remembered: {problem}", severity="warning",
                            markup=False)

    def show_machine(self) -> None:
        """The process's CPU use and memory (and GPU) in the status bar, once a second: what
        top or nvidia-smi would say, read from what the kernel and torch already count."""
        self.panels.status_bar.machine = describe(self.meter.sample())

    def on_resumed(self, _app) -> None:
        """Back from ctrl+z (`fg`): the shell drew over the screen; draw all of it again."""
        self.screen.refresh(layout=True)
        self.refresh(layout=True)

    def use_preset(self, name: str) -> None:
        """The palette's presets: as choosing one in the form's preset field."""
        from textual.widgets import Select
        self.panels.tabs.active = "setup"
        self.panels.form.query_one("#preset", Select).value = name

    def action_save_screenshot(self) -> None:
        """Save the screen as SVG in the working folder and say where."""
        try:
            path = self.save_screenshot()
        except OSError as exc:
            self.notify(f"Screenshot not saved: {exc.strerror or exc}", severity="error",
                        markup=False)
            return
        self.notify(f"Screenshot saved: {path}", markup=False)

    def get_default_screen(self) -> Screen:
        """The first screen, with the breakpoint classes of the terminal's size already on it:
        set at the first resize instead, they restyled every widget a second time before the
        first frame (a fifth of the time to it)."""
        width, height = self.size
        classes = [name for size, name in (
            max((b for b in self.HORIZONTAL_BREAKPOINTS if width >= b[0]), default=(0, "")),
            max((b for b in self.VERTICAL_BREAKPOINTS if height >= b[0]), default=(0, "")))
            if name]
        return Screen(id="_default", classes=" ".join(classes))

    def get_driver_class(self):
        return quiet_driver(super().get_driver_class())   # survives a closed terminal

    async def on_event(self, event: events.Event) -> None:
        """Keys act in the order they were typed, focus moves included (keys.py); the pointer
        pressing a widget already removed goes nowhere (pointer.py)."""
        if not event.is_forwarded and (self.before_fg(event) or self.key_order.held(event) or (
                isinstance(event, events.Key) and await self.key_order.handle(event))
                or on_removed_widget(self, event)):
            return
        await super().on_event(event)

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(f"Terminal too small.\nsmtui needs at least {MIN_WIDTH}x{MIN_HEIGHT}.\n"
                     "Training goes on; enlarge the window, or q to quit.", id="too-small")
        with Vertical(id="main"):
            with TabbedContent(initial="setup"):
                with TabPane("Setup", id="setup"):
                    yield ConfigForm(self.config, id="form")
                with TabPane("Curves", id="curves"):
                    yield CurvesPanel(id="plot")
                    yield Static("", id="curves-legend")
                with TabPane("Predictions", id="predictions"):
                    yield PredictionsPanel(id="preds")
                with TabPane("Analysis", id="analysis"):
                    yield AnalysisPanel(id="analysis-panel")
                with TabPane("Runs", id="runs"):
                    yield Input(placeholder="filter, e.g. lr>0.05 model=mlp state=finished",
                                id="runs-filter", compact=True)
                    yield Static("", id="runs-note")
                    yield RunsPanel(self.runs.comparison, id="runs-table")
                with TabPane("Numerics", id="numerics"):
                    yield NumericsPanel(id="numerics-panel")
                with TabPane("Log", id="log"):
                    yield LogPanel(id="messages")
                with TabPane("Weights", id="weights"):
                    with VerticalScroll():
                        yield WeightsPanel(id="weights-panel")
                with TabPane("Train", id="train"):
                    yield TrainView()
        yield StatusBar(id="status")
        yield Footer()

    def on_mount(self) -> None:
        def one(selector, kind=None):
            return self.query_one(selector, kind) if kind else self.query_one(selector)
        panels = Panels(
            form=one(ConfigForm), tabs=one(TabbedContent), curves=one(CurvesPanel),
            curves_legend=one("#curves-legend", Static),
            predictions=one("#preds", PredictionsPanel),
            dash_preds=one("#dash-preds", PredictionsPanel), dash_curves=one(MirrorCurves),
            dash_legend=one("#dash-legend", Static), dash_settings=one("#dash-settings", Static),
            analysis=one(AnalysisPanel), runs_table=one(RunsPanel),
            runs_note=one("#runs-note", Static), weights=one(WeightsPanel),
            status_bar=one(StatusBar))
        self.panels = panels
        self.log_view = one("#messages", LogPanel)
        # What is printed while the app holds the terminal (a learner's print, a warning):
        # shown in the Log tab, and a script's written again once the window has closed.
        self.printed = Transcript(self.mode.epochs_said,
                                  lambda line, stderr: self.post_message(Printed(line, stderr)))
        self.begin_capture_print(self.printed)
        self.grid = one("#preds SampleGrid", SampleGrid)
        self.runs.attach(panels)
        self.controller = RunController(self, panels, self.runs.state, self.mode, self.runs)
        state = self.controller.state
        panels.curves.reset(self.config.epochs)
        panels.curves.redraw()
        self.controller.publish()
        if state.resume:
            self.log_message(f"Start resumes the run in {state.resume}.")
            panels.form.resuming(state.resume)
        self.set_interval(self.mode.redraw_s, self.redraw)
        self.set_interval(RELOAD_S, self.runs.reload_live)   # other processes' runs
        self.remember_theme = True
        self.app_resume_signal.subscribe(self, self.on_resumed)
        self.install_signal_handlers()
        self.terminal_watch = self.watch_terminal()
        self.load_core()
        records = self.runs.comparison.records
        if records:
            self.runs.refresh()
            panels.tabs.active = "curves"
            self.log_message(f"Comparing {len(records)} runs: o toggles the overlay; "
                             "their configs are in the Runs tab.")
            problems = [p for r in records for p in r.problems]
            for problem in problems:
                self.log_message(f"skipped what is malformed: {problem}", "yellow")
            if problems:
                self.notify(f"{len(problems)} malformed file(s) or row(s) skipped: see the Log "
                            "tab (7).", severity="warning", timeout=8)
        self.mode.mount(self.controller)

    def watch_machine(self) -> None:
        """This process's CPU and memory in the status bar, once a second (a watched run's
        figures come with its epochs instead)."""
        self.meter = ProcessMeter()
        self.set_interval(MACHINE_S, self.show_machine)

    # ------------------------------------------------------------------ torch in the background
    def load_core(self) -> None:
        """Import torch and the core after the first paint, in a daemon thread of its own: a
        worker would run in asyncio's default executor, which the app's exit waits for, so a q
        pressed during the import (seconds on a small machine) waited for it to end."""
        def load() -> None:
            start = time.perf_counter()
            try:
                import torch

                from ..loop import train  # noqa: F401  (warm the import for the first run)
            except Exception:   # a broken install: the run's own import says what is wrong
                return
            device = "cuda" if torch.cuda.is_available() else "cpu"
            self.post_message(CoreLoaded(time.perf_counter() - start, device))
        threading.Thread(target=load, name="smtui-load-core", daemon=True).start()

    def on_core_loaded(self, message: CoreLoaded) -> None:
        serial_here()
        self.query_one(NumericsPanel).update_report()
        self.log_message(f"torch loaded in {message.seconds:.1f} s; device available: "
                         f"{message.device}")
        self.controller.core_loaded(message.device)

    # ------------------------------------------------------------------ the run's messages
    def on_training_event(self, message: TrainingEvent) -> None:
        """The loop's events (and a watched run's) are the run controller's."""
        self.controller.handle(message.event)

    def on_printed(self, message: Printed) -> None:
        """A line the program printed: the Log tab's, as it comes (stderr's in the error
        colour)."""
        self.log_message(message.line, "red" if message.stderr else None)

    def on_training_failed(self, message: TrainingFailed) -> None:
        self.controller.failed(message.text)

    def on_runs_panel_marked(self, message: RunsPanel.Marked) -> None:
        self.runs.toggle_mark(message.record, message.mark)

    def on_runs_panel_sort_asked(self, message: RunsPanel.SortAsked) -> None:
        self.runs.sort_by(message.key)

    def on_runs_panel_resume_asked(self, message: RunsPanel.ResumeAsked) -> None:
        self.runs.resume(message.record, self.mode.resume_refusal)

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "runs-filter":
            event.stop()
            self.runs.set_filter(event.value)

    @on(ConfigForm.StartPressed)
    def on_start_pressed(self) -> None:
        self.controller.start_from_form()

    # ------------------------------------------------------------------ training keys
    def check_action(self, action: str, parameters) -> bool | None:
        # A watched run is controlled where it runs; a script's run cannot be started again or
        # reset from here: those keys are hidden and do nothing.
        return action not in self.mode.locked

    def action_start(self) -> None:
        """Start a run with the form's config."""
        self.controller.start_from_form()

    def action_pause(self) -> None:
        """Pause or resume the running loop."""
        self.controller.toggle_pause()

    def action_stop(self) -> None:
        """Stop the run at the next batch (a checkpoint is written)."""
        self.controller.stop()

    def action_reset(self) -> None:
        """Stop any run, clear curves and predictions, and unlock the form."""
        self.controller.reset()

    def action_save_checkpoint(self) -> None:
        """Ask the loop for a checkpoint now; outside a run, say where the last one is."""
        self.controller.save_checkpoint()

    def action_overlay(self) -> None:
        """Toggle the other runs' curves on the plot."""
        self.runs.toggle_overlay()

    def action_compare_metric(self) -> None:
        """v: compare the runs' train loss instead of their test accuracy, and back."""
        self.runs.toggle_metric()

    def follow_size(self) -> None:
        """After the window was resized (checked at each redraw tick): the Train view falls back
        to the Curves tab where it no longer fits, and the log is written again at its width."""
        size = (self.size.width, self.size.height)
        if size == self.last_size:
            return
        self.last_size = size
        if self.panels.tabs.active == "train" and not self.big_screen():
            self.panels.tabs.active = "curves"   # the same, in tabs
        if self.panels.tabs.active == "log":
            self.call_after_refresh(self.log_view.rewrap)
        else:
            self.log_view.stale = True

    def redraw(self, force: bool = False) -> None:
        """The timer's tick: the window's size followed, then what the run has pending."""
        self.follow_size()
        self.controller.draw_pending(force)

    def big_screen(self) -> bool:
        """True where the Train view is shown (DASH_W x DASH_H and up)."""
        return self.size.width >= DASH_W and self.size.height >= DASH_H

    def notify(self, message, *, title: str = "", severity="information", timeout=None,
               markup: bool = True) -> None:
        """A notification, also written to the Log tab: a toast vanishes after a few seconds,
        the Log keeps what it said."""
        message = inert(message) if isinstance(message, str) else message   # paths, names
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)
        if getattr(self, "log_view", None) is not None:
            text = str(message)
            if markup:
                try:
                    text = Text.from_markup(text).plain
                except MarkupError:   # the Log keeps it as written
                    pass
            self.log_message(text, "red" if severity == "error" else
                             "yellow" if severity == "warning" else None)

    def log_message(self, text: str, style: str | None = None) -> None:
        """Add a line to the log tab. `text` is shown as it is, never read as markup: it may
        hold a path, a value the user typed or an exception's message."""
        line = Text.assemble((time.strftime("%H:%M:%S"), "dim"), " ",
                             Text(encodable(inert(text)), style=style or ""))
        self.log_view.add(line, shown=self.panels.tabs.active == "log")

    # ------------------------------------------------------------------ views
    def action_new_samples(self) -> None:
        """Draw a new set of test images."""
        for panel in self.panels.prediction_panels:
            panel.new_samples()

    def action_misclassified(self) -> None:
        """Toggle showing only misclassified images."""
        panel = self.panels.predictions
        value = not panel.misclassified_only
        for each in self.panels.prediction_panels:
            each.misclassified_only = value
        self.notify("Showing only misclassified images." if panel.misclassified_only
                    else "Showing all images.")

    def action_tab(self, tab: str) -> None:
        """Switch to a tab (the Train view only where it fits)."""
        if tab == "train" and not self.big_screen():
            self.notify(f"The Train view needs a terminal of {DASH_W}x{DASH_H} or more; "
                        "the other tabs show the same.")
            return
        from textual.widgets import Tabs
        # A focused widget of the pane being hidden (the Runs table) would hand the focus to the
        # next one of that pane (its filter), whose focus takes the tab back: the key switched
        # nothing and the next key was typed into the filter. The tabs bar takes the focus
        # first, so the switch holds from every focus.
        bar = self.panels.tabs.query(Tabs)
        if bar and self.focused is not None and self.focused is not bar.first():
            self.screen.set_focus(bar.first())   # now: `focus()` would come after the switch
        self.panels.tabs.active = tab
        # The tab's own focus, now too (`focus()` lands later, after a key typed next may have
        # switched again, and its pane's focus would take the tab back).
        if tab == "predictions":
            self.screen.set_focus(self.grid)
        elif tab == "runs" and self.panels.runs_table.row_count:
            self.screen.set_focus(
                self.panels.runs_table
            )  # p, h, v and Enter act on its rows at once
        elif tab == "analysis":
            self.screen.set_focus(self.panels.analysis)

    def action_filter_runs(self) -> None:
        """/: the Runs tab's filter, focused at once, so what is typed next is the filter's:
        with the table focused, `lr>0.2` lost its `l` and `r` to the keys."""
        self.action_tab("runs")
        self.screen.set_focus(self.query_one("#runs-filter"))

    @on(TabbedContent.TabActivated)
    def on_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id == "predictions":
            self.call_after_refresh(self.panels.predictions.refresh_if_stale)
        elif event.pane.id == "curves":
            self.call_after_refresh(self.controller.redraw_curves)
        elif event.pane.id == "weights":
            self.call_after_refresh(self.panels.weights.draw_pending)
        elif event.pane.id == "train":
            self.call_after_refresh(self.panels.dash_preds.refresh_if_stale)
            self.call_after_refresh(self.controller.redraw_curves, True)
        elif event.pane.id == "log" and self.log_view.stale:
            self.call_after_refresh(self.log_view.rewrap)
        elif event.pane.id == "analysis":
            self.call_after_refresh(self.panels.analysis.refresh_if_stale)
            if self.panels.tabs.active == "analysis":   # still: not after a later key switched away
                self.screen.set_focus(self.panels.analysis)

    def action_leave_field(self) -> None:
        """Escape: leave a text field, so the keys in the footer act again. The focus goes to
        the tabs bar (drawn focused; the arrows switch tabs there), never nowhere: where the
        keys go stays visible."""
        from textual.widgets import Tabs
        bar = self.panels.tabs.query(Tabs)
        if bar and self.focused is not bar.first():
            bar.first().focus()

    def action_help(self) -> None:
        """Show the key bindings."""
        self.push_screen(HelpScreen())

    def action_copy_or_quit(self) -> None:
        """ctrl+c: copies the selected text where there is a selection (the Log tab's, with
        the mouse), as in other Textual apps and terminals; else quits as q does."""
        text = self.screen.get_selected_text()
        if text:
            self.copy_to_clipboard(text)
            self.screen.clear_selection()
            self.notify(f"Copied {plural(len(text.splitlines()), 'line')}.")
            return
        self.quit_app()

    async def action_quit(self) -> None:
        """Quit; a running loop is stopped first (checkpoint saved), at most ~1.5 s later."""
        self.quit_app()

    def quit_app(self, reason: str | None = None) -> None:
        """Stop any run (`reason` is recorded in its status) and leave. The window closes once
        the run has ended, or after 1.5 s; `run_tui` then waits for the checkpoint."""
        for worker in self.workers:
            if worker.group == "watch":
                worker.cancel()
        controller = getattr(self, "controller", None)   # none before the panels exist
        if controller is not None and controller.stop_to_quit(reason):
            self.set_timer(QUIT_GRACE_S, self.leave)
        else:
            self.leave()

    def stop_runs_on_crash(self, error: BaseException) -> None:
        """A crash inside the app ends the window (Textual prints the traceback on exit), but
        the training thread would go on unseen until its last epoch: it is stopped at its next
        batch, with a checkpoint, and the process then says where the run is (`run_tui`)."""
        for control in self.runs.state.unfinished():
            control.request_stop(f"the window crashed ({type(error).__name__}: {error})")

    def leave(self) -> None:
        """Exit the app with the code a signal asked for (0 otherwise)."""
        self.exit(return_code=self.signal_code or 0)

    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGHUP (a closed terminal or SSH connection) quit as `q` does: the run
        stops at its next batch with a checkpoint, the terminal is restored, and the exit code is
        143 or 129. A SIGHUP that was ignored when smtui started (nohup) stays ignored."""
        try:   # over the driver's own handlers, which restore the terminal
            self.suspend_clock = SuspendClock(lambda: self.runs.state.control).install()
        except ValueError:   # not the main thread: no signals here
            pass
        loop = asyncio.get_running_loop()
        for name in ("SIGTERM", "SIGHUP"):
            signum = getattr(signal, name, None)
            if signum is None or signal.getsignal(signum) == signal.SIG_IGN:
                continue
            try:
                loop.add_signal_handler(signum, self.on_stop_signal, signum)
            except (NotImplementedError, RuntimeError, ValueError):
                pass

    def watch_terminal(self) -> TerminalWatch | None:
        """Watch the terminal itself (terminal.py): losing it quits as a hang-up does, even
        where no hang-up arrives (a `su` between, nohup). Not in a test harness's headless app."""
        if self.is_headless:
            return None
        try:
            fd = sys.__stdin__.fileno() if sys.__stdin__ is not None else -1
            if fd < 0 or not os.isatty(fd):
                return None
        except (OSError, ValueError):
            return None
        loop = asyncio.get_running_loop()
        return TerminalWatch(fd, lambda: loop.call_soon_threadsafe(self.on_terminal_lost),
                             self.runs.state.unfinished).start()

    def on_terminal_lost(self) -> None:
        """The terminal is gone: stop any run with a checkpoint and leave, with the hang-up's
        exit code (129)."""
        if self.signal_code is None:
            self.signal_code = 128 + getattr(signal, "SIGHUP", 1)
        self.quit_app(TERMINAL_LOST)

    def before_fg(self, event: events.Event) -> bool:
        """A ctrl+z read before the last stop, still queued behind it (pressed twice, the
        second while the first was taken): `fg` brought the app back, and that key stopped it
        again at once. A stop asked before the last one is over."""
        return isinstance(event, events.Key) and event.key == "ctrl+z" and \
            event.time < self.continued_at

    def action_suspend(self) -> None:
        """ctrl+z: stop smtui with what started it (make, bash -c), so the shell's `fg`
        brings both back (suspend.py); where no shell with job control could, say so instead
        of freezing the terminal. The time stopped is not counted as training."""
        from textual.app import SuspendNotSupported

        from ..core.suspend import job_control, stop_job
        if not job_control():
            self.notify("ctrl+z: no shell with job control started smtui here (tmux's or a "
                        "script's own command), so nothing could bring it back; q quits "
                        "(a run is saved and resumes with --resume)", severity="warning",
                        timeout=8, markup=False)
            return
        try:
            stop_job(self.suspend_clock, self.suspend)   # the terminal back to the shell
            self.continued_at = time.monotonic()
        except SuspendNotSupported:
            self.notify("ctrl+z: this terminal cannot be suspended", severity="warning")

    def on_unmount(self) -> None:
        """The app is gone: no run may wait behind it. A paused loop would wait for a key that
        never comes, and whatever closes the app (run_tui, a test harness, an embedding
        program) would wait for that loop's thread forever; a stop here ends it with a
        checkpoint, as quitting does (the reason a quit or a signal gave is kept)."""
        for control in self.runs.state.unfinished():
            control.request_stop()
        if self.terminal_watch is not None:
            self.terminal_watch.stop()
        if self.suspend_clock is not None:
            self.suspend_clock.uninstall()

    def on_stop_signal(self, signum: int) -> None:
        if self.signal_code is None:
            self.signal_code = 128 + signum
        self.quit_app(STOP_SIGNALS.get(signum))
