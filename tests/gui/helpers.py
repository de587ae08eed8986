"""Helpers shared by the GUI tests."""

from __future__ import annotations

SMALL_TEXT = (
    "The cat sat on the mat. The dog sat on the log.\n"
    "A bird sang in the tree, and the cat looked up.\n"
    "Rain fell on the town; the dog ran home to bed.\n"
)


def use_small_settings(window, **overrides):
    """H=16, T=16, B=1 Adagrad, a sample every 20 iterations: quick to train, quick to draw."""
    import core

    cfg = core.PRESETS["min-char-rnn"].replace(hidden_size=16, seq_length=16, sample_every=20, sample_length=40,
                                               **overrides)
    window.settings_panel.show_config(cfg, "min-char-rnn")


def open_file_via_dialog(window, dialogs, qtbot, path):
    """File → Open through the (patched) standard dialog; waits until loading is done."""
    dialogs.open_paths.append(str(path))
    window.open_corpus_action.trigger()
    qtbot.waitUntil(lambda: not window.session.is_loading, timeout=10_000)


def wait_iterations(window, qtbot, n, timeout=15_000):
    qtbot.waitUntil(lambda: window.session.has_model and window.session.iteration >= n, timeout=timeout)


def shown(qtbot, widget, width: int, height: int):
    """widget, owned by qtbot, resized and shown: the panels' fixtures start from this."""
    qtbot.addWidget(widget)
    widget.resize(width, height)
    widget.show()
    return widget
