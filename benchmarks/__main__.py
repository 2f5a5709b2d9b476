"""smtui's benchmarks, measured side by side in one run: `make bench` (python -m benchmarks).

    python -m benchmarks [--quick] [--readme] [--out benchmarks/results]

Measures, on the full Fashion-MNIST:
  1. epoch time of smtui's default path against the book's code as written (torchvision,
     ToTensor, DataLoader with 4 workers) and against a bare loop (the same math inline on
     in-memory tensors: autograd, the book's sgd, nothing around it);
  2. training throughput in the TUI against headless, same config, while the curves redraw:
     the app in Textual's test harness, and in a real terminal (tmux) when tmux is installed;
  3. start-up: `smtui --help`, the TUI's first paint, the first trained batch headless;
  4. peak RSS of a 10-epoch headless run;
  5. test accuracy of each model and preset;
  6. on the CPU, a shared machine: an epoch alone, beside a second smtui run (both runs'
     epochs), beside two CPU-bound processes, the same for the bare loop (torch's own threads),
     and the TUI beside a second run.
Prints a table, saves it with the machine's description as JSON, and with --readme rewrites the
table in docs/benchmarks.md. Ratios, not absolute times, are what carry from one machine to another.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from benchmarks import probes
from benchmarks.loops import (bare_epochs, book_epochs, floor_epochs, machine, smtui_epochs,
                              steady)
from tui_trainer.core import data as data_mod
from tui_trainer.core.config import PRESETS, TrainConfig
from tui_trainer.loop.train import fit, prepare

ROOT = Path(__file__).resolve().parent.parent
SMTUI = [sys.executable, "-m", "tui_trainer"]


# ------------------------------------------------------------------------------ 2. TUI overhead



def steady_ips(out: str) -> float:
    """Images per second of the run in `out`, from its metrics.jsonl."""
    run_dir = next(Path(out).iterdir())
    epochs = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return 60000 / steady([e["seconds"] for e in epochs])


def tmux_throughput(config: TrainConfig, timeout: float = 120.0) -> float | None:
    """Images/s of the app in a real terminal: smtui in a detached tmux session (its own
    server socket), the Start key sent once the app is idle, the Curves tab shown while it
    trains. None when tmux is not installed."""
    if shutil.which("tmux") is None:
        return None
    out = tempfile.mkdtemp()
    tmux = ["tmux", "-L", f"smtui-bench-{os.getpid()}"]
    command = shlex.join(SMTUI + ["--epochs", str(config.epochs), "--device", config.device,
                                "--out", out])
    subprocess.run(tmux + ["new-session", "-d", "-x", "120", "-y", "40", "-c", str(ROOT),
                           command], check=True)
    try:
        deadline = time.monotonic() + timeout

        def screen() -> str:
            return subprocess.run(tmux + ["capture-pane", "-p"], capture_output=True,
                                  text=True).stdout

        while " idle " not in screen():
            if time.monotonic() > deadline:
                raise RuntimeError("smtui in tmux did not become idle:\n" + screen())
            time.sleep(0.2)
        time.sleep(0.5)
        subprocess.run(tmux + ["send-keys", "s"], check=True)
        metrics = lambda: list(Path(out).glob("*/metrics.jsonl"))  # noqa: E731
        while not metrics() or len(metrics()[0].read_text().splitlines()) < config.epochs:
            if time.monotonic() > deadline:
                raise RuntimeError("smtui in tmux did not finish:\n" + screen())
            time.sleep(0.2)
    finally:
        subprocess.run(tmux + ["kill-server"], capture_output=True)
    return steady_ips(out)


def tmux_start_and_quit(wait: float, repeat: int = 3, training: bool = False,
                        args: tuple[str, ...] = ()) -> tuple[float, float] | None:
    """(first frame, exit after q) in seconds, medians, of `smtui` in a real terminal (tmux,
    120x40): from starting the command to the footer on screen, and from sending q, `wait`
    seconds after that (`training`: after s has started a run and the bar says so), to the
    process's end. None without tmux.

    Before the first frame: Python, Textual and the app's modules (no torch), the settings file
    and a listing of the --out folder's runs. torch is imported after it, in a thread of its
    own. After q: a run going on stops at its next batch with a checkpoint, then Textual's
    shutdown, the terminal restored, the exit functions, and the process ended without the
    interpreter's teardown (cli.run)."""
    if shutil.which("tmux") is None:
        return None
    paints, quits = [], []
    for _ in range(repeat):
        out = Path(tempfile.mkdtemp())
        marker = out / "exited"
        tmux = ["tmux", "-L", f"smtui-start-{os.getpid()}"]
        command = shlex.join(SMTUI + ["--out", str(out), *args]) + \
            f"; touch {shlex.quote(str(marker))}"
        start = time.monotonic()
        subprocess.run(tmux + ["new-session", "-d", "-x", "120", "-y", "40", "-c", str(ROOT),
                               command], check=True)
        try:
            wait_screen(tmux, "quit", start)
            paints.append(time.monotonic() - start)
            if training:
                wait_screen(tmux, "idle", start)   # torch loaded: s starts a run
                subprocess.run(tmux + ["send-keys", "s"], check=True)
                wait_screen(tmux, "training", start)
            time.sleep(wait)
            sent = time.monotonic()
            subprocess.run(tmux + ["send-keys", "q"], check=True)
            while not marker.exists():
                if time.monotonic() - sent > 60:
                    raise RuntimeError("smtui in tmux did not exit 60 s after q")
                time.sleep(0.01)
            quits.append(time.monotonic() - sent)
        finally:
            subprocess.run(tmux + ["kill-server"], capture_output=True)
    return statistics.median(paints), statistics.median(quits)


def wait_screen(tmux: list[str], text: str, start: float) -> None:
    """Until `text` is on the tmux pane's screen (60 s at most from `start`)."""
    while text not in subprocess.run(tmux + ["capture-pane", "-p"], capture_output=True,
                                     text=True).stdout:
        if time.monotonic() - start > 60:
            raise RuntimeError(f"smtui in tmux never showed {text!r} in 60 s")
        time.sleep(0.01)


# A run that goes on until q: the embedded subset, small batches, many epochs.
TRAINING_ARGS = ("--dataset", "subset", "--batch-size", "16", "--epochs", "1000")


def quit_rows(row) -> None:
    """The TUI's first frame and its exit after q, idle and while training, side by side."""
    at_once, idle = tmux_start_and_quit(0.0), tmux_start_and_quit(4.0)
    training = tmux_start_and_quit(1.0, training=True, args=TRAINING_ARGS)
    if at_once and idle and training:
        row("TUI first frame in tmux", statistics.median([at_once[0], idle[0]]), "s", "<= 1.0",
            "from the command to the footer on screen")
        row("TUI exit after q in tmux, torch loaded", idle[1], "s", "<= 1.0", "q 4 s after")
        row("TUI exit after q in tmux, at once", at_once[1], "s", "<= 1.0",
            "q at the first frame, torch still loading")
        row("TUI exit after q in tmux, while training", training[1], "s", "<= 1.0",
            "q 1 s into a run: stop, checkpoint, exit")


def run_throughput(config: TrainConfig, ui: bool) -> tuple[float, float]:
    """(images/s, curves redraws per second) of one run in a fresh process, as a user starts it:
    `smtui --no-ui`, or the app (headless terminal) with the Start key pressed."""
    out = tempfile.mkdtemp()
    config = config.replace(out=out)
    if ui:
        text = subprocess.run(probes.command("tui-run", json.dumps(config.to_dict())),
                              capture_output=True, text=True, check=True, cwd=ROOT).stdout
        redraw_hz = float(text.strip().splitlines()[-1])
    else:
        subprocess.run(SMTUI + ["--no-ui", "--out", out, "--epochs", str(config.epochs),
                                "--device", config.device], capture_output=True, check=True)
        redraw_hz = 0.0
    return steady_ips(out), redraw_hz


# ------------------------------------------------------------------------------ 3-4. processes

def wall(cmd: list[str], repeat: int = 5) -> float:
    """Median wall time of a command."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)





def time_to_print(probe: str, repeat: int = 3) -> float:
    """Median seconds from starting Python to the timestamp the probe prints."""
    times = []
    for _ in range(repeat):
        start = time.time()
        out = subprocess.run(probes.command(probe), capture_output=True, text=True,
                             check=True, cwd=ROOT).stdout
        times.append(float(out.strip().splitlines()[-1]) - start)
    return statistics.median(times)


def peak_rss_mb(args: list[str]) -> float:
    """Peak resident memory of a child process, in MB."""
    code = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, "
            "capture_output=True); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                         check=True).stdout
    return int(out.strip()) / 1024


# ------------------------------------------------------------------------------ 6. shared CPU



def burner() -> subprocess.Popen:
    """A CPU-bound process, as another user's job on a shared server."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def headless_run(epochs: int, *args: str) -> tuple[subprocess.Popen, str]:
    out = tempfile.mkdtemp()
    proc = subprocess.Popen(SMTUI + ["--no-ui", "--device", "cpu", "--epochs", str(epochs),
                                     "--out", out, *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, cwd=ROOT)
    return proc, out


def epoch_of(proc: subprocess.Popen, out: str) -> float:
    """Median steady epoch seconds of a finished headless run."""
    proc.wait()
    run_dir = next(Path(out).iterdir())
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return steady([r["seconds"] for r in rows])


def bare_run(epochs: int) -> subprocess.Popen:
    return subprocess.Popen(probes.command("bare", str(epochs)), stdout=subprocess.PIPE,
                            text=True, cwd=ROOT)


def bare_of(proc: subprocess.Popen) -> float:
    return float(proc.communicate()[0].strip().splitlines()[-1])


def shared_cpu(row, quick: bool) -> None:
    """Rows 6: what a shared CPU costs an epoch, smtui against the bare loop, side by side."""
    epochs = 5 if quick else 15
    alone = epoch_of(*headless_run(epochs))
    (a, a_out), (b, b_out) = headless_run(epochs), headless_run(epochs)
    pair = (epoch_of(a, a_out), epoch_of(b, b_out))
    (a, a_out), (b, b_out) = headless_run(epochs, "--threads", str(os.cpu_count())), \
        headless_run(epochs, "--threads", str(os.cpu_count()))
    pair_fixed = (epoch_of(a, a_out), epoch_of(b, b_out))
    burners = [burner(), burner()]
    try:
        loaded = epoch_of(*headless_run(epochs))
        bare_loaded = bare_of(bare_run(epochs))
    finally:
        for p in burners:
            p.kill()
    bare_alone = bare_of(bare_run(epochs))
    c, c_out = headless_run(epochs * 3)
    bare_beside = bare_of(bare_run(epochs))
    c.kill()
    row("epoch alone (smtui, new process)", alone, "s")
    row("epoch beside a second smtui run", max(pair), "s", "<= 2.5x alone",
        f"{max(pair) / alone:.2f}x alone; the runs: {pair[0]:.3f} s, {pair[1]:.3f} s")
    together = 1 / pair[0] + 1 / pair[1]
    row("two runs together / one alone, images/s", together * alone, "ratio", ">= 1")
    row("epoch beside a second run, --threads fixed", max(pair_fixed), "s", "",
        f"{max(pair_fixed) / alone:.1f}x alone: no governor")
    row("epoch beside two CPU-bound processes", loaded, "s", "",
        f"{loaded / alone:.2f}x alone (fair share: 1.5x)")
    row("bare loop epoch alone", bare_alone, "s")
    row("bare loop beside an smtui run", bare_beside, "s", "", f"{bare_beside / bare_alone:.1f}x")
    row("bare loop beside two CPU-bound processes", bare_loaded, "s", "",
        f"{bare_loaded / bare_alone:.1f}x")
    # The TUI beside a second run, against headless beside the same second run.
    tui_config = TrainConfig(device="cpu", epochs=3 if quick else 10)
    ratios = []
    for _ in range(1 if quick else 3):
        other, _ = headless_run(200)
        try:
            time.sleep(2.0)                      # the other run is training
            headless_ips = run_throughput(tui_config, ui=False)[0]
            tui_ips = run_throughput(tui_config, ui=True)[0]
        finally:
            other.kill()
        ratios.append(tui_ips / headless_ips)
    row("TUI / headless throughput, beside a second run", statistics.median(ratios), "ratio",
        ">= 0.85", "same ratio as idle is the aim")


# ------------------------------------------------------------------------------ report

def epoch_probe(quick: bool = False) -> dict[str, float]:
    """Median epoch seconds of smtui's default path, the bare loop and the book's code, in this
    process. The two fast loops alternate (the machine's speed drifts from one second to the
    next); the first round only warms up (allocator, caches, clocks) and is not counted."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    data = data_mod.load_fashion_mnist(dataset="full")
    # The thread count the floor loop runs with, fixed: the governor (--threads auto) may choose
    # one thread on a noisy machine, and the rows compare the loops, not the thread choice.
    base = TrainConfig(device=str(device), epochs=2 if quick else 4,
                       threads=str(torch.get_num_threads()))
    ours_runs, bare_runs, floor_runs, autograd_runs = [], [], [], []
    for round_ in range(2 if quick else 4):
        ours = steady(smtui_epochs(data, base))
        bare = steady(bare_epochs(data, 2 if quick else 4, device))
        floor = steady(floor_epochs(data, 2 if quick else 4, device))
        autograd = steady(smtui_epochs(data, base.replace(gradient="autograd")))
        if round_:
            ours_runs.append(ours)
            bare_runs.append(bare)
            floor_runs.append(floor)
            autograd_runs.append(autograd)
    return {"ours": statistics.median(ours_runs), "bare": statistics.median(bare_runs),
            "floor": statistics.median(floor_runs), "autograd": statistics.median(autograd_runs),
            "book": steady(book_epochs(data, 1 if quick else 2, device)),
            "dropin": steady(book_epochs(data, 2 if quick else 3, device, dropin=True))}


SWEEP_LRS = [0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.3, 0.5]


def sweep_against_single(data, config: TrainConfig, repeat: int) -> tuple[float, float]:
    """(median of sweep time / one run's time, median sweep time): 8 learning rates in one pass
    against the single run of the first, both writing their run directories, alternated."""
    from tui_trainer.loop.sweep import fit_sweep, prepare_sweep

    ratios, sweeps_s = [], []
    with tempfile.TemporaryDirectory() as out:
        config = config.replace(out=out, lr=SWEEP_LRS[0])
        for _ in range(repeat):
            start = time.perf_counter()
            fit(prepare(config, data=data), lambda e: None)
            one = time.perf_counter() - start
            start = time.perf_counter()
            fit_sweep(prepare_sweep(config, SWEEP_LRS, data=data), lambda e: None)
            sweeps_s.append(time.perf_counter() - start)
            ratios.append(sweeps_s[-1] / one)
    return statistics.median(ratios), statistics.median(sweeps_s)


def sweeps(row, data, device: torch.device, quick: bool) -> None:
    """`smtui sweep`: 8 learning rates in one pass against one run (issue target: <= 2x)."""
    book = TrainConfig(device=str(device), epochs=2 if quick else 10)
    ratio, seconds = sweep_against_single(data, book, 1 if quick else 3)
    row("sweep of 8 lrs / one run, book's model", ratio, "ratio", "<= 2",
        f"{book.epochs} epochs: {seconds:.1f} s for the 8")
    mlp = TrainConfig(device=str(device), epochs=2).replace(
        **{**PRESETS["mlp"], "epochs": 2})
    ratio, seconds = sweep_against_single(data, mlp, 1 if quick else 2)
    row("sweep of 8 lrs / one run, mlp", ratio, "ratio", "",
        f"2 epochs: {seconds:.1f} s for the 8; the work itself is 8x")


def run(quick: bool) -> dict:
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    data = data_mod.load_fashion_mnist(dataset="full")
    results: dict = {"machine": machine(), "device": str(device), "rows": []}
    rows = results["rows"]

    def row(name: str, value: float, unit: str, target: str = "", note: str = "") -> None:
        rows.append({"measure": name, "value": value, "unit": unit, "target": target,
                     "note": note})
        print(f"  {name:<46} {value:>10.3f} {unit:<8} {target:<14} {note}", flush=True)

    print(f"smtui benchmarks on {results['machine']['cpu']} ({device})", flush=True)
    # The epoch loops run in three fresh processes (here, once, with --quick); each row is the
    # median over them, each ratio the median of the ratios within a process. This machine's
    # speed drifts by a third from one minute to the next; a ratio of two loops measured side by
    # side in one process holds, a single process's absolute times do not.
    epoch_runs = [epoch_probe(quick)] if quick else \
        [json.loads(subprocess.run([sys.executable, "-m", "benchmarks", "--epoch-probe"],
                                   capture_output=True, text=True, check=True,
                                   cwd=ROOT).stdout.splitlines()[-1]) for _ in range(3)]
    med = lambda key: statistics.median(p[key] for p in epoch_runs)          # noqa: E731
    ratio = lambda a, b: statistics.median(p[a] / p[b] for p in epoch_runs)  # noqa: E731
    row("epoch, smtui default path", med("ours"), "s", "", "threads fixed as the loops'")
    row("epoch, bare inline loop", med("bare"), "s")
    row("epoch, book's code as written", med("book"), "s")
    row("speed-up over the book's code", ratio("book", "ours"), "x", ">= 30")
    row("smtui epoch / bare loop epoch", ratio("ours", "bare"), "ratio", "<= 1 (aim 0.6)")
    row("epoch, reference floor loop", med("floor"), "s", "", "softmax - one-hot by hand")
    row("smtui epoch / floor loop epoch", ratio("ours", "floor"), "ratio", "<= 1.2")
    row("smtui --gradient autograd / floor loop", ratio("autograd", "floor"), "ratio", "",
        "the book's backward()")
    row("epoch, the book's loop on d2l drop-in batches", med("dropin"), "s", "",
        "a learner's own loop, import line changed")
    row("book's loader / drop-in loader, same loop", ratio("book", "dropin"), "x", ">= 10")

    # Both in fresh processes, alternated: a process's earlier tensor work changes its threads.
    tui_config = TrainConfig(device=str(device), epochs=3 if quick else 10)
    headless, tui, redraws, terminal = [], [], [], []
    for _ in range(1 if quick else 5):
        headless.append(run_throughput(tui_config, ui=False)[0])
        ips, hz = run_throughput(tui_config, ui=True)
        tui.append(ips)
        redraws.append(hz)
        terminal.append(tmux_throughput(tui_config))
    headless_ips, tui_ips = statistics.median(headless), statistics.median(tui)
    redraw_hz = statistics.median(redraws)
    row("images/s headless", headless_ips, "img/s")
    row("images/s in the TUI", tui_ips, "img/s", "", "app in Textual's test harness")
    row("TUI / headless throughput", tui_ips / headless_ips, "ratio", ">= 0.85")
    row("curves redraws while training", redraw_hz, "per s", ">= 2")
    if None not in terminal:
        row("TUI in tmux / headless throughput", statistics.median(terminal) / headless_ips,
            "ratio", ">= 0.85", "a real terminal: 120x40, curves shown")

    # A learner's own net through d2l.train_ch3: live in the app against lines in a pipe.
    script_epochs = "3" if quick else "8"
    lines, live = [], []
    for _ in range(1 if quick else 3):
        for mode, into in (("lines", lines), ("live", live)):
            out = subprocess.run(probes.command("script", mode, script_epochs),
                                 capture_output=True, text=True, check=True, cwd=ROOT).stdout
            into.append(float(out.strip().splitlines()[-1]))
    row("train_ch3 live / in a pipe, your own net", statistics.median(live) /
        statistics.median(lines), "ratio", ">= 0.85", "the book's scratch code, app in "
        "Textual's test harness")

    row("smtui --help", wall(SMTUI + ["--help"]), "s", "< 0.5")
    row("TUI first paint (Ready event)", time_to_print("first-paint"), "s", "< 1.5")
    quit_rows(row)
    row("headless: first trained batch", time_to_print("first-batch"), "s")
    with tempfile.TemporaryDirectory() as out:
        row("peak RSS, 10-epoch headless run",
            peak_rss_mb(SMTUI + ["--no-ui", "--out", out, "--device", str(device)]), "MB",
            "< 1200")
        # What the run's process used of the CPU each epoch (metrics.jsonl's cpu_percent): a
        # GPU run needs one core at most.
        epochs = [json.loads(line) for line in
                  next(Path(out).iterdir()).joinpath("metrics.jsonl").read_text().splitlines()]
        row("CPU use of a run's epoch, % of one core",
            statistics.median(e["cpu_percent"] for e in epochs[1:] or epochs), "%",
            "<= 120" if device.type == "cuda" else "", "median of its epochs, the first apart")

    if device.type == "cpu":
        shared_cpu(row, quick)
    sweeps(row, data, device, quick)

    for name, target in (("book", ">= 0.83"), ("linear-tuned", ">= 0.85"), ("mlp", ">= 0.88")):
        config = TrainConfig(device=str(device)).replace(**PRESETS[name])
        if quick:
            config = config.replace(epochs=2)
        start = time.perf_counter()
        session = prepare(config, data=data, create_run=False)
        fit(session, lambda e: None)
        acc = session.history[-1]["test_acc"]
        row(f"test acc, preset {name} ({config.model})", acc, "", target,
            f"{config.epochs} epochs in {time.perf_counter() - start:.1f} s")
    return results


def table(results: dict) -> str:
    """The results as a Markdown table."""
    m = results["machine"]
    lines = [f"Measured {m['date']} on {m['cpu']} ({m['cores']} cores, torch {m['torch']}, "
             f"device {results['device']}{', ' + m['gpu'] if m['gpu'] else ''}).", "",
             "| measure | value | target | note |", "|---|---|---|---|"]
    for r in results["rows"]:
        value = f"{r['value']:.3f} {r['unit']}".strip() if r["unit"] != "img/s" else \
            f"{r['value']:,.0f} img/s"
        lines.append(f"| {r['measure']} | {value} | {r['target']} | {r['note']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer epochs (a smoke test)")
    parser.add_argument("--readme", action="store_true", help="rewrite docs/benchmarks.md's table")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--epoch-probe", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--quit", action="store_true",
                        help="only the TUI's first frame and exit after q, idle and training")
    args = parser.parse_args()
    if args.quit:
        def say(measure: str, value: float, unit: str, target: str = "", note: str = "") -> None:
            print(f"{measure}: {value:.3f} {unit} (target {target}; {note})")
        quit_rows(say)
        return
    if args.epoch_probe:   # one process's epoch times, as JSON on the last line
        print(json.dumps(epoch_probe()))
        return
    results = run(args.quick)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"latest-{results['device'].split(':')[0]}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nsaved {path}\n\n{table(results)}")
    if args.readme and not args.quick:
        readme = ROOT / "docs" / "benchmarks.md"
        text = readme.read_text()
        start, end = "<!-- bench:start -->", "<!-- bench:end -->"
        if start in text and end in text:
            head, rest = text.split(start, 1)
            _, tail = rest.split(end, 1)
            readme.write_text(f"{head}{start}\n{table(results)}\n{end}{tail}")
            print(f"{readme.relative_to(ROOT)} updated")


if __name__ == "__main__":
    main()
