"""The window's background threads (charrnn_gui.threads): a corpus loader runs, reports and is joined; none is left."""

from __future__ import annotations

import threading

import core
from charrnn_gui.threads import CorpusLoader, registered_threads, running_threads, stop_all_threads


def test_a_loader_reports_its_text_and_is_unregistered_once_joined(qtbot):
    loader = CorpusLoader(lambda: core.corpus_from_text("abc " * 100, name="abc"), "abc")
    with qtbot.waitSignal(loader.loaded, timeout=10_000) as got:
        loader.start()
    assert got.args[0].name == "abc"
    assert loader.join(10.0)
    assert not loader.thread_running
    assert not [t for t in registered_threads() if t.objectName() == "charrnn-corpus-loader"]


def test_a_loader_that_fails_says_why_in_one_line(qtbot):
    def refuse():
        raise core.CorpusError("empty.txt is empty")

    loader = CorpusLoader(refuse, "empty.txt")
    with qtbot.waitSignal(loader.failed, timeout=10_000) as got:
        loader.start()
    assert got.args == ["empty.txt is empty"]
    assert loader.join(10.0)


def test_stop_all_threads_names_threads_that_were_left_running(qtbot):
    release = threading.Event()
    loader = CorpusLoader(lambda: release.wait(30) and None, "slow.txt")
    loader.start()
    qtbot.waitUntil(lambda: loader.thread_running, timeout=5_000)
    threading.Timer(0.3, release.set).start()  # the load ends while stop_all_threads waits for it
    assert stop_all_threads(10.0) == ["charrnn-corpus-loader"]
    assert not loader.thread_running and not running_threads()
