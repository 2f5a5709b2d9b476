"""The smtui Textual application: the book's Animator and predict_ch3, live in a terminal.

The app drives the core's loops (`train.fit`, `sweep.fit_sweep`, or a script's prepared session
for `d2l.train_ch3`) in a thread worker (`TrainingMixin`, training_mixin.py), whose events arrive
as `TrainingEvent` messages, each handled by its own method on the main thread; other runs
(compare, watch) come from `RunsMixin`. What the app knows of the run is one `RunState`
(run_state.py). This module holds the layout, the keys and the redraw timer. torch is imported
in the background after the first paint, so the window is usable at once. Stop, pause and
checkpoint requests reach the loop through a `Control`.
"""

from __future__ import annotations

import asyncio
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
from textual.widgets import Footer, Header, Input, Static, TabbedContent, TabPane

from ..core.config import TrainConfig, model_label
from ..core.errors import SmtuiError
from ..loop.meter import ProcessMeter, describe
from ..core.events import Control
from ..core.console import (STOP_SIGNALS, SafeStream, encodable, inert, next_steps, plural,
                            sweep_steps)
from .panels.curves import CurvesPanel
from .panels.form import ConfigForm
from .help import HelpScreen
from .commands import smtui_commands
from .keys import KeyOrder
from .panels.log import LogPanel
from .run_state import PAUSED, QUITTING, RESETTING, RUNNING, STOPPING, RunState
from .runs_mixin import RunsMixin
from .training_mixin import TrainingMixin
from .messages import CoreLoaded
from .panels.analysis import AnalysisPanel
from .panels.numerics import NumericsPanel
from .panels.predictions import PredictionsPanel, SampleGrid
from .panels.runs import Comparison, RunRecord, RunsPanel, SweepCurves
from .panels.status import StatusBar
from .modes import ScriptMode, TrainMode, WatchMode
from .terminal import quiet_driver
from .textual_private import on_crash
from .threads import serial_here
from .panels.dashboard import DASH_H, DASH_W, MirrorCurves, TrainView, settings_text
from .panels.weights import WeightsPanel

MIN_WIDTH, MIN_HEIGHT = 60, 20
MACHINE_S = 1.0         # the status bar's CPU and memory figures

class SmtuiApp(TrainingMixin, RunsMixin, App):
    """Configure, train and watch softmax regression on Fashion-MNIST."""

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
        self.state = RunState(self.config.epochs, resume=resume)
        # What differs between training, watching a run and a learner's script (modes.py).
        self.mode = WatchMode(watch) if watch else \
            ScriptMode(script) if script is not None else TrainMode()
        # The compared runs and how they are shown, handed to the Runs panel (runs_panel.py).
        self.comparison = Comparison([RunRecord.from_dir(d) for d in compare or []],
                                     overlay=bool(compare))
        self.core_loaded = False
        self.pending_probs = None  # an epoch's test predictions, drawn at the next redraw tick
        self.pending_templates = None   # (templates, epoch) of a linear model, likewise
        self.signal_code: int | None = None   # 128 + the signal that asked the app to quit
        self.suspend_clock = None               # ctrl+z's time, left out of training's
        self.last_size = (0, 0)
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
        self.status_bar.machine = describe(self.meter.sample())

    def on_resumed(self, _app) -> None:
        """Back from ctrl+z (`fg`): the shell drew over the screen; draw all of it again."""
        self.screen.refresh(layout=True)
        self.refresh(layout=True)

    def use_preset(self, name: str) -> None:
        """The palette's presets: as choosing one in the form's preset field."""
        from textual.widgets import Select
        self.tabs.active = "setup"
        self.form.query_one("#preset", Select).value = name

    def action_save_screenshot(self) -> None:
        """Save the screen as SVG in the working folder and say where."""
        try:
            path = self.save_screenshot()
        except OSError as exc:
            self.notify(f"Screenshot not saved: {exc.strerror or exc}", severity="error",
                        markup=False)
            return
        self.notify(f"Screenshot saved: {path}", markup=False)

    def get_driver_class(self):
        return quiet_driver(super().get_driver_class())   # survives a closed terminal

    async def on_event(self, event: events.Event) -> None:
        """Keys act in the order they were typed, focus moves included (keys.py)."""
        if not event.is_forwarded and (self.key_order.held(event) or (
                isinstance(event, events.Key) and await self.key_order.handle(event))):
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
                    yield RunsPanel(self.comparison, id="runs-table")
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
        # Widgets are looked up once: handlers that run while the app shuts down (a last
        # message from the worker) then touch detached widgets instead of failing a query.
        self.curves = self.query_one(CurvesPanel)
        self.curves_legend = self.query_one("#curves-legend", Static)
        self.status_bar = self.query_one(StatusBar)
        self.form = self.query_one(ConfigForm)
        self.predictions = self.query_one("#preds", PredictionsPanel)
        self.dash_preds = self.query_one("#dash-preds", PredictionsPanel)
        self.prediction_panels = [self.predictions, self.dash_preds]
        self.dash_curves = self.query_one(MirrorCurves)
        self.dash_legend = self.query_one("#dash-legend", Static)
        self.dash_settings = self.query_one("#dash-settings", Static)
        self.tabs = self.query_one(TabbedContent)
        self.log_view = self.query_one("#messages", LogPanel)
        self.grid = self.query_one("#preds SampleGrid", SampleGrid)
        self.analysis = self.query_one(AnalysisPanel)
        self.runs_table = self.query_one(RunsPanel)
        self.runs_note = self.query_one("#runs-note", Static)
        self.weights = self.query_one(WeightsPanel)
        self.curves.reset(self.config.epochs)
        self.curves.redraw()
        self.status_bar.state = "loading torch…"
        if self.state.resume:
            self.log_message(f"Start resumes the run in {self.state.resume}.")
            self.form.resuming(self.state.resume)
        self.set_interval(self.mode.redraw_s, self.redraw)
        self.remember_theme = True
        self.app_resume_signal.subscribe(self, self.on_resumed)
        self.install_signal_handlers()
        self.load_core()
        if self.comparison.records:
            self.refresh_runs()
            self.tabs.active = "curves"
            self.log_message(f"Comparing {len(self.comparison.records)} runs: o toggles the "
                             "overlay; "
                             "their configs are in the Runs tab.")
            problems = [p for r in self.comparison.records for p in r.problems]
            for problem in problems:
                self.log_message(f"skipped what is malformed: {problem}", "yellow")
            if problems:
                self.notify(f"{len(problems)} malformed file(s) or row(s) skipped: see the Log "
                            "tab (7).", severity="warning", timeout=8)
        self.mode.mount(self)

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
        self.core_loaded = True
        self.query_one(NumericsPanel).update_report()
        status = self.status_bar
        status.device = self.config.device if self.config.device != "auto" else message.device
        self.log_message(f"torch loaded in {message.seconds:.1f} s; device available: "
                         f"{message.device}")
        self.mode.core_loaded(self)

    # ------------------------------------------------------------------ training
    def check_action(self, action: str, parameters) -> bool | None:
        # A watched run is controlled where it runs; a script's run cannot be started again or
        # reset from here: those keys are hidden and do nothing.
        return action not in self.mode.locked

    def action_start(self) -> None:
        """Start a run with the form's config."""
        if self.state.running:
            self.notify("A run is already going on: stop (x) or reset (r) first.",
                        severity="warning")
            return
        form = self.form
        config, errors = form.read()
        if config is None:
            self.tabs.active = "setup"
            self.notify("Fix the invalid fields first: " + ", ".join(errors), severity="error",
                        markup=False)
            return
        lrs = form.sweep_lrs
        if lrs and self.state.resume:
            self.notify(f"A sweep starts new runs; Start resumes {self.state.resume} only with the "
                        "sweep field empty.", severity="error", markup=False)
            return
        self.start_run(config, lrs)

    def start_run(self, config: TrainConfig, lrs: list[float] | None, session=None) -> None:
        """Lock the form, clear the views and start the worker: a run of `config`, a sweep of
        `lrs`, or a script's prepared `session`."""
        form = self.form
        self.config = config
        self.state.start(Control(beside_ui=True))
        form.disabled = True
        self.state.epochs = config.epochs
        self.curves.reset(config.epochs)
        self.state.sweep = SweepCurves(lrs) if lrs else None
        self.state.current = None if lrs else RunRecord(
            "this script, running" if session is not None else "this session, running",
            config.to_dict())
        self.update_overlays()
        self.status_bar.state = "starting…"
        self.tabs.active = "train" if self.big_screen() else "curves"
        what = (f"a sweep of {len(lrs)} learning rates ({', '.join(f'{lr:g}' for lr in lrs)})"
                if lrs else f"lr {config.lr:g}")
        self.log_message(f"Starting: {model_label(config.model)}, {config.optimizer} {what}, "
                         f"batch {config.batch_size}, {plural(config.epochs, 'epoch')}.")
        self.train(config, self.state.resume, self.state.control, lrs, session)

    @on(ConfigForm.StartPressed)
    def on_start_pressed(self) -> None:
        self.action_start()

    def follow_size(self) -> None:
        """After the window was resized (checked at each redraw tick): the Train view falls back
        to the Curves tab where it no longer fits, and the log is written again at its width."""
        size = (self.size.width, self.size.height)
        if size == self.last_size:
            return
        self.last_size = size
        if self.tabs.active == "train" and not self.big_screen():
            self.tabs.active = "curves"   # the same, in tabs
        if self.tabs.active == "log":
            self.call_after_refresh(self.log_view.rewrap)
        else:
            self.log_view.stale = True

    def redraw(self, force: bool = False) -> None:
        """The timer's tick: the latest epoch's predictions, then the curves. Drawing each
        epoch's predictions as it ends took half a core from training at seven epochs a second."""
        self.follow_size()
        probs, self.pending_probs = self.pending_probs, None
        if probs is not None:
            for panel in self.prediction_panels:
                panel.update_predictions(probs)
            self.analysis.set_predictions(probs, self.predictions_labels())
        templates, self.pending_templates = self.pending_templates, None
        if templates is not None:
            self.weights.show(*templates)
        self.mode.redrawn(self)
        self.redraw_curves(force)

    def redraw_curves(self, force: bool = False) -> None:
        """Redraw the plot when it changed (timer-driven: the rate stays bounded)."""
        curves = self.curves
        if force:
            curves.dirty = True
        if self.tabs.active == "curves":   # a hidden plot is drawn when its tab is shown
            if curves.redraw():
                self.curves_legend.update(curves.legend())
        elif self.tabs.active == "train":
            self.update_settings()
            if self.dash_curves.follow(curves) or force:
                self.dash_curves.dirty = True
            if self.dash_curves.redraw():
                self.dash_legend.update(self.dash_curves.legend())

    def update_settings(self) -> None:
        """The Train view's settings column: the run's config, state and directory."""
        threads = f"×{self.status_bar.threads} threads" if self.status_bar.threads else ""
        config = self.config.to_dict()
        if self.state.sweep is not None:
            config["lr"] = ", ".join(f"{lr:g}" for lr in self.state.sweep.lrs) + " (a sweep)"
        self.dash_settings.update(settings_text(config, self.status_bar.state,
                                                self.state.run_dir, threads))

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
        self.log_view.add(line, shown=self.tabs.active == "log")

    # ------------------------------------------------------------------ controls
    def action_pause(self) -> None:
        """Pause or resume the running loop."""
        if not self.state.running or self.state.control is None:
            self.notify("Nothing to pause: no run is going on.")
            return
        status = self.status_bar
        if self.state.control.paused:
            self.state.control.unpause()
            self.state.phase, status.state = RUNNING, "training"
        else:
            self.state.control.pause()
            self.state.phase, status.state = PAUSED, "paused"

    def action_stop(self) -> None:
        """Stop the run at the next batch (a checkpoint is written)."""
        if not self.state.running or self.state.control is None:
            self.notify("Nothing to stop: no run is going on.")
            return
        self.state.control.request_stop()
        self.state.phase, self.status_bar.state = STOPPING, "stopping…"

    def action_reset(self) -> None:
        """Stop any run, clear curves and predictions, and unlock the form."""
        if self.state.running and self.state.control is not None:
            self.state.control.request_stop()
            self.state.phase = RESETTING
        self.state.resume = None
        self.form.resuming(None)
        self.pending_probs = None
        self.pending_templates = None
        self.weights.clear()
        self.curves.reset(self.form.initial.epochs)
        self.state.sweep = None
        self.update_overlays()
        self.redraw_curves(force=True)
        for panel in self.prediction_panels:
            panel.clear()
        self.analysis.clear()
        self.status_bar.reset_progress()
        self.tabs.active = "setup"
        self.log_message("Reset: curves and predictions cleared.")

    def action_new_samples(self) -> None:
        """Draw a new set of test images."""
        for panel in self.prediction_panels:
            panel.new_samples()

    def action_misclassified(self) -> None:
        """Toggle showing only misclassified images."""
        panel = self.predictions
        value = not panel.misclassified_only
        for each in self.prediction_panels:
            each.misclassified_only = value
        self.notify("Showing only misclassified images." if panel.misclassified_only
                    else "Showing all images.")

    def action_save_checkpoint(self) -> None:
        """Ask the loop for a checkpoint now; outside a run, say where the last one is."""
        if self.state.running and self.state.control is not None:
            self.state.control.request_save()
            self.notify("Saving a checkpoint now (paused)." if self.state.control.paused
                        else "Saving a checkpoint at the next batch.")
        elif self.state.run_dir:
            self.notify(f"Checkpoints are saved at each epoch end: {self.state.run_dir}/checkpoint.pt",
                        markup=False)
        else:
            self.notify("No run yet: nothing to save.")

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
        bar = self.tabs.query(Tabs)
        if bar and self.focused is not None and self.focused is not bar.first():
            self.screen.set_focus(bar.first())   # now: `focus()` would come after the switch
        self.tabs.active = tab
        # The tab's own focus, now too (`focus()` lands later, after a key typed next may have
        # switched again, and its pane's focus would take the tab back).
        if tab == "predictions":
            self.screen.set_focus(self.grid)
        elif tab == "runs" and self.runs_table.row_count:
            self.screen.set_focus(self.runs_table)   # p, h, v and Enter act on its rows at once
        elif tab == "analysis":
            self.screen.set_focus(self.analysis)

    @on(TabbedContent.TabActivated)
    def on_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id == "predictions":
            self.call_after_refresh(self.predictions.refresh_if_stale)
        elif event.pane.id == "curves":
            self.call_after_refresh(self.redraw_curves)
        elif event.pane.id == "weights":
            self.call_after_refresh(self.weights.draw_pending)
        elif event.pane.id == "train":
            self.call_after_refresh(self.dash_preds.refresh_if_stale)
            self.call_after_refresh(self.redraw_curves, True)
        elif event.pane.id == "log" and self.log_view.stale:
            self.call_after_refresh(self.log_view.rewrap)
        elif event.pane.id == "analysis":
            self.call_after_refresh(self.analysis.refresh_if_stale)
            if self.tabs.active == "analysis":   # still: not after a later key switched away
                self.screen.set_focus(self.analysis)

    def action_leave_field(self) -> None:
        """Escape: leave a text field, so the keys in the footer act again. The focus goes to
        the tabs bar (drawn focused; the arrows switch tabs there), never nowhere: where the
        keys go stays visible."""
        from textual.widgets import Tabs
        bar = self.tabs.query(Tabs)
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
        if self.state.running and self.state.control is not None:
            self.state.phase = QUITTING
            self.state.control.request_stop(reason)
            self.status_bar.state = "stopping to quit…"
            self.set_timer(1.5, self.leave)
        else:
            self.leave()

    def stop_runs_on_crash(self, error: BaseException) -> None:
        """A crash inside the app ends the window (Textual prints the traceback on exit), but
        the training thread would go on unseen until its last epoch: it is stopped at its next
        batch, with a checkpoint, and the process then says where the run is (`run_tui`)."""
        for control in self.state.controls:
            control.request_stop(f"the window crashed ({type(error).__name__}: {error})")

    def leave(self) -> None:
        """Exit the app with the code a signal asked for (0 otherwise)."""
        self.exit(return_code=self.signal_code or 0)

    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGHUP (a closed terminal or SSH connection) quit as `q` does: the run
        stops at its next batch with a checkpoint, the terminal is restored, and the exit code is
        143 or 129. A SIGHUP that was ignored when smtui started (nohup) stays ignored."""
        from ..core.suspend import SuspendClock
        try:   # over the driver's own handlers, which restore the terminal
            self.suspend_clock = SuspendClock(lambda: self.state.control).install()
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
            with self.suspend():   # the terminal given back, then restored after fg
                stop_job(self.suspend_clock)
        except SuspendNotSupported:
            self.notify("ctrl+z: this terminal cannot be suspended", severity="warning")

    def on_unmount(self) -> None:
        """The app is gone: no run may wait behind it. A paused loop would wait for a key that
        never comes, and whatever closes the app (run_tui, a test harness, an embedding
        program) would wait for that loop's thread forever; a stop here ends it with a
        checkpoint, as quitting does (the reason a quit or a signal gave is kept)."""
        for control in self.state.controls:
            if not control.finished.is_set():
                control.request_stop()
        if self.suspend_clock is not None:
            self.suspend_clock.uninstall()

    def on_stop_signal(self, signum: int) -> None:
        if self.signal_code is None:
            self.signal_code = 128 + signum
        self.quit_app(STOP_SIGNALS.get(signum))


def run_tui(config: TrainConfig | None, resume: str | None = None, *, watch: str | None = None,
            compare: list[str] | None = None, theme: str | None = None,
            theme_given: bool = False) -> int:
    """Run the app until the user quits; returns the exit code.

    The window may close before the training thread has written its last checkpoint (after a
    1.5 s grace); the process waits for it here, so quitting never loses the run's end.
    """
    app = SmtuiApp(config, resume, watch=watch, compare=compare, theme=known_theme(
        theme, theme_given))
    if theme_given:
        from ..store.settings import save_theme
        save_theme(theme)   # --theme is remembered, as a theme picked in the palette
    app.run()
    # The app's loop is closed and its signal handlers with it: a further hang-up (a shell
    # forwards one after the terminal's own) must not kill the process before the run's end.
    if hasattr(signal, "SIGHUP") and signal.getsignal(signal.SIGHUP) == signal.SIG_DFL:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    for control in app.state.controls:
        if not control.finished.is_set():
            control.request_stop(STOP_SIGNALS.get(app.signal_code - 128)
                                 if app.signal_code else None)
            control.finished.wait(120)
    if app.state.run_dir and not watch:
        from ..store.rundir import RunDir
        states = {d: RunDir(d).read_status().get("state", app.state.last_status)
                  for d in app.state.sweep_dirs or [app.state.run_dir]}
        if app.state.sweep_dirs:
            say_where_sweep(states)
        else:
            say_where(app.state.run_dir, states[app.state.run_dir])
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
    run ends; returns its RunEnded. The window is gone before anything is raised or printed:
    an exception from the learner's code is raised here, and the epochs stay in the
    scrollback as headless lines."""
    from ..core.console import epoch_line
    from ..core.events import RunEnded

    app = SmtuiApp(session.config, script=session)
    app.run()
    for each in app.state.controls:
        if not each.finished.is_set():
            each.request_stop()
            each.finished.wait(120)
    if app.state.error is not None:
        raise app.state.error
    err = SafeStream(sys.stdout)
    for row in session.history:
        err.write(epoch_line(row, session.config.epochs) + "\n")
    ended = app.state.ended or RunEnded("stopped", session.epoch, "the window was closed")
    if ended.status != "finished":
        err.write(f"d2l: {ended.message}\n")
    if session.run is not None:
        err.write(f"d2l: run directory: {session.run.path} (smtui view "
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
