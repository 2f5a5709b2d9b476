"""The configuration panel: one row per TrainConfig field, validated as the user types.

The rows are generated from the dataclass, so a new option appears here, on the command line and
in config.json at once. Text goes through the same `parse_field` and `validate` as the CLI.
"""

from __future__ import annotations

import dataclasses
import re

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Input, Label, Select, Static

from ...core.config import (FIELDS, PRESETS, TrainConfig, is_model_file, model_label, parse_field,
                            parse_lrs, preflight, preset_of, sweep_refusal)

SWEEP_HELP = "e.g. 0.01,0.1,1: a model per rate, trained in one pass (lr unused)"


def form_words(text: str) -> str:
    """A rule as the CLI words it ("applies to --optimizer torch-sgd or adam"), in the form's
    words: fields are named as their labels are ("optimizer torch-sgd"), never as options or
    internal names."""
    return re.sub(r"--([a-z][a-z-]*)", lambda m: m[1].replace("-", " "), text)


def options(choices) -> list[tuple[str, str]]:
    """A Select's (label, value) pairs: a model file shown by its name, not its whole path."""
    return [(model_label(c), c) for c in choices]


# What a learner's model file (`--model my_net.py`) decides itself: its net and loss, and its
# updater (else sgd at lr). These rows are hidden while the model is a file.
NOT_FOR_MODEL_FILES = ("softmax", "optimizer", "gradient")


class ConfigForm(VerticalScroll):
    """A form for every field of TrainConfig, with a Start button blocked by invalid values."""

    DEFAULT_CSS = """
    ConfigForm { padding: 0 1; }
    ConfigForm .row { height: auto; min-height: 1; margin-bottom: 0; }
    ConfigForm .row Label { width: 14; padding-top: 0; }
    ConfigForm .row Input, ConfigForm .row Select { width: 22; }
    ConfigForm .row .error { width: 1fr; color: $error; padding-left: 1; }
    ConfigForm .row .help { width: 1fr; color: $text-muted; padding-left: 1; }
    ConfigForm #buttons { height: auto; margin-top: 1; }
    ConfigForm #buttons Button { margin-right: 2; }
    ConfigForm #form-summary { color: $error; height: auto; }
    ConfigForm #form-resume { color: $accent; height: auto; display: none; }
    ConfigForm .row:focus-within Label { text-style: bold reverse; color: $accent; }
    ConfigForm .row Input:focus { background: $accent 35%; text-style: bold; }
    ConfigForm .row Select:focus > SelectCurrent { background: $accent 35%; }
    """

    class StartPressed(Message):
        """The user pressed Start with a valid config."""

    def __init__(self, config: TrainConfig, **kw) -> None:
        super().__init__(**kw)
        self.initial = config
        self.errors: dict[str, str] = {}
        self.sweep_lrs: list[float] | None = None   # the sweep field's rates, when valid
        self.choices: dict[str, tuple] = {}   # each Select field's options, as offered now

    def compose(self) -> ComposeResult:
        with Horizontal(classes="row"):
            yield Label("preset")
            yield Select([(name, name) for name in PRESETS], prompt="custom", compact=True,
                         id="preset", allow_blank=True)
            yield Static("a named recipe; fills the fields below", classes="help")
        for f in dataclasses.fields(TrainConfig):
            value = getattr(self.initial, f.name)
            with Horizontal(classes="row"):
                yield Label(f.name.replace("_", " "))
                choices = f.metadata.get("choices")
                if choices:
                    if value not in choices:   # e.g. --device cuda:1 from the command line
                        choices = (*choices, value)
                    self.choices[f.name] = tuple(choices)
                    yield Select(options(choices), value=value, allow_blank=False,
                                 compact=True, id=f"field-{f.name}")
                else:
                    yield Input("none" if value is None else str(value), compact=True,
                                id=f"field-{f.name}")
                yield Static(f.metadata["help"], classes="help", id=f"help-{f.name}")
            if f.name == "lr":
                with Horizontal(classes="row"):
                    yield Label("sweep lrs")
                    yield Input("", compact=True, id="field-sweep",
                                placeholder="none: one run")
                    yield Static(SWEEP_HELP, classes="help", id="help-sweep")
        yield Static("", id="form-summary")
        yield Static("", id="form-resume")
        with Horizontal(id="buttons"):
            yield Button("Start (s)", variant="success", id="start")

    def on_mount(self) -> None:
        self.validate_form()

    def read(self) -> tuple[TrainConfig | None, dict[str, str]]:
        """Parse every field; returns (config or None, {field: reason})."""
        values, errors = {}, {}
        for name in FIELDS:
            widget = self.query_one(f"#field-{name}")
            if isinstance(widget, Select):
                values[name] = widget.value
            elif isinstance(widget, Input):
                try:
                    values[name] = parse_field(name, widget.value)
                except ValueError as exc:
                    errors[name] = str(exc)
        if errors:
            return None, errors
        config = TrainConfig(**values)  # type: ignore[arg-type]   # each field as parsed
        errors = {name: form_words(reason)
                  for name, reason in {**preflight(config), **config.validate()}.items()}
        self.sweep_lrs, sweep_error = self.read_sweep(config)
        if sweep_error:
            errors["sweep"] = sweep_error
        return (None if errors else config), errors

    def read_sweep(self, config: TrainConfig) -> tuple[list[float] | None, str | None]:
        """The sweep field: (learning rates or None for one run, reason it is invalid)."""
        text = self.query_one("#field-sweep", Input).value.strip()
        if text.lower() in ("", "none"):
            return None, None
        try:
            lrs = parse_lrs(text)
        except ValueError as exc:
            return None, str(exc)
        for lr in lrs:
            reason = config.replace(lr=lr).validate().get("lr")
            if reason:
                return None, f"lr {lr:g}: {reason}"
        refusal = sweep_refusal(config)
        if refusal:
            return None, form_words(refusal)
        return lrs, None

    def validate_form(self) -> None:
        """Show each field's error next to it and block Start while any remains; show the
        preset the fields follow ("custom" once one departs from every preset)."""
        config, self.errors = self.read()
        own = is_model_file(self.query_one("#field-model", Select).value)
        for name in NOT_FOR_MODEL_FILES:
            row = self.query_one(f"#field-{name}").parent
            if row is not None:
                row.display = not own or name in self.errors
        preset = self.query_one("#preset", Select)
        in_effect = preset_of(config) if config else None
        if preset.value != (in_effect or Select.NULL):
            # Showing the preset is not choosing it: a Changed message handled after the next
            # key (typing outruns the event loop) would reset every field to the recipe.
            with preset.prevent(Select.Changed):
                preset.value = in_effect or Select.NULL
        helps = {name: f.metadata["help"] for name, f in FIELDS.items()}
        for name, text in {**helps, "sweep": SWEEP_HELP}.items():
            help_widget = self.query_one(f"#help-{name}", Static)
            if name in self.errors:
                help_widget.update(Text(self.errors[name]))   # holds what the user typed
                help_widget.set_classes("error")
            else:
                help_widget.update(Text(text))
                help_widget.set_classes("help")
        self.query_one("#start", Button).disabled = bool(self.errors) or self.disabled
        summary = self.query_one("#form-summary", Static)
        summary.update(Text(f"{len(self.errors)} invalid field(s): "
                            + ", ".join(n.replace('_', ' ') for n in self.errors)
                            if self.errors else ""))

    def set_values(self, config: TrainConfig) -> None:
        """Fill every field from a config."""
        for name in FIELDS:
            value = getattr(config, name)
            widget = self.query_one(f"#field-{name}")
            if isinstance(widget, Select):
                self.choose(name, widget, value)
            elif isinstance(widget, Input):
                widget.value = "none" if value is None else str(value)
        self.validate_form()

    def choose(self, name: str, select: Select, value: str) -> None:
        """Show `value` in a Select field, offering it first when it is not one of the
        field's choices: a run of a learner's model file (`--model my_net.py`) or on
        `cuda:1`, opened in the viewer or resumed, has a value no list holds."""
        if value not in self.choices[name]:
            self.choices[name] = (*self.choices[name], value)
            select.set_options(options(self.choices[name]))
        select.value = value

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.validate_form()

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        if event.select.id == "preset":
            if event.value in PRESETS:
                config, _ = self.read()
                base = config or self.initial
                if preset_of(base) == event.value:
                    return   # already this preset's recipe: keep the user's other fields
                self.set_values(base.replace(**{**dataclasses.asdict(TrainConfig()),
                                                "data_dir": base.data_dir, "out": base.out,
                                                "device": base.device, "dataset": base.dataset,
                                                "threads": base.threads,
                                                "num_workers": base.num_workers,
                                                **PRESETS[event.value]}))
            return
        self.validate_form()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "start":
            event.stop()
            self.post_message(self.StartPressed())

    def resuming(self, run_dir: str | None, epochs_done: int | None = None,
                 batch: int = 0) -> None:
        """Say on the form what Start will do: resume `run_dir` after `epochs_done` epochs
        and `batch` batches of the next, where known (its settings are in the fields; epochs
        may grow), or, with None, start a new run."""
        button = self.query_one("#start", Button)
        note = self.query_one("#form-resume", Static)
        if run_dir is None:
            button.label, note.display = "Start (s)", False
            return
        button.label = "Resume (s)"
        where = ("" if epochs_done is None else f" at epoch {epochs_done + 1}, batch {batch}"
                 if batch else f" after epoch {epochs_done}")
        note.update(Text(f"Start resumes {run_dir}{where}: raise epochs to train more; "
                         "r (reset) starts a new run instead."))
        note.display = True

    def watch_disabled(self, disabled: bool) -> None:
        if self.is_mounted:
            self.query_one("#start", Button).disabled = disabled or bool(self.errors)
