"""The command line: the lesson's output, metrics, checkpoints, sampling, and one-line errors with exit 2."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.cli import main

ROOT = Path(__file__).resolve().parents[1]
TEXT = "".join(f"To be, or not to be, that is question number {i}.\n" for i in range(120))


@pytest.fixture
def corpus_file(tmp_path):
    path = tmp_path / "input.txt"
    path.write_text(TEXT)
    return path


def run_cli(*args, timeout=60):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "core", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=os.getcwd())


def test_train_prints_the_lessons_sample_blocks_and_loss_lines(corpus_file, capsys):
    assert main(["train", str(corpus_file), "--iterations", "201", "--seed", "3", "--progress-every", "0"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == f"data has {len(TEXT)} characters, {len(set(TEXT))} unique."
    iters = [line for line in lines if line.startswith("iter ")]
    assert [line.split(",")[0] for line in iters] == ["iter 0", "iter 100", "iter 200"]
    assert all(len(line.split("loss: ")[1].split(".")[1]) == 6 for line in iters)  # %f
    assert out.count("----\n ") == 3


def test_metrics_file_has_one_json_object_per_logged_iteration(corpus_file, tmp_path):
    metrics = tmp_path / "m.jsonl"
    assert main(["train", str(corpus_file), "--iterations", "60", "--metrics", str(metrics), "--log-every", "20",
                 "--progress-every", "0"]) == 0
    rows = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert [r["iteration"] for r in rows] == [20, 40, 60]
    assert {"iteration", "loss", "smooth_loss"} <= rows[0].keys()


def test_resume_continues_the_iteration_count(corpus_file, tmp_path, capsys):
    ckpt = tmp_path / "c.npz"
    assert main(["train", str(corpus_file), "--iterations", "150", "--checkpoint", str(ckpt),
                 "--progress-every", "0"]) == 0
    assert main(["train", str(corpus_file), "--iterations", "100", "--resume", str(ckpt),
                 "--progress-every", "0"]) == 0
    out = capsys.readouterr().out
    assert "iter 200, loss:" in out


def test_sample_prints_the_prime_then_generated_text(corpus_file, tmp_path, capsys):
    ckpt = tmp_path / "c.npz"
    main(["train", str(corpus_file), "--iterations", "30", "--checkpoint", str(ckpt), "--progress-every", "0"])
    capsys.readouterr()
    assert main(["sample", str(ckpt), "--prime", "To be", "--length", "40", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("To be") and len(out.rstrip("\n")) >= 45


def write(folder, name, data: bytes):
    (folder / name).write_bytes(data)
    return folder / name


@pytest.mark.parametrize("make, expected", [
    (lambda d: d / "missing.txt", "no such file"),
    (lambda d: d, "is a folder"),
    (lambda d: write(d, "e.txt", b""), "is empty"),
    (lambda d: write(d, "bin.dat", b"\x00\x01\x02" * 100), "binary"),
    (lambda d: write(d, "one.txt", b"zzzz"), "one distinct character"),
    (lambda d: write(d, "short.txt", b"abcdef"), "at most 5 fits"),
], ids=["missing", "folder", "empty", "binary", "one-char", "too-short"])
def test_refused_corpus_exits_2_with_one_line_and_no_traceback(tmp_path, make, expected):
    result = run_cli("train", make(tmp_path), "--iterations", "5")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and expected in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_option_values_exit_2_with_one_line(corpus_file):
    result = run_cli("train", corpus_file, "--lr", "-1")
    assert result.returncode == 2 and result.stderr.strip() == "charrnn-train: error: learning rate must be positive"


def test_sampling_with_unknown_prime_characters_names_them(corpus_file, tmp_path):
    ckpt = tmp_path / "c.npz"
    main(["train", str(corpus_file), "--iterations", "5", "--checkpoint", str(ckpt), "--progress-every", "0"])
    result = run_cli("sample", ckpt, "--prime", "Zebra€")
    assert result.returncode == 2 and "'€'" in result.stderr and "Traceback" not in result.stderr


def test_ctrl_c_saves_a_checkpoint_before_exiting(corpus_file, tmp_path):
    ckpt = tmp_path / "interrupted.npz"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    # SIGINT at its default in the child, as in a terminal (a shell's background job starts with it ignored,
    # and Python then installs no KeyboardInterrupt handler).
    proc = subprocess.Popen([sys.executable, "-m", "core", "train", str(corpus_file), "--checkpoint", str(ckpt),
                             "--progress-every", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=os.getcwd(), preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.time() + 30
        while "iter 100," not in (line := proc.stdout.readline()) and time.time() < deadline:
            pass
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert "checkpoint saved" in err
    from core import load_checkpoint

    assert load_checkpoint(ckpt).iteration > 100


def test_python_m_core_without_a_command_prints_usage_and_exits_2():
    result = run_cli()
    assert result.returncode == 2 and "usage" in result.stderr


def test_a_bad_blas_thread_setting_exits_2_with_one_line(corpus_file):
    env_bad = run_cli_env({"CHARRNN_BLAS_THREADS": "lots"}, "train", corpus_file, "--iterations", "1")
    assert env_bad.returncode == 2
    assert env_bad.stderr.count("\n") == 1 and "CHARRNN_BLAS_THREADS" in env_bad.stderr
    flag_bad = run_cli("train", corpus_file, "--iterations", "1", "--blas-threads", "-2")
    assert flag_bad.returncode == 2 and "Traceback" not in flag_bad.stderr


def test_blas_threads_auto_trains(corpus_file):
    done = run_cli("train", corpus_file, "--iterations", "2", "--blas-threads", "auto", "--progress-every", "0")
    assert done.returncode == 0, done.stderr


def run_cli_env(extra_env, *args, timeout=60):
    env = dict(os.environ, PYTHONPATH=str(ROOT), **extra_env)
    return subprocess.run([sys.executable, "-m", "core", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=os.getcwd())


def test_cell_layers_dropout_and_schedule_reach_the_checkpoint_and_sampling(corpus_file, tmp_path, capsys):
    ckpt = tmp_path / "lstm.npz"
    assert main(["train", str(corpus_file), "--cell", "lstm", "--layers", "2", "--dropout", "0.2", "--hidden-size",
                 "16", "--lr-schedule", "cosine", "--lr-floor", "0.2", "--iterations", "30", "--sample-every", "0",
                 "--state-reset-every", "4", "--progress-every", "0", "--checkpoint", str(ckpt)]) == 0
    from core import load_checkpoint

    cfg = load_checkpoint(ckpt).config
    assert (cfg.cell, cfg.num_layers, cfg.dropout, cfg.lr_schedule, cfg.lr_floor) == ("lstm", 2, 0.2, "cosine", 0.2)
    assert cfg.state_reset_every == 4
    assert cfg.budget_iterations == 30  # the schedule spans the run's budget
    capsys.readouterr()
    assert main(["sample", str(ckpt), "--prime", "To be", "--length", "20", "--seed", "1"]) == 0
    assert capsys.readouterr().out.startswith("To be")


@pytest.mark.parametrize("args,message", [
    (["--cell", "transformer"], "invalid choice"),
    (["--layers", "4"], "layers must be between 1 and 3"),
    (["--dropout", "0.3"], "dropout acts between layers"),
    (["--layers", "2", "--dropout", "1.5"], r"dropout must be in \[0, 1\)"),
    (["--lr-schedule", "linear"], "invalid choice"),
])
def test_bad_cell_options_exit_2_with_one_line(corpus_file, args, message):
    result = run_cli("train", corpus_file, "--iterations", "1", *args)
    assert result.returncode == 2
    err = result.stderr.strip().splitlines()
    assert len(err) == 1 or err[0].startswith("usage:")
    import re

    assert re.search(message, result.stderr)


def test_a_resumed_run_refuses_another_cell(corpus_file, tmp_path):
    ckpt = tmp_path / "gru.npz"
    assert main(["train", str(corpus_file), "--cell", "gru", "--hidden-size", "8", "--iterations", "3",
                 "--progress-every", "0", "--checkpoint", str(ckpt)]) == 0
    result = run_cli("train", corpus_file, "--resume", ckpt, "--cell", "lstm", "--iterations", "1")
    assert result.returncode == 2 and "--cell lstm differs from the checkpoint's gru" in result.stderr
    result = run_cli("train", corpus_file, "--resume", ckpt, "--layers", "2", "--iterations", "1")
    assert result.returncode == 2 and "--layers 2 differs" in result.stderr
