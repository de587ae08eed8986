"""A run's recorded history as a data model: metric columns as NumPy arrays, and samples; orphans dropped."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

RESUMED = "resumed"  # {"event": "resumed", "iteration": a}: the points after a written before it are orphans
COLUMNS = ("iteration", "wall_time", "elapsed", "chars_seen", "loss", "loss_per_char", "smooth_loss",
           "learning_rate")  # the fields every metrics line may carry, in this order
INT_COLUMNS = ("iteration",)  # int64; the other columns are float64 with NaN for absent values
VAL_COLUMNS = ("iteration", "chars_seen", "elapsed", "wall_time", "val_bpc")  # one row per evaluation


def _number(value) -> float:
    """A JSON value as a float; NaN for null, absent, or not a number."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return math.nan


def _iteration(record: dict) -> int | None:
    it = record.get("iteration")
    return it if isinstance(it, int) and not isinstance(it, bool) and it >= 0 else None


def resume_point(record: dict) -> int | None:
    """The iteration a of a {"event": "resumed", "iteration": a} line, else None."""
    return _iteration(record) if record.get("event") == RESUMED else None


class Curves:
    """The metrics of one run as columns (one value per logged iteration, in the order written, orphans dropped).

    Read the columns with `curves["loss_per_char"]` or `curves.loss_per_char` (NumPy arrays, (n,); iteration
    int64, the rest float64 with NaN where a line lacked the field). Fields beyond COLUMNS
    that hold numbers become columns too (`curves.extra_names`). Evaluations are `curves.val[name]` for
    name in VAL_COLUMNS, (m,) each. Arrays are rebuilt only after new lines arrive.
    """

    def __init__(self):
        self.generation = 0  # goes up whenever rows were dropped (orphans, clear): views must be rebuilt
        self._reset()

    def clear(self) -> None:
        """Forget every point (the file was truncated or replaced and is read again)."""
        self._reset()
        self.generation += 1

    def _reset(self) -> None:
        self._rows: dict[str, list] = {name: [] for name in COLUMNS}
        self._extra: dict[str, list[float]] = {}
        self._val: dict[str, list] = {name: [] for name in VAL_COLUMNS}
        self.resumes: list[int] = []  # iteration of each resume, in order
        self._arrays: dict[str, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self._rows["iteration"])

    def add(self, records) -> int:
        """Take metrics lines in file order; return how many points they added."""
        added = 0
        for record in records:
            a = resume_point(record)
            if a is not None:
                self._drop_after(a)
                self.resumes.append(a)
                continue
            it = _iteration(record)
            if it is None or "event" in record:
                continue
            self._append(it, record)
            added += 1
        if added:
            self._arrays = None
        return added

    def _append(self, it: int, record: dict) -> None:
        n = len(self)
        rows = self._rows
        rows["iteration"].append(it)
        for name in COLUMNS[1:]:
            rows[name].append(_number(record.get(name)))
        for name, value in record.items():
            if name in rows or name in self._extra or name in ("val_bpc", "event"):
                continue
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self._extra[name] = [math.nan] * n  # a new field: absent from the earlier lines
        for name, column in self._extra.items():
            column.append(_number(record.get(name)))
        val = _number(record.get("val_bpc"))
        if not math.isnan(val):
            for name in VAL_COLUMNS:
                self._val[name].append(val if name == "val_bpc" else rows[name][-1])

    def _drop_after(self, a: int) -> None:
        """TensorBoard's orphan rule: a resume from iteration a drops every earlier point beyond a."""
        its = self._rows["iteration"]
        keep = [i for i, it in enumerate(its) if it <= a]
        if len(keep) < len(its):
            for column in (*self._rows.values(), *self._extra.values()):
                column[:] = [column[i] for i in keep]
            self._arrays = None
            self.generation += 1
        vits = self._val["iteration"]
        vkeep = [i for i, it in enumerate(vits) if it <= a]
        if len(vkeep) < len(vits):
            for column in self._val.values():
                column[:] = [column[i] for i in vkeep]
            self._arrays = None
            self.generation += 1

    def _build(self) -> dict[str, np.ndarray]:
        if self._arrays is None:
            arrays = {}
            for name, column in (*self._rows.items(), *self._extra.items()):
                arrays[name] = np.array(column, dtype=np.int64 if name in INT_COLUMNS else np.float64)
            for name, column in self._val.items():
                arrays["val." + name] = np.array(column, dtype=np.int64 if name in INT_COLUMNS else np.float64)
            self._arrays = arrays
        return self._arrays

    def __getitem__(self, name: str) -> np.ndarray:
        return self._build()[name]

    def __getattr__(self, name: str) -> np.ndarray:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._build()[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def val(self) -> dict[str, np.ndarray]:
        """The evaluations: {"iteration", "chars_seen", "elapsed", "wall_time", "val_bpc"} -> (m,) arrays."""
        arrays = self._build()
        return {name: arrays["val." + name] for name in VAL_COLUMNS}

    @property
    def extra_names(self) -> tuple[str, ...]:
        return tuple(self._extra)

    @property
    def latest_iteration(self) -> int | None:
        its = self._rows["iteration"]
        return its[-1] if its else None

    @property
    def best_val(self) -> tuple[int, float] | None:
        """(iteration, bits/char) of the lowest held-out score, or None before any evaluation."""
        vals = self._val["val_bpc"]
        if not vals:
            return None
        i = min(range(len(vals)), key=vals.__getitem__)
        return self._val["iteration"][i], vals[i]


@dataclass(frozen=True)
class RunSample:
    """One sample a run drew while training."""

    iteration: int  # completed iterations when it was drawn
    text: str  # the generated characters
    temperature: float | None  # sampling temperature (None when not recorded)
    prime: str = ""  # text read before sampling
    wall_time: float | None = None  # unix time it was written


class SampleLog:
    """A run's samples in the order written, orphans dropped."""

    def __init__(self):
        self.samples: list[RunSample] = []

    def clear(self) -> None:
        self.samples = []

    def __len__(self) -> int:
        return len(self.samples)

    def add(self, records) -> int:
        added = 0
        for record in records:
            a = resume_point(record)
            if a is not None:
                self.samples = [s for s in self.samples if s.iteration <= a]
                continue
            it = _iteration(record)
            text = record.get("text")
            if it is None or not isinstance(text, str):
                continue
            prime = record.get("prime")
            temp = _number(record.get("temperature"))
            wall = _number(record.get("wall_time"))
            self.samples.append(RunSample(it, text, None if math.isnan(temp) else temp,
                                          prime if isinstance(prime, str) else "", None if math.isnan(wall) else wall))
            added += 1
        return added

    def nearest(self, iteration: int) -> RunSample | None:
        """The sample drawn nearest to an iteration (the earlier one on a tie), or None when there are none."""
        if not self.samples:
            return None
        return min(self.samples, key=lambda s: (abs(s.iteration - iteration), s.iteration))
