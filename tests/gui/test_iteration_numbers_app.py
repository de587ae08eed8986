"""The app counts iterations as the command line does: iteration N is the model after N completed updates."""

import core
from charrnn_gui import train_process
from core.config import PRESETS

from ..test_iteration_numbers import TEXT, poison_after


def test_a_divergence_message_status_bar_curve_and_samples_agree(make_window, qtbot, dialogs, monkeypatch):
    import charrnn_gui.corpus_actions as corpus_actions

    monkeypatch.setattr(corpus_actions, "load_builtin", lambda name: core.corpus_from_text(TEXT, name=name))
    poison_after(monkeypatch, 30)  # update 31 fails
    monkeypatch.setattr(train_process, "ENABLED", False)  # the poison is in this process: train in its thread
    w = make_window(small=False)
    w.settings_panel.show_config(PRESETS["min-char-rnn"].replace(hidden_size=8, seq_length=8, sample_every=10,
                                                                  sample_length=5), "min-char-rnn")
    w.start()
    qtbot.waitUntil(lambda: bool(dialogs.messages), timeout=10_000)
    w.refresh_now()
    ((kind, title, message),) = dialogs.messages
    assert title == "Training diverged" and "Training diverged at iteration 30:" in message
    assert "the weights of iteration 30 are kept" in message
    assert w.trainer.iteration == 30 and w.iteration_label.text() == "Iteration 30"
    assert w.loss_panel.history.iterations.view[-1] == 30
    assert [r.iteration for r in w.samples_panel.records] == [0, 10, 20, 30]
