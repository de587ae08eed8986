"""The Look inside panel: a unit's activations as text colours, predictions, unit search, messages, export."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PySide6.QtCore import QEvent, QPoint, Qt  # noqa: E402
from PySide6.QtGui import QHelpEvent, QTextCursor  # noqa: E402
from PySide6.QtWidgets import QToolTip  # noqa: E402

from charrnn_gui.fmt import probability  # noqa: E402
from charrnn_gui.inspector import NEWLINE_MARK, InspectorPanel, activation_color, shown_char  # noqa: E402
from core.config import TrainConfig  # noqa: E402
from core.probe import probe  # noqa: E402
from core.rnn import init_params  # noqa: E402
from core.trainer import Trainer  # noqa: E402
from core.vocab import Vocab  # noqa: E402

POEM = ("the cat sat on the mat.\nthe dog sat on the log.\n[the bird sat on the word.]\n"
        "a cat, a dog, a bird.\n") * 20
VOCAB = Vocab.from_text(POEM)
H = 16
BRACKET_UNIT = 11  # planted: fires inside [...]
SATURATED_UNIT = 4  # planted: a large bias holds it at +1


@pytest.fixture(scope="module")
def trained():
    """A small model trained headlessly on the poem for a few hundred steps."""
    config = TrainConfig(hidden_size=H, seq_length=16, batch_size=4, optimizer="adam", learning_rate=1e-2,
                         val_fraction=0.1, sample_every=0)
    trainer = Trainer(VOCAB.encode(POEM), VOCAB, config)
    for _ in trainer.run(300):
        pass
    return trainer


def planted_params():
    """Small random weights plus two hand-built units: a bracket detector and an always-saturated unit."""
    params = init_params(len(VOCAB), H, seed=3, scale=0.1)
    Wxh, Whh, bh = params["Wxh"], params["Whh"], params["bh"]  # (H, V), (H, H), (H,)
    for unit in (BRACKET_UNIT, SATURATED_UNIT):
        Wxh[unit] = Whh[unit] = bh[unit] = 0.0
    Wxh[BRACKET_UNIT, VOCAB.index["["]] = 4.0  # '[' switches it on ...
    Wxh[BRACKET_UNIT, VOCAB.index["]"]] = -4.0  # ... ']' switches it off ...
    Whh[BRACKET_UNIT, BRACKET_UNIT] = 2.0  # ... and its self-recurrence holds either state
    bh[SATURATED_UNIT] = 5.0
    return params


@pytest.fixture
def panel(qtbot, trained):
    """A panel showing the trained model, with the poem's opening as its probe text."""
    widget = InspectorPanel()
    qtbot.addWidget(widget)
    widget.resize(1100, 700)
    widget.set_source(lambda: {k: v.copy() for k, v in trained.params.items()}, VOCAB, POEM[:200])
    with qtbot.waitExposed(widget):
        widget.show()
    return widget


@pytest.fixture
def planted(qtbot):
    """A panel showing the planted model over the poem's first two stanzas."""
    widget = InspectorPanel()
    qtbot.addWidget(widget)
    widget.resize(1100, 700)
    params = planted_params()
    widget.set_source(lambda: params, VOCAB, POEM[:2 * POEM.index("a cat")])
    with qtbot.waitExposed(widget):
        widget.show()
    return widget


def backgrounds(panel):
    """{document position: background colour} for every character of the coloured view, read from the document."""
    colours = {}
    block = panel.view.document().begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            fragment = it.fragment()
            for offset in range(fragment.length()):
                colours[fragment.position() + offset] = fragment.charFormat().background().color()
            it += 1
        block = block.next()
    return colours


def colour_of(panel, i, colours=None):
    return (colours or backgrounds(panel))[panel.doc_position(i)]


# --- the unit over the text ------------------------------------------------------------------


def test_the_panel_is_named_for_the_main_window_and_needs_no_arguments(qtbot):
    widget = InspectorPanel()
    qtbot.addWidget(widget)
    assert widget.objectName() == "inspectorPanel"
    assert widget.result is None


def test_each_characters_background_is_its_activation_on_the_diverging_scale(panel):
    assert panel.run()
    panel.set_unit(5)
    values = panel.result.hidden[:, 5]  # (L,)
    colours = backgrounds(panel)
    for i, v in enumerate(values):
        colour = colour_of(panel, i, colours)
        assert colour == activation_color(v)
        if v > 0.05:
            assert colour.red() > colour.blue()
        if v < -0.05:
            assert colour.blue() > colour.red()


def test_stronger_activations_are_more_saturated_colours(panel):
    panel.run()
    panel.set_unit(2)
    values = panel.result.hidden[:, 2]  # (L,)
    colours = backgrounds(panel)
    for sign in (1, -1):
        chosen = [i for i in np.argsort(sign * values) if sign * values[i] > 0]
        whiteness = [colour_of(panel, i, colours).green() for i in chosen]  # green fades towards both ends
        assert whiteness == sorted(whiteness, reverse=True)
        assert len(chosen) > 3


def test_invisible_and_tiny_characters_are_named():
    assert shown_char("\n") == "↵ newline"
    assert shown_char(" ") == "␣ space"
    assert shown_char(":") == ": colon"
    assert shown_char("q") == "q"


def test_the_scale_runs_blue_white_red():
    assert activation_color(0.0).name() == "#ffffff"
    assert activation_color(1.0).red() > 150 and activation_color(1.0).blue() < 60
    assert activation_color(-1.0).blue() > 150 and activation_color(-1.0).red() < 60
    assert activation_color(3.0) == activation_color(1.0)


def test_newlines_stay_newlines_and_carry_a_coloured_mark(panel):
    panel.run()
    text = panel.result.text
    doc = panel.view.document()
    assert doc.blockCount() == text.count("\n") + 1
    assert doc.toPlainText() == text.replace("\n", NEWLINE_MARK + "\n")
    first_newline = text.index("\n")
    assert doc.characterAt(panel.doc_position(first_newline)) == NEWLINE_MARK
    assert colour_of(panel, first_newline) == activation_color(panel.result.hidden[first_newline, panel.unit])


def test_choosing_another_unit_recolours_the_text_and_says_so(panel, qtbot):
    panel.run()
    panel.set_unit(3)
    before = backgrounds(panel)
    with qtbot.waitSignal(panel.unitChanged) as signal:
        panel.unit_spin.setValue(9)
    assert signal.args == [9]
    assert panel.unit == 9
    assert "Unit 9" in panel.view_box.title()
    assert backgrounds(panel) != before
    assert colour_of(panel, 0) == activation_color(panel.result.hidden[0, 9])


def test_set_unit_before_the_first_probe_is_remembered(panel):
    panel.set_unit(7)
    panel.run()
    assert panel.unit == 7 and panel.unit_spin.value() == 7
    assert colour_of(panel, 0) == activation_color(panel.result.hidden[0, 7])


def test_units_beyond_the_model_are_clamped(panel):
    panel.run()
    panel.set_unit(500)
    assert panel.unit == H - 1


def test_hovering_a_character_tells_its_character_unit_and_value(panel, qtbot):
    panel.run()
    panel.set_unit(1)
    i = 4
    assert panel.describe_char(i).startswith(f"'{panel.result.text[i]}' (character {i}) · unit 1: "
                                             f"{panel.result.hidden[i, 1]:+.3f}")
    cursor = QTextCursor(panel.view.document())
    cursor.setPosition(panel.doc_position(i))
    rect = panel.view.cursorRect(cursor)
    point = QPoint(rect.left() + 3, rect.center().y())
    event = QHelpEvent(QEvent.ToolTip, point, panel.view.viewport().mapToGlobal(point))
    panel.eventFilter(panel.view.viewport(), event)
    qtbot.waitUntil(QToolTip.isVisible, timeout=2000)
    assert QToolTip.text() == panel.describe_char(i)
    QToolTip.hideText()


# --- predictions -----------------------------------------------------------------------------


def test_predictions_follow_the_character_before_the_cursor(panel):
    panel.run()
    i = POEM.index("sat")  # after reading "the cat s"... the model should expect "a"
    cursor = panel.view.textCursor()
    cursor.setPosition(panel.doc_position(i) + 1)
    panel.view.setTextCursor(cursor)
    assert panel.prediction_index() == i
    ids, probs = panel.result.top_k(5)
    table = panel.predictions_table
    for row in range(5):
        assert table.item(row, 0).text() == shown_char(VOCAB.chars[ids[i, row]])
        assert table.item(row, 1).text() == probability(probs[i, row])
    assert table.item(0, 0).text() == "a"  # a few hundred steps are enough to learn "sat"
    assert table.item(0, 0).font().bold()  # the character that came next is in bold
    assert "Actually next: <b>a</b>" in panel.actual_label.text()
    assert probability(panel.result.actual_prob[i]) in panel.actual_label.text()
    assert "the cat s</b>" in panel.context_label.text()


def test_clicking_just_after_a_character_shows_its_predictions_and_underlines_it(panel, qtbot):
    panel.run()
    i = POEM.index("dog")
    cursor = QTextCursor(panel.view.document())
    cursor.setPosition(panel.doc_position(i) + 1)
    rect = panel.view.cursorRect(cursor)
    qtbot.mouseClick(panel.view.viewport(), Qt.LeftButton, pos=QPoint(rect.left() + 1, rect.center().y()))
    assert panel.prediction_index() == i
    assert "the d</b>" in panel.context_label.text()
    (mark,) = panel.view.extraSelections()
    assert (mark.cursor.selectionStart(), mark.cursor.selectionEnd()) == (panel.doc_position(i),
                                                                          panel.doc_position(i) + 1)
    assert mark.format.fontUnderline()


def test_the_predictions_toggle_hides_and_shows_them(panel):
    panel.run()
    assert panel.predictions_table.isVisible()
    panel.predictions_toggle.setChecked(False)
    assert not panel.predictions_table.isVisible()
    panel.predictions_toggle.setChecked(True)
    assert panel.predictions_table.isVisible()


def test_the_probes_bits_per_char_is_shown(panel):
    panel.run()
    assert f"{panel.result.bits_per_char:.2f} bits/char" in panel.info_label.text()
    assert "200 characters" in panel.info_label.text()


# --- unit search -----------------------------------------------------------------------------


def test_selecting_a_bracketed_passage_finds_the_bracket_unit_and_shows_it(planted, qtbot):
    planted.run()
    planted.set_unit(0)
    text = planted.result.text
    start, stop = text.index("["), text.index("]") + 1
    planted.select_span(start, stop)
    assert planted.selected_span() == (start, stop)
    assert planted.find_button.isEnabled()
    qtbot.mouseClick(planted.find_button, Qt.LeftButton)
    assert planted.listed_units()[0] == BRACKET_UNIT
    assert planted.unit_list.count() == 10
    assert planted.unit == BRACKET_UNIT  # the best unit is shown straight away
    assert colour_of(planted, start + 3).red() > 150  # red inside the brackets ...
    assert colour_of(planted, stop + 3).blue() > 150  # ... blue after them


def test_clicking_a_listed_unit_shows_it_over_the_text(planted, qtbot):
    planted.run()
    text = planted.result.text
    planted.select_span(text.index("["), text.index("]") + 1)
    planted.find_units_for_selection()
    third = planted.unit_list.item(2)
    unit = third.data(Qt.UserRole)
    rect = planted.unit_list.visualItemRect(third)
    qtbot.mouseClick(planted.unit_list.viewport(), Qt.LeftButton, pos=rect.center())
    assert planted.unit_spin.value() == unit
    assert colour_of(planted, 0) == activation_color(planted.result.hidden[0, unit])


def test_listing_the_most_saturated_units_finds_the_planted_one(planted):
    planted.run()
    assert planted.list_units("most saturated")
    assert planted.listed_units()[0] == SATURATED_UNIT
    assert "most saturated" in planted.list_label.text()
    planted.ranking_combo.activated.emit(planted.ranking_combo.findText("most variable"))
    assert "most variable" in planted.list_label.text()


def test_finding_units_without_a_selection_asks_for_one(planted):
    planted.run()
    assert not planted.find_button.isEnabled()
    assert not planted.find_units_for_selection()
    assert "Select a passage" in planted.message()


def test_a_selection_of_the_whole_text_cannot_be_contrasted_and_says_so(planted):
    planted.run()
    planted.select_span(0, len(planted.result.text))
    assert not planted.find_units_for_selection()
    assert "select a part of it" in planted.message()


def test_a_selection_over_a_newline_maps_back_to_the_text(planted):
    planted.run()
    text = planted.result.text
    newline = text.index("\n")
    planted.select_span(newline - 2, newline + 3)
    assert planted.selected_span() == (newline - 2, newline + 3)


# --- messages --------------------------------------------------------------------------------


def test_without_a_model_run_explains_instead_of_crashing(qtbot):
    widget = InspectorPanel()
    qtbot.addWidget(widget)
    widget.set_text("hello")
    assert not widget.run()
    assert "No model yet" in widget.message()
    widget.set_source(lambda: None, VOCAB)
    assert not widget.run()
    assert "No model yet" in widget.message()


def test_unknown_characters_are_named_and_the_last_probe_stays(panel):
    panel.run()
    shown = panel.result
    panel.set_text("the cat sat on the QUEEN~")
    assert not panel.run()
    message = panel.message()
    for ch in "QUEN~":
        assert repr(ch) in message
    assert panel.result is shown
    panel.set_text("the cat")
    assert panel.run()
    assert panel.message() == ""


def test_an_empty_probe_text_is_refused(panel):
    panel.set_text("")
    assert not panel.run()
    assert "empty" in panel.message()


def test_editing_the_text_after_a_probe_says_it_needs_a_new_run(panel):
    panel.run()
    panel.set_text("the dog")
    assert "Run probe again" in panel.info_label.text()


def test_the_default_text_does_not_overwrite_the_users_own(panel, trained):
    get = lambda: trained.params  # noqa: E731
    panel.set_source(get, VOCAB, "the dog sat")
    assert panel.text_edit.toPlainText() == "the dog sat"  # the old default was untouched: replaced
    panel.set_text("my own text")
    panel.set_source(get, VOCAB, "the log")
    assert panel.text_edit.toPlainText() == "my own text"


# --- live use --------------------------------------------------------------------------------


def test_auto_run_reprobes_every_n_iterations_with_fresh_weights(qtbot):
    calls = []
    params = planted_params()

    def get_params():
        calls.append(1)
        return params

    widget = InspectorPanel()
    qtbot.addWidget(widget)
    widget.set_source(get_params, VOCAB, "the cat")
    assert not widget.maybe_auto_run(10)  # off by default
    widget.auto_check.setChecked(True)
    widget.auto_spin.setValue(100)
    ran = [it for it in (10, 50, 109, 110, 150, 210, 5) if widget.maybe_auto_run(it)]
    assert ran == [10, 110, 210, 5]  # a reset (iteration going back) re-runs at once
    assert len(calls) == 4
    assert "iteration 5" in widget.info_label.text()


def test_a_rerun_keeps_the_unit_the_selection_and_the_scroll(panel):
    panel.set_text(POEM[:1500])
    panel.run()
    panel.set_unit(6)
    panel.select_span(30, 40)
    panel.view.verticalScrollBar().setValue(panel.view.verticalScrollBar().maximum() // 2)
    scroll = panel.view.verticalScrollBar().value()
    assert panel.run()
    assert panel.unit == 6
    assert panel.selected_span() == (30, 40)
    assert panel.view.verticalScrollBar().value() == scroll


def test_recolouring_for_another_unit_is_one_edit_of_the_document(panel):
    # One edit block per unit: the document relays out once, not once per character (2,000 separate
    # inserts took seconds). How fast that is belongs to the benchmarks, not to a timed test.
    panel.set_text(POEM[:2000])
    panel.run()
    changes = []
    panel.view.document().contentsChange.connect(lambda *args: changes.append(args))
    for unit in range(5):
        panel.set_unit(unit)
    assert 0 < len(changes) <= 5 * 3  # per unit at most: the clear, the block format, the one rebuild
    last = len(panel.result.text) - 1
    assert panel.unit == 4 and colour_of(panel, last) == activation_color(panel.result.hidden[last, 4])


def test_probing_reads_the_same_hidden_states_as_the_engine(panel, trained):
    panel.run()
    expected = probe(trained.params, VOCAB, POEM[:200]).hidden
    np.testing.assert_array_equal(panel.result.hidden, expected)


# --- export ----------------------------------------------------------------------------------


def test_exported_html_keeps_the_colours(panel, tmp_path):
    panel.run()
    panel.set_unit(3)
    path = tmp_path / "unit.html"
    panel.export_html(path)
    html = path.read_text(encoding="utf-8").lower()
    assert "unit 3" in html
    values = panel.result.hidden[:, 3]
    for i in (int(values.argmax()), int(values.argmin())):
        assert f"background-color:{activation_color(values[i]).name()}" in html


def test_exported_png_is_a_picture_of_the_coloured_text(panel, tmp_path):
    panel.run()
    path = tmp_path / "unit.png"
    assert panel.export_png(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_tiny_probabilities_keep_two_significant_digits_instead_of_reading_zero():
    assert probability(0.515) == "51.5%"
    assert probability(0.0012) == "0.1%"
    assert probability(0.00033) == "0.033%"  # a 3,000-character vocabulary's uniform guess
    assert probability(0.0) == "0.0%"
