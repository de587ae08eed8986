"""Workers, corpus loaders and windows are freed by reference counting alone, never left to the cyclic
garbage collector (which would then run inside any slot while training runs); and a long session of
opening, resetting and restarting while the collector runs all the time neither hangs nor crashes."""

from __future__ import annotations

import faulthandler
import gc
import signal
import sys
import weakref

import pytest
from PySide6.QtCore import QTimer

import core
from charrnn_gui.threads import (CorpusLoader, TrainingWorker, registered_threads, running_threads,
                                stop_all_threads)

from .helpers import SMALL_TEXT, open_file_via_dialog, use_small_settings, wait_iterations
from .test_worker import make_trainer


@pytest.fixture
def small_builtin(monkeypatch):
    import charrnn_gui.corpus_actions as corpus_actions

    monkeypatch.setattr(corpus_actions, "load_builtin",
                        lambda name: core.corpus_from_text(SMALL_TEXT * 30, name=f"small-{name}"))


def training_threads():
    """Threads still running other than the window's runs readers (one per runs folder, for its lifetime)."""
    return [t for t in running_threads() if t.objectName() != "charrnn-runs-reader"]


@pytest.fixture
def no_cyclic_gc():
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def test_a_finished_worker_is_freed_by_reference_counting(qtbot, no_cyclic_gc):
    w = TrainingWorker(make_trainer())
    paused = []
    w.paused.connect(paused.append)
    w.start()
    w.step(20)
    qtbot.waitUntil(lambda: paused == [20], timeout=10_000)
    assert w.stop(10.0)
    gone = weakref.ref(w)
    del w
    assert gone() is None


def test_a_finished_corpus_loader_is_freed_by_reference_counting(qtbot, no_cyclic_gc):
    loader = CorpusLoader(lambda: core.corpus_from_text(SMALL_TEXT, name="t"), "t")
    loaded = []
    loader.loaded.connect(loaded.append)
    loader.start()
    qtbot.waitUntil(lambda: bool(loaded), timeout=10_000)
    assert loader.join(10.0)
    gone = weakref.ref(loader)
    del loader
    assert gone() is None


def test_a_closed_window_and_everything_it_ran_are_freed_by_reference_counting(qtbot, dialogs, small_builtin,
                                                                              small_corpus_file, tmp_path,
                                                                              no_cyclic_gc):
    from charrnn_gui import MainWindow

    w = MainWindow(restore_last_corpus=False)
    w.show()
    use_small_settings(w)
    refs = {}
    dialogs.open_paths.append(str(small_corpus_file))
    w.open_corpus_action.trigger()
    refs["loader"] = weakref.ref(w.session._loader)
    qtbot.waitUntil(lambda: not w.is_loading, timeout=10_000)
    w.start()
    wait_iterations(w, qtbot, 30)
    refs["first worker"] = weakref.ref(w.worker)
    w.inspector.run()  # the inspector asks the window for weights
    assert w.save_checkpoint(path=str(tmp_path / "c.npz"))
    w.reset_model()
    w.start()
    wait_iterations(w, qtbot, 10)
    refs["second worker"] = weakref.ref(w.worker)
    assert w.close()
    refs["window"] = weakref.ref(w)
    del w
    qtbot.wait(20)  # deferred deletions
    alive = [name for name, ref in refs.items() if ref() is not None]
    assert alive == [], f"kept alive by a reference cycle: {alive}"
    assert registered_threads() == []


@pytest.mark.slow
def test_open_reset_restart_two_hundred_times_while_training_with_garbage_collected_all_the_time(
        qtbot, dialogs, small_builtin, small_corpus_file, tmp_path):
    from charrnn_gui import MainWindow

    # A collection every few milliseconds, inside the timer's slot, while the worker trains: the youngest
    # generations mostly (as allocations trigger them), every fiftieth time a full one.
    collector = QTimer()
    collector.setInterval(5)
    collections = []
    collector.timeout.connect(lambda: collections.append(gc.collect(2 if len(collections) % 50 == 49 else 1)))
    faulthandler.dump_traceback_later(240, exit=True, file=sys.stderr)  # a hang leaves every stack in the log
    w = MainWindow(restore_last_corpus=False)  # not shown: painting is not what this is about
    use_small_settings(w)
    open_file_via_dialog(w, dialogs, qtbot, small_corpus_file)
    w.start()
    wait_iterations(w, qtbot, 5)
    w.pause()
    checkpoint = str(tmp_path / "c.npz")
    assert w.save_checkpoint(path=checkpoint)
    saved = w.trainer.iteration
    collector.start()
    try:
        for i in range(200):
            w.start()  # (re)start: new weights after a reset or a new text, the checkpoint's after opening it
            wait_iterations(w, qtbot, w.trainer.iteration + 2)
            if i % 2 == 0:  # open while training: a checkpoint (the same text) ...
                w.open_checkpoint(path=checkpoint)
                assert w.trainer.iteration == saved and w.state == "paused", i
            else:  # ... or a text (a corpus loader thread; the model is discarded)
                open_file_via_dialog(w, dialogs, qtbot, small_corpus_file)
                assert w.trainer is None, i
            w.start()
            wait_iterations(w, qtbot, w.trainer.iteration + 2)
            w.reset_model()  # reset while training
            assert w.trainer is None and w.state == "idle" and training_threads() == [], i
        assert len(collections) > 200  # the collector really ran all along
        assert w.close()
    finally:
        collector.stop()
        faulthandler.cancel_dump_traceback_later()
    assert training_threads() == []
    # The close waits 0.2 s for the runs-folder reader; a scan of this test's 400 runs still in flight then ends
    # by itself, and app.main() joins what is left at exit, as here.
    qtbot.waitUntil(lambda: running_threads() == [], timeout=30_000)
    stop_all_threads(timeout=5)
    assert registered_threads() == []


def test_a_window_garbage_collected_while_training_stops_its_threads_with_it(qtbot, dialogs, small_builtin,
                                                                             small_corpus_file):
    from charrnn_gui import MainWindow

    w = MainWindow(restore_last_corpus=False)
    use_small_settings(w)
    open_file_via_dialog(w, dialogs, qtbot, small_corpus_file)
    w.start()
    wait_iterations(w, qtbot, 20)
    assert training_threads()  # the training thread (and the run writer) are running
    gone = weakref.ref(w)
    del w  # never closed: its last reference goes
    gc.collect()
    assert gone() is None
    assert running_threads() == []  # stopped with the window, not left training for nobody until the exit


NEVER_CLOSED = """
import sys, time
from PySide6.QtWidgets import QApplication
app = QApplication([])
from charrnn_gui import MainWindow
from tests.gui.helpers import use_small_settings
window = MainWindow(restore_last_corpus=False)
use_small_settings(window)
window.show()
window.open_corpus_path(sys.argv[1])
while window.is_loading or window.corpus_spec != sys.argv[1]:
    app.processEvents()
    time.sleep(0.01)
window.start()
while window.runs.current is None or window.iteration_label.text() in ("Iteration 0", "Iteration 1"):
    app.processEvents()
    time.sleep(0.01)
print("trained:", window.iteration_label.text(), flush=True)
"""  # then the interpreter exits with the window open, training, and writing its run


def test_an_interpreter_that_exits_with_a_window_training_ends_cleanly(tmp_path, small_corpus_file):
    import os
    import subprocess

    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "config"),
               XDG_DATA_HOME=str(tmp_path / "data"), PYTHONPATH=os.pathsep.join(sys.path))
    done = subprocess.run([sys.executable, "-X", "faulthandler", "-c", NEVER_CLOSED, str(small_corpus_file)],
                          env=env, cwd=os.getcwd(), capture_output=True, text=True, timeout=300)
    assert "trained" in done.stdout, done.stderr
    assert "Destroyed while thread" not in done.stderr, done.stderr  # no QThread destroyed running (exit 134 before)
    # PySide6's own teardown segfaults now and then at Python's last garbage collection, after every Python frame
    # has ended (about 1 run in 60 with the other core busy, with or without deleting the window first; upstream
    # PYSIDE-2254): that crash, and only that one, is not this test's.
    teardown = done.returncode == -signal.SIGSEGV and "Garbage-collecting\n  <no Python frame>" in done.stderr
    assert done.returncode == 0 or teardown, done.stderr
