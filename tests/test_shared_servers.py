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
