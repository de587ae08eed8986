"""Every cell and layer count trains, resumes exactly from a checkpoint, samples, probes and evaluates."""

import math

import numpy as np
import pytest

from core import Trainer, corpus_from_text, generate, load_checkpoint, preset, restore_trainer, save_checkpoint
from core.model import STATE_NAMES, describe, run
from core.probe import probe, rank_span, rank_units
from core.sample import sample_streams

TEXT = "".join(f"{i} little pigs went to market, {i * 7 % 13} came home.\n" for i in range(200))
CELLS = ["rnn", "lstm", "gru"]


@pytest.fixture(scope="module")
def corpus():
    return corpus_from_text(TEXT, name="pigs")


def config(cell="lstm", layers=2, **kw):
    base = dict(cell=cell, num_layers=layers, dropout=0.25 if layers > 1 else 0.0, hidden_size=10, seq_length=8,
                batch_size=3, sample_every=7, sample_length=12, val_fraction=0.1, eval_every=10, eval_chars=300,
                optimizer="adam", learning_rate=0.01, init_scale=0.1)
    base.update(kw)
    return preset("min-char-rnn", **base)


def trace(snaps):
    return [(s.loss, s.smooth_loss, s.sample.text if s.sample else None, s.val_bpc, s.learning_rate) for s in snaps]


@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize("cell", CELLS)
def test_n_iterations_save_resume_m_more_equals_n_plus_m_straight(corpus, tmp_path, cell, layers):
    cfg = config(cell, layers, lr_schedule="cosine", budget_iterations=40)
    straight = Trainer.from_corpus(corpus, cfg)
    expected = trace(straight.run(iterations=45))
    first = Trainer.from_corpus(corpus, cfg)
    got = trace(first.run(iterations=17))
    save_checkpoint(first, tmp_path / "c.npz")
    ckpt = load_checkpoint(tmp_path / "c.npz")
    assert (ckpt.config.cell, ckpt.config.num_layers, ckpt.config.dropout) == (cell, layers, cfg.dropout)
    resumed = restore_trainer(ckpt, corpus.data, corpus.vocab)
    got += trace(resumed.run(iterations=28))
    assert got == expected
    np.testing.assert_array_equal(resumed.state, straight.state)
    for k, p in straight.params.items():
        np.testing.assert_array_equal(resumed.params[k], p)


def test_dropout_changes_training_but_not_evaluation(corpus):
    with_dropout = Trainer.from_corpus(corpus, config("gru", 2, dropout=0.5))
    without = Trainer.from_corpus(corpus, config("gru", 2, dropout=0.0))
    assert with_dropout.evaluate() == without.evaluate()  # same initial weights; no dropout at evaluation
    assert with_dropout.step().loss != without.step().loss


def test_dropout_masks_come_from_their_own_generator(corpus):
    a = Trainer.from_corpus(corpus, config("lstm", 2, seed=3))
    b = Trainer.from_corpus(corpus, config("lstm", 2, seed=3))
    b.rng.random(5)  # drawing samples differently must not move the trajectory
    assert [s.loss for s in a.run(iterations=5)] == [s.loss for s in b.run(iterations=5)]


@pytest.mark.parametrize("cell", CELLS)
def test_training_lowers_the_held_out_loss_for_every_cell(corpus, cell):
    trainer = Trainer.from_corpus(corpus, config(cell, 2, dropout=0.0, learning_rate=0.02))
    before = trainer.evaluate()
    for _ in trainer.run(iterations=150):
        pass
    assert trainer.evaluate() < before - 0.5


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("cell", CELLS)
def test_samples_carry_every_layers_states_and_gates(corpus, cell, layers):
    trainer = Trainer.from_corpus(corpus, config(cell, layers))
    snap = trainer.step()
    sample = snap.sample
    assert len(sample.text) == 12 and sample.hidden.shape == (12, 10)
    assert len(sample.states) == layers
    for layer in sample.states:
        assert tuple(layer) == STATE_NAMES[cell]
        assert all(a.shape == (12, 10) for a in layer.values())
    np.testing.assert_array_equal(sample.states[-1]["h"], sample.hidden)
    if cell != "rnn":
        gate = "f" if cell == "lstm" else "z"
        assert ((sample.states[0][gate] >= 0) & (sample.states[0][gate] <= 1)).all()


@pytest.mark.parametrize("cell", CELLS)
def test_sample_now_generate_and_streams_work_for_every_cell(corpus, cell):
    trainer = Trainer.from_corpus(corpus, config(cell, 2))
    for _ in trainer.run(iterations=30):
        pass
    result = trainer.sample_now(length=40, prime="12 little", seed=1)
    assert result.text.startswith("12 little") and len(result.text) == 49
    assert result.hidden.shape == (49, 10) and len(result.states) == 2
    assert trainer.sample_now(length=40, prime="12 little", seed=1).text == result.text
    argmax = generate(trainer.params, trainer.vocab, 30, np.random.default_rng(0), prime="1", argmax=True)
    assert argmax.text == generate(trainer.params, trainer.vocab, 30, np.random.default_rng(9), prime="1",
                                   argmax=True).text
    ids, hidden = sample_streams(trainer.params, trainer.state[:, :2], 25, np.random.default_rng(2),
                                 temperature=[0.5, 1.5])
    assert ids.shape == (2, 25) and hidden.shape == (2, 25, 10)


@pytest.mark.parametrize("cell", CELLS)
def test_argmax_samples_follow_the_models_own_predictions(corpus, cell):
    """Each argmax character is the likeliest after reading the text before it (sampler == model)."""
    trainer = Trainer.from_corpus(corpus, config(cell, 2))
    for _ in trainer.run(iterations=40):
        pass
    result = generate(trainer.params, trainer.vocab, 20, np.random.default_rng(0), prime="3 little", argmax=True)
    state = np.zeros((trainer.arch.state_rows, 1, 10))
    scores, hidden, _ = run(trainer.params, result.ids[:, None], state.astype(trainer.config.dtype))
    np.testing.assert_array_equal(scores[len("3 little") - 1:-1, 0].argmax(axis=1), result.ids[len("3 little"):])
    np.testing.assert_allclose(hidden[:, 0], result.hidden, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cell", CELLS)
def test_probe_and_rankings_work_for_every_cell(corpus, cell):
    trainer = Trainer.from_corpus(corpus, config(cell, 2))
    for _ in trainer.run(iterations=30):
        pass
    text = "7 little pigs went to market, 10 came home.\n"
    result = probe(trainer.params, trainer.vocab, text)
    assert result.hidden.shape == (len(text), 10) and result.probs.shape == (len(text), len(trainer.vocab))
    assert np.allclose(result.probs.sum(axis=1), 1.0)
    assert [tuple(layer) for layer in result.states] == [STATE_NAMES[cell]] * 2
    if cell == "lstm":
        c = result.states[1]["c"]
        np.testing.assert_allclose(result.hidden, result.states[1]["o"] * np.tanh(c), rtol=1e-6, atol=1e-7)
    assert math.isfinite(result.bits_per_char)
    assert len(rank_span(result.hidden, 2, 8, k=5)) == 5
    assert len(rank_units(result.states[0]["h"], "most_variable", k=4)) == 4


def test_probe_from_a_carried_state_differs_from_zeros(corpus):
    trainer = Trainer.from_corpus(corpus, config("lstm", 2))
    for _ in trainer.run(iterations=20):
        pass
    zero = probe(trainer.params, trainer.vocab, "pigs")
    carried = probe(trainer.params, trainer.vocab, "pigs", h0=trainer.state[:, 0])
    assert not np.allclose(zero.hidden, carried.hidden)


def test_describe_reads_the_model_from_its_parameters(corpus):
    for cell in CELLS:
        for layers in (1, 2, 3):
            t = Trainer.from_corpus(corpus, config(cell, layers))
            arch = describe(t.params)
            assert (arch.cell, arch.layers, arch.hidden, arch.vocab) == (cell, layers, 10, len(corpus.vocab))
    lesson = Trainer.from_corpus(corpus, config("rnn", 1))
    assert sorted(lesson.params) == ["Whh", "Why", "Wxh", "bh", "by"]
    assert sorted(Trainer.from_corpus(corpus, config("gru", 2)).params) == [
        "L0.Wh", "L0.Wx", "L0.b", "L1.Wh", "L1.Wx", "L1.b", "Why", "by"]


def test_cosine_schedule_decays_to_the_floor_over_the_iteration_budget(corpus):
    trainer = Trainer.from_corpus(corpus, config("gru", 1, lr_schedule="cosine", budget_iterations=20, lr_floor=0.1,
                                                 learning_rate=0.01))
    rates = [s.learning_rate for s in trainer.run(iterations=25)]
    assert rates[0] == 0.01
    assert rates[10] == pytest.approx(0.01 * (0.1 + 0.9 * 0.5))
    assert rates[20:] == [pytest.approx(0.001)] * 5
    assert all(a >= b for a, b in zip(rates, rates[1:]))
    assert trainer.learning_rate == 0.01  # the live setting is the rate the schedule scales


def test_cosine_schedule_over_a_time_budget_uses_training_time(corpus):
    trainer = Trainer.from_corpus(corpus, config("rnn", 1, lr_schedule="cosine", budget_seconds=1e-9))
    first, second = trainer.step(), trainer.step()
    assert first.learning_rate == 0.01  # nothing spent before the first update
    assert second.learning_rate == pytest.approx(0.001)  # the budget is spent
    assert trainer.train_seconds > 0


def test_constant_schedule_and_no_budget_keep_the_rate(corpus):
    for cfg in (config("lstm", 1), config("lstm", 1, lr_schedule="cosine")):
        assert {s.learning_rate for s in Trainer.from_corpus(corpus, cfg).run(iterations=5)} == {0.01}


@pytest.mark.parametrize("bad,message", [
    (dict(cell="transformer"), "cell must be one of"),
    (dict(num_layers=4), "layers must be between 1 and 3"),
    (dict(num_layers=0), "layers must be between 1 and 3"),
    (dict(num_layers=1, dropout=0.3), "dropout acts between layers"),
    (dict(num_layers=2, dropout=1.0), r"dropout must be in \[0, 1\)"),
    (dict(lr_schedule="step"), "schedule must be one of"),
    (dict(lr_floor=1.5), "floor must be in"),
])
def test_bad_model_settings_raise_one_clear_line(bad, message):
    with pytest.raises(ValueError, match=message):
        config(**{**dict(dropout=0.0), **bad})


def test_restore_point_brings_back_every_layers_state(corpus):
    trainer = Trainer.from_corpus(corpus, config("lstm", 2))
    for _ in trainer.run(iterations=5):
        pass
    weights, state = trainer._flat.copy(), trainer.state.copy()
    trainer.set_live(learning_rate=0.5)
    for _ in trainer.run(iterations=3):
        pass
    assert not np.array_equal(trainer.state, state)
    trainer.restore()
    np.testing.assert_array_equal(trainer.state, state)
    np.testing.assert_array_equal(trainer._flat, weights)
    assert trainer.learning_rate == 0.01


# --- state resets: every N windows one stream starts from zero ------------------------------------------


def test_a_state_reset_zeroes_one_stream_in_turn_and_leaves_the_others(corpus):
    t = Trainer.from_corpus(corpus, config("gru", 1, state_reset_every=2))
    for _ in range(3):
        t.step()
    for i in range(3, 15):
        before = t.state.copy()  # (K, B, H) carried from the last window
        t.window()
        if i % 2 == 0:
            reset = (i // 2) % 3
            assert not t.state[:, reset].any() and before[:, reset].any(), i
            others = [b for b in range(3) if b != reset]
            np.testing.assert_array_equal(t.state[:, others], before[:, others])
        else:
            np.testing.assert_array_equal(t.state, before)
        t.step()


def test_no_state_reset_by_default_the_lessons_way(corpus):
    t = Trainer.from_corpus(corpus, config("gru", 1))
    for _ in range(3):
        t.step()
    before = t.state.copy()
    t.window()
    np.testing.assert_array_equal(t.state, before)
    assert before.all(axis=-1).any()


def test_state_resets_change_training_and_resume_exactly(corpus, tmp_path):
    cfg = config("lstm", 1, state_reset_every=3)
    straight = Trainer.from_corpus(corpus, cfg)
    expected = trace(straight.run(iterations=20))
    assert expected != trace(Trainer.from_corpus(corpus, cfg.replace(state_reset_every=0)).run(iterations=20))
    first = Trainer.from_corpus(corpus, cfg)
    got = trace(first.run(iterations=8))
    save_checkpoint(first, tmp_path / "c.npz")
    ckpt = load_checkpoint(tmp_path / "c.npz")
    assert ckpt.config.state_reset_every == 3
    got += trace(restore_trainer(ckpt, corpus.data, corpus.vocab).run(iterations=12))
    assert got == expected


def test_a_negative_state_reset_interval_is_refused():
    with pytest.raises(ValueError, match="state reset interval"):
        config("gru", 1, state_reset_every=-1)
