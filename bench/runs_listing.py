"""(f) listing a folder of runs: find_runs over 200 runs of 5,000 metrics lines each, against reading them whole.

    python bench/run.py --only runs
"""

from __future__ import annotations

import statistics
import tempfile
import time

from bench.common import median
from core.runs import RunWriter, find_runs, read_run
from core.runs.layout import json_line

RUNS = 200
LINES = 5_000
CORPUS = {"name": "input.txt", "path": "/data/input.txt", "characters": 1_115_394, "vocabulary": "abc",
          "sha256": "0" * 64}


def metrics_block(lines: int, start: float) -> bytes:
    """The metrics.jsonl of a run logged every 100 iterations with an evaluation every 5th line."""
    out = []
    for i in range(1, lines + 1):
        row = {"iteration": i * 100, "wall_time": start + i * 0.4, "elapsed": i * 0.4, "chars_seen": i * 3200,
               "loss": 80.0 / (1 + i / 500), "loss_per_char": 3.2 / (1 + i / 500), "smooth_loss": 81.0 / (1 + i / 500),
               "learning_rate": 0.002, "epoch": i * 0.003}
        if i % 5 == 0:
            row["val_bpc"] = 2.0 + 1.0 / i
        out.append(json_line(row))
    return b"".join(out)


def make_runs(folder: str, runs: int = RUNS, lines: int = LINES) -> None:
    """runs finished runs under folder (in 10 groups, as a user's folders of experiments would be)."""
    block = metrics_block(lines, time.time() - 3600)
    for r in range(runs):
        writer = RunWriter.create(f"{folder}/group{r % 10}/run{r:03d}", config={"hidden_size": 192, "cell": "rnn"},
                                  corpus=CORPUS, command="bench", preset="fast")
        with open(f"{writer.path}/metrics.jsonl", "ab") as f:
            f.write(block)
        for it in range(0, lines * 100, lines * 10):
            writer.log_sample(it, "To be, or not to be, that is the question: " * 5, 1.0)
        writer.close("finished")


def runs_listing(rounds: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="charrnn-bench-runs-") as folder:
        t = time.perf_counter()
        make_runs(folder)
        made = time.perf_counter() - t
        listing, full = [], []
        for r in range(rounds):
            t = time.perf_counter()
            runs = find_runs(folder)
            listing.append(time.perf_counter() - t)
            assert len(runs) == RUNS and all(s.iteration == LINES * 100 for s in runs)
            if r < 2:  # reading every run whole takes seconds: twice is enough for the comparison
                t = time.perf_counter()
                whole = [read_run(s.path) for s in runs]
                full.append(time.perf_counter() - t)
                assert all(w.best_val_bpc == s.best_val_bpc for w, s in zip(whole, runs))
    return {
        "what": f"find_runs over {RUNS} finished runs of {LINES:,} metrics lines each (warm page cache)",
        "runs": RUNS, "lines_per_run": LINES, "make_seconds": made,
        "listing_seconds_median": median(listing), "listing_seconds_min": min(listing),
        "listing_seconds_max": max(listing), "listing_seconds": listing,
        "full_read_seconds_median": median(full), "full_read_seconds": full,
        "listing_over_full_read": median(listing) / statistics.median(full),
    }
