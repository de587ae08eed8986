"""The training worker on its own: signals, batching, pause/step/stop flags, errors, no dangling thread."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PySide6.QtCore import QObject, Slot

import core
from charrnn_gui.worker import EMIT_INTERVAL, TrainingWorker, registered_threads, running_threads, stop_all_threads

from .helpers import SMALL_TEXT


def make_trainer(**overrides):
    corpus = core.corpus_from_text(SMALL_TEXT * 30, name="small")
    settings = dict(hidden_size=16, seq_length=16, sample_every=25, sample_length=30)
    settings.update(overrides)
    cfg = core.PRESETS["min-char-rnn"].replace(**settings)
    return core.Trainer.from_corpus(corpus, cfg)


class Recorder(QObject):
    """Bound slots on a GUI-thread QObject, as the app connects them."""

    def __init__(self):
        super().__init__()
        self.progress, self.samples, self.diverged, self.failed, self.paused = [], [], [], [], []
        self.sample_deliveries = 0
        self.finished = 0
        self.times = []

    def listen_to(self, worker) -> "Recorder":
        """Connect every signal of the worker to this recorder."""
        worker.progressed.connect(self.on_progressed)
        worker.sampled.connect(self.on_sampled)
        worker.diverged.connect(self.on_diverged)
        worker.failed.connect(self.on_failed)
        worker.paused.connect(self.on_paused)
        worker.finished.connect(self.on_finished)
        return self

    @Slot(object)
    def on_progressed(self, p):
        self.progress.append(p)
        self.times.append(time.perf_counter())

    @Slot(object)
    def on_sampled(self, samples):
        self.samples.extend(samples)
        self.sample_deliveries += 1

    @Slot(str)
    def on_diverged(self, reason):
        self.diverged.append(reason)

    @Slot(str)
    def on_failed(self, message):
        self.failed.append(message)

    @Slot(int)
    def on_paused(self, iteration):
        self.paused.append(iteration)

    @Slot()
    def on_finished(self):
        self.finished += 1


@pytest.fixture
def worker_and_recorder():
    made = []

    def make(trainer=None):
        w = TrainingWorker(trainer or make_trainer())
        r = Recorder().listen_to(w)
        made.append(w)
        w.start()
        return w, r

    yield make
    for w in made:
        assert w.stop(10.0)


def test_progress_arrives_in_batches_of_fresh_arrays_and_samples_in_order(worker_and_recorder, qtbot):
    w, r = worker_and_recorder()
    w.resume()
    qtbot.waitUntil(lambda: w.trainer.iteration >= 400 and len(r.samples) >= 5, timeout=15_000)
    w.pause()
    qtbot.waitUntil(lambda: len(r.paused) == 1, timeout=5000)
    its = np.concatenate([p.iterations for p in r.progress])
    assert np.array_equal(its, np.arange(1, len(its) + 1))  # every iteration exactly once, in order
    assert its[-1] == w.trainer.iteration == r.paused[0]
    assert len(r.progress) < len(its) / 5  # batched, not one signal per iteration
    for p in r.progress:
        assert p.iterations.flags.owndata and p.loss_per_char.flags.owndata and p.smooth_loss.flags.owndata
        assert len(p.iterations) == len(p.loss_per_char) == len(p.smooth_loss)
    assert [s.iteration for s in r.samples] == list(range(0, 25 * len(r.samples), 25))
    assert all(s.hidden.shape == (30, 16) and len(s.text) == 30 for s in r.samples)


def test_samples_drawn_between_two_emits_arrive_in_one_signal(worker_and_recorder, qtbot):
    w, r = worker_and_recorder(make_trainer(sample_every=2))  # many samples per emit
    w.resume()
    qtbot.waitUntil(lambda: len(r.samples) >= 100, timeout=15_000)
    w.pause()
    qtbot.waitUntil(lambda: len(r.paused) == 1, timeout=5000)
    assert [s.iteration for s in r.samples] == list(range(0, 2 * len(r.samples), 2))  # each once, in order
    # One delivery per emit, never one per sample: at most one per progress (plus the one at the pause).
    assert r.sample_deliveries <= len(r.progress) + 1 < len(r.samples) / 4


def test_progress_is_emitted_at_most_once_per_emit_interval(worker_and_recorder, qtbot):
    # Each progress carries the training time at which the worker sent it (elapsed): consecutive ones are at least
    # EMIT_INTERVAL apart by the worker's own clock, however late the GUI thread receives them on a busy machine.
    w, r = worker_and_recorder()
    w.resume()
    qtbot.waitUntil(lambda: len(r.progress) >= 6, timeout=30_000)
    w.pause()
    qtbot.waitUntil(lambda: len(r.paused) == 1, timeout=10_000)
    sent = [p.elapsed for p in r.progress[:-1]]  # the last one is the flush on pausing
    assert len(sent) >= 5 and np.diff(sent).min() >= EMIT_INTERVAL - 1e-6, np.diff(sent)


def test_pause_stops_iteration_count(worker_and_recorder, qtbot):
    w, r = worker_and_recorder()
    w.resume()
    qtbot.waitUntil(lambda: w.trainer.iteration >= 50, timeout=10_000)
    w.pause()
    qtbot.waitUntil(lambda: len(r.paused) == 1, timeout=5000)
    stopped = w.trainer.iteration
    qtbot.wait(200)
    assert w.trainer.iteration == stopped
    assert len(w.pause_latencies) == 1  # the pause was counted (how long it takes: scripts/measure_gui.py)
    w.resume()
    qtbot.waitUntil(lambda: w.trainer.iteration > stopped + 20, timeout=10_000)


def test_step_trains_exactly_the_requested_iterations_then_parks(worker_and_recorder, qtbot):
    w, r = worker_and_recorder()
    w.step(1)
    qtbot.waitUntil(lambda: r.paused == [1], timeout=5000)
    w.step(7)
    qtbot.waitUntil(lambda: r.paused == [1, 8], timeout=5000)
    qtbot.wait(100)
    assert w.trainer.iteration == 8 and not w.is_running


def test_hold_gives_an_idle_trainer_while_training_runs(worker_and_recorder, qtbot):
    w, r = worker_and_recorder()
    w.resume()
    qtbot.waitUntil(lambda: w.trainer.iteration >= 20, timeout=10_000)
    with w.hold() as trainer:
        before = trainer.iteration
        time.sleep(0.1)
        assert trainer.iteration == before
        assert len(w.history) == before  # the history agrees with the weights
    qtbot.waitUntil(lambda: w.trainer.iteration > before + 10, timeout=10_000)  # and training goes on


def test_live_settings_are_applied_between_steps(worker_and_recorder, qtbot):
    w, r = worker_and_recorder()
    w.set_live(learning_rate=0.05, temperature=0.7, sample_every=10, sample_length=12)
    w.step(1)
    qtbot.waitUntil(lambda: r.paused == [1], timeout=5000)
    t = w.trainer
    assert (t.learning_rate, t.temperature, t.sample_every, t.sample_length) == (0.05, 0.7, 10, 12)
    w.step(10)
    qtbot.waitUntil(lambda: len(r.samples) == 2, timeout=5000)
    assert len(r.samples[-1].text) == 12 and r.samples[-1].temperature == 0.7


def test_divergence_is_reported_and_training_parks(worker_and_recorder, qtbot):
    w, r = worker_and_recorder(make_trainer(learning_rate=1e3, optimizer="rmsprop"))
    w.resume()
    qtbot.waitUntil(lambda: bool(r.diverged and r.paused), timeout=15_000)
    assert "diverged" in r.diverged[0] and "learning rate" in r.diverged[0]
    assert not w.is_running and w.thread_running  # parked, not dead: the model can still be saved


class ExplodingTrainer:
    """A stand-in trainer whose step raises, as a bug in the engine would."""

    def __init__(self):
        real = make_trainer()
        self.config, self.iteration, self.epoch, self.chars_seen, self.learning_rate = real.config, 0, 0.0, 0, 0.1

    def set_live(self, **kw):
        pass

    def step(self):
        raise ZeroDivisionError("boom")


def test_an_engine_error_comes_back_as_a_failed_signal_and_ends_the_thread(worker_and_recorder, qtbot, capsys):
    w, r = worker_and_recorder(ExplodingTrainer())
    w.resume()
    qtbot.waitUntil(lambda: bool(r.failed) and r.finished == 1, timeout=5000)
    assert "ZeroDivisionError: boom" in r.failed[0]
    qtbot.waitUntil(lambda: not w.thread_running, timeout=5000)
    assert "boom" in capsys.readouterr().err  # the traceback is printed for bug reports


def test_stop_joins_the_thread_and_unregisters_it(qtbot):
    w = TrainingWorker(make_trainer())
    w.start()
    w.resume()
    qtbot.waitUntil(lambda: w.trainer.iteration > 5, timeout=10_000)
    assert w._thread in running_threads()
    assert w.stop(10.0)
    assert not w.thread_running
    assert w._thread not in registered_threads()


def test_stop_all_threads_names_threads_that_were_left_running(qtbot):
    w = TrainingWorker(make_trainer())
    w.start()
    assert stop_all_threads(10.0) == ["charrnn-training"]
    assert not w.thread_running and not running_threads()


def test_step_presses_that_arrive_while_stepping_add_up(worker_and_recorder, qtbot):
    w, r = worker_and_recorder()
    for _ in range(30):  # faster than it trains, like key auto-repeat
        w.step(1)
    qtbot.waitUntil(lambda: w.trainer.iteration == 30 and not w.is_running, timeout=10_000)
    qtbot.wait(100)
    assert w.trainer.iteration == 30


def test_worker_and_window_histories_agree_after_thinning(worker_and_recorder, qtbot):
    from charrnn_gui.history import LossHistory

    trainer = make_trainer(sample_every=0)
    w = TrainingWorker(trainer, LossHistory(16, max_points=32))
    r = Recorder()
    w.progressed.connect(r.on_progressed)
    w.start()
    try:
        w.step(700)
        qtbot.waitUntil(lambda: trainer.iteration == 700 and not w.is_running, timeout=15_000)
        qtbot.wait(200)
    finally:
        assert w.stop(10.0)
    mine = LossHistory(16, max_points=32)
    for p in r.progress:
        mine.extend(p)
    assert w.history.stride == mine.stride == 32 and len(mine) == 700 // 32
    assert np.array_equal(mine.iterations.view, w.history.iterations.view)
    assert np.array_equal(mine.loss.view, w.history.loss.view)
    assert r.progress[-1].iteration == 700  # the count reaches the GUI even when no row is kept


def test_training_runs_with_one_blas_thread_unless_told_otherwise(worker_and_recorder, qtbot, monkeypatch):
    from core.threads import blas_threads_in_use

    if not blas_threads_in_use():
        pytest.skip("NumPy here reports no BLAS library to limit")
    # A second worker after the first still gets its count; a malformed setting means the default.
    for setting, expected in (("", 1), ("2", 2), ("lots", 1)):
        monkeypatch.setenv("CHARRNN_BLAS_THREADS", setting)
        trainer = make_trainer()
        seen = []
        real_step = trainer.step

        def step(real_step=real_step, seen=seen):
            seen.append([lib["threads"] for lib in blas_threads_in_use()])
            return real_step()

        trainer.step = step
        w, r = worker_and_recorder(trainer)
        w.step(3)
        qtbot.waitUntil(lambda: len(r.paused) == 1, timeout=5000)
        assert seen and all(threads == [expected] * len(threads) for threads in seen), (setting, seen)
        assert w.stop(10.0)
