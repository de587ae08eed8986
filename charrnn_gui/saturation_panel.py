"""The Gates tab: the gate saturation scatter of Karpathy, Johnson, Fei-Fei 2015 (section 4.2), live while training.

One point per unit of each sigmoid gate of the chosen layer: x = the fraction of held-out characters at which the
gate is shut (left-saturated, < 0.1), y = the fraction at which it is wide open (right-saturated, > 0.9); the
diagonal x + y = 1 marks units that are always saturated one way or the other. Beside the plot, what the paper
found. Computed by core.saturation on a bounded held-out passage, from a consistent copy of the weights taken on the
GUI thread, on a timer that runs only while the tab is shown and only when the weights have changed (a slow reading
spaces the next ones out, to keep them under MAX_DUTY of the time). The reading itself (tens to hundreds of ms for
the gated presets on 2,000 characters, bench/gates.py) runs on a short-lived Python thread so that the GUI does not
stall; the result is drawn from the next poll. A tanh RNN has no gates: the tab says so instead of plotting nothing.

Every plot item is made once; a refresh sets their data.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QScrollArea, QSizePolicy, QStackedWidget, QVBoxLayout,
                               QWidget)

from core.saturation import GATE_TITLES, LEFT, RIGHT, GateSaturation, gate_saturation

from .weak import weak_call

REFRESH_MS = 2000  # how often the tab recomputes while it is shown and the weights change (at the most)
MAX_DUTY = 0.05  # a reading may take at most this share of the time: a slower one stretches the interval after it
POLL_MS = 25  # how often a running computation is checked for its result
HOVER_PIXELS = 9  # a point within this many pixels of the mouse is the one described
GATE_COLOURS = {  # one colour per gate, the same in every layer
    "i": (44, 160, 44), "f": (31, 119, 180), "o": (255, 127, 14), "z": (148, 103, 189), "r": (214, 39, 40),
}
GATE_ORDER = ("f", "i", "o", "z", "r")  # drawing order: the forget gate, the paper's main story, underneath
NO_MODEL = "No model yet: create one (Start) or open a checkpoint, and its gates' statistics appear here."
CAPTION = ("<b>Gate saturation</b> (Karpathy, Johnson &amp; Fei-Fei 2015, §4.2): one dot per unit of each gate, "
           "over held-out text.")
EXPLANATION = (  # beside the plot (rich text)
    f"<b>→ left-saturated:</b> the fraction of characters at which the gate is below {LEFT:g}, i.e. shut.<br>"
    f"<b>↑ right-saturated:</b> the fraction at which it is above {RIGHT:g}, i.e. wide open.<br>"
    "A dot on the dashed diagonal x + y = 1 is a unit that is always saturated one way or the other; near the "
    "origin, one that works in between, in its smooth range. Above the diagonal is impossible."
    "<p><b>What the paper found</b> (LSTM on text): forget gates with many right-saturated units, i.e. units that "
    "keep their cell state and <i>remember for long</i>; no forget gate always shut (no unit works purely "
    "feed-forward); no output gate always open or always shut; and first-layer gates much less saturated (near "
    "the origin) than in the layers above.</p>"
    "<p style='color:#555'>In this app's GRU, z is the share of the old h kept (h = z·h<sub>prev</sub> + "
    "(1 − z)·candidate), so a unit that remembers long is right-saturated on z, as on an LSTM's f. The LSTM's "
    "candidate g is a tanh, not a gate: it is not plotted.</p>")
TOOLTIP = ("One dot per unit of each gate. x: how often the gate is shut (< 0.1); y: how often it is wide open "
           "(> 0.9). Hover a dot for its unit and numbers.")


class _Reading:
    """One reading of the gates, run on a thread of its own (or called directly): its iteration, then its result (or an
    error message) and how long it took."""

    def __init__(self, iteration: int, params: dict, ids: np.ndarray, generation: int):
        self.iteration = iteration  # the weights' iteration
        self.generation = generation  # the panel's model generation it was started for
        self.result: GateSaturation | None = None
        self.error: str | None = None
        self.seconds = 0.0
        self._args = (params, ids)

    def run(self) -> None:
        """Compute the statistics (numpy on copies: nothing shared with training or the GUI)."""
        params, ids = self._args
        self._args = None
        start = time.perf_counter()
        try:
            self.result = gate_saturation(params, ids)
        except Exception as error:  # noqa: BLE001 - a pure reading of copies: any failure becomes a message in the tab
            self.error = f"Could not compute the gates' statistics: {error}"
        self.seconds = time.perf_counter() - start


class SaturationPanel(QWidget):
    """The Gates tab. set_source() tells it where the weights are, set_passage() what to read; it recomputes on its
    own timer while shown."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("gateSaturationPanel")
        self._get_weights = None  # () -> (iteration, params copy) or None
        self._ids: np.ndarray | None = None  # (N,) the held-out passage
        self._shown_iteration: int | None = None
        self._generation = 0  # bumped whenever the model (its passage) changes: older readings are dropped
        self._job: _Reading | None = None  # the reading under way on its thread
        self._thread: threading.Thread | None = None  # its thread
        self.result: GateSaturation | None = None  # the latest computation
        self.iteration: int | None = None  # the weights' iteration it was computed from
        self.computations = 0  # how many times the statistics were computed (the tests count them)
        self.seconds = 0.0  # how long the latest computation took

        self.caption = QLabel(CAPTION, objectName="gatesCaption")
        self.caption.setWordWrap(True)
        self.caption.setTextFormat(Qt.TextFormat.RichText)
        self.caption.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.caption.setToolTip(TOOLTIP)
        self.explanation = QLabel(EXPLANATION, objectName="gatesExplanation")
        self.explanation.setWordWrap(True)
        self.explanation.setTextFormat(Qt.TextFormat.RichText)
        self.explanation.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.explanation.setFixedWidth(300)
        self.explanation.setStyleSheet("color: #222;")
        explanation_scroll = QScrollArea(objectName="gatesExplanationScroll")
        explanation_scroll.setWidget(self.explanation)
        explanation_scroll.setWidgetResizable(False)
        explanation_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        explanation_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        explanation_scroll.setFixedWidth(300 + explanation_scroll.verticalScrollBar().sizeHint().width() + 4)
        self.layer_combo = QComboBox(objectName="gatesLayerCombo")
        self.layer_combo.setToolTip("Which layer's gates to plot (layer 1 reads the characters)")
        self.layer_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.layer_combo.currentIndexChanged.connect(self._draw)
        self.info = QLabel("", objectName="gatesInfo")
        self.info.setStyleSheet("color: #444;")

        self.plot = pg.PlotWidget(background="w")
        self.plot.setObjectName("gatesPlot")
        self.plot.setToolTip(TOOLTIP)
        pi = self.plot.getPlotItem()
        pi.setMenuEnabled(False)
        pi.hideButtons()
        for side in ("left", "bottom"):
            pi.getAxis(side).setPen(pg.mkPen(80, 80, 80))
            pi.getAxis(side).setTextPen(pg.mkPen(30, 30, 30))
        pi.setLabel("bottom", f"fraction left-saturated (gate &lt; {LEFT:g}: shut)", color="#222")
        pi.setLabel("left", f"fraction right-saturated (gate &gt; {RIGHT:g}: open)", color="#222")
        pi.showGrid(x=True, y=True, alpha=0.15)
        pi.setXRange(0, 1, padding=0.02)
        pi.setYRange(0, 1, padding=0.02)
        pi.getViewBox().setMouseEnabled(x=False, y=False)
        pi.getViewBox().setLimits(xMin=-0.05, xMax=1.05, yMin=-0.05, yMax=1.05)
        self.diagonal = pg.PlotCurveItem([0, 1], [1, 0], pen=pg.mkPen((150, 150, 150), width=1,
                                                                      style=Qt.PenStyle.DashLine))
        pi.addItem(self.diagonal)
        self.legend = pi.addLegend(offset=(-8, 8), labelTextSize="9pt", labelTextColor=(30, 30, 30),
                                   brush=pg.mkBrush(255, 255, 255, 210),
                                   pen=pg.mkPen(200, 200, 200))
        self.scatters = {}
        for g in GATE_ORDER:
            item = pg.ScatterPlotItem(size=8, pen=pg.mkPen(255, 255, 255, 160, width=0.8),
                                      brush=pg.mkBrush(*GATE_COLOURS[g], 190))
            pi.addItem(item)
            self.scatters[g] = item
        self.highlight = pg.ScatterPlotItem(size=14, pen=pg.mkPen(20, 20, 20, width=1.6), brush=None)
        pi.addItem(self.highlight)
        self._legend_gates: tuple = ()

        self.message = QLabel(NO_MODEL, objectName="gatesMessage")
        self.message.setWordWrap(True)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setStyleSheet("color: #444; font-size: 11pt; padding: 24px;")
        self.message.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.plot)
        self.stack.addWidget(self.message)
        self.stack.setCurrentWidget(self.message)

        self.readout = QLabel(" ", objectName="gatesReadout")
        self.readout.setStyleSheet("color: #444;")
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        header = QHBoxLayout()
        header.setContentsMargins(0, 0, 0, 0)
        header.addWidget(self.caption, 1)
        header.addWidget(QLabel("Layer:"))
        header.addWidget(self.layer_combo)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 2)
        layout.setSpacing(3)
        layout.addLayout(header)
        body = QHBoxLayout()
        body.setContentsMargins(0, 0, 0, 0)
        body.addWidget(self.stack, 1)
        body.addWidget(explanation_scroll)
        layout.addLayout(body, 1)
        bottom = QHBoxLayout()
        bottom.setContentsMargins(0, 0, 0, 0)
        bottom.addWidget(self.readout, 1)
        bottom.addWidget(self.info)
        layout.addLayout(bottom)

        self.base_interval = REFRESH_MS  # ms between readings when they are quick (the timer stretches it)
        self.timer = QTimer(self)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self.refresh)
        self.poll_timer = QTimer(self)
        self.poll_timer.setInterval(POLL_MS)
        self.poll_timer.timeout.connect(self._poll)
        self.plot.scene().sigMouseMoved.connect(self._on_hover)

    # -- source ------------------------------------------------------------------------------------

    def set_source(self, get_weights) -> None:
        """get_weights: a callable returning (iteration, a consistent copy of the weights) or None when there is no
        model, called on the GUI thread at each refresh. A bound method is held weakly (no cycle with its owner)."""
        if get_weights is not None and hasattr(get_weights, "__self__") and hasattr(get_weights, "__func__"):
            get_weights = weak_call(get_weights)
        self._get_weights = get_weights

    def set_passage(self, ids) -> None:
        """The held-out characters (N,) to read (e.g. core.saturation.held_out_ids): a new model's, read afresh."""
        self._ids = None if ids is None else np.asarray(ids, dtype=np.intp)
        self._generation += 1
        self._shown_iteration = None
        self.result = None
        self.refresh()

    def clear(self) -> None:
        """No model: forget the statistics and say so."""
        self._ids = None
        self._generation += 1
        self._shown_iteration = None
        self.result = self.iteration = None
        self._show_message(NO_MODEL)

    # -- timer -------------------------------------------------------------------------------------

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.timer.start()
        QTimer.singleShot(0, self.refresh)  # at once, after the tab has been laid out

    def hideEvent(self, event) -> None:
        super().hideEvent(event)
        self.timer.stop()

    @property
    def busy(self) -> bool:
        """Whether a reading is under way on its thread."""
        return self._job is not None

    def refresh(self) -> bool:
        """On the timer: when the tab is on screen (shown, the window not minimised), no reading is under way and the
        weights changed, start reading them on a thread (its result is drawn from the poll); True when one was
        started."""
        if not self.isVisible() or self.window().isMinimized() or self._job is not None:
            return False
        if self.result is not None and not self.result.gates:  # a tanh RNN: no gates, whatever it learns
            return False
        taken = self._take_weights(force=False)
        if taken is None:
            return False
        self._job = _Reading(*taken, self._ids, self._generation)
        self.computations += 1
        self._thread = threading.Thread(target=self._job.run, name="gate-saturation")
        self._thread.start()
        self.poll_timer.start()
        return True

    def compute_now(self) -> bool:
        """Read the current weights at once, on this thread, and draw (shown or not); True when there was a model."""
        taken = self._take_weights(force=True)
        if taken is None:
            return False
        job = _Reading(*taken, self._ids, self._generation)
        self.computations += 1
        job.run()
        self._show(job)
        return True

    def _take_weights(self, force: bool):
        """(iteration, weights copy) to read, or None (with the no-model message when there is no model, or when
        the weights on show are these, unless force)."""
        got = self._get_weights() if self._get_weights is not None else None
        if got is None or self._ids is None or not len(self._ids):
            self._show_message(NO_MODEL)
            return None
        if got[0] == self._shown_iteration and not force:
            return None
        return got

    def _poll(self) -> None:
        job = self._job
        if job is None:
            self.poll_timer.stop()
            return
        if self._thread.is_alive():
            return
        self.poll_timer.stop()
        self._job = self._thread = None
        self._show(job)

    def _show(self, job: "_Reading") -> None:
        if job.generation != self._generation:  # read for a model that has since been replaced
            return
        if job.error is not None:
            self._shown_iteration = job.iteration
            self._show_message(job.error)
            return
        if self.iteration is not None and job.iteration < self.iteration and self._shown_iteration is not None:
            return  # an older reading finishing after a newer one
        result = job.result
        self.seconds = job.seconds
        # Readings share the CPU (and, when training runs in this process, the GIL) with training: a slow one
        # (a big model, a busy machine) spaces the next ones out so that they take at most MAX_DUTY of the time.
        self.timer.setInterval(max(self.base_interval, int(1000 * job.seconds / MAX_DUTY)))
        self._shown_iteration = job.iteration
        self.result, self.iteration = result, job.iteration
        if not result.gates:
            self._show_message(result.note)
            return
        self._set_layers(result.layers)
        self._set_legend(result.gates)
        self.stack.setCurrentWidget(self.plot)
        self._draw()

    # -- drawing -----------------------------------------------------------------------------------

    def _show_message(self, text: str) -> None:
        self.message.setText(text)
        self.stack.setCurrentWidget(self.message)
        self.info.setText("")
        self.readout.setText(" ")
        self.layer_combo.setEnabled(False)

    def _set_layers(self, layers: int) -> None:
        self.layer_combo.setEnabled(layers > 1)
        if self.layer_combo.count() == layers:
            return
        keep = self.layer_combo.currentIndex()
        self.layer_combo.blockSignals(True)
        self.layer_combo.clear()
        for layer in range(layers):
            where = " (bottom)" if layer == 0 and layers > 1 else " (top)" if layer == layers - 1 and layers > 1 else ""
            self.layer_combo.addItem(f"{layer + 1}{where}", layer)
        self.layer_combo.setCurrentIndex(keep if 0 <= keep < layers else 0)
        self.layer_combo.blockSignals(False)

    def _set_legend(self, gates: tuple) -> None:
        if gates == self._legend_gates:
            return
        self.legend.clear()
        for g in GATE_ORDER:
            on = g in gates
            self.scatters[g].setVisible(on)
            if not on:
                self.scatters[g].setData([], [])
        for g in gates:  # the legend in the cell's own order (i, f, o or z, r)
            self.legend.addItem(self.scatters[g], f"{g}: {GATE_TITLES[g]}")
        self._legend_gates = gates

    @property
    def layer(self) -> int:
        """The layer on show (0 is the bottom one)."""
        return max(0, self.layer_combo.currentIndex())

    def _draw(self, *_args) -> None:
        result = self.result
        if result is None or not result.gates:
            return
        layer = min(self.layer, result.layers - 1)
        for g in result.gates:
            self.scatters[g].setData(result.left[layer][g], result.right[layer][g])
        self.highlight.setData([], [])
        H = len(result.left[layer][result.gates[0]])
        self.info.setText(f"iteration {self.iteration:,} · {H} units × {len(result.gates)} gates · "
                          f"{result.characters:,} held-out characters")

    # -- hover -------------------------------------------------------------------------------------

    def point_near(self, x: float, y: float, radius: tuple[float, float] | None = None):
        """The (gate, unit) of the point on show nearest the plot position (x, y) within radius (dx, dy) in plot
        units (HOVER_PIXELS by default), or None."""
        result = self.result
        if result is None or not result.gates:
            return None
        if radius is None:
            px = self.plot.getPlotItem().getViewBox().viewPixelSize()
            radius = (HOVER_PIXELS * px[0], HOVER_PIXELS * px[1])
        layer = min(self.layer, result.layers - 1)
        best, best_d = None, 1.0
        for g in result.gates:
            d = np.hypot((result.left[layer][g] - x) / radius[0], (result.right[layer][g] - y) / radius[1])  # (H,)
            u = int(np.argmin(d))
            if d[u] <= best_d:
                best, best_d = (g, u), float(d[u])
        return best

    def describe(self, gate: str, unit: int) -> str:
        """The readout's words for one unit of one gate of the layer on show (and mark it on the plot)."""
        result = self.result
        layer = min(self.layer, result.layers - 1)
        lo, hi = float(result.left[layer][gate][unit]), float(result.right[layer][gate][unit])
        self.highlight.setData([lo], [hi])
        return (f"layer {layer + 1} · {GATE_TITLES[gate]} ({gate}) · unit {unit}:   shut (< {LEFT:g}) "
                f"{100 * lo:.1f}%   open (> {RIGHT:g}) {100 * hi:.1f}%   of {result.characters:,} characters")

    def _on_hover(self, pos) -> None:
        vb = self.plot.getPlotItem().getViewBox()
        if self.result is None or not self.result.gates or not vb.sceneBoundingRect().contains(pos):
            return
        p = vb.mapSceneToView(pos)
        hit = self.point_near(p.x(), p.y())
        if hit is None:
            self.highlight.setData([], [])
            self.readout.setText(" ")
        else:
            self.readout.setText(self.describe(*hit))
