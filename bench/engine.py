"""(a) the engine's batched settings against the lesson's program (bench/lesson_min_char_rnn.py, B=1) in
characters per second, tests/naive.py (the tests' oracle) beside it, and the BLAS thread count.

The B=1 preset against the lesson's program, whole process and in one process, is bench/lesson.py.
"""

from __future__ import annotations

import tempfile

from bench.common import alternate, bench_corpus, ratio_summary

NAIVE_PREFIX = 1_000_000  # characters handed to the naive model (a Python list); speed does not depend on it


def _naive(corpus):
    from tests.naive import NaiveMinCharRNN

    return NaiveMinCharRNN(corpus.data[:NAIVE_PREFIX], corpus.vocab_size)


def _warm(step, n):
    for _ in range(n):
        step()


def batched_vs_lesson(rounds: int, seconds: float) -> dict:
    """chars/s at B=32 float32 and at the fast preset against the lesson's program (and tests/naive.py, the
    tests' oracle, against the lesson's program: the baseline the bench used before the verbatim port)."""
    from bench.lesson import BLOCK, LessonLoop, corpus_file
    from core import Trainer, preset

    corpus = bench_corpus()
    out = {}
    T = 25
    naive = _naive(corpus)
    batched = Trainer.from_corpus(corpus, preset("min-char-rnn", batch_size=32, dtype="float32"))
    fast = Trainer.from_corpus(corpus, preset("fast").replace(eval_every=10 ** 9))
    fcfg = fast.config
    with tempfile.TemporaryDirectory(prefix="charrnn-bench-") as folder:
        lesson = LessonLoop(corpus_file(folder))
    try:
        b_step = lambda: batched.step()  # noqa: E731
        f_step = lambda: fast.step()  # noqa: E731
        # Whole blocks of 100 iterations, so each timed call holds exactly one sample like the lesson's loop.
        n_block = lambda: [naive.step(sample_every=100) for _ in range(BLOCK)]  # noqa: E731
        _warm(b_step, 5), _warm(f_step, 3), _warm(n_block, 1), _warm(lesson.block, 1)
        rates = alternate({"engine": (b_step, T * 32), "fast": (f_step, fcfg.seq_length * fcfg.batch_size),
                           "lesson": (lesson.block, T * BLOCK), "naive": (n_block, T * BLOCK)}, rounds, seconds)
    finally:
        lesson.close()
    out["b32_float32_chars"] = {
        "what": "min-char-rnn settings at B=32 float32 (H=100, T=25, Adagrad) vs the lesson's program; chars/s",
        **ratio_summary({"engine": rates["engine"], "lesson": rates["lesson"]}, "engine", "lesson")}
    out["fast_preset_chars"] = {
        "what": f"fast preset (H={fcfg.hidden_size}, T={fcfg.seq_length}, B={fcfg.batch_size}) vs the lesson's "
                f"program; chars/s",
        **ratio_summary({"fast": rates["fast"], "lesson": rates["lesson"]}, "fast", "lesson")}
    out["naive_vs_lesson"] = {
        "what": "tests/naive.py (the tests' oracle, the old baseline) vs the lesson's program, both B=1 with a sample "
                "every 100; chars/s",
        **ratio_summary({"naive": rates["naive"], "lesson": rates["lesson"]}, "naive", "lesson")}
    return out


def blas_threads(rounds: int, seconds: float) -> dict:
    """The same trainers with 1 and 2 BLAS threads, alternating in one process."""
    from threadpoolctl import threadpool_limits

    from core import Trainer, preset

    corpus = bench_corpus()
    out = {}
    for name, cfg in (("fast", preset("fast").replace(eval_every=10 ** 9)), ("min-char-rnn", preset("min-char-rnn"))):
        trainer = Trainer.from_corpus(corpus, cfg)

        def with_threads(n):
            def run():
                with threadpool_limits(limits=n, user_api="blas"):
                    for _ in range(10):
                        trainer.step()
            return run

        _warm(with_threads(1), 1)
        rates = alternate({"threads1": (with_threads(1), 10), "threads2": (with_threads(2), 10)}, rounds, seconds)
        summary = ratio_summary(rates, "threads2", "threads1")
        summary["threads1_min"], summary["threads2_min"] = min(rates["threads1"]), min(rates["threads2"])
        out[name] = {"what": f"{name} preset it/s, 2 BLAS threads / 1", **summary}
    return out
