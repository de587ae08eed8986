"""The window's parts: names, plot, samples timeline, heatmap, settings, sample now, panels, persistence."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QAction, QFont, QFontDatabase, QFontInfo, QFontMetrics
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QWidget

import core
from core.gradflow import APP_EVERY
from charrnn_gui.heatmap import HiddenHeatmap
from charrnn_gui.lossplot import REFRESH_MS as LOSS_REFRESH_MS
from charrnn_gui.samples import MAX_BLOCKS, RECENT_IN_MEMORY, SampleRecord, SamplesPanel

from .helpers import shown, wait_iterations


def _measures_monospaced(font) -> bool:
    """Every glyph one advance (QFontInfo.fixedPitch() says False for Noto Sans Mono, which is monospaced)."""
    fm = QFontMetrics(font)
    return fm.horizontalAdvance("i") == fm.horizontalAdvance("W") == fm.horizontalAdvance("m") == \
        fm.horizontalAdvance(".")


def test_stable_object_names_are_there(make_window):
    window = make_window()
    for name in ("openCorpusAction", "startPauseAction", "stepAction", "resetAction", "saveCheckpointAction"):
        assert isinstance(window.findChild(QAction, name), QAction), name
    assert window.findChild(QWidget, "lossPlot").__class__.__name__ == "PlotWidget"
    view = window.findChild(QPlainTextEdit, "samplesView")
    assert view.isReadOnly() and _measures_monospaced(view.font())
    assert isinstance(window.findChild(HiddenHeatmap, "hiddenHeatmap"), HiddenHeatmap)
    label = window.findChild(QLabel, "iterationLabel")
    assert int(re.search(r"\d+", label.text()).group()) == 0
    assert window.start_pause_action.shortcut().toString() == "Space"
    assert window.save_checkpoint_action.shortcut().toString() == "Ctrl+S"
    assert window.open_corpus_action.shortcut().toString() == "Ctrl+O"


def test_monospace_is_measured_by_glyph_advances_not_fixed_pitch(qapp):
    from charrnn_gui.samples import is_monospace

    assert not is_monospace(QFont("DejaVu Sans", 10))
    assert is_monospace(QFont("DejaVu Sans Mono", 10))
    if "Noto Sans Mono" not in QFontDatabase.families():
        pytest.skip("Noto Sans Mono is not installed (fonts-noto-mono)")
    noto = QFont("Noto Sans Mono", 10)
    assert QFontInfo(noto).family() == "Noto Sans Mono"
    assert is_monospace(noto) and _measures_monospaced(noto)


def test_samples_font_is_monospaced_even_when_the_system_fixed_font_is_not(qapp):
    from charrnn_gui.samples import monospace_font

    proportional = QFont("DejaVu Sans", 11)
    assert not _measures_monospaced(proportional)
    font = monospace_font(proportional)
    assert _measures_monospaced(font)
    assert font.pointSize() == 11
    assert _measures_monospaced(monospace_font())


def test_status_bar_shows_iteration_epoch_speed_loss_bits_and_time(make_window, qtbot, small_corpus_file):
    window = make_window()
    window.open_corpus_path(str(small_corpus_file))
    qtbot.waitUntil(lambda: not window.session.is_loading, timeout=10_000)
    window.start()
    wait_iterations(window, qtbot, 200)
    qtbot.waitUntil(lambda: "it/s" in window.speed_label.text() and "—" not in window.speed_label.text(), timeout=5000)
    assert "chars/s" in window.speed_label.text()
    assert re.fullmatch(r"Epoch \d+ · \d+\.\d%", window.epoch_label.text())
    qtbot.waitUntil(lambda: "bits/char" in window.loss_label.text(), timeout=5000)  # the plot's next refresh
    assert re.fullmatch(r"Loss \d\.\d{3} bits/char · held-out —", window.loss_label.text())  # no held-out text
    assert window.elapsed_label.text().startswith("Elapsed 0:00:0")
    window.pause()
    window.refresh_now()
    assert window.iteration_label.text() == f"Iteration {window.session.iteration}"


def test_settings_that_need_new_weights_are_locked_while_a_model_exists(make_window, qtbot):
    window = make_window()
    panel = window.settings_panel
    assert panel.hidden_spin.isEnabled() and panel.preset_combo.isEnabled()
    window.step_once()
    qtbot.waitUntil(lambda: window.session.has_model and window.session.iteration == 1, timeout=5000)
    for w in (panel.hidden_spin, panel.seq_spin, panel.batch_spin, panel.optimizer_combo, panel.clip_spin,
              panel.seed_spin, panel.dtype_combo, panel.preset_combo):
        assert not w.isEnabled()
    assert "Reset" in panel.lock_note.text()
    for w in (panel.lr_spin, panel.temperature_spin, panel.sample_length_spin, panel.sample_every_spin):
        assert w.isEnabled()
    window.reset_model()  # one iteration unsaved: asks (the test answers Yes)
    assert not window.session.has_model and window.session.client is None and panel.hidden_spin.isEnabled()


def test_one_click_on_a_preset_sets_every_field(make_window):
    window = make_window()
    panel = window.settings_panel
    panel.preset_combo.activated.emit(panel.preset_combo.findData("fast"))
    cfg = panel.config()
    fast = core.PRESETS["fast"]
    assert cfg == fast.replace(grad_flow_every=APP_EVERY)  # the app measures gradient flow; the CLI does not
    assert panel.lr_spin.text() == "0.003"


def test_live_settings_reach_the_running_engine(make_window, qtbot, small_corpus_file):
    window = make_window()
    window.open_corpus_path(str(small_corpus_file))
    qtbot.waitUntil(lambda: not window.session.is_loading, timeout=10_000)
    window.start()
    wait_iterations(window, qtbot, 10)
    panel = window.settings_panel
    panel.lr_spin.setValue(0.02)
    panel.temperature_spin.setValue(0.5)
    panel.sample_length_spin.setValue(17)
    panel.sample_every_spin.setValue(7)
    client = window.session.client
    qtbot.waitUntil(lambda: client.status().value.live["sample_every"] == 7, timeout=5000)  # the engine's own
    status = client.status().value
    assert status.learning_rate == 0.02 and status.state == "running"
    assert (status.live["learning_rate"], status.live["temperature"], status.live["sample_length"]) == (0.02, 0.5, 17)
    records = window.samples_panel.records
    qtbot.waitUntil(lambda: bool(records) and len(records[-1].text) == 17, timeout=5000)


def test_loss_plot_switches_units_and_log_scale(make_window, qtbot, small_corpus_file):
    window = make_window()
    window.open_corpus_path(str(small_corpus_file))
    qtbot.waitUntil(lambda: not window.session.is_loading, timeout=10_000)
    window.step_once()
    qtbot.waitUntil(lambda: window.session.has_model and window.session.iteration == 1, timeout=5000)
    window.session.step(49)
    qtbot.waitUntil(lambda: len(window.loss_panel.history) == 50, timeout=5000)
    panel = window.loss_panel
    panel.refresh()
    T = window.session.model.config.seq_length
    nats = panel.history.loss.view
    _, y = panel.raw_curve.getOriginalDataset()
    np.testing.assert_allclose(y, nats * T)  # the lesson's summed loss
    _, smooth = panel.smooth_curve.getOriginalDataset()
    np.testing.assert_allclose(smooth, panel.history.smooth.view)
    panel.set_units("bits")
    _, y = panel.raw_curve.getOriginalDataset()
    np.testing.assert_allclose(y, nats / np.log(2))
    assert "bits" in panel.plot.getPlotItem().getAxis("left").labelText
    panel.set_units("nats")
    _, smooth = panel.smooth_curve.getOriginalDataset()
    np.testing.assert_allclose(smooth, panel.history.smooth.view / T)
    panel.log_check.setChecked(True)
    assert panel.plot.getPlotItem().ctrl.logYCheck.isChecked()
    panel.set_smoothing(0.0)
    _, ema = panel.ema_curve.getOriginalDataset()
    np.testing.assert_allclose(ema, nats)  # no smoothing: the raw loss itself
    text = panel.show_readout_at(10.2)
    assert text.startswith("iteration 10 ") and f"loss {nats[9]:.4g}" in text


def test_loss_plot_redraws_on_its_timer_not_per_iteration(make_window, qtbot, small_corpus_file, monkeypatch):
    window = make_window()
    window.open_corpus_path(str(small_corpus_file))
    qtbot.waitUntil(lambda: not window.session.is_loading, timeout=10_000)
    calls = []
    real = window.loss_panel.raw_curve.setData
    monkeypatch.setattr(window.loss_panel.raw_curve, "setData", lambda *a, **k: (calls.append(1), real(*a, **k)))
    window.start()
    started = time.perf_counter()
    qtbot.waitUntil(lambda: window.session.iteration >= 300 and len(calls) >= 2, timeout=30_000)
    window.pause()
    took = time.perf_counter() - started
    # At most one redraw per refresh interval (about 10 a second), whatever the iteration rate: a busy machine only
    # makes the timer fire less often (a coarse Qt timer may fire up to 5% early).
    assert len(calls) <= took / (0.95 * LOSS_REFRESH_MS / 1000) + 2, (len(calls), took, window.session.iteration)
    for curve in (window.loss_panel.raw_curve, window.loss_panel.smooth_curve):
        assert curve.opts["autoDownsample"] and curve.opts["downsampleMethod"] == "peak" and curve.opts["clipToView"]


def test_validation_points_appear_when_the_preset_holds_out_text(make_window, qtbot, small_corpus_file):
    from .helpers import use_small_settings

    window = make_window()
    use_small_settings(window, val_fraction=0.1, eval_every=25, eval_chars=200)
    window.open_corpus_path(str(small_corpus_file))
    qtbot.waitUntil(lambda: not window.session.is_loading, timeout=10_000)
    window.start()
    qtbot.waitUntil(lambda: len(window.loss_panel.history.val_iterations) >= 2, timeout=10_000)
    window.pause()
    window.loss_panel.refresh()
    x, _ = window.loss_panel.val_curve.getOriginalDataset()
    assert list(x[:2]) == [25, 50]


def make_samples_panel(qtbot):
    return shown(qtbot, SamplesPanel(), 500, 300)


def test_samples_keep_newlines_and_the_newest_stays_visible(qtbot):
    panel = make_samples_panel(qtbot)
    for i in range(40):
        panel.add(SampleRecord(i * 100, f"line one of {i}\nline two of {i}", 50.0 - i))
    panel.flush()
    text = panel.view.toPlainText()
    assert "── iteration 3,900  ·  smooth loss 11.00 ──\nline one of 39\nline two of 39" in text
    bar = panel.view.verticalScrollBar()
    assert bar.value() == bar.maximum() > 0
    assert panel.count_label.text() == "40 samples"


def test_samples_view_stays_put_when_the_user_has_scrolled_back(qtbot):
    panel = make_samples_panel(qtbot)
    for i in range(40):
        panel.add(SampleRecord(i, f"sample {i}\nsecond line"))
    panel.flush()
    bar = panel.view.verticalScrollBar()
    bar.setValue(5)
    first_visible = panel.view.firstVisibleBlock().text()
    for i in range(40, 60):
        panel.add(SampleRecord(i, f"sample {i}\nsecond line"))
    panel.flush()
    assert bar.value() == 5 and panel.view.firstVisibleBlock().text() == first_visible


def test_the_view_is_capped_but_every_sample_is_exported(qtbot, tmp_path):
    panel = make_samples_panel(qtbot)
    n = max(MAX_BLOCKS // 3, RECENT_IN_MEMORY) + 200  # more than the view shows and memory keeps
    for i in range(n):
        panel.add(SampleRecord(i, f"text {i}"))
    panel.flush()
    assert panel.view.document().blockCount() <= MAX_BLOCKS
    path = tmp_path / "samples.txt"
    assert panel.export_txt(str(path)) == n
    exported = path.read_text(encoding="utf-8")
    assert "text 0\n" in exported and f"text {n - 1}\n" in exported
    assert exported.count("── iteration ") == n == panel.count
    assert len(panel.records) == RECENT_IN_MEMORY and panel.records[-1].text == f"text {n - 1}"
    assert panel.count_label.text() == f"{n:,} samples"


def test_copy_puts_all_samples_on_the_clipboard(qtbot):
    from PySide6.QtWidgets import QApplication

    panel = make_samples_panel(qtbot)
    panel.add(SampleRecord(0, "hello\nworld"))
    panel.flush()
    panel.copy_button.click()
    assert QApplication.clipboard().text() == "── iteration 0 ──\nhello\nworld\n"


def test_sample_now_is_only_offered_while_paused_and_names_unknown_characters(make_window, qtbot,
                                                                             small_corpus_file):
    window = make_window()
    window.open_corpus_path(str(small_corpus_file))
    qtbot.waitUntil(lambda: not window.session.is_loading, timeout=10_000)
    samples = window.samples_panel
    assert not samples.sample_button.isEnabled()  # no model yet
    window.start()
    wait_iterations(window, qtbot, 20)
    assert not samples.sample_button.isEnabled()  # running
    window.pause()
    assert samples.sample_button.isEnabled()
    before = len(samples.records)
    samples.prime_edit.setText("Zebra é")
    samples.sample_button.click()
    assert samples.error_label.isVisibleTo(window)
    assert "'Z'" in samples.error_label.text() and "'é'" in samples.error_label.text()
    assert len(samples.records) == before
    samples.prime_edit.setText("the ")
    samples.argmax_check.setChecked(True)
    samples.sample_button.click()
    assert not samples.error_label.isVisibleTo(window)
    assert samples.records[-1].argmax and samples.records[-1].text.startswith("the ")
    assert "sample now" in samples.view.toPlainText()


def make_heatmap(qtbot, text="ab\n c", H=5):
    heat = HiddenHeatmap()
    qtbot.addWidget(heat)
    heat.resize(700, 300)
    heat.show()
    hidden = np.linspace(-1, 1, len(text) * H).reshape(len(text), H)
    heat.set_sample(text, hidden)
    return heat, hidden


def test_heatmap_shows_units_by_characters_with_visible_newline_and_space(qtbot):
    heat, hidden = make_heatmap(qtbot)
    assert heat.image.image.shape == (5, 5)  # rows: units, columns: characters
    np.testing.assert_allclose(heat.image.image, hidden.T.astype(np.float32))
    assert tuple(heat.image.levels) == (-1.0, 1.0)
    assert [label for _, label in heat.tick_labels()] == ["a", "b", "⏎", "␣", "c"]
    assert tuple(heat.colorbar.values) == (-1.0, 1.0)


def test_heatmap_axis_draws_each_shown_character_under_its_column(qtbot):
    from PySide6.QtGui import QImage, QPainter

    text = "abcdefghij" * 20
    heat, _ = make_heatmap(qtbot, text=text, H=5)
    vb = heat.plot.getViewBox()
    vb.setXRange(40.0, 60.0, padding=0)
    axis = heat.plot.getAxis("bottom")
    image = QImage(10, 10, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    try:
        _, ticks, labels = axis.generateDrawSpecs(painter)
    finally:
        painter.end()
    shown = [(x, c) for x, c in heat.tick_labels() if 40 <= x <= 60]
    assert [c for _, rect, c in labels] == [c for _, c in shown] == list(text[40:60])
    for (x, _), (rect, _, _), (_, start, _) in zip(shown, labels, ticks):
        at = axis.mapFromScene(vb.mapViewToScene(QPointF(x, 0))).x()  # the column's centre, in the axis
        assert rect.center().x() == pytest.approx(at, abs=0.5) and start.x() == pytest.approx(at, abs=0.5)
        assert rect.width() > 0 and rect.height() > 0


def test_heatmap_hover_describes_unit_character_and_value(qtbot):
    heat, hidden = make_heatmap(qtbot)
    vb = heat.plot.getViewBox()
    scene_pos = vb.mapViewToScene(QPointF(2.5, 3.5))  # character 3 (the newline), unit 3
    assert heat.cell_at(scene_pos) == (3, 2)
    heat._on_mouse_moved(scene_pos)
    assert heat.readout.text() == f"unit 3   character 3 of 5: ⏎ ('\\n')   value {hidden[2, 3]:+.3f}"


def test_clicking_a_row_emits_unit_clicked(qtbot):
    heat, _ = make_heatmap(qtbot)
    vb = heat.plot.getViewBox()
    view_pos = vb.mapViewToScene(QPointF(1.5, 4.2))
    widget_pos = heat.graphics.mapFromScene(view_pos)
    with qtbot.waitSignal(heat.unitClicked, timeout=2000) as blocker:
        qtbot.mouseClick(heat.graphics.viewport(), Qt.MouseButton.LeftButton, pos=widget_pos)
    assert blocker.args == [4]
    assert heat.selected_unit == 4 and heat.selection.isVisible()


def test_a_new_sample_of_the_same_shape_keeps_the_users_scroll_and_an_unchanged_colour_bar(qtbot, monkeypatch):
    text = "abcdefghij" * 20
    heat, _ = make_heatmap(qtbot, text=text, H=5)
    vb = heat.plot.getViewBox()
    vb.setXRange(50, 80, padding=0)  # the user scrolled along the text
    level_changes = []
    monkeypatch.setattr(heat.colorbar, "setLevels", lambda *a, **k: level_changes.append(a))
    other = "zyxwvutsrq" * 20
    hidden = np.linspace(1, -1, len(other) * 5).reshape(len(other), 5)
    heat.set_sample(other, hidden)
    np.testing.assert_allclose(heat.image.image, hidden.T.astype(np.float32))  # the new states are drawn
    (x0, x1), (y0, y1) = vb.viewRange()
    assert (x0, x1) == pytest.approx((50, 80), abs=0.5) and (y0, y1) == pytest.approx((0, 5))
    labels = dict(heat.tick_labels())
    assert labels[60.5] == other[60] and labels[70.5] == other[70]  # the labels are the new sample's characters
    assert level_changes == []  # tanh's [-1, 1] again: the colour bar is left as it is
    heat.set_sample("short text", np.zeros((10, 5)))  # another length: the view's limits follow it
    assert vb.state["limits"]["xLimits"] == [0, 10]
    assert [label for _, label in heat.tick_labels()] == ["s", "h", "o", "r", "t", "␣", "t", "e", "x", "t"]


def test_the_heatmap_follows_the_latest_sample_once_per_refresh(make_window, qtbot, small_corpus_file):
    window = make_window()
    window.open_corpus_path(str(small_corpus_file))
    qtbot.waitUntil(lambda: not window.session.is_loading, timeout=10_000)
    window.start()
    qtbot.waitUntil(lambda: len(window.samples_panel.records) >= 3, timeout=10_000)
    window.pause()
    window.refresh_now()
    last = window.samples_panel.records[-1]
    assert window.heatmap.text == last.text
    assert window.heatmap.hidden.shape == (40, 16)


def test_add_panel_puts_a_panel_in_a_tab_next_to_the_heatmap(make_window):
    window = make_window()
    extra = QLabel("inspector goes here")
    index = window.add_panel("Look inside", extra)
    assert window.tabs.tabText(0) == "Hidden state" and window.tabs.tabText(index) == "Look inside"
    assert window.tabs.widget(index) is extra


def test_geometry_and_settings_are_remembered(make_window, qtbot, monkeypatch):
    from charrnn_gui.main_window import MainWindow

    first = make_window()
    first.resize(1200, 760)
    first.settings_panel.apply_preset("fast")
    first.loss_panel.set_units("bits")
    first.loss_panel.set_smoothing(0.5)
    first.close()
    saved = first.settings.value("window/geometry")
    assert saved is not None and first.settings.value("window/splitter/main") is not None
    restored = []
    real = MainWindow.restoreGeometry
    monkeypatch.setattr(MainWindow, "restoreGeometry", lambda self, g: (restored.append(bytes(g)), real(self, g))[1])
    second = make_window(small=False)
    # (the offscreen screen is small and clamps the restored size, so check what was handed back to Qt)
    assert restored == [bytes(saved)]
    assert second.settings_panel.config() == core.PRESETS["fast"].replace(grad_flow_every=APP_EVERY)
    assert second.settings_panel.preset_name == "fast"
    assert second.loss_panel.units == "bits"
    assert second.loss_panel.smoothing == pytest.approx(0.5)


def test_exports_write_csv_and_png(make_window, qtbot, dialogs, small_corpus_file, tmp_path):
    window = make_window()
    window.open_corpus_path(str(small_corpus_file))
    qtbot.waitUntil(lambda: not window.session.is_loading, timeout=10_000)
    window.step_once()
    qtbot.waitUntil(lambda: window.session.has_model and window.session.iteration == 1, timeout=5000)
    with qtbot.waitSignal(window.session.client.paused, timeout=5000):  # the Step's 29 iterations done
        window.session.step(29)
    assert window.session.iteration == 30 and window.session.state == "paused"
    dialogs.save_paths += [str(tmp_path / "loss.csv"), str(tmp_path / "loss.png")]
    window.export_csv_action.trigger()
    window.export_png_action.trigger()
    assert len((tmp_path / "loss.csv").read_text().splitlines()) == 31
    assert (tmp_path / "loss.png").read_bytes()[:4] == b"\x89PNG"
