"""LSTM and GRU in the app: the Model settings choose the cell, layers and dropout; the heatmap and the Look inside
tab show every state and gate of every layer on its own colour scale; every view works for every cell."""

from __future__ import annotations

import math

import numpy as np
import pytest

import core
from charrnn_gui.heatmap import HiddenHeatmap
from charrnn_gui.inspector import InspectorPanel
from charrnn_gui.settings_panel import CELL_TIPS, SettingsPanel
from charrnn_gui.states import STATE_LABELS, scale_for
from core.model import STATE_NAMES, STATE_RANGES, describe
from core.probe import probe, rank_span

from .helpers import SMALL_TEXT, open_file_via_dialog, shown, use_small_settings, wait_iterations


def combo_entries(combo):
    return [combo.itemData(i) if combo.itemData(i) is not None else combo.itemText(i) for i in range(combo.count())]


def fake_states(cell, layers, n=30, H=6, seed=0):
    """States as core gives them (one dict per layer), in each state's own range; c reaches ±3.5 or so."""
    rng = np.random.default_rng(seed)
    states = []
    for _ in range(layers):
        layer = {}
        for name in STATE_NAMES[cell]:
            bounds = STATE_RANGES[name]
            layer[name] = rng.uniform(-3.5, 3.5, (n, H)) if bounds is None else rng.uniform(*bounds, (n, H))
        states.append(layer)
    return states


# --- the Model settings ----------------------------------------------------------------------------


def test_the_model_settings_choose_cell_layers_and_dropout(qtbot):
    panel = SettingsPanel()
    qtbot.addWidget(panel)
    assert combo_entries(panel.cell_combo) == ["rnn", "lstm", "gru"]
    assert panel.config().cell == "rnn" and panel.config().num_layers == 1  # the lesson stays the default
    panel.cell_combo.setCurrentIndex(panel.cell_combo.findData("lstm"))
    panel.layers_spin.setValue(2)
    panel.dropout_spin.setValue(0.1)
    cfg = panel.config()
    assert (cfg.cell, cfg.num_layers, cfg.dropout) == ("lstm", 2, 0.1)
    assert panel.cell_combo.toolTip() == CELL_TIPS["lstm"]
    assert "added to, not multiplied" in panel.cell_combo.toolTip()


def test_a_config_without_a_preset_names_the_preset_of_its_shape_or_none(qtbot):
    import core

    panel = SettingsPanel()
    qtbot.addWidget(panel)
    panel.show_config(core.preset("gru", learning_rate=0.02))  # e.g. a checkpoint written by charrnn-train
    assert panel.preset_combo.currentData() == "gru" and panel.preset_name == "gru"
    panel.show_config(core.preset("gru", num_layers=2))  # no preset has this model
    assert panel.preset_combo.currentIndex() == -1 and panel.preset_name is None
    assert panel.preset_combo.currentText() == "" and "custom" in panel.preset_combo.placeholderText()
    assert panel.config().num_layers == 2


def test_every_cell_has_a_one_line_tip(qtbot):
    panel = SettingsPanel()
    qtbot.addWidget(panel)
    from PySide6.QtCore import Qt

    for i in range(panel.cell_combo.count()):
        tip = panel.cell_combo.itemData(i, Qt.ItemDataRole.ToolTipRole)
        assert tip and "\n" not in tip and tip.startswith(panel.cell_combo.itemData(i).upper())


def test_dropout_waits_for_a_second_layer(qtbot):
    panel = SettingsPanel()
    qtbot.addWidget(panel)
    panel.layers_spin.setValue(2)
    panel.dropout_spin.setValue(0.2)
    assert panel.dropout_spin.isEnabled()
    panel.layers_spin.setValue(1)
    assert not panel.dropout_spin.isEnabled() and "2 or more layers" in panel.dropout_spin.toolTip()
    assert panel.config().dropout == 0.0  # one layer: nothing between layers to drop, and no error
    panel.layers_spin.setValue(3)
    assert panel.config().dropout == 0.2  # the value comes back with the layers


def test_cell_layers_and_dropout_are_locked_while_a_model_exists(qtbot):
    panel = SettingsPanel()
    qtbot.addWidget(panel)
    panel.layers_spin.setValue(2)
    panel.set_model_exists(True)
    assert not panel.cell_combo.isEnabled() and not panel.layers_spin.isEnabled()
    assert not panel.dropout_spin.isEnabled()
    panel.set_model_exists(False)
    assert panel.cell_combo.isEnabled() and panel.layers_spin.isEnabled() and panel.dropout_spin.isEnabled()


def test_the_gated_presets_are_offered_and_set_their_cell(qtbot):
    panel = SettingsPanel()
    qtbot.addWidget(panel)
    presets = combo_entries(panel.preset_combo)
    assert {"min-char-rnn", "fast", "lstm", "gru"} <= set(presets)
    for name in ("lstm", "gru"):
        panel.preset_combo.activated.emit(panel.preset_combo.findData(name))
        assert panel.cell_combo.currentData() == name
        assert panel.config().cell == name and panel.config().hidden_size == core.PRESETS[name].hidden_size


@pytest.mark.parametrize("cell,layers", [("rnn", 1), ("rnn", 2), ("lstm", 2), ("gru", 3)])
def test_the_weight_count_is_the_models(qtbot, cell, layers):
    panel = SettingsPanel()
    qtbot.addWidget(panel)
    vocab = core.Vocab.from_text(SMALL_TEXT)
    panel.set_vocab_size(len(vocab))
    panel.cell_combo.setCurrentIndex(panel.cell_combo.findData(cell))
    panel.layers_spin.setValue(layers)
    panel.hidden_spin.setValue(10)
    trainer = core.Trainer(vocab.encode(SMALL_TEXT * 4), vocab, panel.config().replace(val_fraction=0.0))
    n = sum(p.size for p in trainer.params.values())
    assert panel.params_label.text().startswith(f"{n:,} weights")


def test_cell_and_layers_are_remembered_across_sessions(make_window):
    w = make_window()
    use_small_settings(w, cell="gru", num_layers=3, dropout=0.25)
    w.close()  # saves the settings
    again = make_window(small=False)
    cfg = again.settings_panel.config()
    assert (cfg.cell, cfg.num_layers, cfg.dropout) == ("gru", 3, 0.25)
    assert again.settings_panel.cell_combo.currentData() == "gru" and again.settings_panel.layers_spin.value() == 3


def test_a_checkpoint_reopens_with_its_cell_and_layers_shown(make_window, qtbot, dialogs, small_corpus_file,
                                                             tmp_path):
    w = make_window()
    use_small_settings(w, cell="lstm", num_layers=2, dropout=0.1)
    open_file_via_dialog(w, dialogs, qtbot, small_corpus_file)
    w.step_once()
    qtbot.waitUntil(lambda: w.session.has_model and w.session.iteration >= 1 and w.session.state != "running",
                    timeout=10_000)
    path = tmp_path / "lstm.npz"
    assert w.save_checkpoint(path=str(path))
    w.close()
    other = make_window()  # small settings: rnn, one layer
    open_file_via_dialog(other, dialogs, qtbot, small_corpus_file)
    assert other.settings_panel.cell_combo.currentData() == "rnn"
    with qtbot.waitSignal(other.session.checkpointOpened, timeout=10_000):  # once its engine has opened it
        other.open_checkpoint(path=str(path))
    s = other.settings_panel
    assert (s.cell_combo.currentData(), s.layers_spin.value(), s.dropout_spin.value()) == ("lstm", 2, 0.1)
    assert not s.cell_combo.isEnabled()  # a model exists
    cfg = other.session.model.config
    assert (cfg.cell, cfg.num_layers) == ("lstm", 2)
    arch = describe(other.session.weights()[1])  # the weights the engine opened
    assert arch.cell == "lstm" and arch.layers == 2


# --- the heatmap ------------------------------------------------------------------------------------


@pytest.fixture
def heatmap(qtbot):
    return shown(qtbot, HiddenHeatmap(), 800, 320)


def test_the_lessons_model_shows_only_h(heatmap):
    text = "hello world"
    heatmap.set_sample(text, np.linspace(-1, 1, len(text) * 4).reshape(len(text), 4))
    state, layer = heatmap.chooser.state_combo, heatmap.chooser.layer_combo
    assert state.objectName() == "stateCombo" and layer.objectName() == "layerCombo"
    assert combo_entries(state) == ["h"] and not state.isEnabled()
    assert not layer.isVisibleTo(heatmap)
    assert tuple(heatmap.image.levels) == (-1.0, 1.0)
    assert heatmap.caption.text().startswith("Hidden state h, [-1, 1] (tanh), while writing the sample")


def test_an_lstm_offers_h_c_and_every_gate_of_every_layer(heatmap):
    states = fake_states("lstm", 2)
    heatmap.set_sample("x" * 30, states, "the sample at iteration 7")
    chooser = heatmap.chooser
    assert combo_entries(chooser.state_combo) == ["h", "c", "i", "f", "o", "g"]
    assert chooser.state_combo.isEnabled() and chooser.layer_combo.isVisibleTo(heatmap)
    assert chooser.layer_combo.count() == 2 and chooser.layer == 1  # the top layer first: what is read out
    for layer in range(2):
        chooser.layer_combo.setCurrentIndex(layer)
        for index in range(chooser.state_combo.count()):
            chooser.state_combo.setCurrentIndex(index)
            name = chooser.name
            values = states[layer][name]
            np.testing.assert_array_equal(heatmap.image.image, values.T.astype(np.float32))  # (H, n)
            lo, hi = heatmap.image.levels
            if name == "c":  # unbounded: a symmetric scale as wide as the data, with its numbers on the bar
                reach = np.abs(values).max()
                assert (lo, hi) == pytest.approx((-reach, reach)) and reach > 1.5
                assert "unbounded" in heatmap.colorbar.getAxis("left").labelText
                assert "unbounded" in heatmap.caption.text() and f"±{reach:.2g}" in heatmap.caption.text()
            elif name in ("i", "f", "o"):
                assert (lo, hi) == (0.0, 1.0) and "sigmoid" in heatmap.caption.text()
            else:
                assert (lo, hi) == (-1.0, 1.0)
            assert tuple(heatmap.colorbar.values) == (lo, hi)
            assert f"layer {layer + 1}" in heatmap.caption.text()


def test_a_few_counting_cell_units_do_not_wash_out_the_heatmaps_scale(heatmap):
    states = fake_states("lstm", 1, n=40, H=30)
    c = states[0]["c"]  # (n, H), within about ±3.5
    c[:, 4] = np.linspace(0.0, 700.0, 40)  # a unit that counts, as trained LSTMs grow them
    c[:, 11] = -250.0
    heatmap.set_sample("x" * 40, states)
    heatmap.chooser.choose("c", 0)
    lo, hi = heatmap.image.levels
    reaches = np.sort(np.abs(c).max(axis=0))
    assert hi == pytest.approx(np.quantile(reaches, 0.9, method="lower")) and lo == -hi
    assert hi < 4.0  # the other units keep their colours; on a ±700 scale they were all white
    assert "90% of the units" in heatmap.caption.text() and "90% of units" in heatmap.colorbar.getAxis("left").labelText
    counting = heatmap.scale.amounts(c[:, 4])
    assert counting[-1] == 1.0 and heatmap.scale.amounts(c[:, 11]).max() == -1.0  # beyond: the scale's end colours


def test_gates_are_drawn_white_to_purple_and_tanh_states_blue_white_red(heatmap):
    heatmap.set_sample("x" * 30, fake_states("gru", 1))
    heatmap.chooser.choose("z", 0)
    assert heatmap.colorbar.colorMap() is heatmap.gate_cmap
    assert tuple(heatmap.gate_cmap.map(0.0, mode="byte")[:3]) == (255, 255, 255)  # a shut gate: white
    heatmap.chooser.choose("h", 0)
    assert heatmap.colorbar.colorMap() is heatmap.cmap
    heatmap.chooser.choose("r", 0)
    assert heatmap.colorbar.colorMap() is heatmap.gate_cmap


def test_a_gru_offers_its_update_and_reset_gates(heatmap):
    heatmap.set_sample("x" * 30, fake_states("gru", 1))
    assert combo_entries(heatmap.chooser.state_combo) == ["h", "z", "r", "g"]
    assert not heatmap.chooser.layer_combo.isVisibleTo(heatmap)  # one layer: nothing to choose
    for name in ("z", "r"):
        assert STATE_LABELS[name].endswith("gate")


def test_the_choice_survives_the_next_sample(heatmap):
    heatmap.set_sample("x" * 30, fake_states("lstm", 2, seed=1))
    heatmap.chooser.choose("f", 0)
    newer = fake_states("lstm", 2, seed=2)
    heatmap.set_sample("y" * 30, newer)
    assert (heatmap.chooser.name, heatmap.chooser.layer) == ("f", 0)
    np.testing.assert_array_equal(heatmap.values, newer[0]["f"])


def test_hovering_names_the_state_and_layer(heatmap):
    states = fake_states("lstm", 2)
    heatmap.set_sample("abcdefghij" * 3, states)
    heatmap.chooser.choose("c", 0)
    assert heatmap.show_cell(2, 5).endswith(f"c (layer 1) {states[0]['c'][5, 2]:+.3f}")


# --- the Look inside tab ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lstm_trainer():
    vocab = core.Vocab.from_text(SMALL_TEXT)
    cfg = core.TrainConfig(cell="lstm", num_layers=2, dropout=0.1, hidden_size=12, seq_length=16, batch_size=4,
                           optimizer="adam", learning_rate=1e-2, init_scale=0.3, val_fraction=0.0, sample_every=0)
    trainer = core.Trainer(vocab.encode(SMALL_TEXT * 20), vocab, cfg)
    for _ in trainer.run(80):
        pass
    return trainer


@pytest.fixture
def lstm_panel(qtbot, lstm_trainer):
    panel = shown(qtbot, InspectorPanel(), 1100, 700)
    panel.set_source(lambda: {k: v.copy() for k, v in lstm_trainer.params.items()}, lstm_trainer.vocab,
                     SMALL_TEXT * 2)
    assert panel.run()
    return panel


def test_look_inside_colours_the_text_by_the_chosen_state_on_its_scale(lstm_panel, lstm_trainer):
    from .test_inspector import backgrounds, colour_of

    expected = probe(lstm_trainer.params, lstm_trainer.vocab, SMALL_TEXT * 2)
    lstm_panel.set_unit(3)
    for layer in range(2):
        for name in STATE_NAMES["lstm"]:
            assert lstm_panel.show_state(name, layer) or (lstm_panel.chooser.name, lstm_panel.chooser.layer) == (
                name, layer)
            values = expected.states[layer][name]  # (L, H)
            np.testing.assert_array_equal(lstm_panel.values(), values)
            scale = scale_for(name, values[:, 3])  # the cell state: as wide as this unit's largest |c|
            assert lstm_panel.legend.labels() == [label for _, label in scale.ends]
            colours = backgrounds(lstm_panel)
            for i in (0, 7, 30):
                assert colour_of(lstm_panel, i, colours) == scale.color(values[i, 3])
            assert f"layer {layer + 1}" in lstm_panel.view_box.title()


def test_the_cell_states_legend_gives_the_units_data_range(lstm_panel):
    lstm_panel.show_state("c", 1)
    unit = int(np.abs(lstm_panel.values()).max(axis=0).argmax())
    lstm_panel.set_unit(unit)
    reach = np.abs(lstm_panel.values()[:, unit]).max()
    assert reach > 1.0  # beyond tanh's range, so a [-1, 1] scale would have clipped it
    assert lstm_panel.legend.labels() == [f"−{reach:.2g}", "0", f"+{reach:.2g}"]
    assert "unbounded" in lstm_panel.legend.toolTip()


def test_span_ranking_uses_the_chosen_state(lstm_panel):
    text = lstm_panel.result.text
    start, stop = text.index("bird"), text.index("bird") + 4
    for name, layer in (("c", 0), ("f", 1), ("h", 1)):
        lstm_panel.show_state(name, layer)
        lstm_panel.select_span(start, stop)
        assert lstm_panel.find_units_for_selection()
        assert lstm_panel.ranking() == rank_span(lstm_panel.result.states[layer][name], start, stop, k=10)
        assert lstm_panel.unit == lstm_panel.ranking()[0][0]


def test_switching_state_clears_a_ranking_of_another_states_units(lstm_panel):
    lstm_panel.show_state("i", 0)
    assert lstm_panel.list_units("most saturated")
    lstm_panel.show_state("o", 0)
    assert lstm_panel.listed_units() == [] and "output gate o of layer 1" in lstm_panel.list_label.text()


def test_the_unit_list_marks_the_unit_shown_or_nothing(lstm_panel):
    assert lstm_panel.list_units("most variable")
    listed = lstm_panel.listed_units()
    lstm_panel.set_unit(listed[3])
    assert lstm_panel.unit_list.currentRow() == 3
    lstm_panel.set_unit(next(u for u in range(12) if u not in listed))
    assert lstm_panel.unit_list.currentRow() == -1 and not lstm_panel.unit_list.selectedItems()


def test_the_cell_state_cannot_be_ranked_by_saturation_and_says_why(lstm_panel):
    lstm_panel.show_state("c", 1)
    assert not lstm_panel.list_units("most saturated")
    assert "unbounded" in lstm_panel.message()
    assert lstm_panel.list_units("most variable")
    assert not lstm_panel.message()


# --- the whole app, trained ------------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_every_view_works_for_a_two_layer_gated_model_trained_from_the_app(make_window, qtbot, dialogs,
                                                                           small_corpus_file, cell):
    w = make_window()
    use_small_settings(w, cell=cell, num_layers=2, dropout=0.1)
    open_file_via_dialog(w, dialogs, qtbot, small_corpus_file)
    w.inspector.auto_check.setChecked(True)
    w.inspector.auto_spin.setValue(100)
    probed = []
    w.inspector.probed.connect(lambda result: probed.append(len(result.states)))
    w.start()
    wait_iterations(w, qtbot, 300, timeout=60_000)
    qtbot.waitUntil(lambda: len(probed) >= 2, timeout=15_000)  # auto re-run, with every layer's states
    w.pause()
    cfg = w.session.model.config
    assert (cfg.cell, cfg.num_layers, cfg.hidden_size, len(w.session.model.vocab)) == (cell, 2, 16, len(w.session.corpus.vocab))
    assert describe(w.session.weights()[1]) == (cell, 2, 16, len(w.session.corpus.vocab))  # the engine's model
    assert set(probed) == {2}
    qtbot.waitUntil(lambda: len(w.loss_panel.history) == w.session.iteration, timeout=5000)
    assert np.isfinite(w.loss_panel.history.loss.view).all()
    assert len(w.samples_panel.records) >= 10
    w.refresh_now()
    heat = w.heatmap
    assert heat.text == w.samples_panel.records[-1].text
    chooser = heat.chooser
    assert combo_entries(chooser.state_combo) == list(STATE_NAMES[cell]) and chooser.layer_combo.count() == 2
    n = len(heat.text)
    for layer in range(2):
        chooser.layer_combo.setCurrentIndex(layer)
        for index in range(chooser.state_combo.count()):
            chooser.state_combo.setCurrentIndex(index)
            assert heat.image.image.shape == (16, n)  # (H, characters)
            bounds = STATE_RANGES[chooser.name]
            lo, hi = heat.image.levels
            if bounds is None:  # ±the largest |c|, or ±90% of the units' reach when a few count far beyond it
                reaches = np.abs(heat.values).max(axis=0)  # (H,) each unit's largest |c|
                typical = np.quantile(reaches, 0.9, method="lower")
                wide = reaches.max() if reaches.max() <= 3.0 * typical else typical
                assert hi == pytest.approx(-lo) and hi == pytest.approx(wide)
            else:
                assert (lo, hi) == bounds
                assert bounds[0] <= heat.values.min() and heat.values.max() <= bounds[1]
    # A click on a row of a gate in the heatmap shows that unit of that gate in the Look inside tab.
    chooser.choose(STATE_NAMES[cell][1], 0)
    heat.unitClicked.emit(5)
    assert (w.inspector.chooser.name, w.inspector.chooser.layer, w.inspector.unit) == (STATE_NAMES[cell][1], 0, 5)
    # Rank a span in the inspector: the newest probe, in every state.
    w.tabs.setCurrentWidget(w.inspector)
    assert w.inspector.run()
    text = w.inspector.result.text
    start = text.index("the")
    for index in range(w.inspector.chooser.state_combo.count()):
        w.inspector.chooser.state_combo.setCurrentIndex(index)
        w.inspector.select_span(start, start + 3)
        assert w.inspector.find_units_for_selection(), w.inspector.message()
        assert len(w.inspector.listed_units()) == 10
    # Sample Now shows the sample's states too.
    w.samples_panel.sample_button.click()
    assert heat.text == w.samples_panel.records[-1].text and len(heat.states) == 2
    assert not dialogs.texts("warning"), dialogs.messages


def test_a_stacked_tanh_model_offers_layers_but_only_h(make_window, qtbot, dialogs, small_corpus_file):
    w = make_window()
    use_small_settings(w, num_layers=2)
    open_file_via_dialog(w, dialogs, qtbot, small_corpus_file)
    w.start()
    qtbot.waitUntil(lambda: len(w.samples_panel.records) >= 2, timeout=20_000)
    w.pause()
    w.refresh_now()
    chooser = w.heatmap.chooser
    assert combo_entries(chooser.state_combo) == ["h"] and not chooser.state_combo.isEnabled()
    assert chooser.layer_combo.count() == 2 and chooser.layer_combo.isVisibleTo(w)
    chooser.layer_combo.setCurrentIndex(0)
    assert tuple(w.heatmap.image.levels) == (-1.0, 1.0)
    assert math.isfinite(float(w.heatmap.values.sum()))
