"""One writer per run: a lock file naming the writing process (pid and host), taken over when that process is gone."""

from __future__ import annotations

import json
import os
import socket
import time

from ..checkpoint import _process_exists
from .layout import LOCK, RunError

TAKEOVER_ATTEMPTS = 3  # a stale lock is moved aside and ours created; a racing writer may win instead
ABANDONED_SECONDS = 60.0  # an unreadable lock file older than this is taken over


class RunLockedError(RunError):
    """Another live writer holds the run."""


def this_host() -> str:
    return socket.gethostname()


def read_lock(run_dir) -> dict | None:
    """The lock's {"pid", "host", "since"}, {} when it is unreadable, or None when the run is not locked."""
    try:
        with open(os.path.join(os.fspath(run_dir), LOCK), "rb") as f:
            holder = json.loads(f.read(4096))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


def holder_is_gone(holder: dict | None) -> bool:
    """Whether a lock's writer is known to be dead: a pid on this host that no longer exists."""
    if not holder:
        return False
    pid = holder.get("pid")
    return (holder.get("host") == this_host() and isinstance(pid, int) and not isinstance(pid, bool)
            and pid > 0 and not _process_exists(pid))


class RunLock:
    """The lock file of one run, held by this process from acquire() until release()."""

    def __init__(self, run_dir):
        self.run_dir = os.fspath(run_dir)
        self.path = os.path.join(self.run_dir, LOCK)
        self.held = False
        self.took_over: dict | None = None  # the stale holder replaced, if any

    def acquire(self) -> "RunLock":
        """Take the lock; RunLockedError names the live holder. A dead holder on this host is replaced."""
        mine = {"pid": os.getpid(), "host": this_host(), "since": time.time()}
        for _ in range(TAKEOVER_ATTEMPTS):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                holder = read_lock(self.run_dir)
                if holder is None:
                    continue  # released meanwhile: try again
                if not (holder_is_gone(holder) or (holder == {} and self._abandoned())):
                    raise RunLockedError(self._refusal(holder)) from None
                if self._move_aside(holder):
                    self.took_over = holder
                continue
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(json.dumps(mine))
                f.flush()
                os.fsync(f.fileno())
            self.held = True
            return self
        raise RunLockedError(f"cannot take the lock of {self.run_dir}: another writer keeps taking it")

    def _abandoned(self) -> bool:
        """An unreadable lock (a writer killed between creating and filling it) left alone for a while."""
        try:
            return time.time() - os.stat(self.path).st_mtime > ABANDONED_SECONDS
        except OSError:
            return False

    def _refusal(self, holder: dict) -> str:
        if not holder:
            who = "another writer (its lock file is unreadable)"
        else:
            since = holder.get("since")
            when = time.strftime(" since %Y-%m-%d %H:%M:%S", time.localtime(since)) if isinstance(
                since, (int, float)) else ""
            who = f"process {holder.get('pid')} on {holder.get('host')}{when}"
        return (f"run {self.run_dir} is being written by {who}; one writer per run (if that process is gone, "
                f"delete {self.path})")

    def _move_aside(self, holder: dict) -> bool:
        """Rename the stale lock out of the way, unless another writer replaced it meanwhile (then put it back)."""
        aside = f"{self.path}.stale.{os.getpid()}"
        try:
            os.replace(self.path, aside)
        except FileNotFoundError:
            return False
        try:
            with open(aside, "rb") as f:
                moved = json.loads(f.read(4096))
        except (OSError, ValueError):
            moved = {}
        if moved != holder:  # a live writer's fresh lock: restore it unless someone else holds the name now
            try:
                os.link(aside, self.path)
            except OSError:
                pass
        try:
            os.unlink(aside)
        except OSError:
            pass
        return moved == holder

    def release(self) -> None:
        """Delete the lock file if it is still ours; never raises."""
        if not self.held:
            return
        self.held = False
        holder = read_lock(self.run_dir)
        if holder and holder.get("pid") == os.getpid() and holder.get("host") == this_host():
            try:
                os.unlink(self.path)
            except OSError:
                pass
