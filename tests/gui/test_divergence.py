"""A learning rate far too high: training diverges, pauses itself and explains; the app stays usable."""

from __future__ import annotations

import numpy as np


def test_a_huge_learning_rate_diverges_and_auto_pauses_with_a_message(make_window, qtbot, dialogs,
                                                                      small_corpus_file):
    window = make_window()
    window.open_corpus_path(str(small_corpus_file))
    qtbot.waitUntil(lambda: not window.is_loading, timeout=10_000)
    window.start()
    qtbot.waitUntil(lambda: window.trainer.iteration >= 30, timeout=10_000)
    good = {k: v.copy() for k, v in window.trainer.params.items()}
    window.settings_panel.lr_spin.setValue(1e3)  # through the settings, applied live
    qtbot.waitUntil(lambda: window.state == "paused", timeout=10_000)
    assert window.start_pause_action.text() == "Resume"
    qtbot.waitUntil(lambda: bool(dialogs.texts("warning")), timeout=5000)
    (message,) = dialogs.texts("warning")
    assert "diverged" in message and "learning rate 1000" in message and "Lower the learning rate" in message
    assert all(np.isfinite(v).all() for v in window.trainer.params.values())  # the last finite weights are kept
    assert window.worker.thread_running and window.state_label.text() == "Paused"
    assert all(np.isfinite(window.loss_panel.history.loss.view))  # the non-finite loss is not plotted

    # Resuming from the kept weights may diverge again (one step at 1000 wrecks them): it says so again.
    window.settings_panel.lr_spin.setValue(0.05)
    window.start()
    qtbot.waitUntil(lambda: window.state == "paused" or window.trainer.iteration > 60, timeout=10_000)
    window.pause()

    # Reset gives new weights, and training at a sensible rate goes on: the app stays usable.
    window.reset_action.trigger()
    assert window.trainer is None
    window.start()
    qtbot.waitUntil(lambda: window.trainer.iteration >= 50, timeout=10_000)
    window.pause()
    assert window.trainer.diverged is None and window.trainer.learning_rate == 0.05
    del good
