"""The Gates tab: the paper's gate saturation scatter (one point per unit per sigmoid gate, per layer), live only while
the tab is shown, a message for the tanh RNN, hover naming a unit."""

from __future__ import annotations

import numpy as np
import pytest

from charrnn_gui.saturation_panel import GATE_ORDER, NO_MODEL, SaturationPanel
from core.model import Arch, init_model_params
from core.saturation import NO_GATES, gate_saturation, held_out_ids

from .helpers import shown, use_small_settings, wait_iterations

H = 16  # use_small_settings' hidden size


@pytest.fixture
def window(small_window):
    w = small_window
    w.saturation_panel.base_interval = 100  # the tests need not wait 2 s for each reading
    w.saturation_panel.timer.setInterval(100)
    return w


def train_and_pause(window, qtbot, n):
    window.start()
    wait_iterations(window, qtbot, n)
    with qtbot.waitSignal(window.session.client.paused, timeout=10_000):
        window.pause()


def points(panel, gate):
    """The (x, y) of the points the gate's scatter draws."""
    x, y = panel.scatters[gate].getData()
    return np.asarray(x), np.asarray(y)


@pytest.mark.parametrize("cell, gates", [("lstm", ("i", "f", "o")), ("gru", ("z", "r"))])
def test_the_scatter_shows_one_point_per_unit_per_gate_of_the_chosen_layer(window, qtbot, cell, gates):
    use_small_settings(window, cell=cell, num_layers=2)
    train_and_pause(window, qtbot, 5)
    panel = window.saturation_panel
    window.tabs.setCurrentWidget(panel)
    qtbot.waitUntil(lambda: panel.iteration == window.session.iteration and not panel.busy, timeout=10_000)
    assert panel.stack.currentWidget() is panel.plot
    assert [panel.layer_combo.itemData(i) for i in range(panel.layer_combo.count())] == [0, 1]
    iteration, params = window.session.weights()  # the engine's copy of the paused weights
    assert iteration == panel.iteration
    expected = gate_saturation(params, held_out_ids(window.session.model))  # what core reads, same weights
    for layer in (0, 1):
        panel.layer_combo.setCurrentIndex(layer)
        for g in GATE_ORDER:
            assert panel.scatters[g].isVisible() == (g in gates)
        for g in gates:
            x, y = points(panel, g)
            assert len(x) == len(y) == H
            np.testing.assert_array_equal(x, expected.left[layer][g])
            np.testing.assert_array_equal(y, expected.right[layer][g])
    legend = [label.text for _, label in panel.legend.items]
    assert [t.split(":")[0] for t in legend] == list(gates)
    assert f"iteration {window.session.iteration:,}" in panel.info.text()


def test_the_tanh_rnn_shows_a_message_instead_of_a_plot(window, qtbot):
    panel = window.saturation_panel
    window.tabs.setCurrentWidget(panel)
    window.start()  # the lesson's model: one tanh layer
    wait_iterations(window, qtbot, 3)
    qtbot.waitUntil(lambda: panel.computations >= 1 and not panel.busy, timeout=10_000)
    assert panel.stack.currentWidget() is panel.message and panel.message.isVisible()
    assert panel.message.text() == NO_GATES and "no gates" in NO_GATES
    assert not panel.layer_combo.isEnabled()
    qtbot.wait(500)  # five timer periods while it trains: no gates to read, so no more readings (nor weight copies)
    assert panel.computations == 1
    with qtbot.waitSignal(window.session.client.paused, timeout=10_000):
        window.pause()


def test_nothing_is_computed_while_the_tab_is_hidden(window, qtbot):
    use_small_settings(window, cell="lstm")
    panel = window.saturation_panel
    assert window.tabs.currentWidget() is not panel
    window.start()
    wait_iterations(window, qtbot, 3)
    qtbot.wait(600)  # six timer periods, had the timer run
    assert panel.computations == 0 and panel.result is None
    window.tabs.setCurrentWidget(panel)  # shown: it reads the weights now and again while they change
    qtbot.waitUntil(lambda: panel.computations >= 2, timeout=10_000)
    window.tabs.setCurrentWidget(window.heatmap)
    qtbot.waitUntil(lambda: not panel.busy, timeout=10_000)
    hidden_at = panel.computations
    qtbot.wait(600)
    assert panel.computations == hidden_at
    with qtbot.waitSignal(window.session.client.paused, timeout=10_000):
        window.pause()


def test_paused_weights_are_read_once(window, qtbot):
    use_small_settings(window, cell="gru")
    train_and_pause(window, qtbot, 3)
    panel = window.saturation_panel
    window.tabs.setCurrentWidget(panel)
    qtbot.waitUntil(lambda: panel.computations == 1 and not panel.busy, timeout=10_000)
    qtbot.wait(500)
    assert panel.computations == 1  # the same weights: nothing new to read


def test_a_new_model_and_no_model_are_followed(window, qtbot):
    panel = window.saturation_panel
    window.tabs.setCurrentWidget(panel)
    qtbot.waitUntil(lambda: panel.message.isVisible())
    assert panel.message.text() == NO_MODEL
    use_small_settings(window, cell="lstm")
    train_and_pause(window, qtbot, 2)
    qtbot.waitUntil(lambda: panel.plot.isVisible() and panel.result is not None, timeout=10_000)
    window.reset_model()  # discards the model: Start makes a new one
    qtbot.waitUntil(lambda: not window.session.has_model, timeout=10_000)
    assert panel.message.isVisible() and panel.message.text() == NO_MODEL and panel.result is None


# --- the panel alone --------------------------------------------------------------------------------


@pytest.fixture
def panel(qtbot):
    p = shown(qtbot, SaturationPanel(), 1000, 500)
    params = init_model_params(Arch("lstm", 1, 6, 9), seed=3, scale=1.5, dtype="float64")
    ids = np.random.RandomState(0).randint(0, 9, 400)
    p.set_source(lambda: (7, {k: v.copy() for k, v in params.items()}))
    p.set_passage(ids)
    assert p.compute_now()
    return p


def test_hovering_a_point_names_its_unit_gate_and_fractions(panel, qtbot):
    x, y = points(panel, "f")
    unit = 4
    vb = panel.plot.getPlotItem().getViewBox()
    from PySide6.QtCore import QPointF

    panel._on_hover(vb.mapViewToScene(QPointF(float(x[unit]), float(y[unit]))))
    text = panel.readout.text()
    hit = panel.point_near(float(x[unit]), float(y[unit]))
    assert hit is not None and f"unit {hit[1]}" in text and f"({hit[0]})" in text
    gate, u = hit
    gx, gy = points(panel, gate)
    assert (gx[u], gy[u]) == (x[unit], y[unit])  # the point under the mouse (another unit may share its place)
    assert f"shut (< 0.1) {100 * x[unit]:.1f}%" in text and f"open (> 0.9) {100 * y[unit]:.1f}%" in text
    panel._on_hover(vb.mapViewToScene(QPointF(0.9, 0.9)))  # above the diagonal: no unit can be there
    assert panel.readout.text().strip() == ""


def test_the_axes_span_zero_to_one_with_the_diagonal(panel):
    (x0, x1), (y0, y1) = panel.plot.getPlotItem().getViewBox().viewRange()
    assert x0 <= 0 and x1 >= 1 and y0 <= 0 and y1 >= 1 and x1 < 1.2 and y1 < 1.2
    dx, dy = panel.diagonal.getData()
    assert list(dx) == [0, 1] and list(dy) == [1, 0]
    assert "left-saturated" in panel.plot.getPlotItem().getAxis("bottom").labelText
    assert "right-saturated" in panel.plot.getPlotItem().getAxis("left").labelText
    assert "remember for long" in panel.explanation.text()


def test_weights_that_cannot_be_read_give_a_message_not_a_traceback(qtbot):
    panel = shown(qtbot, SaturationPanel(), 800, 400)
    panel.set_source(lambda: (1, {"Why": np.zeros((9, 4)), "by": np.zeros(9)}))  # no layer at all
    panel.set_passage(np.arange(9))
    qtbot.waitUntil(lambda: panel.computations >= 1 and not panel.busy, timeout=10_000)
    qtbot.waitUntil(lambda: panel.message.isVisible())
    assert panel.message.text().startswith("Could not compute the gates' statistics")


def test_a_slow_reading_spaces_the_next_ones_out(panel):
    from charrnn_gui.saturation_panel import MAX_DUTY, REFRESH_MS, _Reading

    def reading(iteration, seconds):
        r = _Reading(iteration, None, None, panel._generation)
        r.result, r.seconds = panel.result, seconds
        return r

    panel._show(reading(8, 0.01))
    assert panel.timer.interval() == REFRESH_MS
    panel._show(reading(9, 0.3))
    assert panel.timer.interval() == int(300 / MAX_DUTY) > REFRESH_MS
    panel._show(reading(10, 0.01))
    assert panel.timer.interval() == REFRESH_MS
