"""Fixtures for every test: its own empty working folder (runs/ and other outputs land there), and Ctrl+C as in a
terminal."""

import pytest


@pytest.fixture(autouse=True)
def _own_working_folder(tmp_path, monkeypatch):
    """charrnn-train writes runs/ in the working folder by default: never into the repository."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(autouse=True)
def _own_ngram_cache(tmp_path, monkeypatch):
    """n-gram baselines (core.ngram) are cached in the test's folder, never in the user's cache."""
    monkeypatch.setenv("CHARRNN_NGRAM_CACHE_DIR", str(tmp_path / "ngram-cache"))


@pytest.fixture(autouse=True)
def _interrupts_as_in_a_terminal():
    """Ctrl+C as a terminal delivers it (KeyboardInterrupt), also when the suite runs as a background job, which
    inherits SIGINT ignored: the CLI keeps an ignored signal ignored (nohup's way), so a test that sends SIGINT to
    its own process would otherwise train forever. Put back after each test."""
    import signal

    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)
