"""How many CPU threads torch may use, chosen so that a shared CPU slows a run by its fair share.

torch's CPU kernels run on an OpenMP team. Each small operation of softmax regression (a
256x784 by 784x10 product, a gather, a reduction) is one parallel region that ends at a barrier,
and the team's threads spin while they wait there. Alone on the machine that is fastest. Beside
another busy process it collapses: one of the team is descheduled, the others spin at the
barrier, and an epoch measured at 0.11 s alone took 0.8-0.9 s beside a second smtui run and 20 s
beside two busy processes (two cores). A single thread has no barrier and no spinning: 0.15 s
alone, 0.16 s beside a second run, 0.25 s beside two busy processes.

So smtui decides in two steps:

1. Before torch loads (`configure`), the thread budget: the CPUs this process may really use,
   its affinity mask and its cgroup CPU quota (a container started with `--cpus=2` on a 64-core
   server sees 64 CPUs; torch would start 64 threads). `OMP_NUM_THREADS` is set to it unless the
   user set it, and a user's `OMP_NUM_THREADS` or `--threads N` is never overridden.
2. While training (`ThreadGovernor`, `--threads auto`), the number of threads that is fastest
   *now*: it times a probe (a training step on a copy of the model) with the full budget and
   with one thread, keeps the faster, and probes again when the run's speed drops or, while on
   one thread, every few seconds; so a run that starts alone and is joined by another adapts,
   recovers its speed when the other ends, and on an idle machine trains exactly as with a
   fixed count.

Nothing here imports torch at module level: `configure` must run before torch loads.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, MutableMapping

CGROUP_ROOT = Path("/sys/fs/cgroup")


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None


def parse_cgroup_v2_max(text: str | None) -> float | None:
    """CPUs allowed by a cgroup v2 `cpu.max` ("200000 100000" -> 2.0; "max 100000" -> None)."""
    if not text:
        return None
    parts = text.split()
    try:
        if parts[0] == "max":
            return None
        quota, period = int(parts[0]), int(parts[1]) if len(parts) > 1 else 100000
    except (ValueError, IndexError):
        return None
    return quota / period if quota > 0 and period > 0 else None


def parse_cgroup_v1(quota: str | None, period: str | None) -> float | None:
    """CPUs allowed by cgroup v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us` (-1: no limit)."""
    if quota is None or period is None:
        return None
    try:
        q, p = int(quota), int(period)
    except ValueError:
        return None
    return q / p if q > 0 and p > 0 else None


def cgroup_cpu_limit(root: Path = CGROUP_ROOT, self_cgroup: str | None = None) -> float | None:
    """The tightest CPU quota over this process's cgroup and its ancestors (v2 and v1), in CPUs;
    None when there is none. `self_cgroup` is the text of /proc/self/cgroup (for tests)."""
    text = self_cgroup if self_cgroup is not None else _read(Path("/proc/self/cgroup")) or ""
    limits = []
    for line in text.splitlines():
        fields = line.split(":", 2)
        if len(fields) != 3:
            continue
        _, controllers, path = fields
        rel = path.strip("/")
        if controllers == "":                                   # cgroup v2
            bases = [root / rel] if rel else []
            bases += [p for p in (root / rel).parents if p.is_relative_to(root)] if rel \
                else [root]
            for base in bases:
                limits.append(parse_cgroup_v2_max(_read(base / "cpu.max")))
        elif "cpu" in controllers.split(","):                   # cgroup v1
            for mount in (root / "cpu", root / "cpu,cpuacct", root / "cpuacct,cpu"):
                if not mount.is_dir():
                    continue
                base = mount / rel
                for folder in [base, *[p for p in base.parents if p.is_relative_to(mount)]]:
                    limits.append(parse_cgroup_v1(_read(folder / "cpu.cfs_quota_us"),
                                                  _read(folder / "cpu.cfs_period_us")))
                break
    found = [v for v in limits if v]
    return min(found) if found else None


def affinity_cpus() -> int:
    """CPUs in this process's affinity mask (taskset, cpusets), or the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def available_cpus(quota: float | None = None, affinity: int | None = None) -> int:
    """CPUs this process may really use: its affinity mask, capped by the cgroup quota
    (rounded up: a quota of 1.5 CPUs still runs two threads at a time)."""
    affinity = affinity if affinity is not None else affinity_cpus()
    quota = quota if quota is not None else cgroup_cpu_limit()
    return max(1, min(affinity, math.ceil(quota)) if quota else affinity)


def fitting_workers(asked: int) -> int:
    """DataLoader worker processes for `asked`: at most the CPUs this process may use (a
    container's quota, a taskset). The book's 4 on two CPUs gained nothing, torch warned twice,
    and under PYTHONWARNINGS=error its warning ended the run."""
    return min(asked, available_cpus()) if asked > 0 else 0


@dataclass(frozen=True)
class ThreadPlan:
    """The threads torch gets, and who chose them."""

    threads: int          # the budget: torch's intra-op threads at most
    adaptive: bool        # True: the governor may use fewer while the CPU is shared
    source: str           # "auto", "--threads", "OMP_NUM_THREADS"
    over: int = 0         # a count asked for over the CPUs this process may use: those CPUs

    def describe(self, used: int | None = None) -> str:
        """For the start line and the status bar: '2 threads (auto)', '1 of 2 threads (auto,
        CPU shared)'."""
        if self.adaptive and used is not None and used != self.threads:
            return f"{used} of {self.threads} threads (auto, CPU shared)"
        n = self.threads
        fix = "unset it" if self.source == "OMP_NUM_THREADS" else "--threads auto"
        over = (f"; more than the {self.over} CPUs this process may use, so slower than "
                f"{self.over}: {fix} to fit them") if self.over else ""
        return f"{n} thread{'s' if n != 1 else ''} ({self.source}{over})"


def plan_threads(setting: str | int = "auto", env: MutableMapping[str, str] | None = None,
                 cpus: int | None = None) -> ThreadPlan:
    """The plan for `--threads` (auto or a number) under the environment `env`.

    A number given with `--threads` wins; then a user's OMP_NUM_THREADS; else auto: all the CPUs
    this process may use, adapted while training.
    """
    environ: MutableMapping[str, str] = os.environ if env is None else env
    cpus = cpus if cpus is not None else available_cpus()
    if str(setting) != "auto":
        n = int(setting)
        return ThreadPlan(n, False, "--threads", cpus if n > cpus else 0)
    user = environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if user.isdigit() and int(user) > 0:
        n = int(user)   # 64 on two CPUs: epochs six times slower, and nothing said so
        return ThreadPlan(n, False, "OMP_NUM_THREADS", cpus if n > cpus else 0)
    return ThreadPlan(cpus, True, "auto")


# The plan `configure` exported, as "source:threads", beside the OMP_NUM_THREADS it set: the
# environment is where OpenMP reads the count, so the plan lives there too, with no module state
# to leak between callers (tests, a library user, a command after the group's options).
PLAN_VARIABLE = "SMTUI_THREAD_PLAN"


def _exported(env: Mapping[str, str]) -> ThreadPlan | None:
    """The plan `configure` exported in `env`, if OMP_NUM_THREADS is still the value it set."""
    source, _, threads = env.get(PLAN_VARIABLE, "").partition(":")
    if not threads.isdigit() or env.get("OMP_NUM_THREADS") != threads:
        return None
    return ThreadPlan(int(threads), source == "auto", source)


def configure(setting: str | int = "auto",
              env: MutableMapping[str, str] | None = None) -> ThreadPlan:
    """Choose the plan and export it as OMP_NUM_THREADS for the OpenMP runtime, which reads it
    once when torch loads. Call before torch is imported; a user's own variable is kept."""
    environ: MutableMapping[str, str] = os.environ if env is None else env
    if _exported(environ) is not None:
        del environ["OMP_NUM_THREADS"]   # ours, from an earlier call (a command's own --threads)
    environ.pop(PLAN_VARIABLE, None)
    plan = plan_threads(setting, environ)
    if plan.source != "OMP_NUM_THREADS":
        environ["OMP_NUM_THREADS"] = str(plan.threads)
        environ[PLAN_VARIABLE] = f"{plan.source}:{plan.threads}"
    return plan


def current_plan(env: MutableMapping[str, str] | None = None) -> ThreadPlan:
    """The plan `configure` exported, or one made now (a library user who never called it)."""
    environ: MutableMapping[str, str] = os.environ if env is None else env
    return _exported(environ) or plan_threads("auto", environ)


def plan_for(setting: str | int) -> ThreadPlan:
    """The plan for a run whose config says `setting`, once torch is loaded: a number fixes the
    count; auto keeps the budget chosen at start-up."""
    if str(setting) != "auto":
        return plan_threads(setting)
    return current_plan()


class ThreadGovernor:
    """Picks, while training, the thread count that is fastest now: the budget or one.

    Counts are compared on a `probe`, one training step on a copy of the model and a made-up
    batch, never on the run's own batches: the weights then depend on the thread count only
    where the CPU really was shared, and an idle machine gives the same numbers, to the bit, on
    every run (sums split over two threads differ from sums on one in the last bits).

    `start()` probes before the first batch. `tick(batches)` is called with the number of batches
    trained so far (from the training thread: torch's thread count is per thread); it times
    windows of at least `window_s` and probes again when the speed stays below `drop` of what
    the chosen count gave for two windows (another process started), every `recheck_s` while it
    runs on fewer threads than the budget (to come back once the other process is gone), and
    every `recheck_budget_s` on the budget (runs started together may both have probed before
    the other was busy; a probe costs about 0.2 s, 2% of that interval, and never changes the
    weights). Fewer threads must be `margin` faster to be chosen, or, with `prefer=1` (a run
    beside the app's own drawing, which needs a core), more threads must. A gap between ticks
    longer than `gap_s` (an evaluation, a pause) starts a fresh window without recording it.
    """

    def __init__(self, budget: int, set_threads: Callable[[int], None],
                 probe: Callable[[], None], *, probe_s: float = 0.04, window_s: float = 0.25,
                 recheck_s: float = 5.0, recheck_budget_s: float = 10.0, drop: float = 0.6,
                 margin: float = 1.1, prefer: int | None = None,
                 gap_s: float = 1.0, clock: Callable[[], float] = time.perf_counter) -> None:
        self.candidates = [budget, 1] if budget > 1 else [1]
        self.budget = budget
        # The count kept when the others are not `margin` faster: the budget, or one thread
        # where this process has other work for the cores (the app's drawing).
        self.prefer = prefer if prefer in self.candidates else budget
        self.set_threads, self.probe = set_threads, probe
        self.probe_s, self.window_s, self.recheck_s = probe_s, window_s, recheck_s
        self.recheck_budget_s = recheck_budget_s
        self.drop, self.margin, self.gap_s, self.clock = drop, margin, gap_s, clock
        self.threads = budget
        self.reference: float | None = None   # batches/s of the chosen count, once measured
        self.slow_windows = 0                  # windows in a row below `drop` of the reference
        self.chosen_at = 0.0
        self.window_start: float | None = None
        self.window_batches = 0
        self.last_tick = 0.0
        self.probes = 0                        # how many times it compared (for the tests)

    def start(self) -> None:
        """Choose before the first batch."""
        self.set_threads(self.threads)
        self.choose()

    def choose(self) -> None:
        """Time the probe with each candidate count, twice in turn, and keep the fastest (with
        the margin). The better of a count's two timings counts: noise only ever slows a
        timing down, and a shared CPU slows both."""
        if len(self.candidates) == 1:
            return
        self.probes += 1
        rates = {count: 0.0 for count in self.candidates}
        for _ in range(2):
            for count in self.candidates:
                self.set_threads(count)
                self.probe()                    # a warm-up step: the team forms
                start = self.clock()
                calls = 0
                while calls < 2 or self.clock() - start < self.probe_s:
                    self.probe()
                    calls += 1
                rates[count] = max(rates[count], calls / max(self.clock() - start, 1e-9))
        best = self.prefer
        for count in self.candidates:
            if count != best and rates[count] > self.margin * rates[best]:
                best = count
        self.threads = best
        self.set_threads(best)
        self.reference = None
        self.slow_windows = 0
        self.chosen_at = self.clock()
        self.window_start = None

    def tick(self, batches: int) -> None:
        """Account for training progress; may probe and change torch's thread count."""
        if len(self.candidates) == 1:
            return
        now = self.clock()
        if self.window_start is None or now - self.last_tick > self.gap_s:
            self._open(now, batches)
            return
        self.last_tick = now
        elapsed = now - self.window_start
        if elapsed < self.window_s or batches <= self.window_batches:
            return
        rate = (batches - self.window_batches) / elapsed
        if self.reference is None:
            self.reference = rate
        else:
            # Two slow windows in a row: one can be a hiccup of the machine.
            self.slow_windows = self.slow_windows + 1 if rate < self.drop * self.reference else 0
            since = now - self.chosen_at
            if self.slow_windows >= 2 or since > (self.recheck_s if self.threads != self.budget
                                                  else self.recheck_budget_s):
                self.choose()
                return
            if not self.slow_windows:           # follow the chosen count's speed
                self.reference = 0.7 * self.reference + 0.3 * rate
        self._open(now, batches)

    def _open(self, now: float, batches: int) -> None:
        self.window_start, self.window_batches, self.last_tick = now, batches, now
