"""The cost of measuring gradient flow: training speed with grad_flow_every at its default interval against off."""

from __future__ import annotations

import statistics
import time

from bench.common import alternate, bench_corpus, ratio_summary

from core.gradflow import APP_EVERY as DEFAULT_EVERY  # noqa: E402  the app's interval; the CLI's is off


def gradflow_cost(rounds: int, every: int = DEFAULT_EVERY) -> dict:
    """it/s of two identical trainers, one measuring every `every` iterations, alternating block by block.

    Each timed call trains whole blocks of `every` iterations, so every block holds exactly one measurement (and
    the preset's sampling, as in the app). Also the time of one measurement on its own, and the ratio it implies.
    The lstm preset's measurement goes back step by step through the readable LSTM layer (gradflow.cell_window_flow).
    """
    from core import Trainer, preset

    corpus = bench_corpus()
    out = {}
    for name in ("min-char-rnn", "fast", "lstm"):
        cfg = preset(name).replace(eval_every=10 ** 9)  # validation passes would dominate the fast preset's blocks
        off = Trainer.from_corpus(corpus, cfg)
        on = Trainer.from_corpus(corpus, cfg.replace(grad_flow_every=every))

        def block(trainer):
            return lambda: [trainer.step() for _ in range(every)]

        block(off)(), block(on)()  # warm both
        # One block per contender per round, many rounds: neighbouring blocks see the same machine load, so each
        # round's ratio holds even when the load moves the rates by 2x from one minute to the next.
        pairs = rounds * (8 if name == "min-char-rnn" else 2)
        rates = alternate({"on": (block(on), every), "off": (block(off), every)}, pairs, 0.0)
        # The same cost from its parts, back to back: one measurement against the iterations it is spread over.
        # Far steadier on a busy machine than two trainers' rates, whose ratio moves with the load.
        x, y = on.window()  # the next window; measuring it reads the model and changes nothing
        times, estimates = [], []
        for _ in range(max(5, rounds)):
            t = time.perf_counter()
            for _ in range(10):
                off.step()
            step = (time.perf_counter() - t) / 10
            t = time.perf_counter()
            on._grad_flow(x, y)
            times.append(time.perf_counter() - t)
            estimates.append(every * step / (every * step + times[-1]))
        out[name] = {"what": f"{name} preset, it/s measuring gradient flow every {every} iterations / off",
                     "measurement_ms": statistics.median(times) * 1e3, "estimated_ratio": statistics.median(estimates),
                     **ratio_summary(rates, "on", "off")}
    return out
