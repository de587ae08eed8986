"""Settings too big for memory are refused with a message, slow ones asked about, before a model exists."""

import os

import pytest
from PySide6.QtWidgets import QMessageBox

import core
from core import budget

from .helpers import use_small_settings, wait_iterations

NO_MEMORY_IN_THE_ENGINE = '''
"""Loaded at the engine process's start (it is on its PYTHONPATH): the model cannot be allocated there."""
import core.trainer


def no_memory(cls, *args, **kwargs):
    raise MemoryError


core.trainer.Trainer.from_corpus = classmethod(no_memory)
'''


def test_settings_too_big_for_memory_are_refused_with_a_message(make_window, qtbot, dialogs):
    w = make_window()
    w.settings_panel.show_config(core.PRESETS["min-char-rnn"].replace(hidden_size=4096, seq_length=1000,
                                                                       batch_size=1024), "min-char-rnn")  # maxima
    cfg = w.settings_panel.config()
    if budget.physical_memory() > 2 * budget.step_cost(cfg, len(w.session.corpus.vocab)).total_bytes:
        pytest.skip("this machine has room even for the largest settings")
    w.start()  # raised MemoryError out of the slot before
    assert not w.session.has_model and w.session.state == "idle" and w.session.client is None  # no engine was started
    ((kind, title, text),) = dialogs.messages
    assert (kind, title) == ("warning", "Cannot start training") and text.startswith("Not enough memory: ") and "smaller" in text
    use_small_settings(w)
    w.start()  # smaller settings train
    assert w.session.has_model and w.session.client is not None
    wait_iterations(w, qtbot, 1)
    w.pause()


@pytest.mark.parametrize("answer, trains", [(QMessageBox.StandardButton.Cancel, False),
                                            (QMessageBox.StandardButton.Yes, True)], ids=["cancel", "yes"])
def test_slow_settings_are_asked_about_first(make_window, qtbot, dialogs, monkeypatch, answer, trains):
    import charrnn_gui.affordable as affordable

    monkeypatch.setattr(affordable, "SLOW_STEP_SECONDS", 0.0)  # every step counts as slow
    w = make_window()
    dialogs.answer = answer
    w.step_once()
    ((title, text),) = dialogs.questions
    assert title == "Train with slow steps?" and "One training step with these settings takes about" in text
    assert w.session.has_model == trains and (w.session.client is not None) == trains and dialogs.messages == []
    dialogs.answer = None  # closing the window at the end discards the model
    if trains:
        wait_iterations(w, qtbot, 1)  # the step asked for was trained
        w.pause()


def test_a_memory_error_while_the_engine_creates_the_model_is_a_message(make_window, qtbot, dialogs, monkeypatch,
                                                                        tmp_path):
    inject = tmp_path / "inject"
    inject.mkdir()
    (inject / "sitecustomize.py").write_text(NO_MEMORY_IN_THE_ENGINE, encoding="utf-8")
    path = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", str(inject) + (os.pathsep + path if path else ""))  # for the engine process
    w = make_window()
    w.start()  # the model is made in its engine process, which runs out of memory there
    qtbot.waitUntil(lambda: bool(dialogs.messages), timeout=15_000)
    ((kind, title, text),) = dialogs.messages
    assert kind == "warning" and title == "Cannot start training"
    assert "not enough memory" in text.lower() and "smaller" in text and "MemoryError" not in text, text
    assert not w.session.has_model and w.session.client is None and w.session.state == "idle"
    assert w.start_pause_action.text() == "Start" and w.start_pause_action.isEnabled()


def test_a_memory_error_while_the_window_prepares_the_model_is_a_message(make_window, dialogs, monkeypatch):
    import charrnn_gui.session as session_module

    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(session_module, "model_of", no_memory)
    w = make_window()
    w.start()
    ((kind, title, text),) = dialogs.messages
    assert (kind, title) == ("warning", "Cannot start training") and "not enough memory" in text and "smaller" in text
    assert not w.session.has_model and w.session.client is None and w.session.state == "idle"
