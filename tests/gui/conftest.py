"""Fixtures for the GUI tests: offscreen Qt, throwaway settings, no modal dialogs, no leaked threads."""

from __future__ import annotations

import atexit
import gc
import os
import shutil
import tempfile

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any QApplication exists

import pytest  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QFileDialog, QMessageBox  # noqa: E402

_CACHE = tempfile.mkdtemp(prefix="charrnn-gui-test-cache-")  # built-in texts, converted once per session
atexit.register(shutil.rmtree, _CACHE, True)



@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path, monkeypatch):
    """Each test gets its own QSettings location, user data directory (where the app writes its runs) and the
    shared temporary built-in cache."""
    monkeypatch.setenv("CHARRNN_CACHE_DIR", _CACHE)
    monkeypatch.setenv("CHARRNN_NGRAM_CACHE_DIR", os.path.join(_CACHE, "ngram"))  # n-gram baselines, once per session
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "user-data"))
    settings_dir = tmp_path / "qsettings"
    settings_dir.mkdir()
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(settings_dir))
    yield settings_dir


class Dialogs:
    """Records every message box and file dialog instead of blocking; tests choose the answers."""

    def __init__(self):
        self.messages: list[tuple[str, str, str]] = []  # (kind, title, text)
        self.questions: list[tuple[str, str]] = []
        self.answer = None  # StandardButton for the next questions; None: Discard or Yes
        self.open_paths: list[str] = []  # returned by getOpenFileName, in order ("" when empty)
        self.save_paths: list[str] = []  # returned by getSaveFileName
        self.file_dialogs: list[tuple[str, str]] = []  # (kind, filter)

    def texts(self, kind: str | None = None) -> list[str]:
        return [text for k, _, text in self.messages if kind is None or k == kind]

    def _message(self, kind):
        def show(parent, title, text, *args, **kwargs):
            self.messages.append((kind, title, text))
            return QMessageBox.StandardButton.Ok
        return show

    def _question(self, parent, title, text, buttons=None, default=None, *args, **kwargs):
        self.questions.append((title, text))
        if self.answer is not None:
            return self.answer
        B = QMessageBox.StandardButton
        for choice in (B.Discard, B.Yes):
            if buttons is not None and (buttons & choice) == choice:
                return choice
        return B.Yes

    def _open(self, parent=None, caption="", directory="", filter="", *args, **kwargs):
        self.file_dialogs.append(("open", filter))
        return (self.open_paths.pop(0) if self.open_paths else "", "")

    def _save(self, parent=None, caption="", directory="", filter="", *args, **kwargs):
        self.file_dialogs.append(("save", filter))
        return (self.save_paths.pop(0) if self.save_paths else "", "")


@pytest.fixture(autouse=True)
def dialogs(monkeypatch):
    """No test ever blocks on a modal dialog: message boxes and file dialogs are recorded."""
    d = Dialogs()
    monkeypatch.setattr(QMessageBox, "warning", staticmethod(d._message("warning")))
    monkeypatch.setattr(QMessageBox, "critical", staticmethod(d._message("critical")))
    monkeypatch.setattr(QMessageBox, "information", staticmethod(d._message("information")))
    monkeypatch.setattr(QMessageBox, "question", staticmethod(d._question))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(d._open))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(d._save))
    return d


@pytest.fixture(autouse=True)
def no_threads_left_running():
    """After each test (and after pytest-qt closed its widgets): every worker thread is joined.

    A QThread destroyed while running aborts the process and takes the whole session with it, so a
    test that leaves one running is stopped here and fails.
    """
    yield
    from charrnn_gui.threads import stop_all_threads

    left = stop_all_threads(timeout=30.0)
    # The test's closed windows and panels are freed now, with no thread running, rather than by a
    # garbage collection in the middle of the next test's training (once seen to hang there).
    gc.collect()
    if left:
        pytest.fail(f"the test left worker threads running: {', '.join(left)}")


@pytest.fixture
def small_corpus_file(tmp_path):
    """A few KB of plain text with a small vocabulary."""
    path = tmp_path / "small.txt"
    from .helpers import SMALL_TEXT

    path.write_text(SMALL_TEXT * 30, encoding="utf-8")
    return path


@pytest.fixture
def make_window(qtbot):
    """MainWindow factory: shown, small fast settings, kept alive and closed at teardown.

    pytest-qt holds only weak references to its widgets, so a window nobody references would be
    destroyed without closeEvent (and without joining its threads); this fixture keeps them.
    """
    from charrnn_gui import MainWindow

    windows = []

    def make(small: bool = True, **kwargs):
        w = MainWindow(**kwargs)
        qtbot.addWidget(w)
        windows.append(w)
        w.show()
        if small:
            from .helpers import use_small_settings

            use_small_settings(w)
        return w

    yield make
    for w in windows:
        w.close()


@pytest.fixture
def small_window(make_window, qtbot, small_corpus_file):
    """A shown MainWindow with small.txt loaded (no model yet)."""
    w = make_window()
    w.open_corpus_path(str(small_corpus_file))
    qtbot.waitUntil(lambda: not w.session.is_loading and w.session.corpus.name == "small.txt", timeout=10_000)
    return w
