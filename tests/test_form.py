"""The configuration form: presets, keys typed faster than the event loop, Escape, markup typed
into a field."""

from __future__ import annotations

import pytest

from tests.support.app import long_app
from tests.support.waits import wait_for
from tui_trainer.core.config import TrainConfig
from tui_trainer.core.errors import SmtuiError
from tui_trainer.ui.panels.form import ConfigForm


@pytest.mark.app
async def test_the_form_shows_the_preset_in_effect(tmp_path):
    from textual.widgets import Select

    from tui_trainer.core.config import PRESETS
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


@pytest.mark.app
async def test_typing_past_a_presets_value_never_rewrites_the_form(tmp_path):
    """Keys faster than the event loop: "0.1" (the book's lr) shows the book preset, and "5"
    arrives before the preset's own change is handled. Showing the preset in effect must not
    read as the user choosing it, which would reset every field to the recipe."""
    from textual.widgets import Select

    from tui_trainer.ui.app import SmtuiApp

    app = SmtuiApp(TrainConfig(out=str(tmp_path), lr=0.3, epochs=3))
    async with app.run_test(size=(100, 40)) as pilot:
        form, lr = app.panels.form, app.query_one("#field-lr")
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


@pytest.mark.app
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


def key_burst(app, *keys: str) -> None:
    """Post keys to the app at once, as a terminal that sends them together would: none is
    handled before the last is read. A key longer than one character is a key name."""
    from textual import events

    names = {".": "full_stop", ",": "comma", " ": "space"}
    for key in keys:
        if not isinstance(key, str):   # a widget: a click in its middle, as the driver sends it
            x, y = key.region.offset + (key.region.width // 2, 0)
            where = dict(widget=None, x=x, y=y, delta_x=0, delta_y=0, button=1, shift=False,
                         meta=False, ctrl=False, screen_x=x, screen_y=y)
            for kind in (events.MouseDown, events.MouseUp, events.Click):
                app.post_message(kind(**where))
        elif len(key) == 1:
            app.post_message(events.Key(names.get(key, key), key))
        else:
            app.post_message(events.Key(key, "\t" if key == "tab" else None))


@pytest.mark.app
@pytest.mark.parametrize("move", ["tab", "shift+tab"])
async def test_keys_after_a_focus_move_land_in_the_next_field(tmp_path, move):
    """The class of keys that act through bindings (Tab's focus move, Shift+Tab, a field's
    editing keys): `C-a C-k 128 Tab C-a C-k 30` sent at once gives batch size 128 and epochs 30,
    not a batch size of 30 that the user never chose."""
    from tui_trainer.ui.app import SmtuiApp

    app = SmtuiApp(TrainConfig(out=str(tmp_path)))
    async with app.run_test(size=(100, 40)) as pilot:
        first, second = ("#field-batch_size", "#field-epochs")[:: 1 if move == "tab" else -1]
        app.query_one(first).focus()
        await pilot.pause()
        key_burst(app, "ctrl+a", "ctrl+k", "1", "2", "8", move, "ctrl+a", "ctrl+k", "3", "0")
        await wait_for(pilot, lambda: app.query_one(second).value == "30")
        assert app.query_one(first).value == "128"
        assert app.query_one(second).value == "30"
        assert app.focused is app.query_one(second)


@pytest.mark.app
async def test_keys_after_a_click_land_in_the_clicked_field(tmp_path):
    """A click moves the focus in order with the keys around it, like Tab."""
    from tui_trainer.ui.app import SmtuiApp

    app = SmtuiApp(TrainConfig(out=str(tmp_path)))
    async with app.run_test(size=(100, 40)) as pilot:
        batch, epochs = app.query_one("#field-batch_size"), app.query_one("#field-epochs")
        batch.focus()
        await pilot.pause()
        key_burst(app, "ctrl+a", "ctrl+k", "6", "4", epochs, "ctrl+a", "ctrl+k", "7")
        await wait_for(pilot, lambda: epochs.value == "7")
        assert (batch.value, epochs.value) == ("64", "7") and app.focused is epochs


@pytest.mark.app
async def test_keys_after_escape_act_as_keys_not_as_text(tmp_path):
    """Escape leaves the field before the keys after it are read: "5 Escape 2" types 5 and
    then switches to the Curves tab, whatever the timing."""
    from tui_trainer.ui.app import SmtuiApp

    app = SmtuiApp(TrainConfig(out=str(tmp_path)))
    async with app.run_test(size=(100, 40)) as pilot:
        field = app.query_one("#field-epochs")
        field.focus()
        field.cursor_position = len(field.value)
        await pilot.pause()
        key_burst(app, "5", "escape", "2")
        await wait_for(pilot, lambda: app.panels.tabs.active == "curves")
        assert field.value == "5" and app.panels.tabs.active == "curves"   # focus selected the 10


@pytest.mark.app
async def test_keys_after_enter_on_start_reach_the_run_it_started(small_data_dir, tmp_path):
    """Enter on Start, then space at once: the run starts, then pauses; the space is neither
    a second press of Start nor lost on the locked form."""
    from tui_trainer.ui.app import SmtuiApp

    app = SmtuiApp(TrainConfig(out=str(tmp_path), data_dir=str(small_data_dir), epochs=50,
                               batch_size=16))
    async with app.run_test(size=(100, 40)) as pilot:
        await wait_for(pilot, lambda: app.controller.state.core_loaded)
        app.query_one("#start").focus()
        await pilot.pause()
        key_burst(app, "enter", "space")
        await wait_for(pilot, lambda: app.controller.state.control is not None
                     and app.controller.state.control.paused)
        assert app.controller.state.running and app.controller.state.control.paused
        app.action_stop()
        await wait_for(pilot, lambda: not app.controller.state.running)


@pytest.mark.app
async def test_escape_leaves_a_text_field_and_the_keys_work_again(tmp_path):
    from tui_trainer.ui.app import SmtuiApp

    app = SmtuiApp(TrainConfig(out=str(tmp_path)))
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        app.query_one("#field-lr").focus()
        await pilot.press("2")                 # typed into the field, not a tab switch
        assert app.panels.tabs.active == "setup" and app.query_one("#field-lr").value.endswith("2")
        await pilot.press("escape")
        from textual.widgets import Tabs
        assert isinstance(app.focused, Tabs)            # the focus stays visible, on the tabs
        await pilot.press("2")
        assert app.panels.tabs.active == "curves"


@pytest.mark.app
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


@pytest.mark.app
async def test_the_command_palette_offers_smtuis_commands(tmp_path):
    """ctrl+p: the app's own commands (start, the tabs, the presets...) beside Textual's; one
    typed and chosen acts; training commands are not offered in `smtui view`."""
    from tui_trainer.ui.app import SmtuiApp

    app = SmtuiApp(TrainConfig(out=str(tmp_path)))
    async with app.run_test(size=(100, 40)) as pilot:
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for title in ("Start training", "Stop the run", "Go to the Curves tab", "Preset: mlp",
                      "Screenshot", "Theme", "Quit"):
            assert title in titles, title
        await pilot.press("ctrl+p")
        await pilot.pause()
        for key in "curves tab":
            await pilot.press({" ": "space"}.get(key, key))
        from textual.command import CommandList

        def found() -> bool:   # the palette searches as it is typed, in the background
            options = app.screen.query(CommandList)
            return bool(options) and options.first().option_count > 0 and "Curves tab" in str(
                options.first().get_option_at_index(0).prompt)
        await wait_for(pilot, found)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.panels.tabs.active == "curves")
        assert app.panels.tabs.active == "curves"
        app.use_preset("mlp")
        await wait_for(pilot, lambda: app.query_one("#field-model").value == "mlp")
        assert app.query_one("#field-lr").value == "0.002"
        await pilot.press("f1")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "HelpScreen")
        assert type(app.screen).__name__ == "HelpScreen"
    viewer = SmtuiApp(None, watch=str(tmp_path / "nothing-yet"))
    async with viewer.run_test(size=(100, 40)):
        titles = [c.title for c in viewer.get_system_commands(viewer.screen)]
        assert "Start training" not in titles and "Go to the Runs tab" in titles


@pytest.mark.app
async def test_a_theme_picked_is_remembered_in_the_settings_file(tmp_path, monkeypatch):
    import json

    from tui_trainer.store.settings import load
    from tui_trainer.ui.app import SmtuiApp
    from tui_trainer.ui.launch import known_theme

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    app = SmtuiApp(TrainConfig(out=str(tmp_path)))
    async with app.run_test(size=(100, 40)) as pilot:
        app.theme = "textual-light"
        await pilot.pause()
    saved = tmp_path / "config" / "smtui" / "settings.json"
    assert json.loads(saved.read_text()) == {"theme": "textual-light"}
    again = SmtuiApp(TrainConfig(out=str(tmp_path)), theme=load().theme)
    async with again.run_test(size=(100, 40)):
        assert again.theme == "textual-light"
    assert known_theme("nord", True) == "nord" and known_theme("nope", False) is None
    with pytest.raises(SmtuiError, match="--theme must be one of textual-dark"):
        known_theme("nope", True)


@pytest.mark.app
async def test_the_form_shows_every_rule_a_run_enforces_as_it_is_typed(tmp_path):
    """What --no-ui refuses, the form says next to the field before Start, in its own words:
    field names as the labels show them, never an option (--optimizer) or weight_decay."""
    from tui_trainer.ui.app import SmtuiApp

    app = SmtuiApp(TrainConfig(out=str(tmp_path)))
    async with app.run_test(size=(160, 50)) as pilot:
        form = app.panels.form
        (tmp_path / "a-file").write_text("x")
        cases = {"#field-weight_decay": ("0.1", "weight_decay",
                                         "applies to optimizer torch-sgd or adam"),
                 "#field-batch_size": ("70000", "batch_size", "larger than the 60000 training"),
                 "#field-data_dir": (str(tmp_path / "gone"), "data_dir", "does not exist"),
                 "#field-out": (str(tmp_path / "a-file"), "out", "is a file, not a folder")}
        for field, (value, name, words) in cases.items():
            app.query_one(field).value = value
            await wait_for(pilot, lambda: name in form.errors)
            shown = str(app.query_one(f"#help-{name}").render())
            assert words in shown, (field, shown)
            assert "--" not in shown and "weight_decay" not in shown
            assert app.query_one("#start").disabled
            form.set_values(app.config)
            await wait_for(pilot, lambda: not form.errors)
        assert not app.query_one("#start").disabled


def test_preflight_names_what_a_run_would_refuse_before_torch_loads(tmp_path):
    from tui_trainer.core.config import preflight

    assert preflight(TrainConfig(out=str(tmp_path))) == {}
    problems = preflight(TrainConfig(model=str(tmp_path / "mine.py"), out=str(tmp_path),
                                     data_dir=str(tmp_path / "gone"), batch_size=60001))
    assert problems == {"model": f"{tmp_path / 'mine.py'} does not exist",
                        "data_dir": f"{tmp_path / 'gone'} does not exist",
                        "batch_size": "60001 is larger than the 60000 training images"}
