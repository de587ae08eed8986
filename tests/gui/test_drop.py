"""Dropping files on the window: a text opens as the corpus, a .npz as a checkpoint (never a file dialog)."""

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from .helpers import open_file_via_dialog, wait_iterations


def drop(window, path) -> bool:
    """Drag a file onto the window and drop it, as the platform delivers it; True if the drop was accepted."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    where, action = QPoint(200, 200), Qt.DropAction.CopyAction
    buttons, modifiers = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(where, action, mime, buttons, modifiers)  # makes the window the drop target
    QApplication.sendEvent(window, enter)
    if not enter.isAccepted():
        return False
    dropped = QDropEvent(QPointF(where), action, mime, buttons, modifiers)
    QApplication.sendEvent(window, dropped)
    return dropped.isAccepted()


def test_dropping_a_checkpoint_opens_it(make_window, qtbot, dialogs, small_corpus_file, tmp_path):
    w = make_window()
    open_file_via_dialog(w, dialogs, qtbot, small_corpus_file)
    w.step_once()
    wait_iterations(w, qtbot, 1)
    qtbot.waitUntil(lambda: w.session.state == "paused" and w.session.client.state == "idle", timeout=5000)
    w.start()
    wait_iterations(w, qtbot, 12)
    w.pause()
    saved = w.session.iteration
    path = tmp_path / "dropped.npz"
    assert w.save_checkpoint(path=str(path))
    w.reset_model()
    assert not w.session.has_model and w.session.client is None
    dialogs.file_dialogs.clear()
    accepted = drop(w, path)
    qtbot.waitUntil(lambda: not w.session.is_loading, timeout=10_000)
    assert accepted
    assert dialogs.file_dialogs == []  # no Open dialog popped up instead
    assert w.session.has_model and w.session.iteration == saved and w.session.checkpoint_path == str(path)
    qtbot.waitUntil(lambda: w.session.client.info is not None, timeout=10_000)  # the engine opened it
    assert w.session.client.info["iteration"] == saved


def test_dropping_a_text_file_opens_it_as_the_corpus(make_window, qtbot, dialogs, small_corpus_file):
    w = make_window()
    assert drop(w, small_corpus_file)
    qtbot.waitUntil(lambda: not w.session.is_loading, timeout=10_000)
    assert w.session.corpus.name == small_corpus_file.name and dialogs.file_dialogs == []
