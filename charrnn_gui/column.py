"""The left column's scroll area: scrolls vertically only, and is always as wide as its contents need."""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import QFrame, QScrollArea, QStyle, QWidget


class ColumnScrollArea(QScrollArea):
    """A column of controls that never cuts anything at its right edge.

    Its minimum width is the column's minimum width plus a vertical scroll bar (shown or not), and it
    follows the column whenever the column's layout changes (another font, a longer label, a new
    control), so the preset combo, the spin boxes and the notes fit on any desktop and any window size.
    """

    def __init__(self, column: QWidget, parent=None):
        super().__init__(parent)
        self.setWidget(column)
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFrameShape(QFrame.Shape.NoFrame)
        column.installEventFilter(self)
        self.fit_width()

    def needed_width(self) -> int:
        """Pixels the column needs, its vertical scroll bar and the frame included."""
        column = self.widget()
        bar = self.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent, None, self.verticalScrollBar())
        return max(column.sizeHint().width(), column.minimumWidth()) + bar + 2 * self.frameWidth()

    def fit_width(self) -> None:
        needed = self.needed_width()
        if self.minimumWidth() != needed:
            self.setMinimumWidth(needed)

    def eventFilter(self, watched, event) -> bool:
        if watched is self.widget() and event.type() in (QEvent.Type.LayoutRequest, QEvent.Type.FontChange,
                                                         QEvent.Type.StyleChange):
            self.fit_width()
        return super().eventFilter(watched, event)
