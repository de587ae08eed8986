"""The Unrolled tab: the current model over the next training window, step by step, with the numbers core gives."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PySide6.QtCore import QPoint

from core.unroll import peek_window, temperature_probs, unroll

from .helpers import use_small_settings, wait_iterations


@pytest.fixture
def window(small_window):
    w = small_window
    return w


def trained(window, qtbot, n=3, **settings):
    """A model of these settings after n single steps, paused."""
    use_small_settings(window, **settings)
    window.step_once()
    wait_iterations(window, qtbot, 1)
    for _ in range(n - 1):
        it = window.session.iteration
        qtbot.waitUntil(lambda: window.session.state != "running", timeout=10_000)
        window.step_once()
        wait_iterations(window, qtbot, it + 1)
    qtbot.waitUntil(lambda: window.session.state != "running", timeout=10_000)


def core_trainer(window, n):
    """The model's training redone in this process: a core Trainer of the same text and settings after n steps."""
    import core

    trainer = core.Trainer.from_corpus(window.session.corpus, window.session.model.config)
    for _ in range(n):
        trainer.step()
    return trainer


def shown_view(window, qtbot):
    view = window.unrolled
    window.tabs.setCurrentWidget(view)
    qtbot.waitUntil(view.isVisible, timeout=5_000)
    assert view.refresh()
    return view


def numbers(text):
    return re.findall(r"[-+]?\d+\.\d+", text)


def test_unrolled_tab_is_a_panel_named_for_tests(window):
    index = window.tabs.indexOf(window.unrolled)
    assert index >= 0 and window.tabs.tabText(index) == "Unrolled"
    assert window.unrolled.objectName() == "unrolledView"


@pytest.mark.parametrize("cell,layers", [("rnn", 1), ("lstm", 2), ("gru", 1)])
def test_view_shows_the_next_training_window_with_cores_numbers(window, qtbot, cell, layers):
    trained(window, qtbot, cell=cell, num_layers=layers)
    view = shown_view(window, qtbot)
    peeked = window.session.peek()  # the engine's own copy of the weights and its next window
    assert peeked.iteration == view.input.iteration == 3
    t = core_trainer(window, 3)  # the same training in this process: the window is really the next one
    ids, targets, state0 = peek_window(t)
    np.testing.assert_array_equal(peeked.ids, ids)
    np.testing.assert_array_equal(peeked.targets, targets)
    np.testing.assert_array_equal(peeked.state0, state0)
    for name, p in t.params.items():
        np.testing.assert_array_equal(peeked.params[name], p)
    u = unroll(peeked.params, peeked.ids, peeked.targets, peeked.state0)
    c = view.canvas
    assert len(c.columns) == c.window_steps == t.config.seq_length
    assert [col.input for col in c.columns] == list(ids) and [col.target for col in c.columns] == list(targets)
    assert np.allclose([col.loss for col in c.columns], u.losses)
    assert np.allclose(c.dh, u.dh) and c.dh.shape == (layers, t.config.seq_length)
    names = {"rnn": ["h"], "lstm": ["h", "c", "i", "f", "o", "g"], "gru": ["h", "z", "r", "g"]}[cell]
    assert list(c.columns[0].states[0]) == names and len(c.columns[0].states) == layers
    assert (c.forward, c.backward) == (len(c.columns), c.window_steps)  # live: everything revealed
    assert f"{u.loss:.3f}" in view.info.text()


def test_step_reveals_the_forward_pass_then_the_gradient_right_to_left(window, qtbot):
    trained(window, qtbot)
    view = shown_view(window, qtbot)
    T = view.canvas.window_steps
    view.step_button.click()
    assert not view.live_check.isChecked()
    assert (view.canvas.forward, view.canvas.backward) == (1, 0)
    for _ in range(T - 1):
        view.step()
    assert (view.canvas.forward, view.canvas.backward) == (T, 0)
    assert "Step again" in view.info.text()
    view.step()
    assert view.canvas.backward == 1  # the last step's gradient first
    for _ in range(T - 1):
        view.step()
    assert view.canvas.backward == T and "truncation boundary" in view.info.text()


def test_training_one_step_while_stepping_through_shows_the_new_weights_window(window, qtbot):
    trained(window, qtbot)
    view = shown_view(window, qtbot)
    view.step_button.click()  # stepping through the picture: no longer following training
    shown = view.input.iteration
    window.step_once()  # the toolbar's Step trains one iteration
    qtbot.waitUntil(lambda: view.input.iteration == shown + 1, timeout=10_000)
    assert view.live_check.isChecked() and view.canvas.forward == view.canvas.window_steps
    assert window.session.iteration == window.session.peek().iteration == shown + 1


def test_the_truncation_boundary_gives_the_dropped_gradient(window, qtbot):
    trained(window, qtbot, n=2)
    view = shown_view(window, qtbot)
    c = view.canvas
    rows = c.rows()
    text = c.tooltip_at(QPoint(c.column_x(0) - 6, rows["input"]))
    assert "Truncation boundary" in text
    assert f"{c.dstate0_norm:.4g}" in text and c.dstate0_norm > 0


def test_tooltips_carry_the_numbers(window, qtbot):
    trained(window, qtbot)
    view = shown_view(window, qtbot)
    c = view.canvas
    rows = c.rows()
    x = c.column_x(2)
    name, rect = c._strip_rects(x, rows[("state", 0)])[0]
    state_tip = c.tooltip_at(rect.center())
    h = c.columns[2].states[0]["h"]
    assert "h_t, layer 1, t = 2" in state_tip and f"{h[0]:+.3f}" in state_tip
    grad_tip = c.tooltip_at(QPoint(x + 50, rows[("grad", 0)] + 5))
    assert "‖dL/dh_t‖ at t = 2" in grad_tip and f"{c.dh[0, 2]:.4g}" in grad_tip
    probs_tip = c.tooltip_at(QPoint(x + 50, rows["probs"] + 5))
    assert "y_t = softmax(W_hy h_t + b_y)" in probs_tip and "target" in probs_tip and len(numbers(probs_tip)) >= 4
    loss_tip = c.tooltip_at(QPoint(x + 50, rows["loss"] + 5))
    assert f"{c.columns[2].loss:.4f}" in loss_tip
    assert c.tooltip_at(QPoint(c.width() - 2, c.height() - 2)) == ""


def test_sample_step_feeds_the_drawn_character_back_as_the_next_input(window, qtbot):
    trained(window, qtbot)
    view = shown_view(window, qtbot)
    T = view.canvas.window_steps
    view.sample_button.click()
    cols = view.canvas.columns
    assert len(cols) == T + 1 and cols[-1].sampled and not cols[-2].sampled
    assert cols[-1].input == cols[-2].drawn is not None  # drawn from the window's last y_t, read as x_t+1
    assert cols[-1].target is None and cols[-1].loss is None
    view.sample_step()
    cols = view.canvas.columns
    assert len(cols) == T + 2 and cols[-1].input == cols[-2].drawn
    assert view.canvas.forward == T + 2
    assert "2 sampled steps" in view.info.text()


def test_sampled_steps_continue_the_window_at_the_chosen_temperature(window, qtbot):
    trained(window, qtbot)
    view = shown_view(window, qtbot)
    view.temperature.setValue(0.5)
    for _ in range(3):
        view.sample_step()
    cols = view.canvas.columns
    peeked = window.session.peek()  # the engine's weights and window (paused: the ones the view shows)
    assert peeked.iteration == view.input.iteration
    ids, state0 = peeked.ids, peeked.state0
    read = list(ids) + [col.input for col in cols[len(ids):]]  # the window, then the characters fed back
    u = unroll(peeked.params, read, read, state0)  # one pass over all of it, from the same carried state
    for k, col in enumerate(cols[len(ids):], start=len(ids)):
        assert np.allclose(col.probs, temperature_probs(u.scores[k], 0.5))
        assert np.allclose(col.states[0]["h"], u.states[0]["h"][k])


def test_your_own_text_is_unrolled_from_zero_and_unknown_characters_are_explained(window, qtbot):
    trained(window, qtbot, n=1)
    view = shown_view(window, qtbot)
    qtbot.keyClicks(view.text_edit, "The cat")
    view.text_edit.returnPressed.emit()
    c = view.canvas
    assert len(c.columns) == 6 and not c.state0.any()
    assert window.session.model.vocab.decode([col.input for col in c.columns]) == "The ca"
    view.text_edit.setText("Zebra ☃")
    view.text_edit.returnPressed.emit()
    assert "Cannot unroll this text" in view.info.text() and "☃" in view.info.text()
    view.window_button.click()
    assert len(c.columns) == window.session.model.config.seq_length


def test_without_a_model_the_view_says_how_to_get_one(window, qtbot):
    view = window.unrolled
    window.tabs.setCurrentWidget(view)
    qtbot.waitUntil(view.isVisible, timeout=5_000)
    assert not view.refresh()
    assert "Experiments → Hello" in view.info.text()
    view.step()  # nothing to step through: no error
    view.sample_step()


def test_the_hidden_tab_computes_nothing_while_training(window, qtbot):
    use_small_settings(window)
    view = window.unrolled
    view.timer.setInterval(30)
    window.tabs.setCurrentWidget(window.heatmap)
    window.start()
    wait_iterations(window, qtbot, 50)
    qtbot.wait(300)
    assert view.computations == 0 and not view.timer.isActive()
    window.tabs.setCurrentWidget(view)
    qtbot.waitUntil(lambda: view.computations >= 3, timeout=10_000)  # shown and live: it follows training
    window.tabs.setCurrentWidget(window.heatmap)
    done = view.computations
    qtbot.wait(300)
    assert view.computations == done
    window.pause()


def test_hello_experiment_trains_on_its_own_text_and_opens_the_unrolled_tab(window, qtbot):
    action = window.findChild(type(window.start_pause_action), "experiment-hello")
    assert action is not None and action in window.experiments_menu.actions()
    action.trigger()
    assert window.session.corpus.name == "hello" and window.session.corpus_spec == "builtin:hello"
    assert window.corpus_panel.name_label.text() == "hello"
    assert "Back to small.txt" in window.corpus_panel.warnings_label.text()
    assert window.tabs.currentWidget() is window.unrolled
    cfg = window.session.model.config
    assert (cfg.hidden_size, cfg.seq_length) == (3, 4)
    assert window.session.iteration == 0 and window.session.state == "paused"  # waits to be stepped through
    window.step_once()
    qtbot.waitUntil(lambda: window.session.iteration == 1 and window.session.state == "paused", timeout=10_000)
    window.start()
    wait_iterations(window, qtbot, 5)
    window.pause()
    view = window.unrolled
    view.refresh()
    assert len(view.canvas.columns) == 4 and view.canvas.chars == ("e", "h", "l", "o")
    # the user's text and settings stay the ones the app reopens, even once the window has saved its settings
    window.window_settings.save()
    assert window.settings.value("corpus/last") != "builtin:hello"
    assert '"hidden_size": 3' not in str(window.settings.value("training/config", ""))
    assert any(p.endswith("small.txt") for p in window.corpus_actions.recent_files())


def test_large_models_unroll_fewer_steps_and_the_presets_all_of_theirs():
    import core
    from core.model import Arch
    from charrnn_gui.unrolled import MIN_STEPS, steps_affordable

    for name, cfg in core.PRESETS.items():
        arch = Arch(cfg.cell, cfg.num_layers, cfg.hidden_size, 100)
        assert steps_affordable(arch, cfg.seq_length) == cfg.seq_length, name
    big = Arch("lstm", 3, 512, 100)
    assert MIN_STEPS <= steps_affordable(big, 200) < 50


def test_a_capped_window_says_so(window, qtbot, monkeypatch):
    import charrnn_gui.unrolled as unrolled

    trained(window, qtbot, n=1)
    monkeypatch.setattr(unrolled, "steps_affordable", lambda arch, T: 5)
    view = shown_view(window, qtbot)
    assert len(view.canvas.columns) == 5 and "the first 5 of 16 steps" in view.info.text()


def test_sampling_from_weights_that_are_not_finite_says_so(window, qtbot):
    trained(window, qtbot, n=1)
    view = shown_view(window, qtbot)
    view.input.params["Why"][...] = np.nan
    view.unrolled.scores[...] = np.nan
    view.sample_step()
    assert "Cannot sample from this model" in view.info.text()
    assert len(view.canvas.columns) == view.canvas.window_steps
