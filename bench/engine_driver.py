"""The cost of driving training through core.engine.Engine instead of stepping the Trainer directly, in one process.

    PYTHONPATH=. python -m bench.engine_driver [--rounds 8] [--seconds 1.5]

Two trainers with the same settings train side by side in alternating rounds (bench.common.alternate): "direct"
is the old CLI's core loop (`for snap in trainer.run(100): recorder.record(snap)`), "engine" is charrnn-train's
loop now (`engine.submit(Start(iterations=100))`, then `engine.poll(0.1)` until idle). Neither writes a run or
prints. Reports the median of the per-round ratios engine/direct in iterations per second, per preset.
"""

from __future__ import annotations

import argparse
import json

from bench.common import alternate, bench_corpus, ratio_summary

BLOCK = 100  # iterations per timed call


def engine_vs_direct(rounds: int, seconds: float) -> dict:
    """Per preset (min-char-rnn, fast): iterations/s through the engine against the trainer stepped directly."""
    from core import Trainer, preset
    from core.engine import Engine, Start
    from core.runs import NoRecorder
    from core.threads import limit_blas_threads

    corpus = bench_corpus()
    out = {}
    with limit_blas_threads(1):
        for name in ("min-char-rnn", "fast"):
            cfg = preset(name).replace(eval_every=10 ** 9)
            direct, driven = Trainer.from_corpus(corpus, cfg), Trainer.from_corpus(corpus, cfg)
            recorder = NoRecorder()
            engine = Engine(driven)

            def step_direct():
                for snap in direct.run(iterations=BLOCK):
                    recorder.record(snap)

            def step_engine():
                engine.submit(Start(iterations=BLOCK))
                engine.run_until_idle(budget_seconds=0.1)

            step_direct(), step_engine()  # warm up
            rates = alternate({"engine": (step_engine, BLOCK), "direct": (step_direct, BLOCK)}, rounds, seconds)
            out[name] = {"what": f"{name}: iterations/s through the Engine vs the Trainer stepped directly",
                         **ratio_summary(rates, "engine", "direct")}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--seconds", type=float, default=1.5)
    args = p.parse_args()
    results = engine_vs_direct(args.rounds, args.seconds)
    for name, r in results.items():
        print(f"{name:14s} engine/direct {r['ratio_median']:.3f} [{r['ratio_min']:.3f}..{r['ratio_max']:.3f}]  "
              f"engine {r['engine_median']:,.0f} it/s, direct {r['direct_median']:,.0f} it/s")
    print(json.dumps({k: {kk: vv for kk, vv in v.items() if kk != "raw"} for k, v in results.items()}))


if __name__ == "__main__":
    main()
