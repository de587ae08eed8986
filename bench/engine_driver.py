"""The cost of driving training through core.engine.Engine instead of stepping the Trainer directly, in one process.

    PYTHONPATH=. python -m bench.engine_driver [--rounds 8] [--seconds 1.5] [--served]

Two trainers with the same settings train side by side in alternating rounds (bench.common.alternate): "direct"
is the old CLI's core loop (`for snap in trainer.run(100): recorder.record(snap)`), "engine" is charrnn-train's
loop now (`engine.submit(Start(iterations=100))`, then `engine.poll(0.1)` until idle). Neither writes a run or
prints. Reports the median of the per-round ratios engine/direct in iterations per second, per preset.

--served also compares an engine served in a spawned child process through a pipe (core.engine.serve, batches
pickled every 20 ms) with the same engine polled in this process: 3,000 min-char-rnn iterations per round.
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


SERVED_ITERATIONS = 3000


def _serve_child(conn) -> None:
    """The child's main: a min-char-rnn engine on the bench corpus, served on conn."""
    from core import Trainer, preset
    from core.engine import Engine, serve
    from core.threads import limit_blas_threads

    with limit_blas_threads(1):
        engine = Engine(Trainer.from_corpus(bench_corpus(), preset("min-char-rnn")))
        conn.send("ready")
        serve(engine, conn)


def served_vs_in_process(rounds: int) -> dict:
    """Iterations/s of an engine in a child process (through a pipe) against one polled in this process."""
    import multiprocessing
    import time

    from core import Trainer, preset
    from core.engine import DONE, Engine, Start, Stop
    from core.threads import limit_blas_threads

    ctx = multiprocessing.get_context("spawn")
    conn, child_end = ctx.Pipe()
    child = ctx.Process(target=_serve_child, args=(child_end,), daemon=True)
    child.start()
    assert conn.recv() == "ready"

    def served() -> float:
        start = time.perf_counter()
        conn.send((1, Start(iterations=SERVED_ITERATIONS)))
        while not any(e.kind == DONE for e in conn.recv().events):
            pass
        return SERVED_ITERATIONS / (time.perf_counter() - start)

    rates: dict[str, list[float]] = {"served": [], "in_process": []}
    with limit_blas_threads(1):
        engine = Engine(Trainer.from_corpus(bench_corpus(), preset("min-char-rnn")))

        def in_process() -> float:
            start = time.perf_counter()
            engine.submit(Start(iterations=SERVED_ITERATIONS))
            engine.run_until_idle(budget_seconds=0.02)
            return SERVED_ITERATIONS / (time.perf_counter() - start)

        try:
            for r in range(rounds):
                for name in (("served", "in_process") if r % 2 == 0 else ("in_process", "served")):
                    rates[name].append(served() if name == "served" else in_process())
        finally:
            conn.send((2, Stop()))
            child.join(10)
            if child.is_alive():  # pragma: no cover
                child.kill()
    return {"what": "min-char-rnn: iterations/s of an engine served in a child process vs polled in-process",
            **ratio_summary(rates, "served", "in_process")}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--seconds", type=float, default=1.5)
    p.add_argument("--served", action="store_true", help="also an engine in a child process vs in this one")
    args = p.parse_args()
    results = engine_vs_direct(args.rounds, args.seconds)
    if args.served:
        results["served"] = served_vs_in_process(args.rounds)
    for name, r in results.items():
        num, den = [k[:-len("_median")] for k in r if k.endswith("_median") and k != "ratio_median"]
        print(f"{name:14s} {num}/{den} {r['ratio_median']:.3f} [{r['ratio_min']:.3f}..{r['ratio_max']:.3f}]  "
              f"{num} {r[num + '_median']:,.0f} it/s, {den} {r[den + '_median']:,.0f} it/s")
    print(json.dumps({k: {kk: vv for kk, vv in v.items() if kk != "raw"} for k, v in results.items()}))


if __name__ == "__main__":
    main()
