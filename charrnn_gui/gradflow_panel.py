"""The Gradient flow tab: how far back the last prediction's gradient reaches, live, and the numbers that explain it.

Left, per path (the hidden state h; an LSTM's cell state c beside it): g_k = ||dl_T/dh_{T-k}|| against steps back
on a log scale, the latest measurement bold over a fading trail of the earlier ones (and lower layers' latest,
dashed), and below it a heatmap of the same over training (measurements × steps back, colour = log10 g_k).
Right, the health strip over iterations: W_hh's largest singular value, the mean tanh derivative, the clip share
and ||grad|| / ||param||, each with a plain-words tooltip; hovering any plot shows its values.

Every plot item is made once; refresh() (on the window's timer) sets their data when a measurement is new.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtWidgets import (QGridLayout, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QSplitter, QVBoxLayout,
                               QWidget)

from .flow_history import FlowHistory, path_title

TRAIL = 6  # earlier measurements drawn behind the latest, fading with age
MAX_ROWS = 400  # heatmap rows: a longer run shows this many measurements spread over it
DECADES = 30  # the heatmap's colours span at most this many powers of ten below the largest g_k
COLOURS = {"h": (31, 119, 180), "c": (214, 96, 20)}  # the h-path blue, the c-path orange
LAYER_COLOURS = ((44, 160, 44), (148, 103, 189))  # lower layers' curves, bottom layer first
INTRO = ("Every few iterations (Gradient flow every, in the Live settings) the app measures how strongly the loss of "
         "the last character in a window reaches back to each earlier step. Experiments → … sets up the lecture's "
         "regimes in one click.")

# The health strip: field of GradFlow, axis label, scale (a factor, or "log"), and what it means in plain words
# (its tooltip).
HEALTH = (
    ("whh_sigma_max", "σ<sub>max</sub>(W<sub>hh</sub>)", 1.0,
     "How much one step back through W_hh can stretch the gradient at most: above 1 the gradient can grow at every "
     "step back and explode, well below 1 it shrinks at every step and vanishes (for an LSTM or GRU: the recurrent "
     "weights of all its gates together)."),
    ("tanh_derivative_mean", "mean tanh′", 1.0,
     "How much of the gradient the tanh lets through on a step back, on average: 1 passes everything, near 0 the "
     "units are saturated at ±1 and block it."),
    ("clip_fraction", "clipped %", 100.0,
     "The share of gradient numbers that clipping cut down to the clip value at that iteration: above 0 the "
     "gradient wanted to be larger than the clip allows (always 0 with clipping off)."),
    ("grad_param_ratio", "grad / param", "log",
     "How large the gradient is next to the weights themselves (‖grad‖ / ‖param‖): a jump by many times warns that "
     "the next updates will throw the weights around."),
)
STRIP_NAMES = {"whh_sigma_max": "σ_max(W_hh)", "tanh_derivative_mean": "mean tanh′", "clip_fraction": "clipped",
               "grad_param_ratio": "‖grad‖/‖param‖"}


def _sci(x: float) -> str:
    return "—" if x is None or not math.isfinite(x) else f"{x:.3g}"


def _white_plot(name: str) -> pg.PlotWidget:
    w = pg.PlotWidget(background="w")
    w.setObjectName(name)
    pi = w.getPlotItem()
    pi.setMenuEnabled(False)
    pi.hideButtons()
    for side in ("left", "bottom"):
        pi.getAxis(side).setPen(pg.mkPen(80, 80, 80))
        pi.getAxis(side).setTextPen(pg.mkPen(30, 30, 30))
    w.setMinimumSize(160, 90)
    return w


def decade_ticks(y: np.ndarray) -> list:
    """Ticks for a short log-scale axis (positions in log10): whole powers of ten, at most four labelled; when the
    data span less than one, its smallest and largest value instead."""
    logs = np.log10(y[np.isfinite(y) & (y > 0)])
    if not logs.size:
        return [[], []]
    lo, hi = float(logs.min()), float(logs.max())
    decades = list(range(math.ceil(lo), math.floor(hi) + 1))
    if len(decades) < 2:
        return [[(lo, f"{10 ** lo:.2g}"), (hi, f"{10 ** hi:.2g}")] if hi > lo else [(lo, f"{10 ** lo:.2g}")], []]
    step = math.ceil(len(decades) / 4)
    return [[(d, f"1e{d}" if abs(d) > 2 else f"{10.0 ** d:g}") for d in decades[::step]], []]


class RowAxis(pg.AxisItem):
    """A heatmap's vertical axis: rows are measurements, labelled with the iteration each was taken at."""

    def __init__(self):
        super().__init__("left")
        self.iterations = np.zeros(0, dtype=np.int64)  # (R,) the iteration of each row

    def tickStrings(self, values, scale, spacing):
        out = []
        for v in values:
            i = int(math.floor(v))
            out.append(f"{int(self.iterations[i]):,}" if 0 <= i < len(self.iterations) else "")
        return out

    def tickValues(self, minVal, maxVal, size):
        n = len(self.iterations)
        if n == 0:
            return []
        step = max(1, int(math.ceil(n / max(2, size // 28))))  # a label every ~28 pixels at most
        return [(step, [i + 0.5 for i in range(0, n, step)])]


class PathView:
    """One path's pair of plots: its reach against steps back (latest, trail, lower layers) and its heatmap."""

    def __init__(self, state: str, suffix: str):
        self.state = state  # "h" or "c"
        colour = COLOURS[state]
        what = f"{state}<sub>T−k</sub>"
        self.curve_plot = _white_plot(f"gradientFlowPlot{suffix}")
        pi = self.curve_plot.getPlotItem()
        pi.setLogMode(x=False, y=True)
        pi.showGrid(x=True, y=True, alpha=0.15)
        pi.setLabel("bottom", "steps back k", color="#222")
        pi.setLabel("left", f"‖∂ℓ<sub>T</sub>/∂{what}‖", color="#222")
        title = "h-path (hidden state)" if state == "h" else "c-path (cell state)"
        pi.setTitle(f"<span style='color:#222'>{title}</span> <span style='color:#777'>· bold: latest</span>",
                    size="9pt")
        self.curve_plot.setToolTip(f"The {title}'s reach: bold, the latest measurement; faint, the {TRAIL} before "
                                   f"it (older is fainter); dashed, the lower layers' latest")
        legend = pi.addLegend(offset=(-8, 6), labelTextSize="8pt", brush=pg.mkBrush(255, 255, 255, 200))  # layers
        self.trail = []
        for i in range(TRAIL):  # oldest first: the faintest
            alpha = int(40 + 120 * (i + 1) / TRAIL)
            item = pi.plot([], [], pen=pg.mkPen(colour + (alpha,), width=1.2), connect="finite")
            self.trail.append(item)
        self.layers = [pi.plot([], [], pen=pg.mkPen(c, width=1.6, style=Qt.PenStyle.DashLine), connect="finite")
                       for c in LAYER_COLOURS]
        self.latest = pi.plot([], [], pen=pg.mkPen(colour, width=2.6), connect="finite")
        self.legend = legend
        self.layer_names: list[str | None] = [None] * len(self.layers)

        self.axis = RowAxis()
        self.heat_plot = _white_plot(f"gradientFlowHeatmap{suffix}")
        self.heat_plot.getPlotItem().setAxisItems({"left": self.axis})
        hp = self.heat_plot.getPlotItem()
        self.axis.setPen(pg.mkPen(80, 80, 80))
        self.axis.setTextPen(pg.mkPen(30, 30, 30))
        hp.setLabel("bottom", "steps back k", color="#222")
        hp.setLabel("left", "iteration", color="#222")
        hp.getViewBox().setMouseEnabled(x=False, y=False)
        self.cmap = pg.colormap.get("viridis")
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setColorMap(self.cmap)
        hp.addItem(self.image)
        self.colorbar = pg.ColorBarItem(values=(-DECADES, 0.0), colorMap=self.cmap, interactive=False, width=12,
                                        label=f"log<sub>10</sub> ‖∂ℓ<sub>T</sub>/∂{what}‖", colorMapMenu=False)
        self.colorbar.setImageItem(self.image, insert_in=hp)
        self.colorbar.getAxis("right").setPen(pg.mkPen(80, 80, 80))
        self.colorbar.getAxis("right").setTextPen(pg.mkPen(30, 30, 30))
        self.rows = np.zeros(0, dtype=np.intp)  # measurement index of each heatmap row
        self.values = np.zeros((0, 0))  # (R, T) log10 g_k on show

    def set_layers(self, names: list[str]) -> None:
        """Name the dashed curves of the lower layers (legend entries follow; none for a one-layer model)."""
        for i, item in enumerate(self.layers):
            name = names[i] if i < len(names) else None
            if name == self.layer_names[i]:
                continue
            if self.layer_names[i] is not None:
                self.legend.removeItem(item)
            if name is not None:
                self.legend.addItem(item, path_title(name))
            else:
                item.setData([], [])
            self.layer_names[i] = name

    def show(self, flows: FlowHistory, path: str) -> None:
        """Set every item from the measurements of one path (and its lower layers' latest)."""
        k = np.arange(len(flows.latest.grad_flow))  # (T,)
        positive = lambda g: np.where(g > 0, g, np.nan)  # noqa: E731 - log scale: no zero, no negative
        latest = len(flows) - 1
        self.latest.setData(k, positive(flows.curve(flows.latest, path)))
        for age, item in enumerate(reversed(self.trail), start=1):  # the newest trail item is the last made
            i = latest - age
            if i >= 0:
                item.setData(k, positive(flows.curve(flows.flows[i], path)))
            else:
                item.setData([], [])
        for item, name in zip(self.layers, self.layer_names):
            if name is not None:
                item.setData(k, positive(flows.curve(flows.latest, name)))
        self.rows = flows.rows(MAX_ROWS)
        values = flows.image(path, self.rows)  # (R, T)
        finite = values[np.isfinite(values)]
        hi = float(finite.max()) if finite.size else 0.0
        lo = max(float(finite.min()) if finite.size else hi - 1.0, hi - DECADES)
        lo = min(lo, hi - 1.0)
        self.values = values
        shown = np.where(np.isnan(values), lo, np.clip(values, lo, hi)).astype(np.float32)
        self.image.setImage(shown, autoLevels=False, levels=(lo, hi))
        self.colorbar.setLevels((lo, hi))
        R, T = values.shape
        self.image.setRect(QRectF(0, 0, T, R))
        self.axis.iterations = flows.iterations()[self.rows]
        self.axis.picture = None  # new labels for the same tick positions
        self.axis.update()
        vb = self.heat_plot.getPlotItem().getViewBox()
        vb.setRange(xRange=(0, T), yRange=(0, R), padding=0)

    def clear(self) -> None:
        for item in (*self.trail, *self.layers, self.latest):
            item.setData([], [])
        self.image.clear()
        self.rows = np.zeros(0, dtype=np.intp)
        self.values = np.zeros((0, 0))
        self.axis.iterations = np.zeros(0, dtype=np.int64)
        self.axis.update()


class GradFlowPanel(QWidget):
    """The Gradient flow tab. set_history() gives it the session's measurements; refresh() draws what is new."""

    exportPngRequested = Signal()
    exportCsvRequested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("gradientFlowPanel")
        self.flows = FlowHistory()
        self._shown_version = -1
        self._names: list[str] = []

        self.intro = QLabel(INTRO, objectName="flowIntro")
        self.intro.setWordWrap(True)
        self.intro.setTextFormat(Qt.TextFormat.RichText)
        self.intro.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.ratio_label = QLabel("", objectName="reachRatioLabel")
        self.ratio_label.setTextFormat(Qt.TextFormat.RichText)
        self.ratio_label.setToolTip("The share of the last prediction's gradient that reaches back to the first "
                                    "character of the window: 1 keeps everything, 1e-3 a thousandth")
        self.png_button = QPushButton("Export PNG…", objectName="exportFlowPngButton")
        self.png_button.setToolTip("Save the heatmap of the reach over training as a picture")
        self.csv_button = QPushButton("Export CSV…", objectName="exportFlowCsvButton")
        self.csv_button.setToolTip("Save every measurement (the health numbers and each g_k) as a table")
        self.png_button.clicked.connect(self.exportPngRequested)
        self.csv_button.clicked.connect(self.exportCsvRequested)
        self.status = QLabel("", objectName="flowStatusLabel")
        self.status.setWordWrap(True)
        self.status.setStyleSheet("color: #a01010;")
        self.status.setVisible(False)
        self.readout = QLabel(" ", objectName="flowReadout")
        self.readout.setStyleSheet("color: #444;")

        self.paths = {"h": PathView("h", ""), "c": PathView("c", "C")}
        self.curve_plot = self.paths["h"].curve_plot  # the main plot (objectName gradientFlowPlot)
        self.heatmaps = QWidget(objectName="flowHeatmaps")  # the heatmaps, side by side: what Export PNG saves
        heat_row = QHBoxLayout(self.heatmaps)
        heat_row.setContentsMargins(0, 0, 0, 0)
        flow_area = QWidget()
        grid = QGridLayout(flow_area)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(4)
        for col, view in enumerate(self.paths.values()):
            grid.addWidget(view.curve_plot, 0, col)
            heat_row.addWidget(view.heat_plot)
        grid.addWidget(self.heatmaps, 1, 0, 1, 2)

        health = QWidget(objectName="flowHealth")
        strip = QVBoxLayout(health)
        strip.setContentsMargins(0, 0, 0, 0)
        strip.setSpacing(0)
        self.health_plots, self.health_curves, self.health_cursors = {}, {}, []
        first = None
        for field, label, scale, tip in HEALTH:
            w = _white_plot(f"health-{field}")
            w.setMinimumHeight(60)
            w.setToolTip(tip)
            pi = w.getPlotItem()
            pi.setLabel("left", label, color="#222", **{"font-size": "8pt"})
            pi.getAxis("left").enableAutoSIPrefix(False)
            pi.getAxis("left").setStyle(maxTextLevel=0)  # labels on the major ticks only: the plots are short
            pi.getAxis("bottom").enableAutoSIPrefix(False)
            pi.getAxis("left").setWidth(62)
            pi.setLogMode(x=False, y=scale == "log")
            pi.showGrid(x=True, y=True, alpha=0.15)
            pi.getViewBox().setMouseEnabled(x=False, y=False)
            if field == "whh_sigma_max":  # the lecture's line: above it, explode; below, vanish
                pi.addItem(pg.InfiniteLine(1.0, angle=0, pen=pg.mkPen((150, 150, 150), style=Qt.PenStyle.DashLine)))
            self.health_curves[field] = pi.plot([], [], pen=pg.mkPen((60, 60, 60), width=1.5), symbol="o",
                                                symbolSize=4, symbolBrush=(60, 60, 60), symbolPen=None,
                                                connect="finite")
            cursor = pg.InfiniteLine(angle=90, pen=pg.mkPen((200, 60, 60), width=1))
            cursor.setVisible(False)
            pi.addItem(cursor, ignoreBounds=True)
            self.health_cursors.append(cursor)
            if first is None:
                first = pi
            else:
                pi.setXLink(first)
            if field != HEALTH[-1][0]:
                pi.getAxis("bottom").setStyle(showValues=False)
            else:
                pi.setLabel("bottom", "iteration", color="#222")
            self.health_plots[field] = w
            strip.addWidget(w, 1)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(flow_area)
        self.splitter.addWidget(health)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setChildrenCollapsible(False)

        header = QHBoxLayout()
        header.setContentsMargins(0, 0, 0, 0)
        header.addWidget(self.intro, 1)
        header.addWidget(self.ratio_label)
        header.addWidget(self.png_button)
        header.addWidget(self.csv_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 2)
        layout.setSpacing(3)
        layout.addLayout(header)
        layout.addWidget(self.status)
        layout.addWidget(self.splitter, 1)
        layout.addWidget(self.readout)

        for view in self.paths.values():
            view.curve_plot.scene().sigMouseMoved.connect(
                lambda pos, v=view: self._on_curve_hover(v, pos))
            view.heat_plot.scene().sigMouseMoved.connect(
                lambda pos, v=view: self._on_heat_hover(v, pos))
        for field, w in self.health_plots.items():
            w.scene().sigMouseMoved.connect(lambda pos, f=field: self._on_health_hover(f, pos))
        self._set_names(["h"])
        self._update_buttons()

    # -- data ------------------------------------------------------------------------------------

    def set_history(self, flows: FlowHistory) -> None:
        """Show these measurements (the session's, replaced whenever the model is)."""
        self.flows = flows
        self._shown_version = -1
        self.refresh(force=True)

    def set_intro(self, text: str | None) -> None:
        """What the tab explains above its plots (an experiment's story), or the general text for None."""
        self.intro.setText(text or INTRO)

    def set_diverged(self, reason: str | None) -> None:
        """Say (or stop saying) that training diverged, and why."""
        self.status.setText(f"Paused: {reason}." if reason else "")
        self.status.setVisible(bool(reason))

    def refresh(self, force: bool = False) -> None:
        """Set the plots' data if there is a new measurement (and the tab is on screen, unless force)."""
        if self.flows.version == self._shown_version or not (force or self.isVisible()):
            return
        self._shown_version = self.flows.version
        flows = self.flows
        self._update_buttons()
        if not len(flows):
            for view in self.paths.values():
                view.clear()
            for curve in self.health_curves.values():
                curve.setData([], [])
            self.ratio_label.setText("")
            self.ratio_label.setProperty("ratio", None)
            self.ratio_label.setProperty("ratio_c", None)
            return
        names = flows.names()
        if names != self._names:
            self._set_names(names)
        for state, view in self.paths.items():
            if state in names:
                view.show(flows, state)
        its = flows.iterations()
        for field, _, scale, _ in HEALTH:
            y = flows.numbers(field)
            y = np.where(y > 0, y, np.nan) if scale == "log" else y * scale
            self.health_curves[field].setData(its, y)
            if scale == "log":
                self.health_plots[field].getPlotItem().getAxis("left").setTicks(decade_ticks(y))
        strip = self.health_plots[HEALTH[0][0]].getPlotItem()
        if len(its) == 1:  # one point: a readable stretch of iterations around it, not a zoom into nothing
            strip.setXRange(its[0] - 10, its[0] + 10, padding=0)
        else:
            strip.enableAutoRange(x=True)
        self._show_ratio()

    def _set_names(self, names: list[str]) -> None:
        self._names = list(names)
        for state, view in self.paths.items():
            on = state in names
            view.curve_plot.setVisible(on)
            view.heat_plot.setVisible(on)
            view.set_layers([n for n in names if n.endswith(f".{state}")])

    def _show_ratio(self) -> None:
        flows = self.flows
        T = len(flows.latest.grad_flow)
        lead = f"g<sub>T−1</sub>/g<sub>0</sub> (T = {T}, iteration {flows.latest.iteration:,}):"
        h = flows.ratio("h")
        self.ratio_label.setProperty("ratio", h)
        if "c" in self._names:
            c = flows.ratio("c")
            self.ratio_label.setProperty("ratio_c", c)
            self.ratio_label.setText(f"{lead} h-path <b>{_sci(h)}</b> · c-path <b>{_sci(c)}</b>")
        else:
            self.ratio_label.setProperty("ratio_c", None)
            self.ratio_label.setText(f"{lead} <b>{_sci(h)}</b>")

    def _update_buttons(self) -> None:
        has = len(self.flows) > 0
        why = "" if has else "There is no measurement yet: train with Gradient flow every above 0"
        for b, tip in ((self.png_button, "Save the heatmap of the reach over training as a picture"),
                       (self.csv_button, "Save every measurement (the health numbers and each g_k) as a table")):
            b.setEnabled(has)
            b.setToolTip(tip if has else why)

    # -- hover -------------------------------------------------------------------------------------

    def _on_curve_hover(self, view: PathView, pos) -> None:
        flows = self.flows
        vb = view.curve_plot.getPlotItem().getViewBox()
        if not len(flows) or not vb.sceneBoundingRect().contains(pos):
            return
        g = flows.curve(flows.latest, view.state)
        k = int(round(vb.mapSceneToView(pos).x()))
        if 0 <= k < len(g):
            self.show_value(view.state, len(flows) - 1, k)

    def _on_heat_hover(self, view: PathView, pos) -> None:
        vb = view.heat_plot.getPlotItem().getViewBox()
        if not len(view.rows) or not vb.sceneBoundingRect().contains(pos):
            return
        p = vb.mapSceneToView(pos)
        row, k = int(math.floor(p.y())), int(math.floor(p.x()))
        if 0 <= row < len(view.rows) and 0 <= k < view.values.shape[1]:
            self.show_value(view.state, int(view.rows[row]), k)

    def show_value(self, state: str, index: int, k: int) -> str:
        """Show g_k of one path of the index-th measurement in the readout; returns the text."""
        flow = self.flows.flows[index]
        curve = self.flows.curve(flow, state)  # (T,)
        g, g0 = float(curve[k]), float(curve[0])
        share = g / g0 if g0 > 0 else math.nan
        text = (f"iteration {flow.iteration:,}   {path_title(state)}   {k} steps back:   g = {_sci(g)}   "
                f"({_sci(share)} of g_0)")
        self.readout.setText(text)
        return text

    def _on_health_hover(self, field: str, pos) -> None:
        vb = self.health_plots[field].getPlotItem().getViewBox()
        if not len(self.flows) or not vb.sceneBoundingRect().contains(pos):
            for c in self.health_cursors:
                c.setVisible(False)
            return
        self.show_health_at(vb.mapSceneToView(pos).x())

    def show_health_at(self, x: float) -> str:
        """Show every health number of the measurement nearest iteration x; returns the readout text."""
        its = self.flows.iterations()
        i = int(np.argmin(np.abs(its - x)))
        flow = self.flows.flows[i]
        for c in self.health_cursors:
            c.setPos(int(its[i]))
            c.setVisible(True)
        clip = f"{100 * flow.clip_fraction:.2f}%" if math.isfinite(flow.clip_fraction) else "—"
        text = (f"iteration {flow.iteration:,}:   {STRIP_NAMES['whh_sigma_max']} {_sci(flow.whh_sigma_max)}   "
                f"{STRIP_NAMES['tanh_derivative_mean']} {_sci(flow.tanh_derivative_mean)}   "
                f"(saturated {100 * flow.saturated_fraction:.1f}%)   {STRIP_NAMES['clip_fraction']} {clip}   "
                f"{STRIP_NAMES['grad_param_ratio']} {_sci(flow.grad_param_ratio)}")
        self.readout.setText(text)
        return text

    # -- export ------------------------------------------------------------------------------------

    def export_png(self, path: str) -> None:
        """Save the heatmaps (both paths for an LSTM) as a PNG; raises OSError when it cannot be written."""
        self.refresh(force=True)
        if not self.heatmaps.grab().save(path, "PNG"):
            raise OSError(f"cannot write {path}")
