"""The learning-rate sweep in the TUI: the form's "sweep lrs" field, curves named by rate, and
the sweep's runs in the runs tab, each equal to its headless sweep's model."""

from __future__ import annotations

import pytest
import json

from tests.support.app import make_app
from tests.support.waits import wait_for
from tui_trainer.store.catalog import runs_in
from tui_trainer.store.rundir import RunDir
from tui_trainer.ui.panels.curves import CurvesPanel
from tui_trainer.ui.panels.form import ConfigForm
from tui_trainer.ui.panels.runs import RunsPanel


async def start_sweep(app, pilot, rates: str) -> None:
    """Type the rates into the form's sweep field and press s."""
    app.query_one("#field-sweep").value = rates
    await pilot.pause()
    assert not app.query_one("#start").disabled
    await pilot.press("s")


@pytest.mark.app
async def test_a_sweep_from_the_form_draws_a_curve_per_lr_and_records_each_run(data_dir,
                                                                                tmp_path):
    app = make_app(data_dir, tmp_path / "runs", lr=0.1, threads="1",
                   tensorboard=str(tmp_path / "tb"))
    async with app.run_test(size=(100, 30)) as pilot:
        await start_sweep(app, pilot, "0.03, 0.3,3000")
        await wait_for(pilot, lambda: app.controller.state.last_status in ("finished", "failed"))
        assert app.controller.state.last_status == "finished"
        curves = app.query_one(CurvesPanel)
        named = {name: ys for name, _, ys in curves.overlays}
        assert set(named) == {"lr 0.03", "lr 0.3", "lr 3000"}
        assert len(named["lr 0.03"]) == len(named["lr 0.3"]) == 2   # two epochs each
        assert all(0 <= y <= 1 for y in named["lr 0.3"])
        assert str(curves.legend()).count("lr ") == 3
        runs = runs_in(tmp_path / "runs")
        assert len(runs) == 3
        lrs = sorted(json.loads((r / "config.json").read_text())["lr"] for r in runs)
        assert lrs == [0.03, 0.3, 3000]
        # Each model a TensorBoard run of its own, its settings written as the sweep ended.
        assert sorted(p.name for p in (tmp_path / "tb").iterdir()) == sorted(r.name for r in runs)
        assert all((tmp_path / "tb" / r.name / "hparams").is_dir() for r in runs
                   if json.loads((r / "config.json").read_text())["lr"] < 1)
        # The runs tab lists the models that trained an epoch, with their own lr.
        table = app.query_one(RunsPanel)
        assert table.row_count == len([r for r in app.runs.comparison.records])
        trained = {r.config["lr"]: r for r in app.runs.comparison.records}
        assert {0.03, 0.3} <= set(trained)
        assert trained[0.3].test_acc == named["lr 0.3"]
        assert (
            app.controller.state.run_dir is not None
            and RunDir(app.controller.state.run_dir).checkpoint_path.exists()
        )
        # The overlay does not draw the sweep's runs twice.
        await pilot.press("o")
        assert len(curves.overlays) == 3
        assert not app.query_one(ConfigForm).disabled


@pytest.mark.app
async def test_the_sweep_field_says_why_it_is_invalid_and_blocks_start(data_dir, tmp_path):
    app = make_app(data_dir, tmp_path / "runs")
    async with app.run_test(size=(100, 30)) as pilot:
        field = app.query_one("#field-sweep")
        help_text = lambda: str(app.query_one("#help-sweep").render())   # noqa: E731
        for text, reason in (("0.1", "two or more"), ("0.1,x", "not a number: 'x'"),
                             ("0.1,0.1", "appears twice"), ("0.1,-1", "lr -1"),
                             ("[b]0.1,1", "not a number: '[b]0.1'")):
            field.value = text
            await pilot.pause()
            assert reason in help_text(), text
            assert app.query_one("#start").disabled
        app.query_one("#field-tensorboard").value = "tb"   # taken: a run per model there
        field.value = "0.1,1"
        await pilot.pause()
        assert "TensorBoard" not in help_text()
        assert not app.query_one("#start").disabled
        field.value = ""
        await pilot.pause()
        assert "a model per rate" in help_text()
        app.query_one("#field-lr").value = "0.1,1"
        await pilot.pause()
        assert "several are a sweep" in str(app.query_one("#help-lr").render())


@pytest.mark.app
async def test_reset_during_a_sweep_clears_its_curves_and_keeps_its_runs(data_dir, tmp_path):
    app = make_app(data_dir, tmp_path / "runs", epochs=50, threads="1")
    async with app.run_test(size=(100, 30)) as pilot:
        await start_sweep(app, pilot, "0.01,0.1")
        curves = app.query_one(CurvesPanel)
        await wait_for(pilot, lambda: any(ys for _, _, ys in curves.overlays))
        app.set_focus(None)
        await pilot.press("r")
        await wait_for(pilot, lambda: not app.controller.state.running)
        assert curves.overlays == []
        assert app.controller.state.last_status == "stopped"
        for run in runs_in(tmp_path / "runs"):
            status = json.loads((run / "status.json").read_text())
            assert status["state"] == "stopped" and "resume" in status
        assert {r.config["lr"] for r in app.runs.comparison.records} == {0.01, 0.1}


def test_leaving_after_a_sweep_names_every_run_and_how_to_go_on(capsys, tmp_path):
    from tui_trainer.ui.launch import say_where_sweep

    a, b = str(tmp_path / "a-lr0.1"), str(tmp_path / "b-lr[1]")
    say_where_sweep({a: "finished", b: "stopped"})
    err = capsys.readouterr().err
    assert "smtui: last sweep: 2 run directories" in err
    assert f"  finished  {a}" in err and f"  stopped   {b}" in err
    assert f"smtui: resume one with: smtui --resume '{b}'" in err
    assert f"smtui: compare them with: smtui compare {a} '{b}'" in err
    say_where_sweep({a: "finished"})
    assert "resume" not in capsys.readouterr().err
    # a folder that holds these runs and no other is named instead of them
    folder = tmp_path / "20261205-000000-b256-sweep"
    runs = [folder / f"20261205-000000-b256-lr{lr}" for lr in (0.1, 0.3)]
    for run in runs:
        run.mkdir(parents=True)
        (run / "config.json").write_text("{}")
    say_where_sweep({str(r): "finished" for r in runs})
    assert f"smtui: compare them with: smtui compare {folder}\n" in capsys.readouterr().err
    (folder / "another").mkdir()
    (folder / "another" / "config.json").write_text("{}")
    say_where_sweep({str(r): "finished" for r in runs})   # not the sweep's alone: each named
    assert f"smtui compare {runs[0]} {runs[1]}\n" in capsys.readouterr().err


@pytest.mark.app
async def test_the_app_knows_every_run_of_a_sweep_from_its_start(data_dir, tmp_path):
    app = make_app(data_dir, tmp_path / "runs", epochs=1, threads="1")
    async with app.run_test(size=(100, 30)) as pilot:
        await start_sweep(app, pilot, "0.01,0.1,1")
        await wait_for(pilot, lambda: len(app.controller.state.sweep_dirs) == 3)
        assert sorted(d.rsplit("-", 1)[1] for d in app.controller.state.sweep_dirs) == [
            "lr0.01",
            "lr0.1",
            "lr1",
        ]
        await wait_for(pilot, lambda: app.controller.state.last_status == "finished")


@pytest.mark.app
async def test_a_sweep_is_refused_while_start_would_resume_a_run(data_dir, tmp_path):
    from tui_trainer.core.config import TrainConfig
    from tui_trainer.ui.app import SmtuiApp

    app = SmtuiApp(TrainConfig(data_dir=str(data_dir), out=str(tmp_path / "runs"),
                               device="cpu"), resume=str(tmp_path / "runs" / "earlier"))
    async with app.run_test(size=(100, 30)) as pilot:
        app.query_one("#field-sweep").value = "0.1,1"
        await pilot.pause()
        app.action_start()
        await pilot.pause()
        assert not app.controller.state.running and not (tmp_path / "runs").exists()
        assert any("sweep field empty" in line.plain for line in app.log_view.texts)


@pytest.mark.app
async def test_a_sweep_of_64_rates_leaves_a_readable_plot(tmp_path):
    """Its eight best curves are drawn, in the order of their rates, and the legend says how
    many more."""
    from tui_trainer.core.config import TrainConfig
    from tui_trainer.ui.app import SmtuiApp
    from tui_trainer.ui.runs_tab import MAX_OVERLAYS
    from tui_trainer.ui.panels.runs import SweepCurves

    lrs = [0.01 * (k + 1) for k in range(64)]
    app = SmtuiApp(TrainConfig(out=str(tmp_path)))
    async with app.run_test(size=(80, 24)):
        app.controller.state.sweep = SweepCurves(lrs)
        for epoch in (1, 2):  # rate k reaches 0.5 + k/200: the last eight are the best
            app.controller.state.sweep.add(
                [{"epoch": epoch, "test_acc": 0.5 + k / 200} for k in range(64)]
            )
        app.runs.update_overlays()
        assert [label for label, _, _ in app.panels.curves.overlays] == [
            f"lr {lr:g}" for lr in lrs[-MAX_OVERLAYS:]]
        assert app.panels.curves.more == 64 - MAX_OVERLAYS and "+56 more" in str(
            app.panels.curves.legend()
        )
