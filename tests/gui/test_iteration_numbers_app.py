"""The app counts iterations as the command line does: iteration N is the model after N completed updates."""

from core.config import PRESETS

from ..test_iteration_numbers import TEXT

# The engine trains in a process of its own: the poison (tests/test_iteration_numbers.poison_after) goes there,
# through a sitecustomize module that the engine's interpreter imports at its start.
POISON = """
import os
if os.environ.get("CHARRNN_TEST_POISON_AFTER"):
    import types
    from tests.test_iteration_numbers import poison_after
    poison_after(types.SimpleNamespace(setattr=setattr), int(os.environ["CHARRNN_TEST_POISON_AFTER"]))
"""


def poison_the_engine_after(monkeypatch, tmp_path, calls: int) -> None:
    """Make the gradient of the engine's update number calls + 1 non-finite (engines started from now on)."""
    import os

    folder = tmp_path / "poison"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(POISON, encoding="utf-8")
    path = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", str(folder) + (os.pathsep + path if path else ""))
    monkeypatch.setenv("CHARRNN_TEST_POISON_AFTER", str(calls))


def test_a_divergence_message_status_bar_curve_and_samples_agree(make_window, qtbot, dialogs, monkeypatch,
                                                                  tmp_path):
    text = tmp_path / "text.txt"  # a file: the engine reads the text the window has
    text.write_text(TEXT, encoding="utf-8")
    poison_the_engine_after(monkeypatch, tmp_path, 30)  # update 31 fails
    w = make_window(small=False, restore_last_corpus=False)
    w.open_corpus_path(str(text))
    qtbot.waitUntil(lambda: not w.session.is_loading and w.session.corpus_spec == str(text), timeout=10_000)
    w.settings_panel.show_config(PRESETS["min-char-rnn"].replace(hidden_size=8, seq_length=8, sample_every=10,
                                                                  sample_length=5), "min-char-rnn")
    w.start()
    qtbot.waitUntil(lambda: bool(dialogs.messages), timeout=20_000)
    w.refresh_now()
    ((kind, title, message),) = dialogs.messages
    assert title == "Training diverged" and "Training diverged at iteration 30:" in message
    assert "the weights of iteration 30 are kept" in message
    status = w.session.client.status().value
    assert status.iteration == 30 and status.diverged and status.state == "idle"  # the engine's own count
    assert w.session.iteration == 30 and w.iteration_label.text() == "Iteration 30"
    assert w.loss_panel.history.iterations.view[-1] == 30
    assert [r.iteration for r in w.samples_panel.records] == [0, 10, 20, 30]
