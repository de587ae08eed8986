"""Recording training into a run: RunRecorder turns a Trainer's snapshots into lines and checkpoints."""

from __future__ import annotations

import math
import time

import numpy as np

from .layout import BEST, DIVERGED, INTERRUPTED, LATEST, RUNNING, checkpoint_path

CHECKPOINT_SECONDS = 60.0  # without an iteration interval, latest.npz is saved after this much training time
WARN_EVERY_SECONDS = 60.0  # a failing write (a full disk) is reported at most this often per kind


def finite_weights(trainer) -> bool:
    return all(np.isfinite(p).all() for p in trainer.params.values())


class RunRecorder:
    """Feeds a Trainer's snapshots into a RunWriter, deciding what is written when.

    - a metrics line every `log_every` iterations, at every evaluation (val_bpc) and at every gradient-flow
      measurement (its fields, core.gradflow.GradFlow.to_json, as in --metrics);
    - a samples line for every sample the trainer drew;
    - checkpoints/best.npz whenever the held-out score is the best so far;
    - checkpoints/latest.npz every `checkpoint_every` iterations (or, when None, every CHECKPOINT_SECONDS of
      training) and at close();
    - run.json's heartbeat; its status diverged as soon as a snapshot says so (running again when training goes
      on); the status at close(): diverged when the last divergence was not trained past, else what end() said
      (finished, interrupted), else interrupted.

    A write that fails (a full disk) does not stop training: record() and close() return warnings instead,
    each kind at most once a minute. Use it from the thread that steps the trainer.
    """

    def __init__(self, writer, trainer, *, log_every: int = 100, checkpoint_every: int | None = None,
                 checkpoint_seconds: float = CHECKPOINT_SECONDS, timer=time.perf_counter):
        self.writer = writer
        self.trainer = trainer
        self.log_every = max(1, int(log_every))
        self.checkpoint_every = checkpoint_every
        self.checkpoint_seconds = checkpoint_seconds
        self.timer = timer
        self.started = timer()
        self.outcome: str | None = None  # how the run ends: set by a diverged snapshot or end()
        self.reason: str | None = None  # e.g. the divergence message
        self.saved_at: int | None = None  # iteration of the last latest.npz
        self._last_save = self.started
        self._warned: dict[str, float] = {}
        self.extras: dict | None = None  # extra arrays saved with every run checkpoint (a client's curves and meta)
        self._extras_saved = True  # latest.npz holds the extras set last (else close() saves it again)
        self._unlogged = None  # (snap, elapsed, extra) of the last step recorded when it got no metrics line

    @property
    def path(self) -> str:
        return self.writer.path

    @property
    def latest_checkpoint(self) -> str:
        return checkpoint_path(self.writer.path, LATEST)

    def elapsed(self) -> float:
        """Training seconds of the run: the earlier part (before a resume) plus this recorder's."""
        return self.writer.elapsed_offset + self.timer() - self.started

    def record(self, snap, elapsed: float | None = None, **extra) -> list[str]:
        """Record one Snapshot (elapsed: training seconds, when the caller pauses its clock; extra: more fields
        for its metrics line). Returns warnings for the user (usually none)."""
        warnings: list[str] = []
        if snap.sample is not None:
            s = snap.sample
            self._try("samples", lambda: self.writer.log_sample(s.iteration, s.text, s.temperature), warnings)
        if snap.diverged:  # the trainer kept the last finite weights: save them now
            self.outcome, self.reason = DIVERGED, snap.diverged
            self.save_latest(warnings)
            self._try("run.json", lambda: self.writer.set_status(DIVERGED, snap.diverged), warnings)  # said now
            return warnings
        if self.outcome == DIVERGED:  # training went on after the divergence (say, at a lower rate)
            self.outcome = self.reason = None
            self._try("run.json", lambda: self.writer.set_status(RUNNING), warnings)
        elapsed = self.elapsed() if elapsed is None else elapsed
        self._unlogged = None
        if snap.iteration % self.log_every == 0 or snap.val_bpc is not None or snap.grad_flow is not None:
            self._log(snap, elapsed, extra, warnings)
        else:
            self._unlogged = (snap, elapsed, extra)
        if self._latest_due(snap.iteration):
            self.save_latest(warnings)
        self._try("run.json", self.writer.heartbeat, warnings)
        return warnings

    def _log(self, snap, elapsed: float, extra: dict, warnings: list[str]) -> None:
        """The metrics line of one snapshot (and best.npz when its held-out score is the best so far)."""
        row = {"elapsed": elapsed, "chars_seen": snap.chars_seen, "loss": snap.loss,
               "loss_per_char": snap.loss_per_char, "smooth_loss": snap.smooth_loss,
               "learning_rate": snap.learning_rate, "epoch": snap.epoch}
        if snap.val_bpc is not None:
            row["val_bpc"] = snap.val_bpc
        if snap.grad_flow is not None:  # measured on this iteration's window, before its update
            row.update(snap.grad_flow.to_json())
        best = self._try("metrics", lambda: self.writer.log_metrics(snap.iteration, **row, **extra), warnings)
        if best:
            self._try("best checkpoint", lambda: self._save(BEST), warnings)

    def record_sample(self, iteration: int, text: str, temperature: float | None, prime: str = "") -> list[str]:
        """Record a sample drawn outside training (say, sample now) beside the training samples; warnings."""
        warnings: list[str] = []
        self._try("samples", lambda: self.writer.log_sample(iteration, text, temperature, prime), warnings)
        return warnings

    def set_baselines(self, baselines: dict) -> list[str]:
        """Write the corpus's n-gram baselines ({"1-gram": held-out bits/char, ...}) into run.json now; warnings."""
        warnings: list[str] = []
        self._try("run.json", lambda: self.writer.set_baselines(baselines), warnings)
        return warnings

    def paused(self, seconds: float) -> None:
        """Leave seconds of not training (a pause) out of the run's elapsed training time."""
        self.started += seconds

    def _latest_due(self, iteration: int) -> bool:
        if self.checkpoint_every:
            return iteration % self.checkpoint_every == 0
        return self.timer() - self._last_save >= self.checkpoint_seconds

    def save_latest(self, warnings: list[str] | None = None) -> bool:
        """Save checkpoints/latest.npz now (not weights that are no longer finite); True when saved."""
        warnings = [] if warnings is None else warnings
        self._last_save = self.timer()
        if not finite_weights(self.trainer):
            return False
        if self._try("checkpoint", lambda: self._save(LATEST), warnings) is None:
            return False
        self.saved_at = self.trainer.iteration
        self._extras_saved = True
        return True

    def set_extras(self, extras: dict | None) -> None:
        """Extra arrays saved with every run checkpoint from now on, and in latest.npz at close() even when no step
        was taken since it was last saved."""
        self.extras = extras
        self._extras_saved = False

    def _save(self, which: str) -> str:
        """Save one of the run's checkpoints, with the extras when there are any."""
        if self.extras is None:
            return self.writer.save_checkpoint(self.trainer, which)
        return self.writer.save_checkpoint(self.trainer, which, self.extras)

    def end(self, outcome: str, reason: str | None = None) -> None:
        """Say how training ended (finished or interrupted), unless a divergence already said it."""
        if self.outcome is None:
            self.outcome, self.reason = outcome, reason

    def close(self) -> list[str]:
        """Log the last step trained if it has no metrics line yet (the run's latest iteration is that of its
        latest.npz), save latest.npz (if anything new), mark the run's status, release it. Returns warnings."""
        warnings: list[str] = []
        if self.writer.closed:
            return warnings
        unlogged, self._unlogged = self._unlogged, None
        if unlogged is not None and unlogged[0].iteration == self.trainer.iteration:
            self._log(*unlogged, warnings)
        if self.saved_at != self.trainer.iteration or not self._extras_saved:
            self.save_latest(warnings)
        # The writer lets go of its files and lock even when run.json cannot be written.
        self._try("run.json", lambda: self.writer.close(self.outcome or INTERRUPTED, self.reason), warnings)
        return warnings

    def _try(self, what: str, action, warnings: list[str]):
        """action(), or None with a warning (rate-limited per kind) when it fails with OSError."""
        try:
            result = action()
            return True if result is None else result
        except OSError as e:
            now = self.timer()
            if now - self._warned.get(what, -math.inf) >= WARN_EVERY_SECONDS:
                self._warned[what] = now
                reason = e.strerror or str(e)
                warnings.append(f"cannot write the run's {what} in {self.writer.path} ({reason}); "
                                f"training goes on")
            return None


class NoRecorder:
    """Stands in for a RunRecorder when no run is written (--no-run)."""

    path = None
    outcome = None
    saved_at = None
    extras = None

    def set_extras(self, extras: dict | None) -> None:
        self.extras = extras

    def set_baselines(self, baselines: dict) -> list[str]:
        return []

    def record(self, snap, elapsed=None, **extra) -> list[str]:
        return []

    def record_sample(self, iteration, text, temperature, prime="") -> list[str]:
        return []

    def paused(self, seconds: float) -> None:
        pass

    def end(self, outcome: str, reason: str | None = None) -> None:
        pass

    def close(self) -> list[str]:
        return []
