"""The unrolled network drawn as the slides draw it: one column per time step, the input x_t at the bottom, the
hidden state(s) h_t of every layer above it, the output distribution y_t with its target on top, and on the way
back the gradient ||dL/dh_t|| per step with the truncation boundary where the carried state h_-1 enters.

Painted with QPainter, only the columns inside the exposed rectangle; each state's colours are one QImage per
(layer, state) with a pixel column per time step, built once per data change. Every drawn part has a hit rectangle
whose tooltip gives its numbers.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRect, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QToolTip, QWidget

from core.model import STATE_MEANINGS

from .fmt import display_char, probability
from .samples import monospace_font
from .states import scale_for

LEFT = 178  # px: the row labels
CARRIED_W = 70  # px: the carried state's column h_-1
COL_W = 100  # px per time step
HEADER_H = 18  # px: "t = 3"
ROW_H = 15  # px: one line of the top-k list
LOSS_H = 18  # px: the per-step loss
GRAD_H = 20  # px: ||dL/dh_t|| of one layer
INPUT_H = 44  # px: x_t and its one-hot vector
ARROW_H = 16  # px: the gap an arrow between two rows crosses
FOOTER_H = 18  # px: the truncation note under the columns
GAP = 6  # px between blocks
TOP_K = 5  # rows of y_t shown (all of them when the vocabulary has at most TOP_K + 1 characters)
VALUE_CELLS = 8  # a state with at most this many units is drawn as cells with their values written in

TARGET = QColor(26, 140, 60)  # the target character: green
SAMPLED = QColor(230, 120, 0)  # a drawn (sampled) character and the arrow feeding it back: orange
GRAD = QColor(200, 40, 40)  # the backward pass: red
BAR = QColor(120, 140, 170)  # other probabilities
FAINT = QColor(150, 150, 150)


class Column(NamedTuple):
    """One time step as drawn: what it read, held and predicted."""

    input: int  # x_t's id
    states: list  # per layer, {name: (H,)}
    probs: np.ndarray  # (V,) y_t
    target: int | None  # the target id (None for a sampled step)
    loss: float | None  # -log y_t[target] (None for a sampled step)
    drawn: int | None = None  # the id drawn from y_t (test-time sampling), fed back as the next input
    sampled: bool = False  # True: this step reads a character drawn from the step before


class Hit(NamedTuple):
    """A drawn part and what its tooltip says (written when asked: most parts are never hovered)."""

    rect: QRect
    kind: str  # which _tip_<kind> method writes the text
    args: tuple  # its arguments


def _numbers(values, limit: int = 12) -> str:
    """A vector's first values, written out, and its range."""
    v = np.asarray(values, dtype=np.float64)
    shown = ", ".join(f"{x:+.3f}" for x in v[:limit]) + (f", … ({len(v)} units)" if len(v) > limit else "")
    return f"[{shown}]" + (f"\nmin {v.min():+.3f}, max {v.max():+.3f}, |mean| {np.abs(v).mean():.3f}"
                            if len(v) > 3 else "")


def _arrow(p: QPainter, a: QPointF, b: QPointF, size: float = 5.0) -> None:
    """A line from a to b with a head at b."""
    p.drawLine(a, b)
    d = b - a
    n = max((d.x() ** 2 + d.y() ** 2) ** 0.5, 1e-6)
    ux, uy = d.x() / n, d.y() / n
    head = QPolygonF([b, QPointF(b.x() - size * ux + 0.6 * size * uy, b.y() - size * uy - 0.6 * size * ux),
                      QPointF(b.x() - size * ux - 0.6 * size * uy, b.y() - size * uy + 0.6 * size * ux)])
    p.drawPolygon(head)


class UnrolledCanvas(QWidget):
    """The unrolled window, column by column; set_data() gives it the numbers, reveal() what to show."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("unrolledCanvas")
        self.setMouseTracking(True)
        self.chars: tuple = ()  # id -> character
        self.cell = "rnn"
        self.columns: list[Column] = []
        self.window_steps = 0  # T: the first T columns are the training window, the rest sampled
        self.state0 = None  # (K, H) the carried state h_-1
        self.dh = None  # (L, T) ||dL/dh_t||
        self.dc = None  # (L, T) ||dL/dc_t|| of an LSTM, or None
        self.dstate0_norm = 0.0  # ||dL/dh_-1||: what truncation drops
        self.forward = 0  # columns of the forward pass revealed
        self.backward = 0  # steps of the backward pass revealed, from the right
        self.names: tuple = ("h",)
        self.layers = 0
        self._images: dict = {}  # (layer, name) -> (QImage, its buffer): one pixel column per step, a row per unit
        self._scales: dict = {}  # (layer, name) -> StateScale
        self._hits: list[Hit] = []
        self._font = QFont(self.font())
        self._font.setPointSizeF(max(7.0, self._font.pointSizeF() * 0.85))
        self._mono = monospace_font()
        self._mono.setPointSizeF(self._font.pointSizeF())
        self._big = monospace_font()
        self._big.setPointSizeF(self._font.pointSizeF() * 1.6)
        self._big.setBold(True)
        self.setMinimumSize(LEFT + CARRIED_W + COL_W, 200)

    # -- data -------------------------------------------------------------------------------------------

    def set_data(self, chars, cell: str, columns, window_steps: int, state0, dh, dc, dstate0) -> None:
        """New numbers: columns (Column list), the first window_steps of them the training window."""
        self.chars, self.cell, self.columns, self.window_steps = tuple(chars), cell, list(columns), window_steps
        self.state0, self.dh, self.dc = state0, dh, dc
        self.dstate0_norm = float(np.linalg.norm(dstate0[0::2 if cell == "lstm" else 1])) if dstate0 is not None \
            else 0.0
        self.layers = len(columns[0].states) if columns else 0
        self.names = tuple(columns[0].states[0]) if columns else ("h",)
        self.forward = min(self.forward, len(self.columns))
        self.backward = min(self.backward, window_steps) if self.forward >= window_steps else 0
        self._build_images()
        self._relayout()

    def reveal(self, forward: int, backward: int) -> None:
        """Show the first `forward` columns and the last `backward` steps of the window's backward pass."""
        self.forward = max(0, min(forward, len(self.columns)))
        self.backward = max(0, min(backward, self.window_steps)) if self.forward >= self.window_steps else 0
        self._relayout()

    def _build_images(self) -> None:
        self._images, self._scales = {}, {}
        if not self.columns:
            return
        for layer in range(self.layers):
            for name in self.names:
                values = np.stack([c.states[layer][name] for c in self.columns])  # (n, H)
                if self.state0 is not None and name in ("h", "c"):
                    row = layer * (2 if self.cell == "lstm" else 1) + (1 if name == "c" else 0)
                    values_for_scale = np.vstack([values, self.state0[row][None]])
                else:
                    values_for_scale = values
                scale = scale_for(name, values_for_scale)
                rgb = np.ascontiguousarray(scale.rgb(values).transpose(1, 0, 2).astype(np.uint8))  # (H, n, 3)
                H, n = rgb.shape[:2]
                image = QImage(rgb.data, n, H, 3 * n, QImage.Format.Format_RGB888)
                self._images[(layer, name)] = (image, rgb)
                self._scales[(layer, name)] = scale

    # -- geometry -----------------------------------------------------------------------------------------

    @property
    def k(self) -> int:
        """Rows of y_t shown."""
        V = len(self.chars)
        return V if V <= TOP_K + 1 else TOP_K

    @property
    def hidden(self) -> int:
        return len(self.columns[0].states[0]["h"]) if self.columns else 0

    def state_height(self) -> int:
        H = self.hidden
        return 18 * H if H <= VALUE_CELLS else 84

    def rows(self) -> dict:
        """The y of each block: header, y_t, loss, per layer (top first) its gradient row and states, x_t."""
        y = 4
        r = {"header": y}
        y += HEADER_H
        r["probs"] = y
        y += (self.k + 1) * ROW_H + 2
        r["loss"] = y
        y += LOSS_H + ARROW_H
        names_h = 13 if len(self.names) > 1 else 0  # a gated cell's strips are named above them
        for layer in reversed(range(self.layers)):
            r[("grad", layer)] = y
            y += GRAD_H + names_h
            r[("state", layer)] = y
            y += self.state_height() + ARROW_H
        r["input"] = y
        y += INPUT_H
        r["footer"] = y
        y += FOOTER_H
        r["bottom"] = y + GAP
        return r

    def column_x(self, t: int) -> int:
        return LEFT + CARRIED_W + t * COL_W

    def _relayout(self) -> None:
        rows = self.rows()
        width = self.column_x(max(len(self.columns), 1)) + 12
        self.setFixedSize(width, max(rows["bottom"], 200))
        self._hits = self._make_hits(rows)
        self.update()

    def _strip_rects(self, x: int, y: int) -> list[tuple[str, QRect]]:
        """Where each state's strip goes in a column at x, a layer's block at y."""
        n = len(self.names)
        inner = COL_W - 24
        w = inner // n
        return [(name, QRect(x + 12 + i * w, y, w - 2, self.state_height())) for i, name in enumerate(self.names)]

    # -- tooltips ---------------------------------------------------------------------------------------

    def _make_hits(self, rows) -> list[Hit]:
        hits = []
        for t, col in enumerate(self.columns[:self.forward]):
            x = self.column_x(t)
            hits.append(Hit(QRect(x, rows["header"], COL_W, HEADER_H), "header", (t,)))
            hits.append(Hit(QRect(x, rows["probs"], COL_W, (self.k + 1) * ROW_H), "probs", (t,)))
            if col.loss is not None:
                hits.append(Hit(QRect(x, rows["loss"], COL_W, LOSS_H), "loss", (t,)))
            for layer in range(self.layers):
                for name, rect in self._strip_rects(x, rows[("state", layer)]):
                    hits.append(Hit(rect, "state", (t, layer, name)))
            hits.append(Hit(QRect(x, rows["input"], COL_W, INPUT_H), "input", (t,)))
        for t in range(self.window_steps - self.backward, self.window_steps):
            x = self.column_x(t)
            for layer in range(self.layers):
                hits.append(Hit(QRect(x, rows[("grad", layer)], COL_W, GRAD_H), "grad", (t, layer)))
        if self.state0 is not None and self.layers:
            x = LEFT
            for layer in range(self.layers):
                hits.append(Hit(QRect(x, rows[("state", layer)], CARRIED_W, self.state_height()), "carried", (layer,)))
            top, bottom = rows[("grad", self.layers - 1)], rows["input"] + INPUT_H
            hits.append(Hit(QRect(x + CARRIED_W - 8, top, 14, bottom - top), "boundary", ()))
        return hits

    def _tip_boundary(self) -> str:
        return (f"Truncation boundary: backpropagation stops here. The gradient that would reach the "
                            f"carried state, ‖dL/dh_-1‖ = {self.dstate0_norm:.4g}, is not propagated into the "
                            f"previous window (truncated backpropagation through time).")

    def _tip_carried(self, layer: int) -> str:
        C = 2 if self.cell == "lstm" else 1
        return (f"h_-1, layer {layer + 1}: the state carried in from the previous window\n"
                f"{_numbers(self.state0[layer * C])}")

    def _tip_header(self, t: int) -> str:
        col = self.columns[t]
        what = "sampled step (reads the character drawn at the step before)" if col.sampled else \
            f"step t = {t} of the window"
        return f"{what}: x_t = {self._char(col.input)}"

    def _tip_loss(self, t: int) -> str:
        col = self.columns[t]
        return (f"loss at t = {t}: −log y_t[{self._char(col.target)}] = −log {col.probs[col.target]:.4f} "
                f"= {col.loss:.4f} nats")

    def _tip_state(self, t: int, layer: int, name: str) -> str:
        label = "h_t" if name == "h" else f"{name}_t"
        return (f"{label}, layer {layer + 1}, t = {t} ({STATE_MEANINGS.get(name, '')}):\n"
                f"{_numbers(self.columns[t].states[layer][name])}")

    def _tip_input(self, t: int) -> str:
        col = self.columns[t]
        return (f"x_t at t = {t}: {self._char(col.input)} (id {col.input}), one-hot over {len(self.chars)} "
                f"characters" + (" — drawn from the step before and fed back" if col.sampled else ""))

    def _char(self, i) -> str:
        return repr(self.chars[i]) if i is not None else "—"

    def _tip_probs(self, t: int) -> str:
        """y_t's most likely characters with their probabilities, the target and a drawn one marked."""
        col = self.columns[t]
        order = np.argsort(col.probs)[::-1][:max(self.k, 8)]
        lines = [f"y_t = softmax(W_hy h_t + b_y) at t = {t}:"]
        lines += [f"  {self._char(i)}: {col.probs[i]:.4f}" + ("   ← target" if i == col.target else "")
                  + ("   ← drawn" if i == col.drawn else "") for i in order]
        if col.target is not None and col.target not in order:
            lines.append(f"  target {self._char(col.target)}: {col.probs[col.target]:.3g}")
        return "\n".join(lines)

    def _tip_grad(self, t: int, layer: int) -> str:
        text = f"‖dL/dh_t‖ at t = {t}, layer {layer + 1}: {self.dh[layer, t]:.4g}"
        if self.dc is not None:
            text += f"\n‖dL/dc_t‖: {self.dc[layer, t]:.4g}"
        return text + "\n(L: the window's summed loss; from this step's output and every later step)"

    def tooltip_at(self, pos) -> str:
        """The tooltip text at a point (canvas coordinates), '' where nothing is drawn."""
        for hit in reversed(self._hits):
            if hit.rect.contains(pos):
                return getattr(self, "_tip_" + hit.kind)(*hit.args)
        return ""

    def event(self, e) -> bool:
        if e.type() == QEvent.Type.ToolTip:
            text = self.tooltip_at(e.pos())
            if text:
                QToolTip.showText(e.globalPos(), text, self)
            else:
                QToolTip.hideText()
                e.ignore()
            return True
        return super().event(e)

    # -- painting -----------------------------------------------------------------------------------------

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.fillRect(event.rect(), QColor("white"))
        if not self.columns:
            return
        rows = self.rows()
        area = event.rect()
        p.setFont(self._font)
        if area.left() < LEFT + CARRIED_W:
            self._paint_labels(p, rows)
            self._paint_carried(p, rows)
        first = max(0, (area.left() - LEFT - CARRIED_W) // COL_W - 1)
        last = min(len(self.columns), (area.right() - LEFT - CARRIED_W) // COL_W + 2)
        for t in range(first, last):
            self._paint_column(p, rows, t)
        self._paint_footer(p, rows)
        p.end()

    def _paint_labels(self, p: QPainter, rows) -> None:
        p.setPen(QColor(60, 60, 60))
        flags = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter | Qt.TextFlag.TextWordWrap

        def label(y, h, text):
            p.drawText(QRect(4, y, LEFT - 10, h), flags, text)

        label(rows["probs"], (self.k + 1) * ROW_H, f"y_t = softmax(W_hy h_t + b_y)\noutput, top {self.k};\n"
                                                    f"target in green")
        label(rows["loss"], LOSS_H, "loss −log y_t[target]")
        formula = {"rnn": "h_t = tanh(W_hh h_t−1\n + W_xh x_t + b_h)", "lstm": "h, c and gates i f o g",
                   "gru": "h and gates z r, candidate g"}[self.cell]
        for layer in range(self.layers):
            label(rows[("grad", layer)], GRAD_H, "‖dL/dh_t‖ ←")
            below = "x_t" if layer == 0 else f"h_t of layer {layer}"
            label(rows[("state", layer)], self.state_height(),
                  f"layer {layer + 1}: {formula}" + ("" if self.cell == "rnn" else f"\nreads {below}"))
        label(rows["input"], INPUT_H, "x_t: input character\n(one-hot)")

    def _paint_state(self, p: QPainter, layer: int, name: str, rect: QRect, t: int | None, values) -> None:
        """One state's strip: an image column for many units, or cells with their values for a few."""
        H = len(values)
        if H <= VALUE_CELLS:
            scale = self._scales[(layer, name)]
            cell_h = rect.height() / H
            for j, v in enumerate(values):
                r = QRectF(rect.x(), rect.y() + j * cell_h, rect.width(), cell_h - 1)
                p.fillRect(r, scale.color(float(v)))
                if rect.width() >= 34:
                    p.setPen(QColor("white") if scale.strong(float(v)) else QColor(30, 30, 30))
                    p.drawText(r, Qt.AlignmentFlag.AlignCenter, f"{v:+.2f}")
        elif t is not None:
            image = self._images[(layer, name)][0]
            p.drawImage(QRectF(rect), image, QRectF(t, 0, 1, H))
        else:  # the carried state: its own colours, same scale
            scale = self._scales[(layer, name)]
            rgb = np.ascontiguousarray(scale.rgb(values)[:, None, :].astype(np.uint8))  # (H, 1, 3)
            image = QImage(rgb.data, 1, H, 3, QImage.Format.Format_RGB888)
            p.drawImage(QRectF(rect), image)
        p.setPen(QPen(FAINT, 1))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRect(rect)
        if len(self.names) > 1:
            p.setPen(QColor(60, 60, 60))
            p.drawText(QRect(rect.x(), rect.y() - 13, rect.width(), 12), Qt.AlignmentFlag.AlignCenter, name)

    def _paint_carried(self, p: QPainter, rows) -> None:
        if self.state0 is None:
            return
        x = LEFT
        C = 2 if self.cell == "lstm" else 1
        p.setPen(QColor(60, 60, 60))
        p.drawText(QRect(x, rows["header"], CARRIED_W, HEADER_H), Qt.AlignmentFlag.AlignCenter, "h_-1 (carried)")
        for layer in range(self.layers):
            y = rows[("state", layer)]
            rect = QRect(x + 14, y, CARRIED_W - 30, self.state_height())
            self._paint_state(p, layer, "h", rect, None, self.state0[layer * C])
        # the truncation boundary: backpropagation stops where the carried state enters
        top, bottom = rows[("grad", self.layers - 1)] - 4, rows["input"] + INPUT_H
        bx = x + CARRIED_W - 2
        full = self.backward >= self.window_steps and self.window_steps > 0
        pen = QPen(GRAD if full else FAINT, 2.5 if full else 1.5, Qt.PenStyle.DashLine)
        p.setPen(pen)
        p.drawLine(bx, top, bx, bottom)
        p.save()
        p.translate(x + 4, bottom)
        p.rotate(-90)
        p.setPen(GRAD if full else FAINT)
        p.drawText(QRect(0, 0, bottom - top, 12), Qt.AlignmentFlag.AlignCenter, "✂ truncation")
        p.restore()

    def _paint_footer(self, p: QPainter, rows) -> None:
        """Once the gradient has come all the way back: where it stops, and what it would have carried on."""
        if self.backward < self.window_steps or not self.window_steps:
            return
        p.setPen(GRAD)
        p.drawText(QRect(LEFT - 60, rows["footer"], 900, FOOTER_H),
                   Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                   f"✂ Truncated backpropagation: the gradient stops at the window's start; ‖dL/dh_-1‖ = "
                   f"{self.dstate0_norm:.3g} never reaches the previous window.")

    def _paint_column(self, p: QPainter, rows, t: int) -> None:
        x = self.column_x(t)
        col = self.columns[t]
        p.setFont(self._font)
        if t >= self.forward:  # not revealed yet
            p.setPen(QPen(QColor(215, 215, 215), 1, Qt.PenStyle.DotLine))
            p.drawRect(QRect(x + 6, rows["probs"], COL_W - 12, rows["input"] + INPUT_H - rows["probs"]))
            p.setPen(QColor(180, 180, 180))
            p.drawText(QRect(x, rows["header"], COL_W, HEADER_H), Qt.AlignmentFlag.AlignCenter, f"t = {t}")
            return
        if col.sampled:
            p.fillRect(QRect(x + 2, rows["header"], COL_W - 4, rows["footer"] - rows["header"]),
                       QColor(255, 246, 235))
        p.setPen(SAMPLED if col.sampled else QColor(40, 40, 40))
        p.drawText(QRect(x, rows["header"], COL_W, HEADER_H), Qt.AlignmentFlag.AlignCenter,
                   f"t = {t}" + (" · sampled" if col.sampled else ""))
        self._paint_probs(p, rows, x, col)
        if col.loss is not None:
            p.setPen(QColor(40, 40, 40))
            p.drawText(QRect(x, rows["loss"], COL_W, LOSS_H), Qt.AlignmentFlag.AlignCenter, f"loss {col.loss:.3f}")
        mid = x + COL_W // 2
        p.setPen(QPen(QColor(110, 110, 110), 1))
        p.setBrush(QColor(110, 110, 110))
        top_state = rows[("state", self.layers - 1)]
        _arrow(p, QPointF(mid, top_state - GRAD_H - 1), QPointF(mid, rows["loss"] + LOSS_H + 2))  # h_t -> y_t
        if t == 0:
            p.drawText(QRectF(mid + 4, rows["loss"] + LOSS_H, 44, ARROW_H), "W_hy")
        for layer in range(self.layers):
            y = rows[("state", layer)]
            rects = self._strip_rects(x, y)
            for name, rect in rects:
                self._paint_state(p, layer, name, rect, t, col.states[layer][name])
            below = rows["input"] if layer == 0 else rows[("grad", layer - 1)]
            p.setPen(QPen(QColor(110, 110, 110), 1))
            p.setBrush(QColor(110, 110, 110))
            _arrow(p, QPointF(mid, below - 1), QPointF(mid, y + self.state_height() + 2))  # x_t (or below) -> h_t
            if t == 0 and layer == 0:
                p.drawText(QRectF(mid + 4, y + self.state_height(), 44, ARROW_H), "W_xh")
            # the recurrence: h_t-1 -> h_t
            ay = y + self.state_height() / 2
            start = QPointF(x - 22 if t > 0 else LEFT + CARRIED_W - 14, ay)
            _arrow(p, start, QPointF(rects[0][1].x() - 1, ay))
            if t == 1 and layer == 0:
                p.drawText(QRectF(x - 17, ay + 1, 30, 12), Qt.AlignmentFlag.AlignCenter, "W_hh")
        self._paint_input(p, rows, x, col)
        if col.sampled and t > 0:  # the drawn character fed back as this step's input
            p.setPen(QPen(SAMPLED, 1.5, Qt.PenStyle.DashLine))
            p.setBrush(SAMPLED)
            _arrow(p, QPointF(x - 8, rows["probs"] + 6), QPointF(x + 18, rows["input"] + 8), 6)
        if self.window_steps - self.backward <= t < self.window_steps:
            self._paint_grad(p, rows, x, t)

    def _paint_probs(self, p: QPainter, rows, x: int, col: Column) -> None:
        order = list(np.argsort(col.probs)[::-1][:self.k])
        extra = col.target if col.target is not None and col.target not in order else None
        y = rows["probs"]
        bar_w = COL_W - 70
        for i in order + ([extra] if extra is not None else []):
            pr = float(col.probs[i])
            is_target, is_drawn = i == col.target, i == col.drawn
            p.setFont(self._mono)
            p.setPen(TARGET if is_target else (SAMPLED if is_drawn else QColor(40, 40, 40)))
            p.drawText(QRect(x + 6, y, 14, ROW_H), Qt.AlignmentFlag.AlignCenter, display_char(self.chars[i]))
            p.fillRect(QRectF(x + 22, y + 3, max(1.0, bar_w * pr), ROW_H - 6),
                       TARGET if is_target else (SAMPLED if is_drawn else BAR))
            if is_drawn:
                p.setPen(QPen(SAMPLED, 1.5))
                p.setBrush(Qt.BrushStyle.NoBrush)
                p.drawRect(QRect(x + 4, y, COL_W - 8, ROW_H))
            p.setFont(self._font)
            p.setPen(TARGET if is_target else QColor(70, 70, 70))
            p.drawText(QRect(x + COL_W - 54, y, 50, ROW_H), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                       probability(pr))
            y += ROW_H
        p.setFont(self._font)

    def _paint_input(self, p: QPainter, rows, x: int, col: Column) -> None:
        y = rows["input"]
        box = QRect(x + COL_W // 2 - 14, y + 2, 28, 24)
        p.setPen(QPen(SAMPLED if col.sampled else QColor(60, 60, 60), 2 if col.sampled else 1))
        p.setBrush(QColor(255, 236, 210) if col.sampled else QColor(235, 240, 250))
        p.drawRect(box)
        p.setFont(self._big)
        p.setPen(QColor(20, 20, 20))
        p.drawText(box, Qt.AlignmentFlag.AlignCenter, display_char(self.chars[col.input]))
        p.setFont(self._font)
        V = len(self.chars)
        if V <= 8:  # the one-hot vector itself
            w = 10
            x0 = x + COL_W // 2 - V * w // 2
            for i in range(V):
                r = QRect(x0 + i * w, y + 30, w - 1, 10)
                p.fillRect(r, QColor(40, 40, 40) if i == col.input else QColor(225, 225, 225))

    def _paint_grad(self, p: QPainter, rows, x: int, t: int) -> None:
        top = float(self.dh.max()) if self.dh.size else 0.0
        for layer in range(self.layers):
            y = rows[("grad", layer)]
            v = float(self.dh[layer, t])
            w = (COL_W - 70) * (v / top if top > 0 else 0.0)
            p.fillRect(QRectF(x + COL_W - 26 - w, y + 4, max(w, 1.0), GRAD_H - 9), GRAD)
            p.setPen(GRAD)
            p.drawText(QRect(x + 6, y, 44, GRAD_H), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                       f"{v:.2g}")
            p.setPen(QPen(GRAD, 1.2))
            p.setBrush(GRAD)
            end = x - 22 if t > 0 else LEFT + CARRIED_W + 4
            _arrow(p, QPointF(x + 2, y + GRAD_H / 2), QPointF(end, y + GRAD_H / 2), 4)
