"""The hidden-state heatmap: units (rows) by the characters of a sample (columns), for any state of any layer.

The chooser above it (stateCombo, layerCombo) picks the hidden state h, or for an LSTM the cell state c and the
gates i, f, o, g, for a GRU the gates z, r, g; the colour bar shows each one's scale (see charrnn_gui/states.py).
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QGraphicsRectItem, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from .fmt import display_char
from .samples import monospace_font
from .states import StateChooser, as_states, scale_for

MIN_PX_PER_LABEL = 11  # horizontal pixels a character label needs
DEFAULT_PX_PER_CHAR = 12  # initial zoom: every character gets its label (or the whole sample if it fits)


def diverging_colormap() -> pg.ColorMap:
    """Blue (-1) through white (0) to red (+1)."""
    try:
        return pg.colormap.get("CET-D1A")
    except Exception:  # pragma: no cover - bundled with pyqtgraph, but never fatal
        return pg.ColorMap([0.0, 0.5, 1.0], [(40, 70, 200), (245, 245, 245), (200, 30, 30)])


def gate_colormap() -> pg.ColorMap:
    """White (a shut gate, 0) to purple (an open one, 1), as the Look inside tab colours gates."""
    return pg.ColorMap([0.0, 1.0], [(255, 255, 255), (84, 39, 143)])


class CharAxis(pg.AxisItem):
    """A bottom axis labelled with the sample's characters, one tick per column shown.

    pyqtgraph's general tick layout costs ~30 us of Python per label (7 ms for a sample's 80 labels, at every new
    sample while training). Here every label is a single character at a given tick, so the layout is a few lines:
    each distinct label's box is measured once and kept."""

    def __init__(self, **kwargs):
        super().__init__("bottom", **kwargs)
        self._boxes: dict[tuple[str, str], tuple[float, float]] = {}  # (font, label) -> (width, height)

    def _box(self, painter, font: str, text: str) -> tuple[float, float]:
        key = (font, text)
        box = self._boxes.get(key)
        if box is None:
            r = painter.boundingRect(QRectF(0, 0, 100, 100), Qt.AlignmentFlag.AlignCenter, text)
            box = self._boxes[key] = (r.width(), r.height() * 0.8)  # its box is a little too tall, as pyqtgraph finds
        return box

    def generateDrawSpecs(self, p):
        """(axis line, tick lines, label boxes) in this item's coordinates, as AxisItem.drawPicture takes them."""
        if self.style["tickFont"] is not None:
            p.setFont(self.style["tickFont"])
        bounds = self.mapRectFromParent(self.geometry())
        ticks = self._tickLevels[0] if self._tickLevels else []
        lo, hi = self.range
        scale = bounds.width() / (hi - lo) if hi != lo else 1.0
        top, length = bounds.top(), self.style["tickLength"]
        text_top = top + max(0, length) + self.style["tickTextOffset"][1]
        flags = Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextDontClip
        axis_spec = (self.pen(), QPointF(bounds.left() - 1, top + 1), QPointF(bounds.right() + 1, top + 1))
        pen, font = self.tickPen(), p.font().key()
        tick_specs, text_specs, tallest = [], [], 0.0
        for value, text in ticks:
            x = (value - lo) * scale  # pixels from the axis's left end
            if not 0 <= x <= bounds.width():
                continue
            tick_specs.append((pen, QPointF(x, top), QPointF(x, top + length)))
            if self.style["showValues"]:
                w, h = self._box(p, font, text)
                text_specs.append((QRectF(x - w / 2, text_top, w, h), flags, text))
                tallest = max(tallest, h)
        self._updateMaxTextSize(tallest)
        return axis_spec, tick_specs, text_specs


class HiddenHeatmap(QWidget):
    """Heatmap of a sample's states; hover shows unit, character and value; click selects a unit."""

    unitClicked = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("hiddenHeatmap")
        self.text = ""
        self.states: list = []  # one dict per layer: state name -> (len(text), H)
        self.values = np.zeros((0, 0), dtype=np.float32)  # (len(text), H) the state shown
        self.scale = scale_for("h")
        self._what = "the sample"
        self.selected_unit: int | None = None
        self._ticks: list[tuple[float, str]] = []
        self._axis_label = ""
        self._bar_shown = None  # (levels, label) the colour bar shows

        self.caption = QLabel("The hidden state appears here with the first sample: one row per hidden unit, "
                              "one column per character the network wrote.", objectName="heatmapCaption")
        self.caption.setWordWrap(True)
        self.readout = QLabel(" ", objectName="heatmapReadout")
        self.readout.setTextFormat(Qt.TextFormat.PlainText)
        self.readout.setStyleSheet("color: #444;")
        self.chooser = StateChooser()
        self.chooser.changed.connect(self._show_chosen)

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("w")
        self.plot = self.graphics.addPlot(axisItems={"bottom": CharAxis()})
        pi = self.plot
        pi.setMenuEnabled(False)
        pi.hideButtons()
        pi.setLabel("left", "hidden unit")
        vb = pi.getViewBox()
        vb.invertY(True)
        vb.disableAutoRange()
        vb.setMouseEnabled(x=True, y=False)
        for name in ("left", "bottom"):
            pi.getAxis(name).setPen(pg.mkPen(80, 80, 80))
            pi.getAxis(name).setTextPen(pg.mkPen(30, 30, 30))
        tick_font = QFont(monospace_font())
        tick_font.setPointSizeF(max(7.0, tick_font.pointSizeF()))
        pi.getAxis("bottom").setStyle(tickFont=tick_font, tickTextOffset=3, autoExpandTextSpace=True)

        self.cmap = diverging_colormap()
        self.gate_cmap = gate_colormap()
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setColorMap(self.cmap)
        self.image.setLevels((-1.0, 1.0))
        pi.addItem(self.image)
        self.colorbar = pg.ColorBarItem(values=(-1.0, 1.0), colorMap=self.cmap, interactive=False, width=14,
                                        label="activation (tanh)", colorMapMenu=False)
        self.colorbar.setImageItem(self.image, insert_in=pi)
        for side in ("right", "left"):  # the numbers, and the label of the scale
            self.colorbar.getAxis(side).setPen(pg.mkPen(80, 80, 80))
            self.colorbar.getAxis(side).setTextPen(pg.mkPen(30, 30, 30))

        self.selection = QGraphicsRectItem()
        self.selection.setPen(pg.mkPen((20, 20, 20), width=2, cosmetic=True))
        self.selection.setBrush(pg.mkBrush(0, 0, 0, 0))
        self.selection.setVisible(False)
        pi.addItem(self.selection, ignoreBounds=True)

        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.caption, 1)
        top.addWidget(self.chooser, 0, Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 2)
        layout.setSpacing(4)
        layout.addLayout(top)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.readout)

        vb.sigXRangeChanged.connect(self._on_range_changed)
        vb.sigResized.connect(self._on_range_changed)
        self.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.graphics.scene().sigMouseClicked.connect(self._on_mouse_clicked)

    # -- data ----------------------------------------------------------------------------------

    @property
    def hidden(self) -> np.ndarray:
        """(len(text), H) the top layer's hidden state h of the sample shown."""
        return self.states[-1]["h"] if self.states else np.zeros((0, 0), dtype=np.float32)

    def set_sample(self, text: str, states, what: str = "") -> None:
        """Show a sample's states: one dict per layer (bottom first) from a state's name to (len(text), H), as
        core.Sample.states holds them, or just the hidden state (len(text), H). what: which sample it is, for
        the caption (e.g. "the sample at iteration 1,200")."""
        states = as_states(states)
        if not len(text) or not states or any(np.ndim(a) != 2 or len(a) != len(text)
                                              for layer in states for a in layer.values()):
            return
        self.text = text
        self.states = states
        self._what = what or "the sample"
        self.chooser.set_states(states)
        self._show_chosen()

    def _show_chosen(self) -> None:
        """Draw the state the chooser names, on its own colour scale."""
        if not self.states:
            return
        values = np.asarray(self.chooser.values(self.states))  # (n, H)
        same_shape = values.shape == self.values.shape
        self.values = values
        n, H = values.shape
        self.scale = scale = scale_for(self.chooser.name, values, robust=True)  # a few counting units: clipped
        levels = (scale.lo, scale.hi)
        cmap = self.gate_cmap if scale.sequential else self.cmap
        if self.colorbar.colorMap() is not cmap:
            self.colorbar.setColorMap(cmap)
        self.image.setImage(np.ascontiguousarray(values.T, dtype=np.float32), autoLevels=False, levels=levels)
        # The colour bar and the view's limits usually stay as they are from one sample to the next: setting them
        # anyway would have pyqtgraph redo the colour bar's axis and the layout at every sample.
        if (levels, scale.colorbar_label) != self._bar_shown:
            self._bar_shown = (levels, scale.colorbar_label)
            self.colorbar.setLevels(levels)
            self.colorbar.getAxis("left").setLabel(scale.colorbar_label)
        self.image.setRect(QRectF(0, 0, n, H))
        vb = self.plot.getViewBox()
        if not same_shape:
            vb.setLimits(xMin=0, xMax=n, yMin=0, yMax=H, minXRange=min(n, 4))
            vb.setYRange(0, H, padding=0)
        if not same_shape:
            self.reset_view()
        if self.selected_unit is not None and self.selected_unit >= H:
            self.select_unit(None)
        shown = self.chooser.describe()
        self.caption.setText(f"{shown[:1].upper()}{shown[1:]}, {scale.range_text}, while writing {self._what}: "
                             f"{H} units × {n} characters. Hover for values, click a row to select a unit, drag "
                             f"or scroll along the text.")
        self._update_ticks()

    def clear(self) -> None:
        self.text = ""
        self.states = []
        self.values = np.zeros((0, 0), dtype=np.float32)
        self.image.clear()
        self._ticks = []
        self.plot.getAxis("bottom").setTicks([[]])
        self.select_unit(None)
        self.readout.setText(" ")

    def reset_view(self) -> None:
        """Show the start of the sample at a readable width (all of it if it fits)."""
        n = len(self.text)
        if not n:
            return
        vb = self.plot.getViewBox()
        width_px = max(200.0, vb.width() or 800.0)
        fit = max(8, int(width_px / DEFAULT_PX_PER_CHAR))
        vb.setXRange(0, min(n, fit), padding=0)

    def select_unit(self, unit: int | None) -> None:
        self.selected_unit = unit
        if unit is None or not len(self.text):
            self.selection.setVisible(False)
            return
        self.selection.setRect(QRectF(0, unit, len(self.text), 1))
        self.selection.setVisible(True)

    # -- axis labels ---------------------------------------------------------------------------

    def tick_labels(self) -> list[tuple[float, str]]:
        """The character labels currently on the x axis."""
        return list(self._ticks)

    def _on_range_changed(self, *_):
        self._update_ticks()

    def _update_ticks(self) -> None:
        n = len(self.text)
        axis = self.plot.getAxis("bottom")
        if not n:
            self._ticks = []
            axis.setTicks([[]])
            return
        vb = self.plot.getViewBox()
        (x0, x1), _ = vb.viewRange()
        px_per_char = (vb.width() or 800.0) / max(1e-9, x1 - x0)
        step = max(1, math.ceil(MIN_PX_PER_LABEL / max(px_per_char, 1e-9)))
        first = max(0, int(math.floor(x0)))
        first -= first % step
        last = min(n, int(math.ceil(x1)) + 1)
        self._ticks = [(i + 0.5, display_char(self.text[i])) for i in range(first, last, step)]
        axis.setTicks([self._ticks, []])
        label = "characters of the sample" + ("" if step == 1 else f" (every {step} shown; zoom in for all)")
        if label != self._axis_label:
            self._axis_label = label
            axis.setLabel(label)

    # -- mouse ---------------------------------------------------------------------------------

    def cell_at(self, scene_pos) -> tuple[int, int] | None:
        """(unit, character index) under a scene position, or None outside the image."""
        if not len(self.text):
            return None
        vb = self.plot.getViewBox()
        if not vb.sceneBoundingRect().contains(scene_pos):
            return None
        p = vb.mapSceneToView(scene_pos)
        col, row = int(math.floor(p.x())), int(math.floor(p.y()))
        n, H = self.values.shape
        if 0 <= col < n and 0 <= row < H:
            return row, col
        return None

    def describe_cell(self, unit: int, index: int) -> str:
        ch = self.text[index]
        what = "value" if self.chooser.single else self.chooser.name + (
            f" (layer {self.chooser.layer + 1})" if len(self.states) > 1 else "")
        return (f"unit {unit}   character {index + 1} of {len(self.text)}: {display_char(ch)} ({ch!r})   "
                f"{what} {float(self.values[index, unit]):+.3f}")

    def show_cell(self, unit: int, index: int) -> str:
        """Show the readout of one cell, as hovering it does; returns the text."""
        text = self.describe_cell(unit, index)
        self.readout.setText(text)
        return text

    def _on_mouse_moved(self, scene_pos) -> None:
        cell = self.cell_at(scene_pos)
        if cell is None:
            self.readout.setText(" ")
            return
        self.show_cell(*cell)

    def _on_mouse_clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        cell = self.cell_at(event.scenePos())
        if cell is None:
            return
        unit = cell[0]
        self.select_unit(unit)
        self.unitClicked.emit(unit)
