"""Preset tuning for the gated cells on a loaded machine: held-out bits/char at a fixed iteration budget.

    python -m bench.tune_cells NAME CELL [--quiet-seconds S] key=value ...    # one candidate; one JSON line

The budget is the iterations a quiet machine reaches in S seconds (60 by default): QUIET_FAST_ITERS (the
`fast` preset's 60 s count on a quiet machine, bench/README.md) times S / 60 times this candidate's it/s
over `fast`'s, measured side by side in this process. The schedule spans that budget; the score is Trainer.evaluate() at its end.
"""

from __future__ import annotations

import json
import sys

from bench.common import alternate, bench_corpus, ratio_summary

# `fast` preset, 60 s of training on this machine when it is quiet: 112-128 it/s on 2026-11-29 (side by side with
# the engine from before the LSTM work: bench/README.md). The machine of earlier sessions ran it at ~265 it/s.
QUIET_FAST_ITERS = 7_000


def _value(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def candidate(cell: str, changes: dict, quiet_seconds: float = 60.0, rounds: int = 3, seconds: float = 1.0) -> dict:
    from core import Trainer, preset
    from core.threads import limit_blas_threads

    limit_blas_threads(1)
    corpus = bench_corpus()
    quiet = dict(eval_every=10 ** 9, sample_every=0)
    probe = Trainer.from_corpus(corpus, preset(cell, **changes, **quiet, lr_schedule="constant"))
    fast = Trainer.from_corpus(corpus, preset("fast", **quiet))
    for _ in range(2):
        probe.step(), fast.step()
    speed = ratio_summary(alternate({"cand": (probe.step, 1), "fast": (fast.step, 1)}, rounds, seconds),
                          "cand", "fast")
    iters = max(50, round(QUIET_FAST_ITERS * quiet_seconds / 60.0 * speed["ratio_median"]))
    trainer = Trainer.from_corpus(corpus, preset(cell, **changes, **quiet, budget_iterations=iters))
    for _ in range(iters):
        if trainer.step().diverged:
            return {"cell": cell, **changes, "iterations": iters, "diverged": True}
    return {"cell": cell, **changes, "speed_vs_fast": round(speed["ratio_median"], 4),
            "speed_spread": [round(speed["ratio_min"], 4), round(speed["ratio_max"], 4)],
            "quiet_seconds": quiet_seconds, "iterations": iters, "val_bpc": round(float(trainer.evaluate()), 4)}


if __name__ == "__main__":
    name, cell, *pairs = sys.argv[1:]
    quiet_seconds = 60.0
    if pairs[:1] == ["--quiet-seconds"]:
        quiet_seconds, pairs = float(pairs[1]), pairs[2:]
    changes = {k: _value(v) for k, v in (p.split("=", 1) for p in pairs)}
    print(json.dumps({"name": name, **candidate(cell, changes, quiet_seconds)}), flush=True)
