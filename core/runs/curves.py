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
    """A JSON value as a float (true/false as 1/0); NaN for null, absent, or not a number."""
    return float(value) if isinstance(value, (int, float)) else math.nan


def _floats(values: list) -> np.ndarray:
    """(n,) float64 of JSON values, as _number does each."""
    try:
        return np.array(values, dtype=np.float64)  # None becomes NaN
    except (TypeError, ValueError):  # text, lists, ...
        return np.array([_number(v) for v in values], dtype=np.float64)


def _iteration(record: dict) -> int | None:
    it = record.get("iteration")
    return it if isinstance(it, int) and not isinstance(it, bool) and it >= 0 else None


def resume_point(record: dict) -> int | None:
    """The iteration a of a {"event": "resumed", "iteration": a} line, else None."""
    return _iteration(record) if record.get("event") == RESUMED else None


class Curves:
    """The metrics of one run as columns (one value per logged iteration, in the order written, orphans dropped).

    Read the columns with `curves["loss_per_char"]` or `curves.loss_per_char` (NumPy arrays, (n,); iteration
    int64, the rest float64 with NaN where a line lacked the field). Fields beyond COLUMNS that hold numbers
    become columns too (`curves.extra_names`). Evaluations are `curves.val[name]` for name in VAL_COLUMNS,
    (m,) each. Lines are taken in batches, column by column; arrays are joined only when read after a change.
    """

    def __init__(self):
        self.generation = 0  # goes up whenever rows were dropped (orphans, clear): views must be rebuilt
        self._reset()

    def clear(self) -> None:
        """Forget every point (the file was truncated or replaced and is read again)."""
        self._reset()
        self.generation += 1

    def _reset(self) -> None:
        # name -> pieces of the column, in order (COLUMNS, val_bpc with NaN where not evaluated, extras)
        self._chunks: dict[str, list[np.ndarray]] = {name: [] for name in (*COLUMNS, "val_bpc")}
        self._extra: list[str] = []  # names of the extra columns, in order of appearance
        self._known = {*COLUMNS, "val_bpc", "event"}  # fields that are columns already (or never are)
        self._n = 0
        self.resumes: list[int] = []  # iteration of each resume, in order
        self._arrays: dict[str, np.ndarray] | None = None

    def __len__(self) -> int:
        return self._n

    def add(self, records) -> int:
        """Take metrics lines in file order; return how many points they added."""
        records = list(records)
        events = [i for i, r in enumerate(records) if "event" in r]
        added, start = 0, 0
        for i in events + [len(records)]:
            added += self._add_batch(records[start:i])
            if i < len(records):
                a = resume_point(records[i])
                if a is not None:
                    self._drop_after(a)
                    self.resumes.append(a)
            start = i + 1
        return added

    def _add_batch(self, records: list[dict]) -> int:
        """Append lines that hold no event, column by column."""
        its = [r.get("iteration") for r in records]
        valid = [i for i, it in enumerate(its) if it.__class__ is int and it >= 0]
        if len(valid) < len(records):
            records, its = [records[i] for i in valid], [its[i] for i in valid]
        k = len(records)
        if not k:
            return 0
        chunks = self._chunks
        chunks["iteration"].append(np.array(its, dtype=np.int64))
        for name in COLUMNS[1:]:
            chunks[name].append(_floats([r.get(name) for r in records]))
        for name in sorted(set().union(*map(dict.keys, records)) - self._known):
            values = [r.get(name) for r in records]
            if all(v is None for v in values):
                continue  # null alone: perhaps a number later
            self._known.add(name)  # a field with numbers is a column from now on; text never is
            if any(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
                self._extra.append(name)
                chunks[name] = [np.full(self._n, np.nan)]  # absent from the earlier lines
        for name in self._extra:
            chunks[name].append(_floats([r.get(name) for r in records]))
        chunks["val_bpc"].append(_floats([r.get("val_bpc") for r in records]))
        self._n += k
        self._arrays = None
        return k

    def _drop_after(self, a: int) -> None:
        """TensorBoard's orphan rule: a resume from iteration a drops every earlier point beyond a."""
        arrays = self._joined()
        keep = arrays["iteration"] <= a  # (n,)
        if keep.all():
            return
        for name, column in arrays.items():
            self._chunks[name] = [column[keep]]
        self._n = int(keep.sum())
        self._arrays = None
        self.generation += 1

    def _joined(self) -> dict[str, np.ndarray]:
        """Every column as one array (and stored so, in one piece)."""
        joined = {}
        for name, pieces in self._chunks.items():
            if len(pieces) != 1:
                dtype = np.int64 if name in INT_COLUMNS else np.float64
                pieces[:] = [np.concatenate(pieces) if pieces else np.empty(0, dtype)]
            joined[name] = pieces[0]
        return joined

    def _build(self) -> dict[str, np.ndarray]:
        if self._arrays is None:
            arrays = self._joined()
            val = arrays.pop("val_bpc", np.empty(0))
            has = ~np.isnan(val)  # (n,) rows that evaluated
            for name in VAL_COLUMNS:
                arrays["val." + name] = val[has] if name == "val_bpc" else arrays[name][has]
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
        pieces = self._chunks["iteration"]
        return int(pieces[-1][-1]) if self._n else None

    @property
    def best_val(self) -> tuple[int, float] | None:
        """(iteration, bits/char) of the lowest held-out score (the earliest on a tie), or None before any."""
        val = self.val
        if not len(val["val_bpc"]):
            return None
        i = int(np.argmin(val["val_bpc"]))
        return int(val["iteration"][i]), float(val["val_bpc"][i])


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
