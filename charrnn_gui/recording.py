"""Writing the live session's run off the GUI thread: one thread owns a core.runs.RunWriter and works a queue.

The session puts jobs on the queue (metrics lines, samples, a checkpoint, a status) and never waits
for a disk; the thread runs them in order, keeps run.json's heartbeat going while the run is open
(also while training is paused: the writer is alive), and reports by signal: opened(path) once the
run exists, refused(why) when it cannot be created (then nothing is written), warned(why) when a
write fails (a full disk: training goes on), closed(status) at the end.
"""

from __future__ import annotations

import math
import queue
import sys
import time
import traceback

from PySide6.QtCore import QObject, Signal

from core.runs import BEST, INTERRUPTED, RunError, checkpoint_path

from .worker import _Runner

HEARTBEAT_POLL = 5.0  # seconds the thread waits for a job before it beats run.json's heartbeat anyway
WARN_EVERY = 60.0  # a failing kind of write is reported at most this often
CLOSE_TIMEOUT = 15.0  # seconds close() waits for the queue to drain (a slow disk); then the thread is left to finish
_STOP = object()


class RunRecording(QObject):
    """One run being written. open_writer(warn) runs in the thread and returns the RunWriter (create or resume;
    warn(text) reports a note such as "could not resume, writing a new run"); save_checkpoint(path) runs in the
    thread too and holds the trainer itself while it writes."""

    opened = Signal(str)  # the run's folder
    refused = Signal(str)  # the run could not be opened: why (nothing is recorded)
    warned = Signal(str)  # a write failed: why (training goes on)
    closed = Signal(str)  # the status the run was closed with

    def __init__(self, open_writer, save_checkpoint, parent=None):
        super().__init__(parent)
        self._open_writer = open_writer
        self._save_checkpoint = save_checkpoint
        self._queue: queue.Queue = queue.Queue()
        self._warned: dict[str, float] = {}
        self.path: str | None = None  # set in the thread once opened (read it after opened)
        self.writer = None  # the RunWriter; touched only by the thread
        self.ended = False  # close() was called
        self._thread = _Runner(self._run, self._request_stop, "charrnn-run-writer")

    def start(self) -> None:
        """Start the thread; connect to the signals first (a run that cannot be created is refused at once)."""
        self._thread.start_registered()

    # -- from the GUI thread -------------------------------------------------------------------

    def log_metrics(self, rows: list[dict]) -> None:
        """Append metrics lines ({"iteration": i, ...fields}); after an improved held-out score, best_saver runs."""
        if rows and not self.ended:
            self._queue.put(("metrics", rows))

    def log_sample(self, iteration: int, text: str, temperature: float | None, prime: str = "") -> None:
        if not self.ended:
            self._queue.put(("sample", (iteration, text, temperature, prime)))

    def save_checkpoint(self, which: str) -> None:
        """Queue a save of the run's latest (or best) checkpoint."""
        if not self.ended:
            self._queue.put(("checkpoint", which))

    def set_baselines(self, baselines: dict) -> None:
        """Queue writing the n-gram baselines into run.json ({"1-gram": held-out bits/char, ...})."""
        if not self.ended:
            self._queue.put(("baselines", dict(baselines)))

    def set_status(self, status: str, reason: str | None = None) -> None:
        if not self.ended:
            self._queue.put(("status", (status, reason)))

    def close(self, status: str, reason: str | None = None, timeout: float = CLOSE_TIMEOUT) -> bool:
        """Queue the end of the run and wait (at most timeout) for the thread; True when it has ended."""
        if not self.ended:
            self.ended = True
            self._queue.put(("close", (status, reason)))
            self._queue.put(_STOP)
        thread = self._thread
        if thread is None:
            return True
        done = thread.join(timeout)
        if done:
            self._thread = None  # the thread refers to this object: no cycle is left behind
        return done

    def _request_stop(self) -> None:
        """The thread registry's stop: end the run as interrupted if nobody closed it."""
        if not self.ended:
            self.ended = True
            self._queue.put(("close", (INTERRUPTED, None)))
            self._queue.put(_STOP)

    def wait_idle(self, timeout: float = CLOSE_TIMEOUT) -> bool:
        """Wait until the queued jobs are done (e.g. a checkpoint that holds the trainer)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline and self.thread_running:
            time.sleep(0.005)
        return not self._queue.unfinished_tasks

    @property
    def thread_running(self) -> bool:
        return self._thread is not None and self._thread.isRunning()

    # -- in the thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._record()
        finally:  # the callables refer to the session: let go of them, so nothing keeps a cycle alive
            self._open_writer = self._save_checkpoint = None

    def _record(self) -> None:
        try:
            self.writer = self._open_writer(self.warned.emit)
        except (RunError, OSError) as e:
            self.ended = True
            self.refused.emit(str(e) if isinstance(e, RunError) else f"cannot write a run: {e.strerror or e}")
            return
        except Exception as e:  # reported, never raised in the thread
            traceback.print_exc(file=sys.stderr)
            self.ended = True
            self.refused.emit(f"cannot write a run: {type(e).__name__}: {e}")
            return
        self.path = self.writer.path
        self.opened.emit(self.path)
        status = None
        while True:
            try:
                job = self._queue.get(timeout=HEARTBEAT_POLL)
            except queue.Empty:
                self._try("run.json", self.writer.heartbeat)
                continue
            try:
                if job is _STOP:
                    break
                kind, args = job
                if kind == "close":
                    status = args[0]
                    self._try("run.json", lambda: self.writer.close(*args))  # files and lock go even if this fails
                else:
                    self._do(kind, args)
                    self._try("run.json", self.writer.heartbeat)
            except Exception as e:  # a bug must not end recording silently
                traceback.print_exc(file=sys.stderr)
                self._warn("run", f"{type(e).__name__}: {e}")
            finally:
                self._queue.task_done()
        if status is not None:
            self.closed.emit(status)

    def _do(self, kind: str, args) -> None:
        w = self.writer
        if w.closed:
            return
        if kind == "metrics":
            best = False
            for row in args:
                row = dict(row)
                it = row.pop("iteration")
                improved = self._try("metrics", lambda: w.log_metrics(it, **row))
                best = best or improved is True
            if best:
                self._try("best checkpoint", lambda: self._save_checkpoint(checkpoint_path(w.path, BEST)))
        elif kind == "sample":
            iteration, text, temperature, prime = args
            self._try("samples", lambda: w.log_sample(iteration, text, temperature, prime))
        elif kind == "checkpoint":
            self._try("checkpoint", lambda: self._save_checkpoint(checkpoint_path(w.path, args)))
        elif kind == "status":
            self._try("run.json", lambda: w.set_status(*args))
        elif kind == "baselines":
            self._try("run.json", lambda: w.set_baselines(args))

    def _try(self, what: str, action):
        try:
            return action()
        except OSError as e:
            self._warn(what, e.strerror or str(e))
        except RunError as e:
            self._warn(what, str(e))
        return None

    def _warn(self, what: str, why: str) -> None:
        now = time.monotonic()
        if now - self._warned.get(what, -math.inf) >= WARN_EVERY:
            self._warned[what] = now
            where = f" in {self.path}" if self.path else ""
            self.warned.emit(f"cannot write the run's {what}{where} ({why}); training goes on")
