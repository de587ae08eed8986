"""core.budget: the memory and arithmetic of one training step, known before anything is allocated."""

import tracemalloc

import pytest

import core
from core import budget
from core.budget import memory_budget, refusal, step_cost
from core.cli import train_main

TEXT = "".join(f"Line {i}: the quick brown fox jumps over the lazy dog.\n" for i in range(300))
HUGE = dict(hidden_size=4096, seq_length=1000, batch_size=1024)  # the settings panel's maxima


def measured_peak(cfg, corpus):
    """Bytes NumPy allocated at the peak of creating a trainer, two steps, a rate change, validation, a sample."""
    tracemalloc.start()
    try:
        trainer = core.Trainer.from_corpus(corpus, cfg)
        trainer.step()
        trainer.set_live(learning_rate=cfg.learning_rate / 2)  # keeps a restore point
        trainer.step()
        trainer.evaluate()
        trainer.sample_now(cfg.sample_length)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("settings", [
    dict(),  # the lesson
    dict(hidden_size=192, seq_length=32, batch_size=32, dtype="float32", optimizer="adam", learning_rate=3e-3),
    dict(hidden_size=256, seq_length=64, batch_size=16, optimizer="rmsprop", learning_rate=1e-3),
], ids=["lesson", "fast-like", "bigger"])
def test_the_memory_estimate_covers_what_training_allocates(settings):
    corpus = core.corpus_from_text(TEXT * 20)  # a held-out tail long enough for full evaluation windows
    cfg = core.preset("min-char-rnn", val_fraction=0.05, eval_chars=16 * 256 + 1, **settings)  # full windows
    estimate = step_cost(cfg, corpus.vocab_size).total_bytes
    peak = measured_peak(cfg, corpus)
    assert peak <= estimate <= 3 * peak + (4 << 20), (peak, estimate)


def test_cost_grows_with_every_dimension():
    base = core.preset("min-char-rnn")
    c0 = step_cost(base, 65)
    for bigger in (dict(hidden_size=200), dict(seq_length=50), dict(batch_size=4)):
        c = step_cost(base.replace(**bigger), 65)
        assert c.flops > c0.flops and c.total_bytes > c0.total_bytes and c.seconds() > c0.seconds()
    assert step_cost(base.replace(optimizer="adam"), 65).optimizer_bytes > c0.optimizer_bytes
    assert step_cost(base.replace(dtype="float32"), 65).model_bytes == c0.model_bytes // 2
    assert c0.parameters == 2 * 100 * 65 + 100 * 100 + 100 + 65


def test_the_panels_largest_settings_are_refused_and_the_lesson_is_not():
    huge = step_cost(core.preset("min-char-rnn", **HUGE), 65)
    assert huge.total_bytes > 100 * 2**30 and huge.seconds() > 3600
    reason = refusal(huge, budget=16 * 2**30)
    assert reason.startswith("not enough memory: these settings need about") and "16.0 GB" in reason
    assert "\n" not in reason
    assert refusal(step_cost(core.preset("min-char-rnn"), 65), budget=16 * 2**30) is None
    assert step_cost(core.preset("min-char-rnn"), 65).seconds() < budget.SLOW_STEP_SECONDS


def test_the_budget_is_a_conservative_share_of_physical_memory():
    total = budget.physical_memory()
    assert total is not None and total > 0  # Linux and macOS both say
    assert memory_budget() == int(total * budget.MEMORY_FRACTION) < total


def test_the_cli_refuses_settings_that_cannot_fit_with_one_line(tmp_path, capsys):
    corpus = tmp_path / "input.txt"
    corpus.write_text(TEXT)
    code = train_main([str(corpus), "--hidden-size", "4096", "--seq-length", "1000", "--batch-size", "1024",
                       "--iterations", "1"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "charrnn-train: error: not enough memory: these settings need about" in err


def test_the_cli_warns_before_slow_steps(tmp_path, capsys, monkeypatch):
    import core.cli

    monkeypatch.setattr(core.cli, "SLOW_STEP_SECONDS", 0.0)
    corpus = tmp_path / "input.txt"
    corpus.write_text(TEXT)
    assert train_main([str(corpus), "--hidden-size", "8", "--iterations", "1", "--progress-every", "0"]) == 0
    assert "warning: one training step with these settings takes about" in capsys.readouterr().err


@pytest.mark.parametrize("cell, layers, dropout", [("lstm", 1, 0.0), ("gru", 2, 0.0), ("lstm", 3, 0.2),
                                                   ("rnn", 2, 0.1)])
def test_the_memory_estimate_covers_every_cell_and_layer_count(cell, layers, dropout):
    corpus = core.corpus_from_text(TEXT * 20)
    cfg = core.preset("fast", cell=cell, num_layers=layers, dropout=dropout, hidden_size=64, seq_length=24,
                      batch_size=8, eval_chars=16 * 256 + 1, sample_length=100)
    estimate = step_cost(cfg, corpus.vocab_size).total_bytes
    peak = measured_peak(cfg, corpus)
    assert peak <= estimate <= 3 * peak + (4 << 20), (peak, estimate)


def test_gated_cells_cost_more_than_the_tanh_cell():
    base = core.preset("fast")
    rnn, gru, lstm = (step_cost(base.replace(cell=c), 65) for c in ("rnn", "gru", "lstm"))
    assert rnn.flops < gru.flops < lstm.flops and rnn.total_bytes < gru.total_bytes < lstm.total_bytes
    assert step_cost(base.replace(num_layers=3), 65).flops > 2 * rnn.flops
