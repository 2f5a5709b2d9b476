"""The `smtui` command: the TUI by default, `--no-ui` for headless training.

Options are generated from `TrainConfig`'s fields, so the CLI, the TUI form and the saved config
share one definition. Values arrive as text and go through `config.parse_field` and
`TrainConfig.validate`, so every bad value ends in one line naming the option, never a traceback.
Nothing here imports torch: `smtui --help` stays instant.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys

import click

from .core.config import PRESETS, TrainConfig, parse_field, preflight
from .core.errors import SmtuiError, out_of_memory


def _option_name(field_name: str) -> str:
    return "--" + field_name.replace("_", "-")


# ------------------------------------------------------------------ shell completion
# `eval "$(_SMTUI_COMPLETE=bash_source smtui)"` (zsh_source, fish_source): click asks these for
# the words that fit what is typed. They import nothing heavy: a TAB must answer at once.
FOLDER_FIELDS = ("data_dir", "out", "tensorboard")   # completed as folders


def _complete_field(name: str):
    """The completer of a TrainConfig option: its choices; a model file besides the models;
    folders for a folder option."""
    from click.shell_completion import CompletionItem

    field = next(f for f in dataclasses.fields(TrainConfig) if f.name == name)
    choices = field.metadata.get("choices") or ()

    def complete(ctx, param, incomplete: str) -> list:
        items = [CompletionItem(c) for c in choices if c.startswith(incomplete)]
        if name == "model":
            items.append(CompletionItem(incomplete, type="file"))   # FILE.py[:NAME]
        elif name in FOLDER_FIELDS:
            items.append(CompletionItem(incomplete, type="dir"))
        return items
    return complete


def _complete_runs(ctx, param, incomplete: str) -> list:
    """Run directories and folders of them that start with what is typed, and, with nothing
    typed but a name, those inside the --out folder (`runs`): `smtui view runs/2026<TAB>`."""
    from click.shell_completion import CompletionItem

    folder, _, start = incomplete.rpartition(os.sep)
    where = os.path.expanduser(folder or os.curdir)
    try:
        entries = sorted(os.scandir(where), key=lambda e: e.name)
    except OSError:
        return []
    items = []
    for entry in entries:
        if entry.name.startswith(start) and not entry.name.startswith(".") and \
                entry.is_dir():
            path = f"{folder}{os.sep}{entry.name}" if folder else entry.name
            is_run = os.path.isfile(os.path.join(entry.path, "config.json"))
            items.append(CompletionItem(path, help="a run" if is_run else None))
    return items


def _config_options(func=None, *, skip: tuple[str, ...] = (), hidden: tuple[str, ...] = (),
                    helps: dict[str, str] | None = None):
    """Add one click option per TrainConfig field (as text, parsed by `parse_field`), but those
    in `skip`, which the command declares itself. Those in `hidden` are taken but not listed
    in --help (a command that refuses them says why, in words); `helps` replaces a help text."""
    if func is None:
        return lambda f: _config_options(f, skip=skip, hidden=hidden, helps=helps)
    for f in reversed(dataclasses.fields(TrainConfig)):
        if f.name in skip:
            continue
        choices = f.metadata.get("choices")
        help_text = (helps or {}).get(f.name, f.metadata["help"])
        if choices:
            help_text += f" [{'|'.join(choices)}]"
        default = "none" if f.default is None else f.default
        func = click.option(_option_name(f.name), f.name, default=None, metavar="VALUE",
                            hidden=f.name in hidden, shell_complete=_complete_field(f.name),
                            help=f"{help_text} (default: {default})")(func)
    return func


def build_config(values: dict[str, str | None], preset: str | None = None,
                 base: TrainConfig | None = None, recorded_in: str | None = None) -> TrainConfig:
    """A validated TrainConfig from option texts (None = not given), over a preset or a base.
    `recorded_in`: the run whose checkpoint gave `base`; a value of its that no longer holds
    (a data folder not on this machine) is said to be the run's, not the user's."""
    config = base or TrainConfig()
    if preset:
        if preset not in PRESETS:
            raise SmtuiError(f"--preset must be one of {', '.join(PRESETS)} (got {preset!r})",
                             exit_code=2)
        config = config.replace(**PRESETS[preset])
    changes = {}
    for name, text in values.items():
        if text is None:
            continue
        try:
            changes[name] = parse_field(name, text)
        except ValueError as exc:
            raise SmtuiError(f"{_option_name(name)}: {exc}", exit_code=2) from None
    config = config.replace(**changes)
    errors = config.validate() or preflight(config)
    if errors:
        name, reason = next(iter(errors.items()))
        if recorded_in and name not in changes and not preset:
            raise SmtuiError(f"{_option_name(name)} {reason}: the value the run in "
                             f"{recorded_in} recorded; give {_option_name(name)} to use "
                             "another", exit_code=2)
        raise SmtuiError(f"{_option_name(name)} {reason}", exit_code=2)
    return config


# click's help text: kept under python -OO, which drops docstrings
CLI_HELP = """\
Train softmax regression on Fashion-MNIST (d2l chapter 3), live in the terminal.

With no command, opens the TUI; with --no-ui, trains headless and writes the same run
directory (config.json, metrics.jsonl/.csv, checkpoint.pt). Commands: view (watch a run
another process is writing), compare (overlay runs), runs (list them), sweep (several
learning rates in one pass), numerics (the overflow lab).

Settings: $XDG_CONFIG_HOME/smtui/settings.json (~/.config/smtui/settings.json), e.g.
{"defaults": {"out": "~/experiments", "epochs": 20}}: option values used where the command
line gives none; the TUI's theme is remembered there. Runs go to --out (runs); the data cache
to $SMTUI_CACHE_DIR (~/.cache/smtui).
"""


@click.group(help=CLI_HELP, invoke_without_command=True,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--no-ui", is_flag=True, help="Train in the terminal without the TUI.")
@click.option("--preset", default=None, metavar="NAME",
              help=f"Start from a named recipe [{'|'.join(PRESETS)}] (default: book).")
@click.option("--resume", default=None, metavar="RUN_DIR", shell_complete=_complete_runs,
              help="Continue the run saved in RUN_DIR (or a checkpoint.pt).")
@click.option("--theme", default=None, metavar="NAME",
              help="The TUI's colour theme, e.g. textual-light (remembered; the command palette, "
                   "ctrl+p, lists them all).")
@click.option("--check", is_flag=True,
              help="Apply the book's quality gate at the end (train loss < 0.5, accuracies > "
                   "0.7); exit 3 when it fails.")
@_config_options
@click.version_option(package_name="smtui", prog_name="smtui")
@click.pass_context
def cli(ctx: click.Context, no_ui: bool, preset: str | None, resume: str | None,
        theme: str | None, check: bool, **values: str | None) -> int:
    _configure_threads(values.get("threads"))
    if ctx.invoked_subcommand is not None:
        ctx.ensure_object(dict)["out"] = values.get("out")   # `smtui --out DIR runs`
        return 0
    settings = _settings()
    if resume:
        from .store.checkpoint import load_checkpoint
        base = TrainConfig.from_dict(load_checkpoint(resume).get("config", {}))
    else:
        base = user_defaults(settings)
    config = build_config(values, preset, base, recorded_in=resume)
    if no_ui:
        from .headless.single import run_headless
        return run_headless(config, resume=resume, check=check)
    _need_terminal()
    from .ui.launch import run_tui
    return run_tui(config, resume=resume, theme=theme or settings.theme,
                   theme_given=theme is not None)


def _settings():
    """The user's settings file, its problems said once, on stderr, one line each."""
    from .store.settings import load
    settings = load()
    for warning in settings.warnings:
        _say(f"smtui: warning: {warning}")
    return settings


def user_defaults(settings) -> TrainConfig:
    """The book's defaults with the settings file's own over them; a value that is not valid is
    a warning and is left out."""
    from .store.settings import settings_path
    config = TrainConfig()
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    for name, value in settings.defaults.items():
        key = str(name).replace("-", "_").lstrip("_")
        try:
            if key not in names:
                raise ValueError("not an option of smtui")
            candidate = config.replace(**{key: parse_field(key, str(value))})
            problem = candidate.validate().get(key)
            if problem:
                raise ValueError(problem)
            config = candidate
        except ValueError as exc:
            _say(f"smtui: warning: settings file {settings_path()}: default {name}: {exc}: "
                 "ignored")
    return config


def _configure_threads(text: str | None) -> None:
    """Before anything loads torch (a checkpoint to resume, the view's evaluations): OpenMP reads
    its thread count once, then. A bad --threads is reported later, with the other options."""
    from .core.config import MAX_THREADS
    from .loop.cpu_threads import configure
    threads = (text or "auto").strip()
    configure(threads if threads.isdigit() and 0 < int(threads) <= MAX_THREADS else "auto")


def _need_terminal() -> None:
    """The TUI reads its keys from stdin and draws on stdout: both must be the terminal (with
    `< /dev/null` it drew a screen no key could reach and spun a core until killed)."""
    streams = [name for name, stream in (("stdin", sys.stdin), ("stdout", sys.stdout))
               if not _isatty(stream)]
    if streams:
        which = f"{streams[0]} is not one" if len(streams) == 1 else "neither stdin nor " \
            "stdout is one"
        raise SmtuiError(f"the TUI needs a terminal, and {which}; use --no-ui for headless "
                         "training", exit_code=2)


def _isatty(stream) -> bool:
    try:
        return bool(stream) and stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def _out_folder(ctx: click.Context, out: str | None) -> str:
    """The --out folder a command lists or watches: its own --out, else the one given before
    the command's name (`smtui --out DIR runs`), else the settings file's, else `runs`."""
    return out or (ctx.obj or {}).get("out") or user_defaults(_settings()).out


OUT_OPTION = click.option("--out", "out", default=None, metavar="DIR",
                          shell_complete=_complete_field("out"),
                          help="the --out folder of runs (also before the command's name)")


# click's help text: kept under python -OO, which drops docstrings
VIEW_HELP = """\
Watch RUN_DIR live, read-only: a run that `smtui --no-ui` is writing (or has written);
an --out folder, its newest run; without RUN_DIR, the newest run in --out (`runs` unless
the settings file says another), as a tracker opens the latest run.

Curves, predictions from its latest checkpoint, and its status. The run may not have started
yet, may be going on, finished, stopped or crashed.
"""


@cli.command(help=VIEW_HELP)
@click.argument("run_dir", required=False, shell_complete=_complete_runs)
@OUT_OPTION
@click.pass_context
def view(ctx: click.Context, run_dir: str | None, out: str | None) -> int:
    from pathlib import Path
    if run_dir is None:
        run_dir = _out_folder(ctx, out)
        if not Path(run_dir).expanduser().is_dir():
            raise SmtuiError(f"no runs yet in {run_dir}: smtui --no-ui trains one, or name a "
                             "run directory: smtui view RUN_DIR")
    if Path(run_dir).expanduser().is_file():
        raise SmtuiError(f"{run_dir} is a file, not a run directory (a folder with config.json, "
                         "or an --out folder of runs)")
    _need_terminal()
    from .ui.launch import run_tui
    return run_tui(None, watch=run_dir)


FORMATS = click.Choice(["table", "csv", "json"])
COMPARE_COLUMNS = ["label", "state", "epochs_done", "final_test_acc", "best_test_acc",
                   "final_train_loss"]


# click's help text: kept under python -OO, which drops docstrings
COMPARE_HELP = """\
Compare runs: run directories, or folders of them (an --out folder).

In a terminal, the TUI overlays their curves, with their configs side by side. With
--no-ui, --format or without a terminal (a pipe, a script), prints one row per run: its
name, the options that differ, how far it got, its final and best test accuracy and its
final train loss.
"""


@cli.command(help=COMPARE_HELP)
@click.argument("run_dirs", nargs=-1, required=True, shell_complete=_complete_runs)
@click.option("--no-ui", is_flag=True, help="Print the comparison instead of opening the TUI.")
@click.option("--format", "fmt", type=FORMATS, default=None,
              help="Print the comparison as a table, CSV or JSON (implies --no-ui).")
def compare(run_dirs: tuple[str, ...], no_ui: bool, fmt: str | None) -> int:
    from .store.catalog import find_runs
    skipped: list[str] = []
    runs = find_runs(list(run_dirs), skipped)
    for problem in skipped:
        _say(f"smtui: warning: {problem}")
    if fmt is None and not no_ui and _isatty(sys.stdout) and _isatty(sys.stdin):
        from .ui.launch import run_tui
        return run_tui(None, compare=[str(r) for r in runs])
    from .store.catalog import RunSummary, comparison, differing_options, render
    summaries = [RunSummary.from_dir(r) for r in runs]
    rows = comparison(summaries)
    options = differing_options([s.config for s in summaries])
    _print(render(rows, fmt or "table", None if fmt == "json" else
                  ["run"] + COMPARE_COLUMNS[:1] + options + COMPARE_COLUMNS[1:]))
    return 0


# click's help text: kept under python -OO, which drops docstrings
RUNS_HELP = """\
List the runs in FOLDER (default: --out, `runs` unless the settings file says another):
name, state (a run nobody trains any more that did not end is `crashed`), model, key
options, epochs done of planned, best test accuracy and age; the least recently written
first, the latest last."""


@cli.command(help=RUNS_HELP)
@click.argument("folder", required=False, shell_complete=_complete_runs)
@click.option("--format", "fmt", type=FORMATS, default=None,
              help="Print the runs as a table (the default), CSV or JSON, as compare does.")
@click.option("--json", "as_json", is_flag=True, hidden=True,
              help="The same as --format json (an older spelling, kept).")
@click.option("--sort", "sort", default=None, metavar="KEY",
              help="order by KEY (best, acc, lr, batch, epochs_done, state, any option); "
                   "-KEY for the largest first, e.g. --sort=-best")
@OUT_OPTION
@click.pass_context
def runs(ctx: click.Context, folder: str | None, fmt: str | None, as_json: bool,
         sort: str | None, out: str | None) -> int:
    from pathlib import Path

    fmt = "json" if as_json else fmt or "table"
    as_json = fmt == "json"

    from .store.catalog import (RunSummary, find_runs, listing, render, sort_key, sorted_runs,
                                written_order)
    try:
        order = (sort_key(sort.removeprefix("-")), sort.startswith("-")) if sort else None
    except ValueError as exc:
        raise SmtuiError(f"--sort: {exc}", exit_code=2) from None
    given = folder is not None or out is not None or bool((ctx.obj or {}).get("out"))
    folder = folder or _out_folder(ctx, out)
    where = Path(folder).expanduser()
    if (not given and not where.exists()) or (where.is_dir() and not any(where.iterdir())):
        _print({"json": "[]\n", "csv": ""}.get(
            fmt, f"no runs yet in {folder} (smtui --no-ui trains one)\n"))
        return 0
    skipped: list[str] = []
    summaries = [RunSummary.from_dir(r) for r in find_runs([folder], skipped)]
    for problem in skipped:
        _say(f"smtui: warning: {problem}")
    summaries.sort(key=lambda s: written_order(s.updated, s.name))
    if order:
        summaries = sorted_runs(summaries, *order)
    rows = listing(summaries)
    if fmt != "table":
        _print(render(rows, fmt))
        return 0
    from .store.catalog import fit_columns
    from .core.config import model_label
    for row in rows:
        row.update(epochs=f"{row['epochs_done']}/{row['epochs'] or '?'}", best=row[
            "best_test_acc"], batch=row["batch_size"], model=model_label(row["model"]))
    columns = ["run", "name", "state", "model", "optimizer", "lr", "batch", "epochs", "best",
               "age"]
    if not any(row["name"] for row in rows):
        columns.remove("name")
    width = shutil.get_terminal_size().columns if sys.stdout.isatty() else None
    _print(render(rows, "table", fit_columns(rows, columns, width, drop=(
        "age", "optimizer", "batch", "lr", "name", "model"))))
    return 0


def _print(text: str) -> None:
    """Write the output of a command whose only job is its output (`runs`, `compare`). Unlike
    training's console, which a vanished terminal must never stop, a write that fails is
    this command failing: one line and exit 1 (a full disk left a file cut at 16 KB, exit 0).
    A reader that has stopped (`| head`) took what it wanted: nothing more is said."""
    from .core.console import encodable, silence
    stream = sys.stdout
    try:
        stream.write(encodable(text, getattr(stream, "encoding", None)))
        stream.flush()
    except BrokenPipeError:
        silence(stream)
    except OSError as exc:
        silence(stream)   # the interpreter's last flush must not fail again, with a traceback
        raise SmtuiError(f"cannot write the output: {exc.strerror or exc}") from None


# click's help text: kept under python -OO, which drops docstrings
EXPORT_HELP = """\
Write runs to TensorBoard: each run's whole history (its epochs' curves, and its settings
beside its last epoch), into DIR/<run name>. RUN_DIRS are run directories or folders of them
(a sweep's, an --out folder). Epochs already there are not written again: export as often as
you like, and a run resumed with --tensorboard goes on in the same folder.
"""


@cli.command(help=EXPORT_HELP)
@click.argument("run_dirs", nargs=-1, required=True, shell_complete=_complete_runs)
@click.option("--tensorboard", "tensorboard", required=True, metavar="DIR",
              shell_complete=_complete_field("tensorboard"),
              help="the folder of the event files (then: tensorboard --logdir DIR)")
def export(run_dirs: tuple[str, ...], tensorboard: str) -> int:
    from .store.catalog import find_runs
    from .store.tensorboard import export_run
    skipped: list[str] = []
    runs = find_runs(list(run_dirs), skipped)
    for problem in skipped:
        _say(f"smtui: warning: {problem}")
    for run in runs:
        added, folder = export_run(run, tensorboard)
        _print(f"{run}: {added} epoch{'s' if added != 1 else ''} added to {folder}\n")
    _print(f"open them with: tensorboard --logdir {tensorboard}\n")
    return 0


# click's help text: kept under python -OO, which drops docstrings
SWEEP_HELP = """\
Train one model per learning rate on the same batches, in one pass.

The K models' weights are stacked so each batch costs one product; each model starts from
the seed's weights, gets its own run directory (resumable alone) and stops alone if it
diverges. Other options as for a single run; e.g. smtui sweep --lr 0.01,0.1,1 --epochs 5
"""


@cli.command(help=SWEEP_HELP)
@click.option("--lr", "lrs", required=True, metavar="LIST",
              help="the learning rates, comma-separated (2 to 64), e.g. 0.01,0.03,0.1,0.3,1")
@click.option("--preset", default=None, metavar="NAME",
              help=f"Start from a named recipe [{'|'.join(PRESETS)}] (default: book).")
@_config_options(skip=("lr",), helps={
    "model": "scratch: the book's softmax from scratch; concise: nn.Linear; mlp: 256 ReLU "
             "units (a model file of your own trains one rate per run: smtui --no-ui)",
    "name": "a name for the sweep's runs, each named NAME-lrRATE"})
def sweep(lrs: str, preset: str | None, **values: str | None) -> int:
    from .core.config import parse_lrs, sweep_refusal
    _configure_threads(values.get("threads"))
    try:
        rates = parse_lrs(lrs)
    except ValueError as exc:
        raise SmtuiError(f"--lr: {exc}", exit_code=2) from None
    config = build_config(values, preset, user_defaults(_settings()))
    refusal = sweep_refusal(config)
    if refusal:   # before torch loads
        raise SmtuiError(refusal, exit_code=2)
    from .headless.sweep import run_sweep_headless
    return run_sweep_headless(config, rates)


# click's help text: kept under python -OO, which drops docstrings
NUMERICS_HELP = """\
The notes' exercises 1-3: naive softmax and cross-entropy against the LogSumExp form.
With --classes, exercise 5: what grows with the number of classes, and sampled softmax."""


@cli.command(help=NUMERICS_HELP)
@click.option("--logits", default="1000,0,-1000", show_default=True,
              help="comma-separated logits of one example")
@click.option("--label", default=0, show_default=True, type=int, help="the true class")
@click.option("--classes", default=None, metavar="LIST",
              help="exercise 5 instead: numbers of classes to measure, e.g. "
                   "10,100,1000,10000,100000 (up to 1,000,000)")
@click.option("--samples", default=None, type=int, metavar="S",
              help="negatives of sampled softmax in the --classes lab [default: 1024]")
def numerics(logits: str, label: int, classes: str | None, samples: int | None) -> int:
    if classes is not None:
        return _classes_lab(classes, samples)
    if samples is not None:
        raise SmtuiError("--samples goes with --classes", exit_code=2)
    from .labs.numerics import compare as compare_forms, parse_logits, report
    try:
        values = parse_logits(logits)
        click.echo(report(compare_forms(values, label)))
    except ValueError as exc:
        raise SmtuiError(f"--logits/--label: {exc}", exit_code=2) from None
    return 0


def _classes_lab(text: str, samples: int | None) -> int:
    from .labs.many_classes import MAX_SAMPLES, SAMPLES, measure, parse_classes, report
    try:
        values = parse_classes(text)
    except ValueError as exc:
        raise SmtuiError(f"--classes: {exc}", exit_code=2) from None
    samples = SAMPLES if samples is None else samples
    if not 1 <= samples <= MAX_SAMPLES:
        raise SmtuiError(f"--samples must be from 1 to {MAX_SAMPLES:,} (got {samples})",
                         exit_code=2)
    _say(f"smtui: measuring {len(values)} layer size(s); about a second a step at 100,000 "
         "classes on a small CPU")
    rows = []
    for v in values:
        try:
            rows.append(measure(v, samples))
        except (RuntimeError, MemoryError) as exc:   # the allocator's "can't allocate memory"
            raise SmtuiError(f"--classes {v:,}: could not measure: {str(exc).splitlines()[0]}") \
                from None
        _say(f"smtui: {v:,} classes measured")
    click.echo(report(rows, samples))
    return 0


def _standard_streams() -> None:
    """Give closed standard descriptors a /dev/null, so that nothing smtui opens (a checkpoint,
    the log) lands on descriptor 1 or 2 and receives stray output, and printing never fails."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
    for name, mode in (("stdin", "r"), ("stdout", "w"), ("stderr", "w")):
        if getattr(sys, name) is None:   # Python found the descriptor closed at start-up
            setattr(sys, name, open(os.devnull, mode))
    from .core.console import reconfigure_errors
    reconfigure_errors(sys.stdout, sys.stderr)


def _say(text: str) -> None:
    """Print an error line on stderr, if stderr can still be written; what it quotes from files
    (a checkpoint's config, a run's name) shown `inert`."""
    from .core.console import inert
    try:
        click.echo(inert(text), err=True)
    except (OSError, ValueError):
        from .core.console import silence
        silence(sys.stderr)


def _finish_output() -> None:
    """Flush stdout and stderr now, so that a reader gone away (`| head -1`, a dropped SSH
    connection) cannot make the interpreter's last flush print a traceback or change the code."""
    from .core.console import silence
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            silence(stream)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI and turn every failure into one line and an exit code."""
    _standard_streams()
    try:
        os.getcwd()
    except OSError:   # before torch, whose libraries abort the process on it
        _say("smtui: error: the current folder no longer exists (deleted while this shell "
             "was in it); cd to a folder that does")
        sys.exit(1)
    try:
        rv = cli.main(args=argv, prog_name="smtui", standalone_mode=False)
    except click.exceptions.Abort:
        rv = 130
    except click.ClickException as exc:
        _say(f"smtui: error: {exc.format_message()} (see smtui --help)")
        rv = exc.exit_code
    except SmtuiError as exc:
        _say(f"smtui: error: {exc}")
        rv = exc.exit_code
    except KeyboardInterrupt:
        _say("smtui: interrupted")
        rv = 130
    except OSError as exc:
        # A path the user gave or the system refused (too long a name, a folder where a file
        # should be, no permission...): the user's to fix, so an error, not an internal error.
        if os.environ.get("SMTUI_DEBUG"):
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        _say(f"smtui: error: {where}{exc.strerror or exc}")
        rv = 1
    except Exception as exc:  # the last line of defence: one line, not a traceback
        if os.environ.get("SMTUI_DEBUG"):
            raise
        memory = out_of_memory(exc)
        if memory is not None:
            _say(f"smtui: error: {memory}")
            rv = 1
        else:
            _say(f"smtui: internal error: {type(exc).__name__}: {exc} "
                 "(set SMTUI_DEBUG=1 for details)")
            rv = 70
    _finish_output()
    _leave_threads_behind(rv if isinstance(rv, int) else 0)
    sys.exit(rv if isinstance(rv, int) else 0)


def run() -> None:
    """The `smtui` command as a process: `main`, then, once everything is written, the exit.

    With torch loaded, the interpreter's own teardown (its modules and libtorch's destructors)
    takes 0.4 s on a 2-core machine, and a thread still importing torch (the app's, when q comes
    right after the first paint) would be waited for: a second after q before the shell prompt
    came back. Every file of a run is written and closed before `main` returns, so this exit
    flushes the output, runs the registered exit functions, and ends the process at once."""
    try:
        main()
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    if "torch" not in sys.modules or not (code is None or isinstance(code, int)):
        sys.exit(code)  # type: ignore[arg-type]   # what main raised, as it was
    from .core.private import run_exit_functions
    run_exit_functions()
    _finish_output()
    os._exit(code or 0)


def _leave_threads_behind(code: int) -> None:
    """A learner's model file may start threads that never end: the run is over, so say so in
    one line and exit with the run's code rather than wait for them forever (a batch job hung
    after "training finished")."""
    import threading
    if not any(name.startswith("smtui_model_") for name in sys.modules):
        return   # no learner's file was loaded: every thread is smtui's own (or its host's)
    left = [t for t in threading.enumerate()
            if t is not threading.main_thread() and not t.daemon and t.is_alive()]
    if not left:
        return
    names = ", ".join(t.name for t in left[:3]) + (", ..." if len(left) > 3 else "")
    _say(f"smtui: {len(left)} thread(s) still running ({names}), started by your code: "
         "exiting without them")
    _finish_output()
    os._exit(code)
