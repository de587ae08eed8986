"""(e) loading a big corpus: time and peak memory per character, and that training does not copy it.

Runs in a fresh subprocess so that the peak resident size belongs to the load alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

from bench.common import ROOT, bench_corpus

CHILD = r"""
import json, os, resource, sys, time, tracemalloc
sys.path.insert(0, sys.argv[2])
import numpy as np
from core import Trainer, load_corpus, preset

def status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0

def rss_kib():
    return status_kib("VmRSS")

def reset_peak():  # Linux: start VmHWM again from the current RSS (imports peaked above it before)
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False

path = sys.argv[1]
base_rss = rss_kib()
hwm_reset = reset_peak()
base_peak = status_kib("VmHWM") if hwm_reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB
tracemalloc.start()
t = time.perf_counter()
corpus = load_corpus(path)
seconds = time.perf_counter() - t
_, traced_peak = tracemalloc.get_traced_memory()
peak = status_kib("VmHWM") if hwm_reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
n = len(corpus)
tracemalloc.reset_peak()
before, _ = tracemalloc.get_traced_memory()
trainer = Trainer.from_corpus(corpus, preset("fast", sample_every=0, eval_every=10**9))
for _ in range(3):
    trainer.step()
after, start_peak = tracemalloc.get_traced_memory()
print(json.dumps({
    "chars": n, "bytes_on_disk": os.path.getsize(path), "seconds": seconds,
    "peak_rss_bytes_per_char": (peak - base_rss) * 1024 / n if hwm_reset else (
        (peak - base_peak) * 1024 / n if peak > base_peak else (rss_kib() - base_rss) * 1024 / n),
    "traced_peak_bytes_per_char": traced_peak / n,
    "resident_after_load_bytes_per_char": (rss_kib() - base_rss) * 1024 / n,
    "training_shares_corpus_memory": bool(np.shares_memory(trainer.data, corpus.data)),
    "training_start_traced_bytes": start_peak - before,
    "training_start_bytes_per_corpus_char": (start_peak - before) / n,
}))
"""


def make_corpus_file(path: str, size_bytes: int) -> None:
    """A text file of about size_bytes: the benchmark corpus repeated."""
    text = bench_corpus().text().encode("utf-8")
    with open(path, "wb") as f:
        written = 0
        while written < size_bytes:
            piece = text[: size_bytes - written]
            f.write(piece)
            written += len(piece)


def corpus_load(size_mb: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="charrnn-bench-") as tmp:
        path = os.path.join(tmp, f"corpus-{size_mb}mb.txt")
        make_corpus_file(path, size_mb * 1_000_000)
        result = subprocess.run([sys.executable, "-c", CHILD, path, ROOT], capture_output=True, text=True,
                                timeout=600)
    if result.returncode != 0:
        return {"error": (result.stderr.strip().splitlines() or ["failed"])[-1]}
    out = json.loads(result.stdout.strip().splitlines()[-1])
    out["what"] = f"load_corpus of a generated {size_mb} MB UTF-8 file in a fresh process, then a fast-preset Trainer"
    return out
