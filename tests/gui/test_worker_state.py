"""The worker's shared state: one lock for everything the GUI thread and the loop both touch.

The races are between two bytecodes of the loop, which the interpreter rarely switches at; so besides
hammering the controls, a tracer stops the loop at each line of its code in turn and presses a control
right there, from the GUI thread, then checks that the press had its documented effect.
"""

from __future__ import annotations

import dis
import random
import sys
import threading
import time

import numpy as np
import pytest

from charrnn_gui.worker import TrainingWorker

from .test_worker import Recorder, make_trainer


def tiny_trainer():
    return make_trainer(hidden_size=4, seq_length=4, sample_every=7, sample_length=5)


def test_start_step_and_pause_hammered_from_the_gui_thread_never_break_the_loop(qtbot):
    trainer = tiny_trainer()
    w = TrainingWorker(trainer)
    r = Recorder().listen_to(w)
    w.start()
    rng = random.Random(12)
    ops = [lambda: w.step(rng.randint(1, 3)), w.resume, w.pause, w.resume, lambda: w.step(1), w.pause]
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # hand the GIL over as often as possible: every race gets its chance
    try:
        deadline = time.perf_counter() + 3.0
        calls = 0
        while time.perf_counter() < deadline and not r.failed:
            rng.choice(ops)()
            calls += 1
            if calls % 50 == 0:
                qtbot.wait(1)  # let the signals in now and then, as the event loop would
    finally:
        sys.setswitchinterval(switch)
        w.pause()
    try:
        qtbot.waitUntil(lambda: not w.is_running, timeout=5000)
        qtbot.wait(200)
        assert r.failed == [] and r.finished == 0 and w.thread_running
        # Counts agree everywhere: the weights, the worker's history, what reached the GUI.
        with w.hold() as t:
            n = t.iteration
            assert np.array_equal(w.history.iterations.view, np.arange(1, n + 1))
        its = np.concatenate([p.iterations for p in r.progress])
        assert np.array_equal(its, np.arange(1, n + 1))
        assert [s.iteration for s in r.samples] == list(range(0, n, 7))
        assert r.progress[-1].iteration == n and r.paused[-1] == n
        w.step(5)  # and the worker still counts steps exactly
        qtbot.waitUntil(lambda: r.paused[-1] == n + 5, timeout=5000)
        qtbot.wait(100)
        assert trainer.iteration == n + 5 and not w.is_running
    finally:
        assert w.stop(10.0)


class LineStopper:
    """Stops the worker's loop once at a chosen line of TrainingWorker._loop until the GUI thread has pressed."""

    WAIT = 0.05  # seconds the loop waits for the press (a press blocked on a lock the loop holds times out)

    def __init__(self, code):
        self.code = code
        self.line = None
        self.reached = threading.Event()
        self.pressed = threading.Event()
        self.seen: dict[int, int] = {}  # line: times run

    def arm(self, line):
        self.reached.clear()
        self.pressed.clear()
        self.line = line

    def install(self, worker):
        loop = worker._loop

        def traced_loop():
            sys.settrace(self._global)
            try:
                loop()
            finally:
                sys.settrace(None)

        worker._loop = traced_loop  # the instance attribute is what start() hands to the thread

    def _global(self, frame, event, arg):
        return self._local if frame.f_code is self.code else None

    def _local(self, frame, event, arg):
        if event == "line":
            self.seen[frame.f_lineno] = self.seen.get(frame.f_lineno, 0) + 1
            if frame.f_lineno == self.line:
                self.line = None
                self.reached.set()
                self.pressed.wait(self.WAIT)
        return self._local


def loop_lines():
    code = TrainingWorker._loop
    code = getattr(code, "__wrapped__", code).__code__
    return code, sorted({line for _, line in dis.findlinestarts(code) if line is not None})


def parked(w, r, qtbot, count):
    qtbot.waitUntil(lambda: len(r.paused) >= count and not w.is_running, timeout=5000)


# Each scenario: what runs before the press, the press, and what must hold afterwards.
def start_during_a_step(w, r, qtbot, press):
    it0 = w.trainer.iteration
    w.step(3)
    press(w.resume)
    qtbot.waitUntil(lambda: w.trainer.iteration >= it0 + 30, timeout=5000)
    assert w.is_running, "Start pressed during a Step was lost"


def start_right_after_pause(w, r, qtbot, press):
    w.resume()
    qtbot.waitUntil(lambda: w.is_running, timeout=5000)
    w.pause()
    press(w.resume)
    it1 = w.trainer.iteration
    qtbot.waitUntil(lambda: w.trainer.iteration >= it1 + 30, timeout=5000)
    assert w.is_running, "Start pressed right after Pause was lost"


def step_during_a_step(w, r, qtbot, press):
    it0, n_paused = w.trainer.iteration, len(r.paused)
    w.step(3)
    press(lambda: w.step(2))
    parked(w, r, qtbot, n_paused + 1)
    qtbot.wait(20)
    assert w.trainer.iteration == it0 + 5, "Step presses must add up"


def pause_during_a_step(w, r, qtbot, press):
    it0 = w.trainer.iteration
    w.step(3)
    press(w.pause)
    qtbot.waitUntil(lambda: not w.is_running, timeout=5000)
    with w.hold() as t:  # between two steps, and it stays parked
        stopped = t.iteration
    qtbot.wait(20)
    assert it0 <= stopped <= it0 + 3 and w.trainer.iteration == stopped


@pytest.mark.parametrize("scenario", [start_during_a_step, start_right_after_pause, step_during_a_step,
                                      pause_during_a_step], ids=lambda f: f.__name__)
def test_a_control_pressed_at_any_line_of_the_loop_has_its_effect(qtbot, scenario):
    code, lines = loop_lines()
    stopper = LineStopper(code)
    w = TrainingWorker(tiny_trainer())
    r = Recorder().listen_to(w)
    stopper.install(w)
    w.start()

    def press(control):
        if stopper.line is None or stopper.reached.wait(0.1):  # a line this run never reaches is skipped
            control()
            stopper.pressed.set()
        else:
            stopper.line = None
            control()

    def run(line):
        stopper.arm(line)
        scenario(w, r, qtbot, press)
        assert r.failed == [], f"line {line}: {r.failed}"
        w.pause()
        qtbot.waitUntil(lambda: not w.is_running, timeout=5000)
        with w.hold():
            pass
        return stopper.reached.is_set()

    try:
        # Learn the lines of the loop's body (not its start) from steps, a run, parking.
        qtbot.waitUntil(lambda: bool(stopper.seen), timeout=5000)
        qtbot.wait(20)
        stopper.seen.clear()
        w.step(3)
        parked(w, r, qtbot, 1)
        w.resume()
        qtbot.waitUntil(lambda: w.trainer.iteration >= 30, timeout=5000)
        w.pause()
        parked(w, r, qtbot, 2)
        tried = sum(run(line) for line in lines if line in stopper.seen)
        assert tried >= 10  # the presses landed all over the loop
    finally:
        assert w.stop(10.0)


def test_elapsed_counts_the_run_in_progress_before_the_loop_parks(qtbot):
    w = TrainingWorker(make_trainer(sample_every=0))
    w.start()
    try:
        assert w.elapsed == 0.0
        w.resume()
        qtbot.waitUntil(lambda: w.trainer.iteration >= 3, timeout=5000)
        with w.hold():  # between two steps, not parked: the run is still open (what Reset catches up inside)
            during = w.elapsed
            assert during > 0.0
        w.pause()
        qtbot.waitUntil(lambda: len(w.pause_latencies) == 1, timeout=5000)  # parked: the run is added up
        parked = w.elapsed
        assert parked >= during
        qtbot.wait(50)
        assert w.elapsed == parked  # parked time is not training time
    finally:
        assert w.stop(10.0)
