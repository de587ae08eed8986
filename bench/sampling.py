"""(d) sampling speed: the engine against the lesson's sample() (np.random.choice per character)."""

from __future__ import annotations

import numpy as np

from bench.common import alternate, bench_corpus, ratio_summary


def sampling(rounds: int, seconds: float, length: int = 10_000, trainer=None) -> dict:
    from core import Trainer, preset
    from core.sample import sample_from_char, sample_streams
    from tests.naive import NaiveMinCharRNN

    corpus = bench_corpus()
    if trainer is None:  # weights that have learnt something, as when a user samples
        trainer = Trainer.from_corpus(corpus, preset("min-char-rnn", sample_every=0))
        for _ in range(1000):
            trainer.step()
    params = trainer.params
    naive = NaiveMinCharRNN(corpus.data[:10_000], corpus.vocab_size)
    for k in ("Wxh", "Whh", "Why"):
        getattr(naive, k)[...] = params[k]
    naive.bh[:, 0], naive.by[:, 0] = params["bh"], params["by"]
    H = params["Whh"].shape[0]
    rng = np.random.default_rng(0)
    temps = np.array([0.5, 0.8, 1.0, 1.2])
    contenders = {
        "engine": (lambda: sample_from_char(params, np.zeros(H), 0, length, rng), length),
        "naive": (lambda: naive.sample(np.zeros((H, 1)), 0, length), length),
        "engine_4temps": (lambda: sample_streams(params, np.zeros((4, H)), length, rng, temperature=temps), 4 * length),
    }
    rates = alternate(contenders, rounds, seconds)
    return {
        "single": {"what": f"one {length}-character sample, chars/s (min-char-rnn weights, float64)",
                   **ratio_summary({"engine": rates["engine"], "naive": rates["naive"]}, "engine", "naive")},
        "batched_4_temperatures": {
            "what": f"4 samples at temperatures {temps.tolist()} in one batched pass, total chars/s",
            **ratio_summary({"engine_4temps": rates["engine_4temps"], "naive": rates["naive"]}, "engine_4temps",
                            "naive")},
    }
