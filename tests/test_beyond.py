"""Beyond the book: analysis, decision rules, numerics lab, watching and comparing runs, TensorBoard."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
import torch

from test_tui import make_app, train_to_end, wait_for
from tui_trainer.analysis import (confusion_matrix, per_class_accuracy, reject_curve,
                                  topk_accuracy)
from tui_trainer.config import TrainConfig
from tui_trainer.events import EpochEnd, Message, RunEnded, RunStarted
from tui_trainer.numerics import compare, parse_logits, report
from tui_trainer.train import fit, prepare
from tui_trainer.ui.analysis_panel import AnalysisPanel
from tui_trainer.ui.app import SmtuiApp
from tui_trainer.ui.predictions import SampleGrid
from tui_trainer.ui.runs_panel import RunsPanel
from tui_trainer.watch import CheckpointPredictions, RunWatcher

# Four images, three classes: predictions 0, 1, 1, 2 with confidences 0.9, 0.6, 0.5, 0.4.
PROBS = torch.tensor([[0.9, 0.05, 0.05], [0.2, 0.6, 0.2], [0.3, 0.5, 0.2], [0.35, 0.25, 0.4]])
LABELS = torch.tensor([0, 1, 0, 0])


def test_confusion_and_per_class_by_hand():
    cm = confusion_matrix(PROBS, LABELS, num_classes=3)
    assert cm.tolist() == [[1, 1, 1], [0, 1, 0], [0, 0, 0]]
    assert per_class_accuracy(cm) == pytest.approx([1 / 3, 1.0, 0.0])


def test_topk_by_hand():
    assert topk_accuracy(PROBS, LABELS, 1) == pytest.approx(0.5)
    assert topk_accuracy(PROBS, LABELS, 2) == pytest.approx(1.0)  # image 4: 0 is second


def test_reject_curve_by_hand():
    rows = reject_curve(PROBS, LABELS, thresholds=(0.0, 0.55, 0.95))
    assert rows[0] == {"threshold": 0.0, "coverage": 1.0, "accuracy": 0.5}
    assert rows[1]["coverage"] == 0.5 and rows[1]["accuracy"] == 1.0   # answers images 1, 2
    assert rows[2]["coverage"] == 0.0 and rows[2]["accuracy"] is None   # JSON has no NaN


def test_analysis_json_written_each_epoch(small_data_dir, tmp_path):
    session = prepare(TrainConfig(data_dir=str(small_data_dir), out=str(tmp_path), epochs=2,
                                  batch_size=16, lr=0.5, device="cpu"))
    fit(session, lambda e: None)
    a = json.loads(session.run.analysis_path.read_text())
    assert a["epoch"] == 2 and len(a["confusion"]) == 10
    assert sum(map(sum, a["confusion"])) == 20
    assert a["top1"] == pytest.approx(session.history[-1]["test_acc"])
    assert a["top1"] <= a["top2"] <= a["top3"]


def test_numerics_overflow_log0_and_agreement():
    c = compare([1000.0, 0.0, -1000.0], 0)
    assert math.isnan(c.naive_softmax[0]) and "overflowed" in c.verdict
    assert c.stable_softmax == pytest.approx([1.0, 0.0, 0.0])
    assert c.stable_loss == pytest.approx(c.torch_loss) and math.isfinite(c.stable_loss)
    c = compare([0.0, -200.0], 1)   # exp(-200) underflows to 0 in float32: log(0)
    assert math.isinf(c.naive_loss) and "inf" in c.verdict
    assert c.stable_loss == pytest.approx(200.0) and c.torch_loss == pytest.approx(200.0)
    c = compare([1.0, 2.0, 3.0], 2)
    assert c.naive_loss == pytest.approx(c.stable_loss, rel=1e-6)
    assert "agree" in report(c)
    with pytest.raises(ValueError, match="not a number"):
        parse_logits("1, x")


def test_numerics_command():
    r = subprocess.run([sys.executable, "-m", "tui_trainer", "numerics", "--logits", "0,-200",
                        "--label", "1"], capture_output=True, text=True)
    assert r.returncode == 0 and "naive cross-entropy is inf" in r.stdout
    r = subprocess.run([sys.executable, "-m", "tui_trainer", "numerics", "--label", "7"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.startswith("smtui: error:")


def test_run_watcher_follows_a_run(small_data_dir, tmp_path):
    out = tmp_path / "runs"
    watcher = RunWatcher(out)
    assert [type(e) for e in watcher.poll()] == [Message]          # not started yet
    session = prepare(TrainConfig(data_dir=str(small_data_dir), out=str(out), epochs=2,
                                  batch_size=16, device="cpu"))
    fit(session, lambda e: None)
    events = watcher.poll()
    kinds = [type(e) for e in events]
    assert kinds[0] is RunStarted
    assert [e.epoch for e in events if isinstance(e, EpochEnd)] == [1, 2]
    assert any(isinstance(e, RunEnded) and e.status == "finished" for e in events)
    preds = [e for e in events if isinstance(e, CheckpointPredictions)]
    assert preds and preds[0].probs.shape == (20, 10)
    assert watcher.poll() == []                                    # nothing new


def test_run_watcher_detects_a_crash(small_data_dir, tmp_path):
    session = prepare(TrainConfig(data_dir=str(small_data_dir), out=str(tmp_path), epochs=1,
                                  batch_size=16, device="cpu"))
    session.run.write_status("running", epoch=0, epochs=1)
    status = json.loads(session.run.status_path.read_text())
    status["pid"] = 2 ** 22 + 12345                                # no such process
    session.run.status_path.write_text(json.dumps(status))
    events = RunWatcher(session.run.path).poll(evaluate=False)
    ended = [e for e in events if isinstance(e, RunEnded)]
    assert ended and ended[0].status == "crashed"


def test_view_command_needs_a_terminal_and_compare_checks_dirs(tmp_path):
    r = subprocess.run([sys.executable, "-m", "tui_trainer", "compare", str(tmp_path)],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "is not a run directory" in r.stderr


async def test_view_mode_reads_a_run_and_is_read_only(small_data_dir, tmp_path):
    session = prepare(TrainConfig(data_dir=str(small_data_dir), out=str(tmp_path), epochs=3,
                                  batch_size=16, lr=0.5, device="cpu"))
    fit(session, lambda e: None)
    app = SmtuiApp(None, watch=str(session.run.path))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.state.last_status == "finished")
        assert app.curves.series["test acc"][0] == [1, 2, 3]
        await pilot.press("3")
        await wait_for(pilot, lambda: len(app.query_one(SampleGrid).images) > 0)
        app.set_focus(None)
        await pilot.press("s")
        await pilot.pause(0.2)
        assert not app.state.running                                     # read-only
        assert not any(app.check_action(a, ()) for a in ("start", "stop", "pause"))


async def test_compare_overlays_runs(small_data_dir, tmp_path):
    dirs = []
    for lr in ("0.1", "0.5"):
        session = prepare(TrainConfig(data_dir=str(small_data_dir), out=str(tmp_path),
                                      epochs=2, batch_size=16, lr=float(lr), device="cpu"))
        fit(session, lambda e: None)
        dirs.append(str(session.run.path))
    app = SmtuiApp(TrainConfig(device="cpu"), compare=dirs)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert len(app.curves.overlays) == 2
        assert app.query_one(RunsPanel).row_count == 2
        app.set_focus(None)
        await pilot.press("o")
        assert app.curves.overlays == []
        await pilot.press("o")
        assert len(app.curves.overlays) == 2


async def test_session_runs_are_compared(tmp_path):
    from idxdata import write_small_idx
    folder = tmp_path / "idx"
    write_small_idx(folder, n_train=200, n_test=50)
    app = make_app(folder, tmp_path, epochs=2)
    async with app.run_test(size=(100, 30)) as pilot:
        for _ in range(2):
            await train_to_end(pilot, app)
            app.state.last_status = "idle"
        assert len(app.records) == 2
        assert app.query_one(RunsPanel).row_count == 2
        await pilot.press("o")
        assert len(app.curves.overlays) == 2


async def test_analysis_tab_threshold_keys(small_data_dir, tmp_path):
    app = make_app(small_data_dir, tmp_path, epochs=1)
    async with app.run_test(size=(120, 40)) as pilot:
        await train_to_end(pilot, app)
        await pilot.press("4")
        panel = app.query_one(AnalysisPanel)
        await wait_for(pilot, lambda: panel.probs is not None)
        await wait_for(pilot, lambda: panel.rule is not None)
        await pilot.press("minus")
        assert panel.threshold == pytest.approx(0.85)
        expected = reject_curve(panel.probs, panel.labels, (0.85,))[0]
        assert panel.rule == expected and 0 <= panel.rule["coverage"] <= 1
        await pilot.press("plus", "plus")
        assert panel.rule["threshold"] == pytest.approx(0.95)


def test_tensorboard_export(small_data_dir, tmp_path):
    """Each run in its own subfolder named like its run directory; scalars, labelled images,
    the labels as text, and the hyper-parameters, read back with TensorBoard's own reader."""
    pytest.importorskip("tensorboard")
    for lr in ("0.1", "0.3"):
        r = subprocess.run([sys.executable, "-m", "tui_trainer", "--no-ui", "--data-dir",
                            str(small_data_dir), "--out", str(tmp_path / "runs"), "--epochs",
                            "2", "--batch-size", "16", "--lr", lr, "--tensorboard",
                            str(tmp_path / "tb")], capture_output=True, text=True, timeout=180)
        assert r.returncode == 0, r.stderr
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    runs = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert sorted(p.name for p in (tmp_path / "tb").iterdir()) == runs
    for name in runs:
        acc = EventAccumulator(str(tmp_path / "tb" / name), size_guidance={"tensors": 0})
        acc.Reload()
        assert [e.step for e in acc.Scalars("test_acc")] == [1, 2]      # no zig-zag
        assert [e.step for e in acc.Images("test_images (green: right, red: wrong)")] == [1, 2]
        assert "test_predictions/text_summary" in acc.Tags()["tensors"]
        hparams = acc.PluginTagToContent("hparams")
        assert "_hparams_/session_start_info" in hparams
        assert b"lr" in hparams["_hparams_/session_start_info"]


def test_tensorboard_frames_say_right_and_wrong():
    import torch

    from tui_trainer.tensorboard import framed

    images = torch.full((2, 28, 28), 255, dtype=torch.uint8)
    out = framed(images, torch.tensor([True, False]))
    assert out.shape == (2, 3, 32, 32)
    assert out[0, :, 0, 0].tolist() == pytest.approx([0.1, 0.8, 0.2])     # green: right
    assert out[1, :, 0, 0].tolist() == pytest.approx([0.9, 0.15, 0.1])    # red: wrong
    assert out[0, :, 16, 16].tolist() == [1.0, 1.0, 1.0]                   # the image inside


async def test_the_tui_exports_to_tensorboard_too(small_data_dir, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    app = SmtuiApp(TrainConfig(data_dir=str(small_data_dir), out=str(tmp_path / "runs"),
                               epochs=2, batch_size=16, device="cpu",
                               tensorboard=str(tmp_path / "tb")))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("s")
        while app.state.last_status != "finished":
            await pilot.pause(0.1)
    run = next((tmp_path / "runs").iterdir()).name
    acc = EventAccumulator(str(tmp_path / "tb" / run))
    acc.Reload()
    assert [e.step for e in acc.Scalars("train_loss")] == [1, 2]


def test_tensorboard_missing_is_one_line(small_data_dir, tmp_path):
    code = ("import sys; sys.modules['torch.utils.tensorboard'] = None; from tui_trainer import cli; "
            f"cli.main(['--no-ui', '--data-dir', {str(small_data_dir)!r}, '--out', "
            f"{str(tmp_path)!r}, '--batch-size', '16', '--tensorboard', {str(tmp_path / 'tb')!r}])")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 1 and "pip install tensorboard" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_run_names_in_legends():
    from tui_trainer.ui.runs_panel import RunRecord
    assert RunRecord("20261124-045518-scratch", {}).short_name == "045518-scratch"
    assert RunRecord("my-run", {}).short_name == "my-run"
