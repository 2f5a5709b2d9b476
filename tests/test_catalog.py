"""Runs you can find and compare: `smtui runs`, `smtui compare` without the TUI, `--name`, and
the names that tell runs apart."""

from __future__ import annotations

import csv
import io
import json

import pytest

from tests.support.runs import run_cli, smtui
from tui_trainer.store.rundir import RunDir
from tui_trainer.store.catalog import (RunSummary, comparison, find_runs, listing,
                                       names_by_difference, newest_run, render)
from tui_trainer.core.config import TrainConfig
from tui_trainer.core.errors import SmtuiError


def write_run(folder, rows: list[tuple[float, float]], state="finished", updated=1000.0, **config):
    """A run directory as smtui writes one: `rows` are (train loss, test acc) per epoch."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(TrainConfig(**config).to_dict()))
    (folder / "metrics.jsonl").write_text("".join(
        json.dumps({"epoch": k + 1, "train_loss": loss, "train_acc": 0.5, "test_acc": acc,
                    "seconds": 1.0, "lr": 0.1}) + "\n" for k, (loss, acc) in enumerate(rows)))
    (folder / "status.json").write_text(json.dumps({"state": state, "updated": updated}))
    return folder


@pytest.fixture
def three_runs(tmp_path):
    out = tmp_path / "runs"
    write_run(out / "20261130-100000-scratch", [(0.8, 0.70), (0.6, 0.78), (0.55, 0.77)],
              epochs=3, batch_size=64, updated=1000.0)
    write_run(out / "20261130-110000-scratch", [(0.7, 0.75), (0.5, 0.81)], epochs=3,
              batch_size=256, state="stopped", updated=4600.0)
    write_run(out / "20261130-120000-wide", [(0.4, 0.85)], epochs=5, batch_size=256,
              model="mlp", name="wide", updated=4690.0)
    return out


def test_find_runs_takes_run_directories_and_folders_of_them(three_runs, tmp_path):
    one = three_runs / "20261130-100000-scratch"
    assert find_runs([str(one)]) == [one]
    assert [p.name for p in find_runs([str(three_runs), str(one)])] == [
        "20261130-100000-scratch", "20261130-110000-scratch", "20261130-120000-wide"]  # once each
    (tmp_path / "link").symlink_to(three_runs)
    spellings = [str(one), f"{one}/", str(tmp_path / "link" / one.name),
                 f"{three_runs}/../runs/{one.name}"]
    assert find_runs(spellings) == [one]                 # one run, however it is named
    assert len({RunSummary.from_dir(s).key for s in spellings}) == 1
    (tmp_path / "empty").mkdir()
    (tmp_path / "file.txt").write_text("x")
    for path, words in ((tmp_path / "empty", "holds none"), (tmp_path / "file.txt", "is a file"),
                        (tmp_path / "gone", "does not exist"), ("x" * 300, "File name too long")):
        with pytest.raises(SmtuiError, match=words):
            find_runs([str(path)])


def test_comparison_rows_hold_the_differing_options_and_the_final_and_best_metrics(three_runs):
    runs = [RunSummary.from_dir(p) for p in find_runs([str(three_runs)])]
    rows = comparison(runs)
    assert [r["label"] for r in rows] == ["scratch, batch 64", "scratch, batch 256", "wide"]
    assert set(rows[0]) >= {"model", "batch_size", "epochs"} and "lr" not in rows[0]
    assert [(r["epochs_done"], r["final_test_acc"], r["best_test_acc"], r["final_train_loss"])
            for r in rows] == [(3, 0.77, 0.78, 0.55), (2, 0.81, 0.81, 0.5), (1, 0.85, 0.85, 0.4)]
    assert [r["state"] for r in rows] == ["finished", "stopped", "finished"]
    listed = listing(runs, now=4700.0)
    assert [(r["name"], r["age"], r["epochs_done"], r["epochs"]) for r in listed] == [
        (None, "1h", 3, 3), (None, "1m", 2, 3), ("wide", "10s", 1, 5)]


def test_names_say_what_differs_never_none():
    base = TrainConfig().to_dict()
    sweep = [{**base, "name": "sw", "lr": 0.05}, {**base, "name": "sw", "lr": 0.5}]
    assert names_by_difference(sweep, ["a", "b"]) == ["sw, lr 0.05", "sw, lr 0.5"]
    # lr splits these four runs where model alone leaves two alike: it is chosen, and a
    # second field joins it
    runs = [{**base, "model": "mlp", "lr": 0.002}, {**base, "lr": 0.1},
            {**base, "lr": 0.05}, {**base, "lr": 0.5}]
    assert names_by_difference(runs, list("abcd")) == ["mlp, lr 0.002", "scratch, lr 0.1",
                                                       "scratch, lr 0.05", "scratch, lr 0.5"]
    assert names_by_difference([{}, {}], ["a", "b"]) == ["a", "b"]
    assert "None" not in " ".join(names_by_difference([{"lr": None}, {"lr": 0.1}], ["a", "b"]))


def test_render_writes_a_table_csv_and_json_of_the_same_rows():
    rows = [{"run": "a", "lr": 0.1, "acc": None}, {"run": "b\x1b[31m", "lr": 1.0, "acc": 0.5}]
    table = render(rows, "table").splitlines()
    assert table[0].split() == ["run", "lr", "acc"] and table[1].split() == ["a", "0.1", "–"]
    assert "\x1b" not in table[2]                          # a name from a file, shown inert
    assert list(csv.DictReader(io.StringIO(render(rows, "csv"))))[1]["lr"] == "1.0"
    assert json.loads(render(rows, "json")) == rows


def test_compare_prints_without_a_terminal_in_each_format(three_runs, capsys):
    code, out, _ = run_cli(capsys, "compare", str(three_runs), "--format", "json")
    rows = json.loads(out)
    assert code == 0 and [r["best_test_acc"] for r in rows] == [0.78, 0.81, 0.85]
    code, out, _ = run_cli(capsys, "compare", str(three_runs), "--format", "csv")
    assert [r["batch_size"] for r in csv.DictReader(io.StringIO(out))] == ["64", "256", "256"]
    code, out, _ = run_cli(capsys, "compare", str(three_runs))   # stdout is not a terminal
    header, *lines = out.splitlines()
    assert header.split()[:2] == ["run", "label"] and len(lines) == 3
    assert lines[2].split()[:2] == ["20261130-120000-wide", "wide"]


def test_runs_lists_a_folder_as_a_table_and_as_json(three_runs, capsys):
    code, out, _ = run_cli(capsys, "runs", str(three_runs), "--format", "json")
    rows = json.loads(out)
    # one spelling with compare's: --format json|csv (the older --json is kept, the same)
    assert run_cli(capsys, "runs", str(three_runs), "--json")[1] == out
    code_csv, csv_out, _ = run_cli(capsys, "runs", str(three_runs), "--format", "csv")
    assert code_csv == 0 and csv_out.splitlines()[0].startswith("run,") and \
        len(csv_out.splitlines()) == 4
    assert code == 0 and [r["name"] for r in rows] == [None, None, "wide"]   # oldest first
    assert [r["best_test_acc"] for r in rows] == [0.78, 0.81, 0.85]
    code, out, _ = run_cli(capsys, "runs", str(three_runs))
    header, *lines = out.splitlines()
    assert header.split()[:3] == ["run", "name", "state"]
    assert lines[1].split()[1:4] == ["–", "stopped", "scratch"] and " 2/3 " in lines[1]
    code, _, err = run_cli(capsys, "runs", str(three_runs / "nothing"))
    assert code == 1 and err.strip().endswith("does not exist")


@pytest.mark.process
def test_a_named_run_is_named_in_its_folder_and_everywhere(small_data_dir, tmp_path):
    out = tmp_path / "runs"
    r = smtui("--no-ui", "--data-dir", small_data_dir, "--out", out, "--epochs", "1",
              "--batch-size", "16", "--name", "first-try")
    assert r.returncode == 0, r.stderr
    [run] = out.iterdir()
    assert run.name.endswith("-first-try")
    listed = json.loads(smtui("runs", out, "--json").stdout)
    assert listed[0]["name"] == "first-try" and listed[0]["state"] == "finished"
    from tui_trainer.ui.panels.runs import RunRecord
    assert RunRecord.from_dir(run).label == "first-try"
    bad = smtui("--no-ui", "--name", "../elsewhere")
    assert bad.returncode == 2 and bad.stderr.startswith("smtui: error: --name must be")


def test_a_name_is_letters_and_digits_of_any_script():
    """`--name café` was refused by a message that says "letters"."""
    from tui_trainer.core.config import TrainConfig
    for name in ("café", "实验-2", "first-try", "v1.2_b"):
        assert "name" not in TrainConfig(name=name).validate(), name
    for name in ("../x", "a b", "_x", "-x", "x" * 41, "a/b", ""):
        assert "name" in TrainConfig(name=name).validate(), name


@pytest.mark.process
def test_the_settings_file_gives_defaults_and_a_broken_one_is_one_warning(small_data_dir,
                                                                         tmp_path):
    """Defaults a user wants every time (--out, --epochs) come from the settings file, below
    the options typed; a broken file or value is one warning line, and the run goes on."""
    import os

    config_home = tmp_path / "config"
    (config_home / "smtui").mkdir(parents=True)
    settings = config_home / "smtui" / "settings.json"
    env = {**os.environ, "XDG_CONFIG_HOME": str(config_home)}
    settings.write_text(json.dumps({"defaults": {"out": str(tmp_path / "mine"), "epochs": 1,
                                                 "batch-size": 16, "lr": "fast"}}))
    r = smtui("--no-ui", "--data-dir", small_data_dir, "--seed", "3", env=env)
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("smtui: warning:") == 1 and "default lr: not a number" in r.stderr
    [run] = (tmp_path / "mine").iterdir()
    saved = json.loads((run / "config.json").read_text())
    assert (saved["epochs"], saved["batch_size"], saved["seed"], saved["lr"]) == (1, 16, 3, 0.1)
    settings.write_text("{not json")
    r = smtui("--no-ui", "--data-dir", small_data_dir, "--epochs", "1", "--batch-size", "16",
              "--out", tmp_path / "other", env=env)
    assert r.returncode == 0, r.stderr
    warnings = [line for line in r.stderr.splitlines() if "warning" in line]
    assert warnings == [f"smtui: warning: settings file {settings} is not valid JSON "
                        "(Expecting property name enclosed in double quotes: line 1 column 2 "
                        "(char 1)): ignored"]


def test_filters_read_as_a_tracker_search_box():
    from tui_trainer.store.catalog import matching, parse_filter

    runs = [RunSummary("a", {"lr": 0.1, "model": "mlp", "batch_size": 64}, [1], [0.8],
                       "finished"),
            RunSummary("b", {"lr": 0.01, "model": "mlp", "batch_size": 256}, [1], [0.7],
                       "stopped"),
            RunSummary("c", {"lr": 0.5, "model": "scratch"}, [], [], "failed")]
    names = lambda text: [r.name for r in matching(runs, parse_filter(text))]  # noqa: E731
    assert names("lr>0.05 model=mlp") == ["a"]
    assert names("batch>=100") == ["b"] and names("batch!=64") == ["b", "c"]
    assert names("state=finished") == ["a"] and names("acc>0.75") == ["a"]
    assert names("model~scr") == ["c"] and names("") == ["a", "b", "c"]
    with pytest.raises(ValueError, match="cannot read 'lr'"):
        parse_filter("lr 0.1")


def test_a_filter_takes_the_tables_own_columns_and_names_the_keys_it_knows():
    """`run` and `recipe` are the Runs table's column titles and `loss` what a tracker sorts
    by: each filters; a key nobody knows says which keys exist (it gave "0 of 7 runs")."""
    from tui_trainer.store.catalog import matching, parse_filter

    runs = [RunSummary("20261130-b64-mlp", {"model": "mlp", "optimizer": "adam"}, [1],
                       [0.8], "finished", train_loss=[0.4]),
            RunSummary("20261130-b256", {"model": "scratch", "optimizer": "sgd"}, [1], [0.7],
                       "finished", train_loss=[0.6])]
    names = lambda text: [r.name for r in matching(runs, parse_filter(text))]  # noqa: E731
    assert names("run~b64") == ["20261130-b64-mlp"]
    assert names("recipe~mlp") == ["20261130-b64-mlp"] and names("recipe~sgd") == ["20261130-b256"]
    assert names("loss<0.5") == ["20261130-b64-mlp"] and names("test_acc<0.75") == ["20261130-b256"]
    with pytest.raises(ValueError) as info:
        parse_filter("colour=red")
    assert str(info.value).startswith("unknown key 'colour': filter by run, name, recipe, model")


def test_runs_follows_the_settings_out_and_says_when_there_are_none_yet(tmp_path, monkeypatch,
                                                                         capsys):
    """`smtui runs` lists the settings file's --out; before any run, "no runs yet" and exit 0,
    not an error; a folder named that does not exist is still one."""
    config_home = tmp_path / "config"
    (config_home / "smtui").mkdir(parents=True)
    (config_home / "smtui" / "settings.json").write_text(
        json.dumps({"defaults": {"out": str(tmp_path / "my-runs")}}))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config_home))
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, "runs")
    assert (code, out.strip(), err) == (0, f"no runs yet in {tmp_path / 'my-runs'} (smtui "
                                           "--no-ui trains one)", "")
    code, out, _ = run_cli(capsys, "runs", "--json")
    assert (code, json.loads(out)) == (0, [])
    write_run(tmp_path / "my-runs" / "20261130-100000-scratch", [(0.8, 0.7)], epochs=1)
    code, out, _ = run_cli(capsys, "runs", "--json")
    assert code == 0 and [r["run"] for r in json.loads(out)] == ["20261130-100000-scratch"]


def test_a_run_is_running_exactly_while_its_lock_is_held(tmp_path, capsys):
    """The lock is the truth, not the pid in status.json: a run saying running whose lock is
    free is `crashed` though its pid names a live process (a power cut, the pid another
    process's since), and one whose lock is held is `running` though its pid names none here
    (a run in a container, pid 1 in its own PID namespace), in `runs --json`, compare's rows
    and the Runs tab's records alike."""
    import os

    from tui_trainer.ui.panels.runs import RunRecord
    freed = write_run(tmp_path / "runs" / "20261130-100000-scratch", [(0.8, 0.7)], epochs=3)
    (freed / "status.json").write_text(json.dumps({"state": "running", "pid": os.getpid(),
                                                   "updated": 1000.0}))
    RunDir(freed).lock_path.write_text("1")   # its holder gone: the kernel dropped the lock
    held = write_run(tmp_path / "runs" / "20261130-110000-scratch", [(0.8, 0.7)], epochs=3,
                     updated=2000.0)
    (held / "status.json").write_text(json.dumps({"state": "running", "pid": 1,
                                                  "updated": 2000.0}))
    holder = RunDir(held)
    holder.acquire_lock()
    try:
        code, out, _ = run_cli(capsys, "runs", str(tmp_path / "runs"), "--json")
        assert [r["state"] for r in json.loads(out)] == ["crashed", "running"]
        assert RunRecord.from_dir(freed).status == "crashed"
        assert comparison([RunSummary.from_dir(held)])[0]["state"] == "running"
        assert RunDir(held).lock_held() and RunDir(freed).lock_held() is False
    finally:
        holder.release_lock()
    assert RunDir(held).state() == "crashed"   # released, still saying running: a crash


def test_asking_whether_a_run_is_held_never_takes_it_from_its_trainer(tmp_path):
    """A reader holds the lock shared for an instant; a trainer that meets it then waits that
    instant out instead of saying the run is another process's."""
    import threading

    run = RunDir(tmp_path)
    reader = RunDir(tmp_path)
    run.lock_path.write_text("")
    stop = threading.Event()

    def ask() -> None:
        while not stop.is_set():
            reader.lock_held()
    asking = threading.Thread(target=ask)
    asking.start()
    try:
        for _ in range(50):
            run.acquire_lock()
            run.release_lock()
    finally:
        stop.set()
        asking.join()


def test_runs_fits_a_terminal_of_80_columns(three_runs, tmp_path):
    """`smtui runs` printed 112 columns, every row wrapped: on a terminal it leaves out the
    least needed columns until it fits, never the run, its state, epochs or best accuracy."""
    from tui_trainer.store.catalog import fit_columns
    runs = [RunSummary.from_dir(p) for p in find_runs([str(three_runs)])]
    rows = listing(runs)
    for row in rows:
        row.update(epochs=f"{row['epochs_done']}/{row['epochs']}", best=row["best_test_acc"],
                   batch=row["batch_size"], optimizer="torch-sgd")
    columns = ["run", "name", "state", "model", "optimizer", "lr", "batch", "epochs", "best",
               "age"]
    drop = ("age", "optimizer", "batch", "lr", "name", "model")
    assert fit_columns(rows, columns, None, drop) == columns
    for width in (80, 60):
        kept = fit_columns(rows, columns, width, drop)
        assert max(len(line) for line in render(rows, "table", kept).splitlines()) <= width
        assert {"run", "state", "epochs", "best"} <= set(kept) and "age" not in kept
        assert kept == [c for c in columns if c in kept]      # in the table's order


def test_names_tell_every_run_apart_and_name_the_table_only_for_runs_alike():
    """Whatever mix of fields differs, each run's name is its own, and a run gets its table name
    beside its settings only when another run has the same settings. (Three runs where two
    fields differ once came out as `scratch, sgd (181611-scratch)` twice: the table names had
    counted as telling them apart before any field was chosen.)"""
    import itertools
    base = TrainConfig().to_dict()
    choices = [{"lr": 0.03}, {"model": "mlp", "optimizer": "adam"}, {"batch_size": 64},
               {"epochs": 5}, {}, {"lr": 0.03, "batch_size": 64}]
    for picked in itertools.combinations_with_replacement(range(len(choices)), 3):
        configs = [{**base, **choices[k]} for k in picked]
        fallback = [f"18161{i}-scratch" for i in range(3)]
        names = names_by_difference(configs, fallback)
        assert len(set(names)) == 3, (picked, names)
        for i, name in enumerate(names):
            alike = sum(c == configs[i] for c in configs) > 1
            assert (fallback[i] in name) == alike, (picked, names)
    three = [base, {**base, "lr": 0.03}, {**base, "model": "mlp", "optimizer": "adam"}]
    assert names_by_difference(three, ["a", "b", "c"]) == ["scratch, lr 0.1", "scratch, lr 0.03",
                                                          "mlp, lr 0.1"]


def test_data_formats_carry_values_as_recorded_and_a_resume_adds_no_column(tmp_path, capsys):
    """`compare --format json` rounded (0.9709 for 0.9708964920043945), and a resumed run
    added a `resumed` column holding a Python list's repr: JSON and CSV carry the recorded
    values, the table shows four digits, and a run's resume record is its bookkeeping."""
    from tests.support.runs import make_run, run_cli

    acc = 0.9708964920043945
    config = TrainConfig().to_dict()
    for k, resumed in enumerate(([], [{"after_epoch": 1, "batch": 0, "changed": {"lr": [1, 2]}}])):
        row = {"epoch": 1, "train_loss": 0.3, "train_acc": 0.9, "test_acc": acc}
        make_run(tmp_path / "runs" / f"20261130-10000{k}-scratch", [json.dumps(row).encode()],
                 json.dumps({**config, "lr": 0.1 * (k + 1), "resumed": resumed}).encode())
    code, out, _ = run_cli(capsys, "compare", str(tmp_path / "runs"), "--format", "json")
    rows = json.loads(out)
    assert code == 0 and {r["best_test_acc"] for r in rows} == {acc}
    assert all("resumed" not in r for r in rows) and all("lr" in r for r in rows)
    code, out, _ = run_cli(capsys, "compare", str(tmp_path / "runs"), "--format", "csv")
    assert str(acc) in out and "resumed" not in out
    code, out, _ = run_cli(capsys, "compare", str(tmp_path / "runs"), "--no-ui")
    assert "0.9709" in out and str(acc) not in out


def test_runs_and_view_take_out_before_or_after_the_commands_name(three_runs, tmp_path, capsys,
                                                                   monkeypatch):
    """`smtui --out DIR runs` said "no runs yet in runs", and `smtui runs --out DIR` was "No
    such option": both list DIR, as every other command takes --out."""
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")   # where no folder named runs is
    folder = str(three_runs)
    for args in (["--out", folder, "runs", "--json"], ["runs", "--out", folder, "--json"]):
        code, out, err = run_cli(capsys, *args)
        assert code == 0 and len(json.loads(out)) == 3, (args, err)
    code, out, _ = run_cli(capsys, "runs", "--json")
    assert code == 0 and json.loads(out) == []   # no --out: the default, `runs`, is empty


def test_compare_shows_the_data_a_run_used_not_the_option(tmp_path, capsys):
    """`dataset auto` for a full-data run beside a subset run: compare shows what each used."""
    from tests.support.runs import make_run

    row = json.dumps({"epoch": 1, "train_loss": 0.3, "train_acc": 0.9, "test_acc": 0.8})
    for k, used in enumerate(("full", "subset")):
        make_run(tmp_path / "runs" / f"20261130-10000{k}-scratch", [row.encode()],
                 json.dumps({**TrainConfig().to_dict(), "dataset_used": used,
                             "device_used": "cpu"}).encode())
    code, out, _ = run_cli(capsys, "compare", str(tmp_path / "runs"), "--format", "json")
    rows = json.loads(out)
    assert code == 0 and [r["dataset"] for r in rows] == ["full", "subset"]
    assert all("device" not in r for r in rows)   # the same device: no column


def test_runs_sort_by_a_metric_or_an_option_and_refuse_an_unknown_key(three_runs, capsys):
    """With weeks of runs the question is which did best: `runs --sort=-best`, as
    `dvc exp show --sort-by`; a key it does not know is one line naming those it does."""
    code, out, _ = run_cli(capsys, "runs", str(three_runs), "--json", "--sort=-best")
    best = [r["best_test_acc"] for r in json.loads(out)]
    assert code == 0 and best == sorted(best, reverse=True) and len(best) == 3
    code, out, _ = run_cli(capsys, "runs", str(three_runs), "--json", "--sort", "batch")
    batches = [r["batch_size"] for r in json.loads(out)]
    assert batches == sorted(batches)
    code, _, err = run_cli(capsys, "runs", str(three_runs), "--sort", "bogus")
    assert code == 2 and err.startswith("smtui: error: --sort: cannot sort by 'bogus'")
    assert err.count("\n") == 1


def test_when_a_run_last_wrote_is_its_records_never_a_folders_time(tmp_path, capsys):
    """`runs` orders by status.json's `updated` and says each run's age from it; a run whose
    record says no time (another version's, a hand-made one) has no age and comes first, by
    name, whatever its folder's time (a copy or a touch makes that the copier's own: it had
    been taken as the run's)."""
    import os

    out = tmp_path / "runs"
    later = write_run(out / "20261130-090000-scratch", [(0.8, 0.7)], updated=5000.0)
    earlier = write_run(out / "20261130-100000-scratch", [(0.8, 0.7)], updated=4000.0)
    silent = write_run(out / "20261130-080000-scratch", [(0.8, 0.7)])
    (silent / "status.json").write_text(json.dumps({"state": "finished"}))
    for run, when in ((silent, 9e9), (earlier, 1.0), (later, 2.0)):   # times that lie
        os.utime(run, (when, when))
    code, text, _ = run_cli(capsys, "runs", str(out), "--json")
    rows = json.loads(text)
    assert code == 0 and [r["run"] for r in rows] == [silent.name, earlier.name, later.name]
    assert rows[0]["updated"] is None and rows[0]["age"] == "–"
    assert RunSummary.from_dir(silent).updated is None
    assert newest_run(out) == later
