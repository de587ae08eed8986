"""User actions are never lost: a text or a checkpoint chosen while another load runs supersedes that load."""

from __future__ import annotations

import threading

import pytest

import core

from .helpers import wait_iterations
from .test_drop import drop


@pytest.fixture
def held_file(tmp_path, monkeypatch):
    """A text file whose load stays inside core.load_corpus until released (released at the end in any case)."""
    path = tmp_path / "held.txt"
    path.write_text("A held text, loaded last of all.\n" * 40, encoding="utf-8")
    release, entered = threading.Event(), threading.Event()
    real_load = core.load_corpus

    def load(p, *args, **kwargs):
        if str(p) == str(path):
            entered.set()
            release.wait(60)
        return real_load(p, *args, **kwargs)

    monkeypatch.setattr(core, "load_corpus", load)
    held = type("Held", (), {"path": path, "release": release, "entered": entered})
    try:
        yield held
    finally:
        release.set()


def test_a_text_opened_while_another_loads_supersedes_it(make_window, qtbot, dialogs, held_file, small_corpus_file):
    w = make_window()
    assert w.open_corpus_path(str(held_file.path))
    qtbot.waitUntil(held_file.entered.is_set, timeout=10_000)
    assert w.session.is_loading and w.open_corpus_action.isEnabled()
    assert w.open_corpus_path(str(small_corpus_file))  # not refused
    qtbot.waitUntil(lambda: w.session.corpus_spec == str(small_corpus_file) and not w.session.is_loading, timeout=10_000)
    held_file.release.set()  # the superseded load ends now: its text is not put in use
    qtbot.waitUntil(lambda: not any(t.objectName() == "charrnn-corpus-loader" and t.isRunning()
                                    for t in _threads()), timeout=10_000)
    qtbot.wait(50)  # its late signals, if any, are delivered (and ignored)
    assert w.session.corpus.name == "small.txt" and not w.session.is_loading
    assert dialogs.messages == [] and "Loading" not in w.statusBar().currentMessage()


def test_a_checkpoint_dropped_while_the_startup_corpus_loads_opens_it(make_window, qtbot, dialogs, held_file,
                                                                     small_corpus_file, tmp_path):
    first = make_window()
    first.open_corpus_path(str(small_corpus_file))
    qtbot.waitUntil(lambda: not first.session.is_loading, timeout=10_000)
    first.start()
    wait_iterations(first, qtbot, 30)
    first.pause()
    saved = first.session.iteration
    checkpoint = tmp_path / "saved.npz"
    assert first.save_checkpoint(path=str(checkpoint))
    first.close()
    first.settings.setValue("corpus/last", str(held_file.path))  # the next window starts by loading the held text
    first.settings.sync()

    second = make_window()
    qtbot.waitUntil(held_file.entered.is_set, timeout=10_000)
    assert second.session.is_loading
    assert drop(second, checkpoint)  # the checkpoint needs its own text: that load supersedes the startup one
    qtbot.waitUntil(lambda: second.session.has_model and not second.session.is_loading, timeout=10_000)
    held_file.release.set()
    qtbot.waitUntil(lambda: not any(t.objectName() == "charrnn-corpus-loader" and t.isRunning()
                                    for t in _threads()), timeout=10_000)
    qtbot.wait(50)
    assert second.session.iteration == saved and second.session.checkpoint_path == str(checkpoint)
    assert engine_iteration(second, qtbot) == saved  # the engine opened the checkpoint itself
    assert second.session.corpus.name == "small.txt" and dialogs.messages == []


def test_a_checkpoint_of_the_text_in_use_opened_while_another_text_loads_wins(make_window, qtbot, dialogs, held_file,
                                                                              small_corpus_file, tmp_path):
    w = make_window()
    w.open_corpus_path(str(small_corpus_file))
    qtbot.waitUntil(lambda: not w.session.is_loading, timeout=10_000)
    w.step_once()
    wait_iterations(w, qtbot, 1)
    qtbot.waitUntil(lambda: w.session.state == "paused", timeout=10_000)
    checkpoint = tmp_path / "one.npz"
    assert w.save_checkpoint(path=str(checkpoint))
    w.open_corpus_path(str(held_file.path))
    qtbot.waitUntil(held_file.entered.is_set, timeout=10_000)
    w.open_checkpoint(path=str(checkpoint))  # opened at once (its text is in use); the held load is dropped
    assert not w.session.is_loading and w.session.checkpoint_path == str(checkpoint) and w.session.iteration == 1
    held_file.release.set()
    qtbot.waitUntil(lambda: not any(t.objectName() == "charrnn-corpus-loader" and t.isRunning()
                                    for t in _threads()), timeout=10_000)
    qtbot.wait(50)
    assert w.session.corpus.name == "small.txt" and w.session.has_model and w.session.iteration == 1
    assert engine_iteration(w, qtbot) == 1
    assert dialogs.messages == []


def engine_iteration(window, qtbot) -> int:
    """The iteration of the model in the window's engine, once it has opened."""
    client = window.session.client
    qtbot.waitUntil(lambda: client.info is not None, timeout=10_000)
    return client.status().value.iteration


def _threads():
    from charrnn_gui.threads import registered_threads

    return registered_threads()


def test_a_checkpoint_that_cannot_be_opened_leaves_the_load_under_way_alone(make_window, qtbot, dialogs, held_file,
                                                                              tmp_path):
    w = make_window()
    w.open_corpus_path(str(held_file.path))
    qtbot.waitUntil(held_file.entered.is_set, timeout=10_000)
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a checkpoint at all")
    assert drop(w, broken)
    assert [title for _, title, _ in dialogs.messages] == ["Cannot open checkpoint"] and w.session.is_loading
    held_file.release.set()
    qtbot.waitUntil(lambda: not w.session.is_loading, timeout=10_000)
    assert w.session.corpus.name == "held.txt"  # the refused checkpoint did not cost the user the text being loaded


def test_a_checkpoint_whose_text_is_gone_leaves_the_load_under_way_alone(make_window, qtbot, dialogs, held_file,
                                                                         tmp_path):
    gone = tmp_path / "gone.txt"
    gone.write_text("A text that will be deleted before its checkpoint is opened.\n" * 40, encoding="utf-8")
    first = make_window()
    first.open_corpus_path(str(gone))
    qtbot.waitUntil(lambda: not first.session.is_loading, timeout=10_000)
    first.step_once()
    qtbot.waitUntil(lambda: first.session.iteration == 1 and first.session.state == "paused", timeout=10_000)
    checkpoint = tmp_path / "orphan.npz"
    assert first.save_checkpoint(path=str(checkpoint))
    first.close()
    gone.unlink()

    w = make_window()
    w.open_corpus_path(str(held_file.path))
    qtbot.waitUntil(held_file.entered.is_set, timeout=10_000)
    assert drop(w, checkpoint)
    assert [title for _, title, _ in dialogs.messages] == ["Cannot open checkpoint"] and w.session.is_loading
    held_file.release.set()
    qtbot.waitUntil(lambda: not w.session.is_loading, timeout=10_000)
    assert w.session.corpus.name == "held.txt"
