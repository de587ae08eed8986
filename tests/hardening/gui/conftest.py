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
def engine_site(tmp_path, monkeypatch):
    """A sitecustomize.py that engine processes started from now on run first (on their PYTHONPATH): tests
    append the code that injects their fault or stand-in there."""
    inject = tmp_path / "engine-site"
    inject.mkdir()
    site = inject / "sitecustomize.py"
    site.write_text('"""Injected into the engine process by the test."""\n', encoding="utf-8")
    path = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", str(inject) + (os.pathsep + path if path else ""))  # the engine inherits it
    return site


SMALL_BUILTIN = """
import core
import core.builtins

core.builtins.load_builtin = lambda name: core.corpus_from_text({text!r} * 30, name=f"small-{{name}}")
"""


@pytest.fixture
def small_builtin(monkeypatch, engine_site):
    """New windows (and their engine processes) start on a small in-memory text instead of the 4.8 M-character
    built-in Shakespeare."""
    import charrnn_gui.corpus_actions as corpus_actions

    monkeypatch.setattr(corpus_actions, "load_builtin",
                        lambda name: core.corpus_from_text(SMALL_TEXT * 30, name=f"small-{name}"))
    with open(engine_site, "a", encoding="utf-8") as f:
        f.write(SMALL_BUILTIN.format(text=SMALL_TEXT))
