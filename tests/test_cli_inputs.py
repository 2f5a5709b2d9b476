"""The command line with whatever a user types: bad values, odd paths, the largest seed, the
headless report."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.support.runs import small_session, smtui
from tui_trainer.loop.train import fit


LONG = "x" * 300


@pytest.mark.process
@pytest.mark.parametrize("args, code, start_", [
    (["--lr", "1e308"], 2, "smtui: error: --lr must be between"),
    (["--lr", "1e308", "--optimizer", "torch-sgd"], 2, "smtui: error: --lr must be between"),
    (["--lr", "1e-320"], 2, "smtui: error: --lr must be between"),
    (["--weight-decay", "1e308", "--optimizer", "adam"], 2,
     "smtui: error: --weight-decay must be 0 or between"),
    (["--weight-decay", "0.1"], 2, "smtui: error: --weight-decay applies to"),
    (["--seed", str(2**64)], 2, "smtui: error: --seed must be a whole number from 0"),
    (["--seed", "1" * 40], 2, "smtui: error: --seed must be a whole number from 0"),
    (["--epochs", str(10**12)], 2, "smtui: error: --epochs must be at most"),
    (["--batch-size", str(10**30)], 2, "smtui: error: --batch-size must be at most"),
    (["--num-workers", "1000000"], 2, "smtui: error: --num-workers must be a whole number"),
    (["--softmax", "naive", "--model", "concise"], 2, "smtui: error: --softmax naive applies"),
    (["--out", LONG], 1, "smtui: error: "),
    (["--out", f"runs/{LONG}/x"], 1, "smtui: error: "),
    (["--data-dir", LONG], 1, "smtui: error: "),
    (["--data-dir", ".", "--dataset", "subset"], 2, "smtui: error: --data-dir goes with"),
    (["--resume", LONG], 1, "smtui: error: "),
    (["--resume", f"{LONG}/checkpoint.pt"], 1, "smtui: error: "),
])
def test_no_user_input_reaches_an_internal_error(tmp_path, args, code, start_):
    r = smtui("--no-ui", "--epochs", "1", *args, cwd=tmp_path)
    assert r.returncode == code, r.stderr
    assert r.stderr.startswith(start_) and r.stderr.count("\n") == 1, r.stderr
    assert "internal error" not in r.stderr and "Traceback" not in r.stderr


@pytest.mark.process
@pytest.mark.parametrize("command", [["compare", LONG], ["view", LONG], ["compare", "."]])
def test_run_commands_with_odd_paths(tmp_path, command):
    r = smtui(*command, cwd=tmp_path)
    assert r.returncode in (1, 2) and r.stderr.startswith("smtui: error: "), r.stderr
    assert "internal error" not in r.stderr


def test_the_largest_seed_works(small_data_dir, tmp_path):
    session = small_session(small_data_dir, tmp_path, seed=2**64 - 1)
    assert fit(session, lambda e: None).status == "finished"


@pytest.mark.process
def test_headless_says_when_no_image_reaches_the_threshold(small_data_dir, tmp_path):
    r = smtui("--no-ui", "--data-dir", small_data_dir, "--out", tmp_path, "--lr", "1e-6",
              "--epochs", "1", "--batch-size", "16")
    assert r.returncode == 0, r.stderr
    assert "no test image reaches confidence 0.9" in r.stdout and "nan" not in r.stdout


@pytest.mark.process
def test_text_that_cannot_be_written_as_is_loses_only_itself(small_data_dir, tmp_path):
    """An ASCII console and an output folder named with 'ü' and a byte that is not UTF-8: every
    line still reaches the console, log.txt and the JSON files (the character is replaced, not
    the rest of the output lost), and TensorBoard, which cannot name its files so, says it in
    one line before anything is trained."""
    out = os.fsencode(tmp_path) + b"/r\xc3\xbcns-\xff"
    env = {**os.environ, "PYTHONIOENCODING": "ascii", "SMTUI_NO_DOWNLOAD": "1"}
    r = subprocess.run([sys.executable, "-m", "tui_trainer", "--no-ui", "--data-dir",
                        str(small_data_dir), "--out", out, "--batch-size", "16", "--epochs",
                        "2", "--tensorboard", os.fsencode(tmp_path) + b"/tb-\xc3\xbc"],
                       capture_output=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    stdout = r.stdout.decode("ascii")      # nothing but ASCII reached the ASCII console
    assert "epoch 1/2" in stdout and "epoch 2/2" in stdout and "look at it with" in stdout
    assert "\\udcff" in stdout or "?" in stdout   # the byte, escaped: shown, not dropped
    (run_dir,) = [p for p in os.scandir(out)]
    log = open(os.path.join(run_dir.path, b"log.txt"), encoding="utf-8").read()
    assert "epoch 1/2" in log and "epoch 2/2" in log and "\\udcff" in log
    for name in (b"config.json", b"status.json", b"analysis.json"):
        raw = open(os.path.join(run_dir.path, name), "rb").read().decode("utf-8")
        json.loads(raw)
        # no lone surrogate, which strict JSON readers (not Python's) reject: the byte as \xff
        assert "\\udc" not in raw.lower(), name
    assert "-\\\\xff" in open(os.path.join(run_dir.path, b"config.json"), "rb").read().decode()
    assert os.listdir(os.fsencode(tmp_path) + b"/tb-\xc3\xbc")   # TensorBoard wrote the run
    r = subprocess.run([sys.executable, "-m", "tui_trainer", "--no-ui", "--data-dir",
                        str(small_data_dir), "--out", out, "--batch-size", "16", "--epochs",
                        "1", "--tensorboard", os.fsencode(tmp_path) + b"/tb-\xff"],
                       capture_output=True, env=env, timeout=120)
    err = r.stderr.decode("ascii").strip().splitlines()
    assert r.returncode == 1 and len(err) == 1 and "TensorBoard needs a folder" in err[0]


@pytest.mark.process
def test_a_working_folder_that_is_gone_is_one_line_before_torch(tmp_path):
    """A shell left in a deleted folder: one line and exit 1, before torch is loaded (whose
    libraries end the process with their own fatal error)."""
    smtui_script = os.path.join(os.path.dirname(sys.executable), "smtui")
    r = subprocess.run(["bash", "-c", f"mkdir gone && cd gone && rmdir ../gone && "
                        f"{smtui_script} --no-ui"], cwd=tmp_path, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 1
    assert r.stderr.strip() == ("smtui: error: the current folder no longer exists (deleted "
                                "while this shell was in it); cd to a folder that does")


@pytest.mark.process
def test_sweep_help_lists_only_what_a_sweep_takes():
    r = smtui("sweep", "--help")
    assert r.returncode == 0 and "--lr LIST" in r.stdout
    assert "FILE.py" not in r.stdout   # a sweep refuses a model of one's own
    assert "--tensorboard" in r.stdout   # each of its models a TensorBoard run of its own
