"""Which of a cell's states to show and how to colour it: scales per state, and the state/layer chooser.

A model's states arrive as core gives them: a list with one dict per layer (bottom first) from a state's name
("h", "c", "i", "f", "o", "g", "z", "r"; core.model.STATE_NAMES) to its values (L, H). Each name has a range
(core.model.STATE_RANGES): tanh states in [-1, 1] get a diverging blue-white-red scale, sigmoid gates in [0, 1]
a sequential white-to-purple one, and the LSTM's unbounded cell state c a symmetric diverging scale as wide as
the largest |c| in the data shown (the heatmap: as wide as 90% of the units need, when a few reach far beyond).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QWidget

from core.model import STATE_MEANINGS, STATE_RANGES

WHITE = np.array([255.0, 255.0, 255.0])
POSITIVE = np.array([202.0, 0.0, 32.0])  # a diverging scale's top end: red
NEGATIVE = np.array([5.0, 113.0, 176.0])  # its bottom end: blue
GATE = np.array([84.0, 39.0, 143.0])  # a sequential scale's top end: purple (an open gate)
STATE_LABELS = {  # the chooser's entry for each state
    "h": "h · hidden state",
    "c": "c · cell state (unbounded)",
    "i": "i · input gate",
    "f": "f · forget gate",
    "o": "o · output gate",
    "g": "g · candidate",
    "z": "z · update gate",
    "r": "r · reset gate",
}
STATE_TITLES = {  # what a state is, as a caption or a colour bar names it
    "h": "hidden state h", "c": "cell state c", "i": "input gate i", "f": "forget gate f", "o": "output gate o",
    "g": "candidate g", "z": "update gate z", "r": "reset gate r",
}


def _blend(end: np.ndarray, amount) -> np.ndarray:
    """(..., 3) RGB from white (amount 0) to end (amount 1), linear in RGB."""
    amount = np.asarray(amount, dtype=np.float64)[..., None]  # (..., 1)
    return np.rint(WHITE + amount * (end - WHITE)).astype(int)  # (..., 3)


def _qcolor(rgb) -> QColor:
    return QColor(int(rgb[0]), int(rgb[1]), int(rgb[2]))


def diverging_rgb(values) -> np.ndarray:
    """(..., 3) RGB of the diverging scale on [-1, 1]: -1 blue, 0 white, +1 red, linear in between (clipped)."""
    v = np.clip(np.nan_to_num(np.asarray(values, dtype=np.float64)), -1.0, 1.0)  # (...,)
    return np.where((v >= 0)[..., None], _blend(POSITIVE, np.abs(v)), _blend(NEGATIVE, np.abs(v)))


def diverging_color(value: float) -> QColor:
    """The diverging scale on [-1, 1]: -1 blue, 0 white, +1 red, linear in RGB in between (clipped)."""
    return _qcolor(diverging_rgb(value))


def _number(x: float) -> str:
    """A scale end as a reader wants it: 1, 0.5, 2.4, 13."""
    return f"{x:.2g}" if abs(x) < 10 else f"{x:.0f}"


ROBUST_SHARE = 0.9  # a robust scale holds this share of the units whole (scale_for(robust=True))
OUTLIER_RATIO = 3.0  # ... and is used when the largest |value| is over this many times as far out


@dataclass(frozen=True)
class StateScale:
    """How one state's values become colours: the range [lo, hi] and whether white is its middle or its low end."""

    name: str  # the state: "h", "c", a gate's letter
    lo: float  # the value drawn at the scale's low end
    hi: float  # the value drawn at its high end
    sequential: bool  # True: white at lo to purple at hi (sigmoid gates); False: blue, white at 0, red
    from_data: bool  # True: the range was set from the values shown (the unbounded cell state)
    covers: float = 1.0  # with from_data, the share of the units shown whole by the range (below 1: outliers clipped)

    def amounts(self, values) -> np.ndarray:
        """Where values sit on the scale: in [0, 1] for a sequential scale, [-1, 1] for a diverging one."""
        v = np.nan_to_num(np.asarray(values, dtype=np.float64))
        if self.sequential:
            return np.clip((v - self.lo) / (self.hi - self.lo), 0.0, 1.0)
        return np.clip((2.0 * v - (self.lo + self.hi)) / (self.hi - self.lo), -1.0, 1.0)

    def rgb(self, values) -> np.ndarray:
        """(..., 3) RGB colours of values, all at once."""
        a = self.amounts(values)
        return _blend(GATE, a) if self.sequential else diverging_rgb(a)

    def color(self, value: float) -> QColor:
        return _qcolor(self.rgb(value))

    def strong(self, values, beyond: float = 0.6):
        """True where the colour is dark enough that text over it should be white."""
        return np.abs(self.amounts(values)) > beyond

    @property
    def title(self) -> str:
        return STATE_TITLES.get(self.name, self.name)

    @property
    def ends(self) -> list[tuple[float, str]]:
        """(value, label) of the ticks a legend shows: both ends, and 0 in the middle of a diverging scale."""
        if self.sequential:
            return [(self.lo, _number(self.lo)), (self.hi, _number(self.hi))]
        mid = 0.5 * (self.lo + self.hi)
        return [(self.lo, "−" + _number(-self.lo) if self.lo < 0 else _number(self.lo)), (mid, _number(mid)),
                (self.hi, ("+" if self.hi > 0 else "") + _number(self.hi))]

    @property
    def range_text(self) -> str:
        """One line on the scale: '[-1, 1] (tanh)', '[0, 1] (sigmoid)' or the unbounded cell state's data range."""
        if self.from_data and self.covers < 1.0:
            return (f"unbounded: coloured ±{_number(self.hi)}, which holds {100 * self.covers:.0f}% of the units "
                    f"whole (the few that reach far beyond it, such as counters, in full colour)")
        if self.from_data:
            return f"unbounded: coloured ±{_number(self.hi)}, the largest |{self.name}| shown"
        kind = "sigmoid" if self.sequential else "tanh"
        return f"[{_number(self.lo)}, {_number(self.hi)}] ({kind})"

    @property
    def colorbar_label(self) -> str:
        """A short label for a colour bar, which runs along its height."""
        if self.from_data and self.covers < 1.0:
            return f"{self.name}: unbounded, {100 * self.covers:.0f}% of units within"
        if self.from_data:
            return f"{self.name}: unbounded, ±max |{self.name}|"
        return f"{self.title} ({'sigmoid' if self.sequential else 'tanh'})"


def scale_for(name: str, values=None, robust: bool = False) -> StateScale:
    """The colour scale of a state; for an unbounded one, symmetric around 0 and as wide as max |values|.

    robust, for values (n, H): the units' largest |values| are ranked, and when the largest of all is over
    OUTLIER_RATIO times the ROBUST_SHARE quantile of them (an LSTM's counting units reach |c| in the hundreds
    while the rest stay within a few), the scale is as wide as that quantile instead, so that the rest are not
    all drawn white; the few units beyond it take the scale's end colours."""
    bounds = STATE_RANGES.get(name, (-1.0, 1.0))
    if bounds is not None:
        lo, hi = bounds
        return StateScale(name, lo, hi, sequential=lo >= 0.0, from_data=False)
    magnitudes = np.abs(np.asarray(values, dtype=np.float64)) if values is not None and np.size(values) else None
    reach = float(np.nanmax(magnitudes)) if magnitudes is not None else 0.0
    if not math.isfinite(reach) or reach <= 0.0:
        return StateScale(name, -1.0, 1.0, sequential=False, from_data=True)
    if robust and magnitudes.ndim == 2:
        typical = float(np.nanquantile(np.nanmax(magnitudes, axis=0), ROBUST_SHARE, method="lower"))  # a unit's reach
        if typical > 0.0 and reach > OUTLIER_RATIO * typical:
            return StateScale(name, -typical, typical, sequential=False, from_data=True, covers=ROBUST_SHARE)
    return StateScale(name, -reach, reach, sequential=False, from_data=True)


class StateChooser(QWidget):
    """The combos that choose what to show: a state or gate (stateCombo) and a layer (layerCombo).

    Feed it each new set of states with set_states(); it keeps the choice when the new set has it (the top
    layer's h otherwise) and emits changed() when the user picks another. A model with one state disables the
    state combo; one with one layer hides the layer combo.
    """

    changed = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self._names: tuple[str, ...] = ()
        self._layers = 0
        self.state_combo = QComboBox(objectName="stateCombo")
        self.state_combo.setToolTip("Which state to show: the hidden state h, or (for an LSTM or a GRU) the "
                                    "cell state and the gates")
        self.layer_combo = QComboBox(objectName="layerCombo")
        self.layer_combo.setToolTip("Which layer's state to show; the top layer's h is what the read-out sees")
        self.layer_label = QLabel("of")
        for combo in (self.state_combo, self.layer_combo):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
            combo.currentIndexChanged.connect(self._on_index_changed)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.state_combo)
        layout.addWidget(self.layer_label)
        layout.addWidget(self.layer_combo)
        self.set_layout_of(("h",), 1)

    def _on_index_changed(self, _index: int) -> None:
        if not self.signalsBlocked():
            self.changed.emit()

    @property
    def name(self) -> str:
        return self.state_combo.currentData() or "h"

    @property
    def layer(self) -> int:
        """The chosen layer, 0 for the bottom one."""
        index = self.layer_combo.currentIndex()
        return max(0, index)

    @property
    def single(self) -> bool:
        """True when there is nothing to choose: one layer with only h (the lesson's model)."""
        return len(self._names) == 1 and self._layers == 1

    def set_layout_of(self, names, layers: int) -> bool:
        """Offer these state names over this many layers, keeping the choice where it still exists.
        Returns True when the choice changed."""
        names, layers = tuple(names), max(1, int(layers))
        before = (self.name, self.layer)
        if names != self._names:
            with QSignalBlocker(self.state_combo):
                self.state_combo.clear()
                for n in names:
                    self.state_combo.addItem(STATE_LABELS.get(n, n), n)
                    self.state_combo.setItemData(self.state_combo.count() - 1, f"{n}: {STATE_MEANINGS.get(n, '')}",
                                                 Qt.ItemDataRole.ToolTipRole)
                self.state_combo.setCurrentIndex(max(0, self.state_combo.findData(before[0])))
            self._names = names
        if layers != self._layers:
            with QSignalBlocker(self.layer_combo):
                self.layer_combo.clear()
                for layer in range(layers):
                    where = " (top)" if layer == layers - 1 and layers > 1 else " (bottom)" if layer == 0 else ""
                    self.layer_combo.addItem(f"layer {layer + 1}{where}")
                self.layer_combo.setCurrentIndex(layers - 1)  # another model: its top layer, read out
            self._layers = layers
        self.state_combo.setEnabled(len(names) > 1)
        self.layer_combo.setVisible(layers > 1)
        self.layer_label.setVisible(layers > 1)
        return (self.name, self.layer) != before

    def set_states(self, states) -> bool:
        """Offer what states (one dict per layer) hold; True when the choice changed."""
        return self.set_layout_of(tuple(states[0]) if states else ("h",), len(states) if states else 1)

    def choose(self, name: str, layer: int) -> bool:
        """Select a state and a layer, emitting changed() once if that is a change (False, changing nothing,
        when either is not offered)."""
        index = self.state_combo.findData(name)
        if index < 0 or not 0 <= layer < self.layer_combo.count():
            return False
        before = (self.name, self.layer)
        with QSignalBlocker(self):
            self.state_combo.setCurrentIndex(index)
            self.layer_combo.setCurrentIndex(layer)
        if (self.name, self.layer) != before:
            self.changed.emit()
        return True

    def values(self, states):
        """The chosen state's values (L, H) out of states (one dict per layer)."""
        layer = min(self.layer, len(states) - 1)
        return states[layer].get(self.name, states[layer]["h"])

    def describe(self) -> str:
        """The choice in words: 'cell state c of layer 2', or 'hidden state h' when there is one layer."""
        title = STATE_TITLES.get(self.name, self.name)
        return title if self._layers <= 1 else f"{title} of layer {self.layer + 1}"


def as_states(states_or_hidden) -> list:
    """States as one dict per layer, from such a list or from a lone hidden-state array (L, H)."""
    if isinstance(states_or_hidden, (list, tuple)):
        return list(states_or_hidden)
    return [{"h": np.asarray(states_or_hidden)}]
