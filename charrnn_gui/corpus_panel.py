"""The corpus panel: what text the network learns from (name, size, characters, vocabulary, warnings)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QGroupBox, QHBoxLayout, QLabel, QProgressBar, QToolButton, QVBoxLayout

from .fmt import human_size, vocabulary_preview
from .samples import monospace_font


class CorpusPanel(QGroupBox):
    def __init__(self, parent=None):
        super().__init__("Corpus", parent)
        self.name_label = QLabel("—", objectName="corpusName")
        self.name_label.setStyleSheet("font-weight: bold;")
        self.name_label.setWordWrap(True)
        self.size_label = QLabel("—", objectName="corpusSize")
        self.chars_label = QLabel("—", objectName="corpusChars")
        self.vocab_label = QLabel("—", objectName="corpusVocab")
        self.encoding_label = QLabel("—", objectName="corpusEncoding")
        self.preview_label = QLabel("", objectName="corpusVocabPreview")
        self.preview_label.setWordWrap(True)
        self.preview_label.setFont(monospace_font())
        self.preview_label.setStyleSheet("color: #555;")
        self.preview_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.warnings_label = QLabel("", objectName="corpusWarnings")
        self.warnings_label.setWordWrap(True)
        self.warnings_label.setStyleSheet("color: #9a4a00;")
        self.warnings_label.setVisible(False)

        self.busy_bar = QProgressBar(objectName="corpusBusy")
        self.busy_bar.setRange(0, 0)  # indeterminate
        self.busy_bar.setTextVisible(False)
        self.busy_bar.setMaximumHeight(10)
        self.busy_label = QLabel("", objectName="corpusBusyLabel")
        self.busy_label.setWordWrap(True)
        self.busy_bar.setVisible(False)
        self.busy_label.setVisible(False)

        self.open_button = QToolButton(objectName="corpusOpenButton")
        self.builtin_button = QToolButton(objectName="corpusBuiltinButton")
        self.builtin_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.builtin_button)
        buttons.addStretch(1)

        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Name", self.name_label)
        form.addRow("Size", self.size_label)
        form.addRow("Characters", self.chars_label)
        form.addRow("Vocabulary", self.vocab_label)
        form.addRow("Encoding", self.encoding_label)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.preview_label)
        layout.addWidget(self.warnings_label)
        layout.addWidget(self.busy_label)
        layout.addWidget(self.busy_bar)
        layout.addLayout(buttons)

    def show_corpus(self, corpus, notes=()) -> None:
        self.name_label.setText(corpus.name)
        self.name_label.setToolTip(corpus.path or f"built-in corpus {corpus.name}")
        self.size_label.setText(human_size(corpus.size_bytes))
        self.chars_label.setText(f"{len(corpus):,}")
        self.vocab_label.setText(f"{len(corpus.vocab)} distinct characters")
        self.encoding_label.setText(corpus.encoding)
        self.preview_label.setText(vocabulary_preview(corpus.vocab.chars))
        self.preview_label.setToolTip("The vocabulary, in id order (␣ is space, ⏎ is newline)")
        self.set_notes(tuple(corpus.warnings) + tuple(notes))

    def set_notes(self, notes) -> None:
        text = "\n".join(f"⚠ {n}" for n in notes if n)
        self.warnings_label.setText(text)
        self.warnings_label.setVisible(bool(text))

    def set_busy(self, label: str | None) -> None:
        self.busy_label.setText(label or "")
        self.busy_label.setVisible(bool(label))
        self.busy_bar.setVisible(bool(label))
