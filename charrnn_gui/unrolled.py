"""The Unrolled tab: the current model on a window of text, one column per time step, as the lecture draws it.

By default the window is the one the next training iteration learns from (stream 1), read from the state carried
into it. Step reveals the forward pass column by column, then the gradient flowing back (right to left) to the
truncation boundary; Sample step draws a character from the last distribution shown (at the temperature) and
feeds it back as the next input, as test-time sampling does. While Live is on and the tab is on screen, the view
follows training on a timer; hidden, it computes nothing.
"""

from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import QTimer, Slot
from PySide6.QtWidgets import (QCheckBox, QDoubleSpinBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QScrollArea,
                               QVBoxLayout, QWidget)

from core.model import describe
from core.unroll import carried_at, draw, sample_step, temperature_probs, unroll
from core.vocab import UnknownCharactersError

from .unroll_source import UnrollInput, take_training_window
from .unrolled_canvas import Column, UnrolledCanvas

REFRESH_MS = 2000  # how often a shown, live view follows training (at the least: see COST_SHARE)
COST_SHARE = 0.02  # a live view's refreshes take at most this share of the GUI thread: a slow one waits longer
MAX_TEXT = 200  # characters of your own text unrolled at most
STEP_BUDGET = 6e7  # multiply-adds of one unrolled window at most (about 50 ms): a larger model shows fewer steps
MIN_STEPS = 8  # ... but never fewer than this


def steps_affordable(arch, T: int) -> int:
    """How many of a window's T steps to unroll: all of them unless forward and backward (about 3 multiply-adds per
    weight and step) would cost more than STEP_BUDGET."""
    G = {"rnn": 1, "lstm": 4, "gru": 3}[arch.cell]
    per_step = 3 * (G * arch.hidden * (arch.vocab + arch.hidden) + (arch.layers - 1) * G * arch.hidden * 2 * arch.hidden
                    + arch.vocab * arch.hidden)
    return int(min(T, max(MIN_STEPS, STEP_BUDGET // per_step)))


class UnrolledView(QWidget):
    """The network unrolled over a window: Step, Show all, Sample step, Live, your own text."""

    def __init__(self, session, parent=None):
        super().__init__(parent)
        self.setObjectName("unrolledView")
        self.session = session
        self.computations = 0  # windows unrolled so far (the tab costs nothing while hidden: tests count these)
        self.input: UnrollInput | None = None  # the numbers shown
        self.own_text = ""  # your own text ('' for the training window)
        self._rng = np.random.default_rng()
        self._stale = True  # the model or its window may have changed since the last computation
        self._temperature_touched = False

        self.info = QLabel("", objectName="unrolledInfo")
        self.info.setWordWrap(True)
        self.step_button = QPushButton("Step", objectName="unrolledStep")
        self.step_button.setToolTip("Reveal the forward pass one column (time step) at a time, then the gradient "
                                    "flowing back from the last step to the first")
        self.all_button = QPushButton("Show all", objectName="unrolledShowAll")
        self.all_button.setToolTip("Reveal the whole forward and backward pass")
        self.sample_button = QPushButton("Sample step", objectName="unrolledSample")
        self.sample_button.setToolTip("Test time: draw a character from the last distribution y_t shown and feed "
                                      "it back as the next input x_t+1")
        self.temperature = QDoubleSpinBox(objectName="unrolledTemperature")
        self.temperature.setRange(0.05, 5.0)
        self.temperature.setSingleStep(0.1)
        self.temperature.setDecimals(2)
        self.temperature.setValue(1.0)
        self.temperature.setToolTip("Sampling temperature: y = softmax(scores / temperature); starts at the live "
                                    "setting")
        self.live_check = QCheckBox("Live", objectName="unrolledLive")
        self.live_check.setChecked(True)
        self.live_check.setToolTip("Follow training (every 2 s while this tab is shown), everything revealed; "
                                   "Step and Sample step freeze the picture")
        self.text_edit = QLineEdit(objectName="unrolledText")
        self.text_edit.setPlaceholderText("or type your own text and press Enter (starts from h = 0)")
        self.text_edit.setMaxLength(MAX_TEXT + 1)
        self.window_button = QPushButton("Training window", objectName="unrolledWindowButton")
        self.window_button.setToolTip("Back to the window the next training iteration learns from")

        controls = QHBoxLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        for w in (self.step_button, self.all_button, self.sample_button, QLabel("temperature"), self.temperature,
                  self.live_check):
            controls.addWidget(w)
        controls.addSpacing(12)
        controls.addWidget(self.text_edit, 1)
        controls.addWidget(self.window_button)

        self.canvas = UnrolledCanvas()
        self.scroll = QScrollArea(objectName="unrolledScroll")
        self.scroll.setWidget(self.canvas)
        self.scroll.setWidgetResizable(False)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.addLayout(controls)
        layout.addWidget(self.info)
        layout.addWidget(self.scroll, 1)

        self.timer = QTimer(self)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self._on_timer)
        self.step_button.clicked.connect(self.step)
        self.all_button.clicked.connect(self.show_all)
        self.sample_button.clicked.connect(self.sample_step)
        self.live_check.toggled.connect(self._on_live_toggled)
        self.text_edit.returnPressed.connect(self._on_text_entered)
        self.window_button.clicked.connect(self.use_training_window)
        self.temperature.valueChanged.connect(self._on_temperature_edited)
        session.modelInstalled.connect(self._on_model_changed)
        session.modelDiscarded.connect(self._on_model_changed)
        session.modelOpened.connect(self._on_model_changed)
        session.stateChanged.connect(self._on_session_state)
        self._show_message()

    # -- when to compute ----------------------------------------------------------------------------------

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.timer.start()
        if self._stale and self.live_check.isChecked():
            QTimer.singleShot(0, self._refresh_if_live)

    def hideEvent(self, event) -> None:
        super().hideEvent(event)
        self.timer.stop()

    @Slot()
    def _on_timer(self) -> None:
        if self.isVisible() and self.live_check.isChecked() and (self._stale or self._training()):
            self.refresh()

    @Slot()
    def _refresh_if_live(self) -> None:
        """A refresh posted earlier, unless the user has since frozen the picture (Step, Sample step)."""
        if self.isVisible() and self.live_check.isChecked():
            self.refresh()

    def _training(self) -> bool:
        return getattr(self.session, "state", "") == "running"

    @Slot()
    def _on_model_changed(self) -> None:
        self._stale = True
        self.input = None
        self.live_check.blockSignals(True)
        self.live_check.setChecked(True)  # a new model: a new picture, following it
        self.live_check.blockSignals(False)
        if self.isVisible():
            QTimer.singleShot(0, self._refresh_if_live)

    @Slot(str)
    def _on_session_state(self, state: str) -> None:
        self._stale = True  # e.g. a single step taken while paused: the next window is another one
        session = self.session
        if (state == "paused" and not self.live_check.isChecked() and self.isVisible() and session.has_model
                and self.input is not None and not self.own_text and session.iteration != self.input.iteration):
            self.live_check.setChecked(True)  # the model was trained (the toolbar's Step): show its new numbers

    @Slot(bool)
    def _on_live_toggled(self, live: bool) -> None:
        if live:
            self.refresh()

    @Slot(float)
    def _on_temperature_edited(self, _value: float) -> None:
        self._temperature_touched = True

    # -- the numbers --------------------------------------------------------------------------------------

    def refresh(self) -> bool:
        """Take the current weights and window and unroll them (only while shown); False if there is nothing."""
        if not self.isVisible():
            return False
        taken = take_training_window(self.session)
        self._stale = False
        if taken is None:
            self.input = None
            self.canvas.set_data((), "rnn", [], 0, None, None, None, None)
            self._show_message()
            return False
        if not self._temperature_touched:
            self.temperature.blockSignals(True)
            self.temperature.setValue(taken.temperature)
            self.temperature.blockSignals(False)
        if self.own_text:
            try:
                ids = taken.vocab.encode(self.own_text)
            except UnknownCharactersError as e:
                self.info.setText(f"<span style='color:#b00'>Cannot unroll this text: {e}.</span>")
                self.own_text = ""
                return False
            state0 = np.zeros_like(taken.state0)
            taken = UnrollInput(taken.params, taken.vocab, ids[:-1], ids[1:], state0, taken.temperature,
                                taken.iteration, taken.streams)
        self._compute(taken)
        return True

    def _compute(self, taken: UnrollInput) -> None:
        started = time.perf_counter()
        self.arch = describe(taken.params)
        n = steps_affordable(self.arch, len(taken.ids))
        ids, targets = taken.ids[:n], taken.targets[:n]  # (n,) each
        u = unroll(taken.params, ids, targets, taken.state0, weights=False)
        self.computations += 1
        self.input, self.unrolled = taken, u
        T = len(ids)
        columns = [Column(int(ids[t]), [{name: v[t] for name, v in layer.items()} for layer in u.states],
                          u.probs[t], int(targets[t]), float(u.losses[t])) for t in range(T)]
        live = self.live_check.isChecked()
        forward, backward = (T, T) if live else (min(self.canvas.forward, T), 0)
        self.canvas.set_data(taken.vocab.chars, self.arch.cell, columns, T, u.state0, u.dh, u.dc, u.dstate0)
        self.canvas.reveal(forward, backward)
        self._describe()
        cost = time.perf_counter() - started
        self.timer.setInterval(max(REFRESH_MS, int(1000 * cost / COST_SHARE)))

    # -- actions ------------------------------------------------------------------------------------------

    def _freeze(self) -> bool:
        """Stop following training (Step and Sample step look at one picture); False if there is nothing."""
        if self.live_check.isChecked():
            self.live_check.blockSignals(True)
            self.live_check.setChecked(False)
            self.live_check.blockSignals(False)
            if self.input is None and not self.refresh():
                return False
            self.canvas.reveal(0, 0)
        return self.input is not None or self.refresh()

    @Slot()
    def step(self) -> None:
        """Reveal the next forward column, or once all are shown the next step of the backward pass."""
        if not self._freeze():
            return
        c = self.canvas
        T = c.window_steps
        if c.forward < T:
            c.reveal(c.forward + 1, 0)
        elif c.backward < T:
            c.reveal(c.forward, c.backward + 1)
        self._describe()
        self._follow()

    @Slot()
    def show_all(self) -> None:
        c = self.canvas
        c.reveal(len(c.columns), c.window_steps)
        self._describe()

    @Slot()
    def sample_step(self) -> None:
        """Draw a character from the last column's y_t and append a column that reads it (test-time sampling)."""
        if not self._freeze():
            return
        c = self.canvas
        if not c.columns:
            return
        temperature = self.temperature.value()
        columns = list(c.columns)
        last = columns[-1]
        try:
            if last.drawn is None:  # the window's last step: draw from its distribution now (sampled steps drew)
                probs = temperature_probs(self.unrolled.scores[len(columns) - 1], temperature)  # (V,)
                last = columns[-1] = last._replace(drawn=draw(probs, self._rng))
            state = carried_at(self._column_states(columns), self.arch.cell, -1)  # (K, H) after the last column
            s = sample_step(self.input.params, state, last.drawn, temperature, self._rng)
        except ValueError as e:  # e.g. weights that are no longer finite give no distribution to draw from
            self.info.setText(f"<span style='color:#b00'>Cannot sample from this model: {e}.</span>")
            return
        columns.append(Column(s.input, s.states, s.probs, None, None, drawn=s.drawn, sampled=True))
        c.set_data(c.chars, c.cell, columns, c.window_steps, c.state0, c.dh, c.dc, self.unrolled.dstate0)
        c.reveal(len(columns), c.backward)
        self._describe()
        self._follow()

    @staticmethod
    def _column_states(columns):
        """Per layer {name: (n, H)} over the columns, for carried_at."""
        return [{name: np.stack([col.states[layer][name] for col in columns]) for name in columns[0].states[layer]}
                for layer in range(len(columns[0].states))]

    def _follow(self) -> None:
        """Scroll so that the column just revealed is on screen."""
        c = self.canvas
        t = c.forward - 1 if c.backward == 0 else c.window_steps - c.backward
        x = c.column_x(max(t, 0))
        self.scroll.ensureVisible(x + 50, 10, 120, 0)

    @Slot()
    def _on_text_entered(self) -> None:
        text = self.text_edit.text()
        if len(text) < 2:
            self.info.setText("<span style='color:#b00'>Type at least two characters: each step reads one and "
                              "predicts the next.</span>")
            return
        if len(text) > MAX_TEXT + 1:
            text = text[:MAX_TEXT + 1]
        self.own_text = text
        self.refresh()

    @Slot()
    def use_training_window(self) -> None:
        self.own_text = ""
        self.text_edit.clear()
        self.refresh()

    # -- words ---------------------------------------------------------------------------------------------

    def _show_message(self) -> None:
        self.info.setText("No model yet: start training, or choose Experiments → Hello for the slides' example "
                          "(the text “hello”, 3 hidden units, 4 steps).")

    def _describe(self) -> None:
        taken, c = self.input, self.canvas
        if taken is None:
            return
        T = c.window_steps
        capped = len(taken.ids) - T
        where = ("your text, from h_-1 = 0" if self.own_text else
                 f"the next training window{' (stream 1 of %d)' % taken.streams if taken.streams > 1 else ''}, "
                 f"from the state carried in")
        loss = float(self.unrolled.losses.sum())
        if c.forward < T:
            stage = f"forward pass: {c.forward} of {T} steps shown"
        elif c.backward == 0:
            stage = "forward pass done; Step again to send the gradient back"
        elif c.backward < T:
            stage = f"backward pass: {c.backward} of {T} steps back"
        else:
            stage = "backward pass done: it stops at the truncation boundary"
        sampled = len(c.columns) - T
        extra = f" · {sampled} sampled step{'s' if sampled != 1 else ''}" if sampled else ""
        shown = f"weights of iteration {taken.iteration:,}"
        vocab = ", ".join(taken.vocab.chars) if len(taken.vocab) <= 12 else f"{len(taken.vocab)} characters"
        first = f"the first {T} of {len(taken.ids)} steps (a large model: fewer to keep the app quick)" if capped \
            else f"{T} steps"
        self.info.setText(f"<b>{first}</b> of {where}; {shown}. Window loss {loss:.3f} nats = Σ per-step losses. "
                          f"{stage}{extra}. Vocabulary (id order): {vocab}.")
