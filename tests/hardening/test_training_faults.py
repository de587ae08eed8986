"""Training faults through the CLI: divergence, a NaN gradient, an exception inside the engine, a full disk,
an unwritable checkpoint destination, and termination by a signal. Each ends with one line on stderr, no
traceback, and the newest good state on disk whenever --checkpoint was given.

The engine-level behaviour (divergence stops the generator with the last finite weights kept; a NaN
gradient is caught before the update) is covered by tests/test_trainer.py.
"""

import json
import signal

import numpy as np
import pytest

from core import load_checkpoint

from .conftest import TINY, assert_one_line_error, popen_cli, run_cli

def step_raises_after(n, exc="RuntimeError('injected fault')"):
    return f"""\
import core.trainer
_real_step = core.trainer.Trainer.step
_calls = [0]
def _step(self):
    _calls[0] += 1
    if _calls[0] > {n}:
        raise {exc}
    return _real_step(self)
core.trainer.Trainer.step = _step
"""


def assert_finite_checkpoint(path, iteration):
    ckpt = load_checkpoint(path)
    assert ckpt.iteration == iteration
    assert all(np.isfinite(v).all() for v in ckpt.params.values())
    return ckpt


# --- divergence ------------------------------------------------------------------------------


def test_huge_learning_rate_stops_with_exit_1_and_one_line(text_file):
    result = run_cli("train", text_file, "--lr", "1e3", "--iterations", "500", "--no-run", *TINY)
    assert_one_line_error(result, 1, "training diverged at iteration", "learning rate 1000",
                          "no checkpoint was saved")


def test_a_diverged_run_names_its_latest_checkpoint_and_is_marked_diverged(text_file, tmp_path):
    run = tmp_path / "run"
    result = run_cli("train", text_file, "--lr", "1e3", "--iterations", "500", "--run-dir", run, *TINY)
    latest = run / "checkpoints" / "latest.npz"
    assert_one_line_error(result, 1, "training diverged at iteration", f"last checkpoint: {latest} (iteration ")
    saved = int(result.stderr.rsplit("(iteration ", 1)[1].split(")")[0])
    assert_finite_checkpoint(latest, saved)
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "diverged" and "learning rate 1000" in info["diverged"]


def test_after_divergence_the_last_checkpoint_is_named_and_loads(text_file, tmp_path):
    ckpt = tmp_path / "c.npz"
    result = run_cli("train", text_file, "--lr", "1e3", "--iterations", "500", "--checkpoint", ckpt,
                     "--checkpoint-every", "1", *TINY)
    assert_one_line_error(result, 1, "training diverged at iteration", f"last checkpoint: {ckpt} (iteration ")
    saved = int(result.stderr.rsplit("(iteration ", 1)[1].split(")")[0])
    assert_finite_checkpoint(ckpt, saved)


def test_a_diverged_run_resumes_with_a_lower_learning_rate(text_file, tmp_path):
    ckpt = tmp_path / "c.npz"
    assert run_cli("train", text_file, "--iterations", "20", "--checkpoint", ckpt, *TINY).returncode == 0
    result = run_cli("train", text_file, "--resume", ckpt, "--lr", "1e3", "--iterations", "500",
                     "--checkpoint", ckpt, *TINY)
    assert_one_line_error(result, 1, "diverged", f"{ckpt} still holds iteration 20")
    # The divergence message says "lower the learning rate": --lr on --resume must take effect.
    result = run_cli("train", text_file, "--resume", ckpt, "--lr", "0.05", "--iterations", "30",
                     "--checkpoint", ckpt, *TINY)
    assert result.returncode == 0, result.stderr
    ckpt_data = assert_finite_checkpoint(ckpt, 50)
    assert ckpt_data.meta["live"]["learning_rate"] == 0.05


def test_resume_refuses_options_that_would_need_new_weights(text_file, tmp_path):
    ckpt = tmp_path / "c.npz"
    assert run_cli("train", text_file, "--iterations", "5", "--checkpoint", ckpt, *TINY).returncode == 0
    result = run_cli("train", text_file, "--resume", ckpt, "--hidden-size", "32", "--iterations", "5")
    assert_one_line_error(result, 2, "--hidden-size 32", "the checkpoint's 8")
    # Repeating the checkpoint's own value is harmless.
    assert run_cli("train", text_file, "--resume", ckpt, *TINY, "--iterations", "5").returncode == 0


def test_nan_gradient_mid_run_stops_with_the_last_good_checkpoint(text_file, tmp_path):
    ckpt = tmp_path / "c.npz"
    patch = """\
import numpy as np
import core.trainer
_real = core.trainer.loss_and_grads
_calls = [0]
def _poisoned(*args):
    loss, grads, h = _real(*args)
    _calls[0] += 1
    if _calls[0] > 25:
        grads["Whh"][0, 0] = np.nan
    return loss, grads, h
core.trainer.loss_and_grads = _poisoned
"""
    result = run_cli("train", text_file, "--iterations", "100", "--checkpoint", ckpt, "--checkpoint-every", "10",
                     *TINY, patch=patch)
    assert_one_line_error(result, 1, "training diverged at iteration 25: the next update's gradient is not finite",
                          f"last checkpoint: {ckpt} (iteration 20)")
    assert_finite_checkpoint(ckpt, 20)


# --- an exception inside the engine ------------------------------------------------------------


def test_engine_exception_mid_run_saves_the_last_good_state_and_exits_1(text_file, tmp_path):
    ckpt = tmp_path / "c.npz"
    result = run_cli("train", text_file, "--iterations", "100", "--checkpoint", ckpt, *TINY,
                     patch=step_raises_after(30))
    assert_one_line_error(result, 1, "training stopped at iteration 30", "RuntimeError: injected fault",
                          f"checkpoint of the last good state saved to {ckpt}")
    assert_finite_checkpoint(ckpt, 30)
    # ...and the run carries on from it.
    result = run_cli("train", text_file, "--resume", ckpt, "--iterations", "10", "--checkpoint", ckpt, *TINY)
    assert result.returncode == 0, result.stderr
    assert_finite_checkpoint(ckpt, 40)


def test_engine_exception_without_a_checkpoint_path_is_one_line_and_saves_nothing(text_file, tmp_path):
    result = run_cli("train", text_file, "--iterations", "100", *TINY,
                     patch=step_raises_after(5, "ValueError('a bug, not a usage error')"))
    assert_one_line_error(result, 1, "training stopped at iteration 5", "ValueError: a bug, not a usage error",
                          "no checkpoint was saved")


def test_engine_exception_with_a_multiline_message_still_prints_one_line(text_file):
    result = run_cli("train", text_file, "--iterations", "100", *TINY,
                     patch=step_raises_after(2, "FloatingPointError('first\\nsecond')"))
    assert_one_line_error(result, 1, "FloatingPointError: first second")


def test_out_of_memory_while_building_the_model_is_one_line(text_file):
    # So big that the very first weight matrix cannot be allocated (no gigabytes get touched on the way);
    # the address-space cap keeps a regression from squeezing the shared machine.
    cap = "import resource; resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))"
    result = run_cli("train", text_file, "--hidden-size", str(10**12), "--iterations", "1", patch=cap)
    assert_one_line_error(result, 2, "not enough memory")


# --- saving problems --------------------------------------------------------------------------

FAIL_SAVES = """\
import core.cli
_real_save = core.cli.save_checkpoint
_calls = [0]
def _save(trainer, path, *args, **kwargs):
    _calls[0] += 1
    if {condition}:
        raise OSError(28, "No space left on device")
    return _real_save(trainer, path, *args, **kwargs)
core.cli.save_checkpoint = _save
"""


def test_a_full_disk_during_periodic_saves_warns_and_training_goes_on(text_file, tmp_path):
    ckpt = tmp_path / "c.npz"
    result = run_cli("train", text_file, "--iterations", "100", "--checkpoint", ckpt, "--checkpoint-every", "10",
                     *TINY, patch=FAIL_SAVES.format(condition="2 <= _calls[0] <= 4"))
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert [line.split(" at iteration ")[1].split(":")[0] for line in lines[:3]] == ["20", "30", "40"]
    assert all(line.startswith(f"warning: cannot save checkpoint to {ckpt} at iteration ") and
               "No space left on device" in line for line in lines[:3])
    assert lines[3:] == [f"checkpoint saved to {ckpt}"]
    assert_finite_checkpoint(ckpt, 100)


def test_a_full_disk_at_the_final_save_is_exit_1_and_one_line(text_file, tmp_path):
    ckpt = tmp_path / "c.npz"
    result = run_cli("train", text_file, "--iterations", "30", "--checkpoint", ckpt, *TINY,
                     patch=FAIL_SAVES.format(condition="True"))
    assert_one_line_error(result, 1, f"cannot save checkpoint to {ckpt}", "No space left on device")


@pytest.mark.parametrize("where, expected", [
    (lambda d: d / "no" / "such" / "folder" / "c.npz", "does not exist"),
    (lambda d: d, "is a folder"),
], ids=["missing-folder", "a-folder"])
def test_an_unusable_checkpoint_destination_is_refused_before_training(text_file, tmp_path, where, expected):
    result = run_cli("train", text_file, "--iterations", "100000", "--checkpoint", where(tmp_path), *TINY)
    assert_one_line_error(result, 2, expected)
    assert result.stdout == ""  # refused before any training: an overnight run would otherwise be lost


# --- termination ------------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_termination_signal_saves_a_checkpoint_like_ctrl_c(text_file, tmp_path, signum):
    ckpt = tmp_path / "c.npz"
    # The signal's default disposition, whatever this test run inherited (under nohup SIGHUP is ignored,
    # and an ignored SIGHUP must stay ignored: see the next test).
    proc = popen_cli("train", text_file, "--checkpoint", ckpt, "--print-every", "50", *TINY,
                     patch=f"import signal; signal.signal({int(signum)}, signal.SIG_DFL)")
    try:
        while "iter 100," not in proc.stdout.readline():
            assert proc.poll() is None
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signum, err
    assert f"checkpoint saved to {ckpt}" in err and "Traceback" not in err
    assert load_checkpoint(ckpt).iteration > 100


def test_under_nohup_a_hangup_is_still_ignored(text_file, tmp_path):
    # nohup sets SIGHUP to "ignore"; the run must keep going when the terminal closes.
    ckpt = tmp_path / "c.npz"
    proc = popen_cli("train", text_file, "--iterations", "400", "--checkpoint", ckpt, "--print-every", "50", *TINY,
                     patch="import signal; signal.signal(signal.SIGHUP, signal.SIG_IGN)")
    try:
        while "iter 100," not in proc.stdout.readline():
            assert proc.poll() is None
        proc.send_signal(signal.SIGHUP)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert load_checkpoint(ckpt).iteration == 400
