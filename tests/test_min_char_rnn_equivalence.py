"""The min-char-rnn preset is the lesson's program: same losses, same update, same smooth loss."""

import math

import numpy as np
import pytest

from core import Trainer, corpus_from_text, preset
from core.rnn import rnn_forward, temporal_affine_forward
from tests.naive import NaiveMinCharRNN

TEXT = ("When shall we three meet again\nIn thunder, lightning, or in rain?\n"
        "When the hurlyburly's done,\nWhen the battle's lost and won.\n") * 20


@pytest.fixture
def corpus():
    return corpus_from_text(TEXT, name="witches")


def make_pair(corpus, seed=7):
    trainer = Trainer.from_corpus(corpus, preset("min-char-rnn", seed=seed))
    naive = NaiveMinCharRNN(corpus.data, corpus.vocab_size, seed=seed)
    return trainer, naive


def copy_state_into_naive(trainer, naive):
    """Give the oracle the engine's exact weights, Adagrad memory, hidden state and window pointer."""
    for k in ("Wxh", "Whh", "Why"):
        getattr(naive, k)[...] = trainer.params[k]
    naive.bh[:, 0], naive.by[:, 0] = trainer.params["bh"], trainer.params["by"]
    mem = trainer.optimizer.state["mem.all"]
    start = 0
    for k in ("Wxh", "Whh", "Why", "bh", "by"):
        size = trainer.params[k].size
        naive.mem[k][...] = mem[start:start + size].reshape(naive.mem[k].shape)
        start += size
    naive.hprev = trainer.hidden[0][:, None].copy()
    naive.p, naive.n, naive.smooth_loss = trainer.pointer, trainer.iteration, trainer.smooth_loss


def test_vocabulary_is_sorted_set_of_text(corpus):
    assert corpus.vocab.chars == tuple(sorted(set(TEXT)))


def test_initial_weights_are_randomstate_draws_in_lesson_order(corpus):
    trainer, naive = make_pair(corpus)
    for k in ("Wxh", "Whh", "Why"):
        np.testing.assert_array_equal(trainer.params[k], getattr(naive, k))
    assert not trainer.params["bh"].any() and not trainer.params["by"].any()


def test_initial_loss_is_about_seq_length_times_ln_vocab(corpus):
    trainer, _ = make_pair(corpus)
    expected = 25 * math.log(corpus.vocab_size)
    assert trainer.smooth_loss == pytest.approx(expected, rel=1e-15)
    assert trainer.step().loss == pytest.approx(expected, rel=0.01)


def test_first_iterations_losses_agree_with_the_lesson_to_1e9(corpus):
    trainer, naive = make_pair(corpus)
    for _ in range(6):
        snap = trainer.step()
        loss = naive.step()
        assert abs(snap.loss - loss) < 1e-9
        assert abs(snap.smooth_loss - naive.smooth_loss) < 1e-9


@pytest.mark.parametrize("warmup", [0, 37, 250])
def test_one_step_from_identical_state_agrees_to_1e12(corpus, warmup):
    trainer, naive = make_pair(corpus)
    for _ in range(warmup):
        trainer.step()
    copy_state_into_naive(trainer, naive)
    snap = trainer.step()
    loss = naive.step()
    assert abs(snap.loss - loss) < 1e-12 * max(1.0, abs(loss))
    for k in ("Wxh", "Whh", "Why"):
        np.testing.assert_allclose(trainer.params[k], getattr(naive, k), rtol=0, atol=1e-12)
    np.testing.assert_allclose(trainer.params["bh"], naive.bh[:, 0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(trainer.params["by"], naive.by[:, 0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(trainer.hidden[0], naive.hprev[:, 0], rtol=0, atol=1e-12)
    assert trainer.pointer == naive.p and trainer.smooth_loss == pytest.approx(naive.smooth_loss, abs=1e-12)


def test_window_pointer_resets_with_zero_hidden_state_like_the_lesson(corpus):
    trainer, naive = make_pair(corpus)
    windows = len(TEXT) // 25 + 3
    for _ in range(windows):
        x, _ = trainer.window()
        inputs, _ = naive.window()
        assert x[:, 0].tolist() == inputs
        assert trainer.pointer == naive.p
        trainer.step()
        naive.step()
    assert trainer.pointer < 25 * 4  # it wrapped around at least once


@pytest.mark.slow
def test_smooth_loss_stays_within_a_few_percent_of_the_lesson_after_2000_iterations():
    # Whole trajectories drift apart within ~10 iterations (Adagrad amplifies rounding), but the
    # smooth loss of the two programs must stay close: same algorithm, same data, same init.
    from core.builtins import builtin_text

    corpus = corpus_from_text(builtin_text("python-docs")[:60_000], name="docs")
    trainer, naive = make_pair(corpus, seed=11)
    for _ in range(2000):
        trainer.step()
        naive.step(sample_every=0)
    assert trainer.smooth_loss < 0.8 * 25 * math.log(corpus.vocab_size)
    assert trainer.smooth_loss == pytest.approx(naive.smooth_loss, rel=0.05)


def test_hello_example_from_the_slides_is_learned_to_zero_error():
    corpus = corpus_from_text("hello", name="hello")
    assert corpus.vocab.chars == ("e", "h", "l", "o")
    trainer = Trainer.from_corpus(corpus, preset("min-char-rnn", seq_length=4, hidden_size=8, seed=1,
                                                 sample_every=0))
    for _ in range(300):
        snap = trainer.step()
    assert snap.loss < 0.05
    # Feed "hell" from a zero state: the most likely next characters spell "ello".
    x = corpus.vocab.encode("hell").astype(np.intp)[:, None]  # (T, 1)
    h, _ = rnn_forward(x, np.zeros((1, 8)), trainer.params["Wxh"], trainer.params["Whh"], trainer.params["bh"])
    scores, _ = temporal_affine_forward(h, trainer.params["Why"], trainer.params["by"])
    assert corpus.vocab.decode(scores[:, 0].argmax(axis=1)) == "ello"
