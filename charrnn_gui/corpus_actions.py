"""Choosing the text to train on: the startup corpus, File → Open Text, Open Recent, Built-in Corpora, drag and drop.

A CorpusActions is a child of the window, given the parts it uses: it fills the window's Recent and Built-in menus,
starts loads through the session (the newest action wins) and remembers the texts the user opens. A checkpoint
dropped on the window is handed back to it (checkpointDropped): opening one is the window's business.
"""

from __future__ import annotations

import json
import os
import sys
import traceback

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog

import core
from core.builtins import BUILTINS, describe_builtin, load_builtin

from .session import BUILTIN_PREFIX
from .window_settings import dialog_dir, remember_dialog_dir

DEFAULT_BUILTIN = "shakespeare"
FALLBACK_BUILTIN = "python-docs"
MAX_RECENT = 8
CORPUS_FILTER = "Text files (*.txt);;All files (*)"


class CorpusActions(QObject):
    """Opens texts for the window (its parent) and keeps its Recent and Built-in menus."""

    checkpointDropped = Signal(str)  # the path of a .npz dropped on the window

    def __init__(self, window, settings, session, corpus_panel, recent_menu, builtin_menu):
        super().__init__(window)
        self.settings = settings
        self.session = session
        self.corpus_panel = corpus_panel
        self.recent_menu = recent_menu
        self._notes: tuple[str, ...] = ()  # notes for the corpus about to be put in use
        self._remember = True  # a corpus put in use is remembered as the last one (not at startup, not a lesson's)
        for name in BUILTINS:
            a = builtin_menu.addAction(name)
            a.setObjectName(f"builtin-{name}")
            a.setData(name)
            a.setStatusTip(describe_builtin(name))
            a.setToolTip(describe_builtin(name))
        builtin_menu.setToolTipsVisible(True)
        builtin_menu.triggered.connect(self._on_builtin_triggered)
        recent_menu.triggered.connect(self._on_recent_triggered)
        self._rebuild_recent_menu()

    # == opening ===============================================================================

    def load_startup(self, restore_last: bool) -> None:
        """Put the last built-in in use at once (shakespeare the first time; the other one if it cannot be loaded),
        then, if restore_last, load the last text file opened, off the GUI thread."""
        window = self.parent()
        last = str(self.settings.value("corpus/last", "") or "")
        name = DEFAULT_BUILTIN
        if last.startswith(BUILTIN_PREFIX) and last[len(BUILTIN_PREFIX):] in BUILTINS:
            name = last[len(BUILTIN_PREFIX):]
        fallback = FALLBACK_BUILTIN if name != FALLBACK_BUILTIN else DEFAULT_BUILTIN
        corpus, problems = None, []
        for candidate in (name, fallback):  # a broken built-in must never keep the window from opening
            try:
                corpus, name = load_builtin(candidate), candidate
                break
            except Exception as e:  # noqa: BLE001 - whatever it is, it is shown, and a file can still be opened
                if not isinstance(e, core.CorpusError):
                    traceback.print_exc(file=sys.stderr)
                problems.append(f"the built-in {candidate} text cannot be loaded: {e}")
        if corpus is None:
            problems.append("open a text file to train on (File → Open Text…)")
            self.corpus_panel.set_notes([p[:1].upper() + p[1:] for p in problems])
            window.statusBar().showMessage(f"No text to train on: {problems[0]}", 30000)
        else:
            notes = (f"{problems[0]}; using the built-in {fallback} text instead",) if problems else ()
            if notes:
                window.statusBar().showMessage(notes[0], 15000)
            self._put_in_use(corpus, BUILTIN_PREFIX + name, notes, startup=True)
        if restore_last and last and not last.startswith(BUILTIN_PREFIX) and os.path.isfile(last):
            self.open_path(last)

    def use_lesson_text(self, name: str) -> None:
        """Put an experiment's own built-in text in use at once; the user's text stays the one the app reopens."""
        back = self.session.corpus.name if self.session.corpus is not None else "your text"
        notes = (f"The lesson's own text. Back to {back}: File → Open Recent or Built-in Corpora",)
        self._put_in_use(load_builtin(name), BUILTIN_PREFIX + name, notes)

    def _put_in_use(self, corpus, spec: str, notes: tuple[str, ...], startup: bool = False) -> None:
        """Put a corpus in use at once, with notes, without remembering it."""
        self._notes, self._remember = notes, False
        try:
            (self.session.set_corpus if startup else self.session.use_corpus)(corpus, spec)
        finally:
            self._notes, self._remember = (), True

    @Slot()
    def open_dialog(self) -> None:
        """File → Open Text…"""
        path, _ = QFileDialog.getOpenFileName(self.parent(), "Open a text to train on", dialog_dir(self.settings),
                                              CORPUS_FILTER)
        if path:
            self.open_path(path)

    def open_path(self, path: str) -> bool:
        """Load a text file off the GUI thread; a refused file shows a message and changes nothing."""
        path = os.fspath(path)
        return self.session.load(path, lambda: core.load_corpus(path), os.path.basename(path) or path)

    def open_builtin(self, name: str) -> bool:
        """Load a built-in text off the GUI thread (supersedes a load under way: the newest action wins)."""
        return self.session.load(BUILTIN_PREFIX + name, lambda: load_builtin(name), f"built-in {name}")

    def corpus_in_use(self, spec: str) -> tuple[str, ...]:
        """A corpus was put in use: remember it as the last one and a text file among the recent ones (unless it is
        the startup or a lesson's corpus); returns the notes to show with it."""
        if self._remember:
            self.settings.setValue("corpus/last", spec)
            if not spec.startswith(BUILTIN_PREFIX):
                self._add_recent(spec)
                remember_dialog_dir(self.settings, spec)
        return self._notes

    # == recent files and built-ins ============================================================

    def recent_files(self) -> list[str]:
        """The text files opened last, newest first."""
        try:
            items = json.loads(str(self.settings.value("corpus/recent", "[]") or "[]"))
        except ValueError:
            items = []
        return [p for p in items if isinstance(p, str)]

    def _add_recent(self, path: str) -> None:
        path = os.path.abspath(path)
        items = [path] + [p for p in self.recent_files() if p != path]
        self.settings.setValue("corpus/recent", json.dumps(items[:MAX_RECENT]))
        self._rebuild_recent_menu()

    def _rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        items = self.recent_files()
        for path in items:
            a = self.recent_menu.addAction(os.path.basename(path))
            a.setData(path)
            a.setStatusTip(path)
        if not items:
            a = self.recent_menu.addAction("(none yet)")
            a.setEnabled(False)
        self.recent_menu.setEnabled(True)

    @Slot(QAction)
    def _on_recent_triggered(self, action) -> None:
        path = action.data()
        if path:
            self.open_path(path)

    @Slot(QAction)
    def _on_builtin_triggered(self, action) -> None:
        name = action.data()
        if name:
            self.open_builtin(name)

    # == drag and drop =========================================================================

    @staticmethod
    def _dropped_path(mime) -> str | None:
        """The first local file among the dragged URLs, or None."""
        if mime is None or not mime.hasUrls():
            return None
        for url in mime.urls():
            if url.isLocalFile():
                return url.toLocalFile()
        return None

    def drag_enter(self, event) -> None:
        """Accept a drag that carries a local file (the window's dragEnterEvent and dragMoveEvent)."""
        if self._dropped_path(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def drop(self, event) -> None:
        """Open a dropped file: a .npz as a checkpoint (checkpointDropped), anything else as a text to train on."""
        path = self._dropped_path(event.mimeData())
        if not path:
            event.ignore()
            return
        event.acceptProposedAction()
        if path.lower().endswith(".npz"):
            self.checkpointDropped.emit(path)
        else:
            self.open_path(path)
