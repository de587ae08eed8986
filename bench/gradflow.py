"""The cost of measuring gradient flow: training speed with grad_flow_every at its default interval against off."""

from __future__ import annotations

import statistics
import time

from bench.common import alternate, bench_corpus, ratio_summary

from core.gradflow import APP_EVERY as DEFAULT_EVERY  # noqa: E402  the app's interval; the CLI's is off


def gradflow_cost(rounds: int, seconds: float, every: int = DEFAULT_EVERY) -> dict:
    """it/s of two identical trainers, one measuring every `every` iterations, alternating in rounds.

    Each timed call trains whole blocks of `every` iterations, so every block holds exactly one measurement (and
    the preset's sampling, as in the app). Also the time of one measurement on its own. The lstm preset's
    measurement goes back step by step through the readable LSTM layer (core.gradflow.cell_window_flow).
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
        rates = alternate({"on": (block(on), every), "off": (block(off), every)}, rounds, seconds)
        x, y = on.window()  # the next window; measuring it reads the model and changes nothing
        times = []
        for _ in range(max(5, rounds)):
            t = time.perf_counter()
            on._grad_flow(x, y)
            times.append(time.perf_counter() - t)
        out[name] = {"what": f"{name} preset, it/s measuring gradient flow every {every} iterations / off",
                     "measurement_ms": statistics.median(times) * 1e3, **ratio_summary(rates, "on", "off")}
    return out
