"""The training generator: snapshots, samples, validation, live settings, divergence guard, batching."""

import math

import numpy as np
import pytest

import core.trainer
from core import DivergedError, Trainer, corpus_from_text, preset

TEXT = "".join(f"line {i}: the quick brown fox jumps over the lazy dog.\n" for i in range(300))


@pytest.fixture
def corpus():
    return corpus_from_text(TEXT, name="fox")


def small(**kw):
    base = dict(hidden_size=16, seq_length=10, sample_every=20, sample_length=30, eval_every=25, eval_chars=500)
    base.update(kw)
    return preset("min-char-rnn", **base)


def test_run_yields_one_snapshot_per_iteration(corpus):
    snaps = list(Trainer.from_corpus(corpus, small()).run(iterations=50))
    assert [s.iteration for s in snaps] == list(range(1, 51))
    assert snaps[-1].chars_seen == 50 * 10
    assert snaps[-1].epoch == pytest.approx(500 / len(corpus))
    assert all(s.loss_per_char == pytest.approx(s.loss / 10) for s in snaps)


def test_samples_arrive_every_sample_every_with_hidden_states(corpus):
    snaps = list(Trainer.from_corpus(corpus, small()).run(iterations=61))
    sampled = [s for s in snaps if s.sample is not None]
    assert [s.sample.iteration for s in sampled] == [0, 20, 40, 60]
    for s in sampled:
        assert len(s.sample.text) == 30
        assert s.sample.hidden.shape == (30, 16)
        assert np.all(np.abs(s.sample.hidden) <= 1)


def test_sampling_never_changes_the_training_trajectory(corpus):
    a = [s.loss for s in Trainer.from_corpus(corpus, small(sample_every=1)).run(iterations=40)]
    b = [s.loss for s in Trainer.from_corpus(corpus, small(sample_every=0)).run(iterations=40)]
    assert a == b


def test_validation_reports_bits_per_char_every_eval_every(corpus):
    cfg = small(val_fraction=0.1)
    snaps = list(Trainer.from_corpus(corpus, cfg).run(iterations=50))
    vals = [(s.iteration, s.val_bpc) for s in snaps if s.val_bpc is not None]
    assert [i for i, _ in vals] == [25, 50]
    assert all(0 < v < math.log2(corpus.vocab_size) + 1 for _, v in vals)


def test_training_reduces_validation_bits_per_char(corpus):
    trainer = Trainer.from_corpus(corpus, small(val_fraction=0.1, sample_every=0))
    before = trainer.evaluate()
    for _ in trainer.run(iterations=400):
        pass
    assert trainer.evaluate() < before - 1.0


def test_min_char_rnn_preset_has_no_validation_split(corpus):
    trainer = Trainer.from_corpus(corpus, preset("min-char-rnn"))
    assert not trainer.has_validation and trainer.n_train == len(corpus)


@pytest.mark.parametrize("optimizer", ["adagrad", "rmsprop", "adam"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_every_optimizer_and_dtype_learns(corpus, optimizer, dtype):
    lr = {"adagrad": 0.1, "rmsprop": 3e-3, "adam": 3e-3}[optimizer]
    cfg = small(optimizer=optimizer, dtype=dtype, learning_rate=lr, batch_size=4, sample_every=0)
    snaps = list(Trainer.from_corpus(corpus, cfg).run(iterations=300))
    first = np.mean([s.loss_per_char for s in snaps[:10]])
    last = np.mean([s.loss_per_char for s in snaps[-10:]])
    assert last < first - 1.0
    assert snaps[-1].learning_rate == lr


def test_batched_streams_start_at_even_offsets_and_carry_hidden_state(corpus):
    trainer = Trainer.from_corpus(corpus, small(batch_size=4))
    x, _ = trainer.window()
    assert x.shape == (10, 4)
    seg = len(corpus) // 4
    np.testing.assert_array_equal(x[0], corpus.data[[0, seg, 2 * seg, 3 * seg]])
    trainer.step()
    assert np.abs(trainer.hidden).sum() > 0
    x2, _ = trainer.window()
    np.testing.assert_array_equal(x2[0], corpus.data[[10, seg + 10, 2 * seg + 10, 3 * seg + 10]])


def test_live_settings_apply_between_steps(corpus):
    trainer = Trainer.from_corpus(corpus, small())
    trainer.step()
    trainer.set_live(learning_rate=0.05, temperature=0.5, sample_every=5, sample_length=12)
    snaps = [trainer.step() for _ in range(10)]
    assert snaps[0].learning_rate == 0.05
    sampled = [s.sample for s in snaps if s.sample]
    assert [s.iteration for s in sampled] == [5, 10]
    assert all(len(s.text) == 12 and s.temperature == 0.5 for s in sampled)


def test_settings_that_need_new_weights_cannot_change_live(corpus):
    trainer = Trainer.from_corpus(corpus, small())
    with pytest.raises(ValueError, match="new weights"):
        trainer.set_live(hidden_size=32)
    with pytest.raises(ValueError, match="positive"):
        trainer.set_live(learning_rate=0)


def test_divergence_stops_the_run_and_keeps_the_last_finite_weights(corpus):
    trainer = Trainer.from_corpus(corpus, small(learning_rate=1e3, optimizer="adam", sample_every=0))
    snaps = list(trainer.run(iterations=2000))
    last = snaps[-1]
    assert last.diverged and "diverged" in last.diverged and "learning rate" in last.diverged
    assert len(snaps) < 2000
    assert all(np.isfinite(p).all() for p in trainer.params.values())
    with pytest.raises(DivergedError):
        trainer.step()


def poison_gradients(monkeypatch):
    """From now on one gradient entry is NaN; returns the real loss_and_grads (to put back)."""
    real = core.trainer.loss_and_grads

    def poisoned(*args):
        loss, grads, h = real(*args)
        grads["Whh"][0, 0] = np.nan
        return loss, grads, h

    monkeypatch.setattr(core.trainer, "loss_and_grads", poisoned)
    return real


def test_nan_gradient_is_caught_before_the_update(corpus, monkeypatch):
    trainer = Trainer.from_corpus(corpus, small(sample_every=0))
    trainer.step()
    before = {k: v.copy() for k, v in trainer.params.items()}
    poison_gradients(monkeypatch)
    snap = trainer.step()
    assert snap.diverged and "gradient" in snap.diverged
    for k, v in before.items():
        np.testing.assert_array_equal(trainer.params[k], v)
    assert trainer.iteration == 1


def test_after_clearing_a_divergence_training_goes_on_from_the_kept_weights(corpus, monkeypatch):
    trainer = Trainer.from_corpus(corpus, small(sample_every=0))
    trainer.step()
    real = poison_gradients(monkeypatch)
    assert trainer.step().diverged
    monkeypatch.setattr(core.trainer, "loss_and_grads", real)
    trainer.hidden[0, 0] = np.nan  # as a blown-up hidden state would be
    kept = {k: v.copy() for k, v in trainer.params.items()}
    trainer.clear_divergence()
    assert trainer.diverged is None and np.isfinite(trainer.hidden).all()
    snap = trainer.step()
    assert not snap.diverged and trainer.iteration == 2
    assert any(not np.array_equal(kept[k], trainer.params[k]) for k in kept)


def test_a_divergence_after_raising_the_learning_rate_can_go_back_to_the_weights_from_before(corpus):
    trainer = Trainer.from_corpus(corpus, small(optimizer="adam", learning_rate=1e-2, sample_every=0))
    for _ in trainer.run(iterations=50):
        pass
    before = {k: v.copy() for k, v in trainer.params.items()}
    memory = {k: v.copy() for k, v in trainer.optimizer.state_arrays().items()}
    hidden, smooth = trainer.hidden.copy(), trainer.smooth_loss
    trainer.set_live(learning_rate=1e3)
    snaps = list(trainer.run(iterations=2000))
    assert snaps[-1].diverged
    point = trainer.restore()
    assert (point.iteration, point.learning_rate, point.new_learning_rate) == (50, 1e-2, 1e3)
    for k in before:
        np.testing.assert_array_equal(trainer.params[k], before[k])
    for k, v in trainer.optimizer.state_arrays().items():
        np.testing.assert_array_equal(v, memory[k])
    np.testing.assert_array_equal(trainer.hidden, hidden)
    assert trainer.learning_rate == 1e-2 and trainer.smooth_loss == smooth and trainer.diverged is None
    after = list(trainer.run(iterations=20))
    assert not any(s.diverged for s in after) and np.isfinite([s.loss for s in after]).all()
    assert after[-1].iteration == snaps[-1].iteration + 20  # the count goes on


def test_a_burst_of_learning_rate_changes_keeps_the_point_from_before_the_first(corpus):
    trainer = Trainer.from_corpus(corpus, small(sample_every=0))
    assert trainer.restore_point is None
    trainer.set_live(learning_rate=0.2)  # before any training: nothing worth keeping
    assert trainer.restore_point is None
    with pytest.raises(ValueError, match="no restore point"):
        trainer.restore()
    for _ in trainer.run(iterations=10):
        pass
    trainer.set_live(learning_rate=0.5)
    for _ in trainer.run(iterations=3):
        pass
    trainer.set_live(learning_rate=5.0)
    trainer.set_live(learning_rate=5.0)  # the same rate again is not a change
    point = trainer.restore_point
    assert (point.iteration, point.learning_rate, point.new_learning_rate) == (10, 0.2, 5.0)
    for _ in trainer.run(iterations=core.trainer.RESTORE_MIN_GAP):
        pass
    trainer.set_live(learning_rate=0.1)  # long after: a new point
    assert trainer.restore_point.iteration == 13 + core.trainer.RESTORE_MIN_GAP


def test_run_stops_at_time_budget(corpus):
    trainer = Trainer.from_corpus(corpus, small(sample_every=0))
    snaps = list(trainer.run(seconds=0.2))
    assert 0 < len(snaps)
    assert trainer.iteration == len(snaps)


def test_sample_now_leaves_training_untouched(corpus):
    a = Trainer.from_corpus(corpus, small(sample_every=0))
    b = Trainer.from_corpus(corpus, small(sample_every=0))
    for _ in range(20):
        a.step(), b.step()
    result = a.sample_now(length=50, prime="line", temperature=0.7, seed=3)
    assert result.text.startswith("line") and len(result.text) == 54
    assert result.hidden.shape == (54, 16)
    assert [a.step().loss for _ in range(5)] == [b.step().loss for _ in range(5)]


def test_corpus_too_short_for_the_window_is_refused_naming_a_length_that_fits():
    from core import CorpusError

    with pytest.raises(CorpusError, match="sequence length 25"):
        Trainer.from_corpus(corpus_from_text("abcdefghij"), preset("min-char-rnn"))


@pytest.mark.parametrize("name,extra", [
    ("min-char-rnn", {}),
    ("lstm", dict(num_layers=2, dropout=0.2, grad_flow_every=7)),
    ("gru", dict(optimizer="adam", grad_flow_every=5)),
])
def test_a_second_trainer_given_the_state_goes_on_exactly_as_the_first(corpus, name, extra):
    import pickle

    config = preset(name, hidden_size=16, seq_length=10, batch_size=2 if name != "min-char-rnn" else 1,
                    sample_every=6, sample_length=12, eval_every=9, eval_chars=300, **extra)
    first = Trainer.from_corpus(corpus, config)
    first.set_live(temperature=0.7, learning_rate=config.learning_rate * 0.5)
    for _ in range(13):  # mid-sequence: the pointer, the carried state, the optimizer memory, the generators
        first.step()
    second = Trainer.from_corpus(corpus, config)  # fresh weights from the same seed: it must take all of the state
    second.set_state(pickle.loads(pickle.dumps(first.get_state())))  # as it travels to another process
    assert second.restore_point is None  # the restore point is the first trainer's own
    for _ in range(20):
        a, b = first.step(), second.step()
        assert (a.iteration, a.loss, a.smooth_loss, a.chars_seen, a.learning_rate, a.val_bpc) == \
               (b.iteration, b.loss, b.smooth_loss, b.chars_seen, b.learning_rate, b.val_bpc)
        assert (a.sample is None) == (b.sample is None)
        if a.sample is not None:
            assert a.sample.text == b.sample.text and a.sample.temperature == b.sample.temperature == 0.7
        assert (a.grad_flow is None) == (b.grad_flow is None)
        if a.grad_flow is not None:
            assert pickle.dumps(a.grad_flow) == pickle.dumps(b.grad_flow)
    assert np.array_equal(first.get_state()["weights"], second.get_state()["weights"])
    assert np.array_equal(first.state, second.state)
    assert first.train_seconds != 0.0 and second.iteration == first.iteration == 33


def test_a_diverged_state_travels_with_its_reason(corpus):
    first = Trainer.from_corpus(corpus, small())
    first.step()
    first.diverged = "training diverged at iteration 1: test"
    second = Trainer.from_corpus(corpus, small())
    second.set_state(first.get_state())
    with pytest.raises(DivergedError, match="test"):
        second.step()
