"""(d) sampling speed: the engine against the lesson's sample() (bench/lesson_min_char_rnn.py: one-hot
columns and np.random.choice per character), on the same weights."""

from __future__ import annotations

import tempfile

import numpy as np

from bench.common import alternate, bench_corpus, ratio_summary


def sampling(rounds: int, seconds: float, length: int = 10_000, trainer=None) -> dict:
    from bench.lesson import LessonLoop, corpus_file
    from core import Trainer, preset
    from core.sample import sample_from_char, sample_streams

    corpus = bench_corpus()
    if trainer is None:  # weights that have learnt something, as when a user samples
        trainer = Trainer.from_corpus(corpus, preset("min-char-rnn", sample_every=0))
        for _ in range(1000):
            trainer.step()
    params = trainer.params
    with tempfile.TemporaryDirectory(prefix="charrnn-bench-") as folder:
        lesson = LessonLoop(corpus_file(folder))
    lesson.close()
    ns = lesson.ns  # the lesson's globals: its sample() reads Wxh, Whh, Why, bh, by from here
    if ns["vocab_size"] != corpus.vocab_size:
        raise RuntimeError("the lesson's program read another vocabulary than the bench corpus")
    for k in ("Wxh", "Whh", "Why"):
        ns[k][...] = params[k]
    ns["bh"][:, 0], ns["by"][:, 0] = params["bh"], params["by"]
    lesson_sample = ns["sample"]
    H = params["Whh"].shape[0]
    rng = np.random.default_rng(0)
    temps = np.array([0.5, 0.8, 1.0, 1.2])
    contenders = {
        "engine": (lambda: sample_from_char(params, np.zeros(H), 0, length, rng), length),
        "lesson": (lambda: lesson_sample(np.zeros((H, 1)), 0, length), length),
        "engine_4temps": (lambda: sample_streams(params, np.zeros((4, H)), length, rng, temperature=temps), 4 * length),
    }
    rates = alternate(contenders, rounds, seconds)
    return {
        "single": {"what": f"one {length}-character sample, chars/s (min-char-rnn weights, float64)",
                   **ratio_summary({"engine": rates["engine"], "lesson": rates["lesson"]}, "engine", "lesson")},
        "batched_4_temperatures": {
            "what": f"4 samples at temperatures {temps.tolist()} in one batched pass, total chars/s",
            **ratio_summary({"engine_4temps": rates["engine_4temps"], "lesson": rates["lesson"]}, "engine_4temps",
                            "lesson")},
    }
