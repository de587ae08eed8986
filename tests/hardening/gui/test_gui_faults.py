"""Training faults and thread life in the main window: divergence, an engine exception, closing mid-run,
rapid pause/resume/step, reset while running, saving while training. Never an abort, a hang (> 5 s for one
operation) or a QThread left running (the no_threads_left_running fixture checks after every test)."""

import time
from contextlib import contextmanager

import numpy as np
import pytest

import core
import core.trainer
from charrnn_gui import train_process
from charrnn_gui.threads import registered_threads, running_threads


def training_threads():
    """The training threads still running (the window also keeps a runs reader per runs folder, and a run
    writer while a run is being written)."""
    return [t for t in running_threads() if t.objectName() == "charrnn-training"]
from tests.gui.helpers import use_small_settings, wait_iterations

LIMIT = 5.0  # seconds any one user operation may take


@contextmanager
def within(seconds=LIMIT, what="operation"):
    start = time.perf_counter()
    yield
    took = time.perf_counter() - start
    assert took < seconds, f"{what} took {took:.1f} s"


def finite(trainer):
    return all(np.isfinite(p).all() for p in trainer.params.values())


@pytest.fixture
def window(make_window, small_builtin):
    return make_window()


def wait_parked(w, qtbot, timeout=10_000):
    qtbot.waitUntil(lambda: w.worker is not None and not w.worker.is_running and w.state != "running",
                    timeout=timeout)


def fail_step_at(n: int, error: Exception, monkeypatch) -> None:
    """Make the engine's n-th training step (counted from now) raise error."""
    real_step = core.trainer.Trainer.step
    calls = {"n": 0}

    def flaky_step(self):
        calls["n"] += 1
        if calls["n"] == n:
            raise error
        return real_step(self)

    monkeypatch.setattr(core.trainer.Trainer, "step", flaky_step)
    monkeypatch.setattr(train_process, "ENABLED", False)  # the fault is in this process: train in its thread


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
    assert w.state == "paused" and not w.worker.is_running and w.worker.thread_running
    assert finite(w.trainer)
    # At 1e3 the one update before the non-finite loss already blew the weights up to ~1e3 (finite, useless),
    # so resuming them with a lower rate diverges again at once: a second message, still no hang.
    w.settings_panel.lr_spin.setValue(0.05)
    with within(what="resume after divergence"):
        w.start()
    qtbot.waitUntil(lambda: len(dialogs.texts("warning")) == 2 or w.trainer.iteration > 50, timeout=10_000)
    wait_parked(w, qtbot) if len(dialogs.texts("warning")) == 2 else w.pause()
    assert finite(w.trainer)
    # Reset, then the lower learning rate trains.
    with within(what="reset"):
        w.reset_model()
    w.start()
    wait_iterations(w, qtbot, 50)
    with within(what="pause"):
        w.pause()
    assert finite(w.trainer) and w.trainer.learning_rate == 0.05 and w.trainer.diverged is None


def test_an_engine_exception_mid_run_is_shown_ends_the_thread_and_the_app_recovers(window, qtbot, dialogs,
                                                                                    monkeypatch, capsys):
    fail_step_at(20, RuntimeError("injected engine fault"), monkeypatch)
    w = window
    w.start()
    qtbot.waitUntil(lambda: bool(dialogs.texts("warning")), timeout=10_000)
    (message,) = dialogs.texts("warning")
    assert "RuntimeError: injected engine fault" in message
    qtbot.waitUntil(lambda: not w.worker.thread_running, timeout=LIMIT * 1000)
    assert w.state == "paused" and w.trainer.iteration == 19 and finite(w.trainer)
    assert training_threads() == []
    # Reset, then Start trains a new model.
    with within(what="reset"):
        w.reset_model()
    assert w.trainer is None
    w.start()
    wait_iterations(w, qtbot, 30)
    w.pause()
    assert len(dialogs.texts("warning")) == 1
    assert "injected engine fault" in capsys.readouterr().err  # the traceback went to stderr, not a dialog


def test_after_an_engine_exception_start_resumes_the_kept_model(window, qtbot, dialogs, monkeypatch, capsys):
    fail_step_at(10, FloatingPointError("overflow in a kernel"), monkeypatch)
    w = window
    w.start()
    qtbot.waitUntil(lambda: bool(dialogs.texts("warning")), timeout=10_000)
    trainer = w.trainer
    w.start()  # "the model is kept; ... try again"
    wait_iterations(w, qtbot, 40)
    w.pause()
    assert w.trainer is trainer and finite(trainer)
    capsys.readouterr()


# --- thread life ------------------------------------------------------------------------------


@pytest.mark.slow
def test_closing_the_window_mid_training_fifty_times(qtbot, dialogs, small_builtin):
    from charrnn_gui import MainWindow

    for i in range(50):
        w = MainWindow(restore_last_corpus=False)
        w.show()
        use_small_settings(w)
        w.start()
        wait_iterations(w, qtbot, 5)
        assert w.state == "running"
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
    assert w.is_loading
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
    assert w.state == "running"
    before = w.trainer.iteration
    wait_iterations(w, qtbot, before + 20)  # still training after all that
    w.pause()
    assert w.state == "paused" and finite(w.trainer) and w.worker.thread_running
    assert len(training_threads()) == 1


def test_step_five_hundred_times_trains_five_hundred_iterations(window, qtbot):
    w = window
    for i in range(500):
        with within(what=f"step #{i}"):
            w.step_once()
            qtbot.waitUntil(lambda: w.trainer.iteration == i + 1, timeout=LIMIT * 1000)
    wait_parked(w, qtbot)
    assert w.trainer.iteration == 500 and w.state == "paused" and len(training_threads()) == 1


def test_pressing_step_faster_than_it_trains_never_hangs(window, qtbot):
    w = window
    w.step_once()
    qtbot.waitUntil(lambda: w.trainer is not None and w.trainer.iteration >= 1, timeout=10_000)
    with within(what="500 quick steps"):
        for _ in range(500):
            w.step_once()
    wait_parked(w, qtbot)
    assert 1 < w.trainer.iteration <= 501 and w.state == "paused"


# Was a defect (fixed in 613f103): step(n) replaced a pending budget, so quick presses were lost.
def test_every_press_of_step_trains_one_iteration_even_when_pressed_quickly(window, qtbot):
    w = window
    w.step_once()
    qtbot.waitUntil(lambda: w.trainer is not None and w.trainer.iteration >= 1, timeout=10_000)
    wait_parked(w, qtbot)
    for _ in range(100):  # faster than the worker trains (key auto-repeat on a big model does the same)
        w.step_once()
    qtbot.wait(500)
    wait_parked(w, qtbot)
    assert w.trainer.iteration == 101


def test_reset_while_running_stops_the_thread_and_start_works_again(window, qtbot, dialogs):
    w = window
    for round_ in range(5):
        w.start()
        wait_iterations(w, qtbot, 10)
        assert w.state == "running"
        with within(what="reset while running"):
            w.reset_model()
        assert w.trainer is None and w.state == "idle" and training_threads() == []
    assert len(dialogs.questions) == 5


def test_saving_repeatedly_while_training_gives_consistent_snapshots(window, qtbot, dialogs, tmp_path):
    w = window
    w.start()
    wait_iterations(w, qtbot, 5)
    for i in range(20):
        path = tmp_path / f"snap{i}.npz"
        with within(what="save while training"):
            assert w.save_checkpoint(path=str(path))
        assert w.state == "running"
        ckpt = core.load_checkpoint(path)
        assert ckpt.iteration == w.saved_iteration
        # The loss history saved with it ends exactly at the saved iteration.
        its = ckpt.extras["loss_iter"]
        assert len(its) == ckpt.iteration and (len(its) == 0 or its[-1] == ckpt.iteration)
        resumed = core.restore_trainer(ckpt, w.corpus.data, w.corpus.vocab)
        assert resumed.iteration == ckpt.iteration and finite(resumed)
        qtbot.wait(20)
    w.pause()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".charrnn-")]
