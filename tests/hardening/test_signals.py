"""Ctrl+C, SIGTERM and SIGHUP stop the CLI between two steps: a signal that arrives in the middle of a step
(weights updated, counters not yet) never reaches the checkpoint, so a resumed run is bit for bit the run
that was never interrupted."""

import os
import random
import signal
import threading
import time

import numpy as np
import pytest

import core.cli as cli
from core import load_checkpoint

from .conftest import TEXT


class RecordingTrainer(cli.Trainer):
    """The CLI's Trainer, remembering the instance so a test can watch its iteration count."""

    made: list = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        RecordingTrainer.made.append(self)


# Tiny model, a sample every iteration (so sampling's random draws are part of what must resume exactly).
MODEL = ("--hidden-size", "8", "--seq-length", "8", "--sample-every", "1", "--sample-length", "3",
         "--progress-every", "0", "--seed", "5")


def send_when_training(signum, after_iteration, jitter, sent):
    """From another thread: wait until the run has done some iterations, wait a random moment, send the signal."""
    deadline = time.perf_counter() + 30
    while not (RecordingTrainer.made and RecordingTrainer.made[-1].iteration >= after_iteration):
        if time.perf_counter() > deadline:
            return  # the run never got going: send nothing (the default action would end the test process)
        time.sleep(0.0005)
    end = time.perf_counter() + jitter
    while time.perf_counter() < end:  # a busy wait: lands anywhere within a step, not on a timer tick
        pass
    sent.append(time.perf_counter())
    os.kill(os.getpid(), signum)


def assert_same_state(path_a, path_b):
    """Two checkpoints hold the same weights, optimizer memory, hidden state, counters and random state."""
    a, b = load_checkpoint(path_a), load_checkpoint(path_b)
    assert sorted(a.arrays) == sorted(b.arrays)
    for k in a.arrays:
        if k != "meta":
            np.testing.assert_array_equal(a.arrays[k], b.arrays[k], err_msg=k)
    for key in ("iteration", "pointer", "chars_seen", "optimizer_t", "smooth_loss", "rng"):
        assert a.meta[key] == b.meta[key], key


@pytest.mark.parametrize("signame, trial", [("SIGINT", 0), ("SIGTERM", 1), ("SIGHUP", 2), ("SIGINT", 3),
                                           ("SIGTERM", 4), ("SIGINT", 5), ("SIGHUP", 6), ("SIGINT", 7)])
def test_a_signal_at_a_random_moment_resumes_bit_exactly(tmp_path, monkeypatch, capsys, signame, trial):
    signum = getattr(signal, signame)
    corpus = tmp_path / "input.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    monkeypatch.setattr(cli, "Trainer", RecordingTrainer)
    RecordingTrainer.made = []
    rng = random.Random(trial)
    sent = []
    sender = threading.Thread(target=send_when_training,
                              args=(signum, rng.randint(20, 60), rng.uniform(0, 0.003), sent))
    interrupted = tmp_path / "interrupted.npz"
    # The CLI leaves an ignored signal ignored (nohup's way); a suite run as a background job inherits SIGINT and
    # SIGHUP ignored, so the signal's usual disposition is set for this run and put back after it.
    usual = signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL
    before = signal.signal(signum, usual)
    sender.start()
    try:
        code = cli.train_main([str(corpus), *MODEL, "--checkpoint", str(interrupted)])
    finally:
        sender.join()
        signal.signal(signum, before)
    assert sent, "the run never started"
    err = capsys.readouterr().err
    assert code == 128 + signum, err
    assert f"checkpoint saved to {interrupted}" in err and "Traceback" not in err
    k = load_checkpoint(interrupted).iteration
    # Resume for 25 more iterations; compare with one run of k + 25 iterations that was never interrupted.
    resumed, straight = tmp_path / "resumed.npz", tmp_path / "straight.npz"
    assert cli.train_main([str(corpus), "--resume", str(interrupted), "--iterations", "25", "--progress-every", "0",
                           "--checkpoint", str(resumed)]) == 0
    assert cli.train_main([str(corpus), *MODEL, "--iterations", str(k + 25), "--checkpoint", str(straight)]) == 0
    assert_same_state(resumed, straight)


def test_a_second_signal_while_finishing_the_step_changes_nothing(tmp_path, monkeypatch, capsys):
    corpus = tmp_path / "input.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    monkeypatch.setattr(cli, "Trainer", RecordingTrainer)
    RecordingTrainer.made = []
    real_step = RecordingTrainer.step
    calls = []

    def step(self):  # the step during which the signals arrive: Ctrl+C, then SIGTERM
        if self.iteration == 40 and not calls:
            calls.append(1)
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGTERM)
        return real_step(self)

    monkeypatch.setattr(RecordingTrainer, "step", step)
    ckpt = tmp_path / "c.npz"
    code = cli.train_main([str(corpus), *MODEL, "--checkpoint", str(ckpt)])
    err = capsys.readouterr().err
    assert code == 130 and "interrupted at iteration 41" in err  # the first signal decides; the step completes
    assert load_checkpoint(ckpt).iteration == 41
