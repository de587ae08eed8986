"""How many BLAS threads the engine runs with: the default, the environment variable, the CLI flag."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from core.threads import ENV_VAR, blas_threads_setting, limit_blas_threads

ROOT = Path(__file__).resolve().parent.parent


def test_the_default_is_one_thread(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert blas_threads_setting() == 1


@pytest.mark.parametrize("raw, expected", [("2", 2), (" 3 ", 3), ("auto", None), ("0", None), ("None", None)])
def test_the_environment_variable_sets_the_count(monkeypatch, raw, expected):
    monkeypatch.setenv(ENV_VAR, raw)
    assert blas_threads_setting() == expected


@pytest.mark.parametrize("raw", ["-1", "two", "1.5"])
def test_a_bad_setting_is_refused_in_one_line_naming_the_variable(monkeypatch, raw):
    monkeypatch.setenv(ENV_VAR, raw)
    with pytest.raises(ValueError, match=ENV_VAR) as info:
        blas_threads_setting()
    assert "\n" not in str(info.value)


def test_an_explicit_value_wins_over_the_environment(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "4")
    assert blas_threads_setting(2) == 2


def test_the_limit_applies_inside_the_block_and_is_restored_after():
    # In a fresh process: OpenBLAS ignores a later change from another thread once a Qt thread has set
    # its count (seen with 0.3.31), and this process may have run GUI tests already.
    code = textwrap.dedent("""
        import json
        from core.threads import blas_threads_in_use, limit_blas_threads
        before = [lib["threads"] for lib in blas_threads_in_use()]
        with limit_blas_threads(1):
            inside = [lib["threads"] for lib in blas_threads_in_use()]
        after = [lib["threads"] for lib in blas_threads_in_use()]
        print(json.dumps([before, inside, after]))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert out.returncode == 0, out.stderr
    before, inside, after = json.loads(out.stdout)
    if not before:
        pytest.skip("NumPy here reports no BLAS library to limit")
    assert inside == [1] * len(before)
    assert after == before


def test_zero_threads_is_not_a_limit():
    with pytest.raises(ValueError):
        limit_blas_threads(0)
