"""The runs the app knows: folders searched for runs, one row per run, and runs followed live, read off the GUI thread.

Each folder has its own reader thread (a slow network share stalls only its own runs, never the
window). Every FOLLOW_MS the library hands each idle thread a job: list the folder again (every
SCAN_SECONDS; core.runs.find_runs, bounded by LIST_TIMEOUT) and poll the runs it follows (those
checked or live; core.runs.RunReader.poll reads only what was appended). Results come back by signal
and feed each run's RunHistory, the same model the live session feeds. A thread busy for longer than
STALL_SECONDS marks its folder "not responding"; it is given no new job until it answers.
"""

from __future__ import annotations

import os
import queue
import sys
import time
import traceback
from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal, Slot

from core.runs import LIVE, STALE, UNREADABLE, RunReader, RunSummary, find_run_dirs, summarize_run

from .history import RunHistory, SampleRecord
from .threads import _Runner

FOLLOW_MS = 1000  # how often followed runs are polled (the issue asks for at least every 2 s)
SCAN_SECONDS = 5.0  # how often a folder is listed again for new, changed or removed runs
LIST_TIMEOUT = 3.0  # seconds a listing may take before it returns what it found so far
STALL_SECONDS = 5.0  # a folder whose reader is busy this long is shown as not responding
JOIN_TIMEOUT = 0.2  # seconds shutdown waits for each reader thread (a stalled read is left behind)
_STOP = object()


@dataclass
class RunDelta:
    """What a reader thread found new in one followed run since its previous delta."""

    path: str
    reset: bool  # the GUI must drop what it had (first read, a truncated or replaced file, a resume's orphans)
    iterations: np.ndarray  # (n,) int64
    loss_per_char: np.ndarray  # (n,) nats per character (NaN on lines without a loss)
    smooth_loss: np.ndarray  # (n,) the lesson's smooth loss
    elapsed: np.ndarray  # (n,) training seconds
    val_iterations: np.ndarray  # (m,)
    val_bpc: np.ndarray  # (m,)
    samples: list  # core.runs.RunSample, new ones
    status: str
    iteration: int | None
    best_val_bpc: float | None
    info: dict | None
    error: str | None


@dataclass
class FolderResult:
    """A reader thread's answer to one job."""

    root: str
    summaries: list | None = None  # core.runs.RunSummary of every run found (None: the folder was not listed)
    error: str | None = None  # why the folder could not be listed
    deltas: list = field(default_factory=list)  # RunDelta of the followed runs


class _Followed:
    """A run a reader thread follows, and how much of it the GUI has been sent."""

    def __init__(self, path: str):
        self.reader = RunReader(path)
        self.rows = self.vals = self.n_samples = 0
        self.generation = self.resumes = None
        self.samples_list = None

    def delta(self) -> RunDelta:
        r = self.reader
        r.poll()
        c = r.curves
        reset = (c.generation != self.generation or len(c.resumes) != self.resumes
                 or r.samples.samples is not self.samples_list)
        if reset:
            self.rows = self.vals = self.n_samples = 0
            self.generation, self.resumes, self.samples_list = c.generation, len(c.resumes), r.samples.samples
        n = len(c)
        new = slice(self.rows, n)
        val = c.val
        m = len(val["iteration"])
        vnew = slice(self.vals, m)
        samples = r.samples.samples[self.n_samples:]
        self.rows, self.vals, self.n_samples = n, m, len(r.samples.samples)
        return RunDelta(r.path, reset, c.iteration[new], c.loss_per_char[new], c.smooth_loss[new], c.elapsed[new],
                        val["iteration"][vnew], val["val_bpc"][vnew], samples, r.status, r.latest_iteration,
                        r.best_val_bpc, r.info, r.error)


def list_runs(root: str) -> list:
    """Every run under root, summarised (core.runs.find_runs, bounded by LIST_TIMEOUT); a run that cannot be
    summarised (an unexpected error) is listed as unreadable rather than hiding the others."""
    runs = []
    for path in find_run_dirs(root, deadline=time.monotonic() + LIST_TIMEOUT):
        try:
            runs.append(summarize_run(path))
        except Exception as e:
            runs.append(RunSummary(path, os.path.basename(path), UNREADABLE, error=f"{type(e).__name__}: {e}"))
    return runs


class FolderReader(QObject):
    """One runs folder's reader thread: takes (scan, follow) jobs, answers with finished(FolderResult)."""

    finished = Signal(object)  # FolderResult

    def __init__(self, root: str):
        super().__init__()  # no parent: the thread keeps it alive for as long as it runs, even past the window
        self.root = root
        self.busy_since: float | None = None  # time.monotonic() the job in flight was given (GUI side)
        self.stalled = False
        self._queue: queue.Queue = queue.Queue()
        self._followed: dict[str, _Followed] = {}  # touched only by the thread
        self._thread = _Runner(self._loop, self._request_stop, "charrnn-runs-reader")
        self._thread.start_registered()

    def submit(self, scan: bool, follow: list[str]) -> None:
        self.busy_since = time.monotonic()
        self._queue.put((scan, list(follow)))

    @property
    def busy(self) -> bool:
        return self.busy_since is not None

    def _request_stop(self) -> None:
        self._queue.put(_STOP)

    def join(self, timeout: float) -> bool:
        """Stop the thread; True when it has ended (a thread stuck in a read stays registered until it returns)."""
        thread = self._thread
        if thread is None:
            return True
        done = thread.join(timeout)
        if done:
            self._thread = None
        return done

    def _loop(self) -> None:  # in the thread
        while True:
            job = self._queue.get()
            if job is _STOP:
                return
            try:
                result = self._work(*job)
            except Exception as e:  # reported, never raised in the thread
                traceback.print_exc(file=sys.stderr)
                result = FolderResult(self.root, error=f"{type(e).__name__}: {e}")
            try:
                self.finished.emit(result)
            except RuntimeError:  # pragma: no cover - the app is being torn down
                return

    def _work(self, scan: bool, follow: list[str]) -> FolderResult:
        result = FolderResult(self.root)
        if scan:
            if os.path.isdir(self.root):
                result.summaries = list_runs(self.root)
            else:
                result.error = f"{self.root} is not reachable (moved, deleted, or a share that is not mounted)"
        for path in list(self._followed):
            if path not in follow:
                del self._followed[path]
        for path in follow:
            f = self._followed.get(path)
            if f is None:
                f = self._followed[path] = _Followed(path)
            result.deltas.append(f.delta())
        return result


@dataclass
class RunRow:
    """One run as the GUI shows it."""

    path: str
    root: str  # the runs folder it was found under
    status: str = STALE
    iteration: int | None = None
    best_val_bpc: float | None = None
    preset: str | None = None
    cell: str = "rnn"
    corpus: str | None = None
    config: dict = field(default_factory=dict)
    error: str | None = None
    colour: int = 0  # index into the palette
    checked: bool = False
    current: bool = False  # the run this window is writing
    history: RunHistory | None = None  # its curves and samples (checked, live or current runs)

    @property
    def name(self) -> str:
        return os.path.basename(self.path)

    def settings(self) -> str:
        """Its model's size and optimiser in a few characters, e.g. "H=128 T=32 B=32 adam 0.003"."""
        c = self.config
        parts = [f"{k}={c[key]}" for k, key in (("H", "hidden_size"), ("T", "seq_length"), ("B", "batch_size"))
                 if key in c]
        if c.get("optimizer"):
            parts.append(f"{c['optimizer']} {c.get('learning_rate', '')}".strip())
        return " ".join(parts)

    @property
    def seq_length(self) -> int:
        T = self.config.get("seq_length")
        return T if isinstance(T, int) and T > 0 else 25

    @property
    def batch_size(self) -> int:
        B = self.config.get("batch_size")
        return B if isinstance(B, int) and B > 0 else 1


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


class RunsLibrary(QObject):
    """Every run under the app's runs folder and the folders the user added, plus the run this window writes."""

    rowsChanged = Signal()  # rows were added or removed (or reordered)
    rowUpdated = Signal(str)  # one row's data changed (its path)
    curvesChanged = Signal()  # a checked run's curves or samples grew or were replaced
    foldersChanged = Signal()  # a folder was added, removed, or stopped or started responding

    def __init__(self, parent=None):
        super().__init__(parent)
        self.app_folder: str | None = None  # where this app writes its runs
        self.user_folders: list[str] = []  # added by the user (File -> Open Runs Folder)
        self.rows: dict[str, RunRow] = {}  # path -> row, in the order found
        self.folder_errors: dict[str, str] = {}  # root -> why it could not be listed
        self._readers: dict[str, FolderReader] = {}
        self._scanned_at: dict[str, float] = {}
        self._next_colour = 0
        self._current: str | None = None
        self._current_samples = 0  # the iteration of the current run's newest sample, as last announced
        self._shut_down = False
        self._timer = QTimer(self)
        self._timer.setInterval(FOLLOW_MS)
        self._timer.timeout.connect(self.tick)
        self._timer.start()

    # -- folders ---------------------------------------------------------------------------------

    @property
    def folders(self) -> list[str]:
        roots = [self.app_folder] if self.app_folder else []
        return roots + [f for f in self.user_folders if f not in roots]

    def set_app_folder(self, folder: str | None) -> None:
        self.app_folder = os.path.abspath(folder) if folder else None
        self._sync_readers()

    def add_folder(self, folder: str) -> bool:
        """Search folder (recursively) for runs from now on; False if it is searched already."""
        folder = os.path.abspath(folder)
        if folder in self.folders:
            self.refresh(folder)
            return False
        self.user_folders.append(folder)
        self._sync_readers()
        return True

    def remove_folder(self, folder: str) -> None:
        if folder in self.user_folders:
            self.user_folders.remove(folder)
            self._sync_readers()

    def _sync_readers(self) -> None:
        roots = self.folders
        for root in list(self._readers):
            if root not in roots:
                self._retire(self._readers.pop(root))
                self.folder_errors.pop(root, None)
        for root in roots:
            if root not in self._readers and not self._shut_down:
                reader = FolderReader(root)
                reader.finished.connect(self._on_finished)
                self._readers[root] = reader
                self._scanned_at[root] = -SCAN_SECONDS
        gone = [p for p, row in self.rows.items() if not row.current and self._root_of(p) is None]
        for p in gone:
            del self.rows[p]
        self.foldersChanged.emit()
        self.rowsChanged.emit()
        self.tick()

    def _root_of(self, path: str) -> str | None:
        for root in self.folders:
            if _under(path, root):
                return root
        return None

    def refresh(self, root: str | None = None) -> None:
        """List a folder (or all) again at the next chance."""
        for r in ([root] if root else list(self._scanned_at)):
            self._scanned_at[r] = -SCAN_SECONDS
        self.tick()

    def stalled_folders(self) -> list[str]:
        return [root for root, reader in self._readers.items() if reader.stalled]

    # -- the run this window writes ----------------------------------------------------------------

    def set_current(self, path: str | None, history: RunHistory | None = None, config: dict | None = None,
                    preset: str | None = None, corpus: str | None = None, ended: str = STALE) -> None:
        """The run being written by this window (its curves are the session's own), or None when it ended
        (with the status `ended`, until its folder is read again)."""
        old = self._current
        if old is not None and old in self.rows:
            self.update_current()  # its last iterations (the session took them in just before it ended)
            self.rows[old].current = False
            self.rows[old].status = ended
            # From now on its folder is the source, as for any run: read again from disk when it is checked (the
            # session's copy was made from signals, and a sample still queued at the end never reached it).
            self.rows[old].history = None
            self.rowUpdated.emit(old)
        self._current = os.path.abspath(path) if path else None
        if self._current is None:
            self.refresh()
            return
        row = self.rows.get(self._current)
        new = row is None
        if new:
            row = self.rows[self._current] = RunRow(self._current, self._root_of(self._current) or "",
                                                    colour=self._take_colour())
        row.current, row.status, row.history = True, LIVE, history
        row.config, row.preset, row.corpus, row.error = dict(config or {}), preset, corpus, None
        self.update_current()
        if new:
            self.rowsChanged.emit()
        else:
            self.rowUpdated.emit(self._current)

    def update_current(self) -> None:
        """The current run's iteration and best score, from its curves."""
        row = self.rows.get(self._current) if self._current else None
        if row is None or row.history is None:
            return
        h = row.history.curves
        iteration = int(h.iterations.last(0)) or None
        best = float(h.val_bpc.view.min()) if len(h.val_bpc) else None
        if (iteration, best) != (row.iteration, row.best_val_bpc):
            row.iteration, row.best_val_bpc = iteration, best
            self.rowUpdated.emit(row.path)
        samples = len(row.history.samples) and row.history.samples[-1].iteration
        if row.checked and samples != self._current_samples:  # the comparison shows its newest sample
            self.curvesChanged.emit()
        self._current_samples = samples

    @property
    def current(self) -> str | None:
        return self._current

    # -- checking ----------------------------------------------------------------------------------

    def set_checked(self, path: str, checked: bool) -> None:
        row = self.rows.get(path)
        if row is None or row.checked == checked:
            return
        row.checked = checked
        self.rowUpdated.emit(path)
        self.curvesChanged.emit()
        if checked:
            self.tick()

    def checked_rows(self) -> list[RunRow]:
        return [row for row in self.rows.values() if row.checked]

    def forget(self, path: str) -> None:
        """Drop a row (a run deleted or renamed from this window)."""
        row = self.rows.pop(path, None)
        if row is not None:
            self.rowsChanged.emit()
            if row.checked:
                self.curvesChanged.emit()
            self.refresh(row.root or None)

    # -- reading -----------------------------------------------------------------------------------

    @Slot()
    def tick(self) -> None:
        """Give each idle folder reader its next job; mark the ones that have been busy too long."""
        now = time.monotonic()
        for root, reader in self._readers.items():
            if reader.busy:
                if not reader.stalled and now - reader.busy_since > STALL_SECONDS:
                    reader.stalled = True
                    self.foldersChanged.emit()
                continue
            follow = [p for p, row in self.rows.items() if row.root == root and not row.current
                      and (row.checked or row.status == LIVE)]
            scan = now - self._scanned_at.get(root, -SCAN_SECONDS) >= SCAN_SECONDS
            if scan:
                self._scanned_at[root] = now
            if scan or follow:
                reader.submit(scan, follow)

    @Slot(object)
    def _on_finished(self, result: FolderResult) -> None:
        reader = self._readers.get(result.root)
        if reader is None or self.sender() is not reader:
            return
        reader.busy_since = None
        if reader.stalled:
            reader.stalled = False
            self.foldersChanged.emit()
        if result.error != self.folder_errors.get(result.root):
            if result.error:
                self.folder_errors[result.root] = result.error
            else:
                self.folder_errors.pop(result.root, None)
            self.foldersChanged.emit()
        if result.summaries is not None:
            self._apply_listing(result.root, result.summaries)
        curves = False
        for delta in result.deltas:
            curves |= self._apply_delta(delta)
        if curves:
            self.curvesChanged.emit()

    def _apply_listing(self, root: str, summaries) -> None:
        found = set()
        structure = False
        for s in summaries:
            if self._root_of(s.path) != root:  # found under a nested folder that is searched on its own
                continue
            found.add(s.path)
            row = self.rows.get(s.path)
            if row is None:
                row = self.rows[s.path] = RunRow(s.path, root, colour=self._take_colour())
                structure = True
            if row.current:
                continue
            before = (row.status, row.iteration, row.best_val_bpc, row.error)
            row.status, row.error = s.status, s.error
            if row.history is None or not (row.checked or s.status == LIVE):  # a followed run knows better
                row.iteration, row.best_val_bpc = s.iteration, s.best_val_bpc
            row.preset, row.cell, row.corpus, row.config = s.preset, s.cell, s.corpus, dict(s.config or {})
            if (row.status, row.iteration, row.best_val_bpc, row.error) != before:
                self.rowUpdated.emit(row.path)
        for path in [p for p, row in self.rows.items() if row.root == root and p not in found and not row.current]:
            del self.rows[path]
            structure = True
        if structure:
            self.rowsChanged.emit()

    def _apply_delta(self, d: RunDelta) -> bool:
        row = self.rows.get(d.path)
        if row is None or row.current:
            return False
        if d.info is not None:
            config = d.info.get("config")
            row.config = dict(config) if isinstance(config, dict) else row.config
        row.status, row.error = d.status, d.error
        if d.iteration is not None:
            row.iteration = d.iteration
        row.best_val_bpc = d.best_val_bpc if d.best_val_bpc is not None else row.best_val_bpc
        grew = d.reset or len(d.iterations) or len(d.val_iterations) or d.samples
        if d.reset or row.history is None:
            row.history = RunHistory(row.seq_length, max_samples=None, batch_size=row.batch_size)
        row.history.add_rows(d.iterations, d.loss_per_char, d.smooth_loss, d.elapsed, d.val_iterations, d.val_bpc)
        for s in d.samples:
            row.history.add_sample(SampleRecord(s.iteration, s.text, None,
                                                s.temperature if s.temperature is not None else 1.0,
                                                "training", s.prime))
        self.rowUpdated.emit(row.path)
        return bool(grew) and row.checked

    def _take_colour(self) -> int:
        c = self._next_colour
        self._next_colour += 1
        return c

    # -- the end -----------------------------------------------------------------------------------

    def _retire(self, reader: FolderReader) -> None:
        reader.finished.disconnect(self._on_finished)
        reader.join(JOIN_TIMEOUT)  # a thread stuck in a read stays registered; app.main() deals with it at exit

    def shutdown(self) -> None:
        """Stop the timer and the reader threads (without waiting for one stuck in a read). Idempotent."""
        self._shut_down = True
        self._timer.stop()
        for reader in self._readers.values():
            self._retire(reader)
        self._readers.clear()
