"""The lecture's gradient-flow experiments: vanishing at the lesson's start, exploding without clipping, rescued."""

import json
import math
import re

import numpy as np
import pytest

from core import PRESETS, Trainer, corpus_from_text
from core.builtins import builtin_text
from core.experiments import EXPERIMENTS, SEQ_LENGTH, experiment
from core.threads import limit_blas_threads


@pytest.fixture(autouse=True, scope="module")
def one_blas_thread():
    """As the app and the CLI train: a second BLAS thread fighting a busy core makes long windows crawl."""
    with limit_blas_threads(1):
        yield


@pytest.fixture(scope="module")
def corpus():
    return corpus_from_text(builtin_text("python-docs")[:200_000], name="python-docs")


def test_vanishing_reach_at_initialisation_is_below_a_thousandth(corpus):
    flow = Trainer.from_corpus(corpus, experiment("vanishing").config).step().grad_flow
    assert flow.iteration == 0 and flow.grad_flow.shape == (SEQ_LENGTH,)
    assert flow.reach_ratio < 1e-3
    assert 0 < flow.grad_flow[24] / flow.grad_flow[0] < 1e-3  # already 24 steps back
    assert flow.whh_sigma_max < 0.3


def test_exploding_reach_grows_backwards_and_the_run_diverges_saying_why(corpus):
    snaps = list(Trainer.from_corpus(corpus, experiment("exploding").config).run(iterations=50))
    first = snaps[0].grad_flow
    assert first.whh_sigma_max == pytest.approx(1.5, rel=1e-4)
    assert first.reach_ratio > 1e3  # the last prediction's gradient is larger 199 steps back than at the end
    assert snaps[-1].diverged and len(snaps) <= 10
    reason = snaps[-1].diverged
    assert "clipping is off" in reason and "exploded" in reason and "set a gradient clip" in reason


def test_clipping_keeps_the_same_start_finite(corpus):
    trainer = Trainer.from_corpus(corpus, experiment("clipping").config)
    snaps = list(trainer.run(iterations=300))
    first = snaps[0].grad_flow
    assert first.reach_ratio > 1e3 and first.clip_fraction > 0  # the same explosion, cut by the clip
    assert len(snaps) == 300 and not any(s.diverged for s in snaps)
    assert all(math.isfinite(s.loss) for s in snaps) and np.isfinite(trainer._flat).all()


def test_the_experiments_differ_from_the_lesson_only_where_the_lecture_says():
    lesson = PRESETS["min-char-rnn"].to_dict()
    changed = {name: {k for k, v in e.config.to_dict().items() if v != lesson[k]} for name, e in EXPERIMENTS.items()}
    assert changed["vanishing"] == {"seq_length", "grad_flow_every"}
    assert changed["clipping"] == changed["exploding"] - {"clip"}
    assert changed["lstm"] == {"seq_length", "grad_flow_every", "cell"}
    assert experiment("exploding").config.replace(clip=5.0) == experiment("clipping").config
    assert all(e.title and e.shows for e in EXPERIMENTS.values())


def test_an_unknown_experiment_is_refused_naming_the_known_ones():
    with pytest.raises(ValueError, match="vanishing, exploding, clipping"):
        experiment("lstm-someday")


def test_the_command_line_runs_an_experiment_and_says_why_it_diverged(tmp_path, capsys):
    from core.cli import main

    text = tmp_path / "docs.txt"
    text.write_text(builtin_text("python-docs")[:50_000])
    metrics = tmp_path / "m.jsonl"
    assert main(["train", str(text), "--experiment", "exploding", "--iterations", "50", "--metrics", str(metrics),
                 "--progress-every", "0"]) == 1
    err = capsys.readouterr().err
    assert int(re.search(r"diverged at iteration (\d+)", err).group(1)) <= 10
    assert "clipping is off" in err and "exploded" in err
    first = json.loads(metrics.read_text().splitlines()[0])
    assert first["iteration"] == 1 and len(first["grad_flow"]) == SEQ_LENGTH
    assert first["grad_flow"][-1] > 1e3 * first["grad_flow"][0] and first["whh_sigma_max"] == pytest.approx(1.5)


def test_an_experiments_run_is_named_after_it(tmp_path, monkeypatch, capsys):
    from core.cli import main

    text = tmp_path / "docs.txt"
    text.write_text(builtin_text("python-docs")[:50_000])
    monkeypatch.chdir(tmp_path)
    assert main(["train", str(text), "--experiment", "clipping", "--iterations", "3", "--print-every", "1",
                 "--progress-every", "0"]) == 0
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1 and runs[0].name.endswith("-clipping")
    out = capsys.readouterr().out  # completed iterations: an experiment is not the lesson's program
    assert "iter 1, loss" in out and "iter 3, loss" in out and "iter 0," not in out


def test_the_module_says_the_iteration_the_exploding_run_diverges_at_on_shakespeare():
    import core.experiments

    claimed = int(re.search(r"diverges at iteration (\d+)", " ".join(core.experiments.__doc__.split())).group(1))
    corpus = corpus_from_text(builtin_text("shakespeare"), name="shakespeare")
    snaps = list(Trainer.from_corpus(corpus, experiment("exploding").config).run(iterations=50))
    assert snaps[-1].diverged and f"diverged at iteration {claimed}:" in snaps[-1].diverged
