"""Sampling: inverse-CDF draws follow the softmax, temperature and argmax behave, primes are checked."""

import numpy as np
import pytest

from core import UnknownCharactersError, Vocab, generate
from core.rnn import init_params, softmax
from core.sample import sample_from_char, sample_streams


@pytest.fixture
def params():
    p = init_params(5, 8, seed=0, scale=0.5)
    p["by"][:] = [2.0, 1.0, 0.0, -1.0, 0.5]
    return p


def test_draws_follow_the_softmax_distribution(params):
    h = np.zeros((4000, 8))  # 4000 streams from the same state: first draws are i.i.d.
    ids, _ = sample_streams(params, h, 1, np.random.default_rng(0))
    expected = softmax(params["by"][None])[0]
    freq = np.bincount(ids[:, 0], minlength=5) / 4000
    assert np.abs(freq - expected).max() < 0.03


def test_low_temperature_approaches_argmax_and_argmax_is_deterministic(params):
    h = np.zeros((200, 8))
    cold, _ = sample_streams(params, h, 1, np.random.default_rng(1), temperature=0.05)
    assert (cold[:, 0] == 0).all()
    a, _ = sample_streams(params, np.zeros((1, 8)), 30, np.random.default_rng(1), argmax=True)
    b, _ = sample_streams(params, np.zeros((1, 8)), 30, np.random.default_rng(2), argmax=True)
    np.testing.assert_array_equal(a, b)


def test_one_batched_pass_serves_several_temperatures(params):
    temps = np.array([0.05, 1.0, 5.0])
    ids, hidden = sample_streams(params, np.zeros((3, 8)), 400, np.random.default_rng(3), temperature=temps)
    assert ids.shape == (3, 400) and hidden.shape == (3, 400, 8)
    distinct = [len(set(row.tolist())) for row in ids]
    assert distinct[0] <= distinct[1] <= distinct[2]


def test_hidden_states_are_those_after_reading_each_generated_character(params):
    ids, hidden = sample_from_char(params, np.zeros(8), 2, 10, np.random.default_rng(4))
    h = np.zeros(8)
    for ix in [2] + ids.tolist()[:-1]:
        h = np.tanh(params["Wxh"][:, ix] + params["Whh"] @ h + params["bh"])
    h = np.tanh(params["Wxh"][:, ids[-1]] + params["Whh"] @ h + params["bh"])
    np.testing.assert_allclose(hidden[-1], h, atol=1e-12)


def test_generate_reads_the_prime_and_returns_it_first(params):
    vocab = Vocab("abcde")
    result = generate(params, vocab, 20, np.random.default_rng(0), prime="bad")
    assert result.text.startswith("bad") and len(result.text) == 23
    assert result.hidden.shape == (23, 8)


def test_unknown_prime_characters_are_named(params):
    with pytest.raises(UnknownCharactersError, match="'z'"):
        generate(params, Vocab("abcde"), 5, np.random.default_rng(0), prime="az")


def test_sampling_uses_only_the_generator_it_is_given(params):
    state = np.random.get_state()
    generate(params, Vocab("abcde"), 50, np.random.default_rng(0))
    assert np.random.get_state()[1].tolist() == state[1].tolist()
