"""The speed control: training at reading pace (1, 10, 100 iterations a second), Pause still instant."""

import time

from PySide6.QtCore import QSettings

from charrnn_gui.worker import TrainingWorker

from .helpers import use_small_settings, wait_iterations
from .test_worker import Recorder, make_trainer


def started_worker(qtbot, speed):
    w, r = TrainingWorker(make_trainer(sample_every=0)), Recorder()
    w.paused.connect(r.on_paused)
    w.set_speed(speed)
    w.start()
    return w, r


def test_at_ten_iterations_a_second_about_ten_are_done_in_a_second(qtbot):
    w, r = started_worker(qtbot, 10)
    try:
        w.resume()
        qtbot.waitUntil(lambda: w.trainer.iteration >= 1, timeout=5000)
        start, it0 = time.perf_counter(), w.trainer.iteration
        qtbot.wait(1000)
        done, seconds = w.trainer.iteration - it0, time.perf_counter() - start
        assert 6 <= done / seconds <= 13, (done, seconds)
        w.set_speed(0)  # back to unlimited, live
        qtbot.wait(300)
        assert w.trainer.iteration - it0 > done + 30
    finally:
        assert w.stop(10.0)


def test_at_one_iteration_a_second_pause_takes_effect_within_a_tenth_of_a_second(qtbot):
    w, r = started_worker(qtbot, 1)
    try:
        w.resume()
        qtbot.waitUntil(lambda: w.trainer.iteration >= 1, timeout=5000)
        qtbot.wait(300)  # now waiting between two steps
        start = time.perf_counter()
        w.pause()
        with w.hold():  # what the window's Pause waits for
            held = time.perf_counter() - start
        qtbot.waitUntil(lambda: len(r.paused) == 1, timeout=1000)
        assert held < 0.1 and max(w.pause_latencies) < 0.1, (held, w.pause_latencies)
        assert w.trainer.iteration == r.paused[0] <= 2
    finally:
        assert w.stop(10.0)


def test_stop_at_one_iteration_a_second_is_quick(qtbot):
    w, r = started_worker(qtbot, 1)
    w.resume()
    qtbot.waitUntil(lambda: w.trainer.iteration >= 1, timeout=5000)
    start = time.perf_counter()
    assert w.stop(10.0)
    assert time.perf_counter() - start < 0.2


def test_the_speed_combo_paces_the_window_live_and_is_remembered(make_window, qtbot):
    w = make_window()
    combo = w.settings_panel.speed_combo
    assert combo.objectName() == "speedCombo" and combo.currentText() == "Unlimited"
    assert [combo.itemText(i) for i in range(combo.count())] == ["Unlimited", "100 iterations/s", "10 iterations/s",
                                                                "1 iteration/s"]
    w.start()
    wait_iterations(w, qtbot, 20)
    combo.setCurrentIndex(combo.findText("10 iterations/s"))  # while training
    qtbot.wait(200)
    it0 = w.trainer.iteration
    qtbot.wait(1000)
    assert 4 <= w.trainer.iteration - it0 <= 14
    start = time.perf_counter()
    w.pause()  # the toolbar's Pause: waits until the worker is parked
    assert time.perf_counter() - start < 0.1 and w.state == "paused"
    w.close()
    assert float(QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "charrnn",
                           "charrnn-gui").value("training/speed")) == 10.0
    again = make_window()
    assert again.settings_panel.speed_combo.currentText() == "10 iterations/s"
    use_small_settings(again)
    again.step_once()  # a new model's worker gets the speed too
    qtbot.waitUntil(lambda: again.trainer is not None and again.trainer.iteration == 1, timeout=5000)
    assert again.worker.speed == 10.0
