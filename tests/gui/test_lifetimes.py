"""Engine clients, corpus loaders and windows are freed by reference counting alone, never left to the cyclic
garbage collector (which would then run inside any slot while training runs); no engine process or thread outlives
the window or model it served; and a long session of opening, resetting and restarting while the collector runs all
the time neither hangs nor crashes."""

from __future__ import annotations

import faulthandler
import gc
import os
import signal
import sys
import threading
import weakref

import pytest
from PySide6.QtCore import QTimer

import core
from charrnn_gui.engine_client import EngineClient
from charrnn_gui.threads import CorpusLoader, registered_threads, running_threads, stop_all_threads

from .helpers import SMALL_TEXT, open_file_via_dialog, use_small_settings, wait_iterations


@pytest.fixture
def small_builtin(monkeypatch):
    import charrnn_gui.corpus_actions as corpus_actions

    monkeypatch.setattr(corpus_actions, "load_builtin",
                        lambda name: core.corpus_from_text(SMALL_TEXT * 30, name=f"small-{name}"))


def training_threads():
    """Threads still running other than the window's runs readers (one per runs folder, for its lifetime): QThreads
    of the window, and the readers of engine clients (plain threads)."""
    return [t.objectName() for t in running_threads() if t.objectName() != "charrnn-runs-reader"] + \
        [t.name for t in threading.enumerate() if t.name == "charrnn-engine-reader" and t.is_alive()]


def process_exists(pid: int) -> bool:
    """Whether a process with this id exists (running, or ended and not reaped yet)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def engine_pid(window) -> int:
    """The process of the window's engine (there must be one)."""
    pid = window.session.client.pid
    assert pid is not None and process_exists(pid)
    return pid


@pytest.fixture
def no_cyclic_gc():
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def test_a_closed_engine_client_is_freed_by_reference_counting_and_its_process_has_ended(qtbot, no_cyclic_gc):
    config = core.PRESETS["min-char-rnn"].replace(hidden_size=16, seq_length=16)
    client = EngineClient()
    paused = []
    client.paused.connect(paused.append)
    with qtbot.waitSignal(client.opened, timeout=20_000):
        client.open({"text": SMALL_TEXT * 30, "name": "t", "config": config.to_dict(), "no_run": True})
    client.step(20)
    qtbot.waitUntil(lambda: paused == [20], timeout=10_000)
    pid, reader = client.pid, client.reader
    client.close()
    assert not process_exists(pid) and not reader.is_alive()  # ended and reaped, its reader joined
    gone = weakref.ref(client)
    del client
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
    qtbot.waitUntil(lambda: not w.session.is_loading, timeout=10_000)
    w.start()
    wait_iterations(w, qtbot, 30)
    refs["first engine client"] = weakref.ref(w.session.client)
    first = engine_pid(w)
    w.inspector.run()  # the inspector asks the window for weights
    assert w.save_checkpoint(path=str(tmp_path / "c.npz"))
    w.reset_model()
    assert not process_exists(first)  # Reset ends the engine of the model it discards
    w.start()
    wait_iterations(w, qtbot, 10)
    refs["second engine client"] = weakref.ref(w.session.client)
    second = engine_pid(w)
    assert w.close()
    assert not process_exists(second) and training_threads() == []  # the close ends the engine
    refs["window"] = weakref.ref(w)
    del w
    qtbot.wait(20)  # deferred deletions
    alive = [name for name, ref in refs.items() if ref() is not None]
    assert alive == [], f"kept alive by a reference cycle: {alive}"
    assert registered_threads() == []


CYCLES = 20  # each cycle starts two or three engine processes (~1.5 s a cycle here): 200, as with training threads, took minutes


@pytest.mark.slow
def test_open_reset_restart_many_times_while_training_with_garbage_collected_all_the_time(
        qtbot, dialogs, small_builtin, small_corpus_file, tmp_path):
    from charrnn_gui import MainWindow

    # A collection every few milliseconds, inside the timer's slot, while the engine trains and its client's
    # reader thread delivers: the youngest generations mostly (as allocations trigger them), every fiftieth time a
    # full one.
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
    saved = w.session.iteration
    engines = [engine_pid(w)]
    collector.start()
    try:
        for i in range(CYCLES):
            w.start()  # (re)start: new weights after a reset or a new text, the checkpoint's after opening it
            engines.append(engine_pid(w))
            wait_iterations(w, qtbot, w.session.iteration + 2)
            if i % 2 == 0:  # open while training: a checkpoint (the same text) ...
                opened = []
                w.session.checkpointOpened.connect(lambda *args: opened.append(args))
                w.open_checkpoint(path=checkpoint)
                assert not process_exists(engines[-1]), i  # the engine of the model it replaces has ended
                qtbot.waitUntil(lambda: bool(opened), timeout=20_000)
                w.session.checkpointOpened.disconnect()
                assert w.session.iteration == saved and w.session.state == "paused", i
                assert w.session.client.status().value.iteration == saved, i
                engines.append(engine_pid(w))
            else:  # ... or a text (a corpus loader thread; the model is discarded)
                open_file_via_dialog(w, dialogs, qtbot, small_corpus_file)
                assert not w.session.has_model and w.session.client is None, i
            w.start()
            engines.append(engine_pid(w))
            wait_iterations(w, qtbot, w.session.iteration + 2)
            w.reset_model()  # reset while training
            assert not w.session.has_model and w.session.state == "idle" and training_threads() == [], i
            assert not any(process_exists(pid) for pid in set(engines)), i
        assert len(collections) > CYCLES  # the collector really ran all along
        assert w.close()
    finally:
        collector.stop()
        faulthandler.cancel_dump_traceback_later()
    assert training_threads() == []
    # The close waits 0.2 s for the runs-folder reader; a scan of this test's runs still in flight then ends by
    # itself, and app.main() joins what is left at exit, as here.
    qtbot.waitUntil(lambda: running_threads() == [], timeout=30_000)
    stop_all_threads(timeout=5)
    assert registered_threads() == []


def test_a_window_garbage_collected_while_training_ends_its_engine_and_threads_with_it(qtbot, dialogs, small_builtin,
                                                                                     small_corpus_file):
    from charrnn_gui import MainWindow

    w = MainWindow(restore_last_corpus=False)
    use_small_settings(w)
    open_file_via_dialog(w, dialogs, qtbot, small_corpus_file)
    w.start()
    wait_iterations(w, qtbot, 20)
    pid = engine_pid(w)  # the engine process trains ...
    assert training_threads()  # ... and its client's reader thread delivers
    gone = weakref.ref(w)
    del w  # never closed: its last reference goes
    gc.collect()
    assert gone() is None
    # ended with the window, not left training for nobody until the exit
    assert not process_exists(pid)
    assert running_threads() == [] and training_threads() == []


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
while window.session.is_loading or window.session.corpus_spec != sys.argv[1]:
    app.processEvents()
    time.sleep(0.01)
window.start()
while window.runs.current is None or window.iteration_label.text() in ("Iteration 0", "Iteration 1"):
    app.processEvents()
    time.sleep(0.01)
print("trained:", window.iteration_label.text(), flush=True)
print("engine:", window.session.client.pid, flush=True)
print("run:", window.session.run_path, flush=True)
"""  # then the interpreter exits with the window open, training, and writing its run


def test_an_interpreter_that_exits_with_a_window_training_ends_cleanly_and_its_engine_with_it(tmp_path,
                                                                                             small_corpus_file):
    import subprocess

    from core.runs import read_run

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
    said = dict(line.split(": ", 1) for line in done.stdout.splitlines() if ": " in line)
    # The engine ended with the interpreter (not orphaned, training on) and closed its run.
    pid = int(said["engine"])
    assert not process_exists(pid) or zombie(pid)
    assert read_run(said["run"]).status == "interrupted"


def zombie(pid: int) -> bool:
    """Whether pid has ended and waits to be reaped (an orphan's zombie, where nobody reaps them)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
