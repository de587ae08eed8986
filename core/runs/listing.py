"""Finding runs under a folder and summarising each quickly (run.json plus the tail of metrics.jsonl)."""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field

from .curves import resume_point
from .layout import DIVERGED, FINISHED, INTERRUPTED, METRICS, RUN_JSON, SAMPLES, RunError, open_regular, read_info
from .lock import holder_is_gone, read_lock
from .reader import UNREADABLE, derive_status, info_cell

TAIL_BYTES = 16 << 10  # the end of metrics.jsonl read for a summary (doubled until it holds a complete line)
MAX_TAIL_BYTES = 1 << 20
MAX_DEPTH = 8  # folders below a runs folder searched for runs
MAX_RUNS = 2000  # runs listed per search at most


@dataclass
class RunSummary:
    """One row of a runs listing: what a run is and how far it got, without reading its whole history."""

    path: str  # absolute path of the run directory
    name: str  # its folder name
    status: str  # live | finished | interrupted | diverged | stale | unreadable
    iteration: int | None = None  # latest iteration logged
    best_val_bpc: float | None = None  # best held-out bits/char (None before any evaluation)
    preset: str | None = None  # the preset its settings started from
    cell: str = "rnn"  # the model's cell
    corpus: str | None = None  # the corpus's name
    created: str | None = None  # ISO time it was created
    updated: float | None = None  # unix time it last changed
    config: dict = field(default_factory=dict)  # its TrainConfig as a dict
    error: str | None = None  # why it could not be read (status unreadable)


def _tail_lines(path: str) -> list[bytes]:
    """The complete lines at the end of a file (at least one when the file has any), oldest first; none when it
    does not exist. OSError when it cannot be read or is not a regular file (a named pipe, say)."""
    try:
        f = open_regular(path)
    except FileNotFoundError:
        return []
    with f:
        size = os.fstat(f.fileno()).st_size
        want = TAIL_BYTES
        while True:
            start = max(0, size - want)
            f.seek(start)
            data = f.read(size - start)
            data = data[:data.rfind(b"\n") + 1]  # a partial last line waits
            lines = data.split(b"\n")[:-1]
            if start > 0:
                lines = lines[1:]  # the first may be cut
            if lines or start == 0 or want >= MAX_TAIL_BYTES:
                return lines
            want *= 2


def _tail_facts(lines: list[bytes]) -> tuple[int | None, list[float], int | None]:
    """(latest iteration, held-out scores after the last resume's orphans are dropped, resume point) of
    tail lines. Only the last line and lines that mention val_bpc or an event are parsed."""
    latest = resumed = None
    vals: list[tuple[int, float]] = []
    for i, line in enumerate(lines):
        last = i == len(lines) - 1
        if not (last or b"val_bpc" in line or b"event" in line):
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict):
            continue
        a = resume_point(record)
        if a is not None:
            vals = [(it, v) for it, v in vals if it <= a]
            resumed = a
            if last:
                latest = a
            continue
        it, val = record.get("iteration"), record.get("val_bpc")
        if isinstance(it, int) and isinstance(val, (int, float)) and math.isfinite(val):
            vals.append((it, float(val)))
        if last and isinstance(it, int):
            latest = it
    return latest, [v for _, v in vals], resumed


def summarize_run(path, clock=time.time) -> RunSummary:
    """A run's summary from run.json and the tail of metrics.jsonl; never raises (an unreadable run says why)."""
    path = os.path.abspath(os.fspath(path))
    name = os.path.basename(path)
    try:
        info = read_info(path)
    except RunError as e:
        return RunSummary(path, name, UNREADABLE, error=str(e))
    metrics = os.path.join(path, METRICS)
    try:
        latest, vals, _ = _tail_facts(_tail_lines(metrics))
    except OSError as e:
        return RunSummary(path, name, UNREADABLE, error=f"cannot read {metrics}: {e.strerror or e}")
    best = info.get("best_val_bpc")
    candidates = [v for v in (best, *vals) if isinstance(v, (int, float)) and math.isfinite(v)]
    iteration = latest if latest is not None else info.get("iteration")
    written = info.get("status")
    updated = [info.get("updated")]
    for name_ in (RUN_JSON, METRICS, SAMPLES):
        try:
            updated.append(os.stat(os.path.join(path, name_)).st_mtime)
        except OSError:
            pass
    last = max((u for u in updated if isinstance(u, (int, float))), default=None)
    gone = written not in (FINISHED, INTERRUPTED, DIVERGED) and holder_is_gone(read_lock(path))
    corpus = info.get("corpus") if isinstance(info.get("corpus"), dict) else {}
    config = info.get("config") if isinstance(info.get("config"), dict) else {}
    return RunSummary(path, name, derive_status(written, last, clock(), gone),
                      iteration if isinstance(iteration, int) else None, min(candidates) if candidates else None,
                      info.get("preset") if isinstance(info.get("preset"), str) else None, info_cell(info),
                      corpus.get("name"), info.get("created"), last, config)


def find_run_dirs(folder, max_depth: int = MAX_DEPTH, max_runs: int = MAX_RUNS,
                  deadline: float | None = None) -> list[str]:
    """Run directories (folders holding run.json) at or below folder, searched breadth-first, like
    TensorBoard's logdir. A run's own subfolders, hidden folders and unreadable entries are skipped; symlink
    loops are followed once. Stops at max_depth, max_runs, or when time.monotonic() passes deadline."""
    root = os.path.abspath(os.fspath(folder))
    found: list[str] = []
    seen: set[tuple[int, int]] = set()
    level = [root]
    for _depth in range(max_depth + 1):
        below: list[str] = []
        for path in level:
            if len(found) >= max_runs or (deadline is not None and time.monotonic() > deadline):
                return found
            try:
                st = os.stat(path)
                if (st.st_dev, st.st_ino) in seen:
                    continue
                seen.add((st.st_dev, st.st_ino))
                with os.scandir(path) as it:
                    entries = list(it)
            except OSError:
                continue
            if any(e.name == RUN_JSON for e in entries):
                found.append(path)
                continue
            for e in entries:
                try:
                    if not e.name.startswith(".") and e.is_dir():
                        below.append(e.path)
                except OSError:
                    continue
        if not below:
            break
        level = sorted(below)
    return found


def find_runs(folder, clock=time.time, max_depth: int = MAX_DEPTH, max_runs: int = MAX_RUNS,
              timeout: float | None = None) -> list[RunSummary]:
    """Every run at or below folder, summarised (see find_run_dirs and summarize_run), sorted by path.
    timeout: seconds after which the search stops and returns what it found so far."""
    deadline = None if timeout is None else time.monotonic() + timeout
    runs = []
    for path in find_run_dirs(folder, max_depth, max_runs, deadline):
        if deadline is not None and time.monotonic() > deadline:
            break
        runs.append(summarize_run(path, clock))
    return sorted(runs, key=lambda s: s.path)
