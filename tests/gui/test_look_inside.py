"""The Look inside tab in the main window: it reads the model that is training, follows heatmap clicks,
and re-probes by itself while training runs."""

from __future__ import annotations

import numpy as np

from charrnn_gui.inspector import activation_color
from core.probe import default_probe_text, probe

from .helpers import open_file_via_dialog, wait_iterations
from .test_inspector import backgrounds, colour_of


def trained_window(make_window, qtbot, dialogs, path, iterations=60):
    w = make_window()
    open_file_via_dialog(w, dialogs, qtbot, path)
    w.start()
    wait_iterations(w, qtbot, iterations)
    return w


def test_the_look_inside_tab_sits_next_to_the_hidden_state(make_window):
    w = make_window()
    titles = [w.tabs.tabText(i) for i in range(w.tabs.count())]
    assert titles[:2] == ["Hidden state", "Look inside"]  # (then Runs)
    assert w.tabs.widget(1) is w.inspector
    assert not w.inspector.run()  # no model yet: a message, not a crash
    assert "No model yet" in w.inspector.message()


def test_probing_while_paused_reads_the_current_weights_on_held_out_text(make_window, qtbot, dialogs,
                                                                         small_corpus_file):
    w = trained_window(make_window, qtbot, dialogs, small_corpus_file)
    w.pause()
    w.tabs.setCurrentWidget(w.inspector)
    assert w.inspector.text_edit.toPlainText() == default_probe_text(w.session.model)
    w.inspector.run_button.click()
    iteration, params = w.session.weights()  # the engine's copy of the paused weights
    expected = probe(params, w.session.model.vocab, w.inspector.text_edit.toPlainText())
    assert np.array_equal(w.inspector.result.hidden, expected.hidden)  # (L, H)
    assert iteration == w.session.iteration >= 60
    assert f"iteration {iteration:,}" in w.inspector.info_label.text()


def test_probing_while_training_runs_does_not_stop_it(make_window, qtbot, dialogs, small_corpus_file):
    w = trained_window(make_window, qtbot, dialogs, small_corpus_file)
    assert w.inspector.run()
    assert w.inspector.result.hidden.shape[1] == w.session.model.config.hidden_size
    before = w.session.iteration
    wait_iterations(w, qtbot, before + 20)
    assert w.session.state == "running"


def test_clicking_a_unit_in_the_heatmap_colours_the_probe_text_by_it(make_window, qtbot, dialogs,
                                                                     small_corpus_file):
    w = trained_window(make_window, qtbot, dialogs, small_corpus_file)
    w.pause()
    assert w.inspector.run()
    w.heatmap.unitClicked.emit(7)
    assert w.inspector.unit == 7 and w.inspector.unit_spin.value() == 7
    values = w.inspector.result.hidden[:, 7]  # (L,)
    colours = backgrounds(w.inspector)
    assert all(colour_of(w.inspector, i, colours) == activation_color(v) for i, v in enumerate(values))
    assert "unit 7" in w.statusBar().currentMessage().lower()


def test_choosing_a_unit_in_the_inspector_marks_its_row_in_the_heatmap(make_window, qtbot, dialogs,
                                                                       small_corpus_file):
    w = trained_window(make_window, qtbot, dialogs, small_corpus_file)
    qtbot.waitUntil(lambda: len(w.heatmap.text) > 0, timeout=10_000)
    w.pause()
    assert w.inspector.run()
    w.inspector.unit_spin.setValue(3)
    assert w.heatmap.selected_unit == 3


def test_auto_rerun_keeps_up_with_training(make_window, qtbot, dialogs, small_corpus_file):
    w = make_window()
    open_file_via_dialog(w, dialogs, qtbot, small_corpus_file)
    w.inspector.auto_check.setChecked(True)
    w.inspector.auto_spin.setValue(50)
    probed = []
    w.inspector.probed.connect(lambda result: probed.append(w.session.iteration))
    w.start()
    qtbot.waitUntil(lambda: len(probed) >= 3, timeout=15_000)
    w.pause()
    assert probed == sorted(probed) and probed[-1] > probed[0]
    assert w.session.state == "paused"


def test_a_reset_model_is_read_afresh(make_window, qtbot, dialogs, small_corpus_file):
    w = trained_window(make_window, qtbot, dialogs, small_corpus_file)
    w.pause()
    assert w.inspector.run()
    w.reset_action.trigger()  # the patched question answers Yes
    assert not w.inspector.run()
    assert "No model yet" in w.inspector.message()
    w.step_once()
    qtbot.waitUntil(lambda: w.session.has_model and w.session.iteration >= 1, timeout=10_000)
    w.pause()
    assert w.inspector.run()
    iteration, params = w.session.weights()
    assert iteration == 1
    expected = probe(params, w.session.model.vocab, w.inspector.text_edit.toPlainText())
    assert np.array_equal(w.inspector.result.hidden, expected.hidden)


def test_opening_look_inside_gives_its_text_room(make_window):
    w = make_window()
    w.resize(1400, 900)
    w.right_splitter.setSizes([700, 200])
    w.tabs.setCurrentWidget(w.inspector)
    top, bottom = w.right_splitter.sizes()
    assert bottom >= 450 and top >= 0.3 * (top + bottom)  # the loss plot and samples stay visible
    w.right_splitter.setSizes([top + bottom - 300, 300])  # the user's choice is kept while it stays open
    assert w.right_splitter.sizes()[1] < 450  # (down to the panel's minimum height)


def test_before_training_the_probe_text_is_already_the_held_out_passage(make_window, qtbot, dialogs,
                                                                        small_corpus_file):
    w = make_window()
    open_file_via_dialog(w, dialogs, qtbot, small_corpus_file)
    shown = w.inspector.text_edit.toPlainText()
    assert shown and shown in small_corpus_file.read_text()
    w.step_once()
    qtbot.waitUntil(lambda: w.session.has_model and w.session.iteration >= 1, timeout=10_000)
    assert w.inspector.text_edit.toPlainText() == shown == default_probe_text(w.session.model)
