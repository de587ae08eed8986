"""How many BLAS threads the engine runs with: the default, the environment variable, the CLI flag."""

import threading

import pytest

from core.threads import ENV_VAR, blas_threads_in_use, blas_threads_setting, limit_blas_threads


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


def threads_now():
    return [lib["threads"] for lib in blas_threads_in_use()]


def test_the_limit_applies_inside_the_block_and_is_restored_after():
    before = threads_now()
    if not before:
        pytest.skip("NumPy here reports no BLAS library to limit")
    with limit_blas_threads(1):
        assert threads_now() == [1] * len(before)
    assert threads_now() == before


def test_a_limit_set_by_one_thread_does_not_lock_out_the_next():
    # threadpoolctl lets one thread at a time control a pthreads OpenBLAS; a limit that is not released
    # properly would leave every later thread's limit silently ignored (the next training run's).
    if not threads_now():
        pytest.skip("NumPy here reports no BLAS library to limit")
    seen = []

    def train_briefly():
        with limit_blas_threads(1):
            seen.append(threads_now())

    for _ in range(2):
        t = threading.Thread(target=train_briefly)
        t.start()
        t.join()
        plain = limit_blas_threads(1)  # the plain-call form, restored later from the same thread
        seen.append(threads_now())
        plain.restore()
    assert all(threads == [1] * len(threads) for threads in seen), seen


def test_zero_threads_is_not_a_limit():
    with pytest.raises(ValueError):
        limit_blas_threads(0)
