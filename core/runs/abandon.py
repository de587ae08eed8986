"""Closing a run whose writer died: mark it interrupted (with why) from another process, keeping what it wrote."""

from __future__ import annotations

import time

from .layout import DIVERGED, FINISHED, INTERRUPTED, RunError, read_info, write_info
from .lock import RunLock, RunLockedError


def mark_interrupted(run_dir, reason: str, clock=time.time) -> bool:
    """Say `interrupted` (and why) in run.json of a run whose writer is gone (a killed engine process): takes over
    its stale lock, leaves metrics, samples and checkpoints as they are, releases the lock. True when it marked the
    run; False when the run already ended (finished, interrupted, diverged), is held by a live writer, or cannot be
    read or written (nothing is raised: this is a best effort after a crash)."""
    try:
        lock = RunLock(run_dir).acquire()
    except (RunLockedError, RunError, OSError):
        return False
    try:
        info = read_info(run_dir)
        if info.get("status") in (FINISHED, INTERRUPTED, DIVERGED):
            return False
        now = clock()
        info.update(status=INTERRUPTED, ended=now, updated=now)
        info[INTERRUPTED] = reason
        write_info(run_dir, info)
        return True
    except (RunError, OSError):
        return False
    finally:
        lock.release()
