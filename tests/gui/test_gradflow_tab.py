"""The Gradient flow tab: the lecture's experiments in one click, the reach on screen equal to core's, exports."""

from __future__ import annotations

import csv
import re

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QPointF
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QLabel, QMessageBox, QWidget

import core
from charrnn_gui.gradflow_panel import MAX_ROWS
from core.experiments import experiment

from .helpers import use_small_settings


@pytest.fixture
def window(small_window):
    w = small_window
    return w


def run_experiment(window, name):
    """Experiments → name, through the menu's own action."""
    action = window.findChild(type(window.start_pause_action), f"experiment-{name}")
    assert action is not None and action in window.experiments_menu.actions()
    action.trigger()


def wait_for_flows(window, qtbot, n=1, timeout=20_000):
    qtbot.waitUntil(lambda: len(window.session.flows) >= n, timeout=timeout)


def pause_and_settle(window, qtbot):
    """Pause a running training and take in everything the engine sent before it paused."""
    with qtbot.waitSignal(window.session.client.paused, timeout=10_000):  # sent after its last measurements
        window.pause()


def plain(label: QLabel) -> str:
    return re.sub(r"<[^>]+>", "", label.text())


def core_flow(window, name, iteration):
    """The measurement core makes at `iteration` for the experiment on the same text, without the app."""
    trainer = core.Trainer.from_corpus(window.session.corpus, experiment(name).config)
    flow = None
    while trainer.iteration <= iteration:
        flow = trainer.step().grad_flow or flow
    assert flow is not None and flow.iteration == iteration
    return flow


def latest_curve(window, plot: pg.PlotWidget, state: str):
    """The bold curve of a path's plot: (steps back, g_k) of the latest measurement."""
    item = window.gradflow_panel.paths[state].latest
    assert item in plot.getPlotItem().listDataItems()
    return item.getOriginalDataset()


def test_exploding_experiment_diverges_pauses_saying_why_and_the_flow_plot_is_populated(window, qtbot, dialogs):
    run_experiment(window, "exploding")
    assert window.tabs.currentWidget() is window.gradflow_panel
    assert window.settings_panel.config() == experiment("exploding").config  # a normal run of that config
    qtbot.waitUntil(lambda: bool(dialogs.texts("warning")), timeout=30_000)
    assert window.session.state == "paused" and window.session.diverged_reason
    assert window.session.client.status().value.diverged  # the engine says so too, and waits
    (why,) = dialogs.texts("warning")
    assert "diverged" in why and "clipping is off" in why and "largest singular value" in why
    assert "exploded" in why and "set a gradient clip" in why
    status = window.gradflow_panel.findChild(QLabel, "flowStatusLabel")
    assert status.isVisible() and "clipping is off" in status.text()

    plot = window.findChild(QWidget, "gradientFlowPlot")
    assert plot is not None and plot.isVisible()
    x, y = latest_curve(window, plot, "h")
    T = experiment("exploding").config.seq_length
    assert len(x) == T and np.all(np.isfinite(y))
    assert y[-1] > 1e3 * y[0]  # the last prediction's gradient is far larger 199 steps back: it explodes
    flow = window.session.flows.latest
    assert flow.whh_sigma_max == pytest.approx(1.5, rel=1e-3)
    rows = min(len(window.session.flows), MAX_ROWS)  # one row per measurement, at most MAX_ROWS spread over the run
    assert window.gradflow_panel.paths["h"].image.image.shape == (rows, T)
    sigma_x, sigma_y = window.gradflow_panel.health_curves["whh_sigma_max"].getOriginalDataset()
    assert list(sigma_x) == [f.iteration for f in window.session.flows.flows] and sigma_y[0] == pytest.approx(1.5,
                                                                                                               rel=1e-3)


def test_vanishing_experiment_shows_a_reach_ratio_below_a_thousandth_equal_to_cores(window, qtbot):
    run_experiment(window, "vanishing")
    wait_for_flows(window, qtbot)
    window.pause()
    window.refresh_now()
    flow = window.session.flows.latest
    label = window.findChild(QLabel, "reachRatioLabel")
    assert label.isVisible()
    shown = float(re.search(r"iteration [\d,]+\):\s*([-+.\deE]+)", plain(label)).group(1))
    expected = core_flow(window, "vanishing", flow.iteration).reach_ratio
    assert shown < 1e-3
    assert f"{expected:.3g}" == f"{shown:.3g}"  # the number on screen is core's, to the digits shown
    assert label.property("ratio") == pytest.approx(expected, rel=1e-9)
    assert f"T = {experiment('vanishing').config.seq_length}" in plain(label)


def test_lstm_experiment_shows_the_h_path_and_the_cell_path_side_by_side(window, qtbot):
    run_experiment(window, "lstm")
    wait_for_flows(window, qtbot)
    window.pause()
    window.refresh_now()
    assert window.session.model.config.cell == "lstm" and window.session.model.config.hidden_size == 100
    h_plot = window.findChild(QWidget, "gradientFlowPlot")
    c_plot = window.findChild(QWidget, "gradientFlowPlotC")
    assert h_plot.isVisible() and c_plot.isVisible()
    assert h_plot.mapToGlobal(h_plot.rect().topRight()).x() <= c_plot.mapToGlobal(c_plot.rect().topLeft()).x()
    flow = window.session.flows.latest
    for plot, state, curve in ((h_plot, "h", flow.grad_flow), (c_plot, "c", flow.paths["c"])):
        x, y = latest_curve(window, plot, state)
        np.testing.assert_array_equal(y, curve)
    for suffix in ("", "C"):
        heat = window.findChild(QWidget, f"gradientFlowHeatmap{suffix}")
        assert heat.isVisible()
    label = window.findChild(QLabel, "reachRatioLabel")
    assert "h-path" in plain(label) and "c-path" in plain(label)
    expected = core_flow(window, "lstm", flow.iteration)
    assert label.property("ratio_c") == pytest.approx(expected.paths["c"][-1] / expected.paths["c"][0], rel=1e-9)


def test_a_vanilla_model_hides_the_cell_path(window, qtbot):
    window.settings_panel.grad_flow_spin.setValue(5)
    window.step_once()
    wait_for_flows(window, qtbot)
    window.tabs.setCurrentWidget(window.gradflow_panel)
    window.refresh_now()
    assert window.findChild(QWidget, "gradientFlowPlot").isVisible()
    assert not window.findChild(QWidget, "gradientFlowPlotC").isVisible()
    assert "c-path" not in plain(window.findChild(QLabel, "reachRatioLabel"))


def test_gradient_flow_every_is_a_live_setting_and_zero_stops_measuring(window, qtbot):
    panel = window.settings_panel
    panel.apply_preset("min-char-rnn")
    assert panel.grad_flow_spin.value() == core.gradflow.APP_EVERY  # the app measures unless told not to
    use_small_settings(window)
    panel.grad_flow_spin.setValue(3)
    window.start()
    wait_for_flows(window, qtbot, 3)
    panel.grad_flow_spin.setValue(0)  # while training
    qtbot.waitUntil(lambda: window.session.client.status().value.live["grad_flow_every"] == 0, timeout=5000)
    pause_and_settle(window, qtbot)
    n, last = len(window.session.flows), window.session.iteration
    assert all(f.iteration % 3 == 0 for f in window.session.flows.flows)
    window.start()
    qtbot.waitUntil(lambda: window.session.iteration >= last + 30, timeout=15_000)
    pause_and_settle(window, qtbot)
    assert len(window.session.flows) == n


def test_measurements_reach_the_window_in_batches_not_one_signal_per_iteration(window, qtbot):
    window.settings_panel.grad_flow_spin.setValue(1)  # a measurement every iteration
    batches = []
    window.session.gradFlowed.connect(lambda flows: batches.append(len(flows)))
    window.start()
    qtbot.waitUntil(lambda: window.session.iteration >= 150, timeout=20_000)
    window.pause()
    qtbot.waitUntil(lambda: len(window.session.flows) == window.session.iteration, timeout=5000)
    assert sum(batches) == len(window.session.flows) >= 150
    assert len(batches) < len(window.session.flows) / 2  # throttled with the progress, several per signal
    assert [f.iteration for f in window.session.flows.flows] == list(range(len(window.session.flows)))


def test_plot_items_are_made_once_and_only_their_data_changes(window, qtbot):
    panel = window.gradflow_panel
    window.tabs.setCurrentWidget(panel)
    items = [id(i) for i in panel.curve_plot.getPlotItem().listDataItems()]
    image = panel.paths["h"].image
    window.settings_panel.grad_flow_spin.setValue(2)
    window.start()
    wait_for_flows(window, qtbot, 12)
    window.pause()
    window.refresh_now()
    assert [id(i) for i in panel.curve_plot.getPlotItem().listDataItems()] == items
    # one row per measurement (a fast engine may have measured more than the heatmap's MAX_ROWS before the pause)
    assert panel.paths["h"].image is image and image.image.shape[0] == min(len(window.session.flows), MAX_ROWS)
    trail = [item.getOriginalDataset()[1] for item in panel.paths["h"].trail]
    flows = window.session.flows.flows
    for age, y in enumerate(reversed(trail), start=1):  # the trail holds the measurements before the latest
        np.testing.assert_array_equal(y, flows[-1 - age].grad_flow)


def test_health_strip_explains_each_number_in_plain_words_and_hover_shows_the_values(window, qtbot):
    panel = window.gradflow_panel
    window.tabs.setCurrentWidget(panel)
    window.settings_panel.grad_flow_spin.setValue(4)
    window.start()
    wait_for_flows(window, qtbot, 3)
    window.pause()
    window.refresh_now()
    qtbot.wait(200)  # drawn: the plots' ranges follow their data
    for field in ("whh_sigma_max", "tanh_derivative_mean", "clip_fraction", "grad_param_ratio"):
        tip = panel.health_plots[field].toolTip()
        assert tip.count(".") == 1 and tip.endswith(".") and len(tip.split()) >= 15  # one plain sentence
    flow = window.session.flows.flows[1]
    w = panel.health_plots["whh_sigma_max"]
    vb = w.getPlotItem().getViewBox()
    w.scene().sigMouseMoved.emit(vb.mapViewToScene(QPointF(flow.iteration, flow.whh_sigma_max)))
    text = panel.readout.text()
    assert f"iteration {flow.iteration:,}:" in text and f"{flow.whh_sigma_max:.3g}" in text
    assert f"{flow.grad_param_ratio:.3g}" in text
    heat = panel.paths["h"].heat_plot
    hvb = heat.getPlotItem().getViewBox()
    heat.scene().sigMouseMoved.emit(hvb.mapViewToScene(QPointF(3.5, 1.5)))  # row 1, three steps back
    assert f"iteration {flow.iteration:,}" in panel.readout.text() and "3 steps back" in panel.readout.text()
    assert f"{flow.grad_flow[3]:.3g}" in panel.readout.text()


def test_the_heatmap_exports_as_png_and_the_numbers_as_csv(window, qtbot, dialogs, tmp_path):
    panel = window.gradflow_panel
    assert not panel.png_button.isEnabled()  # nothing measured yet
    window.settings_panel.grad_flow_spin.setValue(5)
    window.start()
    wait_for_flows(window, qtbot, 4)
    window.pause()
    png, table = tmp_path / "flow.png", tmp_path / "flow.csv"
    dialogs.save_paths += [str(png), str(table)]
    window.export_flow_png_action.trigger()
    panel.csv_button.click()
    image = QImage(str(png))
    assert not image.isNull() and image.width() > 100 and image.height() > 50
    with open(table, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    flows = window.session.flows.flows
    T = window.session.model.config.seq_length
    assert len(rows) == 1 + len(flows)
    header = rows[0]
    assert header[:7] == ["iteration", "whh_sigma_max", "tanh_derivative_mean", "saturated_fraction",
                          "clip_fraction", "grad_param_ratio", "reach_ratio"]
    assert header[7] == "grad_flow_0" and header[7 + T - 1] == f"grad_flow_{T - 1}"
    assert header[-1] == f"bptt_carry_{T - 1}"
    last = rows[-1]
    assert int(last[0]) == flows[-1].iteration and float(last[1]) == flows[-1].whh_sigma_max
    np.testing.assert_array_equal(np.array(last[7:7 + T], dtype=float), flows[-1].grad_flow)
    assert str(png) in window.statusBar().currentMessage() or str(table) in window.statusBar().currentMessage()


def test_an_experiment_asks_before_it_replaces_unsaved_training(window, qtbot, dialogs):
    window.step_once()
    qtbot.waitUntil(lambda: window.session.has_model and window.session.iteration == 1, timeout=10_000)
    model, client = window.session.model, window.session.client
    dialogs.answer = QMessageBox.StandardButton.Cancel
    assert not window.start_experiment("clipping")
    assert window.session.model is model and window.session.client is client and dialogs.questions
    assert window.session.iteration == 1
    dialogs.answer = None
    assert window.start_experiment("clipping")
    assert window.session.model is not model and window.session.model.config == experiment("clipping").config
    qtbot.waitUntil(lambda: window.session.iteration >= 5, timeout=20_000)
    window.pause()
    assert window.session.diverged_reason is None  # clipping rescues it
    assert window.session.client.status().value.diverged is None


def test_an_experiment_on_a_text_too_short_for_its_windows_says_so(make_window, qtbot, tmp_path, dialogs):
    short = tmp_path / "short.txt"
    short.write_text("tiny text, far shorter than one window of two hundred characters\n", encoding="utf-8")
    window = make_window()
    window.open_corpus_path(str(short))
    qtbot.waitUntil(lambda: not window.session.is_loading and window.session.corpus.name == "short.txt", timeout=10_000)
    assert not window.start_experiment("vanishing")
    (text,) = dialogs.texts("warning")
    assert "Vanishing" in text and not window.session.has_model and window.session.client is None
    assert window.session.state == "idle"


def test_a_very_long_run_keeps_a_bounded_evenly_thinned_history():
    from charrnn_gui.flow_history import KEEP_NEWEST, MAX_FLOWS, FlowHistory
    from core.gradflow import GradFlow

    def flow(i):
        return GradFlow(i, np.ones(3), np.zeros(3), 1.0, 1.0, 0.0, 0.0, 1.0)

    history = FlowHistory()
    for start in range(0, 3 * MAX_FLOWS, 50):  # batches as the engine sends them
        history.add([flow(i) for i in range(start, start + 50)])
    its = history.iterations()
    assert len(history) <= MAX_FLOWS and its[0] == 0 and its[-1] == 3 * MAX_FLOWS - 1
    assert np.all(np.diff(its) > 0)
    assert list(its[-KEEP_NEWEST:]) == list(range(3 * MAX_FLOWS - KEEP_NEWEST, 3 * MAX_FLOWS))  # the trail's, whole
    gaps = np.diff(its[:-KEEP_NEWEST])
    assert gaps.min() == gaps.max() == history.stride > 1  # spread evenly over the whole run
