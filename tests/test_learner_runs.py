"""The viewer, compare and the Runs tab on every kind of run: smtui's own models, a learner's
`--model FILE.py`, a script's `train_ch3(out=)` and `train_ch6(out=)`, and a sweep's members;
a `--model` run resumed from another folder."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import torch
from textual.widgets import Select

from tests.support.waits import settle, wait_for
from tui_trainer import d2l
from tui_trainer.core.config import TrainConfig
from tui_trainer.core.events import Control
from tui_trainer.loop.sweep import fit_sweep, prepare_sweep
from tui_trainer.loop.train import fit, prepare
from tui_trainer.ui.app import SmtuiApp
from tui_trainer.ui.panels.runs import RunsPanel

NET_FILE = textwrap.dedent("""
    import torch
    W = torch.normal(0, 0.01, size=(784, 10), requires_grad=True)
    b = torch.zeros(10, requires_grad=True)
    def net(X):
        return torch.softmax(torch.matmul(X.reshape((-1, 784)), W) + b, 1)
""")


def every_kind(data_dir, tmp_path, monkeypatch) -> dict[str, str]:
    """One finished run of each kind, in `tmp_path/runs`: {kind: run directory}."""
    out = tmp_path / "runs"
    base = TrainConfig(data_dir=str(data_dir), out=str(out), epochs=1, batch_size=16,
                       device="cpu", threads="1")
    runs = {}
    session = prepare(base.replace(model="concise"))
    fit(session, lambda e: None)
    runs["concise"] = str(session.run.path)
    (tmp_path / "dropout_mod.py").write_text(NET_FILE)
    session = prepare(base.replace(model=str(tmp_path / "dropout_mod.py")))
    fit(session, lambda e: None)
    runs["model file"] = str(session.run.path)
    monkeypatch.setenv("SMTUI_DATA_DIR", str(data_dir))
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
    train_iter, test_iter = d2l.load_data_fashion_mnist(16)
    try:
        d2l.train_ch3(net, train_iter, test_iter, torch.nn.CrossEntropyLoss(reduction="none"),
                      1, torch.optim.SGD(net.parameters(), lr=0.1), out=str(out / "ch3"))
    except AssertionError:   # the book's thresholds, on a tiny data set
        pass
    (runs["train_ch3"],) = map(str, (out / "ch3").iterdir())
    lenet = torch.nn.Sequential(
        torch.nn.Conv2d(1, 6, kernel_size=5, padding=2), torch.nn.Sigmoid(),
        torch.nn.AvgPool2d(kernel_size=2, stride=2), torch.nn.Flatten(),
        torch.nn.Linear(6 * 14 * 14, 10))
    d2l.train_ch6(lenet, train_iter, test_iter, 1, 0.9, d2l.try_gpu(), out=str(out / "ch6"))
    (runs["train_ch6"],) = map(str, (out / "ch6").iterdir())
    sweep = prepare_sweep(base.replace(out=str(out / "sweep")), [0.1, 0.5])
    fit_sweep(sweep, lambda e: None, Control())
    runs["sweep member"] = sweep.run_dirs[0] if hasattr(sweep, "run_dirs") else \
        str(next((out / "sweep").iterdir()))
    return runs


@pytest.fixture
def runs(small_data_dir, tmp_path, monkeypatch):
    return every_kind(small_data_dir, tmp_path, monkeypatch)


KINDS = ["concise", "model file", "train_ch3", "train_ch6", "sweep member"]


@pytest.mark.app
async def test_the_viewer_opens_every_kind_of_run(runs):
    """`smtui view` of each kind: its curve, its model shown by name in the form (a model
    file's name is no value of the model list: it crashed the viewer), no error."""
    for kind in KINDS:
        app = SmtuiApp(None, watch=runs[kind])
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: app.controller.state.last_status == "finished", what=kind)
            assert app.panels.curves.series["test acc"][0] == [1], kind
            select = app.query_one("#field-model", Select)
            assert select.value == app.config.model, kind
            shown = str(select.query_one("SelectCurrent Static#label").render())
            assert "/" not in shown, (kind, shown)     # a file by its name, not its path
            await pilot.press("5")
            # a folder of runs (the sweep's) is followed at its newest, the others listed
            folder = Path(runs[kind])
            listed = 1 if (folder / "config.json").is_file() else len(list(folder.iterdir()))
            await wait_for(pilot, lambda: app.panels.runs_table.row_count == listed, what=kind)


@pytest.mark.app
async def test_compare_and_the_runs_tab_on_every_kind(runs):
    """All kinds compared at once: a row each, models by name; Enter on a script's run says
    at once that the script trains it, and the form is left as it was."""
    dirs = [runs[kind] for kind in KINDS]
    app = SmtuiApp(TrainConfig(device="cpu"), compare=dirs)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        panel = app.query_one(RunsPanel)
        assert panel.row_count == len(KINDS)
        recipes = [str(panel.get_row_at(i)[1]) for i in range(panel.row_count)]
        assert any(r.startswith("dropout_mod.py ") for r in recipes), recipes
        assert not any("/" in r for r in recipes), recipes
        await pilot.press("5")
        script_row = next(i for i, r in enumerate(panel.records)
                          if r.path == runs["train_ch6"])
        panel.focus()
        panel.move_cursor(row=script_row)
        await pilot.press("enter")
        await settle(pilot)
        said = [line.plain for line in app.log_view.texts]
        assert any("trained by a script's d2l.train_ch6" in line for line in said), said
        assert app.controller.state.resume is None
        model_row = next(i for i, r in enumerate(panel.records) if r.path == runs["model file"])
        panel.move_cursor(row=model_row)
        await pilot.press("enter")
        await settle(pilot)
        assert app.controller.state.resume == runs["model file"]
        assert app.query_one("#field-model", Select).value.endswith("dropout_mod.py")
        assert not app.query_one("#field-optimizer").parent.display   # the file's own updater


def test_a_model_file_run_resumes_from_any_folder(small_data_dir, tmp_path, monkeypatch):
    """The run records the file's absolute path: resumed from another folder, the net is
    found; from its own folder, `--model my_net.py` is the same file and may be given."""
    from tui_trainer.store.checkpoint import load_checkpoint

    (tmp_path / "ch3").mkdir()
    (tmp_path / "ch3" / "my_net.py").write_text(NET_FILE)
    monkeypatch.chdir(tmp_path / "ch3")
    config = TrainConfig(model="my_net.py", data_dir=str(small_data_dir), out="runs", epochs=1,
                         batch_size=16, device="cpu", threads="1")
    session = prepare(config)
    fit(session, lambda e: None)
    saved = load_checkpoint(session.run.path)["config"]
    assert saved["model"] == str(tmp_path / "ch3" / "my_net.py")
    monkeypatch.chdir(tmp_path)
    resumed = prepare(TrainConfig.from_dict(saved).replace(epochs=2),
                      resume=str("ch3" / session.run.path))
    assert fit(resumed, lambda e: None).status == "finished"
    assert [row["epoch"] for row in resumed.history] == [1, 2]
    monkeypatch.chdir(tmp_path / "ch3")
    again = prepare(config.replace(epochs=3), resume=str(session.run.path))
    assert again.config.model == saved["model"] and again.epoch == 2


def test_a_model_file_that_changed_is_not_resumed_unless_asked(small_data_dir, tmp_path,
                                                              monkeypatch):
    """The run records its file's hash: another file at that path (another folder's net.py ran,
    trained, exit 0, no word) or an edited one is refused in one line naming the variable that
    resumes anyway; the same file resumes."""
    from tui_trainer.core.errors import SmtuiError
    net = tmp_path / "net.py"
    net.write_text(NET_FILE)
    config = TrainConfig(model=str(net), data_dir=str(small_data_dir), out=str(tmp_path / "runs"),
                         epochs=1, batch_size=16, device="cpu", threads="1")
    session = prepare(config)
    fit(session, lambda e: None)
    net.write_text(NET_FILE + "\n# edited\n")
    with pytest.raises(SmtuiError) as info:
        prepare(config.replace(epochs=2), resume=str(session.run.path))
    assert "is not the file" in str(info.value) and "SMTUI_MODEL_CHANGED=1" in str(info.value)
    monkeypatch.setenv("SMTUI_MODEL_CHANGED", "1")
    resumed = prepare(config.replace(epochs=2), resume=str(session.run.path))
    assert fit(resumed, lambda e: None).status == "finished"
    monkeypatch.delenv("SMTUI_MODEL_CHANGED")
    again = prepare(config.replace(epochs=3), resume=str(session.run.path))   # now recorded
    assert again.epoch == 2
