"""The tests' own wait for child processes: a hang fails with the stacks of its threads."""

from __future__ import annotations

import subprocess
import sys

import pytest
from tests.support.procs import child_env, finish


@pytest.mark.process
def test_a_process_that_does_not_stop_fails_with_where_it_hangs():
    code = ("import signal, sys, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "print('ready', flush=True)\ndef stuck_here():\n    time.sleep(600)\nstuck_here()\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=child_env())
    assert proc.stdout.readline().strip() == "ready"
    proc.terminate()                     # ignored: the process hangs on
    with pytest.raises(AssertionError, match=r"(?s)still running 1 s.*stuck_here"):
        finish(proc, timeout=1)
    assert proc.poll() is not None       # and it is gone afterwards


@pytest.mark.process
def test_a_process_that_exits_gives_its_output():
    proc = subprocess.Popen([sys.executable, "-c", "print('out'); import sys; sys.exit(3)"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=child_env())
    out, err = finish(proc)
    assert out == "out\n" and proc.returncode == 3
