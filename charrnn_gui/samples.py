"""The samples timeline (every sample with its iteration and loss) and the "Sample now" panel."""

from __future__ import annotations

import shutil
import tempfile
from collections import deque

from PySide6.QtCore import QPoint, Signal
from PySide6.QtGui import QColor, QFont, QFontDatabase, QFontMetrics, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (QApplication, QCheckBox, QDoubleSpinBox, QGridLayout, QGroupBox, QHBoxLayout, QLabel,
                               QLineEdit, QPlainTextEdit, QPushButton, QSpinBox, QVBoxLayout, QWidget)

from .history import SampleRecord

MAX_BLOCKS = 4_000  # lines kept in the view (Qt holds ~3 KB per laid-out line)
RECENT_IN_MEMORY = 2_000  # samples kept as objects; every sample also goes to a spool file for export


MONOSPACE_FAMILIES = ("DejaVu Sans Mono", "Noto Sans Mono", "Liberation Mono", "Ubuntu Mono", "Cascadia Mono",
                      "Consolas", "Menlo", "Courier New", "Courier")  # tried when the system's fixed font is not


def is_monospace(font: QFont) -> bool:
    """True when i, W, m and . have one advance: a measure, not QFontInfo.fixedPitch(), which is False for
    some fonts that are monospaced (Noto Sans Mono, fontconfig's monospace on many desktops)."""
    fm = QFontMetrics(font)
    return len({fm.horizontalAdvance(ch) for ch in "iWm."}) == 1


def monospace_font(base: QFont | None = None) -> QFont:
    """The system's fixed-width font (or base) when it measures monospaced, else the first installed
    family that does; the samples, the vocabulary preview and the heatmap's axis line characters up."""
    font = QFont(base) if base is not None else QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    font.setStyleHint(QFont.StyleHint.Monospace)
    if is_monospace(font):
        return font
    installed = set(QFontDatabase.families())
    fixed = [f for f in sorted(installed) if QFontDatabase.isFixedPitch(f)]
    for family in [f for f in MONOSPACE_FAMILIES if f in installed] + fixed:
        candidate = QFont(font)
        candidate.setFamilies([family])
        if is_monospace(candidate):
            return candidate
    return font


class SamplesPanel(QWidget):
    """A read-only monospace timeline of samples, with copy/export and the Sample-now controls."""

    sampleNowRequested = Signal()
    exportRequested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        # The newest samples as objects; all of them, as text, in an anonymous temporary file, so a
        # night of training (a million samples) costs disk, not memory, and stays exportable.
        self.records: deque[SampleRecord] = deque(maxlen=RECENT_IN_MEMORY)
        self.count = 0
        self._spool = tempfile.TemporaryFile(mode="w+", encoding="utf-8", newline="\n", prefix="charrnn-samples-")
        self._pending: list[SampleRecord] = []

        title = QLabel("<b>Samples</b>")
        self.count_label = QLabel("none yet", objectName="samplesCount")
        self.count_label.setStyleSheet("color: #666;")
        self.copy_button = QPushButton("Copy", objectName="copySamplesButton")
        self.copy_button.setToolTip("Copy the selected text, or every sample when nothing is selected")
        self.export_button = QPushButton("Export…", objectName="exportSamplesButton")
        self.export_button.setToolTip("Save every sample (with its iteration and loss) as a .txt file")
        header = QHBoxLayout()
        header.setContentsMargins(0, 0, 0, 0)
        header.addWidget(title)
        header.addWidget(self.count_label)
        header.addStretch(1)
        header.addWidget(self.copy_button)
        header.addWidget(self.export_button)

        self.view = QPlainTextEdit(objectName="samplesView")
        self.view.setReadOnly(True)
        self.view.setFont(monospace_font())
        self.view.setMaximumBlockCount(MAX_BLOCKS)
        self.view.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.view.setPlaceholderText("Samples appear here while the network trains: at first random characters, "
                                     "then words, then something like the corpus.")
        self._header_format = QTextCharFormat()
        self._header_format.setForeground(QColor(110, 110, 140))
        self._header_format.setFontWeight(QFont.Weight.Bold)
        self._probe_header_format = QTextCharFormat(self._header_format)
        self._probe_header_format.setForeground(QColor(170, 90, 20))
        self._body_format = QTextCharFormat()
        self._body_format.setForeground(QColor(20, 20, 20))

        # Sample now
        self.now_box = QGroupBox("Sample now", objectName="sampleNowPanel")
        self.prime_edit = QLineEdit(objectName="samplePrime")
        self.prime_edit.setPlaceholderText("optional start text, e.g. ROMEO:")
        self.temperature_spin = QDoubleSpinBox(objectName="sampleNowTemperature")
        self.temperature_spin.setRange(0.05, 5.0)
        self.temperature_spin.setSingleStep(0.05)
        self.temperature_spin.setValue(0.8)
        self.temperature_spin.setToolTip("Lower is safer and more repetitive; higher is more adventurous")
        self.length_spin = QSpinBox(objectName="sampleNowLength")
        self.length_spin.setRange(1, 10_000)
        self.length_spin.setValue(300)
        self.argmax_check = QCheckBox("Argmax", objectName="sampleNowArgmax")
        self.argmax_check.setToolTip("Always take the most likely next character (no randomness)")
        self.sample_button = QPushButton("Sample", objectName="sampleNowButton")
        self.sample_button.setDefault(False)
        self.error_label = QLabel("", objectName="sampleNowError")
        self.error_label.setWordWrap(True)
        self.error_label.setMinimumWidth(1)
        self.error_label.setStyleSheet("color: #b00020;")
        self.error_label.setVisible(False)
        grid = QGridLayout(self.now_box)
        grid.setContentsMargins(8, 6, 8, 6)
        grid.addWidget(QLabel("Prime"), 0, 0)
        grid.addWidget(self.prime_edit, 0, 1, 1, 4)
        grid.addWidget(self.sample_button, 0, 5)
        grid.addWidget(QLabel("Temperature"), 1, 0)
        grid.addWidget(self.temperature_spin, 1, 1)
        grid.addWidget(QLabel("Length"), 1, 2)
        grid.addWidget(self.length_spin, 1, 3)
        grid.addWidget(self.argmax_check, 1, 4, 1, 2)
        grid.setColumnStretch(4, 1)
        grid.addWidget(self.error_label, 2, 0, 1, 6)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(4)
        layout.addLayout(header)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.now_box)

        self.copy_button.clicked.connect(self.copy_to_clipboard)
        self.export_button.clicked.connect(self.exportRequested)
        self.sample_button.clicked.connect(self.sampleNowRequested)
        self.prime_edit.returnPressed.connect(self.sampleNowRequested)
        self.prime_edit.textEdited.connect(self._clear_error)
        self.set_sample_now_enabled(False, "Pause training to sample from the current weights")

    # -- timeline ------------------------------------------------------------------------------

    def add(self, record: SampleRecord) -> None:
        """Queue a sample; it is written to the view on the next flush()."""
        self._spool.write(("\n" if self.count else "") + f"{record.header()}\n{record.text}\n")
        self.count += 1
        self.records.append(record)
        self._pending.append(record)

    def recent(self, n: int) -> list[SampleRecord]:
        """The newest n samples."""
        return list(self.records)[-n:] if n > 0 else []

    def flush(self) -> None:
        """Write queued samples; follow the newest while the view is at the bottom, else stay where the user is."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        doc = self.view.document()
        bar = self.view.verticalScrollBar()
        at_bottom = bar.value() >= bar.maximum() - 1
        # The line at the top of the view, as a cursor: it moves with its text when the block limit drops lines
        # above it. The scroll bar counts wrapped lines, so the view is put back by that text, not by a number.
        top = self.view.cursorForPosition(QPoint(0, 0))
        top_block = top.block()
        line_in_block = bar.value() - top_block.firstLineNumber()
        top.movePosition(QTextCursor.MoveOperation.StartOfBlock)
        cursor = QTextCursor(doc)
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.beginEditBlock()
        for rec in pending:
            if not doc.isEmpty():
                cursor.insertBlock()
                cursor.insertBlock()
            fmt = self._header_format if rec.kind == "training" else self._probe_header_format
            cursor.insertText(rec.header(), fmt)
            cursor.insertBlock()
            cursor.insertText(rec.text, self._body_format)
        cursor.endEditBlock()
        if at_bottom:
            bar.setValue(bar.maximum())
        else:  # the same text at the top as before (the top of what is left if its lines were dropped)
            block = top.block()
            bar.setValue(block.firstLineNumber() + min(max(0, line_in_block), max(0, block.lineCount() - 1)))
        n = self.count
        self.count_label.setText(f"{n:,} sample{'s' if n != 1 else ''}")

    def clear(self) -> None:
        self.records.clear()
        self._pending.clear()
        self.count = 0
        self._spool.seek(0)
        self._spool.truncate()
        self.view.clear()
        self.count_label.setText("none yet")

    def all_text(self) -> str:
        """Every sample, with its header, as one text."""
        self._spool.flush()
        self._spool.seek(0)
        text = self._spool.read()
        self._spool.seek(0, 2)
        return text

    def export_txt(self, path: str) -> int:
        """Write every sample to a .txt file; returns how many."""
        self._spool.flush()
        self._spool.seek(0)
        try:
            with open(path, "w", encoding="utf-8", newline="\n") as f:
                shutil.copyfileobj(self._spool, f)
        finally:
            self._spool.seek(0, 2)
        return self.count

    def copy_to_clipboard(self) -> None:
        selected = self.view.textCursor().selectedText().replace("\u2029", "\n")
        QApplication.clipboard().setText(selected or self.all_text())

    # -- sample now ----------------------------------------------------------------------------

    def set_sample_now_enabled(self, enabled: bool, why: str = "") -> None:
        for w in (self.prime_edit, self.temperature_spin, self.length_spin, self.argmax_check, self.sample_button):
            w.setEnabled(enabled)
        self.sample_button.setToolTip("Generate text from the model as it is now" if enabled else why)
        self.now_box.setToolTip("Text generated from the current weights and hidden state; training is not disturbed"
                                if enabled else why)

    def show_error(self, message: str) -> None:
        self.error_label.setText(message)
        self.error_label.setVisible(bool(message))

    def _clear_error(self, *_):
        if self.error_label.isVisible():
            self.show_error("")

    def sample_now_options(self) -> dict:
        return {"prime": self.prime_edit.text(), "temperature": self.temperature_spin.value(),
                "length": self.length_spin.value(), "argmax": self.argmax_check.isChecked()}
