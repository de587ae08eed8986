"""File → Export: the loss history (CSV), the loss plot (PNG), the samples (TXT), the gradient flow (PNG, CSV).

An Exports is a child of the window, given the parts it writes from: each action asks where to write, writes,
and says in the status bar what was written, or in a message why it could not be.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QFileDialog, QMessageBox

from .window_settings import dialog_dir

CSV_FILTER = "CSV files (*.csv);;All files (*)"
PNG_FILTER = "PNG images (*.png)"
TEXT_FILTER = "Text files (*.txt);;All files (*)"


class Exports(QObject):
    """The export actions of the window (its parent), each a slot."""

    def __init__(self, window, settings, session, loss_panel, samples_panel, gradflow_panel):
        super().__init__(window)
        self.settings = settings
        self.session = session
        self.loss_panel = loss_panel
        self.samples_panel = samples_panel
        self.gradflow_panel = gradflow_panel

    def _export(self, caption: str, name: str, filters: str, write) -> None:
        """Ask where to save (name in the last folder used), then write(path), which returns the status message."""
        window = self.parent()
        path, _ = QFileDialog.getSaveFileName(window, caption, os.path.join(dialog_dir(self.settings), name), filters)
        if not path:
            return
        try:
            message = write(path)
        except OSError as e:
            QMessageBox.warning(window, "Cannot export", f"Cannot write {path}: {e.strerror or e}")
            return
        window.statusBar().showMessage(message, 8000)

    @Slot()
    def loss_csv(self) -> None:
        """The loss history, one row per iteration (thinned in a long run), as CSV."""
        def write(path):
            history = self.session.run.curves
            n = history.write_csv(path)
            every = "" if history.stride == 1 else f" (every {history.stride}th iteration of this long run)"
            return f"Wrote {n:,} iterations to {path}{every}"

        self._export("Export loss history", "loss.csv", CSV_FILTER, write)

    @Slot()
    def loss_png(self) -> None:
        """The loss plot as it is drawn, as PNG."""
        def write(path):
            self.loss_panel.export_png(path)
            return f"Saved the plot to {path}"

        self._export("Export loss plot", "loss.png", PNG_FILTER, write)

    @Slot()
    def samples(self) -> None:
        """Every sample of the timeline, as text."""
        def write(path):
            return f"Wrote {self.samples_panel.export_txt(path):,} samples to {path}"

        self._export("Export samples", "samples.txt", TEXT_FILTER, write)

    def _flow_measured(self) -> bool:
        """Whether there is a gradient-flow measurement to export; says so in the status bar when there is none."""
        if len(self.session.flows):
            return True
        self.parent().statusBar().showMessage("No gradient-flow measurement yet: train with Gradient flow every "
                                              "above 0", 5000)
        return False

    @Slot()
    def flow_png(self) -> None:
        """The gradient-flow heatmap, as PNG."""
        def write(path):
            self.gradflow_panel.export_png(path)
            return f"Saved the gradient-flow heatmap to {path}"

        if self._flow_measured():
            self._export("Export gradient-flow heatmap", "gradient-flow.png", PNG_FILTER, write)

    @Slot()
    def flow_csv(self) -> None:
        """Every gradient-flow measurement, as CSV."""
        def write(path):
            return f"Wrote {self.session.flows.write_csv(path):,} gradient-flow measurements to {path}"

        if self._flow_measured():
            self._export("Export gradient-flow numbers", "gradient-flow.csv", CSV_FILTER, write)
