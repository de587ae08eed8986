"""Training faults and engine life in the main window: divergence, an engine exception, closing mid-run,
rapid pause/resume/step, reset while running, saving while training. Never an abort, a hang (> 5 s for one
operation) or a QThread left running (the no_threads_left_running fixture checks after every test). Training
runs in an engine process: faults are injected there through a sitecustomize.py on its PYTHONPATH."""

import os
import time
from contextlib import contextmanager

import numpy as np
import pytest

import core
from charrnn_gui.threads import registered_threads, running_threads
from tests.gui.helpers import use_small_settings, wait_iterations

LIMIT = 5.0  # seconds any one user operation may take


@contextmanager
def within(seconds=LIMIT, what="operation"):
    start = time.perf_counter()
    yield
    took = time.perf_counter() - start
    assert took < seconds, f"{what} took {took:.1f} s"


def finite_params(params) -> bool:
    return all(np.isfinite(p).all() for p in params.values())


def finite(w) -> bool:
    """The engine's weights (copied between two steps) are all finite."""
    return finite_params(w.session.weights()[1])


def engine_waits(w) -> bool:
    """The engine process is alive, holds the model and is not training."""
    answer = w.session.client.status()
    return answer.ok and answer.value.state == "idle"


@pytest.fixture
def window(make_window, small_builtin):
    return make_window()


def wait_parked(w, qtbot, timeout=10_000):
    """Until the engine has stopped training and the window has been told every iteration it trained."""
    def parked():
        if not w.session.has_model or w.session.state == "running":
            return False
        answer = w.session.client.status()
        return answer.ok and answer.value.state == "idle" and w.session.iteration == answer.value.iteration
    qtbot.waitUntil(parked, timeout=timeout)


FAIL_STEP = """
import os

import core.trainer

_fired = os.path.join(os.path.dirname(__file__), "fired")  # once per test: a later engine trains normally
_real_step = core.trainer.Trainer.step
_calls = {{"n": 0}}


def _flaky_step(self):
    _calls["n"] += 1
    if _calls["n"] == {n} and not os.path.exists(_fired):
        open(_fired, "w").close()
        raise {error}
    return _real_step(self)


core.trainer.Trainer.step = _flaky_step
"""


def fail_step_at(n: int, error: str, engine_site) -> None:
    """Make the engine process's n-th training step raise error (an expression), from its sitecustomize.py."""
    with open(engine_site, "a", encoding="utf-8") as f:
        f.write(FAIL_STEP.format(n=n, error=error))


# --- faults -----------------------------------------------------------------------------------


def test_a_huge_learning_rate_pauses_with_a_message_and_keeps_finite_weights(make_window, small_builtin, qtbot,
                                                                              dialogs):
    w = make_window(small=False)
    use_small_settings(w, learning_rate=1e3)
    with within(what="start"):
        w.start()
    qtbot.waitUntil(lambda: bool(dialogs.texts("warning")), timeout=10_000)
    (message,) = dialogs.texts("warning")
    assert "diverged" in message and "learning rate 1000" in message
    assert w.session.state == "paused" and engine_waits(w)
    assert finite(w)
    # At 1e3 the one update before the non-finite loss already blew the weights up to ~1e3 (finite, useless),
    # so resuming them with a lower rate diverges again at once: a second message, still no hang.
    w.settings_panel.lr_spin.setValue(0.05)
    with within(what="resume after divergence"):
        w.start()
    qtbot.waitUntil(lambda: len(dialogs.texts("warning")) == 2 or w.session.iteration > 50, timeout=10_000)
    wait_parked(w, qtbot) if len(dialogs.texts("warning")) == 2 else w.pause()
    assert finite(w)
    # Reset, then the lower learning rate trains.
    with within(what="reset"):
        w.reset_model()
    w.start()
    wait_iterations(w, qtbot, 50)
    with within(what="pause"):
        w.pause()
    status = w.session.client.status().value
    assert finite(w) and status.learning_rate == 0.05 and status.diverged is None


def test_an_engine_exception_mid_run_is_shown_the_model_kept_and_the_app_recovers(window, qtbot, dialogs,
                                                                                   engine_site):
    fail_step_at(20, 'RuntimeError("injected engine fault")', engine_site)
    w = window
    w.start()
    qtbot.waitUntil(lambda: bool(dialogs.texts("warning")), timeout=15_000)
    (message,) = dialogs.texts("warning")
    assert "RuntimeError: injected engine fault" in message and "The model is kept" in message, message
    assert "injected engine fault" in w.statusBar().currentMessage()
    wait_parked(w, qtbot, timeout=LIMIT * 1000)
    assert w.session.state == "paused" and w.session.has_model and w.session.iteration == 19 and finite(w)
    assert w.session.weights()[0] == 19
    # Reset, then Start trains a new model (in a new engine process).
    with within(what="reset"):
        w.reset_model()
    assert not w.session.has_model and w.session.client is None
    w.start()
    wait_iterations(w, qtbot, 30)
    w.pause()
    assert len(dialogs.texts("warning")) == 1
    assert "Traceback" not in dialogs.texts("warning")[0] and "\n  File " not in dialogs.texts("warning")[0]


def test_after_an_engine_exception_start_resumes_the_kept_model(window, qtbot, dialogs, engine_site):
    fail_step_at(10, 'FloatingPointError("overflow in a kernel")', engine_site)
    w = window
    w.start()
    qtbot.waitUntil(lambda: bool(dialogs.texts("warning")), timeout=15_000)
    client = w.session.client
    wait_parked(w, qtbot)
    assert w.session.iteration == 9
    w.start()  # "the model is kept; ... try again"
    wait_iterations(w, qtbot, 40)
    w.pause()
    assert w.session.client is client and finite(w)  # the same engine went on from iteration 9


# --- engine and thread life ------------------------------------------------------------------------------


@pytest.mark.slow
def test_closing_the_window_mid_training_fifty_times(qtbot, dialogs, small_builtin):
    from charrnn_gui import MainWindow

    for i in range(50):
        w = MainWindow(restore_last_corpus=False)
        w.show()
        use_small_settings(w)
        w.start()
        wait_iterations(w, qtbot, 5)
        assert w.session.state == "running"
        with within(what=f"close #{i}"):
            assert w.close()
        assert running_threads() == [] and registered_threads() == [], i
        w.deleteLater()
        qtbot.wait(1)
    assert len(dialogs.questions) == 50  # each asked about the unsaved model (and was told Discard)


# Was a defect (fixed in 613f103): MainWindow.shutdown joined a stalled loader for up to 600 s.
def test_closing_the_window_while_a_corpus_load_is_stalled_does_not_hang(window, qtbot, dialogs, small_corpus_file,
                                                                         monkeypatch):
    import threading

    release = threading.Event()
    real_load = core.load_corpus

    def stalled_load(path):  # a stalled network share, or a named pipe nobody writes to
        release.wait(60)
        return real_load(path)

    monkeypatch.setattr(core, "load_corpus", stalled_load)
    w = window
    w.open_corpus_path(str(small_corpus_file))
    assert w.session.is_loading
    releaser = threading.Timer(LIMIT + 0.5, release.set)  # never hang the suite for the whole minute
    releaser.daemon = True
    releaser.start()
    start = time.perf_counter()
    try:
        w.close()
        took = time.perf_counter() - start
    finally:
        release.set()
        releaser.cancel()
    assert took < LIMIT, f"close took {took:.1f} s while a load was stalled"
    # The released load finishes on its own, shortly after the window has gone.
    from charrnn_gui.threads import running_threads

    qtbot.waitUntil(lambda: not running_threads(), timeout=10_000)


def test_pause_and_resume_a_thousand_times_quickly(window, qtbot):
    w = window
    w.start()
    wait_iterations(w, qtbot, 1)
    slowest = 0.0
    for _ in range(1000):
        for action in (w.pause, w.start):
            start = time.perf_counter()
            action()
            slowest = max(slowest, time.perf_counter() - start)
    assert slowest < LIMIT
    assert w.session.state == "running"
    before = w.session.iteration
    wait_iterations(w, qtbot, before + 20)  # still training after all that
    w.pause()
    assert w.session.state == "paused" and finite(w) and engine_waits(w)


def test_step_five_hundred_times_trains_five_hundred_iterations(window, qtbot):
    w = window
    for i in range(500):
        with within(what=f"step #{i}"):
            w.step_once()
            qtbot.waitUntil(lambda: w.session.iteration == i + 1, timeout=LIMIT * 1000)
    wait_parked(w, qtbot)
    assert w.session.iteration == 500 and w.session.state == "paused" and engine_waits(w)


def test_pressing_step_faster_than_it_trains_never_hangs(window, qtbot):
    w = window
    w.step_once()
    qtbot.waitUntil(lambda: w.session.has_model and w.session.iteration >= 1, timeout=10_000)
    with within(what="500 quick steps"):
        for _ in range(500):
            w.step_once()
    wait_parked(w, qtbot)
    assert 1 < w.session.iteration <= 501 and w.session.state == "paused"


# Was a defect (fixed in 613f103): step(n) replaced a pending budget, so quick presses were lost.
def test_every_press_of_step_trains_one_iteration_even_when_pressed_quickly(window, qtbot):
    w = window
    w.step_once()
    qtbot.waitUntil(lambda: w.session.has_model and w.session.iteration >= 1, timeout=10_000)
    wait_parked(w, qtbot)
    for _ in range(100):  # faster than the engine trains (key auto-repeat on a big model does the same)
        w.step_once()
    qtbot.wait(500)
    wait_parked(w, qtbot)
    assert w.session.iteration == 101


def test_reset_while_running_stops_the_thread_and_start_works_again(window, qtbot, dialogs):
    w = window
    for round_ in range(5):
        w.start()
        wait_iterations(w, qtbot, 10)
        assert w.session.state == "running"
        with within(what="reset while running"):
            w.reset_model()
        assert not w.session.has_model and w.session.client is None and w.session.state == "idle"
    assert len(dialogs.questions) == 5


def test_saving_repeatedly_while_training_gives_consistent_snapshots(window, qtbot, dialogs, tmp_path):
    w = window
    w.start()
    wait_iterations(w, qtbot, 5)
    for i in range(20):
        path = tmp_path / f"snap{i}.npz"
        with within(what="save while training"):
            assert w.save_checkpoint(path=str(path))
        assert w.session.state == "running"
        ckpt = core.load_checkpoint(path)
        assert ckpt.iteration == w.session.saved_iteration
        # The loss history saved with it ends exactly at the saved iteration.
        its = ckpt.extras["loss_iter"]
        assert len(its) == ckpt.iteration and (len(its) == 0 or its[-1] == ckpt.iteration)
        resumed = core.restore_trainer(ckpt, w.session.corpus.data, w.session.corpus.vocab)
        assert resumed.iteration == ckpt.iteration and finite_params(resumed.params)
        qtbot.wait(20)
    w.pause()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".charrnn-")]
