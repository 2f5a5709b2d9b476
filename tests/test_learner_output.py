"""What a learner's program prints, and what it is left with, while smtui's app holds the
terminal: their print() shown live and kept in the scrollback in order with the epoch lines,
the epochs left on the screen above a mistake, the book's Animator beside their prints."""

from __future__ import annotations

import io
import re
import sys
import textwrap
from types import SimpleNamespace

import pytest

from tests.support.learner import linear_learner
from tests.support.tmux import Tmux, tmux_only
from tests.support.waits import wait_until
from tui_trainer.ui.transcript import Transcript


class Streams:
    """Two streams that write into one record, as a terminal shows stdout and stderr."""

    def __init__(self) -> None:
        self.record: list[tuple[str, str]] = []
        self.out = SimpleNamespace(write=lambda text: self.record.append(("out", text)))
        self.err = SimpleNamespace(write=lambda text: self.record.append(("err", text)))


def printed(text: str, stderr: bool = False) -> SimpleNamespace:
    """A write as Textual's print capture hands it over (events.Print)."""
    return SimpleNamespace(text=text, stderr=stderr)


def test_a_transcript_writes_what_was_printed_between_the_epochs_it_came_in():
    done, lines = [0], []
    transcript = Transcript(lambda: done[0], lambda line, stderr: lines.append((line, stderr)))
    for write in (printed("first"), printed("\n"), printed("warned\n", True)):
        transcript.post_message(write)
    done[0] = 1
    transcript.post_message(printed("second\nthird\n"))
    done[0] = 2
    transcript.post_message(printed("progress 10%\rprogress 100%"))
    streams = Streams()
    transcript.write_out(["E1", "E2"], streams.out, streams.err)
    assert streams.record == [("out", "first"), ("out", "\n"), ("err", "warned\n"),
                              ("out", "E1\n"), ("out", "second\nthird\n"), ("out", "E2\n"),
                              ("out", "progress 10%\rprogress 100%")]
    # whole lines to the Log tab as they end; the unfinished one is not a line yet
    assert lines == [("first", False), ("warned", True), ("second", False), ("third", False)]


def test_a_transcript_keeps_a_bounded_amount_and_says_what_it_left_out(monkeypatch):
    from tui_trainer.ui import transcript as module
    monkeypatch.setattr(module, "LIMIT_CHARS", 10)
    transcript = Transcript(lambda: 0, lambda line, stderr: None)
    transcript.post_message(printed("12345\n"))
    transcript.post_message(printed("678901234\n"))
    out, err = io.StringIO(), io.StringIO()
    transcript.write_out([], out, err)
    assert out.getvalue() == "12345\n"
    assert "10 more characters" in err.getvalue()


# ---------------------------------------------------------------- live, in a real terminal
PRINTING_LOOP = """
    steps = [0]
    def updater(n):
        steps[0] += 1
        epoch, step = divmod(steps[0] - 1, len(train_iter))
        if step == 0:
            print("PRINTED in epoch", epoch + 1)
            if epoch == 0:
                print("WARNED once", file=sys.stderr)
            if os.path.exists("boom"):
                [][1]   # the learner's mistake, at the start of an epoch
        time.sleep(0.02)
        d2l.sgd([W, b], 0.1, n)
    d2l.train_ch3(net, train_iter, test_iter, loss, 100000, updater)
"""


@pytest.mark.tmux
@tmux_only
def test_prints_show_live_and_stay_in_order_with_the_epochs_above_a_mistake(small_data_dir,
                                                                             tmp_path):
    """A learner's print() in their updater is on the Log tab while the window is open; once a
    mistake ends the run, the scrollback holds what a pipe would: each epoch's prints before
    its line (stderr's too), the finished epochs, then the mistake's one line."""
    (tmp_path / "learner.py").write_text(linear_learner(
        "d2l.load_data_fashion_mnist(4)", small_data_dir) + textwrap.dedent(PRINTING_LOOP))
    tmux = Tmux(f"cd {tmp_path} && {sys.executable} learner.py; sleep 60", 120, 50)
    try:
        tmux.wait_for("train_ch3 in learner.py", timeout=90)

        def epochs_shown() -> int:
            found = re.search(r"epoch (\d+)/100000", tmux.screen())
            return int(found[1]) if found else 0
        wait_until(lambda: epochs_shown() >= 3, timeout=60, what="two finished epochs")
        tmux.keys("7")   # the Log tab
        tmux.wait_for("PRINTED in epoch 2", timeout=30)
        assert "WARNED once" in tmux.screen()
        (tmp_path / "boom").touch()
        screen = tmux.wait_for("IndexError", timeout=60)
    finally:
        tmux.kill()
    said = [line.strip() for line in screen.splitlines()
            if re.match(r"\s*(PRINTED|WARNED|epoch +\d+/|.*IndexError)", line)]
    epochs = [line for line in said if line.startswith("epoch")]
    n = len(epochs)
    assert n >= 2, screen
    expected = []
    for k in range(1, n + 1):
        expected += [f"PRINTED in epoch {k}"] + (["WARNED once"] if k == 1 else [])
        expected.append(epochs[k - 1])
    expected.append(f"PRINTED in epoch {n + 1}")
    assert said[:-1] == expected, screen
    assert [int(e.split()[1].split("/")[0]) for e in epochs] == list(range(1, n + 1))
    assert "learner.py" in said[-1] and "in updater" in said[-1], screen


ANIMATED_LOOP = """
    from tui_trainer import d2l
    animator = d2l.Animator(xlabel='epoch', xlim=[1, 6], legend=['loss'])
    for epoch in range(6):
        l = 1.0 / (epoch + 1)
        print(f'epoch {epoch + 1}, loss {l:f}')
        animator.add(epoch + 1, l)
    d2l.plot([1, 2, 3], [[3, 2, 1]], legend=['after'])
    print('LEARNER DONE')
"""


@pytest.mark.tmux
@tmux_only
def test_the_animator_keeps_the_lines_printed_beside_it_and_one_figure(tmp_path):
    """3.3's loop prints each epoch's loss beside the book's Animator: every line stays, and
    the Animator's figure is drawn once (its redraw moved up over the printed lines, erased
    five of six and left six stacked figure tops); a later figure comes below it."""
    (tmp_path / "loop.py").write_text(textwrap.dedent(ANIMATED_LOOP))
    tmux = Tmux(f"cd {tmp_path} && {sys.executable} loop.py; sleep 60", 100, 70)
    try:
        screen = tmux.wait_for("LEARNER DONE", timeout=90)
    finally:
        tmux.kill()
    lines = screen.splitlines()
    printed = [line for line in lines if re.match(r"epoch \d, loss", line)]
    assert printed == [f"epoch {k}, loss {1 / k:f}" for k in range(1, 7)], screen
    tops = [i for i, line in enumerate(lines) if line.lstrip().startswith("┌")]
    assert len(tops) == 2, screen   # the Animator's figure, then plot's
    legends = [i for i, line in enumerate(lines) if "loss" in line and "┤" in line]
    after = [i for i, line in enumerate(lines) if "after" in line and "┤" in line]
    assert legends and after and legends[0] < after[0] < lines.index("LEARNER DONE"), screen
    assert max(lines.index(p) for p in printed) < tops[0], screen
