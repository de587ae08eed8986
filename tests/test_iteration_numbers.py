"""One convention for iteration numbers: iteration N is the model after N completed updates, in every place
that shows one (stdout, the JSONL metrics, validation lines, progress lines, divergence messages,
checkpoints, the app), except the min-char-rnn preset's 'iter n, loss' lines, which keep the lesson's counter."""

import json
import re

import numpy as np
import pytest

import core
import core.trainer
from core import load_checkpoint
from core.cli import train_main

TEXT = "".join(f"To be, or not to be, that is question number {i}.\n" for i in range(120))
TINY = ["--hidden-size", "8", "--seq-length", "8", "--sample-every", "0", "--progress-every", "0"]


@pytest.fixture
def corpus_file(tmp_path):
    path = tmp_path / "input.txt"
    path.write_text(TEXT)
    return path


def loss_lines(out):
    return {int(m.group(1)): float(m.group(2)) for m in re.finditer(r"^iter (\d+), loss: (\S+)$", out, re.M)}


def validation_lines(out):
    return {int(m.group(1)): float(m.group(2))
            for m in re.finditer(r"^iter (\d+), validation: (\S+) bits/char$", out, re.M)}


def rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_lesson_preset_keeps_the_lessons_counter_on_stdout(corpus_file, tmp_path, capsys):
    metrics = tmp_path / "m.jsonl"
    assert train_main([str(corpus_file), *TINY, "--iterations", "41", "--print-every", "10", "--metrics",
                       str(metrics), "--log-every", "1"]) == 0
    lines = loss_lines(capsys.readouterr().out)
    assert list(lines) == [0, 10, 20, 30, 40]  # the lesson prints n before n += 1
    logged = {r["iteration"]: r["smooth_loss"] for r in rows(metrics)}
    assert list(logged) == list(range(1, 42))
    for n in lines:  # the lesson's n is the row of n + 1 completed updates, not the row of n
        assert lines[n] == pytest.approx(logged[n + 1], abs=1e-6)
        assert n == 0 or lines[n] != pytest.approx(logged[n], abs=1e-6)


def test_every_other_preset_prints_completed_iterations_that_match_the_metrics(corpus_file, tmp_path, capsys):
    metrics = tmp_path / "m.jsonl"
    assert train_main([str(corpus_file), "--preset", "fast", "--batch-size", "2", *TINY, "--iterations", "40",
                       "--print-every", "10", "--metrics", str(metrics), "--log-every", "10"]) == 0
    lines = loss_lines(capsys.readouterr().out)
    logged = {r["iteration"]: r["smooth_loss"] for r in rows(metrics)}
    assert list(lines) == list(logged) == [10, 20, 30, 40]
    for n in lines:
        assert lines[n] == pytest.approx(logged[n], abs=1e-6)


@pytest.mark.parametrize("preset", ["min-char-rnn", "fast"])
def test_a_validation_at_iteration_n_is_printed_and_logged_as_n(corpus_file, tmp_path, capsys, preset):
    metrics = tmp_path / "m.jsonl"
    assert train_main([str(corpus_file), "--preset", preset, *TINY, "--batch-size", "1", "--iterations", "45",
                       "--val-fraction", "0.1", "--eval-every", "20", "--metrics", str(metrics),
                       "--log-every", "1000"]) == 0
    shown = validation_lines(capsys.readouterr().out)
    logged = {r["iteration"]: r["val_bpc"] for r in rows(metrics)}
    assert list(shown) == list(logged) == [20, 40]
    for n in shown:
        assert shown[n] == pytest.approx(logged[n], abs=1e-4)


def test_progress_lines_count_completed_iterations(corpus_file, capsys):
    assert train_main([str(corpus_file), *TINY[:-2], "--iterations", "30", "--progress-every", "1e-9"]) == 0
    counts = [int(n) for n in re.findall(r"^progress: iter (\d+),", capsys.readouterr().err, re.M)]
    assert counts == list(range(1, 31))


def poison_after(monkeypatch, calls):
    """Make the gradient of update number calls + 1 non-finite."""
    real, seen = core.trainer.loss_and_grads, [0]

    def poisoned(*args):
        loss, grads, h = real(*args)
        seen[0] += 1
        if seen[0] > calls:
            grads["Whh"][0, 0] = np.nan
        return loss, grads, h

    monkeypatch.setattr(core.trainer, "loss_and_grads", poisoned)


def test_a_divergence_is_reported_as_the_same_iteration_everywhere(corpus_file, tmp_path, capsys, monkeypatch):
    poison_after(monkeypatch, 25)
    metrics, ckpt = tmp_path / "m.jsonl", tmp_path / "c.npz"
    assert train_main([str(corpus_file), "--preset", "fast", *TINY, "--iterations", "100", "--print-every", "5",
                       "--metrics", str(metrics), "--log-every", "5", "--checkpoint", str(ckpt),
                       "--checkpoint-every", "25"]) == 1
    captured = capsys.readouterr()
    assert "training diverged at iteration 25: the next update's gradient is not finite" in captured.err
    assert "the weights of iteration 25 are kept" in captured.err
    assert max(loss_lines(captured.out)) == 25  # nothing printed for the update that failed
    logged = rows(metrics)
    assert [r["iteration"] for r in logged] == [5, 10, 15, 20, 25, 25]
    assert "diverged" in logged[-1] and "loss" not in logged[-1] and "diverged" not in logged[-2]
    assert load_checkpoint(ckpt).iteration == 25


def test_the_engine_names_the_iteration_whose_weights_it_keeps(monkeypatch):
    poison_after(monkeypatch, 7)
    corpus = core.corpus_from_text(TEXT)
    trainer = core.Trainer.from_corpus(corpus, core.preset("min-char-rnn", hidden_size=8, seq_length=8))
    snaps = list(trainer.run(50))
    assert snaps[-1].diverged and snaps[-1].iteration == trainer.iteration == 7
    assert snaps[-1].diverged.startswith("training diverged at iteration 7:")



@pytest.mark.parametrize("preset, first", [("min-char-rnn", 150), ("fast", 160)])
def test_a_resumed_run_keeps_its_presets_counter(corpus_file, tmp_path, capsys, preset, first):
    ckpt = tmp_path / "c.npz"
    assert train_main([str(corpus_file), *TINY, "--preset", preset, "--iterations", "150",
                       "--checkpoint", str(ckpt)]) == 0
    capsys.readouterr()
    assert train_main([str(corpus_file), "--resume", str(ckpt), "--iterations", "30", "--print-every", "10",
                       "--progress-every", "0"]) == 0
    assert list(loss_lines(capsys.readouterr().out))[0] == first
