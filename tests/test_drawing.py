"""The book's Animator in a terminal: curves cut at the figure's limits as matplotlib cuts them,
degenerate limits widened, log axes drawn in log space, ticks that read as numbers."""

from __future__ import annotations

import re

import pytest

from tui_trainer import d2l
from tui_trainer.learner.drawing import clip_line, clip_segment, nice_ticks, nonsingular


def test_a_segment_is_cut_where_it_crosses_the_box():
    assert clip_segment((0, 0), (2, 2), (0, 1, 0, 1)) == ((0, 0), (1, 1))
    assert clip_segment((2, 2), (3, 3), (0, 1, 0, 1)) is None
    # the MLP's first epoch: loss 1.0 above ylim 0.9, then 0.6 -> enters at y 0.9, x 1.25
    (start, end) = clip_segment((1, 1.0), (2, 0.6), (1, 10, 0.3, 0.9))
    assert start == pytest.approx((1.25, 0.9)) and end == pytest.approx((2, 0.6))


def test_a_line_leaving_and_coming_back_is_two_pieces():
    box = (0, 10, 0, 1)
    assert clip_line([(0, 0.5), (1, 2.0), (2, 0.5)], box) == [
        [(0, 0.5), pytest.approx((1 / 3, 1.0))], [pytest.approx((5 / 3, 1.0)), (2, 0.5)]]
    assert clip_line([(0, 5.0), (1, 6.0)], box) == []          # wholly outside: nothing
    assert clip_line([(1, 0.5)], box) == [[(1, 0.5)]]          # one point inside


def test_equal_limits_are_widened_and_ticks_are_round():
    assert nonsingular(1, 1) == pytest.approx((0.95, 1.05))
    assert nonsingular(0, 0) == (-0.5, 0.5)
    assert nonsingular(3, 1) == (1, 3)
    assert nice_ticks(0.3, 0.9) == [0.4, 0.6, 0.8]
    assert nice_ticks(0, 100) == [0, 20, 40, 60, 80, 100]


def test_points_outside_the_limits_are_cut_not_fatal(terminal):
    """d2l 4.2's MLP: a first loss above the figure's ylim used to end the learner's program."""
    animator = d2l.Animator(xlabel="epoch", xlim=[1, 10], ylim=[0.3, 0.9],
                            legend=["train loss", "train acc", "test acc"])
    animator.add(1, (1.0, 0.53, 0.53))
    animator.add(2, (0.6, 0.7, 0.72))
    text = terminal()
    assert "train loss" in text and "0.8" in text and "10" in text
    assert "⠁" in text or "⠊" in text or "⢀" in text        # braille: a curve was drawn


def test_one_epoch_draws_a_figure(terminal):
    animator = d2l.Animator(xlabel="epoch", xlim=[1, 1], legend=["train loss"])
    animator.add(1, (0.5,))
    assert "train loss" in terminal()


def test_a_log_axis_with_limits_draws_its_curve_and_decades(terminal):
    """d2l 4.4: yscale log, ylim [1e-3, 1e2]: was an empty figure with a tick like
    236.305917969."""
    animator = d2l.Animator(xlabel="epoch", ylabel="loss", yscale="log", xlim=[1, 400],
                            ylim=[1e-3, 1e2], legend=["train", "test"])
    for epoch in range(1, 40, 5):
        animator.add(epoch, (10 / epoch, 12 / epoch))
    text = terminal()
    assert "0.001" in text and "10" in text and "400" in text
    assert not re.search(r"\d\.\d{6,}", text)                # no unreadable tick
    assert re.search(r"[⡀-⣿]", text)                        # the curves are there


def test_in_a_pipe_a_line_says_only_the_points_just_added(capsys, monkeypatch):
    """6.6's pattern in a pipe: train loss and acc at fractions of an epoch, the test accuracy
    None there; a line repeated the previous epoch's `test acc 0.5000` eight times, a point
    the book never drew."""
    from tui_trainer.learner import drawing

    monkeypatch.setattr(drawing, "on_terminal", lambda: False)
    animator = d2l.Animator(xlabel="epoch", xlim=[1, 2],
                            legend=["train loss", "train acc", "test acc"])
    animator.add(1, (0.9, 0.6, 0.5))
    animator.add(1.5, (0.7, 0.7, None))
    animator.add(2, (0.6, 0.8, 0.55))
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["epoch 1: train loss 0.9000  train acc 0.6000  test acc 0.5000",
                     "epoch 1.5: train loss 0.7000  train acc 0.7000",
                     "epoch 2: train loss 0.6000  train acc 0.8000  test acc 0.5500"]
