"""`charrnn-gui FILE`, as a file manager runs it: a text opens to train on, a .npz checkpoint to continue; a path that
is not there is one line on stderr (exit 2), a file that cannot be opened is said in the window."""

from __future__ import annotations

import pytest

from charrnn_gui.app import main, open_window

from .helpers import wait_iterations


@pytest.fixture
def opened(qtbot):
    """open_window(path), kept by qtbot and closed at the end."""
    windows = []

    def open_(path):
        w = open_window(str(path))
        qtbot.addWidget(w)
        windows.append(w)
        return w

    yield open_
    for w in windows:
        w.close()


@pytest.mark.parametrize("what", ["missing", "folder"])
def test_a_path_that_is_no_file_is_one_line_on_stderr_and_exit_2(tmp_path, capsys, what):
    path = tmp_path / "missing.txt"
    if what == "folder":
        path = tmp_path / "texts.txt"
        path.mkdir()
    assert main([str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("charrnn-gui: error: ") and str(path) in err[0], err
    assert ("no such file" if what == "missing" else "is a folder") in err[0]


def test_a_text_given_on_the_command_line_opens_to_train_on(opened, qtbot, small_corpus_file):
    w = opened(small_corpus_file)
    qtbot.waitUntil(lambda: w.session.corpus_spec == str(small_corpus_file) and not w.session.is_loading, timeout=10_000)
    assert w.session.corpus.name == "small.txt" and w.isVisible()


def test_a_checkpoint_given_on_the_command_line_opens_to_continue(make_window, opened, qtbot, small_corpus_file,
                                                                 tmp_path):
    first = make_window()
    first.open_corpus_path(str(small_corpus_file))
    qtbot.waitUntil(lambda: not first.session.is_loading, timeout=10_000)
    first.start()
    wait_iterations(first, qtbot, 10)
    first.pause()
    saved, checkpoint = first.session.iteration, tmp_path / "saved.npz"
    assert first.save_checkpoint(path=str(checkpoint))
    first.close()
    w = opened(checkpoint)
    qtbot.waitUntil(lambda: w.session.has_model and not w.session.is_loading, timeout=10_000)
    assert w.session.iteration == saved and w.session.checkpoint_path == str(checkpoint) and w.session.corpus.name == "small.txt"
    qtbot.waitUntil(lambda: w.session.client.info is not None, timeout=10_000)  # the engine opened it
    assert w.session.client.info["iteration"] == saved


@pytest.mark.parametrize("name, title", [("picture.txt", "Cannot open this file"),
                                         ("broken.npz", "Cannot open checkpoint")])
def test_a_file_that_cannot_be_opened_is_said_in_the_window(opened, qtbot, dialogs, tmp_path, name, title):
    path = tmp_path / name
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    w = opened(path)
    qtbot.waitUntil(lambda: bool(dialogs.messages) and not w.session.is_loading, timeout=10_000)
    kind, shown_title, text = dialogs.messages[0]
    assert kind == "warning" and shown_title == title and name in text, dialogs.messages
    assert w.isVisible() and w.session.corpus is not None  # the window is there, with the built-in text to train on
