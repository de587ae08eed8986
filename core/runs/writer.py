"""Writing a run directory: RunWriter holds the run's lock and appends its metrics, samples and checkpoints."""

from __future__ import annotations

import math
import os
import time

import numpy as np

from ..checkpoint import save_checkpoint
from .curves import RESUMED
from .jsonl import JsonlAppender
from .layout import (CHECKPOINTS, DIVERGED, FINISHED, INTERRUPTED, LATEST, METRICS, RUNNING, SAMPLES, RunError,
                     RunExistsError, checkpoint_path, corpus_identity, is_run_dir, new_info, read_info, write_info)
from .lock import RunLock

HEARTBEAT_SECONDS = 20.0  # run.json is rewritten at least this often while running (readers: stale after 60 s)
ENDINGS = (FINISHED, INTERRUPTED, DIVERGED)


def _config_dict(config) -> dict:
    return config.to_dict() if hasattr(config, "to_dict") else dict(config)


def _corpus_dict(corpus) -> dict:
    return corpus_identity(corpus) if hasattr(corpus, "vocab") else dict(corpus)


class RunWriter:
    """The one writer of a run directory (see core.runs for the format). Not thread-safe: use it from one thread.

    Open it with RunWriter.create (a new run) or RunWriter.resume (continue one from a checkpoint); then
    log_metrics / log_sample / save_checkpoint while training, heartbeat() now and then, and close(status)
    at the end (or use it as a context manager: an exception closes it as interrupted). Each line is
    written whole by one system call and reaches the file at once; run.json is replaced atomically.
    """

    def __init__(self, path: str, info: dict, lock: RunLock, clock=time.time, elapsed_offset: float = 0.0):
        """Internal: use create() or resume()."""
        self.path = path
        self.info = info
        self.clock = clock
        self.elapsed_offset = elapsed_offset  # training seconds of the run before this writer (kept points)
        self._lock = lock
        self.closed = False
        self._last_info_write = -math.inf
        try:
            os.makedirs(os.path.join(path, CHECKPOINTS), exist_ok=True)
            self._metrics = JsonlAppender(os.path.join(path, METRICS))
            self._samples = JsonlAppender(os.path.join(path, SAMPLES))
        except BaseException:
            lock.release()
            raise

    # -- opening -------------------------------------------------------------------------------

    @classmethod
    def create(cls, path, *, config, corpus, command="app", preset: str | None = None,
               clock=time.time) -> "RunWriter":
        """Start a new run in path (created if needed). config: a TrainConfig or its dict; corpus: a Corpus or
        its corpus_identity(). RunExistsError when path already holds a run; RunLockedError when it is locked."""
        path = os.path.abspath(os.fspath(path))
        if os.path.exists(path) and not os.path.isdir(path):
            raise RunError(f"cannot write a run to {path}: it is a file, not a folder")
        corpus = _corpus_dict(corpus)
        os.makedirs(path, exist_ok=True)
        lock = RunLock(path).acquire()
        try:
            if is_run_dir(path):
                it = _iteration_of(path)
                raise RunExistsError(f"{path} already holds a run{f' (iteration {it})' if it else ''}; continue it "
                                     f"from {checkpoint_path(path, LATEST)} or choose another folder")
            info = new_info(_config_dict(config), corpus, command, preset, clock())
            writer = cls(path, info, lock, clock)
            writer._write_info()
        except BaseException:
            lock.release()
            raise
        return writer

    @classmethod
    def resume(cls, path, *, iteration: int, config=None, corpus=None, command=None,
               clock=time.time) -> "RunWriter":
        """Continue the run in path from a checkpoint at `iteration`: appends {"event": "resumed", "iteration": ...}
        to its logs, so readers drop the points after it written before (the orphan rule). A corpus given must
        be the run's (same sha256); config (new live settings) replaces the recorded one."""
        from .reader import read_run

        path = os.path.abspath(os.fspath(path))
        read_info(path)  # a clear RunError when it is not a run
        lock = RunLock(path).acquire()
        try:
            previous = read_run(path)
            info = dict(previous.info)
            if corpus is not None:
                corpus = _corpus_dict(corpus)
                had = info.get("corpus") or {}
                if had.get("sha256") and corpus.get("sha256") != had.get("sha256"):
                    raise RunError(f"{path} was trained on {had.get('name')} ({had.get('characters')} characters), "
                                   f"not on this text ({corpus.get('name')}); start a new run instead")
            event = {"event": RESUMED, "iteration": int(iteration)}
            previous.curves.add([event])
            curves = previous.curves
            elapsed = curves.elapsed[np.isfinite(curves.elapsed)]  # (k,) training seconds of the kept points
            best = curves.best_val
            now = clock()
            info.update(status=RUNNING, updated=now, iteration=int(iteration), ended=None,
                        best_val_bpc=best[1] if best else None, best_iteration=best[0] if best else None)
            info.pop("diverged", None)
            if config is not None:
                info["config"] = _config_dict(config)
            info["resumes"] = list(info.get("resumes") or []) + [
                {"iteration": int(iteration), "unix": now, "command": command}]
            writer = cls(path, info, lock, clock, elapsed_offset=float(elapsed[-1]) if len(elapsed) else 0.0)
            writer._metrics.append({**event, "wall_time": now})
            writer._samples.append({**event, "wall_time": now})
            writer._write_info()
        except BaseException:
            lock.release()
            raise
        return writer

    # -- writing -------------------------------------------------------------------------------

    def log_metrics(self, iteration: int, **fields) -> bool:
        """Append one metrics line: iteration, wall_time (now) and the fields given (elapsed, chars_seen, loss,
        loss_per_char, smooth_loss, learning_rate, val_bpc when evaluated, and anything else). Non-finite
        numbers are written as null. Returns True when val_bpc is the best held-out score so far."""
        self._check_open()
        self._metrics.append({"iteration": int(iteration), "wall_time": self.clock(), **fields})
        self.info["iteration"] = int(iteration)
        val = fields.get("val_bpc")
        best = self.info.get("best_val_bpc")
        if isinstance(val, (int, float)) and math.isfinite(val) and (best is None or val < best):
            self.info["best_val_bpc"], self.info["best_iteration"] = float(val), int(iteration)
            return True
        return False

    def log_sample(self, iteration: int, text: str, temperature: float | None = None, prime: str = "") -> None:
        """Append one sample line: iteration, temperature, prime, text (and wall_time)."""
        self._check_open()
        self._samples.append({"iteration": int(iteration), "temperature": temperature, "prime": prime,
                              "text": text, "wall_time": self.clock()})

    def save_checkpoint(self, trainer, which: str = LATEST, extras: dict | None = None) -> str:
        """Save trainer's full state as checkpoints/latest.npz (or best.npz), atomically, with optional extra arrays
        (core.checkpoint.save_checkpoint's extras: e.g. the app's curves); returns the path."""
        self._check_open()
        path = checkpoint_path(self.path, which)
        save_checkpoint(trainer, path, extras=extras)
        return path

    def heartbeat(self, force: bool = False) -> bool:
        """Rewrite run.json (iteration, best score, update time) if HEARTBEAT_SECONDS passed; True if it did."""
        self._check_open()
        if not force and self.clock() - self._last_info_write < HEARTBEAT_SECONDS:
            return False
        self._write_info()
        return True

    def set_status(self, status: str, reason: str | None = None) -> None:
        """Record a status in run.json now (running, or an ending); reason: e.g. why training diverged."""
        if status not in (RUNNING, *ENDINGS):
            raise ValueError(f"unknown run status {status!r}")
        self.info["status"] = status
        if reason:
            self.info[status] = reason  # e.g. info["diverged"] = the divergence message
        if status in ENDINGS:
            self.info["ended"] = self.clock()
        else:  # running again (say, after a divergence trained past): no ending any more
            self.info["ended"] = None
            for ending in ENDINGS:
                self.info.pop(ending, None)
        self._write_info()

    def set_baselines(self, baselines: dict) -> None:
        """Record the corpus's n-gram baselines in run.json now: {"1-gram": held-out bits/char, ...} (core.ngram)."""
        self._check_open()
        self.info["baselines"] = {str(k): float(v) for k, v in baselines.items()}
        self._write_info()

    def close(self, status: str = FINISHED, reason: str | None = None) -> None:
        """Mark the run finished, interrupted or diverged, close its files and release its lock. Idempotent."""
        if self.closed:
            return
        if status not in ENDINGS:
            raise ValueError(f"a run ends finished, interrupted or diverged, not {status!r}")
        try:
            self.set_status(status, reason)
        finally:
            self.closed = True
            self._metrics.close()
            self._samples.close()
            self._lock.release()

    def __enter__(self) -> "RunWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        self.close(FINISHED if exc_type is None else INTERRUPTED)
        return False

    def _write_info(self) -> None:
        now = self.clock()
        self.info["updated"] = now
        write_info(self.path, self.info)
        self._last_info_write = now

    def _check_open(self) -> None:
        if self.closed:
            raise RunError(f"the run {self.path} is closed")

    @property
    def best_val_bpc(self) -> float | None:
        return self.info.get("best_val_bpc")

    @property
    def iteration(self) -> int:
        return int(self.info.get("iteration") or 0)


def _iteration_of(path) -> int | None:
    try:
        it = read_info(path).get("iteration")
    except RunError:
        return None
    return it if isinstance(it, int) else None
