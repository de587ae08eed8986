"""Checkpoints: exact resume, atomic writes, and refusal of anything corrupt, foreign or pickled."""

import json
import os

import numpy as np
import pytest

from core import CheckpointError, Trainer, corpus_from_text, load_checkpoint, preset, restore_trainer, save_checkpoint

TEXT = "".join(f"{i} little pigs went to market, {i * 7 % 13} came home.\n" for i in range(200))


@pytest.fixture
def corpus():
    return corpus_from_text(TEXT, name="pigs")


def config(**kw):
    base = dict(hidden_size=12, seq_length=9, batch_size=3, sample_every=7, sample_length=15, val_fraction=0.1,
                eval_every=10, eval_chars=300, optimizer="adam", learning_rate=0.01)
    base.update(kw)
    return preset("min-char-rnn", **base)


@pytest.mark.parametrize("optimizer", ["adagrad", "rmsprop", "adam"])
def test_n_iterations_save_load_m_more_equals_n_plus_m_straight(corpus, tmp_path, optimizer):
    cfg = config(optimizer=optimizer)
    straight = Trainer.from_corpus(corpus, cfg)
    expected = [(s.loss, s.smooth_loss, s.sample.text if s.sample else None, s.val_bpc)
                for s in straight.run(iterations=70)]
    first = Trainer.from_corpus(corpus, cfg)
    got = [(s.loss, s.smooth_loss, s.sample.text if s.sample else None, s.val_bpc) for s in first.run(iterations=31)]
    save_checkpoint(first, tmp_path / "c.npz")
    resumed = restore_trainer(load_checkpoint(tmp_path / "c.npz"), corpus.data, corpus.vocab)
    assert resumed.iteration == 31
    got += [(s.loss, s.smooth_loss, s.sample.text if s.sample else None, s.val_bpc) for s in resumed.run(iterations=39)]
    assert got == expected


def test_live_settings_and_extras_survive_a_round_trip(corpus, tmp_path):
    trainer = Trainer.from_corpus(corpus, config())
    trainer.step()
    trainer.set_live(learning_rate=0.002, temperature=0.6)
    history = np.arange(10.0)
    save_checkpoint(trainer, tmp_path / "c.npz", extras={"loss": history})
    ckpt = load_checkpoint(tmp_path / "c.npz")
    np.testing.assert_array_equal(ckpt.extras["loss"], history)
    resumed = restore_trainer(ckpt, corpus.data, corpus.vocab)
    assert resumed.learning_rate == 0.002 and resumed.temperature == 0.6


def test_a_failed_save_leaves_the_previous_file_intact(corpus, tmp_path, monkeypatch):
    trainer = Trainer.from_corpus(corpus, config())
    path = tmp_path / "c.npz"
    save_checkpoint(trainer, path)
    before = path.read_bytes()
    trainer.step()

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", broken)
    with pytest.raises(OSError):
        save_checkpoint(trainer, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["c.npz"]  # no temp file left behind


@pytest.fixture
def saved(corpus, tmp_path):
    trainer = Trainer.from_corpus(corpus, config())
    trainer.step()
    path = tmp_path / "good.npz"
    save_checkpoint(trainer, path)
    return path


def test_truncated_file_is_refused(saved, tmp_path):
    bad = tmp_path / "truncated.npz"
    bad.write_bytes(saved.read_bytes()[: saved.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated.npz"):
        load_checkpoint(bad)


def test_bit_flipped_file_is_refused(saved, tmp_path):
    raw = bytearray(saved.read_bytes())
    rng = np.random.default_rng(0)
    refused = 0
    for trial in range(20):
        flipped = bytearray(raw)
        i = int(rng.integers(100, len(raw) - 100))
        flipped[i] ^= 1 << int(rng.integers(8))
        bad = tmp_path / f"flip{trial}.npz"
        bad.write_bytes(bytes(flipped))
        try:
            ckpt = load_checkpoint(bad)
        except CheckpointError:
            refused += 1
            continue
        # Zip CRCs guard the data; a flip in a header field nothing reads (a local header's zip64 sizes) is harmless.
        good = load_checkpoint(saved)
        assert ckpt.meta == good.meta and all(np.array_equal(ckpt.arrays[k], good.arrays[k]) for k in good.arrays)
    assert refused >= 18


def test_pickled_object_array_is_refused_and_never_unpickled(saved, tmp_path):
    marker = tmp_path / "executed"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    with np.load(saved) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["param.Wxh"] = np.array([Evil()], dtype=object)
    bad = tmp_path / "evil.npz"
    np.savez(bad, **arrays)
    with pytest.raises(CheckpointError, match="pickled"):
        load_checkpoint(bad)
    assert not marker.exists()


def _rewrite_meta(saved, tmp_path, change):
    with np.load(saved) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(arrays["meta"].tobytes())
    change(meta)
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    bad = tmp_path / "edited.npz"
    np.savez(bad, **arrays)
    return bad


def test_future_format_version_is_refused(saved, tmp_path):
    bad = _rewrite_meta(saved, tmp_path, lambda m: m.update(version=99))
    with pytest.raises(CheckpointError, match="newer charrnn"):
        load_checkpoint(bad)


def test_foreign_npz_is_refused(tmp_path):
    bad = tmp_path / "other.npz"
    np.savez(bad, weights=np.zeros(3))
    with pytest.raises(CheckpointError, match="not a charrnn checkpoint"):
        load_checkpoint(bad)


def test_text_file_and_missing_file_are_refused(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match="not a charrnn checkpoint"):
        load_checkpoint(text)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.npz")


def test_shape_mismatch_in_metadata_is_refused(saved, tmp_path):
    bad = _rewrite_meta(saved, tmp_path, lambda m: m["config"].update(hidden_size=13))
    with pytest.raises(CheckpointError, match="shape"):
        load_checkpoint(bad)


def test_checkpoint_from_another_vocabulary_is_refused_on_resume(saved):
    other = corpus_from_text("completely different text, with other letters: xyz QWERTY " * 20)
    with pytest.raises(CheckpointError, match="vocabulary"):
        restore_trainer(load_checkpoint(saved), other.data, other.vocab)


def test_save_writes_through_a_temporary_file_and_rename(corpus, tmp_path, monkeypatch):
    trainer = Trainer.from_corpus(corpus, config())
    renames = []
    real = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (renames.append((a, b)), real(a, b))[1])
    save_checkpoint(trainer, tmp_path / "c.npz")
    assert len(renames) == 1 and renames[0][1] == os.fspath(tmp_path / "c.npz")
