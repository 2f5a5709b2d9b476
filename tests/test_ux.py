"""What a user sees and does: a checkpoint while paused, no stale pace on the status bar, labels
readable without colour, shares that add up, and where a run went when smtui ends."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from tui_trainer.config import TrainConfig
from tui_trainer.events import BatchEnd, Control, Message
from tui_trainer.runs import load_checkpoint
from tui_trainer.train import fit, prepare


def wait_until(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def test_a_checkpoint_asked_for_while_paused_is_written_at_once(small_data_dir, tmp_path):
    session = prepare(TrainConfig(data_dir=str(small_data_dir), out=str(tmp_path), batch_size=4,
                                  epochs=3, device="cpu"))
    control = Control()
    saved: list[str] = []

    def listener(event):
        if isinstance(event, BatchEnd) and event.epoch == 2 and event.batch >= 3 \
                and not control.paused and not saved:
            control.pause()
        if isinstance(event, Message) and event.text.startswith("checkpoint saved"):
            saved.append(event.text)

    worker = threading.Thread(target=fit, args=(session, listener, control))
    worker.start()
    try:
        wait_until(lambda: control.paused)
        batch = session.batch
        control.request_save()
        wait_until(lambda: saved)          # while still paused
        assert control.paused and saved == [f"checkpoint saved at epoch 2, batch {batch}: "
                                            f"{session.run.checkpoint_path}"]
        state = load_checkpoint(session.run.path)
        assert (state["epoch"], state["batch"]) == (1, batch)
        assert state["partial"][2] == batch * 4           # the examples of those batches
    finally:
        control.request_stop()
        worker.join(60)


def test_the_status_bar_shows_no_stale_pace():
    from tui_trainer.ui.status import StatusBar

    bar = StatusBar()
    bar.progress(2, 10, 5, 10, 123456.0, 65.0)
    for state, shown in (("training", True), ("paused", False), ("stopped", False),
                         ("crashed", False), ("watching", True)):
        bar.state = state
        line = bar.render().plain.splitlines()[1]
        assert ("123,456 img/s" in line and "ETA 1:05" in line) is shown, line
        assert ("– img/s" in line and "ETA –" in line) is not shown


def test_tiles_and_bars_say_truth_and_prediction_without_colour():
    from tui_trainer.ui.predictions import ProbabilityBars, SampleGrid

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


@pytest.mark.parametrize("coverage", [0.6235, 0.3765, 0.0005, 0.9995, 1.0])
def test_the_reject_options_shares_add_up(coverage):
    """The analysis tab's line: answers X% and abstains on Y%, with X + Y = 100.0 as shown."""
    import re

    from tui_trainer.analysis import reject_curve
    from tui_trainer.ui.analysis_panel import rule_summary

    n = 10000
    answered = round(coverage * n)
    probs = torch.full((n, 10), 0.1)               # unsure
    probs[:answered] = torch.eye(10)[0]            # confident and right
    labels = torch.zeros(n, dtype=torch.long)
    text = rule_summary(reject_curve(probs, labels, (0.5,))[0])
    x, y = map(float, re.search(r"answers ([\d.]+)%.*abstains on ([\d.]+)%", text).groups())
    assert round(x + y, 1) == 100.0


def test_leaving_the_tui_says_where_the_run_is(capsys, tmp_path):
    from tui_trainer.ui.app import say_where

    say_where(str(tmp_path / "runs" / "x"), "stopped")
    err = capsys.readouterr().err
    assert f"smtui: last run (stopped): {tmp_path}/runs/x" in err
    assert f"smtui: resume with: smtui --resume {tmp_path}/runs/x" in err
    assert f"smtui: look at it with: smtui view {tmp_path}/runs/x" in err
    say_where(str(tmp_path / "y"), "finished")
    err = capsys.readouterr().err
    assert "resume" not in err and "smtui view" in err


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


def test_the_loss_axis_fits_the_loss_after_the_first_epoch():
    from tui_trainer.ui.curves import CurvesPanel

    panel = CurvesPanel()
    panel.reset(10)
    panel.add("train loss", 0.1, 2.0)                   # the first batches
    assert panel.loss_range() == (0.0, 2.0)
    for epoch, loss in enumerate([0.78, 0.57, 0.53, 0.50, 0.49], start=1):
        panel.add("train loss", epoch, loss)
    low, high = panel.loss_range()
    assert (low, high) == pytest.approx((0.45, 0.8))   # 0.49-0.78 fill the axis, not 2.0


def test_the_x_axis_spans_the_runs_shown_and_the_legend_is_outside():
    from tui_trainer.ui.curves import CurvesPanel

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


def test_runs_are_named_by_what_differs():
    from tui_trainer.ui.runs_panel import names_by_difference

    base = TrainConfig().to_dict()
    configs = [{**base, "lr": 0.1}, {**base, "lr": 0.03}]
    assert names_by_difference(configs, ["a", "b"]) == ["lr 0.1", "lr 0.03"]
    configs = [{**base, "model": "mlp", "optimizer": "adam"}, base]
    assert names_by_difference(configs, ["a", "b"]) == ["mlp, adam", "scratch, sgd"]
    assert names_by_difference([base, base], ["0451-x", "0452-x"]) == ["0451-x", "0452-x"]
    assert names_by_difference([{}, {"lr": "x"}], ["a", "b"]) == ["lr None", "lr x"]
