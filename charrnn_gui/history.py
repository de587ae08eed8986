"""A run's curves and samples: loss history in growing NumPy arrays, samples, the debiased moving average, CSV.

No Qt here: the worker thread records into a LossHistory; the session keeps a RunHistory (curves and
samples) that the live training feeds, and a run read from disk feeds the same kind of RunHistory.
"""

from __future__ import annotations

import csv
import math
from collections import deque
from dataclasses import dataclass

import numpy as np

LN2 = math.log(2.0)
LOSS_DTYPE = np.float32  # stored losses (the engine computes in float64 or float32)
RECENT_SAMPLES = 2_000  # samples a RunHistory keeps as objects (the newest)


class GrowingArray:
    """A 1-D array that grows by amortised doubling; `view` is the filled part (no copy)."""

    def __init__(self, dtype=np.float64, capacity: int = 1024):
        self._buf = np.empty(max(1, int(capacity)), dtype=dtype)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    @property
    def capacity(self) -> int:
        return len(self._buf)

    @property
    def view(self) -> np.ndarray:
        return self._buf[:self._n]

    def _reserve(self, n: int) -> None:
        if n > len(self._buf):
            cap = len(self._buf)
            while cap < n:
                cap *= 2
            grown = np.empty(cap, dtype=self._buf.dtype)
            grown[:self._n] = self._buf[:self._n]
            self._buf = grown

    def append(self, value) -> None:
        if self._n == len(self._buf):
            self._reserve(self._n + 1)
        self._buf[self._n] = value
        self._n += 1

    def extend(self, values) -> None:
        values = np.asarray(values)
        k = len(values)
        if k:
            self._reserve(self._n + k)
            self._buf[self._n:self._n + k] = values
            self._n += k

    def clear(self) -> None:
        self._n = 0

    def keep(self, mask) -> None:
        """Keep only the filled elements where mask is true, in order (in place)."""
        kept = self.view[mask]
        self._buf[:len(kept)] = kept
        self._n = len(kept)

    def last(self, default=None):
        return self._buf[self._n - 1] if self._n else default


@dataclass(frozen=True)
class Progress:
    """What the worker hands the GUI at most 20 times a second: fresh arrays plus the latest scalars."""

    iterations: np.ndarray  # (n,) int64, completed iterations
    loss_per_char: np.ndarray  # (n,) float64, nats per character of each window
    smooth_loss: np.ndarray  # (n,) float64, the lesson's smooth loss (summed over T)
    val_iterations: np.ndarray  # (m,) int64
    val_bpc: np.ndarray  # (m,) float64, validation bits per character
    iteration: int  # completed iterations now
    epoch: float  # passes over the training text
    chars_seen: int
    learning_rate: float
    its_per_sec: float  # iterations per second over the last batch (0 when unknown)
    elapsed: float  # seconds spent training, in total
    stride: int = 1  # the sender's history keeps only multiples of this (see LossHistory)


MAX_POINTS = 1 << 17  # loss points kept per history: a night of training holds the same memory as a minute


def stride_for(iteration: int, max_points: int = MAX_POINTS) -> int:
    """The thinning stride after `iteration` iterations: the smallest power of two s with iteration // s < max_points.

    A history keeps exactly the iterations that are multiples of its stride, so what it holds depends only
    on how far training got, never on how the iterations arrived (one by one, in batches, from a checkpoint).
    """
    s = 1
    while iteration // s >= max_points:
        s *= 2
    return s


class LossHistory:
    """Per-iteration losses and validation points of one model, in growing arrays of bounded size.

    Every iteration is kept until MAX_POINTS of them are; then every other one is dropped and only
    every 2nd iteration is kept from then on, and so on (every 4th, 8th, ...): the curves keep their
    shape over any run length with at most MAX_POINTS points. Validation points are all kept.
    """

    def __init__(self, seq_length: int = 25, max_points: int = MAX_POINTS, batch_size: int = 1):
        self.seq_length = int(seq_length)
        self.batch_size = int(batch_size)  # streams: an iteration reads seq_length * batch_size characters
        self.max_points = int(max_points)
        self.stride = 1  # only iterations that are multiples of this are kept
        self.generation = 0  # goes up each time older points are thinned out (indices shift)
        self.elapsed_mark = math.nan  # training seconds when the newest row was added (or the model was installed)
        cap = min(1024, self.max_points)
        # float32 losses: plenty for curves and CSV, half the memory of float64.
        self.iterations = GrowingArray(np.int64, cap)
        self.loss = GrowingArray(LOSS_DTYPE, cap)  # nats per character
        self.smooth = GrowingArray(LOSS_DTYPE, cap)  # the lesson's smooth loss, summed over T
        self.elapsed = GrowingArray(np.float64, cap)  # training seconds at each row (NaN where unknown)
        self.val_iterations = GrowingArray(np.int64, 64)
        self.val_bpc = GrowingArray(np.float64, 64)

    def __len__(self) -> int:
        return len(self.iterations)

    def clear(self, seq_length: int | None = None) -> None:
        if seq_length is not None:
            self.seq_length = int(seq_length)
        for arr in (self.iterations, self.loss, self.smooth, self.elapsed, self.val_iterations, self.val_bpc):
            arr.clear()
        self.stride = 1
        self.generation += 1

    def _thin(self) -> None:
        """Double the stride and drop the points that are not multiples of it."""
        self.stride *= 2
        keep = self.iterations.view % self.stride == 0
        for arr in (self.iterations, self.loss, self.smooth, self.elapsed):
            arr.keep(keep)
        self.generation += 1

    def append_snapshot(self, snap, elapsed: float = math.nan) -> None:
        """Record one engine Snapshot (a diverged one is not a completed iteration and is skipped)."""
        if snap.diverged:
            return
        if snap.val_bpc is not None:
            self.val_iterations.append(snap.iteration)
            self.val_bpc.append(snap.val_bpc)
        if snap.iteration % self.stride:
            return
        self.iterations.append(snap.iteration)
        self.loss.append(snap.loss_per_char)
        self.smooth.append(snap.smooth_loss)
        self.elapsed.append(elapsed)
        if len(self.iterations) >= self.max_points:
            self._thin()

    def extend(self, progress: Progress) -> np.ndarray:
        """Add a worker batch; returns the training times given to its rows, (n,): spread evenly from the previous
        batch's time to this one's (a batch spans at most the worker's emit interval, 50 ms)."""
        while self.stride < progress.stride:  # follow the sender's thinning, so both hold the same rows
            self._thin()
        n = len(progress.iterations)
        start = self.elapsed_mark if math.isfinite(self.elapsed_mark) else progress.elapsed
        elapsed = start + (progress.elapsed - start) * np.arange(1, n + 1, dtype=np.float64) / max(1, n)  # (n,)
        self.elapsed_mark = progress.elapsed
        self._extend(progress.iterations, progress.loss_per_char, progress.smooth_loss, elapsed)
        self.val_iterations.extend(progress.val_iterations)
        self.val_bpc.extend(progress.val_bpc)
        return elapsed

    def extend_rows(self, its, loss_per_char, smooth, elapsed) -> None:
        """Add rows read from a run on disk: iterations (ascending), nats/char, the lesson's smooth loss, seconds."""
        self._extend(its, loss_per_char, smooth, elapsed)
        if len(elapsed):
            self.elapsed_mark = float(np.asarray(elapsed)[-1])

    def extend_val(self, its, bpc) -> None:
        """Add held-out evaluations (iterations ascending, bits per character)."""
        self.val_iterations.extend(np.asarray(its, dtype=np.int64))
        self.val_bpc.extend(np.asarray(bpc, dtype=np.float64))

    def _extend(self, its, loss, smooth, elapsed=None) -> None:
        its = np.asarray(its, dtype=np.int64)
        elapsed = np.full(len(its), math.nan) if elapsed is None else np.asarray(elapsed, dtype=np.float64)
        start = 0
        while start < len(its):
            keep = np.flatnonzero(its[start:] % self.stride == 0) + start
            room = self.max_points - len(self.iterations)
            take = keep[:room]
            self.iterations.extend(its[take])
            self.loss.extend(np.asarray(loss)[take])
            self.smooth.extend(np.asarray(smooth)[take])
            self.elapsed.extend(elapsed[take])
            if len(self.iterations) < self.max_points:
                return
            start = int(take[-1]) + 1 if len(take) else len(its)
            self._thin()

    def since(self, iteration: int) -> slice:
        """The rows after a given iteration (rows are in iteration order)."""
        return slice(int(np.searchsorted(self.iterations.view, iteration, side="right")), len(self.iterations))

    def val_since(self, iteration: int) -> slice:
        return slice(int(np.searchsorted(self.val_iterations.view, iteration, side="right")), len(self.val_iterations))

    def copy(self) -> "LossHistory":
        other = LossHistory(self.seq_length, self.max_points, self.batch_size)
        other.stride = self.stride
        other.elapsed_mark = self.elapsed_mark
        other.iterations.extend(self.iterations.view)
        other.loss.extend(self.loss.view)
        other.smooth.extend(self.smooth.view)
        other.elapsed.extend(self.elapsed.view)
        other.val_iterations.extend(self.val_iterations.view)
        other.val_bpc.extend(self.val_bpc.view)
        return other

    # -- checkpoints ---------------------------------------------------------------------------

    def to_extras(self) -> dict[str, np.ndarray]:
        """Fresh arrays for core.save_checkpoint(extras=...)."""
        return {
            "loss_iter": self.iterations.view.copy(),
            "loss_nats": self.loss.view.copy(),
            "loss_smooth": self.smooth.view.copy(),
            "val_iter": self.val_iterations.view.copy(),
            "val_bpc": self.val_bpc.view.copy(),
        }

    def x_values(self, axis: str) -> np.ndarray:
        """The rows' positions along an x axis: "iteration", "chars" (characters seen) or "time" (training s)."""
        if axis == "chars":
            return self.iterations.view * float(self.seq_length * self.batch_size)
        if axis == "time":
            return self.elapsed.view
        return self.iterations.view

    @classmethod
    def from_extras(cls, extras: dict, seq_length: int, up_to: int | None = None,
                    max_points: int = MAX_POINTS, batch_size: int = 1) -> "LossHistory":
        """The history stored in a checkpoint, up to an iteration (missing or malformed arrays: empty)."""
        h = cls(seq_length, max_points, batch_size)
        try:
            it = np.asarray(extras["loss_iter"], dtype=np.int64).ravel()
            loss = np.asarray(extras["loss_nats"], dtype=LOSS_DTYPE).ravel()
            smooth = np.asarray(extras["loss_smooth"], dtype=LOSS_DTYPE).ravel()
        except (KeyError, TypeError, ValueError):
            return h
        n = min(len(it), len(loss), len(smooth))
        it, loss, smooth = it[:n], loss[:n], smooth[:n]
        if up_to is not None:
            k = int(np.searchsorted(it, up_to, side="right"))
            it, loss, smooth = it[:k], loss[:k], smooth[:k]
        last = int(up_to if up_to is not None else (it[-1] if len(it) else 0))
        h.stride = stride_for(last, h.max_points)
        h._extend(it, loss, smooth)  # thins to the stride a run of that length has
        try:
            vi = np.asarray(extras["val_iter"], dtype=np.int64).ravel()
            vb = np.asarray(extras["val_bpc"], dtype=np.float64).ravel()
            m = min(len(vi), len(vb))
            h.val_iterations.extend(vi[:m])
            h.val_bpc.extend(vb[:m])
        except (KeyError, TypeError, ValueError):
            pass
        return h

    # -- export --------------------------------------------------------------------------------

    def write_csv(self, path) -> int:
        """Write one row per iteration; returns the number of rows. Validation bpc where evaluated."""
        T = self.seq_length
        val = dict(zip(self.val_iterations.view.tolist(), self.val_bpc.view.tolist()))
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["iteration", "loss", "loss_nats_per_char", "bits_per_char", "smooth_loss", "val_bits_per_char"])
            its = self.iterations.view.tolist()
            nats = self.loss.view.tolist()
            smooth = self.smooth.view.tolist()
            for i, l, s in zip(its, nats, smooth):
                v = val.get(i)
                w.writerow([i, f"{l * T:.6g}", f"{l:.6g}", f"{l / LN2:.6g}", f"{s:.6g}", "" if v is None else f"{v:.6g}"])
        return len(its)


@dataclass(frozen=True)
class SampleRecord:
    """One sample of a run: the text and what it was drawn with."""

    iteration: int  # completed iterations when drawn
    text: str
    smooth_loss: float | None = None  # the lesson's smooth loss then (training samples)
    temperature: float = 1.0
    kind: str = "training"  # "training" or "sample now"
    prime: str = ""
    argmax: bool = False

    def header(self) -> str:
        if self.kind == "training":
            loss = "" if self.smooth_loss is None else f"  ·  smooth loss {self.smooth_loss:.2f}"
            temp = "" if self.temperature == 1.0 else f"  ·  temperature {self.temperature:g}"
            return f"── iteration {self.iteration:,}{loss}{temp} ──"
        how = "argmax" if self.argmax else f"temperature {self.temperature:g}"
        prime = f"  ·  prime {self.prime!r}" if self.prime else ""
        return f"══ sample now  ·  iteration {self.iteration:,}  ·  {how}{prime} ══"


class RunHistory:
    """One run's curves (a LossHistory) and its newest samples: what the live session and a run on disk both feed.

    The live session adds worker batches (add_progress) and samples as they are drawn; a run read
    from disk adds its metrics rows (add_rows) and samples the same way. Plots, the samples view,
    the runs overlay and checkpoints read it.
    """

    def __init__(self, seq_length: int = 25, max_samples: int | None = RECENT_SAMPLES, batch_size: int = 1):
        self.curves = LossHistory(seq_length, batch_size=batch_size)
        self.samples: deque[SampleRecord] = deque(maxlen=max_samples)

    def add_progress(self, progress: Progress) -> np.ndarray:
        """Add a worker batch; returns the training times of its rows (see LossHistory.extend)."""
        return self.curves.extend(progress)

    def add_rows(self, its, loss_per_char, smooth, elapsed, val_its=(), val_bpc=()) -> None:
        """Add metrics read from disk (rows with a non-finite loss are not points of the curve)."""
        its = np.asarray(its, dtype=np.int64)
        loss = np.asarray(loss_per_char, dtype=np.float64)
        ok = np.isfinite(loss)  # (n,)
        if len(its):
            last = int(self.curves.iterations.last(-1))
            ok &= its > last  # rows are in iteration order; a repeat (a resume's first line) is dropped
        self.curves.extend_rows(its[ok], loss[ok], np.asarray(smooth, dtype=np.float64)[ok],
                                np.asarray(elapsed, dtype=np.float64)[ok])
        self.curves.extend_val(val_its, val_bpc)

    def add_sample(self, record: SampleRecord) -> None:
        self.samples.append(record)

    def recent_samples(self, n: int) -> list[SampleRecord]:
        """The newest n samples, oldest first."""
        return list(self.samples)[-n:] if n > 0 else []

    def sample_nearest(self, iteration: int, kind: str | None = "training") -> SampleRecord | None:
        """The kept sample (of that kind; None: any) whose iteration is nearest, the earlier one on a tie."""
        best = None
        for rec in self.samples:
            if kind is not None and rec.kind != kind:
                continue
            if best is None or abs(rec.iteration - iteration) < abs(best.iteration - iteration):
                best = rec
        return best


# -- smoothing ---------------------------------------------------------------------------------


def ema_scan(x, weight: float, start: float = 0.0) -> np.ndarray:
    """y[t] = weight*y[t-1] + (1-weight)*x[t] with y[-1] = start, vectorised (a log-depth prefix scan)."""
    y = (1.0 - weight) * np.asarray(x, dtype=np.float64)  # fresh array
    n = len(y)
    a, d = float(weight), 1
    while d < n and a > 0.0:
        y[d:] += a * y[:-d]  # the right side is evaluated into a temporary first
        a *= a
        d *= 2
    if start and n:
        y += start * np.power(float(weight), np.arange(1, n + 1, dtype=np.float64))
    return y


def debias(y: np.ndarray, weight: float, first_index: int = 0) -> np.ndarray:
    """TensorBoard's debiasing of an EMA started from zero: y[t] / (1 - weight**(t+1))."""
    if weight <= 0.0:
        return y
    t = np.arange(first_index + 1, first_index + 1 + len(y), dtype=np.float64)
    return y / -np.expm1(t * math.log(weight))


class DebiasedEMA:
    """TensorBoard-style smoothing of a growing series, extended incrementally."""

    def __init__(self, weight: float = 0.9):
        self.weight = float(weight)
        self.values = GrowingArray(LOSS_DTYPE)
        self._raw_last = 0.0

    def reset(self, weight: float | None = None) -> None:
        if weight is not None:
            self.weight = float(weight)
        self.values.clear()
        self._raw_last = 0.0

    def extend(self, x) -> None:
        x = np.asarray(x, dtype=np.float64)
        if not len(x):
            return
        raw = ema_scan(x, self.weight, self._raw_last)
        self._raw_last = float(raw[-1])
        self.values.extend(debias(raw, self.weight, len(self.values)))
