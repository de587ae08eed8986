"""The "Look inside" panel: one unit's activation over a probe text, next-character predictions, unit search.

The unit belongs to the state the chooser names: the hidden state h of any layer, or an LSTM's cell state and
gates, a GRU's gates (charrnn_gui/states.py gives each its colour scale).
"""

from __future__ import annotations


import numpy as np
from PySide6.QtCore import QEvent, QObject, QSignalBlocker, Qt, Signal, Slot
from PySide6.QtGui import (QColor, QFont, QFontDatabase, QLinearGradient, QPainter, QTextBlockFormat,
                           QTextCharFormat, QTextCursor)
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QFileDialog, QFrame, QGroupBox, QHBoxLayout,
                               QHeaderView, QLabel, QListWidget, QListWidgetItem, QPlainTextEdit, QPushButton,
                               QScrollArea, QSizePolicy, QSpinBox, QSplitter, QTableWidget, QTableWidgetItem, QTextEdit,
                               QToolTip, QVBoxLayout, QWidget)

from core.model import STATE_RANGES
from core.probe import ProbeResult, probe, rank_span, rank_units
from core.vocab import UnknownCharactersError

from .fmt import probability
from .states import StateChooser, StateScale, as_states, scale_for
from .states import diverging_color as activation_color  # noqa: F401 - the hidden state's scale, named for callers
from .weak import weak_call

MAX_PROBE_CHARS = 10_000  # longer texts are refused: colouring them would stall the GUI thread
TOP_K = 5  # next-character predictions shown
UNITS_LISTED = 10  # units listed by a search
LIGHT_TEXT_ABOVE = 0.6  # how far along its scale a colour is before characters over it are drawn white
LINE_HEIGHT = 125  # percent: a little white between lines keeps each line's colours apart
NEWLINE_MARK = "↵"  # drawn before each line break so the newline's own activation has a cell to colour
SELECTION = "rgba(255, 196, 0, 150)"  # selected characters: translucent amber over their colours
PREDICTION_SHADE = QColor(46, 139, 87)  # probability bars: green, apart from the red/blue activation scale
RANKINGS = {  # combo label -> (core.probe ranking, what the score is, for a state named {s})
    "most active": ("most_active", "mean |{s}|"),
    "most variable": ("most_variable", "std of {s}"),
    "most saturated": ("most_saturated", "share near either end of its range"),
}


CHAR_NAMES = {  # characters too small or invisible to read alone in a table cell
    "\n": "↵ newline", " ": "␣ space", "\t": "⇥ tab", ".": ". full stop", ",": ", comma", ":": ": colon",
    ";": "; semicolon", "'": "' apostrophe", '"': '" quote', "-": "- hyphen", "!": "! exclamation",
    "?": "? question mark", "`": "` backtick", "_": "_ underscore",
}


def shown_char(ch: str) -> str:
    """A character as a reader can see it: invisible and tiny ones are named."""
    return CHAR_NAMES.get(ch, ch)


class ActivationLegend(QWidget):
    """The colour scale of the state shown, as a bar labelled underneath: -1 to +1 for tanh states, 0 to 1 for
    gates, ±max |c| for the LSTM's cell state."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("inspectorLegend")
        self.setMinimumSize(150, 30)
        self.setMaximumHeight(34)
        self.setSizePolicy(QSizePolicy.Fixed, QSizePolicy.Fixed)
        self.set_scale(scale_for("h"))

    def set_scale(self, scale: StateScale) -> None:
        self.scale = scale
        ends = " · ".join(label for _, label in scale.ends)
        self.setToolTip(f"Colour of the {scale.title} after reading each character ({ends}): {scale.range_text}")
        self.update()

    def labels(self) -> list[str]:
        """The numbers written under the bar, left to right."""
        return [label for _, label in self.scale.ends]

    def sizeHint(self):
        return self.minimumSize()

    def paintEvent(self, event):
        scale = self.scale
        painter = QPainter(self)
        metrics = painter.fontMetrics()
        ends = scale.ends
        pad = max(metrics.horizontalAdvance(label) for _, label in ends) // 2 + 2
        bar = self.rect().adjusted(pad, 2, -pad, -(metrics.height() + 2))
        gradient = QLinearGradient(bar.left(), 0, bar.right(), 0)
        for stop in np.linspace(0.0, 1.0, 9):
            gradient.setColorAt(float(stop), scale.color(scale.lo + stop * (scale.hi - scale.lo)))
        painter.fillRect(bar, gradient)
        painter.setPen(self.palette().color(self.foregroundRole()))
        painter.drawRect(bar.adjusted(0, 0, -1, -1))
        y = self.height() - 3
        for value, label in ends:
            x = bar.left() + round((value - scale.lo) / (scale.hi - scale.lo) * bar.width())
            painter.drawText(x - metrics.horizontalAdvance(label) // 2, y - metrics.descent(), label)
        painter.end()


class InspectorPanel(QWidget):
    """Look inside the model: probe a text, colour it by one hidden unit, see predictions, search for units.

    Embed it, hand it the model with set_source(), connect the heatmap's unitClicked(int) to set_unit(),
    and call maybe_auto_run(iteration) on training progress.
    """

    unitChanged = Signal(int)  # the unit shown over the text
    probed = Signal(object)  # a fresh ProbeResult, after each successful run

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("inspectorPanel")
        self._get_params = None
        self._vocab = None
        self._default_text = ""
        self._result: ProbeResult | None = None
        self._result_chars: tuple[str, ...] = ()  # the vocabulary the shown probe was read with
        self._unit = 0
        self._iteration: int | None = None  # latest iteration reported by maybe_auto_run
        self._probed_iteration: int | None = None
        self._last_auto: int | None = None
        self._ranking: list[tuple[int, float]] = []  # what the unit list shows
        self._doc_to_text = np.zeros(0, dtype=np.intp)  # (doc chars,) text index of each document character
        self._text_to_doc = np.zeros(0, dtype=np.intp)  # (L,) document position coloured for each character
        self._build()

    # -- construction ----------------------------------------------------------------------------

    def _build(self):
        self.run_button = QPushButton("Run probe")
        self.run_button.setObjectName("inspectorRun")
        self.run_button.setToolTip("Read the probe text with the current weights (training is not affected)")
        self.run_button.clicked.connect(self.run)
        self.auto_check = QCheckBox("Re-run every")
        self.auto_check.setObjectName("inspectorAuto")
        self.auto_spin = QSpinBox()
        self.auto_spin.setObjectName("inspectorAutoEvery")
        self.auto_spin.setRange(1, 1_000_000)
        self.auto_spin.setValue(500)
        self.auto_spin.setSingleStep(100)
        self.auto_spin.setSuffix(" iterations")
        self.auto_spin.setToolTip("While training, probe again with the newest weights this often")
        self.info_label = QLabel("Paste or edit a text, then Run probe.")
        self.info_label.setObjectName("inspectorInfo")
        self.export_html_button = QPushButton("Export HTML…")
        self.export_html_button.clicked.connect(self._ask_export_html)
        self.export_png_button = QPushButton("Export PNG…")
        self.export_png_button.clicked.connect(self._ask_export_png)
        top = QHBoxLayout()
        top.addWidget(self.run_button)
        top.addWidget(self.auto_check)
        top.addWidget(self.auto_spin)
        top.addSpacing(12)
        top.addWidget(self.info_label, 1)
        top.addWidget(self.export_html_button)
        top.addWidget(self.export_png_button)

        self.message_label = QLabel()
        self.message_label.setObjectName("inspectorMessage")
        self.message_label.setStyleSheet("color: #b00020; font-weight: bold;")
        self.message_label.setWordWrap(True)
        self.message_label.hide()

        mono = QFontDatabase.systemFont(QFontDatabase.FixedFont)
        self.text_edit = QPlainTextEdit()
        self.text_edit.setObjectName("inspectorProbeText")
        self.text_edit.setFont(mono)
        self.text_edit.setPlaceholderText("Text for the model to read: paste or type here, then Run probe.")
        self.text_edit.textChanged.connect(self._on_text_edited)
        probe_box = QGroupBox("Probe text (edit or paste, then Run probe)")
        QVBoxLayout(probe_box).addWidget(self.text_edit)

        self.unit_spin = QSpinBox()
        self.unit_spin.setObjectName("inspectorUnit")
        self.unit_spin.setRange(0, 4095)
        self.unit_spin.setPrefix("unit ")
        self.unit_spin.valueChanged.connect(self._on_unit_spin)
        self.unit_stats = QLabel()
        self.unit_stats.setObjectName("inspectorUnitStats")
        self.legend = ActivationLegend()
        self.chooser = StateChooser()
        self.chooser.changed.connect(self._on_state_chosen)
        head = QHBoxLayout()
        head.addWidget(QLabel("Colour by"))
        head.addWidget(self.chooser)
        head.addWidget(self.unit_spin)
        head.addWidget(self.unit_stats, 1)
        head.addWidget(self.legend)
        self.view = QTextEdit()
        self.view.setObjectName("inspectorView")
        self.view.setReadOnly(True)
        self.view.setTextInteractionFlags(Qt.TextSelectableByMouse | Qt.TextSelectableByKeyboard)
        self.view.setFont(mono)
        self.view.setStyleSheet(  # a selection colour apart from the blue and red of the scale
            "QTextEdit#inspectorView { background: white; color: black;"
            f" selection-background-color: {SELECTION}; selection-color: black; }}")
        self.view.setPlaceholderText("Run probe to see how a unit responds to each character.")
        self.view.document().setUndoRedoEnabled(False)
        self.view.cursorPositionChanged.connect(self._update_predictions)
        self.view.selectionChanged.connect(self._update_find_button)
        self.view.viewport().installEventFilter(self)
        hint = QLabel("Hover a character for its value · click one for the model's next-character guesses · "
                      "select a passage to find the units that mark it")
        hint.setWordWrap(True)
        hint.setStyleSheet("color: #555;")
        self.view_box = QGroupBox("Unit over the text")
        view_layout = QVBoxLayout(self.view_box)
        view_layout.addLayout(head)
        view_layout.addWidget(self.view, 1)
        view_layout.addWidget(hint)

        left = QSplitter(Qt.Vertical)
        left.addWidget(probe_box)
        left.addWidget(self.view_box)
        left.setStretchFactor(0, 1)
        left.setStretchFactor(1, 4)
        left.setSizes([120, 480])
        left.setChildrenCollapsible(False)

        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self._build_predictions())
        right_layout.addWidget(self._build_search(), 1)
        # In a short tab the column scrolls rather than squeezing its boxes over each other.
        self.side_scroll = QScrollArea()
        self.side_scroll.setWidget(right)
        self.side_scroll.setWidgetResizable(True)
        self.side_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.side_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)

        split = QSplitter(Qt.Horizontal)
        split.addWidget(left)
        split.addWidget(self.side_scroll)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        split.setChildrenCollapsible(False)
        split.setSizes([700, 290])

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.message_label)
        layout.addWidget(split, 1)
        self._update_find_button()

    def _build_predictions(self):
        self.predictions_toggle = QCheckBox("Show next-character predictions")
        self.predictions_toggle.setObjectName("inspectorPredictionsToggle")
        self.predictions_toggle.setChecked(True)
        self.context_label = QLabel("Click a character in the coloured text.")
        self.context_label.setObjectName("inspectorContext")
        self.context_label.setWordWrap(True)
        self.context_label.setTextFormat(Qt.RichText)
        self.predictions_table = QTableWidget(TOP_K, 2)
        self.predictions_table.setObjectName("inspectorPredictions")
        self.predictions_table.setHorizontalHeaderLabels(["next character", "probability"])
        self.predictions_table.setVerticalHeaderLabels([f"{i + 1}." for i in range(TOP_K)])
        self.predictions_table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.predictions_table.setSelectionMode(QAbstractItemView.NoSelection)
        self.predictions_table.setFocusPolicy(Qt.NoFocus)
        self.predictions_table.setFont(QFontDatabase.systemFont(QFontDatabase.FixedFont))
        header = self.predictions_table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeToContents)
        rows = self.predictions_table.verticalHeader()
        rows.setSectionResizeMode(QHeaderView.ResizeToContents)
        self.predictions_table.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.predictions_table.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        height = self.predictions_table.horizontalHeader().sizeHint().height()
        height += sum(rows.sectionSizeHint(i) for i in range(TOP_K)) + 2 * self.predictions_table.frameWidth()
        self.predictions_table.setFixedHeight(height)
        self.actual_label = QLabel()
        self.actual_label.setObjectName("inspectorActual")
        self.actual_label.setWordWrap(True)
        self.actual_label.setTextFormat(Qt.RichText)
        self.predictions_box = QWidget()
        inner = QVBoxLayout(self.predictions_box)
        inner.setContentsMargins(0, 0, 0, 0)
        inner.addWidget(self.context_label)
        inner.addWidget(self.predictions_table)
        inner.addWidget(self.actual_label)
        self.predictions_toggle.toggled.connect(self.predictions_box.setVisible)
        box = QGroupBox("Predictions")
        layout = QVBoxLayout(box)
        layout.addWidget(self.predictions_toggle)
        layout.addWidget(self.predictions_box)
        return box

    def _build_search(self):
        self.find_button = QPushButton("Find units for selection")
        self.find_button.setObjectName("inspectorFind")
        self.find_button.setToolTip("Rank units by how differently they behave inside the selected passage")
        self.find_button.clicked.connect(self.find_units_for_selection)
        self.ranking_combo = QComboBox()
        self.ranking_combo.setObjectName("inspectorRanking")
        self.ranking_combo.setPlaceholderText("…or list the units that are")
        self.ranking_combo.addItems(list(RANKINGS))
        self.ranking_combo.setCurrentIndex(-1)
        self.ranking_combo.activated.connect(lambda index: self.list_units(self.ranking_combo.itemText(index)))
        self.list_label = QLabel("Select a passage of the coloured text first.")
        self.list_label.setObjectName("inspectorListLabel")
        self.list_label.setWordWrap(True)
        self.unit_list = QListWidget()
        self.unit_list.setObjectName("inspectorUnits")
        self.unit_list.setFont(QFontDatabase.systemFont(QFontDatabase.FixedFont))
        self.unit_list.currentItemChanged.connect(self._on_unit_item)
        box = QGroupBox("Find units")
        layout = QVBoxLayout(box)
        layout.addWidget(self.find_button)
        layout.addWidget(self.ranking_combo)
        layout.addWidget(self.list_label)
        layout.addWidget(self.unit_list, 1)
        return box

    # -- the model --------------------------------------------------------------------------------

    def set_source(self, get_params, vocab, default_text: str | None = None) -> None:
        """Tell the panel where the model is.

        get_params: a callable returning a consistent copy of the current weights as a dict
        (Wxh, Whh, Why, bh, by), e.g. `{k: v.copy() for k, v in trainer.params.items()}` taken on
        the GUI thread while training is paused or between iterations, or None when there is no model
        yet. It is called on the GUI thread each time the probe runs. vocab: the model's Vocab.
        default_text: the text to probe when the user has not written their own (it replaces the probe
        text only while that is empty or still the previous default).
        A bound method (e.g. of the window that owns this panel) is held weakly: the panel must not keep its
        owner alive, or the two would form a cycle that only the cyclic garbage collector frees.
        """
        if get_params is not None and hasattr(get_params, "__self__") and hasattr(get_params, "__func__"):
            get_params = weak_call(get_params)
        self._get_params = get_params
        self._vocab = vocab
        self._last_auto = None  # a new model: the next progress may re-run at once
        if default_text is not None:
            current = self.text_edit.toPlainText()
            if not current or current == self._default_text:
                self.text_edit.setPlainText(default_text)
            self._default_text = default_text

    def set_text(self, text: str) -> None:
        """Replace the probe text (run() reads it)."""
        self.text_edit.setPlainText(text)

    @property
    def result(self) -> ProbeResult | None:
        """The last successful probe."""
        return self._result

    @property
    def unit(self) -> int:
        return self._unit

    def _states(self) -> list:
        """The probe's states, one dict per layer (a lone h for results without them)."""
        r = self._result
        return as_states(r.states if r.states else r.hidden)

    def values(self) -> np.ndarray:
        """(L, H) the state shown, over the probed characters: the chooser's state of its layer."""
        return np.asarray(self.chooser.values(self._states()))

    def show_state(self, name: str, layer: int) -> bool:
        """Colour by this state of this layer (e.g. "c", 1), as choosing it in the combos does; False when the
        probed model has no such state."""
        return self._result is not None and self.chooser.choose(name, layer)

    def _on_state_chosen(self) -> None:
        if self._result is None:
            return
        if self._ranking:  # the list ranked another state's units
            self._fill_list([], "")
            self.list_label.setText(f"Now showing the {self.chooser.describe()}: find or list its units again.")
        self._render(keep_view=True)

    @Slot()
    def run(self, _checked=False) -> bool:
        """Probe the text with the current weights; show the outcome or say clearly why not. True on success."""
        text = self.text_edit.toPlainText()
        params = self._get_params() if self._get_params is not None else None
        if params is None or self._vocab is None:
            return self._fail("No model yet: start training or load a checkpoint, then run the probe.")
        if not text:
            return self._fail("The probe text is empty: paste or type some text to read.")
        if len(text) > MAX_PROBE_CHARS:
            return self._fail(f"The probe text has {len(text):,} characters; keep it under {MAX_PROBE_CHARS:,}.")
        try:
            result = probe(params, self._vocab, text)
        except UnknownCharactersError as error:
            return self._fail(f"The model cannot read this text: {error}. Remove them or train on a text "
                              f"that has them.")
        self._result = result
        self._result_chars = self._vocab.chars
        self._probed_iteration = self._iteration
        self.message_label.hide()
        self.chooser.set_states(self._states())
        H = result.hidden.shape[1]
        with QSignalBlocker(self.unit_spin):
            self.unit_spin.setRange(0, H - 1)
            self._unit = min(self._unit, H - 1)
            self.unit_spin.setValue(self._unit)
        self._show_info()
        self._render(keep_view=True)
        self.probed.emit(result)
        return True

    def set_iteration(self, iteration: int) -> None:
        """The model's iteration count now (shown with the next probe's result)."""
        self._iteration = int(iteration)

    def maybe_auto_run(self, iteration: int) -> bool:
        """Call on training progress: re-runs the probe if auto re-run is on and enough iterations passed."""
        self.set_iteration(iteration)
        if not self.auto_check.isChecked():
            return False
        if self._last_auto is not None and self._last_auto <= iteration < self._last_auto + self.auto_spin.value():
            return False
        self._last_auto = int(iteration)
        return self.run()

    def _fail(self, message: str) -> bool:
        self.message_label.setText(message)
        self.message_label.show()
        return False

    def message(self) -> str:
        """The error shown, or "" when none is."""
        return "" if self.message_label.isHidden() else self.message_label.text()

    def _show_info(self, edited=False):
        r = self._result
        if r is None:
            return
        when = f" at iteration {self._probed_iteration:,}" if self._probed_iteration is not None else ""
        bits = "—" if np.isnan(r.bits_per_char) else f"{r.bits_per_char:.2f}"
        stale = " · text edited: Run probe again" if edited else ""
        self.info_label.setText(f"Read {len(r.text):,} characters{when}: {bits} bits/char{stale}")

    def _on_text_edited(self):
        if self._result is not None:
            self._show_info(edited=self.text_edit.toPlainText() != self._result.text)

    # -- the unit over the text -------------------------------------------------------------------

    @Slot(int)
    def set_unit(self, unit: int) -> None:
        """Show this hidden unit over the text (connect the heatmap's unitClicked here)."""
        unit = max(0, int(unit))
        if self._result is not None:
            unit = min(unit, self._result.hidden.shape[1] - 1)
        self.unit_spin.setValue(unit)  # _on_unit_spin does the rest

    def _on_unit_spin(self, unit: int):
        self._unit = unit
        listed = [u for u, _ in self._ranking]
        with QSignalBlocker(self.unit_list):  # the list marks the unit shown, or nothing when it is not listed
            self.unit_list.setCurrentRow(listed.index(unit) if unit in listed else -1)
        self._render(keep_view=True)
        self.unitChanged.emit(unit)

    def doc_position(self, index: int) -> int:
        """The position in the coloured document of the probe text's character index (newlines: their ↵ mark)."""
        return int(self._text_to_doc[index])

    def text_index(self, position: int) -> int:
        """The probe text's character index shown at a position of the coloured document."""
        return int(self._doc_to_text[min(position, len(self._doc_to_text) - 1)])

    def _render(self, keep_view=False):
        """Rebuild the coloured document for the current unit (one char format per character)."""
        r = self._result
        if r is None:
            self.view_box.setTitle("Unit over the text")
            return
        of = "" if self.chooser.single else f" of the {self.chooser.describe()}"
        self.view_box.setTitle(f"Unit {self._unit}{of} over the text")
        old = self.view.textCursor()
        anchor, position = old.anchor(), old.position()
        scroll = self.view.verticalScrollBar().value()
        values = self.values()[:, self._unit].astype(np.float64)  # (L,)
        self.scale = scale = scale_for(self.chooser.name, values)  # an unbounded state: as wide as this unit's
        self.legend.set_scale(scale)
        self.unit_stats.setText(f"mean {values.mean():+.2f} · min {values.min():+.2f} · max {values.max():+.2f}")
        doc = self.view.document()
        with QSignalBlocker(self.view):
            doc.clear()
            cursor = QTextCursor(doc)
            cursor.beginEditBlock()
            block = QTextBlockFormat()
            block.setLineHeight(LINE_HEIGHT, QTextBlockFormat.ProportionalHeight.value)
            cursor.setBlockFormat(block)  # later blocks inherit it
            fmt = QTextCharFormat()
            to_doc = np.empty(len(r.text), dtype=np.intp)  # (L,)
            to_text = []
            rgb = scale.rgb(values).tolist()  # (L, 3) every background at once
            white = scale.strong(values, LIGHT_TEXT_ABOVE).tolist()  # (L,)
            light, dark = QColor("white"), QColor(20, 20, 20)
            for i, ch in enumerate(r.text):
                fmt.setBackground(QColor(*rgb[i]))
                fmt.setForeground(light if white[i] else dark)
                to_doc[i] = cursor.position()
                if ch == "\n":
                    cursor.insertText(NEWLINE_MARK, fmt)
                    to_text.append(i)
                to_text.append(i)
                cursor.insertText(ch, fmt)
            cursor.endEditBlock()
            to_text.append(len(r.text) - 1)  # the end of the document
            self._text_to_doc = to_doc
            self._doc_to_text = np.array(to_text, dtype=np.intp)  # (doc chars + 1,)
            if keep_view:
                end = doc.characterCount() - 1
                restored = QTextCursor(doc)
                restored.setPosition(min(anchor, end))
                restored.setPosition(min(position, end), QTextCursor.KeepAnchor)
                self.view.setTextCursor(restored)
                self.view.verticalScrollBar().setValue(scroll)
        self._update_predictions()
        self._update_find_button()

    def _char_at(self, point) -> int | None:
        """The probe-text index of the character under a viewport point, or None."""
        if self._result is None:
            return None
        cursor = self.view.cursorForPosition(point)
        pos = cursor.position()
        if point.x() < self.view.cursorRect(cursor).left() and pos > 0:
            pos -= 1
        if pos >= len(self._doc_to_text) - 1:
            pos = len(self._doc_to_text) - 2
        return self.text_index(pos) if pos >= 0 else None

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.view.viewport() and event.type() == QEvent.ToolTip:
            i = self._char_at(event.pos())
            if i is None:
                QToolTip.hideText()
            else:
                QToolTip.showText(event.globalPos(), self.describe_char(i), self.view)
            return True
        return super().eventFilter(watched, event)

    def describe_char(self, i: int) -> str:
        """The hover text of the probe's i-th character: the character, the unit and its activation."""
        r = self._result
        value = float(self.values()[i, self._unit])
        what = "" if self.chooser.single else f" ({self.chooser.describe()})"
        text = f"'{shown_char(r.text[i])}' (character {i}) · unit {self._unit}{what}: {value:+.3f}"
        if i + 1 < len(r.text):
            text += f"\nnext is '{shown_char(r.text[i + 1])}', given {probability(r.actual_prob[i])}"
        return text

    # -- predictions ------------------------------------------------------------------------------

    def prediction_index(self) -> int | None:
        """The probe-text index whose predictions are shown: the character just before the text cursor."""
        if self._result is None or len(self._doc_to_text) < 2:
            return None
        pos = self.view.textCursor().position()
        return self.text_index(max(0, pos - 1))

    def _update_predictions(self):
        r = self._result
        i = self.prediction_index()
        table = self.predictions_table
        self._mark_predicted_char(i)
        if i is None:
            table.clearContents()
            self.actual_label.clear()
            return
        start = max(0, i - 15)
        context = r.text[start:i + 1].replace("\n", NEWLINE_MARK)
        context = ("…" if start else "") + context
        self.context_label.setText(f"After reading <b style='white-space:pre'>{_escape(context)}</b> "
                                   f"(character {i}) the model expects:")
        ids, probs = r.top_k(TOP_K)
        nxt = int(r.ids[i + 1]) if i + 1 < len(r.ids) else None
        for row, (c, p) in enumerate(zip(ids[i], probs[i])):
            char_item = QTableWidgetItem(shown_char(self._result_chars[c]))
            prob_item = QTableWidgetItem(probability(p))
            prob_item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
            shade = QColor(PREDICTION_SHADE)
            shade.setAlphaF(0.12 + 0.78 * float(p))
            for item in (char_item, prob_item):
                item.setBackground(shade)
                item.setForeground(QColor("white") if p > 0.5 else QColor(20, 20, 20))
                if c == nxt:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                    item.setToolTip("the character that actually came next")
            table.setItem(row, 0, char_item)
            table.setItem(row, 1, prob_item)
        if nxt is None:
            self.actual_label.setText("This is the last character: nothing came next.")
        else:
            rank = int((r.probs[i] > r.probs[i, nxt]).sum()) + 1
            mark = " (in bold above)" if rank <= TOP_K else ""
            self.actual_label.setText(f"Actually next: <b>{_escape(shown_char(r.text[i + 1]))}</b>, given "
                                      f"{probability(r.actual_prob[i])} — rank {rank} of {r.probs.shape[1]}{mark}")

    def _mark_predicted_char(self, i):
        """Underline the character whose next-character predictions are shown (its colour stays visible)."""
        if i is None:
            self.view.setExtraSelections([])
            return
        mark = QTextEdit.ExtraSelection()
        mark.cursor = QTextCursor(self.view.document())
        mark.cursor.setPosition(self.doc_position(i))
        mark.cursor.movePosition(QTextCursor.NextCharacter, QTextCursor.KeepAnchor)
        mark.format.setUnderlineStyle(QTextCharFormat.SingleUnderline)
        mark.format.setUnderlineColor(QColor("black"))
        mark.format.setFontWeight(QFont.Bold)
        self.view.setExtraSelections([mark])

    # -- unit search ------------------------------------------------------------------------------

    def selected_span(self) -> tuple[int, int] | None:
        """The probe-text span [start, stop) selected in the coloured view, or None."""
        cursor = self.view.textCursor()
        if self._result is None or not cursor.hasSelection():
            return None
        start = self.text_index(cursor.selectionStart())
        stop = self.text_index(cursor.selectionEnd() - 1) + 1
        return start, stop

    def select_span(self, start: int, stop: int) -> None:
        """Select the probe-text characters [start, stop) in the coloured view."""
        cursor = QTextCursor(self.view.document())
        cursor.setPosition(self.doc_position(start))
        end = self.doc_position(stop - 1) + (2 if self._result.text[stop - 1] == "\n" else 1)
        cursor.setPosition(end, QTextCursor.KeepAnchor)
        self.view.setTextCursor(cursor)

    def _update_find_button(self):
        self.find_button.setEnabled(self.selected_span() is not None)

    @Slot()
    def find_units_for_selection(self) -> bool:
        """Rank units for the selected span (rank_span) and list the best; shows the top one."""
        span = self.selected_span()
        if span is None:
            return self._fail("Select a passage of the coloured text first, then Find units for selection.")
        start, stop = span
        try:
            ranked = rank_span(self.values(), start, stop, k=UNITS_LISTED)
        except ValueError as error:
            return self._fail(f"Cannot rank units for this selection: {error}.")
        self.message_label.hide()
        passage = self._result.text[start:stop].replace("\n", NEWLINE_MARK)
        if len(passage) > 24:
            passage = passage[:23] + "…"
        of = "" if self.chooser.single else f" ({self.chooser.describe()})"
        self.list_label.setText(f"Units{of} that mark “{passage}”: + high inside, − low inside "
                                f"(score: mean difference in standard deviations)")
        self._fill_list(ranked, "{:+.2f}")
        return True

    @Slot(str)
    def list_units(self, label: str) -> bool:
        """List units by one of the RANKINGS labels ("most active", "most variable", "most saturated")."""
        if self._result is None:
            return self._fail("Run the probe first: the units are ranked over the probe text.")
        how, measure = RANKINGS[label]
        name = self.chooser.name
        try:
            ranked = rank_units(self.values(), how, k=UNITS_LISTED, bounds=STATE_RANGES.get(name, (-1.0, 1.0)))
        except ValueError as error:
            return self._fail(f"Cannot list the {label} units of the {self.chooser.describe()}: {error}.")
        self.message_label.hide()
        of = "" if self.chooser.single else f" of the {self.chooser.describe()}"
        self.list_label.setText(f"The {label} units{of} over the probe text ({measure.format(s=name)})")
        self._fill_list(ranked, "{:.2f}")
        return True

    def _fill_list(self, ranked, fmt):
        self._ranking = list(ranked)
        with QSignalBlocker(self.unit_list):
            self.unit_list.clear()
            for unit, score in ranked:
                item = QListWidgetItem(f"unit {unit:>4}   {fmt.format(score)}")
                item.setData(Qt.UserRole, unit)
                self.unit_list.addItem(item)
        if ranked:
            self.unit_list.setCurrentRow(0)

    def listed_units(self) -> list[int]:
        """The units in the list, top first."""
        return [self.unit_list.item(i).data(Qt.UserRole) for i in range(self.unit_list.count())]

    def ranking(self) -> list[tuple[int, float]]:
        """The (unit, score) pairs in the list, top first."""
        return list(self._ranking)

    def _on_unit_item(self, item, _previous=None):
        if item is not None:
            self.set_unit(int(item.data(Qt.UserRole)))

    # -- export -----------------------------------------------------------------------------------

    def export_html(self, path) -> None:
        """Save the coloured text as an HTML page, with a caption naming the unit and the scale (OSError if
        the file cannot be written)."""
        doc = self.view.document().clone(self)
        try:
            cursor = QTextCursor(doc)
            caption = QTextCharFormat()
            caption.setFontWeight(QFont.Bold)
            scale = self.legend.scale
            ends = " · ".join(label for _, label in scale.ends)
            of = "" if self.chooser.single else f" of the {self.chooser.describe()}"
            colours = "white to purple" if scale.sequential else "blue · white · red"
            cursor.insertText(f"charrnn · unit {self._unit}{of} over the probe text (background: {scale.title}, "
                              f"{ends}, {colours}; {scale.range_text})", caption)
            cursor.insertBlock()
            with open(path, "w", encoding="utf-8") as f:
                f.write(doc.toHtml())
        finally:
            doc.deleteLater()

    def export_png(self, path) -> bool:
        """Save a picture of the coloured text and its legend."""
        return self.view_box.grab().save(str(path))

    def _ask_export_html(self):
        if self._check_exportable():
            path, _ = QFileDialog.getSaveFileName(self, "Export coloured text", f"unit-{self._unit}.html",
                                                  "HTML (*.html)")
            if path:
                try:
                    self.export_html(path)
                except OSError as e:
                    self._fail(f"Could not write {path}: {e.strerror or e}.")

    def _ask_export_png(self):
        if self._check_exportable():
            path, _ = QFileDialog.getSaveFileName(self, "Export coloured text", f"unit-{self._unit}.png",
                                                  "PNG image (*.png)")
            if path and not self.export_png(path):
                self._fail(f"Could not write {path}.")

    def _check_exportable(self) -> bool:
        return self._result is not None or self._fail("Run the probe first: there is nothing to export yet.")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
