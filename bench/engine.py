"""(a) the engine against the lesson's naive one-hot formulation (tests/naive.py), and the BLAS thread count."""

from __future__ import annotations

from bench.common import alternate, bench_corpus, ratio_summary

NAIVE_PREFIX = 1_000_000  # characters handed to the naive model (a Python list); speed does not depend on it


def _naive(corpus):
    from tests.naive import NaiveMinCharRNN

    return NaiveMinCharRNN(corpus.data[:NAIVE_PREFIX], corpus.vocab_size)


def _warm(step, n):
    for _ in range(n):
        step()


def engine_vs_naive(rounds: int, seconds: float) -> dict:
    """it/s at the min-char-rnn preset (B=1, float64, sampling every 100), and chars/s at B=32 float32."""
    from core import Trainer, preset

    corpus = bench_corpus()
    out = {}

    naive = _naive(corpus)
    engine = Trainer.from_corpus(corpus, preset("min-char-rnn"))
    # Whole blocks of 100 iterations, so each timed call holds exactly one sample like the lesson's loop.
    naive_block = lambda: [naive.step(sample_every=100) for _ in range(100)]  # noqa: E731
    engine_block = lambda: [engine.step() for _ in range(100)]  # noqa: E731
    _warm(naive_block, 1), _warm(engine_block, 2)
    rates = alternate({"engine": (engine_block, 100), "naive": (naive_block, 100)}, rounds, seconds)
    out["b1_float64_its"] = {"what": "min-char-rnn preset, B=1 float64, sample of 200 every 100 iterations; it/s",
                             **ratio_summary(rates, "engine", "naive")}

    T = 25
    batched = Trainer.from_corpus(corpus, preset("min-char-rnn", batch_size=32, dtype="float32"))
    fast = Trainer.from_corpus(corpus, preset("fast").replace(eval_every=10 ** 9))
    fcfg = fast.config
    b_step = lambda: batched.step()  # noqa: E731
    f_step = lambda: fast.step()  # noqa: E731
    n_block = lambda: naive.step(sample_every=100)  # noqa: E731
    _warm(b_step, 5), _warm(f_step, 3)
    rates = alternate({"engine": (b_step, T * 32), "fast": (f_step, fcfg.seq_length * fcfg.batch_size),
                       "naive": (n_block, T)}, rounds, seconds)
    out["b32_float32_chars"] = {
        "what": "min-char-rnn settings at B=32 float32 (H=100, T=25, Adagrad) vs the naive B=1; chars/s",
        **ratio_summary(rates, "engine", "naive")}
    out["fast_preset_chars"] = {
        "what": f"fast preset (H={fcfg.hidden_size}, T={fcfg.seq_length}, B={fcfg.batch_size}) vs the naive B=1; chars/s",
        **ratio_summary({"fast": rates["fast"], "naive": rates["naive"]}, "fast", "naive")}
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
