"""The TensorBoard export, headless and from the TUI, and its absence."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.app import train_to_end
from tui_trainer.core.config import TrainConfig
from tui_trainer.ui.app import SmtuiApp


@pytest.mark.process
def test_tensorboard_export(small_data_dir, tmp_path):
    """Each run in its own subfolder named like its run directory; scalars, labelled images,
    the labels as text, and the hyper-parameters, read back with TensorBoard's own reader."""
    pytest.importorskip("tensorboard")
    runs_lr = {}
    for lr in ("0.1", "0.3"):
        before = set((tmp_path / "runs").iterdir()) if (tmp_path / "runs").exists() else set()
        r = subprocess.run([sys.executable, "-m", "tui_trainer", "--no-ui", "--data-dir",
                            str(small_data_dir), "--out", str(tmp_path / "runs"), "--epochs",
                            "2", "--batch-size", "16", "--lr", lr, "--tensorboard",
                            str(tmp_path / "tb")], capture_output=True, text=True, timeout=180)
        assert r.returncode == 0, r.stderr
        # where the event files are, and the command that opens them
        assert f"TensorBoard: event files in {tmp_path / 'tb'}/" in r.stdout + r.stderr
        assert f"open them with: tensorboard --logdir {tmp_path / 'tb'}\n" in r.stdout + r.stderr
        (new,) = set((tmp_path / "runs").iterdir()) - before
        runs_lr[new.name] = lr
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    runs = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert sorted(p.name for p in (tmp_path / "tb").iterdir()) == runs
    for name in runs:
        acc = EventAccumulator(str(tmp_path / "tb" / name), size_guidance={"tensors": 0})
        acc.Reload()
        assert [e.step for e in acc.Scalars("test_acc")] == [1, 2]      # no zig-zag
        assert [e.step for e in acc.Images("test_images (green: right, red: wrong)")] == [1, 2]
        assert "test_predictions/text_summary" in acc.Tags()["tensors"]
        assert hparams_of(tmp_path / "tb" / name)["lr"] == float(runs_lr[name])


def hparams_of(run_folder) -> dict:
    """The settings TensorBoard's HParams table shows for a run (its `hparams` folder), as
    numbers and strings; the one session there is asserted."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    acc = EventAccumulator(str(run_folder / "hparams"), size_guidance={"tensors": 0})
    acc.Reload()
    content = acc.PluginTagToContent("hparams")
    assert list(content).count("_hparams_/session_start_info") == 1
    info = plugin_data_pb2.HParamsPluginData.FromString(
        content["_hparams_/session_start_info"]).session_start_info
    return {k: (v.number_value if v.HasField("number_value") else v.string_value)
            for k, v in info.hparams.items()}


@pytest.mark.process
def test_a_resumed_runs_hparams_are_its_latest_settings_beside_its_last_epoch(small_data_dir,
                                                                              tmp_path):
    """Trained to epoch 3, resumed to 5, both with --tensorboard: the HParams table says
    epochs 5 beside epoch 5's accuracy (it said the first session's epochs 3)."""
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    base = [sys.executable, "-m", "tui_trainer", "--no-ui", "--tensorboard", str(tmp_path / "tb")]
    r = subprocess.run([*base, "--data-dir", str(small_data_dir), "--out", str(tmp_path / "runs"),
                        "--epochs", "3", "--batch-size", "16"], capture_output=True, text=True,
                       timeout=180)
    assert r.returncode == 0, r.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    r = subprocess.run([*base, "--resume", str(run_dir), "--epochs", "5"], capture_output=True,
                       text=True, timeout=180)
    assert r.returncode == 0, r.stderr
    folder = tmp_path / "tb" / run_dir.name
    assert hparams_of(folder)["epochs"] == 5.0
    acc = EventAccumulator(str(folder / "hparams"))
    acc.Reload()
    assert [e.step for e in acc.Scalars("hparam/test_acc")] == [5]


def test_tensorboard_frames_say_right_and_wrong():
    import torch

    from tui_trainer.store.tensorboard import framed

    images = torch.full((2, 28, 28), 255, dtype=torch.uint8)
    out = framed(images, torch.tensor([True, False]))
    assert out.shape == (2, 3, 32, 32)
    assert out[0, :, 0, 0].tolist() == pytest.approx([0.1, 0.8, 0.2])     # green: right
    assert out[1, :, 0, 0].tolist() == pytest.approx([0.9, 0.15, 0.1])    # red: wrong
    assert out[0, :, 16, 16].tolist() == [1.0, 1.0, 1.0]                   # the image inside


@pytest.mark.app
async def test_the_tui_exports_to_tensorboard_too(small_data_dir, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    app = SmtuiApp(TrainConfig(data_dir=str(small_data_dir), out=str(tmp_path / "runs"),
                               epochs=2, batch_size=16, device="cpu",
                               tensorboard=str(tmp_path / "tb")))
    async with app.run_test(size=(100, 30)) as pilot:
        await train_to_end(pilot, app)
    run = next((tmp_path / "runs").iterdir()).name
    acc = EventAccumulator(str(tmp_path / "tb" / run))
    acc.Reload()
    assert [e.step for e in acc.Scalars("train_loss")] == [1, 2]


@pytest.mark.process
def test_tensorboard_missing_is_one_line(small_data_dir, tmp_path):
    code = (
        "import sys; sys.modules['torch.utils.tensorboard'] = None; from tui_trainer import cli; "
        f"cli.main(['--no-ui', '--data-dir', {str(small_data_dir)!r}, '--out', "
        f"{str(tmp_path)!r}, '--batch-size', '16', '--tensorboard', {str(tmp_path / 'tb')!r}])"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 1 and "pip install tensorboard" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def steps(folder, tag="test_acc") -> list[int]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    acc.Reload()
    return sorted(e.step for e in acc.Scalars(tag))


@pytest.mark.process
def test_export_writes_any_runs_whole_history_once(small_data_dir, tmp_path):
    """`smtui export RUNS --tensorboard DIR`: a sweep's members and a run resumed without
    --tensorboard, each in its folder with every epoch once; a second export adds nothing;
    a run resumed with --tensorboard after one trained without it gets its earlier epochs too
    (it showed only the resumed ones)."""
    pytest.importorskip("tensorboard")
    base = [sys.executable, "-m", "tui_trainer"]
    data = ["--data-dir", str(small_data_dir), "--batch-size", "16"]
    runs, tb = tmp_path / "runs", tmp_path / "tb"

    def ok(*args):
        r = subprocess.run([*base, *args], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        return r.stdout
    ok("--no-ui", *data, "--out", str(runs), "--epochs", "2")
    (single,) = runs.iterdir()
    ok("--no-ui", "--resume", str(single), "--epochs", "3", "--tensorboard", str(tb))
    assert steps(tb / single.name) == [1, 2, 3]   # the two before the resume, once
    ok("sweep", "--lr", "0.1,0.5", *data, "--out", str(tmp_path / "sweep"), "--epochs", "2")
    said = ok("export", str(runs), str(tmp_path / "sweep"), "--tensorboard", str(tb))
    assert f"{single}: 0 epochs added" in said and said.count("2 epochs added") == 2, said
    members = [p for p in (tmp_path / "sweep").rglob("config.json")]
    assert len(members) == 2
    for member in members:
        assert steps(tb / member.parent.name) == [1, 2]
        assert steps(tb / member.parent.name / "hparams", "hparam/test_acc") == [2]
    again = ok("export", str(tmp_path / "sweep"), "--tensorboard", str(tb))
    assert again.count("0 epochs added") == 2
    for member in members:
        assert steps(tb / member.parent.name) == [1, 2]   # nothing twice


def test_a_sweep_writes_each_model_as_a_run_of_its_own(capsys, small_data_dir, tmp_path):
    """`smtui sweep --tensorboard DIR` (refused before): each rate in the subfolder its run
    directory names, its epochs as steps and its own rate in the HParams table, read back with
    TensorBoard's reader; a later export adds nothing."""
    pytest.importorskip("tensorboard")
    from tests.support.runs import run_cli

    code, out, err = run_cli(capsys, "sweep", "--lr", "0.03,0.3", "--data-dir",
                             str(small_data_dir), "--out", str(tmp_path / "runs"), "--epochs",
                             "2", "--batch-size", "16", "--device", "cpu", "--tensorboard",
                             str(tmp_path / "tb"))
    assert code == 0, err
    assert f"tensorboard --logdir {tmp_path / 'tb'}" in out + err
    (sweep,) = (tmp_path / "runs").iterdir()
    runs = sorted(sweep.iterdir())
    assert len(runs) == 2
    assert sorted(p.name for p in (tmp_path / "tb").iterdir()) == [p.name for p in runs]
    rates = set()
    for run in runs:
        folder = tmp_path / "tb" / run.name
        assert steps(folder) == [1, 2]
        hparams = hparams_of(folder)
        assert hparams["epochs"] == 2.0
        rates.add(hparams["lr"])
    assert rates == {0.03, 0.3}
    code, out, err = run_cli(capsys, "export", *map(str, runs), "--tensorboard",
                             str(tmp_path / "tb"))
    assert code == 0 and all(steps(tmp_path / "tb" / run.name) == [1, 2] for run in runs)
