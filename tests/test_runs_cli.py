"""charrnn-train writes a run: where it goes, resuming into it, --no-run, --metrics alongside, one writer."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from core import load_checkpoint
from core.cli import main
from core.runs import read_run

from .runs_helpers import ROOT, TEXT

TINY = ["--hidden-size", "8", "--seq-length", "8", "--progress-every", "0", "--sample-every", "20",
        "--sample-length", "10", "--val-fraction", "0.1", "--eval-every", "20"]


@pytest.fixture
def corpus_file(tmp_path):
    path = tmp_path / "fox.txt"
    path.write_text(TEXT)
    return path


def test_without_options_a_run_goes_to_runs_date_corpus_preset_in_the_working_folder(corpus_file, tmp_path,
                                                                                    capsys):
    assert main(["train", str(corpus_file), "--iterations", "50", "--log-every", "10", *TINY]) == 0
    (folder,) = (tmp_path / "runs").iterdir()
    assert re.fullmatch(r"\d{8}-\d{6}-fox-min-char-rnn", folder.name)
    assert f"run: {folder}" in capsys.readouterr().out.splitlines()[1]
    run = read_run(folder)
    assert run.status == "finished" and run.info["command"][:2] == ["charrnn-train", str(corpus_file)]
    assert run.info["corpus"]["path"] == str(corpus_file) and run.info["corpus"]["characters"] == len(TEXT)
    assert run.curves.iteration.tolist() == [10, 20, 30, 40, 50]
    assert run.curves.val["iteration"].tolist() == [20, 40] and [s.iteration for s in run.samples.samples] == [0, 20, 40]
    assert load_checkpoint(run.checkpoint()).iteration == 50
    assert load_checkpoint(run.best_checkpoint).iteration in (20, 40)


def test_run_dir_writes_exactly_there_and_a_resume_appends_with_the_event(corpus_file, tmp_path):
    run_dir = tmp_path / "my" / "run"
    assert main(["train", str(corpus_file), "--iterations", "40", "--run-dir", str(run_dir), "--log-every", "10",
                 "--checkpoint-every", "20", *TINY]) == 0
    assert not (tmp_path / "runs").exists()
    # The same training stopped at 20 (same seed, same state), resumed into the run: 30 and 40 become orphans.
    ckpt = tmp_path / "at20.npz"
    assert main(["train", str(corpus_file), "--iterations", "20", "--checkpoint", str(ckpt), "--no-run", *TINY]) == 0
    assert main(["train", str(corpus_file), "--iterations", "15", "--resume", str(ckpt), "--run-dir", str(run_dir),
                 "--log-every", "5", *TINY]) == 0
    run = read_run(run_dir)
    assert run.curves.iteration.tolist() == [10, 20, 25, 30, 35]
    assert run.curves.resumes == [20] and run.info["status"] == "finished" and len(run.info["resumes"]) == 1
    assert run.curves.elapsed[2] > run.curves.elapsed[1]  # training time goes on from the kept points
    assert load_checkpoint(run.checkpoint()).iteration == 35


def test_resuming_a_runs_checkpoint_continues_that_run(corpus_file, tmp_path):
    run_dir = tmp_path / "r"
    assert main(["train", str(corpus_file), "--iterations", "30", "--run-dir", str(run_dir), *TINY]) == 0
    latest = run_dir / "checkpoints" / "latest.npz"
    assert main(["train", str(corpus_file), "--iterations", "10", "--resume", str(latest), "--log-every", "5",
                 *TINY]) == 0
    assert not (tmp_path / "runs").exists()
    assert read_run(run_dir).curves.iteration.tolist()[-2:] == [35, 40]


def test_no_run_writes_none_and_metrics_keeps_working(corpus_file, tmp_path):
    metrics = tmp_path / "m.jsonl"
    assert main(["train", str(corpus_file), "--iterations", "20", "--no-run", "--metrics", str(metrics),
                 "--log-every", "10", *TINY]) == 0
    assert not (tmp_path / "runs").exists()
    assert [json.loads(x)["iteration"] for x in metrics.read_text().splitlines()] == [10, 20]
    assert main(["train", str(corpus_file), "--iterations", "20", "--metrics", str(metrics), "--log-every", "10",
                 *TINY]) == 0
    assert len(metrics.read_text().splitlines()) == 4 and len(list((tmp_path / "runs").iterdir())) == 1


FLOW_FIELDS = ("grad_flow", "bptt_carry", "whh_sigma_max", "tanh_derivative_mean", "saturated_fraction",
               "clip_fraction", "grad_param_ratio")


def test_grad_flow_every_writes_the_measurements_into_the_runs_metrics_as_into_metrics(corpus_file, tmp_path):
    metrics, run_dir = tmp_path / "m.jsonl", tmp_path / "run"
    assert main(["train", str(corpus_file), "--iterations", "40", "--run-dir", str(run_dir), "--metrics", str(metrics),
                 "--log-every", "20", "--grad-flow-every", "15", *TINY]) == 0
    side = [json.loads(x) for x in metrics.read_text().splitlines()]
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    measured = [r["iteration"] for r in side if "grad_flow" in r]
    assert measured == [1, 16, 31]  # the windows of iterations 0, 15, 30, each on the line of its update
    assert [r["iteration"] for r in lines if "grad_flow" in r] == measured
    by_iteration = {r["iteration"]: r for r in side}
    for line in lines:
        if "grad_flow" in line:
            assert {f: line[f] for f in FLOW_FIELDS} == {f: by_iteration[line["iteration"]][f] for f in FLOW_FIELDS}
            assert len(line["grad_flow"]) == 8 and line["loss"] > 0  # T = 8 steps back, on a full line
    # Readers take the extra fields: numbers become columns, the lists are left alone.
    run = read_run(run_dir)
    assert run.curves.iteration.tolist() == [1, 16, 20, 31, 40]
    extra = set(run.curves.extra_names)
    assert {"whh_sigma_max", "grad_param_ratio"} <= extra and "grad_flow" not in extra
    assert np.isfinite(run.curves.whh_sigma_max[[0, 1, 3]]).all() and np.isnan(run.curves.whh_sigma_max[[2, 4]]).all()


def run_cli(*args, timeout=120):
    env = dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "core", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.mark.parametrize("args, fragment", [
    (["--run-dir", "x", "--no-run"], "--run-dir and --no-run contradict"),
    (["--run-dir", "{done}"], "already holds a run; continue it with --resume"),
])
def test_contradictions_exit_2_with_one_line(corpus_file, tmp_path, args, fragment):
    assert main(["train", str(corpus_file), "--iterations", "5", "--run-dir", str(tmp_path / "done"), *TINY]) == 0
    result = run_cli("train", corpus_file, "--iterations", "5",
                     *[a.format(done=tmp_path / "done") for a in args], *TINY)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and fragment in result.stderr, result.stderr


@pytest.mark.slow
def test_a_second_writer_exits_2_and_sigterm_marks_the_run_interrupted(corpus_file, tmp_path):
    run_dir = tmp_path / "live"
    env = dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1")
    first = subprocess.Popen([sys.executable, "-m", "core", "train", str(corpus_file), "--run-dir", str(run_dir),
                              "--checkpoint-every", "10", *TINY], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=env)
    try:
        latest = run_dir / "checkpoints" / "latest.npz"
        deadline = time.monotonic() + 60
        while not latest.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        second = run_cli("train", corpus_file, "--resume", latest, "--run-dir", run_dir, "--iterations", "5", *TINY)
        assert second.returncode == 2, second.stderr
        assert second.stderr.count("\n") == 1 and "Traceback" not in second.stderr
        assert f"is being written by process {first.pid} on" in second.stderr
        assert read_run(run_dir).status == "live"
        first.send_signal(signal.SIGTERM)
        assert first.wait(60) == 128 + signal.SIGTERM
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
        first.stdout.close()
        first.stderr.close()
    run = read_run(run_dir)
    assert run.info["status"] == "interrupted" and run.status == "interrupted"
    assert load_checkpoint(run.checkpoint()).iteration >= run.latest_iteration
    assert not (run_dir / "writer.lock").exists()


def interrupt_at(monkeypatch, iteration: int) -> None:
    """Ctrl+C arrives during the step that completes `iteration` (the loop stops after it)."""
    from core.trainer import Trainer

    real_step = Trainer.step

    def step(self):
        if self.iteration == iteration - 1:
            os.kill(os.getpid(), signal.SIGINT)
        return real_step(self)

    monkeypatch.setattr(Trainer, "step", step)


def test_ctrl_c_with_a_run_saves_only_its_latest_checkpoint_and_says_how_to_continue(corpus_file, tmp_path,
                                                                                    monkeypatch, capsys):
    run_dir = tmp_path / "run"
    interrupt_at(monkeypatch, 30)
    assert main(["train", str(corpus_file), "--run-dir", str(run_dir), *TINY]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    latest = run_dir / "checkpoints" / "latest.npz"
    assert not (tmp_path / "charrnn-interrupted.npz").exists()
    assert err[-1] == (f"interrupted at iteration 30; checkpoint saved to {latest}; continue with: "
                       f"charrnn-train {corpus_file} --resume {latest}")
    assert load_checkpoint(latest).iteration == 30 and read_run(run_dir).status == "interrupted"
    # The line's command continues the same run.
    monkeypatch.undo()
    assert main(["train", str(corpus_file), "--resume", str(latest), "--iterations", "10", *TINY]) == 0
    run = read_run(run_dir)
    assert run.curves.resumes == [30] and run.status == "finished" and load_checkpoint(latest).iteration == 40


def test_ctrl_c_without_a_run_saves_charrnn_interrupted_in_the_working_folder(corpus_file, tmp_path, monkeypatch,
                                                                             capsys):
    interrupt_at(monkeypatch, 30)
    assert main(["train", str(corpus_file), "--no-run", *TINY]) == 130
    assert capsys.readouterr().err.strip().splitlines()[-1] == ("interrupted at iteration 30; checkpoint saved to "
                                                                "charrnn-interrupted.npz")
    assert load_checkpoint(tmp_path / "charrnn-interrupted.npz").iteration == 30 and not (tmp_path / "runs").exists()
