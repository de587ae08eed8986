"""The loss plot: raw per-iteration loss, the lesson's smooth loss, a debiased EMA and validation points.

With runs checked in the Runs panel it overlays their curves instead: each run's loss smoothed with the
same debiased EMA, one colour each, with a legend, along iterations, characters seen or training time.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from .decimate import envelope, every_nth, round_out
from .history import LN2, LOSS_DTYPE, DebiasedEMA, GrowingArray, LossHistory, Progress, debias, ema_scan

UNITS = ("lesson", "nats", "bits")
REFRESH_MS = 200  # setData at most 5 times a second, never per iteration
# The y auto-range covers the loss and its moving average after this fraction of the iterations shown:
# the first plunge and the lesson's slow smooth loss (0.999) may leave the top instead of squashing the rest.
RANGE_SKIPS_START = 0.1
DRAWN_BUCKETS = 1024  # showing the whole run, a curve is drawn as at most this many min/max pairs (decimate.py)

# Pens wider than one pixel are slow in Qt's software rasteriser; only the lesson's curve gets one.
RAW_PEN = pg.mkPen((185, 198, 228), width=1)  # opaque: alpha blending is slow in software
EMA_PEN = pg.mkPen((230, 115, 20), width=1)
SMOOTH_PEN = pg.mkPen((25, 40, 120), width=2)
VAL_BRUSH = pg.mkBrush(200, 30, 45)
HEADROOM_PEN = pg.mkPen((0, 0, 0, 0))  # invisible: the range marker is seen by the auto-range only
ROUND_PARTS = 16  # the whole-run y range moves in round steps of about 1/16 of the span (decimate.round_out)
ROUND_PARTS_X = 8  # and its x range in steps of about 1/8: the curve fills 80-100% of the width, and the x axis
# (whose ticks pyqtgraph lays out anew at every change of the range, ~3 ms) changes half as often while training
X_AXES = {"iteration": "iteration", "chars": "characters seen", "time": "training time (s)"}
BASELINE_PEN = pg.mkPen((60, 140, 60), width=1, style=Qt.PenStyle.DashLine)  # the n-gram baselines (core.ngram)
BASELINE_TEXT = (30, 100, 30)
LEGEND = ('<span style="color:#5a78be">&#9472;&#9472;</span> loss, each iteration &nbsp; '
          '<span style="color:#e67314"><b>&#9472;&#9472;</b></span> moving average &nbsp; '
          '<span style="color:#192878"><b>&#9473;&#9473;</b></span> smooth loss (the lesson\'s) &nbsp; '
          '<span style="color:#c81e2d">&#9679;</span> validation')
BASELINE_LEGEND = (' &nbsp; <span style="color:#3c8c3c">&#9476;&#9476;</span>&nbsp;n&#8209;gram&nbsp;baselines&nbsp;'
                   '(held&#8209;out)')  # non-breaking: the entry wraps as a whole


class Overlay:
    """One run's curve on the plot: its history, colour and label, and what was last drawn from it."""

    def __init__(self, item, history: LossHistory, colour, label: str):
        self.item = item  # the PlotDataItem
        self.history = history
        self.colour = colour
        self.label = label
        self.drawn = None  # (history identity, generation, rows, smoothing, units, axis) last drawn
        self.x = np.empty(0)  # what was drawn, for the hover readout
        self.y = np.empty(0)


class LossPlotPanel(QWidget):
    """Controls (units, log y, smoothing) above a pyqtgraph PlotWidget named lossPlot."""

    unitsChanged = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.history = LossHistory()
        self._units = "lesson"
        self._shown = 0  # history rows already converted for display
        self._val_shown = -1
        self._raw = GrowingArray(LOSS_DTYPE)  # display units
        self._smooth = GrowingArray(LOSS_DTYPE)  # display units
        self._ema = DebiasedEMA(0.9)  # of the display-unit raw loss
        self._dirty = False
        self._generation = self.history.generation
        self.overlays: dict[str, Overlay] = {}  # key (a run's folder) -> its curve, while runs are compared
        self.baselines: dict[int, float] = {}  # n-gram order -> held-out bits/char (set_baselines)
        self.baseline_lines: dict[int, pg.InfiniteLine] = {}  # order -> its labelled horizontal line
        self.x_axis = "iteration"  # of the overlays: iteration, chars or time

        self.units_combo = QComboBox(objectName="lossUnits")
        self.units_combo.addItem("Loss per window (lesson)", "lesson")
        self.units_combo.addItem("Nats per character", "nats")
        self.units_combo.addItem("Bits per character", "bits")
        self.units_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.units_combo.setMinimumContentsLength(22)
        self.units_combo.setToolTip(
            "The lesson's loss is the cross-entropy summed over one window of T characters;\n"
            "nats or bits per character divide it by T (and by ln 2 for bits).")
        self.log_check = QCheckBox("Log y", objectName="lossLogY")
        self.smoothing_slider = QSlider(Qt.Orientation.Horizontal, objectName="lossSmoothing")
        self.smoothing_slider.setRange(0, 999)
        self.smoothing_slider.setValue(900)
        self.smoothing_slider.setMinimumWidth(60)
        self.smoothing_slider.setMaximumWidth(160)
        self.smoothing_slider.setToolTip("Smoothing of the orange moving average (TensorBoard-style, debiased): 0 to 0.999")
        self.smoothing_value = QLabel("0.900")
        self.smoothing_value.setMinimumWidth(self.smoothing_value.fontMetrics().horizontalAdvance("0.000") + 4)

        controls = QHBoxLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        title = QLabel("<b>Loss</b>")
        controls.addWidget(title)
        controls.addSpacing(6)
        controls.addWidget(self.units_combo)
        controls.addSpacing(8)
        controls.addWidget(self.log_check)
        controls.addSpacing(8)
        controls.addWidget(QLabel("Smoothing"))
        controls.addWidget(self.smoothing_slider, 1)
        controls.addWidget(self.smoothing_value)

        self.plot = pg.PlotWidget(background="w")
        self.plot.setObjectName("lossPlot")
        pi = self.plot.getPlotItem()
        pi.setLabel("bottom", "iteration")
        pi.setMenuEnabled(True)
        for name in ("left", "bottom"):
            pi.getAxis(name).setPen(pg.mkPen(80, 80, 80))
            pi.getAxis(name).setTextPen(pg.mkPen(40, 40, 40))
        # The curves do not take part in the auto-range; the headroom marker (two invisible points) spans what
        # should show (auto_range_bounds), rounded out to round steps.
        self.raw_curve = pg.PlotDataItem(pen=RAW_PEN)
        self.ema_curve = pg.PlotDataItem(pen=EMA_PEN)
        self.smooth_curve = pg.PlotDataItem(pen=SMOOTH_PEN)
        self.val_curve = pg.PlotDataItem(pen=None, symbol="o", symbolSize=8, symbolBrush=VAL_BRUSH,
                                         symbolPen=pg.mkPen("w"))
        for curve in (self.raw_curve, self.ema_curve, self.smooth_curve, self.val_curve):
            pi.addItem(curve, ignoreBounds=True)
        # The legend is a label under the plot: it never covers a curve and costs no repaint of the plot.
        self.legend = QLabel(LEGEND, objectName="lossLegend")
        self.legend.setWordWrap(True)
        self.legend.setMinimumWidth(1)
        for curve in (self.raw_curve, self.ema_curve, self.smooth_curve, self.val_curve):
            curve.setDownsampling(auto=True, method="peak")
            curve.setClipToView(True)
            curve.setSkipFiniteCheck(True)
        # Showing the whole run, an invisible marker holds the auto-range on round numbers (_update_headroom).
        self.headroom = pi.plot(pen=HEADROOM_PEN)
        self.overlay_legend = pi.addLegend(offset=(-10, 10), labelTextColor=(30, 30, 30), brush=(255, 255, 255, 220),
                                           pen=pg.mkPen(200, 200, 200))
        self.overlay_legend.setVisible(False)
        self.cursor_line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen((120, 120, 120), width=1, style=Qt.PenStyle.DashLine))
        self.cursor_line.setVisible(False)
        pi.addItem(self.cursor_line, ignoreBounds=True)

        self.readout = QLabel(" ", objectName="lossReadout")
        self.readout.setMinimumWidth(1)
        self.readout.setTextFormat(Qt.TextFormat.PlainText)
        self.readout.setStyleSheet("color: #444;")
        self.readout.setToolTip("Values at the iteration under the mouse, in the units of the y axis")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 2)
        layout.setSpacing(4)
        layout.addLayout(controls)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.legend)
        layout.addWidget(self.readout)

        self._whole = True  # the curves hold thinned copies for a view of the whole run (x auto-range on)
        pi.getViewBox().sigStateChanged.connect(self._on_view_changed)

        self.units_combo.currentIndexChanged.connect(self._on_units_changed)
        self.log_check.toggled.connect(self.set_log_y)
        self.smoothing_slider.valueChanged.connect(self._on_smoothing_changed)
        self.plot.scene().sigMouseMoved.connect(self._on_mouse_moved)

        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self._on_timer)
        self._timer.start()
        self._update_axis_label()

    # -- data ----------------------------------------------------------------------------------

    def append(self, progress: Progress) -> None:
        """Add a worker batch; drawn on the next refresh."""
        self.history.extend(progress)
        self._dirty = True

    def data_changed(self) -> None:
        """The history shown has grown (its owner extended it); drawn on the next refresh."""
        self._dirty = True

    def set_history(self, history: LossHistory) -> None:
        """Replace the whole history (a reset, or a checkpoint's curves)."""
        self.history = history
        self._rebuild()
        self.plot.getPlotItem().enableAutoRange()

    def clear(self, seq_length: int | None = None) -> None:
        self.set_history(LossHistory(seq_length if seq_length is not None else self.history.seq_length))

    @property
    def units(self) -> str:
        return self._units

    def set_units(self, units: str) -> None:
        i = self.units_combo.findData(units)
        if i >= 0:
            self.units_combo.setCurrentIndex(i)

    @property
    def smoothing(self) -> float:
        return self.smoothing_slider.value() / 1000.0

    def set_smoothing(self, weight: float) -> None:
        self.smoothing_slider.setValue(int(round(min(0.999, max(0.0, weight)) * 1000)))

    @property
    def log_y(self) -> bool:
        return self.log_check.isChecked()

    def set_log_y(self, on: bool) -> None:
        if self.log_check.isChecked() != bool(on):
            self.log_check.setChecked(bool(on))
            return
        self.plot.getPlotItem().setLogMode(y=bool(on))
        self._place_baselines()
        self._update_headroom()

    def _factor(self) -> float:
        """Display units per nat/char."""
        if self._units == "lesson":
            return float(self.history.seq_length)
        if self._units == "bits":
            return 1.0 / LN2
        return 1.0

    def unit_label(self) -> str:
        return {"lesson": f"loss (sum over {self.history.seq_length} chars)", "nats": "nats / char",
                "bits": "bits / char"}[self._units]

    def _update_axis_label(self) -> None:
        self.plot.getPlotItem().setLabel("left", self.unit_label())
        self.units_combo.setItemText(0, f"Lesson's loss (sum over {self.history.seq_length})")

    # -- n-gram baselines ---------------------------------------------------------------------

    def set_baselines(self, bits: dict[int, float] | None) -> None:
        """Draw the n-gram baselines (order -> held-out bits/char) as labelled horizontal lines; None or {}: none.
        The lines are made once per set of baselines and only moved when the units or the log scale change."""
        bits = dict(sorted((bits or {}).items()))
        if bits == self.baselines:
            return
        pi = self.plot.getPlotItem()
        for line in self.baseline_lines.values():
            pi.removeItem(line)
        self.baselines = bits
        self.baseline_lines = {}
        for i, (order, bpc) in enumerate(bits.items()):
            line = pg.InfiniteLine(angle=0, movable=False, pen=BASELINE_PEN, label=f"{order}-gram {bpc:.2f}",
                                   labelOpts={"position": 0.97 - 0.22 * (i % 2), "color": BASELINE_TEXT,
                                              "anchors": [(1, 1), (1, 1)], "fill": (255, 255, 255, 200)})
            line.setObjectName(f"baseline-{order}")
            line.setToolTip(f"{order}-gram baseline: {bpc:.3f} bits/char on the held-out characters "
                            f"(interpolated Kneser-Ney counted on the training part)")
            line.setZValue(10)  # over the curves: the label stays readable where the loss crosses it
            pi.addItem(line, ignoreBounds=True)
            self.baseline_lines[order] = line
        self.legend.setText(LEGEND + (BASELINE_LEGEND if bits else ""))
        self._place_baselines()
        self._dirty = True

    def baseline_value(self, order: int) -> float:
        """Where the order's line is, in display units (before the log scale)."""
        return self.baselines[order] * LN2 * self._factor()

    def _place_baselines(self) -> None:
        """Put each baseline's line at its value in the units shown (log10 of it on a log scale); hidden while
        runs are compared (their texts and windows may differ)."""
        for order, line in self.baseline_lines.items():
            y = self.baseline_value(order)
            line.setPos(math.log10(y) if self.log_y and y > 0 else y)
            line.setVisible(not self.overlays)

    def _rebuild(self) -> None:
        self._place_baselines()
        self._generation = self.history.generation
        self._shown = 0
        self._val_shown = -1
        self._raw.clear()
        self._smooth.clear()
        self._ema.reset(self.smoothing)
        self._update_axis_label()
        self._dirty = True
        self.refresh()

    @property
    def refresh_interval(self) -> int:
        """Milliseconds between two periodic refreshes (REFRESH_MS unless the window's frame budget stretched it)."""
        return self._timer.interval()

    def set_refresh_interval(self, ms: float) -> None:
        ms = max(1, int(round(ms)))
        if ms != self._timer.interval():  # setInterval restarts the timer: only on a change
            self._timer.setInterval(ms)

    def _on_timer(self) -> None:
        """The periodic redraw, skipped while nobody can see the plot (hidden or minimised): the rows wait,
        and the first tick after it shows again draws them all."""
        if self.isVisible() and not self.window().isMinimized():
            self.refresh()

    def refresh(self) -> None:
        """Convert new rows for display and hand the arrays to the curves (called by the timer)."""
        if self.overlays:
            self._refresh_overlays()
        if not self._dirty:
            return
        if self.history.generation != self._generation:  # older points were thinned: indices moved
            self._rebuild()
            return
        self._dirty = False
        h = self.history
        n = len(h)
        f = self._factor()
        if n > self._shown:
            new = slice(self._shown, n)
            raw = h.loss.view[new] * f
            self._raw.extend(raw)
            self._smooth.extend(h.smooth.view[new] * (f / max(1, h.seq_length)))
            self._ema.extend(raw)
            self._shown = n
        self._set_curves()
        m = len(h.val_iterations)
        if m != self._val_shown:
            self._val_shown = m
            self.val_curve.setData(h.val_iterations.view.copy(), h.val_bpc.view * (LN2 * f))
        self._update_headroom()
        # Settle the auto-range now rather than inside the paint, which would schedule a second paint.
        self.plot.getPlotItem().getViewBox().prepareForPaint()

    def _set_curves(self) -> None:
        """Hand the converted rows to the curves: thinned while the whole run is in view (pyqtgraph would
        otherwise downsample every point at each refresh and draw ~5 per pixel), all of them when the user
        has zoomed or panned (pyqtgraph then clips to the view and downsamples only what shows)."""
        n = len(self._raw)
        x = self.history.iterations.view[:n]
        self._whole = self.plot.getPlotItem().getViewBox().autoRangeEnabled()[0] is not False
        if self._whole:
            self.raw_curve.setData(*envelope(x, self._raw.view, DRAWN_BUCKETS))
            self.smooth_curve.setData(*every_nth(x, self._smooth.view, DRAWN_BUCKETS))
            self.ema_curve.setData(*envelope(x, self._ema.values.view, DRAWN_BUCKETS))
        else:
            self.raw_curve.setData(x, self._raw.view)
            self.smooth_curve.setData(x, self._smooth.view)
            self.ema_curve.setData(x, self._ema.values.view)

    def auto_range_bounds(self) -> tuple[float, float, float, float] | None:
        """(x0, x1, y0, y1) the auto-range shows, in display units: every iteration, and the y extent of the
        loss, its moving average and the validation points after the first RANGE_SKIPS_START of them."""
        n = len(self._raw)
        if n == 0:
            return None
        x = self.history.iterations.view[:n]
        x0, x1 = float(x[0]), float(x[-1])
        late = int(np.searchsorted(x, x0 + RANGE_SKIPS_START * (x1 - x0)))
        vi = self.history.val_iterations.view
        ys = np.concatenate([self._raw.view[late:], self._ema.values.view[late:],
                             self.history.val_bpc.view[vi >= x[min(late, n - 1)]] * (LN2 * self._factor())])
        ys = ys[np.isfinite(ys)]
        if len(ys) == 0:
            return None
        return x0, x1, float(ys.min()), float(ys.max())

    def latest_bits(self) -> tuple[float | None, float | None, int | None]:
        """(moving average, latest held-out value, its iteration) in bits per character, as drawn (None: not yet)."""
        avg = self._ema.values.last()
        average = None if avg is None else float(avg) / self._factor() / LN2
        vi = self.history.val_iterations
        if len(vi) == 0:
            return average, None, None
        return average, float(self.history.val_bpc.last()), int(vi.last())

    def _update_headroom(self) -> None:
        """Set the invisible marker that the auto-range sees (the curves ignore it): auto_range_bounds, and while
        the whole run is in view rounded out to round steps (about 1/16 of the span), so the range, and the axes,
        whose ticks and labels are rebuilt at every change of it, move once every few refreshes, not at each."""
        bounds = self.auto_range_bounds()
        if bounds is None:
            self.headroom.setData([], [])
            return
        x0, x1, y0, y1 = bounds
        if self._whole:
            x0, x1 = round_out(x0, x1, ROUND_PARTS_X)
            if self.log_y and y0 > 0:  # rounded in log10, handed over as data values
                y0, y1 = (10.0 ** v for v in round_out(math.log10(y0), math.log10(y1), ROUND_PARTS))
            elif not self.log_y:
                y0, y1 = round_out(y0, y1, ROUND_PARTS)
        self.headroom.setData([x0, x1], [y0, y1])

    def _on_view_changed(self, view) -> None:
        """The x auto-range was switched (a zoom or pan, or back to the whole run): redraw from the right arrays,
        after pyqtgraph has finished changing the view."""
        if (view.autoRangeEnabled()[0] is not False) != self._whole:
            QTimer.singleShot(0, self, self._redraw)

    def _redraw(self) -> None:
        self._set_curves()
        self._update_headroom()

    # -- runs overlay --------------------------------------------------------------------------

    def set_overlays(self, runs, x_axis: str = "iteration") -> None:
        """Overlay runs' curves: runs is a list of (key, LossHistory, QColor, label); empty: back to this model's."""
        pi = self.plot.getPlotItem()
        x_axis = x_axis if x_axis in X_AXES else "iteration"
        axis_changed = x_axis != self.x_axis
        self.x_axis = x_axis
        keys = [key for key, *_ in runs]
        shown = [(key, o.label) for key, o in self.overlays.items()]
        for key in [k for k in self.overlays if k not in keys]:
            pi.removeItem(self.overlays.pop(key).item)
        for key, history, colour, label in runs:
            o = self.overlays.get(key)
            if o is None:
                item = pi.plot(pen=pg.mkPen(colour, width=2), name=label)
                item.setDownsampling(auto=True, method="peak")
                item.setClipToView(True)
                o = self.overlays[key] = Overlay(item, history, colour, label)
            elif o.history is not history or o.label != label or o.colour != colour:
                o.history, o.label, o.colour, o.drawn = history, label, colour, None
                o.item.setPen(pg.mkPen(colour, width=2))
        self._refresh_overlays()
        if [(key, self.overlays[key].label) for key in keys] == shown and not axis_changed:
            return  # the same runs: their curves are redrawn as they grow, nothing else changes
        self.overlay_legend.clear()
        for key in keys:
            self.overlay_legend.addItem(self.overlays[key].item, self.overlays[key].label)
        comparing = bool(self.overlays)
        self.overlay_legend.setVisible(comparing)
        for curve in (self.raw_curve, self.ema_curve, self.smooth_curve, self.val_curve, self.headroom):
            curve.setVisible(not comparing)  # (a hidden headroom marker leaves the auto-range to the overlays)
        self._place_baselines()
        self.legend.setVisible(not comparing)
        pi.setLabel("bottom", X_AXES[self.x_axis] if comparing else "iteration")
        if axis_changed or not comparing:
            pi.enableAutoRange()

    def overlays_changed(self) -> None:
        """The overlaid runs' curves have grown (drawn on the next refresh)."""
        self._refresh_overlays()

    def _factor_for(self, seq_length: int) -> float:
        """Display units per nat/char for a run with windows of seq_length characters."""
        if self._units == "lesson":
            return float(seq_length)
        return 1.0 / LN2 if self._units == "bits" else 1.0

    def _refresh_overlays(self) -> None:
        weight = self.smoothing
        for o in self.overlays.values():
            h = o.history
            state = (id(h), h.generation, len(h), weight, self._units, self.x_axis)
            if state == o.drawn:
                continue
            o.drawn = state
            x = np.asarray(h.x_values(self.x_axis), dtype=np.float64)  # (n,)
            y = ema_scan(h.loss.view * self._factor_for(h.seq_length), weight)  # (n,) the same smoothing
            y = debias(y, weight)
            ok = np.isfinite(x) & np.isfinite(y)
            x, y = x[ok], y[ok]
            ok = x >= np.maximum.accumulate(x) if len(x) else ok[:0]  # x must not go back (downsampling needs it)
            o.x, o.y = x[ok], y[ok]
            o.item.setData(o.x, o.y)

    def overlay_readout(self, x: float) -> str:
        """Each overlaid run's smoothed value nearest x (in the overlay's x units)."""
        parts = []
        for o in self.overlays.values():
            if len(o.x):
                i = int(np.clip(np.searchsorted(o.x, x), 0, len(o.x) - 1))
                if i > 0 and abs(o.x[i - 1] - x) < abs(o.x[i] - x):
                    i -= 1
                parts.append(f"{o.label}: {o.y[i]:.4g}")
        return f"{X_AXES[self.x_axis]} {x:,.0f}    " + "    ".join(parts) if parts else ""

    # -- controls ------------------------------------------------------------------------------

    def _on_units_changed(self, index: int) -> None:
        self._units = self.units_combo.itemData(index) or "lesson"
        self._refresh_overlays()
        self._rebuild()
        self.plot.getPlotItem().enableAutoRange()
        self.unitsChanged.emit(self._units)

    def _on_smoothing_changed(self, value: int) -> None:
        weight = value / 1000.0
        self.smoothing_value.setText(f"{weight:.3f}")
        self._ema.reset(weight)
        self._ema.extend(self._raw.view)
        self._set_curves()
        self._update_headroom()
        self._refresh_overlays()

    # -- hover ---------------------------------------------------------------------------------

    def _on_mouse_moved(self, pos) -> None:
        pi = self.plot.getPlotItem()
        n = len(self._raw)
        if self.overlays and pi.vb.sceneBoundingRect().contains(pos):
            x = pi.vb.mapSceneToView(pos).x()
            self.cursor_line.setPos(x)
            self.cursor_line.setVisible(True)
            self.readout.setText(self.overlay_readout(x) or " ")
            return
        if n == 0 or not pi.vb.sceneBoundingRect().contains(pos):
            self.cursor_line.setVisible(False)
            self.readout.setText(" ")
            return
        x = pi.vb.mapSceneToView(pos).x()
        self.show_readout_at(x)

    def show_readout_at(self, x: float) -> str:
        """Show the values of the iteration nearest x (in iterations); returns the readout text."""
        n = len(self._raw)
        if n == 0:
            return ""
        its = self.history.iterations.view[:n]
        i = int(np.clip(np.searchsorted(its, x), 0, n - 1))
        if i > 0 and abs(its[i - 1] - x) < abs(its[i] - x):
            i -= 1
        it = int(its[i])
        self.cursor_line.setPos(it)
        self.cursor_line.setVisible(True)
        text = (f"iteration {it:,}    loss {self._raw.view[i]:.4g}    smooth {self._smooth.view[i]:.4g}    "
                f"average {self._ema.values.view[i]:.4g}")
        vi = self.history.val_iterations.view
        j = int(np.searchsorted(vi, it, side="right")) - 1  # the latest validation at or before it
        if j >= 0:
            text += f"    validation {self.history.val_bpc.view[j] * LN2 * self._factor():.4g} @ {int(vi[j]):,}"
        self.readout.setText(text)
        return text

    # -- export --------------------------------------------------------------------------------

    def export_png(self, path: str) -> None:
        import pyqtgraph.exporters as exporters

        self.refresh()
        exporter = exporters.ImageExporter(self.plot.getPlotItem())
        exporter.export(path)
