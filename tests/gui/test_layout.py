"""The window's layout on real screen sizes: the left column shows every control whole."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QAbstractButton, QAbstractSpinBox, QApplication, QComboBox, QLabel, QWidget

SIZES = [(1280, 800), (1400, 900), (1920, 1080)]


def _combo_needs(combo: QComboBox) -> int:
    """The width at which every entry of combo shows whole (whatever its own size policy says)."""
    ref = QComboBox()
    ref.setFont(combo.font())
    ref.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
    ref.addItems([combo.itemText(i) for i in range(combo.count())])
    return ref.sizeHint().width()


def column_clipping(window) -> list[str]:
    """Every way the left column cuts a control: past the visible right edge, narrower than its text, or
    a wrapped note shorter than its lines."""
    scroll = window.left_scroll
    column = scroll.widget()
    visible = scroll.viewport().width()
    problems = []
    if column.width() > visible:
        problems.append(f"the column is {column.width()} px wide but only {visible} px show")
    for w in column.findChildren(QWidget):
        if not w.isVisibleTo(column) or w.width() == 0:
            continue
        name = w.objectName() or (w.text() if isinstance(w, (QLabel, QAbstractButton)) else type(w).__name__)
        right = w.mapTo(column, QPoint(w.width(), 0)).x()
        if right > visible:
            problems.append(f"{name}: right edge at {right} px, the column shows {visible} px")
        if isinstance(w, QComboBox):
            needed = _combo_needs(w)
        elif isinstance(w, (QAbstractSpinBox, QAbstractButton)) or (isinstance(w, QLabel) and not w.wordWrap()):
            needed = w.sizeHint().width()
        else:
            needed = 0
        if w.width() < needed:
            problems.append(f"{name}: {w.width()} px wide, needs {needed} px")
        if isinstance(w, QLabel) and w.wordWrap() and w.text() and w.height() < w.heightForWidth(w.width()):
            problems.append(f"{name}: {w.height()} px high, its wrapped lines need {w.heightForWidth(w.width())}")
    return problems


def _settle(qtbot):
    for _ in range(3):
        QApplication.processEvents()
        qtbot.wait(20)


@pytest.mark.parametrize("point_size", [None, 11], ids=["default-font", "11pt-font"])
@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_left_column_shows_every_control_whole(make_window, qtbot, size, point_size):
    window = make_window()
    if point_size is not None:  # a desktop's larger interface font (GNOME, KDE: 10-11 pt)
        window.setFont(QFont(window.font().family(), point_size))
    window.resize(*size)
    _settle(qtbot)
    assert column_clipping(window) == []
    window.step_once()  # a model exists: the shape is locked and the lock note shows
    qtbot.waitUntil(lambda: window.session.has_model and window.session.iteration == 1, timeout=10_000)
    _settle(qtbot)
    assert window.settings_panel.lock_note.isVisible()
    assert column_clipping(window) == []


def test_left_column_follows_a_longer_label(make_window, qtbot):
    window = make_window()
    window.resize(1400, 900)
    _settle(qtbot)
    before = window.left_scroll.width()
    window.settings_panel.preset_combo.addItem("a preset with a much longer description than the others", "x")
    _settle(qtbot)
    assert window.left_scroll.width() > before
    assert column_clipping(window) == []
