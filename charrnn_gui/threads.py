"""Background threads of the window: the corpus loader, and a registry of every QThread started here.

Training does not run here: it runs in an engine process of its own (core.engine_process, driven through
charrnn_gui.engine_client). What runs in a thread of the window's process is what must not block the GUI thread
and needs no model: reading a text, counting n-gram baselines, reading runs from disk.

Every QThread started here is kept in a module-level registry until it has been joined, so a thread can never be
destroyed while running, and tests can check that none was left behind. A runner refers to its owner only while it
runs (weakly for the stop request), and a joined runner lets go of it and is deleted, so no reference cycle leaves a
QObject to the cyclic garbage collector.
"""

from __future__ import annotations

import atexit
import ctypes
import sys
import threading
import time
import traceback
import weakref

from PySide6.QtCore import QObject, QThread, Signal

EXIT_JOIN_SECONDS = 10.0  # seconds the interpreter's exit waits for the registered threads to end, at most

_registry_lock = threading.Lock()
_registry: set["_Runner"] = set()


class _Runner(QThread):
    """A QThread that runs one callable; registered from start() until it has been joined."""

    def __init__(self, target, stopper, name: str):
        super().__init__()
        self.setObjectName(name)
        self._target = target  # strong while running: the owner stays alive as long as its thread
        self._stopper = weakref.WeakMethod(stopper) if stopper is not None else None  # never keeps it alive
        self._joined = False

    def run(self) -> None:  # runs in the new thread
        target = self._target
        if target is not None:
            target()

    def start_registered(self) -> None:
        with _registry_lock:
            _registry.add(self)
        self.start()

    def join(self, timeout: float = 30.0) -> bool:
        """Ask the target to stop, wait for the thread, unregister it; False if it is still running.

        A joined runner drops its target (breaking the owner -> runner -> owner cycle) and is deleted
        by the event loop; its owner drops its own reference too."""
        if self._joined:
            return True
        stopper = self._stopper() if self._stopper is not None else None
        if stopper is not None:
            stopper()
        done = self.wait(max(0, int(timeout * 1000)))
        if done:
            self._joined = True
            self._target = self._stopper = None
            with _registry_lock:
                _registry.discard(self)
            self.deleteLater()
        return done


def running_threads() -> list[QThread]:
    """Registered threads that are still running."""
    with _registry_lock:
        return [t for t in _registry if t.isRunning()]


def registered_threads() -> list[QThread]:
    """Threads started here and not yet joined (running or finished)."""
    with _registry_lock:
        return list(_registry)


def stop_all_threads(timeout: float = 30.0) -> list[str]:
    """Stop and join every registered thread; return the names of those that were still running."""
    names = []
    for t in registered_threads():
        if t.isRunning():
            names.append(t.objectName() or repr(t))
        t.join(timeout)
    return names


def _join_at_exit(timeout: float = EXIT_JOIN_SECONDS) -> None:
    """At interpreter exit (before Python frees the registry, and with it the QThreads): stop and join every
    registered thread, so a window never closed, or a script that never ran app.exec(), ends cleanly.

    A thread still running after the timeout (a corpus load stuck in a read) is left to the OS: its QThread is
    given one more reference, so Python never destroys it (destroying a running QThread aborts the process)."""
    deadline = time.monotonic() + timeout  # for all of them together
    for t in registered_threads():
        t.join(max(0.0, deadline - time.monotonic()))
    for t in running_threads():  # pragma: no cover - needs a read that never returns
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(t))


atexit.register(_join_at_exit)


class CorpusLoader(QObject):
    """Runs one loading function (e.g. core.load_corpus) in a QThread; emits loaded(obj) or failed(str)."""

    loaded = Signal(object)
    failed = Signal(str)
    finished = Signal()

    def __init__(self, load, label: str, parent=None):
        super().__init__(parent)
        self._load = load
        self.label = label
        self.result = None
        self._thread: _Runner | None = None

    def start(self) -> None:
        self._thread = _Runner(self._run, None, "charrnn-corpus-loader")
        self._thread.start_registered()

    @property
    def thread_running(self) -> bool:
        thread = self._thread
        return thread is not None and not thread._joined and thread.isRunning()

    def join(self, timeout: float = 600.0) -> bool:
        thread = self._thread
        if thread is None:
            return True
        done = thread.join(timeout)
        if done:
            self._thread = None  # joined and being deleted: nothing refers to it any more
        return done

    def _run(self) -> None:
        from core import CheckpointError, CorpusError

        try:
            self.result = self._load()
        except (CorpusError, CheckpointError) as e:
            self.failed.emit(str(e))
        except MemoryError:
            self.failed.emit(f"{self.label} is too large to load into memory")
        except Exception as e:  # reported, never raised in the thread
            traceback.print_exc(file=sys.stderr)
            self.failed.emit(f"cannot open {self.label}: {type(e).__name__}: {e}")
        else:
            self.loaded.emit(self.result)
        finally:
            self.finished.emit()
