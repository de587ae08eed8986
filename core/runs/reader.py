"""Reading a run directory, once or following it live: RunReader, read_run and the derived status.

No threads and no Qt: a caller that must stay responsive (the app) calls poll() off its GUI thread.
"""

from __future__ import annotations

import os
import time

from .curves import Curves, SampleLog
from .jsonl import JsonlFollower
from .layout import (BEST, DIVERGED, FINISHED, INTERRUPTED, LATEST, METRICS, RUN_JSON, SAMPLES, RunError,
                     checkpoint_path, read_info)
from .lock import holder_is_gone, read_lock

STALE_SECONDS = 60.0  # a run still marked running with no update for this long is shown as stale
LIVE, STALE, UNREADABLE = "live", "stale", "unreadable"
STATUSES = (LIVE, FINISHED, INTERRUPTED, DIVERGED, STALE, UNREADABLE)  # what a reader reports


def derive_status(written: str | None, last_update: float | None, now: float, writer_gone: bool = False) -> str:
    """What a run is, from run.json's status: a clean end as written; else live, or stale when its writer
    is known dead or nothing was updated for STALE_SECONDS."""
    if written in (FINISHED, INTERRUPTED, DIVERGED):
        return written
    if writer_gone or last_update is None or now - last_update > STALE_SECONDS:
        return STALE
    return LIVE


def info_cell(info: dict) -> str:
    """The model's cell named in a run's config ("rnn" when the run predates other cells)."""
    config = info.get("config")
    cell = config.get("cell") if isinstance(config, dict) else None
    return cell if isinstance(cell, str) and cell else "rnn"


def _mtime(path: str) -> float | None:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None


def _latest(*times) -> float | None:
    times = [t for t in times if isinstance(t, (int, float)) and not isinstance(t, bool)]
    return max(times) if times else None


class RunReader:
    """One run directory as a live data model: run.json, its curves and samples; poll() reads what is new.

    poll() reads only what was appended to metrics.jsonl and samples.jsonl since the last call (a partial
    last line waits; a truncated or replaced file is read again from its start) and run.json only when it
    changed. It never raises for a folder that vanished or cannot be read: `error` says why, and what was
    read before stays. `clock` (unix seconds) decides staleness; tests inject one.
    """

    def __init__(self, path, clock=time.time):
        self.path = os.path.abspath(os.fspath(path))
        self.name = os.path.basename(self.path)
        self.clock = clock
        self.info: dict | None = None  # run.json, as last read
        self.error: str | None = None  # why the last poll could not read the run, else None
        self.curves = Curves()
        self.samples = SampleLog()
        self._metrics = JsonlFollower(os.path.join(self.path, METRICS))
        self._samples = JsonlFollower(os.path.join(self.path, SAMPLES))
        self._info_stamp = None
        self._info_mtime: float | None = None

    def poll(self) -> bool:
        """Read what changed since the last poll; True when anything did (run.json, curves or samples)."""
        changed = False
        try:
            changed = self._poll_info()
            for follower, model in ((self._metrics, self.curves), (self._samples, self.samples)):
                while True:
                    records, restarted = follower.poll()
                    if restarted:
                        model.clear()
                        changed = True
                    if records:
                        model.add(records)
                        changed = True
                    if not (records and follower.pending):  # more than one read's worth waits: read on
                        break
            self.error = None
        except RunError as e:
            self.error = str(e)
        except OSError as e:
            self.error = f"cannot read {e.filename or self.path}: {e.strerror or e}"
        return changed

    def _poll_info(self) -> bool:
        path = os.path.join(self.path, RUN_JSON)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            if not os.path.isdir(self.path):
                raise RunError(f"the run {self.path} is gone (moved, deleted or its folder is not reachable)")
            raise RunError(f"{self.path} is not a run (no {RUN_JSON})") from None
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        if stamp == self._info_stamp:
            return False
        self.info = read_info(self.path)
        self._info_stamp, self._info_mtime = stamp, st.st_mtime
        return True

    # -- what the run is ---------------------------------------------------------------------

    @property
    def last_update(self) -> float | None:
        """Unix time the run last changed: the newest of run.json's heartbeat and the files' modification times."""
        updated = self.info.get("updated") if self.info else None
        return _latest(updated, self._info_mtime, self._metrics.mtime, self._samples.mtime)

    @property
    def status(self) -> str:
        """live, finished, interrupted, diverged, stale, or unreadable (before run.json could be read)."""
        if self.info is None:
            return UNREADABLE
        written = self.info.get("status")
        gone = written not in (FINISHED, INTERRUPTED, DIVERGED) and holder_is_gone(read_lock(self.path))
        return derive_status(written, self.last_update, self.clock(), gone)

    @property
    def latest_iteration(self) -> int | None:
        if self.curves.latest_iteration is not None:
            return self.curves.latest_iteration
        it = (self.info or {}).get("iteration")
        return it if isinstance(it, int) else None

    @property
    def best_val_bpc(self) -> float | None:
        best = self.curves.best_val
        return best[1] if best else None

    @property
    def config(self) -> dict:
        config = (self.info or {}).get("config")
        return config if isinstance(config, dict) else {}

    @property
    def preset(self) -> str | None:
        return (self.info or {}).get("preset")

    @property
    def cell(self) -> str:
        return info_cell(self.info or {})

    def checkpoint(self, which: str = LATEST) -> str | None:
        """The path of the run's latest (or BEST) checkpoint, or None when it has none."""
        path = checkpoint_path(self.path, which)
        return path if os.path.isfile(path) else None

    @property
    def best_checkpoint(self) -> str | None:
        return self.checkpoint(BEST)


def read_run(path, clock=time.time) -> RunReader:
    """A run read whole (a RunReader polled once; poll() again to follow it). RunError when it is not a run."""
    reader = RunReader(path, clock)
    reader.poll()
    if reader.info is None:
        raise RunError(reader.error or f"{path} is not a run")
    return reader
