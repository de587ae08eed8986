"""A learning rate far too high: training diverges, pauses itself and explains; the app stays usable."""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QMessageBox


def engine_status(window):
    """What the engine itself says now (core.engine.EngineStatus)."""
    answer = window.session.client.status()
    assert answer.ok, answer.error
    return answer.value


def diverge_by_raising_the_learning_rate(window, qtbot, dialogs, small_corpus_file):
    """Train a little at the preset's rate, then set 1000 live: training diverges and pauses itself."""
    window.open_corpus_path(str(small_corpus_file))
    qtbot.waitUntil(lambda: not window.session.is_loading, timeout=10_000)
    window.start()
    qtbot.waitUntil(lambda: window.session.iteration >= 30, timeout=10_000)
    window.settings_panel.lr_spin.setValue(1e3)  # through the settings, applied live
    qtbot.waitUntil(lambda: window.session.state == "paused", timeout=10_000)
    qtbot.waitUntil(lambda: bool(dialogs.questions), timeout=5000)


def test_a_huge_learning_rate_diverges_and_auto_pauses_with_a_message(make_window, qtbot, dialogs,
                                                                      small_corpus_file):
    window = make_window()
    dialogs.answer = QMessageBox.StandardButton.No  # keep the last finite weights
    diverge_by_raising_the_learning_rate(window, qtbot, dialogs, small_corpus_file)
    assert window.start_pause_action.text() == "Resume"
    ((title, message),) = dialogs.questions
    assert title == "Training diverged"
    assert "diverged" in message and "learning rate 1000" in message and "from 0.1 to 1000" in message
    _, weights = window.session.weights()
    assert weights and all(np.isfinite(v).all() for v in weights.values())  # the last finite weights are kept
    status = engine_status(window)
    assert status.learning_rate == 1e3 and status.live["learning_rate"] == 1e3 and status.diverged
    assert window.session.client.running and status.state == "idle"  # the engine waits, paused
    assert window.state_label.text() == "Paused"
    assert all(np.isfinite(window.loss_panel.history.loss.view))  # the non-finite loss is not plotted

    # Resuming from the kept weights may diverge again (one step at 1000 wrecks them): it says so again.
    window.settings_panel.lr_spin.setValue(0.05)
    window.start()
    qtbot.waitUntil(lambda: window.session.state == "paused" or window.session.iteration > 60, timeout=10_000)
    window.pause()

    # Reset gives new weights, and training at a sensible rate goes on: the app stays usable.
    dialogs.answer = None  # Yes, reset
    window.reset_action.trigger()
    assert not window.session.has_model and window.session.client is None
    window.start()
    qtbot.waitUntil(lambda: window.session.iteration >= 50, timeout=10_000)
    window.pause()
    status = engine_status(window)
    assert status.diverged is None and status.learning_rate == 0.05 and status.live["learning_rate"] == 0.05


def test_after_a_divergence_the_weights_from_before_the_rate_change_can_be_restored(make_window, qtbot, dialogs,
                                                                                    monkeypatch, small_corpus_file):
    window = make_window()
    restored = []  # what the window's Yes restored (core.engine.RestoreInfo), to compare the loss with
    restore = window.session.restore_before_divergence
    monkeypatch.setattr(window.session, "restore_before_divergence", lambda: restored.append(restore()) or restored[-1])
    diverge_by_raising_the_learning_rate(window, qtbot, dialogs, small_corpus_file)  # answered Yes
    assert len(dialogs.questions) == 1 and not dialogs.texts("warning")
    (point,) = restored
    assert point is not None and point.learning_rate == 0.1 and point.new_learning_rate == 1e3
    status = engine_status(window)
    assert status.diverged is None and status.learning_rate == 0.1 and status.live["learning_rate"] == 0.1
    assert status.restore_point is None and not status.has_restore_point
    assert window.settings_panel.lr_spin.value() == 0.1  # the settings show the rate in use again
    assert "Restored the weights from iteration" in window.statusBar().currentMessage()
    smooth = point.smooth_loss
    stopped = window.session.iteration
    window.start()
    qtbot.waitUntil(lambda: window.session.iteration >= stopped + 50, timeout=10_000)
    window.pause()
    assert engine_status(window).diverged is None and window.session.diverged_reason is None
    latest = window.session.last_progress.smooth_loss[-1]
    assert np.isfinite(latest) and latest < smooth * 1.05
