"""The configuration form: presets, keys typed faster than the event loop, Escape, markup typed
into a field."""

from __future__ import annotations

import pytest

from helpers import long_app
from tui_trainer.config import TrainConfig
from tui_trainer.ui.form import ConfigForm


async def test_the_form_shows_the_preset_in_effect(tmp_path):
    from textual.widgets import Select

    from tui_trainer.config import PRESETS
    from tui_trainer.ui.app import SmtuiApp

    for config, expected in ((TrainConfig(), "book"),
                             (TrainConfig(**PRESETS["mlp"], out="elsewhere", seed=3), "mlp"),
                             (TrainConfig(lr=0.3), Select.NULL)):
        app = SmtuiApp(config)
        async with app.run_test(size=(100, 40)) as pilot:
            preset = app.query_one("#preset", Select)
            assert preset.value == expected
            if expected == "book":
                app.query_one("#field-lr").value = "0.05"     # departs from the recipe
                await pilot.pause()
                assert preset.value == Select.NULL
                app.query_one("#field-lr").value = "0.1"      # and back
                await pilot.pause()
                assert preset.value == "book"


async def test_typing_past_a_presets_value_never_rewrites_the_form(tmp_path):
    """Keys faster than the event loop: "0.1" (the book's lr) shows the book preset, and "5"
    arrives before the preset's own change is handled. Showing the preset in effect must not
    read as the user choosing it, which would reset every field to the recipe."""
    from textual.widgets import Select

    from tui_trainer.ui.app import SmtuiApp

    app = SmtuiApp(TrainConfig(out=str(tmp_path), lr=0.3, epochs=3))
    async with app.run_test(size=(100, 40)) as pilot:
        form, lr = app.form, app.query_one("#field-lr")
        app.query_one("#field-epochs").value = "10"
        lr.value = "0.1"
        form.validate_form()                 # the book's recipe: the preset shows it
        assert app.query_one("#preset", Select).value == "book"
        lr.value = "0.15"                    # the next key, before any handler ran
        form.validate_form()
        await pilot.pause()
        assert lr.value == "0.15"
        assert app.query_one("#field-epochs").value == "10"
        assert app.query_one("#preset", Select).value == Select.NULL
        # Choosing a preset by hand still fills the fields.
        app.query_one("#preset", Select).value = "mlp"
        await pilot.pause()
        assert lr.value == "0.002" and app.query_one("#field-model").value == "mlp"


@pytest.mark.parametrize("field", ["#field-lr", "#logits"])
async def test_keys_that_arrive_together_are_applied_in_order(tmp_path, field):
    """A burst of keys (tmux send-keys, a busy loop over SSH) reaches the field before any is
    handled: editing keys must act in order with the characters around them."""
    from textual import events

    from tui_trainer.ui.app import SmtuiApp

    app = SmtuiApp(TrainConfig(out=str(tmp_path)))
    async with app.run_test(size=(100, 40)) as pilot:
        if field == "#logits":
            await pilot.press("6")
        widget = app.query_one(field)
        widget.value = "0.1"
        widget.focus()
        await pilot.pause()
        widget.cursor_position = len(widget.value)
        burst = [("backspace", None)] * 3 + [(c, c) for c in "0.25"] + [("left", None)] * 2 \
            + [("delete", None), ("3", "3"), ("end", None), ("backspace", None), ("7", "7")]
        for key, char in burst:
            key = {".": "full_stop"}.get(key, key)
            app.post_message(events.Key(key, char))
        await pilot.pause()
        await pilot.pause()
        assert widget.value == "0.37"


async def test_escape_leaves_a_text_field_and_the_keys_work_again(tmp_path):
    from tui_trainer.ui.app import SmtuiApp

    app = SmtuiApp(TrainConfig(out=str(tmp_path)))
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        app.query_one("#field-lr").focus()
        await pilot.press("2")                 # typed into the field, not a tab switch
        assert app.tabs.active == "setup" and app.query_one("#field-lr").value.endswith("2")
        await pilot.press("escape")
        assert app.focused is None
        await pilot.press("2")
        assert app.tabs.active == "curves"


async def test_markup_in_a_form_field_is_shown_literally(data_dir, tmp_path):
    app = long_app(data_dir, tmp_path / "runs")
    async with app.run_test(size=(100, 40)) as pilot:
        form = app.query_one(ConfigForm)
        field = form.query_one("#field-lr")
        field.value = "[/]"
        await pilot.pause()
        field.value = "[x]"
        await pilot.pause()
        help_text = str(form.query_one("#help-lr").render())
        assert "not a number: '[x]'" in help_text
        assert app.is_running
