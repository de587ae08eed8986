"""Helpers for the runs tests: a tiny trainer, runs written quickly, a writer in another process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from core import Trainer, corpus_from_text, preset
from core.runs import RunWriter

ROOT = Path(__file__).resolve().parents[1]
TEXT = "".join(f"Line {i}: the quick brown fox jumps over the lazy dog.\n" for i in range(60))
CORPUS_ID = {"name": "fox.txt", "path": None, "characters": 10, "vocabulary": "abc", "sha256": "0" * 64}


def tiny_trainer(**overrides):
    corpus = corpus_from_text(TEXT, name="fox.txt")
    settings = dict(hidden_size=8, seq_length=8, sample_every=25, sample_length=20, val_fraction=0.1,
                    eval_every=25, eval_chars=200)
    settings.update(overrides)
    return corpus, Trainer.from_corpus(corpus, preset("min-char-rnn", **settings))


def write_run(path, iterations=(), vals=None, status="finished", clock=None, **info):
    """A run with one metrics line per iteration (loss = iteration) and val_bpc at the iterations in vals,
    closed with status (None: the open writer is returned)."""
    kwargs = {"clock": clock} if clock else {}
    writer = RunWriter.create(path, config={"hidden_size": 8}, corpus=dict(CORPUS_ID), command="test",
                              preset=info.get("preset", "fast"), **kwargs)
    vals = vals or {}
    for it in iterations:
        extra = {"val_bpc": vals[it]} if it in vals else {}
        writer.log_metrics(it, loss=float(it), elapsed=it / 100, chars_seen=it * 10, **extra)
    if status is not None:  # None: leave it open (running); the caller closes it
        writer.close(status)
    return writer


# A writer in another process: logs `n` metrics lines (one every `pause` seconds; forever when n is 0),
# prints "ready" after the first, and closes the run as finished at the end.
WRITER_SCRIPT = r"""
import sys, time
from core.runs import RunWriter
path, n, pause, pad = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
w = RunWriter.create(path, config={"hidden_size": 8}, corpus={"name": "x.txt"}, command="test", preset="fast")
i = 0
while n == 0 or i < n:
    i += 1
    w.log_metrics(i, loss=float(i), pad="x" * pad)
    if i == 1:
        print("ready", flush=True)
    if pause:
        time.sleep(pause)
w.close("finished")
"""


def start_writer(path, n=0, pause=0.0, pad=0):
    env = dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-c", WRITER_SCRIPT, str(path), str(n), str(pause), str(pad)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    line = proc.stdout.readline()
    assert line.strip() == "ready", proc.stderr.read()
    return proc
