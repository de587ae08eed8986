"""Engine soak: train a tiny model headlessly for a million iterations (or a time budget) and watch memory.

    python tests/soak/soak_engine.py                       # 1,000,000 iterations
    python tests/soak/soak_engine.py --minutes 10          # as many as fit in 10 minutes (at most 1M)

Samples every 100 iterations (as the GUI does), saves a checkpoint now and then, and records the resident
set size (RSS). It compares RSS at 100,000 iterations (or at 10 % of a shorter run) with RSS at the end:
more than 10 % growth fails. Prints one result line; exit code 0 when everything held, 1 otherwise.
This is a script, not a test: it takes minutes.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # a tiny model gains nothing from BLAS threads

import numpy as np  # noqa: E402

from core import Trainer, corpus_from_text, load_checkpoint, preset, save_checkpoint  # noqa: E402
from tests.soak.memory import rss_bytes  # noqa: E402

REFERENCE_ITERATION = 100_000
MAX_GROWTH = 0.10


def soak_text() -> str:
    rng = np.random.default_rng(0)
    words = ("the quick brown fox jumps over a lazy dog while seven wizards box and juggle "
             "quartz sphinxes of black onyx under pale moonlight").split()
    return "\n".join(" ".join(rng.choice(words, 12)) + "." for _ in range(4000)) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--iterations", type=int, default=1_000_000)
    p.add_argument("--minutes", type=float, default=None, help="stop after this much time, even before --iterations")
    p.add_argument("--hidden-size", type=int, default=16)
    p.add_argument("--checkpoint-every", type=int, default=50_000)
    args = p.parse_args(argv)

    corpus = corpus_from_text(soak_text(), name="soak")
    cfg = preset("min-char-rnn", hidden_size=args.hidden_size, seq_length=25, sample_every=100, sample_length=200)
    trainer = Trainer.from_corpus(corpus, cfg)
    budget = None if args.minutes is None else args.minutes * 60.0
    start = time.perf_counter()
    rss_start = rss_bytes()
    reference = None  # (iteration, rss)
    samples = saves = 0
    problems = []
    with tempfile.TemporaryDirectory(prefix="charrnn-soak-") as folder:
        ckpt = os.path.join(folder, "soak.npz")
        for snap in trainer.run(iterations=args.iterations, seconds=budget):
            if snap.sample is not None:
                samples += 1
            if snap.diverged or not math.isfinite(snap.loss):
                problems.append(f"diverged at {snap.iteration}: {snap.diverged}")
                break
            i = snap.iteration
            if reference is None and (i == REFERENCE_ITERATION or (
                    budget is not None and i % 1000 == 0 and time.perf_counter() - start >= 0.1 * budget)):
                reference = (i, rss_bytes())
            if args.checkpoint_every and i % args.checkpoint_every == 0:
                save_checkpoint(trainer, ckpt)
                saves += 1
        if saves:
            saved = load_checkpoint(ckpt)
            if not saved.iteration or saved.iteration % args.checkpoint_every:
                problems.append(f"checkpoint holds iteration {saved.iteration}")
        leftovers = [n for n in os.listdir(folder) if n != "soak.npz"]
        if leftovers:
            problems.append(f"stray files {leftovers}")
    elapsed = time.perf_counter() - start
    rss_end = rss_bytes()
    done = trainer.iteration
    if reference is None:
        reference = (done, rss_end)
    growth = (rss_end - reference[1]) / reference[1]
    if growth > MAX_GROWTH:
        problems.append(f"RSS grew {growth:+.1%} (limit {MAX_GROWTH:.0%})")
    if not all(np.isfinite(v).all() for v in trainer.params.values()):
        problems.append("weights not finite")
    mb = 1 / (1 << 20)
    print(f"soak_engine: {'OK' if not problems else 'FAIL'} iterations={done:,} elapsed={elapsed:.0f}s "
          f"it/s={done / elapsed:,.0f} samples={samples:,} checkpoints={saves} "
          f"rss_start={rss_start * mb:.1f}MB rss@{reference[0]:,}={reference[1] * mb:.1f}MB "
          f"rss@{done:,}={rss_end * mb:.1f}MB growth={growth:+.2%} smooth_loss={trainer.smooth_loss:.3f}"
          + (f" problems: {'; '.join(problems)}" if problems else ""))
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
