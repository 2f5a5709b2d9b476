"""The thread policy: CPU quotas read from cgroup files, user overrides, the environment set
before torch loads, and the governor's choices on a simulated clock. Speed itself is measured
in `make bench`, never here."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tui_trainer.loop import cpu_threads as cpu
from tui_trainer.loop.cpu_threads import (ThreadGovernor, ThreadPlan, available_cpus,
                                          cgroup_cpu_limit, parse_cgroup_v1, parse_cgroup_v2_max,
                                          plan_threads)


@pytest.mark.parametrize("text, cpus", [("200000 100000", 2.0), ("150000 100000", 1.5),
                                        ("max 100000", None), ("max", None), ("", None),
                                        ("garbage", None), ("-1 100000", None), (None, None)])
def test_cgroup_v2_cpu_max(text, cpus):
    assert parse_cgroup_v2_max(text) == cpus


@pytest.mark.parametrize("quota, period, cpus", [("400000", "100000", 4.0), ("-1", "100000", None),
                                                 ("50000", "100000", 0.5), (None, "1", None),
                                                 ("x", "100000", None)])
def test_cgroup_v1_quota(quota, period, cpus):
    assert parse_cgroup_v1(quota, period) == cpus


def test_cgroup_v2_tree_takes_the_tightest_ancestor(tmp_path):
    """`docker run --cpus=2` writes cpu.max in the container's cgroup; a parent may be tighter."""
    leaf = tmp_path / "system.slice" / "docker-abc.scope"
    leaf.mkdir(parents=True)
    (leaf / "cpu.max").write_text("200000 100000\n")
    (tmp_path / "system.slice" / "cpu.max").write_text("max 100000\n")
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_limit(tmp_path, "0::/system.slice/docker-abc.scope\n") == 2.0
    (tmp_path / "system.slice" / "cpu.max").write_text("150000 100000\n")
    assert cgroup_cpu_limit(tmp_path, "0::/system.slice/docker-abc.scope\n") == 1.5


def test_cgroup_v1_tree(tmp_path):
    mount = tmp_path / "cpu,cpuacct" / "docker" / "abc"
    mount.mkdir(parents=True)
    (mount / "cpu.cfs_quota_us").write_text("300000\n")
    (mount / "cpu.cfs_period_us").write_text("100000\n")
    text = "12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n"
    assert cgroup_cpu_limit(tmp_path, text) == 3.0
    assert cgroup_cpu_limit(tmp_path, "4:cpu,cpuacct:/\n") is None
    assert cgroup_cpu_limit(tmp_path, "") is None


def test_available_cpus_is_affinity_capped_by_the_quota():
    assert available_cpus(quota=None, affinity=64) == 64
    assert available_cpus(quota=2.0, affinity=64) == 2
    assert available_cpus(quota=1.5, affinity=64) == 2     # rounded up
    assert available_cpus(quota=0.2, affinity=64) == 1
    assert available_cpus(quota=8.0, affinity=4) == 4      # taskset is tighter


def test_plans_and_who_wins():
    assert plan_threads("auto", {}, cpus=6) == ThreadPlan(6, True, "auto")
    assert plan_threads("auto", {"OMP_NUM_THREADS": "3"}, cpus=6) == \
        ThreadPlan(3, False, "OMP_NUM_THREADS")
    assert plan_threads("2", {"OMP_NUM_THREADS": "3"}, cpus=6) == ThreadPlan(2, False, "--threads")
    assert plan_threads("auto", {"OMP_NUM_THREADS": "junk"}, cpus=6).adaptive
    assert ThreadPlan(2, True, "auto").describe() == "2 threads (auto)"
    assert ThreadPlan(1, False, "--threads").describe() == "1 thread (--threads)"
    assert ThreadPlan(2, True, "auto").describe(used=1) == "1 of 2 threads (auto, CPU shared)"


def test_a_count_over_the_cpus_is_said_with_what_fits_them():
    """OMP_NUM_THREADS=64 on two CPUs made epochs six times slower without a word."""
    over = plan_threads("auto", {"OMP_NUM_THREADS": "64"}, cpus=2)
    assert over == ThreadPlan(64, False, "OMP_NUM_THREADS", over=2)
    assert over.describe() == ("64 threads (OMP_NUM_THREADS; more than the 2 CPUs this process "
                               "may use, so slower than 2: unset it to fit them)")
    assert "--threads auto to fit them" in plan_threads("8", {}, cpus=2).describe()
    assert plan_threads("2", {}, cpus=2).over == 0   # as many as the CPUs: nothing to say


def test_configure_exports_the_budget_but_keeps_the_users_variable():
    env: dict[str, str] = {}
    cpu.configure("auto", env)
    assert env["OMP_NUM_THREADS"] == str(available_cpus())
    assert cpu.current_plan(env) == ThreadPlan(available_cpus(), True, "auto")
    env = {"OMP_NUM_THREADS": "1"}
    assert cpu.configure("auto", env).source == "OMP_NUM_THREADS" and env["OMP_NUM_THREADS"] == "1"
    env = {}
    cpu.configure("3", env)
    assert env["OMP_NUM_THREADS"] == "3"
    # A second call (a command's own --threads after the group's) is not fooled by the value
    # the first one exported: it is not the user's.
    plan = cpu.configure("auto", env)
    assert plan.source == "auto" and env["OMP_NUM_THREADS"] == str(available_cpus())
    assert cpu.configure("1", env).source == "--threads" and env["OMP_NUM_THREADS"] == "1"
    assert cpu.current_plan(env) == ThreadPlan(1, False, "--threads")
    env["OMP_NUM_THREADS"] = "4"     # changed since by the user: theirs, not the exported plan
    plan = cpu.current_plan(env)
    assert (plan.threads, plan.adaptive, plan.source) == (4, False, "OMP_NUM_THREADS")


@pytest.mark.process
@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two CPUs to tell the budget apart")
def test_the_budget_reaches_torch_in_a_fresh_process():
    """A container quota of one CPU on a machine of several: torch must start one thread, which
    it only does if the variable is set before it loads."""
    code = ("import os; from tui_trainer.loop import cpu_threads as cpu\n"
            "cpu.available_cpus = lambda *a, **k: 1\n"
            "assert 'torch' not in __import__('sys').modules\n"
            "cpu.configure('auto')\n"
            "import torch; print(torch.get_num_threads(), os.environ['OMP_NUM_THREADS'])\n")
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["1", "1"]


@pytest.mark.process
def test_the_cli_reports_and_honours_the_thread_choice(small_data_dir, tmp_path):
    def start_line(*args, **env):
        r = subprocess.run([sys.executable, "-m", "tui_trainer", "--no-ui", "--data-dir",
                            str(small_data_dir), "--out", str(tmp_path), "--batch-size", "16",
                            "--epochs", "1", *args], capture_output=True, text=True,
                           timeout=120, env={**{k: v for k, v in os.environ.items()
                                                if k != "OMP_NUM_THREADS"}, **env})
        assert r.returncode == 0, r.stderr
        return r.stdout.splitlines()[0]

    assert start_line("--threads", "1").endswith("on cpu, 1 thread (--threads)")
    assert start_line(OMP_NUM_THREADS="1").endswith("on cpu, 1 thread (OMP_NUM_THREADS)")
    n = available_cpus()
    assert start_line().endswith(f"on cpu, {n} thread{'s' if n > 1 else ''} (auto)")


# ---------------------------------------------------------------- the governor, simulated

class Machine:
    """A fake clock and a training loop whose batch time depends on the thread count; the probe
    (a training step on a copy) takes one batch's time and is recorded, never trained on."""

    def __init__(self, seconds_per_batch: dict[int, float]) -> None:
        self.now = 0.0
        self.seconds_per_batch = seconds_per_batch
        self.threads = 0
        self.batches = 0
        self.trained_with: list[int] = []     # the thread count of every real batch

    def set_threads(self, n: int) -> None:
        self.threads = n

    def probe(self) -> None:
        self.now += self.seconds_per_batch[self.threads]

    def train(self, governor: ThreadGovernor, seconds: float, every: int = 4) -> None:
        """Run for `seconds`, ticking every `every` batches."""
        end = self.now + seconds
        while self.now < end:
            self.now += every * self.seconds_per_batch[self.threads]
            self.batches += every
            self.trained_with += [self.threads] * every
            governor.tick(self.batches)


def governor_on(machine: Machine, budget: int = 2) -> ThreadGovernor:
    g = ThreadGovernor(budget, machine.set_threads, machine.probe, clock=lambda: machine.now)
    g.start()
    return g


IDLE = {2: 0.0005, 1: 0.0007}        # two threads faster, as on an idle machine
SHARED = {2: 0.004, 1: 0.0008}       # another run beside it: the team collapses


def test_alone_every_batch_trains_with_the_full_budget():
    """No exploring on the run's own batches: an idle run is the same as a fixed-count run."""
    m = Machine(IDLE)
    g = governor_on(m)
    m.train(g, 30.0)
    assert set(m.trained_with) == {2} and 1 <= g.probes <= 4      # probes on copies only


def test_a_run_that_chose_the_budget_before_the_cpu_was_shared_looks_again():
    """Two runs started together: the first probe ran before the other was busy, and the
    speed it then measured was already the shared one (no drop to see)."""
    m = Machine(IDLE)
    g = governor_on(m)
    m.seconds_per_batch = SHARED                      # busy from the first batch on
    m.train(g, 15.0)
    assert m.threads == 1


def test_a_shared_cpu_moves_to_one_thread_and_back():
    m = Machine(IDLE)
    g = governor_on(m)
    m.train(g, 3.0)
    assert m.threads == 2
    m.seconds_per_batch = SHARED                     # another run started
    m.trained_with.clear()
    m.train(g, 10.0)
    assert m.threads == 1 and m.trained_with.count(1) / len(m.trained_with) > 0.95
    m.seconds_per_batch = IDLE                       # it ended: the budget is faster again
    m.train(g, 12.0)
    assert m.threads == 2


def test_starting_on_a_shared_cpu_uses_one_thread_from_the_first_batch():
    m = Machine(SHARED)
    g = governor_on(m)
    m.train(g, 2.0)
    assert m.trained_with[0] == 1 and set(m.trained_with) == {1}


def test_a_small_gain_is_not_worth_fewer_threads():
    m = Machine({2: 0.0005, 1: 0.00048})             # within the margin: stay with the budget
    g = governor_on(m)
    m.train(g, 20.0)
    assert m.threads == 2


def test_a_pause_or_an_evaluation_is_not_counted_as_slowness():
    m = Machine(IDLE)
    g = governor_on(m)
    m.train(g, 3.0)
    probes = g.probes
    m.now += 30.0                                    # a long gap between ticks
    m.train(g, 3.0)
    assert m.threads == 2 and g.probes <= probes + 1   # at most the periodic look


def test_one_cpu_means_one_thread_and_no_probing():
    m = Machine({1: 0.001})
    g = governor_on(m, budget=1)
    m.train(g, 5.0)
    assert set(m.trained_with) == {1} and g.probes == 0


def test_beside_the_apps_drawing_one_thread_is_kept_unless_more_train_faster():
    """A run in the app shares the cores with the app's own drawing: where two threads train
    no faster than one (a learner's small net), the second core is left to the drawing; where
    they are clearly faster (smtui's own step), they are used."""
    alike = {2: 0.0010, 1: 0.00102}
    m = Machine(alike)
    g = ThreadGovernor(2, m.set_threads, m.probe, clock=lambda: m.now, prefer=1)
    g.start()
    m.train(g, 5.0)
    assert set(m.trained_with) == {1}
    m = Machine(alike)
    plain = ThreadGovernor(2, m.set_threads, m.probe, clock=lambda: m.now)   # headless
    plain.start()
    m.train(plain, 5.0)
    assert set(m.trained_with) == {2}
    m = Machine(IDLE)                                                         # 2 is 40% faster
    g = ThreadGovernor(2, m.set_threads, m.probe, clock=lambda: m.now, prefer=1)
    g.start()
    m.train(g, 5.0)
    assert set(m.trained_with) == {2}


@pytest.mark.parametrize("setting, threads", [("auto", 1), ("3", 3)])
def test_a_gpu_run_keeps_one_cpu_thread_unless_told(setting, threads):
    """A GPU run's CPU has nothing to share out; idle torch threads would spin on it."""
    import torch

    from tui_trainer.core.config import TrainConfig
    from tui_trainer.loop.thread_probe import thread_plan

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        plan, governor = thread_plan(TrainConfig(threads=setting), torch.device("cuda"),
                                     lambda: (lambda: None))
        assert (plan, governor) == (None, None) and torch.get_num_threads() == threads
    finally:
        torch.set_num_threads(before)
