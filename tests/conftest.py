"""Fixtures for every test: each runs in its own empty working folder, so runs/ and other outputs land there."""

import pytest


@pytest.fixture(autouse=True)
def _own_working_folder(tmp_path, monkeypatch):
    """charrnn-train writes runs/ in the working folder by default: never into the repository."""
    monkeypatch.chdir(tmp_path)
