"""n-gram baselines in runs: charrnn-train writes them into run.json, scored on the trainer's held-out characters."""

import json

import pytest

from core import ngram
from core.cli import main
from core.corpus import corpus_from_text
from core.runs import read_run

from .runs_helpers import TEXT

TINY = ["--hidden-size", "8", "--seq-length", "8", "--progress-every", "0", "--sample-every", "0",
        "--val-fraction", "0.1", "--eval-every", "20"]


@pytest.fixture
def corpus_file(tmp_path):
    path = tmp_path / "fox.txt"
    path.write_text(TEXT)
    return path


def test_charrnn_train_writes_the_baselines_of_its_held_out_characters_into_run_json(corpus_file, tmp_path):
    run_dir = tmp_path / "run"
    assert main(["train", str(corpus_file), "--iterations", "10", "--run-dir", str(run_dir), *TINY]) == 0

    info = json.loads((run_dir / "run.json").read_text())
    corpus = corpus_from_text(TEXT)
    n_train = len(TEXT) - int(len(TEXT) * 0.1)
    expected = ngram.held_out_bits(corpus.data, len(corpus.vocab), n_train, n_train + 20_000, ngram.DEFAULT_ORDERS)
    assert info["baselines"] == pytest.approx({f"{k}-gram": v for k, v in expected.items()})
    assert list(info["baselines"]) == [f"{k}-gram" for k in range(1, 7)]
    assert read_run(run_dir).info["baselines"] == info["baselines"]


def test_a_training_without_held_out_part_records_no_baselines(corpus_file, tmp_path):
    run_dir = tmp_path / "run"
    args = [a if a != "0.1" else "0" for a in TINY]
    assert main(["train", str(corpus_file), "--iterations", "5", "--run-dir", str(run_dir), *args]) == 0
    assert "baselines" not in json.loads((run_dir / "run.json").read_text())


def test_beyond_the_cli_limit_only_cached_baselines_are_recorded(corpus_file, tmp_path, monkeypatch):
    from core.runs import cli_hook

    monkeypatch.setattr(cli_hook, "CLI_BASELINE_CHARS", 10)
    assert main(["train", str(corpus_file), "--iterations", "5", "--run-dir", str(tmp_path / "a"), *TINY]) == 0
    assert "baselines" not in json.loads((tmp_path / "a" / "run.json").read_text())
    corpus = corpus_from_text(TEXT)
    n_train = len(TEXT) - int(len(TEXT) * 0.1)
    ngram.baselines(corpus, n_train, n_train + 20_000)  # as the app would have, into the same cache
    assert main(["train", str(corpus_file), "--iterations", "5", "--run-dir", str(tmp_path / "b"), *TINY]) == 0
    assert set(json.loads((tmp_path / "b" / "run.json").read_text())["baselines"]) == {f"{k}-gram" for k in range(1, 7)}


def test_ctrl_c_while_the_baselines_are_counted_leaves_no_run_and_exits_130(corpus_file, tmp_path, monkeypatch,
                                                                           capsys):
    from core.runs import cli_hook

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # as Ctrl+C lands during a count of several seconds on a big text

    monkeypatch.setattr(cli_hook, "count_baselines", interrupted)
    run_dir = tmp_path / "run"
    assert main(["train", str(corpus_file), "--iterations", "10", "--run-dir", str(run_dir), *TINY]) == 130
    assert not run_dir.exists()  # counted before the run folder is made: no run left saying "running"
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["charrnn-train: interrupted before training began; nothing was saved"]
