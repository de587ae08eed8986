"""A user's whole journey through the app, and closing it safely."""

from __future__ import annotations

import os

import numpy as np
from PySide6.QtWidgets import QFileDialog, QMessageBox

import core

from .helpers import use_small_settings, wait_iterations


def engine_exited(pid) -> bool:
    """Whether the engine process pid is gone (ended and reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def engine_iteration(window, qtbot) -> int:
    """The iteration count the engine itself reports (core.engine.EngineStatus), once it has opened."""
    qtbot.waitUntil(lambda: window.session.client.info is not None, timeout=10_000)
    answer = window.session.client.status()
    assert answer.ok, answer.error
    return answer.value.iteration


def engine_state(window) -> str:
    """The engine's own state now (core.engine's idle, running or stopped)."""
    answer = window.session.client.status()
    assert answer.ok, answer.error
    return answer.value.state


def step_and_wait(window, qtbot, n: int) -> None:
    """Train n iterations (the engine's Step) and wait until it has paused after them."""
    target = window.session.iteration + n
    with qtbot.waitSignal(window.session.client.paused, timeout=10_000):
        window.session.step(n)
    qtbot.waitUntil(lambda: window.session.iteration == target and window.session.state == "paused", timeout=5000)


def first_step(window, qtbot) -> None:
    """Step once with no model yet (the model and its engine are made for it); wait until it has paused."""
    window.step_once()
    qtbot.waitUntil(lambda: window.session.has_model and window.session.iteration == 1 and
                    window.session.client.state == "idle", timeout=10_000)


def test_open_train_pause_sample_resume_save_reopen_and_close(make_window, qtbot, dialogs, monkeypatch,
                                                              small_corpus_file, tmp_path):
    window = make_window()
    # File → Open through the standard dialog (patched so it returns our file without blocking).
    asked, answers = [], [str(small_corpus_file)]

    def fake_open(parent, caption, directory, filter, *a, **k):
        asked.append(filter)
        return answers.pop(0), filter.split(";;")[0]

    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(fake_open))
    window.findChild(type(window.open_corpus_action), "openCorpusAction").trigger()
    qtbot.waitUntil(lambda: not window.session.is_loading, timeout=10_000)
    assert asked == ["Text files (*.txt);;All files (*)"]
    assert window.session.corpus.name == "small.txt"
    assert window.corpus_panel.vocab_label.text().startswith(f"{len(window.session.corpus.vocab)} ")

    # Start: samples appear.
    start = window.start_pause_action
    start.trigger()
    assert window.session.state == "running" and start.text() == "Pause"
    qtbot.waitUntil(lambda: len(window.samples_panel.records) >= 3, timeout=15_000)
    wait_iterations(window, qtbot, 100)

    # Pause: the count stops.
    start.trigger()
    assert window.session.state == "paused" and start.text() == "Resume"
    qtbot.wait(100)
    stopped_at = window.session.iteration
    assert engine_iteration(window, qtbot) == stopped_at  # the pause delivered every iteration trained before it
    qtbot.wait(300)
    assert window.session.iteration == stopped_at and engine_iteration(window, qtbot) == stopped_at
    window.refresh_now()
    assert f"Iteration {stopped_at}" == window.iteration_label.text()

    # Sample now, on the paused weights, without disturbing training.
    before = window.session.peek()  # the engine's weights, carried hidden state and next window, copied
    assert before.iteration == stopped_at
    window.samples_panel.prime_edit.setText("The ")
    window.samples_panel.length_spin.setValue(50)
    window.samples_panel.sample_button.click()
    probe = window.samples_panel.records[-1]
    assert probe.kind == "sample now" and probe.text.startswith("The ") and len(probe.text) == 54
    assert window.heatmap.hidden.shape == (54, 16)
    after = window.session.peek()
    assert set(after.params) == set(before.params)
    assert all(np.array_equal(before.params[k], after.params[k]) for k in before.params)
    assert np.array_equal(before.state0, after.state0)
    assert np.array_equal(before.ids, after.ids) and np.array_equal(before.targets, after.targets)
    assert after.iteration == stopped_at and window.session.iteration == stopped_at

    # Resume, then save (Ctrl+S asks for a path the first time).
    start.trigger()
    wait_iterations(window, qtbot, stopped_at + 50)
    start.trigger()
    assert window.session.state == "paused" and engine_state(window) == "idle"
    qtbot.wait(100)
    window.refresh_now()
    ckpt_path = tmp_path / "model.npz"
    dialogs.save_paths.append(str(ckpt_path))
    window.findChild(type(start), "saveCheckpointAction").trigger()
    assert ckpt_path.exists()
    saved_iteration = window.session.iteration
    assert engine_iteration(window, qtbot) == saved_iteration
    assert window.session.saved_iteration == saved_iteration and not window.session.has_unsaved_progress
    curve_before = window.loss_panel.history.iterations.view.copy()
    assert curve_before[-1] == saved_iteration

    # Reset, then open the checkpoint: the iteration count and the curves continue exactly.
    old_engine = window.session.client.pid
    window.reset_action.trigger()
    assert window.session.client is None and not window.session.has_model and len(window.loss_panel.history) == 0
    assert engine_exited(old_engine)
    answers.append(str(ckpt_path))
    window.open_checkpoint_action.trigger()
    assert asked[-1] == "charrnn checkpoints (*.npz);;All files (*)"
    assert window.session.iteration == saved_iteration
    assert engine_iteration(window, qtbot) == saved_iteration  # the engine opened the checkpoint's weights
    assert np.array_equal(window.loss_panel.history.iterations.view, curve_before)
    assert window.iteration_label.text() == f"Iteration {saved_iteration}"
    assert window.start_pause_action.text() == "Resume"
    start.trigger()
    wait_iterations(window, qtbot, saved_iteration + 30)
    qtbot.waitUntil(lambda: len(window.loss_panel.history) > len(curve_before), timeout=5000)
    its = window.loss_panel.history.iterations.view
    assert np.array_equal(its, np.arange(1, len(its) + 1)), "the curve continues without a gap or repeat"

    # Close while running: asks Save/Discard/Cancel (we discard), ends the engine process.
    engine = window.session.client.pid
    window.close()
    assert dialogs.questions and "Save" in dialogs.questions[-1][0]
    assert engine_exited(engine)
    assert window.session.client is None
    assert not dialogs.texts("warning"), dialogs.messages


def test_checkpoint_resume_continues_exactly_like_uninterrupted_training(make_window, qtbot, dialogs,
                                                                         small_corpus_file, tmp_path):
    window = make_window()
    window.open_corpus_path(str(small_corpus_file))
    qtbot.waitUntil(lambda: not window.session.is_loading, timeout=10_000)
    first_step(window, qtbot)
    step_and_wait(window, qtbot, 39)
    assert window.session.iteration == 40
    path = tmp_path / "forty.npz"
    assert window.save_checkpoint(path=str(path))
    step_and_wait(window, qtbot, 10)
    qtbot.waitUntil(lambda: len(window.loss_panel.history) == 50, timeout=5000)
    expected = window.loss_panel.history.loss.view.copy()

    window.open_checkpoint(path=str(path))  # asks to discard the 10 unsaved iterations: Yes
    assert window.session.iteration == 40 and engine_iteration(window, qtbot) == 40
    window.session.step(10)
    qtbot.waitUntil(lambda: len(window.loss_panel.history) == 50, timeout=5000)
    np.testing.assert_allclose(window.loss_panel.history.loss.view, expected, rtol=0, atol=1e-12)


def test_close_with_unsaved_progress_can_be_cancelled(make_window, qtbot, dialogs, small_corpus_file):
    window = make_window()
    window.open_corpus_path(str(small_corpus_file))
    qtbot.waitUntil(lambda: not window.session.is_loading, timeout=10_000)
    window.start()
    wait_iterations(window, qtbot, 20)
    dialogs.answer = QMessageBox.StandardButton.Cancel
    window.close()
    assert window.isVisible()
    engine = window.session.client.pid
    assert window.session.state == "running" and engine_state(window) == "running"  # training goes on
    going_on = window.session.iteration
    wait_iterations(window, qtbot, going_on + 10)
    dialogs.answer = QMessageBox.StandardButton.Discard
    window.close()
    assert not window.isVisible()
    assert window.session.client is None and engine_exited(engine)


def test_close_with_save_writes_a_checkpoint_first(make_window, qtbot, dialogs, small_corpus_file, tmp_path):
    window = make_window()
    window.open_corpus_path(str(small_corpus_file))
    qtbot.waitUntil(lambda: not window.session.is_loading, timeout=10_000)
    window.start()
    wait_iterations(window, qtbot, 20)
    dialogs.answer = QMessageBox.StandardButton.Save
    dialogs.save_paths.append(str(tmp_path / "on-close.npz"))
    window.close()
    ckpt = core.load_checkpoint(tmp_path / "on-close.npz")
    assert ckpt.iteration >= 20
    assert len(ckpt.extras["loss_iter"]) == ckpt.iteration


def test_save_while_training_is_a_consistent_snapshot(make_window, qtbot, dialogs, small_corpus_file, tmp_path):
    window = make_window()
    window.open_corpus_path(str(small_corpus_file))
    qtbot.waitUntil(lambda: not window.session.is_loading, timeout=10_000)
    window.start()
    wait_iterations(window, qtbot, 200)
    path = tmp_path / "live.npz"
    assert window.save_checkpoint(path=str(path))
    assert window.session.state == "running" and engine_state(window) == "running"  # training goes on after the save
    ckpt = core.load_checkpoint(path)
    its = ckpt.extras["loss_iter"]
    assert len(its) == ckpt.iteration and its[-1] == ckpt.iteration  # history and weights from one moment
    trainer = core.restore_trainer(ckpt, window.session.corpus.data, window.session.corpus.vocab)
    assert trainer.iteration == ckpt.iteration
    wait_iterations(window, qtbot, ckpt.iteration + 20)


def test_small_settings_train_quickly(make_window, qtbot, small_corpus_file):
    window = make_window()
    use_small_settings(window, batch_size=2)
    window.open_corpus_path(str(small_corpus_file))
    qtbot.waitUntil(lambda: not window.session.is_loading, timeout=10_000)
    window.start()
    wait_iterations(window, qtbot, 300)
    window.pause()
    assert window.session.model.config.batch_size == 2
    assert window.session.client.info["config"]["batch_size"] == 2  # what the engine trains
    assert window.session.peek().streams == 2


def test_closing_while_a_corpus_load_is_stalled_does_not_hang(make_window, qtbot, monkeypatch, small_corpus_file):
    import threading

    release, returned = threading.Event(), threading.Event()
    real_load = core.load_corpus

    def stalled(path):  # a stalled network share: stuck until the test lets it go
        release.wait(60)
        returned.set()
        return real_load(path)

    monkeypatch.setattr(core, "load_corpus", stalled)
    window = make_window()
    window.open_corpus_path(str(small_corpus_file))
    assert window.session.is_loading
    try:
        window.close()
        closed_while_stalled = not returned.is_set()  # close() came back with the load still stuck in its read
    finally:
        release.set()  # the abandoned load then ends on its own; the thread fixture joins it
    assert closed_while_stalled and not window.isVisible()


def test_opening_a_checkpoint_reopens_the_text_it_was_trained_on(make_window, qtbot, dialogs, small_corpus_file,
                                                                 tmp_path):
    window = make_window()
    window.open_corpus_path(str(small_corpus_file))
    qtbot.waitUntil(lambda: not window.session.is_loading, timeout=10_000)
    first_step(window, qtbot)
    step_and_wait(window, qtbot, 24)
    path = tmp_path / "small-25.npz"
    assert window.save_checkpoint(path=str(path))
    window.open_builtin("python-docs")  # the model is saved, so no question
    qtbot.waitUntil(lambda: not window.session.is_loading, timeout=10_000)
    assert window.session.corpus.name == "python-docs" and not window.session.has_model and window.session.client is None

    window.open_checkpoint(path=str(path))  # trained on small.txt: that text is opened again first
    qtbot.waitUntil(lambda: not window.session.is_loading and window.session.has_model, timeout=10_000)
    assert window.session.corpus.name == "small.txt" and window.session.iteration == 25 and engine_iteration(window, qtbot) == 25
    assert len(window.loss_panel.history) == 25 and not dialogs.texts("warning")


def test_a_checkpoint_that_is_not_one_is_refused_with_a_message(make_window, qtbot, dialogs, small_corpus_file):
    window = make_window()
    window.open_checkpoint(path=str(small_corpus_file))
    assert dialogs.texts("warning") == ["small.txt is not a charrnn checkpoint (not an .npz file)"]
    assert not window.session.has_model and window.session.client is None and window.session.corpus.name == "shakespeare"
