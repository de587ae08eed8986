"""GUI hardening fixtures: the GUI suite's own (offscreen Qt, isolated settings, recorded dialogs, the
no-threads-left check, the window factory), reused by import so both suites police the same rules."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any QApplication exists

import pytest  # noqa: E402

import core  # noqa: E402
from tests.gui.conftest import (  # noqa: E402,F401 - fixtures are registered by being imported here
    _isolated_environment, dialogs, make_window, no_threads_left_running, small_corpus_file)
from tests.gui.helpers import SMALL_TEXT  # noqa: E402


@pytest.fixture
def small_builtin(monkeypatch):
    """New windows start on a small in-memory text instead of the 4.8 M-character built-in Shakespeare."""
    import charrnn_gui.corpus_actions as corpus_actions

    monkeypatch.setattr(corpus_actions, "load_builtin",
                        lambda name: core.corpus_from_text(SMALL_TEXT * 30, name=f"small-{name}"))
