"""The Runs panel: a table of runs (this window's and those found in runs folders) and their samples compared.

Check runs to overlay their curves on the loss plot; pick an iteration to read each checked run's
sample nearest to it side by side. Right-click a run to continue it, look inside its model, rename
or delete it.
"""

from __future__ import annotations

import os
import shutil

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSignalBlocker, Qt, QUrl, Signal, Slot
from PySide6.QtGui import QAction, QColor, QDesktopServices, QFont
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QFrame, QHBoxLayout, QHeaderView, QInputDialog, QLabel,
                               QMenu, QMessageBox, QPlainTextEdit, QPushButton, QScrollArea, QSpinBox, QSplitter,
                               QTreeView, QVBoxLayout, QWidget)

from core.runs import LIVE

from .runs_library import RunRow, RunsLibrary
from .samples import monospace_font

# Ten colours that stay apart on white (the Tableau 10 hues, darkened a little for thin lines).
PALETTE = ("#1f77b4", "#e8710a", "#2a9d2a", "#d62728", "#8c5fbf", "#8c564b", "#d452b0", "#6f6f6f", "#a8a81a",
           "#17a2b8")
COLUMNS = ("Run", "Cell · preset", "Status", "Iteration", "Best held-out", "Corpus")
COLUMN_TIPS = ("The run's folder; tick it to overlay its curve and compare its samples", "The model's cell and the "
               "preset its settings started from", "live, finished, interrupted, diverged or stale",
               "The latest iteration it logged", "Its best held-out (validation) bits per character",
               "The text it trains on")
STATUS_TIPS = {
    "live": "being written now",
    "finished": "ended cleanly",
    "interrupted": "stopped early (Ctrl+C, an error, or its writer was stopped)",
    "diverged": "training diverged",
    "stale": "marked running, but nothing was written for 60 s and it did not end cleanly",
    "unreadable": "its run.json cannot be read",
}


def run_colour(row: RunRow) -> QColor:
    return QColor(PALETTE[row.colour % len(PALETTE)])


class RunsModel(QAbstractTableModel):
    """The library's rows as a table: checkable names with their colour, then cell, status and progress."""

    def __init__(self, library: RunsLibrary, parent=None):
        super().__init__(parent)
        self.library = library
        self.paths: list[str] = []
        library.rowsChanged.connect(self._reset)
        library.rowUpdated.connect(self._row_updated)
        self._reset()

    def _order(self) -> list[str]:
        """By runs folder, newest first within each (run folders are named by the time they were started)."""
        rows, folders = self.library.rows, self.library.folders
        by_name = sorted(rows, key=os.path.basename, reverse=True)
        return sorted(by_name, key=lambda p: folders.index(rows[p].root) if rows[p].root in folders else len(folders))

    @Slot()
    def _reset(self) -> None:
        self.beginResetModel()
        self.paths = self._order()
        self.endResetModel()

    @Slot(str)
    def _row_updated(self, path: str) -> None:
        try:
            i = self.paths.index(path)
        except ValueError:
            return
        self.dataChanged.emit(self.index(i, 0), self.index(i, len(COLUMNS) - 1))

    def row(self, index: QModelIndex) -> RunRow | None:
        if not index.isValid() or index.row() >= len(self.paths):
            return None
        return self.library.rows.get(self.paths[index.row()])

    def index_of(self, path: str, column: int = 0) -> QModelIndex:
        return self.index(self.paths.index(path), column) if path in self.paths else QModelIndex()

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.paths)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.ToolTipRole:
            return COLUMN_TIPS[section]
        return None

    def flags(self, index: QModelIndex):
        f = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        if index.column() == 0:
            f |= Qt.ItemFlag.ItemIsUserCheckable
        return f

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        row = self.row(index)
        if row is None:
            return None
        col = index.column()
        R = Qt.ItemDataRole
        if role == R.DisplayRole:
            return self._text(row, col)
        if role == R.CheckStateRole and col == 0:
            return Qt.CheckState.Checked if row.checked else Qt.CheckState.Unchecked
        if role == R.DecorationRole and col == 0:
            return run_colour(row)
        if role == R.ToolTipRole:
            return self._tip(row, col)
        if role == R.TextAlignmentRole and col in (3, 4):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == R.ForegroundRole and col == 2 and row.status in ("diverged", "stale", "unreadable"):
            return QColor(170, 40, 40)
        if role == R.FontRole and col == 0 and row.current:
            font = QFont()
            font.setBold(True)
            return font
        return None

    @staticmethod
    def _text(row: RunRow, col: int) -> str:
        if col == 0:
            return row.name + ("  (this window)" if row.current else "")
        if col == 1:
            return f"{row.cell} · {row.preset or 'custom'}"
        if col == 2:
            return row.status
        if col == 3:
            return "" if row.iteration is None else str(row.iteration)
        if col == 4:
            return "" if row.best_val_bpc is None else f"{row.best_val_bpc:.3f}"
        return row.corpus or ""

    @staticmethod
    def _tip(row: RunRow, col: int) -> str:
        if col == 2:
            return f"{row.status}: {STATUS_TIPS.get(row.status, '')}" + (f"\n{row.error}" if row.error else "")
        return "\n".join(t for t in (row.path, row.settings(), row.error or "") if t)

    def setData(self, index: QModelIndex, value, role=Qt.ItemDataRole.EditRole) -> bool:
        row = self.row(index)
        if row is None or role != Qt.ItemDataRole.CheckStateRole or index.column() != 0:
            return False
        self.library.set_checked(row.path, Qt.CheckState(value) == Qt.CheckState.Checked)
        return True


class SampleColumn(QFrame):
    """One checked run's sample in the comparison: a coloured heading and the text."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.heading = QLabel()
        self.heading.setWordWrap(True)
        self.heading.setTextFormat(Qt.TextFormat.RichText)
        self.text = QPlainTextEdit(objectName="comparedSample")
        self.text.setReadOnly(True)
        self.text.setFont(monospace_font())
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(2)
        layout.addWidget(self.heading)
        layout.addWidget(self.text, 1)
        self.setMinimumWidth(180)


class CompareSamples(QWidget):
    """Each checked run's sample nearest to one iteration, side by side."""

    def __init__(self, library: RunsLibrary, parent=None):
        super().__init__(parent)
        self.setObjectName("compareSamples")
        self.library = library
        self.follow_latest = True  # the iteration tracks the newest sample until the user picks one
        self.iteration_spin = QSpinBox(objectName="compareIteration")
        self.iteration_spin.setRange(0, 2_000_000_000)
        self.iteration_spin.setSingleStep(100)
        self.iteration_spin.setGroupSeparatorShown(True)
        self.iteration_spin.setToolTip("Show each checked run's sample drawn nearest to this iteration")
        self.latest_button = QPushButton("Latest", objectName="compareLatest")
        self.latest_button.setToolTip("Follow the newest sample of the checked runs")
        self.placeholder = QLabel("Check runs in the table to compare their samples here.")
        self.placeholder.setStyleSheet("color: #666;")
        self.placeholder.setWordWrap(True)
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(QLabel("<b>Samples at iteration</b>"))
        top.addWidget(self.iteration_spin)
        top.addWidget(self.latest_button)
        top.addStretch(1)
        self.columns_box = QWidget()
        self.columns_layout = QHBoxLayout(self.columns_box)
        self.columns_layout.setContentsMargins(0, 0, 0, 0)
        self.columns_layout.setSpacing(4)
        scroll = QScrollArea()
        scroll.setWidget(self.columns_box)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(top)
        layout.addWidget(self.placeholder)
        layout.addWidget(scroll, 1)
        self.columns: dict[str, SampleColumn] = {}
        self.iteration_spin.valueChanged.connect(self._on_iteration_edited)
        self.latest_button.clicked.connect(self.show_latest)

    def set_iteration(self, iteration: int) -> None:
        """Compare the samples nearest to an iteration (and stop following the newest)."""
        self.follow_latest = False
        with QSignalBlocker(self.iteration_spin):
            self.iteration_spin.setValue(int(iteration))
        self.refresh()

    @property
    def iteration(self) -> int:
        return self.iteration_spin.value()

    def show_latest(self) -> None:
        self.follow_latest = True
        self.refresh()

    def _on_iteration_edited(self, value: int) -> None:
        self.follow_latest = False
        self.refresh()

    def refresh(self) -> None:
        rows = [r for r in self.library.checked_rows() if r.history is not None]
        keys = [r.path for r in rows]
        for key in [k for k in self.columns if k not in keys]:
            column = self.columns.pop(key)
            self.columns_layout.removeWidget(column)
            column.deleteLater()
        if self.follow_latest:
            latest = [r.history.samples[-1].iteration for r in rows if r.history.samples]
            with QSignalBlocker(self.iteration_spin):
                self.iteration_spin.setValue(min(latest) if latest else 0)  # every run has a sample there
        it = self.iteration
        for i, row in enumerate(rows):
            column = self.columns.get(row.path)
            if column is None:
                column = self.columns[row.path] = SampleColumn()
            self.columns_layout.insertWidget(i, column, 1)
            sample = row.history.sample_nearest(it)
            colour = run_colour(row).name()
            where = "no samples yet" if sample is None else f"iteration {sample.iteration:,}"
            heading = f'<span style="color:{colour}">&#9632;</span> <b>{row.name}</b><br>{row.settings()}<br>{where}'
            if column.heading.text() != heading:
                column.heading.setText(heading)
            text = "" if sample is None else sample.text
            if column.text.toPlainText() != text:
                column.text.setPlainText(text)
        self.placeholder.setVisible(not rows)

    def texts(self) -> dict[str, str]:
        """Each compared run's shown sample, by run folder (for tests and export)."""
        return {path: c.text.toPlainText() for path, c in self.columns.items()}


class RunsPanel(QWidget):
    """The Runs tab: the runs table (objectName runsPanel) beside the samples comparison."""

    openCheckpointRequested = Signal(str, bool)  # a checkpoint path; True to look inside rather than continue
    axisChanged = Signal(str)  # the overlay's x axis: iteration, chars or time

    def __init__(self, library: RunsLibrary, open_folder_action: QAction | None = None, parent=None):
        super().__init__(parent)
        self.setObjectName("runsTab")
        self.library = library
        self.model = RunsModel(library, self)
        self.view = QTreeView(objectName="runsPanel")
        self.view.setModel(self.model)
        self.view.setRootIsDecorated(False)
        self.view.setUniformRowHeights(True)
        self.view.setAlternatingRowColors(True)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.header().setStretchLastSection(True)
        self.view.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        self.view.setColumnWidth(0, 270)
        for column, width in ((1, 90), (2, 70), (3, 70), (4, 90)):
            self.view.setColumnWidth(column, width)
        self.view.setToolTip("Tick runs to overlay their curves on the loss plot and compare their samples; "
                             "right-click a run for more")

        self.open_button = QPushButton("Open Runs Folder…", objectName="openRunsFolderButton")
        if open_folder_action is not None:
            self.open_button.clicked.connect(open_folder_action.trigger)
            self.open_button.setToolTip(open_folder_action.toolTip())
        self.axis_combo = QComboBox(objectName="runsXAxis")
        self.axis_combo.addItem("by iteration", "iteration")
        self.axis_combo.addItem("by characters seen", "chars")
        self.axis_combo.addItem("by training time", "time")
        self.axis_combo.setToolTip("The x axis of the overlaid curves")
        self.uncheck_button = QPushButton("Uncheck All", objectName="uncheckRunsButton")
        self.uncheck_button.setToolTip("Back to the current model's curves")
        self.note = QLabel("", objectName="runsNote")
        self.note.setStyleSheet("color: #a03030;")
        self.note.setWordWrap(True)
        self.note.setVisible(False)
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(QLabel("<b>Runs</b>"))
        bar.addWidget(self.open_button)
        bar.addWidget(QLabel("Curves"))
        bar.addWidget(self.axis_combo)
        bar.addWidget(self.uncheck_button)
        bar.addStretch(1)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.setSpacing(4)
        left_layout.addLayout(bar)
        left_layout.addWidget(self.note)
        left_layout.addWidget(self.view, 1)
        self.compare = CompareSamples(library)
        self.splitter = QSplitter(Qt.Orientation.Horizontal, objectName="runsSplitter")
        self.splitter.addWidget(left)
        self.splitter.addWidget(self.compare)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.splitter)

        self.axis_combo.currentIndexChanged.connect(lambda _i: self.axisChanged.emit(self.x_axis))
        self.uncheck_button.clicked.connect(self.uncheck_all)
        self.view.customContextMenuRequested.connect(self._context_menu)
        library.curvesChanged.connect(self.compare.refresh)
        library.rowsChanged.connect(self.compare.refresh)
        library.foldersChanged.connect(self._show_folder_notes)

    # -- state ---------------------------------------------------------------------------------

    @property
    def x_axis(self) -> str:
        return self.axis_combo.currentData() or "iteration"

    def set_x_axis(self, axis: str) -> None:
        i = self.axis_combo.findData(axis)
        if i >= 0:
            self.axis_combo.setCurrentIndex(i)

    def row_texts(self) -> list[str]:
        """Each row's cells joined by tabs (what a user reads), in view order."""
        m = self.model
        return ["\t".join(m.data(m.index(r, c)) or "" for c in range(m.columnCount())) for r in range(m.rowCount())]

    def set_checked(self, path: str, checked: bool = True) -> None:
        index = self.model.index_of(path)
        if index.isValid():
            self.model.setData(index, Qt.CheckState.Checked.value if checked else Qt.CheckState.Unchecked.value,
                               Qt.ItemDataRole.CheckStateRole)

    def uncheck_all(self) -> None:
        for row in list(self.library.checked_rows()):
            self.library.set_checked(row.path, False)

    @Slot()
    def _show_folder_notes(self) -> None:
        notes = [f"{root} is not responding; its runs show what was last read" for root in
                 self.library.stalled_folders()]
        notes += [why for root, why in self.library.folder_errors.items()
                  if root != self.library.app_folder or os.path.exists(root)]
        self.note.setText("\n".join(notes))
        self.note.setVisible(bool(notes))

    # -- actions on a run ----------------------------------------------------------------------

    def _context_menu(self, pos) -> None:
        row = self.model.row(self.view.indexAt(pos))
        if row is None:
            return
        menu = QMenu(self)
        latest = os.path.join(row.path, "checkpoints", "latest.npz")
        best = os.path.join(row.path, "checkpoints", "best.npz")
        busy = row.current or row.status == LIVE
        a = menu.addAction("Continue Training from Its Latest Checkpoint",
                           lambda: self.openCheckpointRequested.emit(latest, False))
        a.setEnabled(os.path.isfile(latest) and not row.current)
        a = menu.addAction("Look Inside Its Latest Model", lambda: self.openCheckpointRequested.emit(latest, True))
        a.setEnabled(os.path.isfile(latest) and not row.current)
        a = menu.addAction("Open Its Best Checkpoint", lambda: self.openCheckpointRequested.emit(best, False))
        a.setEnabled(os.path.isfile(best) and not row.current)
        menu.addSeparator()
        menu.addAction("Show Folder", lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(row.path)))
        a = menu.addAction("Rename…", lambda: self.rename_run(row.path))
        a.setEnabled(not busy)
        a = menu.addAction("Delete…", lambda: self.delete_run(row.path))
        a.setEnabled(not busy)
        if row.root in self.library.user_folders:
            menu.addSeparator()
            menu.addAction(f"Stop Searching {os.path.basename(row.root) or row.root}",
                           lambda: self.library.remove_folder(row.root))
        menu.exec(self.view.viewport().mapToGlobal(pos))
        menu.deleteLater()  # its actions' slots refer to this panel

    def _refuse_busy(self, row: RunRow, what: str) -> bool:
        if row.current or row.status == LIVE:
            QMessageBox.warning(self, f"Cannot {what} this run", f"{row.name} is being written now. "
                                f"Wait until it ends{' (Reset ends this window’s run)' if row.current else ''}.")
            return True
        return False

    def rename_run(self, path: str, new_name: str | None = None) -> bool:
        """Rename a run's folder (asks for the name unless given); True when renamed."""
        row = self.library.rows.get(path)
        if row is None or self._refuse_busy(row, "rename"):
            return False
        if new_name is None:
            new_name, ok = QInputDialog.getText(self, "Rename run", "New name for the run's folder:", text=row.name)
            if not ok:
                return False
        new_name = new_name.strip()
        if not new_name or new_name in (".", "..") or os.sep in new_name or (os.altsep and os.altsep in new_name):
            QMessageBox.warning(self, "Cannot rename run", "Give a plain folder name (no slashes).")
            return False
        target = os.path.join(os.path.dirname(path), new_name)
        if os.path.exists(target):
            QMessageBox.warning(self, "Cannot rename run", f"{target} exists already.")
            return False
        try:
            os.rename(path, target)
        except OSError as e:
            QMessageBox.warning(self, "Cannot rename run", f"Cannot rename {path}: {e.strerror or e}")
            return False
        self.library.forget(path)
        return True

    def delete_run(self, path: str) -> bool:
        """Delete a run's folder after asking; True when deleted."""
        row = self.library.rows.get(path)
        if row is None or self._refuse_busy(row, "delete"):
            return False
        B = QMessageBox.StandardButton
        answer = QMessageBox.question(self, "Delete run?", f"Delete {row.name} and everything in it (curves, "
                                      f"samples, checkpoints)?\n\n{path}", B.Yes | B.Cancel, B.Cancel)
        if answer != B.Yes:
            return False
        try:
            shutil.rmtree(path)
        except OSError as e:
            QMessageBox.warning(self, "Cannot delete run", f"Cannot delete {path}: {e.strerror or e}")
            self.library.refresh(row.root)
            return False
        self.library.forget(path)
        return True

