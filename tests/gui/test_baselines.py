"""n-gram baselines in the app: labelled lines on the loss plot, the status bar's "beats the 3-gram", run.json."""

from __future__ import annotations

import json
import math
import os

import pytest

from charrnn_gui.baselines import status_text
from core import ngram
from core.corpus import train_length

from .helpers import use_small_settings

HELD_OUT = dict(val_fraction=0.1, eval_every=10, eval_chars=2000)


def made_model(window, qtbot, corpus_file, **overrides):
    """The window with corpus_file open and a model of the small settings (plus a held-out part) made by one step;
    returns once its baselines are counted."""
    window.open_corpus_path(str(corpus_file))
    qtbot.waitUntil(lambda: not window.session.is_loading, timeout=10_000)
    use_small_settings(window, **{**HELD_OUT, **overrides})
    window.step_once()
    qtbot.waitUntil(lambda: window.session.has_model and bool(window.baselines.bits), timeout=15_000)
    return window


def expected_bits(window) -> dict[int, float]:
    corpus, cfg = window.session.corpus, window.session.model.config
    n_train = train_length(len(corpus), cfg.val_fraction)
    return ngram.held_out_bits(corpus.data, len(corpus.vocab), n_train, n_train + cfg.eval_chars, ngram.DEFAULT_ORDERS)


def test_the_baselines_are_labelled_lines_on_the_loss_plot_in_its_units(make_window, qtbot, small_corpus_file):
    window = made_model(make_window(), qtbot, small_corpus_file)
    panel = window.loss_panel
    bits = expected_bits(window)
    assert window.baselines.bits == pytest.approx(bits)
    assert sorted(panel.baseline_lines) == list(ngram.DEFAULT_ORDERS)
    for order, line in panel.baseline_lines.items():
        assert line.label.toPlainText() == f"{order}-gram {bits[order]:.2f}"
        assert line.isVisible() and line.angle == 0

    panel.set_units("bits")
    assert panel.baseline_lines[3].value() == pytest.approx(bits[3])
    panel.set_units("nats")
    assert panel.baseline_lines[3].value() == pytest.approx(bits[3] * math.log(2))
    panel.set_units("lesson")  # the lesson's loss sums T = 16 characters' nats
    assert panel.baseline_lines[3].value() == pytest.approx(bits[3] * math.log(2) * 16)
    panel.set_log_y(True)
    assert panel.baseline_lines[3].value() == pytest.approx(math.log10(bits[3] * math.log(2) * 16))
    lines = dict(panel.baseline_lines)
    window.step_once()  # the same text and split: the same lines, not made again
    qtbot.wait(50)
    assert panel.baseline_lines == lines


def test_the_status_bar_says_which_baseline_the_held_out_score_beats(make_window, qtbot, small_corpus_file):
    window = made_model(make_window(), qtbot, small_corpus_file)
    bits = window.baselines.bits
    label = window.baselines.label
    between = (bits[2] + bits[3]) / 2  # below the 2-gram, above the 3-gram
    window.baselines.update_status(between)
    assert label.text() == f"beats the 2-gram ({bits[2]:.2f} bits/char)" and label.isVisible()
    window.baselines.update_status(min(bits.values()) - 0.1)
    best = min(bits, key=bits.get)
    assert label.text() == f"beats the {best}-gram ({bits[best]:.2f} bits/char), the best baseline"
    window.baselines.update_status(max(bits.values()) + 1)
    assert label.text().startswith("not yet below the 1-gram")
    assert "3-gram" in label.toolTip()


def test_status_text_names_the_best_baseline_below_the_score():
    bits = {1: 4.8, 2: 3.6, 3: 2.98, 4: 2.53, 5: 2.29}
    assert status_text(2.41, bits) == "beats the 4-gram (2.53 bits/char)"
    assert status_text(2.2, bits) == "beats the 5-gram (2.29 bits/char), the best baseline"
    assert status_text(None, bits).startswith("Baselines: 1-gram 4.80")
    assert status_text(2.0, {}) == ""


def test_a_run_written_by_the_app_records_the_baselines_in_run_json(make_window, qtbot, dialogs, small_corpus_file):
    window = made_model(make_window(), qtbot, small_corpus_file)
    bits = window.baselines.bits
    window.start()
    qtbot.waitUntil(lambda: window.session.run_path is not None and window.session.iteration >= 20, timeout=15_000)
    path = os.path.join(window.session.run_path, "run.json")
    qtbot.waitUntil(lambda: "baselines" in json.loads(open(path).read()), timeout=10_000)
    window.pause()
    assert json.loads(open(path).read())["baselines"] == pytest.approx(
        {f"{k}-gram": v for k, v in sorted(bits.items())})


def test_a_model_without_held_out_part_draws_no_baselines(make_window, qtbot, small_corpus_file):
    window = make_window()
    made_model(window, qtbot, small_corpus_file)
    window.reset_model()
    use_small_settings(window, val_fraction=0.0)  # the lesson's min-char-rnn: nothing held out
    window.step_once()
    qtbot.waitUntil(lambda: window.session.has_model and window.session.iteration >= 1, timeout=10_000)
    assert not window.loss_panel.baseline_lines and not window.baselines.bits
    assert window.session.baselines is None
    label = window.baselines.label  # says why there are none instead of staying silent
    assert label.text() == "No n-gram baselines" and "holds no text out" in label.toolTip()


def test_another_text_takes_the_lines_away_until_its_own_are_counted(make_window, qtbot, dialogs, small_corpus_file,
                                                                     tmp_path):
    window = made_model(make_window(), qtbot, small_corpus_file)
    first = dict(window.baselines.bits)
    other = tmp_path / "other.txt"
    other.write_text("".join(f"{i * 7919 % 1000:03d} zebra quokka\n" for i in range(400)), encoding="utf-8")
    dialogs.answer = None  # discard the model without saving
    window.open_corpus_path(str(other))
    qtbot.waitUntil(lambda: not window.session.is_loading and window.session.corpus.name == "other.txt", timeout=10_000)
    assert not window.loss_panel.baseline_lines and not window.baselines.bits and window.session.baselines is None
    made_model(window, qtbot, other)
    assert window.baselines.bits == pytest.approx(expected_bits(window)) and window.baselines.bits != first


def test_the_lines_hide_while_runs_are_compared(qtbot):
    from PySide6.QtGui import QColor

    from charrnn_gui.history import LossHistory
    from charrnn_gui.lossplot import LossPlotPanel

    from .helpers import shown

    panel = shown(qtbot, LossPlotPanel(), 600, 400)
    panel.set_baselines({1: 4.8, 2: 3.6})
    assert all(line.isVisible() for line in panel.baseline_lines.values())
    panel.set_overlays([("run-a", LossHistory(25), QColor("red"), "run a")])
    assert not any(line.isVisible() for line in panel.baseline_lines.values())
    panel.set_overlays([])
    assert all(line.isVisible() for line in panel.baseline_lines.values())
    panel.set_baselines(None)
    assert not panel.baseline_lines and "baselines" not in panel.legend.text()


def test_closing_the_window_does_not_wait_for_a_count_under_way(make_window, qtbot, small_corpus_file, monkeypatch):
    import threading

    from charrnn_gui.threads import running_threads

    entered, release = threading.Event(), threading.Event()

    def slow_count(*args, **kwargs):  # a count of seconds on a big text, held until the test lets it go
        entered.set()
        release.wait(30)
        return {1: 4.0, 2: 3.0}

    monkeypatch.setattr(ngram, "baselines", slow_count)
    window = make_window()
    window.open_corpus_path(str(small_corpus_file))
    qtbot.waitUntil(lambda: not window.session.is_loading, timeout=10_000)
    use_small_settings(window, **HELD_OUT)
    window.step_once()
    qtbot.waitUntil(entered.is_set, timeout=10_000)
    try:
        window.shutdown()  # returns while the count is still held
        assert not release.is_set()
        assert any(t.objectName() == "charrnn-ngram-baselines" for t in running_threads())  # kept by the registry
    finally:
        release.set()
    qtbot.waitUntil(lambda: not any(t.objectName() == "charrnn-ngram-baselines" for t in running_threads()),
                    timeout=10_000)
