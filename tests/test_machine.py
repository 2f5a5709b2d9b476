"""The machine beside the run: the process's CPU use and memory, checked against /proc."""

from __future__ import annotations

import csv
import json
import os
import time

import pytest

from tests.support.runs import smtui
from tests.support.waits import wait_for
from tui_trainer.core.config import TrainConfig
from tui_trainer.loop.meter import ProcessMeter, describe, resident_bytes

linux = pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads /proc")


def proc_status(field: str) -> int:
    """A field of /proc/self/status in kB."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))


def proc_cpu_ticks() -> int:
    """utime + stime of this process from /proc/self/stat, in clock ticks."""
    with open("/proc/self/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


@linux
def test_the_meter_agrees_with_proc():
    before = proc_cpu_ticks()
    meter = ProcessMeter()
    start = time.monotonic()
    while time.monotonic() - start < 0.5:   # one busy thread: about 100% of one core
        sum(range(1000))
    figures = meter.sample()
    ticks = proc_cpu_ticks() - before
    by_proc = 100 * ticks / os.sysconf("SC_CLK_TCK") / (time.monotonic() - start)
    assert abs(figures["cpu_percent"] - by_proc) < 25, (figures, by_proc)
    assert 20 < figures["cpu_percent"] < 100 * os.cpu_count() + 25   # one busy thread
    rss_kb = proc_status("VmRSS")
    assert abs(figures["memory_mb"] * 1024 - rss_kb) < 0.05 * rss_kb + 4096
    assert resident_bytes() > 0


def test_describe_says_what_top_and_nvidia_smi_say():
    assert describe({"cpu_percent": 183.4, "memory_mb": 1228.8}) == "cpu 183% · mem 1.2 GB"
    assert describe({"cpu_percent": 12, "memory_mb": 900, "gpu_percent": 87.0,
                     "gpu_memory_mb": 3481.6}) == "cpu 12% · mem 900 MB · gpu 87% 3.4 GB"
    assert describe({}) == ""


@pytest.mark.process
@linux
def test_a_headless_run_records_the_machine_per_epoch(small_data_dir, tmp_path):
    r = smtui("--no-ui", "--data-dir", small_data_dir, "--out", tmp_path / "runs", "--epochs",
              "2", "--batch-size", "16")
    assert r.returncode == 0, r.stderr
    [run] = (tmp_path / "runs").iterdir()
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in rows] == [1, 2]
    for row in rows:
        assert row["cpu_percent"] >= 0 and 50 < row["memory_mb"] < 64 * 1024
    with open(run / "metrics.csv") as f:   # the book's columns, as before
        assert next(csv.reader(f)) == ["epoch", "train_loss", "train_acc", "test_acc",
                                       "seconds", "lr"]


@pytest.mark.app
async def test_the_status_bar_shows_the_process_cpu_and_memory(tmp_path):
    from tui_trainer.ui.app import SmtuiApp

    app = SmtuiApp(TrainConfig(out=str(tmp_path)))
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: "mem " in app.panels.status_bar.machine)
        assert app.panels.status_bar.machine.startswith("cpu ")
        assert "mem " in str(app.panels.status_bar.render())
