"""A user's whole journey through the app, and closing it safely."""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QFileDialog, QMessageBox

import core

from .helpers import use_small_settings, wait_iterations


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
    qtbot.waitUntil(lambda: not window.is_loading, timeout=10_000)
    assert asked == ["Text files (*.txt);;All files (*)"]
    assert window.corpus.name == "small.txt"
    assert window.corpus_panel.vocab_label.text().startswith(f"{len(window.corpus.vocab)} ")

    # Start: samples appear.
    start = window.start_pause_action
    start.trigger()
    assert window.state == "running" and start.text() == "Pause"
    qtbot.waitUntil(lambda: len(window.samples_panel.records) >= 3, timeout=15_000)
    wait_iterations(window, qtbot, 100)

    # Pause: the count stops.
    start.trigger()
    assert window.state == "paused" and start.text() == "Resume"
    qtbot.wait(100)
    stopped_at = window.trainer.iteration
    qtbot.wait(300)
    assert window.trainer.iteration == stopped_at
    window.refresh_now()
    assert f"Iteration {stopped_at}" == window.iteration_label.text()

    # Sample now, on the paused weights, without disturbing training.
    params_before = {k: v.copy() for k, v in window.trainer.params.items()}
    hidden_before = window.trainer.hidden.copy()
    window.samples_panel.prime_edit.setText("The ")
    window.samples_panel.length_spin.setValue(50)
    window.samples_panel.sample_button.click()
    probe = window.samples_panel.records[-1]
    assert probe.kind == "sample now" and probe.text.startswith("The ") and len(probe.text) == 54
    assert window.heatmap.hidden.shape == (54, 16)
    assert all(np.array_equal(params_before[k], window.trainer.params[k]) for k in params_before)
    assert np.array_equal(hidden_before, window.trainer.hidden)
    assert window.trainer.iteration == stopped_at

    # Resume, then save (Ctrl+S asks for a path the first time).
    start.trigger()
    wait_iterations(window, qtbot, stopped_at + 50)
    start.trigger()
    qtbot.waitUntil(lambda: not window.worker.is_running, timeout=5000)
    qtbot.wait(100)
    window.refresh_now()
    ckpt_path = tmp_path / "model.npz"
    dialogs.save_paths.append(str(ckpt_path))
    window.findChild(type(start), "saveCheckpointAction").trigger()
    assert ckpt_path.exists()
    saved_iteration = window.trainer.iteration
    assert window.saved_iteration == saved_iteration and not window.has_unsaved_progress
    curve_before = window.loss_panel.history.iterations.view.copy()
    assert curve_before[-1] == saved_iteration

    # Reset, then open the checkpoint: the iteration count and the curves continue exactly.
    window.reset_action.trigger()
    assert window.trainer is None and len(window.loss_panel.history) == 0
    answers.append(str(ckpt_path))
    window.open_checkpoint_action.trigger()
    assert asked[-1] == "charrnn checkpoints (*.npz);;All files (*)"
    assert window.trainer.iteration == saved_iteration
    assert np.array_equal(window.loss_panel.history.iterations.view, curve_before)
    assert window.iteration_label.text() == f"Iteration {saved_iteration}"
    assert window.start_pause_action.text() == "Resume"
    start.trigger()
    wait_iterations(window, qtbot, saved_iteration + 30)
    qtbot.waitUntil(lambda: len(window.loss_panel.history) > len(curve_before), timeout=5000)
    its = window.loss_panel.history.iterations.view
    assert np.array_equal(its, np.arange(1, len(its) + 1)), "the curve continues without a gap or repeat"

    # Close while running: asks Save/Discard/Cancel (we discard), stops and joins the thread.
    worker = window.worker
    window.close()
    assert dialogs.questions and "Save" in dialogs.questions[-1][0]
    assert not worker.thread_running
    assert window.worker is None
    assert not dialogs.texts("warning"), dialogs.messages


def test_checkpoint_resume_continues_exactly_like_uninterrupted_training(make_window, qtbot, dialogs,
                                                                         small_corpus_file, tmp_path):
    window = make_window()
    window.open_corpus_path(str(small_corpus_file))
    qtbot.waitUntil(lambda: not window.is_loading, timeout=10_000)
    window.step_once()
    qtbot.waitUntil(lambda: window.trainer is not None and window.trainer.iteration == 1, timeout=5000)
    window.worker.step(39)
    qtbot.waitUntil(lambda: window.trainer.iteration == 40 and not window.worker.is_running, timeout=5000)
    path = tmp_path / "forty.npz"
    assert window.save_checkpoint(path=str(path))
    window.worker.step(10)
    qtbot.waitUntil(lambda: window.trainer.iteration == 50 and not window.worker.is_running, timeout=5000)
    qtbot.waitUntil(lambda: len(window.loss_panel.history) == 50, timeout=5000)
    expected = window.loss_panel.history.loss.view.copy()

    window.open_checkpoint(path=str(path))  # asks to discard the 10 unsaved iterations: Yes
    assert window.trainer.iteration == 40
    window.worker.step(10)
    qtbot.waitUntil(lambda: len(window.loss_panel.history) == 50, timeout=5000)
    np.testing.assert_allclose(window.loss_panel.history.loss.view, expected, rtol=0, atol=1e-12)


def test_close_with_unsaved_progress_can_be_cancelled(make_window, qtbot, dialogs, small_corpus_file):
    window = make_window()
    window.open_corpus_path(str(small_corpus_file))
    qtbot.waitUntil(lambda: not window.is_loading, timeout=10_000)
    window.start()
    wait_iterations(window, qtbot, 20)
    dialogs.answer = QMessageBox.StandardButton.Cancel
    window.close()
    assert window.isVisible()
    assert window.state == "running" and window.worker.thread_running  # training goes on
    dialogs.answer = QMessageBox.StandardButton.Discard
    window.close()
    assert not window.isVisible()
    assert window.worker is None


def test_close_with_save_writes_a_checkpoint_first(make_window, qtbot, dialogs, small_corpus_file, tmp_path):
    window = make_window()
    window.open_corpus_path(str(small_corpus_file))
    qtbot.waitUntil(lambda: not window.is_loading, timeout=10_000)
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
    qtbot.waitUntil(lambda: not window.is_loading, timeout=10_000)
    window.start()
    wait_iterations(window, qtbot, 200)
    path = tmp_path / "live.npz"
    assert window.save_checkpoint(path=str(path))
    assert window.state == "running" and window.worker.is_running  # training resumed after the save
    ckpt = core.load_checkpoint(path)
    its = ckpt.extras["loss_iter"]
    assert len(its) == ckpt.iteration and its[-1] == ckpt.iteration  # history and weights from one moment
    trainer = core.restore_trainer(ckpt, window.corpus.data, window.corpus.vocab)
    assert trainer.iteration == ckpt.iteration
    wait_iterations(window, qtbot, ckpt.iteration + 20)


def test_small_settings_train_quickly(make_window, qtbot, small_corpus_file):
    window = make_window()
    use_small_settings(window, batch_size=2)
    window.open_corpus_path(str(small_corpus_file))
    qtbot.waitUntil(lambda: not window.is_loading, timeout=10_000)
    window.start()
    wait_iterations(window, qtbot, 300)
    window.pause()
    assert window.trainer.config.batch_size == 2


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
    assert window.is_loading
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
    qtbot.waitUntil(lambda: not window.is_loading, timeout=10_000)
    window.step_once()
    qtbot.waitUntil(lambda: window.trainer is not None and window.trainer.iteration == 1, timeout=5000)
    window.worker.step(24)
    qtbot.waitUntil(lambda: window.trainer.iteration == 25 and not window.worker.is_running, timeout=5000)
    path = tmp_path / "small-25.npz"
    assert window.save_checkpoint(path=str(path))
    window.open_builtin("python-docs")  # the model is saved, so no question
    qtbot.waitUntil(lambda: not window.is_loading, timeout=10_000)
    assert window.corpus.name == "python-docs" and window.trainer is None

    window.open_checkpoint(path=str(path))  # trained on small.txt: that text is opened again first
    qtbot.waitUntil(lambda: not window.is_loading and window.trainer is not None, timeout=10_000)
    assert window.corpus.name == "small.txt" and window.trainer.iteration == 25
    assert len(window.loss_panel.history) == 25 and not dialogs.texts("warning")


def test_a_checkpoint_that_is_not_one_is_refused_with_a_message(make_window, qtbot, dialogs, small_corpus_file):
    window = make_window()
    window.open_checkpoint(path=str(small_corpus_file))
    assert dialogs.texts("warning") == ["small.txt is not a charrnn checkpoint (not an .npz file)"]
    assert window.trainer is None and window.corpus.name == "shakespeare"
