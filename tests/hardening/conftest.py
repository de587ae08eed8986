"""Shared helpers for the hardening suite: running the CLI in a subprocess, with or without a fault injected."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parents[2]

# Runs the CLI exactly as `python -m core` does, after executing a fault-injection snippet.
_PATCHED_MAIN = """\
import sys
{patch}
from core.cli import main
sys.exit(main(sys.argv[1:]))
"""


def cli_env():
    # One BLAS thread per subprocess: the machine has 2 cores and is shared.
    return dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
                MKL_NUM_THREADS="1")


def cli_command(*args, patch=None):
    """The argv that runs `python -m core ARGS`, with a patch snippet executed first when given."""
    args = [str(a) for a in args]
    if patch:
        return [sys.executable, "-c", _PATCHED_MAIN.format(patch=patch), *args]
    return [sys.executable, "-m", "core", *args]


def run_cli(*args, patch=None, timeout=120):
    """Run the CLI to completion; a CompletedProcess with text stdout/stderr."""
    return subprocess.run(cli_command(*args, patch=patch), capture_output=True, text=True, timeout=timeout,
                          env=cli_env(), cwd=os.getcwd())


def popen_cli(*args, patch=None):
    return subprocess.Popen(cli_command(*args, patch=patch), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=cli_env(), cwd=os.getcwd())


def assert_one_line_error(result, code, *fragments):
    """The CLI failed with `code`, exactly one line on stderr holding every fragment, and no traceback."""
    assert result.returncode == code, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.endswith("\n"), result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)


TEXT = "".join(f"Line {i}: the quick brown fox jumps over the lazy dog, {i * 7 % 13} times.\n" for i in range(200))


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "input.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


# Small, quick models for the CLI: tiny hidden layer, no samples, no progress lines on stderr.
TINY = ("--hidden-size", "8", "--seq-length", "8", "--sample-every", "0", "--progress-every", "0")
