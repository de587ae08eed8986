"""The speed control: training at reading pace (1, 10, 100 iterations a second), Pause still instant."""

import time

import numpy as np
from PySide6.QtCore import QSettings

from charrnn_gui.threads import TrainingWorker

from .helpers import use_small_settings, wait_iterations
from .test_worker import Recorder, make_trainer


def started_worker(qtbot, speed):
    w, r = TrainingWorker(make_trainer(sample_every=0)), Recorder()
    w.paused.connect(r.on_paused)
    w.set_speed(speed)
    w.start()
    return w, r


def timed_steps(trainer) -> list[float]:
    """The perf_counter time at which each later step of trainer starts (the worker's thread calls step())."""
    times, step = [], trainer.step

    def timed():
        times.append(time.perf_counter())
        return step()

    trainer.step = timed
    return times


def test_at_ten_iterations_a_second_steps_are_a_tenth_of_a_second_apart_and_unlimited_is_live(qtbot):
    # Pacing makes steps never closer than 1/speed: load only spreads them further, so the test waits for the steps
    # it needs (however long they take here) and checks their spacing, never a count in a second of wall time.
    w, r = started_worker(qtbot, 10)
    try:
        times = timed_steps(w.trainer)
        w.resume()
        qtbot.waitUntil(lambda: len(times) >= 8, timeout=30_000)
        # At most ten a second: seven gaps of at least 0.1 s each (less one of slack: a step is timed when it starts,
        # a little after the loop decided it was due, and the first one's delay may be longer than the last's).
        assert times[7] - times[0] >= 0.1 * 6, np.diff(times[:8])
        w.set_speed(0)  # back to unlimited, live (steps may now go on in the training process, untimed here)
        it0 = w.trainer.iteration
        qtbot.waitUntil(lambda: w.trainer.iteration >= it0 + 2000, timeout=30_000)  # paced, 2000 would take 200 s
    finally:
        assert w.stop(10.0)


def test_pause_does_not_wait_for_the_next_paced_step(qtbot):
    # At one step in a hundred seconds, a pause that waited out the pace would park after ~100 s, a stop likewise:
    # both take effect at once (the wait is woken), which the test sees without timing them.
    w, r = started_worker(qtbot, 0.01)
    try:
        w.resume()
        qtbot.waitUntil(lambda: w.trainer.iteration >= 1, timeout=10_000)
        w.pause()
        with w.hold():  # what the window's Pause waits for
            pass
        qtbot.waitUntil(lambda: len(r.paused) == 1, timeout=10_000)
        assert w.trainer.iteration == r.paused[0] == 1
        assert max(w.pause_latencies) < 10.0  # woken, not after the 100 s wait
    finally:
        assert w.stop(10.0)


def test_stop_while_waiting_for_the_next_paced_step_ends_the_thread(qtbot):
    w, r = started_worker(qtbot, 0.01)
    w.resume()
    qtbot.waitUntil(lambda: w.trainer.iteration >= 1, timeout=10_000)
    assert w.stop(10.0)  # joined within 10 s although the next step is due in 100 s
    assert not w.thread_running


def test_the_speed_combo_paces_the_window_live_and_is_remembered(make_window, qtbot):
    w = make_window()
    combo = w.settings_panel.speed_combo
    assert combo.objectName() == "speedCombo" and combo.currentText() == "Unlimited"
    assert [combo.itemText(i) for i in range(combo.count())] == ["Unlimited", "100 iterations/s", "10 iterations/s",
                                                                "1 iteration/s"]
    w.start()
    wait_iterations(w, qtbot, 20)
    combo.setCurrentIndex(combo.findText("10 iterations/s"))  # while training
    assert w.worker.speed == 10.0  # live
    times = timed_steps(w.trainer)  # from here every step is taken in the worker's thread, paced
    qtbot.waitUntil(lambda: len(times) >= 6, timeout=30_000)
    assert times[5] - times[1] >= 0.1 * 3, np.diff(times)  # at most ten a second (one gap of slack, as above)
    w.pause()  # the toolbar's Pause: waits until the worker is parked
    assert w.state == "paused"
    w.close()
    assert float(QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "charrnn",
                           "charrnn-gui").value("training/speed")) == 10.0
    again = make_window()
    assert again.settings_panel.speed_combo.currentText() == "10 iterations/s"
    use_small_settings(again)
    again.step_once()  # a new model's worker gets the speed too
    qtbot.waitUntil(lambda: again.trainer is not None and again.trainer.iteration == 1, timeout=5000)
    assert again.worker.speed == 10.0
