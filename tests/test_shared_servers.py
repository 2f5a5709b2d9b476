"""Runs as shared servers hold them: runs trained in containers, read from outside them."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys

import pytest

from tests.support.procs import child_env, default_signals
from tests.support.runs import epochs_done, the_run
from tests.support.waits import wait_until


def namespaces_here() -> bool:
    """Whether this process may start one in a PID namespace of its own (root, unshare)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "true"],
                          capture_output=True).returncode == 0


@pytest.mark.process
@pytest.mark.skipif(not namespaces_here(), reason="needs root and unshare (a PID namespace)")
def test_a_run_in_its_own_pid_namespace_is_running_until_killed_then_crashed(slow_data,
                                                                             tmp_path):
    """A run trained in a PID namespace (a container) records pid 1 or so, which names
    another process, or none, out here: `smtui runs` says running while it trains (it said
    crashed) and crashed once it is killed (it said running forever)."""
    out = tmp_path / "runs"
    proc = subprocess.Popen(
        ["unshare", "--pid", "--fork", "--kill-child", "--mount-proc", sys.executable, "-m",
         "tui_trainer", "--no-ui", "--data-dir", str(slow_data), "--out", str(out),
         "--batch-size", "2", "--epochs", "1000"], stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True, env=child_env(), preexec_fn=default_signals)
    try:
        run_dir = the_run(out)
        wait_until(lambda: epochs_done(run_dir) >= 1, what="an epoch in the namespace")

        def listed() -> str:
            r = subprocess.run([sys.executable, "-m", "tui_trainer", "runs", str(out), "--json"],
                               capture_output=True, text=True, env=child_env(), timeout=60)
            return json.loads(r.stdout)[0]["state"]
        status = json.loads((run_dir / "status.json").read_text())
        assert status["pid"] != proc.pid   # the namespace's own numbering
        assert listed() == "running"
        proc.send_signal(signal.SIGKILL)   # unshare; --kill-child takes the namespace's pid 1
        proc.wait(timeout=60)
        wait_until(lambda: listed() == "crashed", what="the killed run said crashed")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_runs_files_follow_the_umask_as_every_unix_tools_do(small_data_dir, tmp_path):
    """A team folder with umask 002: every file of a run is group-writable (they came out
    -rw-r--r-- whatever the umask, and a teammate's --resume could not take the lock)."""
    from tui_trainer.core.config import TrainConfig
    from tui_trainer.loop.train import fit, prepare

    old = os.umask(0o002)
    try:
        session = prepare(TrainConfig(data_dir=str(small_data_dir), out=str(tmp_path / "runs"),
                                      epochs=1, batch_size=16, device="cpu"))
        fit(session, lambda e: None)
    finally:
        os.umask(old)
    run = session.run.path
    modes = {p.name: p.stat().st_mode & 0o777 for p in run.iterdir() if p.is_file()}
    assert {".lock", "config.json", "metrics.jsonl", "checkpoint.pt", "status.json"} <= set(modes)
    assert set(modes.values()) == {0o664}, modes


def test_a_linked_settings_file_stays_a_link_and_a_theme_not_saved_is_said(tmp_path,
                                                                          monkeypatch):
    """Dotfiles kept by stow: settings.json is a link; saving a theme replaces the file it
    points to, never the link. A theme that cannot be saved says why."""
    from tui_trainer.store.settings import load, save_theme

    kept = tmp_path / "dotfiles" / "settings.json"
    kept.parent.mkdir()
    kept.write_text(json.dumps({"defaults": {"epochs": 20}}))
    link = tmp_path / "config" / "smtui" / "settings.json"
    link.parent.mkdir(parents=True)
    link.symlink_to(kept)
    assert save_theme("textual-light", link) is None
    assert link.is_symlink() and link.resolve() == kept.resolve()
    assert json.loads(kept.read_text()) == {"defaults": {"epochs": 20}, "theme": "textual-light"}
    assert load(link).theme == "textual-light"
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")   # where the settings' folder should be: no user may write there
    assert "cannot write" in (save_theme("nord", blocked / "smtui" / "settings.json") or "")


@pytest.mark.process
def test_a_relative_data_folder_is_recorded_whole_and_named_as_the_runs_when_gone(
        small_data_dir, tmp_path, monkeypatch):
    """`cd proj && smtui --no-ui --data-dir data`, then a resume from elsewhere: the run
    recorded its data folder whole, so the resume finds it; a recorded folder that is gone
    is named as the run's, not as an option the user never typed."""

    project = tmp_path / "proj"
    shutil.copytree(small_data_dir, project / "data")
    monkeypatch.chdir(project)
    code, _, err = run_cli_in(project, "--no-ui", "--data-dir", "data", "--out", "runs",
                              "--epochs", "1", "--batch-size", "16")
    assert code == 0, err
    run = next((project / "runs").iterdir())
    assert json.loads((run / "config.json").read_text())["data_dir"] == str(project / "data")
    code, _, err = run_cli_in(tmp_path, "--no-ui", "--resume", str(run), "--epochs", "2")
    assert code == 0, err
    shutil.rmtree(project / "data")
    code, _, err = run_cli_in(tmp_path, "--no-ui", "--resume", str(run), "--epochs", "3")
    assert code == 2 and err.count("\n") == 1, err
    assert f"the value the run in {run} recorded" in err and "--data-dir" in err


def run_cli_in(folder, *args: str):
    """`smtui ARGS` in a child process started in `folder`: (exit code, stdout, stderr)."""
    r = subprocess.run([sys.executable, "-m", "tui_trainer", *args], capture_output=True,
                       text=True, cwd=folder, env=child_env(), timeout=300)
    return r.returncode, r.stdout, r.stderr


@pytest.mark.process
@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full here")
def test_a_command_whose_job_is_its_output_fails_loudly_when_the_output_cannot_be_written(
        small_data_dir, tmp_path):
    """`smtui runs --json > /full/out.json` printed nothing, exit 0, and left a file cut short:
    like `ls > /dev/full`, one line and exit 1; a reader that stops early (`| head`) is no
    failure."""
    from tui_trainer.core.config import TrainConfig
    from tui_trainer.loop.train import fit, prepare

    fit(prepare(TrainConfig(data_dir=str(small_data_dir), out=str(tmp_path / "runs"),
                            epochs=1, batch_size=16, device="cpu")), lambda e: None)
    for args in (["runs", str(tmp_path / "runs"), "--json"],
                 ["compare", str(tmp_path / "runs"), "--format", "json"]):
        with open("/dev/full", "w") as full:
            r = subprocess.run([sys.executable, "-m", "tui_trainer", *args], stdout=full,
                               stderr=subprocess.PIPE, text=True, env=child_env(), timeout=120)
        assert r.returncode == 1, (args, r.stderr)
        assert r.stderr == "smtui: error: cannot write the output: No space left on device\n"
    head = subprocess.run(f"{sys.executable} -m tui_trainer runs {tmp_path / 'runs'} --json "
                          "| head -c 1", shell=True, capture_output=True, text=True,
                          env=child_env(), timeout=120)
    assert head.stdout == "[" and head.stderr == ""


def test_a_colleagues_private_run_is_one_warning_and_the_listing_goes_on(tmp_path, capsys,
                                                                        monkeypatch):
    """In a 1777 folder a run trained under umask 077 is drwx------ to everyone else: `smtui
    runs F` and `compare F` failed with `F: Permission denied` (a folder they can read) and
    the viewer never found their newest run. Each unreadable run is one warning, skipped.
    (Root reads every folder, so the refusal is the kernel's answer, given here by hand.)"""
    from pathlib import Path

    from tests.support.runs import GOOD, make_run, run_cli
    from tui_trainer.core.config import TrainConfig
    from tui_trainer.store.catalog import newest_run

    shared = tmp_path / "shared"
    config = json.dumps(TrainConfig().to_dict()).encode()
    mine = make_run(shared / "20261130-100000-scratch", [json.dumps(GOOD).encode()], config,
                    b'{"state": "finished", "updated": 1000.0}')
    private = make_run(shared / "20261130-110000-scratch", [json.dumps(GOOD).encode()],
                       config, b'{"state": "finished", "updated": 2000.0}')
    real_is_file = Path.is_file

    def refused(self: Path) -> bool:
        if self.parent == private:
            raise PermissionError(13, "Permission denied", str(self))
        return real_is_file(self)
    monkeypatch.setattr(Path, "is_file", refused)
    for args in (["runs", str(shared), "--json"], ["compare", str(shared), "--format", "json"]):
        code, out, err = run_cli(capsys, *args)
        assert code == 0, err
        assert [r["run"] for r in json.loads(out)] == [mine.name]
        assert err == (f"smtui: warning: {private} cannot be read (Permission denied): "
                       "skipped\n")
    assert newest_run(shared) == mine


def test_worker_processes_fit_the_cpus_this_process_may_use(monkeypatch):
    """The book's 4 DataLoader workers on two CPUs: two (torch warned twice, and under
    PYTHONWARNINGS=error its warning ended the run with exit 70)."""
    from tui_trainer.loop import cpu_threads
    monkeypatch.setattr(cpu_threads, "available_cpus", lambda *a, **k: 2)
    assert [cpu_threads.fitting_workers(n) for n in (0, 1, 2, 4, 8)] == [0, 1, 2, 2, 2]


@pytest.mark.process
@pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="two worker processes need two CPUs")
@pytest.mark.parametrize("limit", [16, 20])
def test_running_out_of_file_descriptors_is_one_line_and_a_failed_run(small_data_dir,
                                                                     tmp_path, limit):
    """`ulimit -n` too small for the book loader's workers: exit 1 with one line that says so
    and what to do, the run `failed` (it was left `running`, with torch's tracebacks and exit
    70: the record could not be written while the failed loader held the descriptors)."""
    import resource

    def low_limit() -> None:
        default_signals()
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
    r = subprocess.run([sys.executable, "-m", "tui_trainer", "--no-ui", "--data-dir",
                        str(small_data_dir), "--loader", "book", "--num-workers", "2",
                        "--batch-size", "8", "--epochs", "1", "--out", str(tmp_path / "runs")],
                       capture_output=True, text=True, timeout=300, preexec_fn=low_limit,
                       env={**child_env(), "SMTUI_CACHE_DIR": str(tmp_path / "cache")})
    assert r.returncode == 1, r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("smtui: error: too many open files") and "ulimit -n" in last, r.stderr
    assert "internal error" not in r.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert json.loads((run_dir / "status.json").read_text())["state"] == "failed"


def test_a_run_is_stalled_after_ten_times_its_own_pace_of_writing():
    """A viewer's 'stalled' follows the run's own pace: quiet for ten times its usual interval
    and at least 5 s (a run writing three times a second that stops for 12 s showed
    `training` until a fixed minute had passed); a run whose writes come a minute apart is not
    stalled after two; before its pace is known, a minute."""
    from tui_trainer.store.watch import Pace

    fast = Pace()
    for t in (100.0, 100.3, 100.6, 100.9, 100.9):   # the same write read twice adds nothing
        fast.saw({"updated": t})
    assert fast.usual() == pytest.approx(0.3) and fast.limit() == 5.0
    assert fast.stalled_for({"updated": 100.9}, now=104.0) is None
    assert fast.stalled_for({"updated": 100.9}, now=112.9) == pytest.approx(12.0)
    slow = Pace()
    for t in (0.0, 60.0, 120.0, 180.0):
        slow.saw({"updated": t})
    assert slow.limit() == 600.0
    assert slow.stalled_for({"updated": 180.0}, now=300.0) is None
    new = Pace()
    new.saw({"updated": 10.0})
    assert new.stalled_for({"updated": 10.0}, now=40.0) is None
    assert new.stalled_for({"updated": 10.0}, now=71.0) == pytest.approx(61.0)


def test_a_paused_run_keeps_saying_it_is_alive_and_an_ended_one_never_does(tmp_path,
                                                                          monkeypatch):
    """While paused the loop writes its last progress again, marked paused, so that a viewer
    does not call a pause a stall; once the run has ended, no beat can say `running`."""
    from tui_trainer.core.events import BatchEnd
    from tui_trainer.loop import lifecycle
    from tui_trainer.store.rundir import RunDir

    monkeypatch.setattr(lifecycle, "STATUS_EVERY_S", 0.0)
    run = RunDir.create(str(tmp_path), "paused")
    life = lifecycle.RunLife(run, 3)
    life.beat()   # nothing reported yet: nothing to repeat
    assert not run.status_path.exists()
    life.progress(0, BatchEnd(1, 5, 10, 40, 100.0, 0.9, 0.5, 2))
    first = run.read_status()
    life.beat()
    beat = run.read_status()
    assert beat["paused"] is True and beat["state"] == "running"
    assert beat["batch"] == first["batch"] == 5 and beat["updated"] >= first["updated"]
    life.end("stopped", 0, "stopped at epoch 1, batch 5")
    life.beat()
    assert run.read_status()["state"] == "stopped"


def test_a_viewer_says_paused_while_the_run_is_paused_and_training_when_it_goes_on(tmp_path,
                                                                                monkeypatch):
    """The viewer showed `training` for a run paused in its own window, though its record
    says paused: it says paused (as the bar and the Runs tab's row), at the batch where the
    run waits (the beat repeated the last report written, up to a second older), until
    progress comes."""
    from types import SimpleNamespace

    from tests.support.controller import controller, progress
    from tui_trainer.core.events import BatchEnd, RunEnded
    from tui_trainer.loop import lifecycle
    from tui_trainer.store.rundir import RunDir
    from tui_trainer.store.watch import RunWatcher
    from tui_trainer.ui.modes import WatchMode

    now = [1000.0]   # the loop's clock, moved by the test
    monkeypatch.setattr(lifecycle, "time", SimpleNamespace(monotonic=lambda: now[0]))
    run = RunDir.create(str(tmp_path), "paused")
    run.acquire_lock()   # its process, alive
    life = lifecycle.RunLife(run, 3)
    run.write_config({"epochs": 3})
    watcher = RunWatcher(run.path)
    now[0] += 2.0
    life.progress(0, BatchEnd(1, 5, 10, 40, 100.0, 0.9, 0.5, 2))   # written
    assert not [e for e in watcher.poll(evaluate=False) if isinstance(e, RunEnded)]
    now[0] += 0.5
    life.progress(0, BatchEnd(1, 7, 10, 56, 100.0, 0.85, 0.5, 2))  # the pause's: not due
    assert run.read_status()["batch"] == 5
    now[0] += 1.0
    life.beat()
    events = watcher.poll(evaluate=False)
    ended = [e for e in events if isinstance(e, RunEnded)]
    assert [e.status for e in ended] == ["paused"] and "space" in ended[0].message
    assert [e.batch for e in events if isinstance(e, BatchEnd)] == [7]   # where it waits
    now[0] += 1.5
    life.beat()
    assert not watcher.poll(evaluate=False)   # said once
    now[0] += 1.5
    life.progress(0, BatchEnd(1, 8, 10, 64, 100.0, 0.8, 0.5, 2))
    events = watcher.poll(evaluate=False)
    assert any(isinstance(e, BatchEnd) for e in events)
    assert not any(isinstance(e, RunEnded) for e in events)
    ctl = controller(WatchMode(str(run.path)))
    ctl.state.watched = "training"
    ctl.state.current = SimpleNamespace(status="running")
    ctl.handle(ended[0])
    assert ctl.panels.status_bar.state == "paused" and ctl.state.current.status == "paused"
    ctl.handle(progress(2, 1))
    assert ctl.panels.status_bar.state == "training" and ctl.state.current.status == "running"
