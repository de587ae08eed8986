"""How many BLAS threads the engine runs with: the default, the environment variable, the CLI flag."""

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


def test_the_limit_applies_inside_the_block_and_is_restored_after():
    before = [lib["threads"] for lib in blas_threads_in_use()]
    if not before:
        pytest.skip("NumPy here reports no BLAS library to limit")
    with limit_blas_threads(1):
        assert all(lib["threads"] == 1 for lib in blas_threads_in_use())
    assert [lib["threads"] for lib in blas_threads_in_use()] == before


def test_zero_threads_is_not_a_limit():
    with pytest.raises(ValueError):
        limit_blas_threads(0)
