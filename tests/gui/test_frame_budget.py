"""The frame budget: redraws slow down while the GUI thread takes too much CPU during training, and come back after.

Driven by a fake clock and a fake CPU cost, never by timing."""

from __future__ import annotations

import numpy as np
import pytest

from charrnn_gui.frame_budget import FrameBudget
from charrnn_gui.samples import MAX_BLOCKS

from .helpers import wait_iterations


class FakeClocks:
    """A wall clock and a thread CPU clock that move only when told."""

    def __init__(self):
        self.wall = 0.0
        self.cpu_seconds = 0.0

    def clock(self):
        return self.wall

    def cpu(self):
        return self.cpu_seconds

    def spend(self, seconds: float, share: float):
        """`seconds` of wall time pass, of which the GUI thread spends `share` on the CPU."""
        self.wall += seconds
        self.cpu_seconds += seconds * share


def budget(**kwargs):
    clocks = FakeClocks()
    return FrameBudget(clock=clocks.clock, cpu=clocks.cpu, **kwargs), clocks


def run_windows(fb, clocks, share, windows):
    """Tick through whole measurement windows at this CPU share; the stretch after each."""
    fb.tick()
    stretches = []
    for _ in range(windows):
        clocks.spend(fb.window, share)
        fb.tick()
        stretches.append(fb.stretch)
    return stretches


def test_stretch_grows_while_the_gui_thread_is_over_budget_and_stops_at_the_bound():
    fb, clocks = budget(budget=0.06, grow=1.5, max_stretch=5.0)
    stretches = run_windows(fb, clocks, 0.15, 6)
    assert stretches[:4] == pytest.approx([1.5, 2.25, 3.375, 5.0])
    assert stretches[4:] == [5.0, 5.0]
    assert fb.share == pytest.approx(0.15)


def test_stretch_shrinks_back_to_one_when_well_under_budget():
    fb, clocks = budget(budget=0.06, grow=1.5, max_stretch=5.0)
    run_windows(fb, clocks, 0.15, 6)
    stretches = run_windows(fb, clocks, 0.01, 6)
    assert stretches[0] == pytest.approx(5.0 / 1.5)
    assert stretches[-1] == 1.0 and min(stretches) == 1.0


def test_stretch_holds_between_the_two_thresholds():
    fb, clocks = budget(budget=0.06, grow=1.5)
    run_windows(fb, clocks, 0.15, 2)
    held = fb.stretch
    assert run_windows(fb, clocks, 0.05, 5) == [held] * 5  # under budget, but not by enough to speed up again


def test_nothing_changes_before_a_whole_window_has_passed():
    fb, clocks = budget(budget=0.06, window=1.0)
    fb.tick()
    clocks.spend(0.9, 1.0)  # all CPU, but not a window yet
    assert fb.tick() is False and fb.stretch == 1.0 and fb.share is None
    clocks.spend(0.1, 1.0)
    assert fb.tick() is True and fb.stretch > 1.0


def test_a_window_far_longer_than_asked_for_is_a_suspension_and_does_not_shrink_the_stretch():
    fb, clocks = budget(budget=0.06, window=0.5, grow=1.5)
    run_windows(fb, clocks, 0.15, 3)
    held, share = fb.stretch, fb.share
    clocks.spend(30.0, 0.0)  # the process was stopped (or the laptop slept): no CPU, much wall time
    assert fb.tick() is False and fb.stretch == held and fb.share == share
    assert run_windows(fb, clocks, 0.15, 1) == [min(5.0, held * 1.5)]  # measured afresh from there on


def test_reset_goes_back_to_the_base_intervals_and_measures_afresh():
    fb, clocks = budget()
    run_windows(fb, clocks, 0.5, 3)
    assert fb.reset() is True
    assert fb.stretch == 1.0 and fb.share is None
    assert fb.reset() is False  # nothing to change the second time
    clocks.spend(10.0, 0.5)  # the time while paused does not count once training resumes
    assert fb.tick() is False and fb.stretch == 1.0


def test_interval_is_the_base_stretched_within_its_bounds():
    fb, clocks = budget(grow=2.0, max_stretch=8.0)
    assert fb.interval(200, 1000) == 200
    run_windows(fb, clocks, 0.5, 2)  # stretch 4
    assert fb.interval(200, 1000) == 800
    assert fb.interval(0.5, 2.0) == 2.0
    run_windows(fb, clocks, 0.5, 1)  # stretch 8
    assert fb.interval(200, 1000) == 1000


def test_window_slows_its_redraws_while_training_is_costly_and_restores_them_on_pause(
        make_window, qtbot, small_corpus_file):
    from charrnn_gui import main_window

    window = make_window()
    window.open_corpus_path(str(small_corpus_file))
    qtbot.waitUntil(lambda: not window.session.is_loading, timeout=10_000)
    clocks = FakeClocks()
    costly = [False]

    def clock():  # while costly, every tick of the refresh timer measures a window in which the GUI took half a core
        if costly[0]:
            clocks.spend(window.frame_budget.window, 0.5)
        return clocks.clock()

    window.frame_budget = FrameBudget(clock=clock, cpu=clocks.cpu)
    assert window.loss_panel.refresh_interval == main_window.LOSS_REFRESH_MS
    window.start()
    wait_iterations(window, qtbot, 5)
    costly[0] = True
    qtbot.waitUntil(lambda: window.loss_panel.refresh_interval == main_window.LOSS_REFRESH_LONGEST_MS,
                    timeout=10_000)
    assert window._heatmap_min_interval == main_window.HEATMAP_LONGEST_INTERVAL
    assert window._samples_min_interval == main_window.SAMPLES_LONGEST_INTERVAL
    assert window._status_min_interval == main_window.STATUS_LONGEST_INTERVAL
    # The status bar's numbers now change at most every STATUS_LONGEST_INTERVAL (at the base interval they would
    # change with every progress signal, five times a second), while the iteration count still moves: every update
    # of the status bar that changes it is noted with the time the window took for it, and the test waits for four
    # changes, however long they take on this machine.
    changes = []  # (the window's perf_counter time of the update, the iteration label's text) when it changed
    update_status = window._update_status

    def timed_update():  # the throttled updates only (refresh_now notes their time; _update_ui's are not timed)
        update_status()
        at, text = window._shown_at.get("status"), window.iteration_label.text()
        if at is not None and (not changes or (at != changes[-1][0] and text != changes[-1][1])):
            changes.append((at, text))

    window._update_status = timed_update
    qtbot.waitUntil(lambda: len(changes) >= 4, timeout=30_000)  # training goes on meanwhile
    del window._update_status
    gaps = np.diff([t for t, _ in changes])
    assert len(gaps) >= 3 and gaps.min() >= main_window.STATUS_LONGEST_INTERVAL, gaps
    ticks = []  # refresh ticks since the pause (counted after the window's own slot has run for each)
    window._refresh_timer.timeout.connect(lambda: ticks.append(window.loss_panel.refresh_interval))
    window.pause()
    qtbot.waitUntil(lambda: len(ticks) >= 1, timeout=30_000)
    assert ticks[0] == main_window.LOSS_REFRESH_MS  # the first tick after the pause restores the intervals
    assert window._heatmap_min_interval == main_window.HEATMAP_MIN_INTERVAL
    assert window._samples_min_interval == 0.0 and window._status_min_interval == 0.0
    # Paused, the plot shows every iteration trained.
    qtbot.waitUntil(lambda: len(window.loss_panel.history) == window.session.iteration, timeout=5000)
    window.refresh_now()
    _, y = window.loss_panel.raw_curve.getOriginalDataset()
    assert len(y) > 0 and np.isfinite(y).all()
    # Paused, the samples view shows every sample drawn, up to the newest one (all of them, unless there were more
    # than the view keeps: then its newest lines, which is the case when this machine trains fast).
    panel = window.samples_panel
    text, records = panel.view.toPlainText(), list(panel.records)
    assert records and text.endswith(f"{records[-1].header()}\n{records[-1].text}")
    if panel.view.document().blockCount() < MAX_BLOCKS:
        assert text.count("── iteration") == panel.count == len(records)
    else:
        assert text.count("── iteration") >= MAX_BLOCKS // (4 + max(r.text.count("\n") for r in records))
