"""Character n-gram baselines (core.ngram): hand counts, proper distributions, a naive reference, the cache."""

import math
from collections import Counter, defaultdict

import numpy as np
import pytest

from core import ngram
from core.corpus import corpus_from_text


def test_bigram_bits_match_a_hand_count():
    # Text "abaabac", vocabulary a b c (V = 3); training "abaab" (n_train = 5), held out "ac".
    # Bigrams in training: ab, ba, aa, ab -> C(ab) = 2, C(ba) = 1, C(aa) = 1; seen once: 2, twice: 1 -> D = 2/(2+2*1).
    # Contexts: a is followed 3 times by 2 distinct characters, b once by 1 ("ab" at the end is followed by nothing).
    # Continuation counts (distinct left neighbours): a <- {b, a} = 2, b <- {a} = 1, c = 0; total 3, 2 types;
    # seen once 1, twice 1 -> D' = 1/(1+2) = 1/3.
    d, d1 = 2 / 4, 1 / 3
    p1 = {ch: (max(k - d1, 0) + d1 * 2 * (1 / 3)) / 3 for ch, k in {"a": 2, "b": 1, "c": 0}.items()}
    assert p1["a"] == pytest.approx(17 / 27) and p1["c"] == pytest.approx(2 / 27)
    p_a_after_b = (max(1 - d, 0) + d * 1 * p1["a"]) / 1  # b -> a: C(ba) = 1, C(b.) = 1, one type
    p_c_after_a = (0 + d * 2 * p1["c"]) / 3  # a -> c never seen: C(a.) = 3, two types
    expected = -(math.log2(p_a_after_b) + math.log2(p_c_after_a)) / 2

    corpus = corpus_from_text("abaabac")
    bits = ngram.held_out_bits(corpus.data, len(corpus.vocab), 5, orders=[1, 2])

    assert bits[2] == pytest.approx(expected, rel=1e-12)
    assert bits[2] == pytest.approx(-(math.log2(22 / 27) + math.log2(2 / 81)) / 2, rel=1e-12)


@pytest.mark.parametrize("order", [1, 2, 3, 5, 8])
def test_every_order_is_a_distribution_over_the_vocabulary(order):
    rng = np.random.default_rng(order)
    train = rng.integers(0, 6, size=3000).astype(np.uint8)  # characters 6..8 of V = 9 never occur in training
    V = 9
    for context in ([], [0, 1, 2, 3, 4, 5, 0, 1], [8, 7, 6, 8, 7, 6, 8], list(train[-12:]), [5]):
        p = ngram.next_char_distribution(train, V, context, order)
        assert p.shape == (V,)
        assert p.sum() == pytest.approx(1.0, abs=1e-12)
        assert (p > 0).all()


def test_a_string_only_at_the_start_of_training_leaves_the_distribution_proper():
    # "ab" opens the text: no character precedes it, so its continuation count is 0, while "ac" and "ad" have one
    # each. After "ca" the 3-gram hands mass down to the continuation 2-gram after "a", which must count 2 types.
    train = np.array(["abcd".index(c) for c in "abcaccad"], dtype=np.uint8)
    p = ngram.next_char_distribution(train, 4, ["abcd".index(c) for c in "ca"], 3)
    assert p.sum() == pytest.approx(1.0, abs=1e-12)
    assert (p > 0).all()


def test_a_held_out_character_unseen_in_training_costs_finite_bits():
    corpus = corpus_from_text("abababababab" + "abz")  # z only in the held-out part
    bits = ngram.held_out_bits(corpus.data, len(corpus.vocab), 12, orders=range(1, 6))
    assert all(math.isfinite(v) and v > 0 for v in bits.values())


def naive_kneser_ney(train: str, vocab: str, order: int):
    """Interpolated Kneser-Ney from dictionaries, written from the formulas (the test's oracle)."""
    counts = [Counter(train[i:i + k] for i in range(len(train) - k + 1)) for k in range(order + 1)]

    def discount(values):
        n1 = sum(1 for v in values if v == 1)
        n2 = sum(1 for v in values if v == 2)
        d = n1 / (n1 + 2 * n2) if n1 + n2 else 0.5
        return min(1.0, max(0.1, d))

    def continuation(k):  # N1+(.s) for the k-character strings s
        left = defaultdict(set)
        for s in counts[k + 1]:
            left[s[1:]].add(s[0])
        return {s: len(v) for s, v in left.items()}

    def level(table, k):  # (discount, by context h: total, types)
        totals, types = defaultdict(float), defaultdict(int)
        for s, c in table.items():
            if len(s) == k and c > 0:
                totals[s[:-1]] += c
                types[s[:-1]] += 1
        return discount([c for c in table.values() if c > 0]), totals, types

    raw = level(counts[order], order)
    conts = [continuation(k) for k in range(1, order)]
    cont_levels = [level(conts[k - 1], k) for k in range(1, order)]

    def prob(history: str, ch: str) -> float:
        p = 1 / len(vocab)
        for k in range(1, order + 1):
            table, (d, totals, types) = ((counts[order], raw) if k == order else (conts[k - 1], cont_levels[k - 1]))
            h = history[len(history) - (k - 1):] if k > 1 else ""
            if len(h) < k - 1 or totals.get(h, 0) == 0:
                continue
            p = (max(table.get(h + ch, 0) - d, 0) + d * types[h] * p) / totals[h]
        return p

    return prob


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_probabilities_match_a_naive_kneser_ney(order):
    rng = np.random.default_rng(7)
    vocab = "abcde"
    text = "".join(rng.choice(list("abcd"), p=[0.5, 0.25, 0.15, 0.1], size=400)) + "aeabcda"
    ids = np.array([vocab.index(c) for c in text], dtype=np.uint8)
    n_train = 380
    prob = naive_kneser_ney(text[:n_train], vocab, order)
    expected = [prob(text[:i], text[i]) for i in range(n_train, len(text))]

    queries = ngram.held_out_queries(ids, n_train, len(ids), order)
    got = ngram.ngram_probs(ids[:n_train], len(vocab), queries, [order])[order]

    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_higher_orders_fit_the_training_text_better():
    text = "the cat sat on the mat. " * 40
    corpus = corpus_from_text(text)
    n = len(text) - 200
    bits = ngram.held_out_bits(corpus.data, len(corpus.vocab), n, orders=[1, 2, 3, 4])
    assert bits[1] > bits[2] > bits[3] > bits[4]


def test_a_cache_hit_returns_the_same_numbers_without_recomputing(tmp_path, monkeypatch):
    corpus = corpus_from_text("to be or not to be, that is the question. " * 30)
    first = ngram.baselines(corpus, 1000, orders=[1, 2, 3], folder=tmp_path)
    assert len(list(tmp_path.glob("*.json"))) == 1

    def refuse(*args, **kwargs):
        raise AssertionError("recomputed although cached")

    monkeypatch.setattr(ngram, "held_out_bits", refuse)
    assert ngram.baselines(corpus, 1000, orders=[1, 2, 3], folder=tmp_path) == first
    with pytest.raises(AssertionError, match="recomputed"):  # another split is another key
        ngram.baselines(corpus, 900, orders=[1, 2, 3], folder=tmp_path)


def test_the_cache_key_depends_on_text_split_and_orders():
    a = corpus_from_text("abcabcabd")
    b = corpus_from_text("abcabcabc")
    key = ngram.cache_key(a.data, a.vocab.chars, 6, 9, [1, 2])
    assert key != ngram.cache_key(b.data, b.vocab.chars, 6, 9, [1, 2])
    assert key != ngram.cache_key(a.data, a.vocab.chars, 5, 9, [1, 2])
    assert key != ngram.cache_key(a.data, a.vocab.chars, 6, 9, [1, 2, 3])
    assert key == ngram.cache_key(a.data, a.vocab.chars, 6, 9, [2, 1])


def test_beaten_names_the_best_baseline_below_the_score():
    bits = {1: 4.7, 2: 3.6, 3: 2.95, 4: 2.5}
    assert ngram.beaten(2.8, bits) == (3, 2.95)
    assert ngram.beaten(2.4, bits) == (4, 2.5)
    assert ngram.beaten(5.0, bits) is None
    assert ngram.beaten(None, bits) is None
    assert ngram.labels(bits) == {"1-gram": 4.7, "2-gram": 3.6, "3-gram": 2.95, "4-gram": 2.5}


def test_a_training_part_beyond_the_limit_is_refused_with_a_reason(tmp_path, monkeypatch):
    corpus = corpus_from_text("abcd" * 50)
    monkeypatch.setattr(ngram, "MAX_TRAIN_CHARS", 100)
    with pytest.raises(ValueError, match="up to 100 characters"):
        ngram.baselines(corpus, 150, folder=tmp_path)
    assert ngram.baselines(corpus, 150, folder=tmp_path, compute=False) is None
    assert ngram.baselines(corpus, 90, orders=[1, 2], folder=tmp_path)[2] < ngram.baselines(corpus, 90, orders=[1], folder=tmp_path)[1]
