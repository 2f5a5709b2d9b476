"""The run controller without a screen: the state it owns, the status derived from that state,
and the loop's events driving it, with stand-ins for the panels it tells."""

from __future__ import annotations

from types import SimpleNamespace

from tests.support.controller import controller, progress
from tui_trainer.core.events import Control, RunEnded
from tui_trainer.ui.modes import WatchMode
from tui_trainer.ui.run_state import (IDLE, PAUSED, QUITTING, RESETTING, RUNNING, STOPPING,
                                      RunState)


def test_the_status_is_derived_from_the_phase_and_the_record():
    state = RunState(epochs=3)
    assert state.status == "loading torch…"
    state.core_loaded = True
    assert state.status == "idle"
    state.start(Control())
    assert state.status == "starting…"
    state.announced = True
    assert state.status == "training"
    for phase, words in ((PAUSED, "paused"), (STOPPING, "stopping…"), (RESETTING, "stopping…"),
                         (QUITTING, "stopping to quit…")):
        state.phase = phase
        assert state.status == words
    state.end("stopped")
    assert (state.phase, state.status, state.control) == (IDLE, "stopped", None)
    state.start(Control())   # a new run is announced anew
    assert state.status == "starting…"


def test_a_watched_runs_own_state_is_the_status_whatever_this_process_does():
    state = RunState(epochs=3, watched="watching")
    assert state.status == "watching"   # before torch has loaded here, too
    state.core_loaded, state.watched = True, "stalled"
    assert state.status == "stalled"


def test_unfinished_lists_the_loops_still_going():
    state = RunState(epochs=1)
    done, going = Control(), Control()
    state.start(done)
    state.start(going)
    done.finished.set()
    assert state.unfinished() == [going]


def test_the_status_bar_is_told_what_the_state_says_never_read_back():
    ctl = controller()
    ctl.state.core_loaded = True
    ctl.state.start(Control())
    ctl.publish()
    assert ctl.panels.status_bar.state == "starting…"
    ctl.panels.status_bar.state = "something a widget says"   # the screen is not the truth
    ctl.state.announced = True
    ctl.handle(progress())
    assert ctl.panels.status_bar.state == "training" and ctl.panels.status_bar.threads == 2


def test_a_watched_run_that_stalls_then_moves_is_training_again():
    """`smtui view`: a stalled record arrives as RunEnded("stalled"); the next progress of the
    same run says it trains again, in the bar and in the Runs tab's row."""
    ctl = controller(WatchMode("runs/x"))
    ctl.state.watched = "training"
    ctl.state.current = SimpleNamespace(status="running")
    ctl.handle(RunEnded("stalled", 1, "no record for a minute"))
    assert ctl.panels.status_bar.state == "stalled" and ctl.state.current.status == "stalled"
    ctl.handle(progress(2, 1))
    assert ctl.panels.status_bar.state == "training" and ctl.state.current.status == "running"
    assert ctl.state.phase == IDLE   # watching runs no loop here


def test_a_reset_run_reports_nothing_until_it_has_stopped():
    ctl = controller()
    ctl.state.start(Control())
    ctl.state.phase = RESETTING
    ctl.handle(progress())
    assert ctl.panels.curves.calls == []   # dropped: the reset cleared what it would draw
    assert ctl.state.phase == RESETTING


def test_pause_and_stop_change_the_phase_and_the_loops_controls():
    ctl = controller()
    ctl.state.core_loaded = True
    control = Control()
    ctl.state.start(control)
    ctl.toggle_pause()
    assert control.paused and ctl.state.phase == PAUSED
    assert ctl.panels.status_bar.state == "paused"
    ctl.toggle_pause()
    assert not control.paused and ctl.state.phase == RUNNING
    ctl.stop()
    assert control.stop.is_set() and ctl.panels.status_bar.state == "stopping…"
    assert ctl.stop_to_quit("hung up") and ctl.state.phase == QUITTING
