"""Looking inside a model: probing a text and ranking hidden units, checked against the training engine."""

import math

import numpy as np
import pytest

from core.config import TrainConfig
from core.probe import SATURATED, default_probe_text, probe, rank_span, rank_units
from core.rnn import init_params, rnn_forward, temporal_affine_forward, temporal_softmax_loss
from core.trainer import Trainer
from core.vocab import UnknownCharactersError, Vocab

CHARS = " []abcdefgh"
VOCAB = Vocab.from_text(CHARS)
H = 12
BRACKET_UNIT = 7  # fires inside [...]
SATURATED_UNIT = 3  # a large bias holds it at +1 whatever it reads
VARIABLE_UNIT = 9  # each letter drives it to +1 or -1


def random_model(seed=0, hidden=H, scale=0.3):
    """A float64 model with weights large enough for non-trivial activations."""
    params = init_params(len(VOCAB), hidden, seed, scale=scale)
    rng = np.random.default_rng(seed)
    params["bh"] = rng.normal(0, scale, hidden)  # (H,)
    params["by"] = rng.normal(0, scale, len(VOCAB))  # (V,)
    return params


def planted_model(seed=1):
    """A model whose units are built by hand: a bracket detector, an always-saturated unit, a switchy unit.

    Every other unit has small random weights. The planted units ignore the other units entirely.
    """
    params = random_model(seed, scale=0.1)
    Wxh, Whh, bh = params["Wxh"], params["Whh"], params["bh"]  # (H, V), (H, H), (H,)
    for unit in (BRACKET_UNIT, SATURATED_UNIT, VARIABLE_UNIT):
        Wxh[unit] = 0.0
        Whh[unit] = 0.0
        bh[unit] = 0.0
    ix = VOCAB.index
    # '[' drives the bracket unit to +1, its self-recurrence of 2 holds it near tanh's fixed point 0.96,
    # and ']' drives it down to -1, where the same recurrence holds it until the next '['.
    Wxh[BRACKET_UNIT, ix["["]] = 4.0
    Wxh[BRACKET_UNIT, ix["]"]] = -4.0
    Whh[BRACKET_UNIT, BRACKET_UNIT] = 2.0
    bh[SATURATED_UNIT] = 5.0
    rng = np.random.default_rng(seed)
    Wxh[VARIABLE_UNIT] = rng.choice([-3.0, 3.0], size=len(VOCAB))
    return params


def random_text(n, seed=0, alphabet="abcdefgh "):
    rng = np.random.default_rng(seed)
    return "".join(rng.choice(list(alphabet), size=n))


# --- probe -----------------------------------------------------------------------------------


def test_probe_hidden_states_are_the_training_forward_pass():
    params = random_model()
    text = random_text(80) + "[abc]" + random_text(40, seed=1)
    h0 = np.random.default_rng(2).normal(0, 0.5, H)  # (H,)
    result = probe(params, VOCAB, text, h0=h0)
    ids = VOCAB.encode(text).astype(np.intp)
    expected, _ = rnn_forward(ids[:, None], h0[None], params["Wxh"], params["Whh"], params["bh"])  # (L, 1, H)
    assert result.hidden.shape == (len(text), H)
    np.testing.assert_allclose(result.hidden, expected[:, 0], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(result.ids, ids)


def test_probe_starts_from_zeros_by_default():
    params = random_model()
    text = random_text(30)
    np.testing.assert_array_equal(probe(params, VOCAB, text).hidden, probe(params, VOCAB, text, h0=np.zeros(H)).hidden)


def test_each_next_character_distribution_sums_to_one():
    result = probe(random_model(), VOCAB, random_text(100))
    assert result.probs.shape == (100, len(VOCAB))
    assert (result.probs >= 0).all()
    np.testing.assert_allclose(result.probs.sum(axis=1), 1.0, rtol=0, atol=1e-12)


def test_actual_prob_is_the_probability_given_to_the_next_character():
    result = probe(random_model(), VOCAB, random_text(50))
    assert result.actual_prob.shape == (49,)
    np.testing.assert_array_equal(result.actual_prob, result.probs[np.arange(49), result.ids[1:]])


def test_bits_per_char_is_the_training_loss_per_predicted_character_in_bits():
    params = random_model()
    text = random_text(200)
    ids = VOCAB.encode(text).astype(np.intp)[:, None]  # (L, 1)
    h, _ = rnn_forward(ids[:-1], np.zeros((1, H)), params["Wxh"], params["Whh"], params["bh"])
    scores, _ = temporal_affine_forward(h, params["Why"], params["by"])
    loss, _ = temporal_softmax_loss(scores, ids[1:])
    assert probe(params, VOCAB, text).bits_per_char == pytest.approx(loss / (len(text) - 1) / math.log(2), rel=1e-12)


def test_a_single_character_predicts_nothing_so_has_no_bits_per_char():
    result = probe(random_model(), VOCAB, "a")
    assert result.actual_prob.shape == (0,)
    assert math.isnan(result.bits_per_char)


def test_top_k_lists_the_likeliest_next_characters_in_order():
    result = probe(random_model(), VOCAB, random_text(40))
    ids, probs = result.top_k(5)
    assert ids.shape == probs.shape == (40, 5)
    assert (np.diff(probs, axis=1) <= 0).all()
    np.testing.assert_array_equal(ids[:, 0], result.probs.argmax(axis=1))
    np.testing.assert_array_equal(probs, np.take_along_axis(result.probs, ids, axis=1))
    for row, top in zip(result.probs, probs):
        assert top[-1] >= np.sort(row)[-5]


def test_top_k_is_capped_at_the_vocabulary():
    ids, _ = probe(random_model(), VOCAB, "abc").top_k(100)
    assert ids.shape == (3, len(VOCAB))


def test_unknown_characters_are_named():
    with pytest.raises(UnknownCharactersError, match=r"'Z'.*'q'|'q'.*'Z'"):
        probe(random_model(), VOCAB, "abc Zq")


def test_empty_text_is_refused():
    with pytest.raises(ValueError, match="empty"):
        probe(random_model(), VOCAB, "")


def test_probing_leaves_a_trainer_untouched():
    text = random_text(3000, alphabet="abcdefgh []\n")
    vocab = Vocab.from_text(text)
    trainer = Trainer(vocab.encode(text), vocab, TrainConfig(hidden_size=8, seq_length=10, val_fraction=0.1))
    for _ in trainer.run(5):
        pass
    before = {k: v.copy() for k, v in trainer.params.items()}
    hidden, pointer = trainer.hidden.copy(), trainer.pointer
    probe(trainer.params, vocab, text[:100], h0=trainer.hidden[0])
    for k, v in trainer.params.items():
        np.testing.assert_array_equal(v, before[k])
    np.testing.assert_array_equal(trainer.hidden, hidden)
    assert trainer.pointer == pointer


def test_probe_works_on_float32_models():
    params = {k: v.astype(np.float32) for k, v in random_model().items()}
    result = probe(params, VOCAB, random_text(60))
    assert result.hidden.dtype == np.float32
    np.testing.assert_allclose(result.probs.sum(axis=1), 1.0, atol=1e-5)
    assert math.isfinite(result.bits_per_char)


# --- rank_span -------------------------------------------------------------------------------


def bracketed_text():
    """Random letters with one bracketed passage in the middle; returns (text, start, stop) of the passage."""
    before, inside, after = random_text(120, seed=3), random_text(30, seed=4), random_text(120, seed=5)
    text = before + "[" + inside + "]" + after
    return text, len(before), len(before) + len(inside) + 2


def test_the_planted_bracket_unit_tops_the_ranking_for_a_bracketed_span():
    text, start, stop = bracketed_text()
    hidden = probe(planted_model(), VOCAB, text).hidden
    assert hidden[start + 5, BRACKET_UNIT] > 0.9 and hidden[stop + 5, BRACKET_UNIT] < -0.9  # it is built right
    ranked = rank_span(hidden, start, stop)
    assert ranked[0][0] == BRACKET_UNIT
    assert ranked[0][1] > 0
    assert abs(ranked[0][1]) > 2 * abs(ranked[1][1])


def test_rank_span_returns_k_units_by_decreasing_magnitude():
    text, start, stop = bracketed_text()
    ranked = rank_span(probe(planted_model(), VOCAB, text).hidden, start, stop, k=5)
    assert len(ranked) == 5
    assert len({u for u, _ in ranked}) == 5
    magnitudes = [abs(s) for _, s in ranked]
    assert magnitudes == sorted(magnitudes, reverse=True)


def test_a_unit_low_inside_the_span_ranks_with_a_negative_score():
    text, start, stop = bracketed_text()
    hidden = probe(planted_model(), VOCAB, text).hidden.copy()
    hidden[:, BRACKET_UNIT] *= -1  # now it dips inside the brackets
    unit, score = rank_span(hidden, start, stop)[0]
    assert unit == BRACKET_UNIT and score < 0


def test_rank_span_score_is_the_standardised_mean_difference():
    hidden = np.array([[0.0], [0.2], [1.0], [0.8], [0.0], [-0.2]])  # (L=6, H=1)
    inside, outside = hidden[2:4, 0], np.r_[hidden[:2, 0], hidden[4:, 0]]
    pooled = math.sqrt((inside.var() * 2 + outside.var() * 4) / 6)
    expected = (inside.mean() - outside.mean()) / (pooled + 0.05)
    assert rank_span(hidden, 2, 4) == [(0, pytest.approx(expected))]


@pytest.mark.parametrize("start, stop", [(5, 5), (6, 3), (-1, 4), (0, 301), (0, 300)])
def test_rank_span_refuses_empty_reversed_or_whole_spans(start, stop):
    with pytest.raises(ValueError):
        rank_span(np.zeros((300, 4)), start, stop)


# --- rank_units ------------------------------------------------------------------------------


def test_the_planted_saturated_unit_is_the_most_saturated():
    hidden = probe(planted_model(), VOCAB, random_text(300)).hidden
    assert (np.abs(hidden[:, SATURATED_UNIT]) > SATURATED).all()
    (unit, fraction), *_ = rank_units(hidden, "most_saturated")
    assert unit == SATURATED_UNIT and fraction == 1.0


def test_the_planted_switchy_unit_is_the_most_variable():
    hidden = probe(planted_model(), VOCAB, random_text(300)).hidden
    ranked = rank_units(hidden, "most_variable")
    assert ranked[0][0] == VARIABLE_UNIT
    assert ranked[0][1] == pytest.approx(hidden[:, VARIABLE_UNIT].std())


def test_most_active_ranks_by_mean_absolute_activation():
    hidden = probe(planted_model(), VOCAB, random_text(300)).hidden
    ranked = rank_units(hidden, "most_active", k=H)
    np.testing.assert_allclose([s for _, s in ranked], np.sort(np.abs(hidden).mean(axis=0))[::-1])
    assert {u for u, _ in ranked[:2]} == {SATURATED_UNIT, VARIABLE_UNIT}


def test_unknown_ranking_is_refused():
    with pytest.raises(ValueError, match="most_active"):
        rank_units(np.zeros((5, 3)), "loudest")


# --- default_probe_text ----------------------------------------------------------------------


def play_text(lines=400):
    """A play-shaped text: speaker lines and verse lines separated by blank lines."""
    rng = np.random.default_rng(0)
    words = ["thou", "art", "my", "lord", "and", "the", "king", "sweet", "night"]
    blocks = []
    for i in range(lines // 4):
        speech = [f"SPEAKER{i % 3}:"] + [" ".join(rng.choice(words, 5)).capitalize() + "," for _ in range(3)]
        blocks.append("\n".join(speech))
    return "\n\n".join(blocks) + "\n"


def trainer_for(text, val_fraction):
    vocab = Vocab.from_text(text)
    config = TrainConfig(hidden_size=8, seq_length=10, val_fraction=val_fraction)
    return Trainer(vocab.encode(text), vocab, config)


def test_default_probe_text_is_a_passage_of_the_validation_tail_starting_a_paragraph():
    text = play_text()
    trainer = trainer_for(text, 0.3)
    tail = text[trainer.n_train:]
    passage = default_probe_text(trainer, length=300)
    assert passage in tail
    assert tail.index(passage) < 100
    assert passage.startswith("SPEAKER")
    assert 200 <= len(passage) <= 300
    assert passage.endswith("\n")


def test_default_probe_text_without_validation_comes_from_the_end_of_the_corpus():
    text = play_text()
    passage = default_probe_text(trainer_for(text, 0.0), length=300)
    assert passage in text[-450:]
    assert text[text.rindex(passage) - 1] == "\n"
    assert 200 <= len(passage) <= 300


def test_default_probe_text_of_a_short_tail_is_the_whole_tail():
    text = play_text(40)
    trainer = trainer_for(text, 0.1)
    assert default_probe_text(trainer, length=10_000) == text[trainer.n_train:]
