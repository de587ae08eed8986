"""Settings too big for memory are refused with a message, slow ones asked about, before a model exists."""

import pytest
from PySide6.QtWidgets import QMessageBox

import core
from core import budget

from .helpers import use_small_settings


def test_settings_too_big_for_memory_are_refused_with_a_message(make_window, dialogs):
    w = make_window()
    w.settings_panel.show_config(core.PRESETS["min-char-rnn"].replace(hidden_size=4096, seq_length=1000,
                                                                       batch_size=1024), "min-char-rnn")  # maxima
    cfg = w.settings_panel.config()
    if budget.physical_memory() > 2 * budget.step_cost(cfg, len(w.corpus.vocab)).total_bytes:
        pytest.skip("this machine has room even for the largest settings")
    w.start()  # raised MemoryError out of the slot before
    assert w.trainer is None and w.state == "idle" and w.worker is None
    ((kind, title, text),) = dialogs.messages
    assert (kind, title) == ("warning", "Cannot start training") and text.startswith("Not enough memory: ") and "smaller" in text
    use_small_settings(w)
    w.start()  # smaller settings train
    assert w.trainer is not None
    w.pause()


@pytest.mark.parametrize("answer, trains", [(QMessageBox.StandardButton.Cancel, False),
                                            (QMessageBox.StandardButton.Yes, True)], ids=["cancel", "yes"])
def test_slow_settings_are_asked_about_first(make_window, dialogs, monkeypatch, answer, trains):
    import charrnn_gui.affordable as affordable

    monkeypatch.setattr(affordable, "SLOW_STEP_SECONDS", 0.0)  # every step counts as slow
    w = make_window()
    dialogs.answer = answer
    w.step_once()
    ((title, text),) = dialogs.questions
    assert title == "Train with slow steps?" and "One training step with these settings takes about" in text
    assert (w.trainer is not None) == trains and dialogs.messages == []
    if trains:
        w.pause()


def test_a_memory_error_while_creating_the_model_is_a_message(make_window, dialogs, monkeypatch):
    w = make_window()

    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(core.Trainer, "from_corpus", classmethod(lambda cls, *a, **k: no_memory()))
    w.start()
    assert w.trainer is None and dialogs.texts("warning") and "not enough memory" in dialogs.texts("warning")[0]
