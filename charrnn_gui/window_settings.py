"""The window's remembered state: geometry, splitters, training and plot settings, the last corpus, runs folders.

A WindowSettings is a child of the window, given the parts whose state it keeps: restore() when the window opens,
save() when it closes. The settings are QSettings in INI format (tests redirect them with QSettings.setPath).
"""

from __future__ import annotations

import json
import os

from PySide6.QtCore import QByteArray, QObject, QSettings

import core
from core.experiments import LESSON_TEXTS

from .session import BUILTIN_PREFIX


def default_runs_folder() -> str:
    """Where the app writes its runs unless the user chose another folder: the user data directory's runs/."""
    import platformdirs

    return os.path.join(platformdirs.user_data_dir("charrnn", appauthor=False), "runs")


def make_settings() -> QSettings:
    """The app's settings (INI format, so tests can redirect them with QSettings.setPath)."""
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "charrnn", "charrnn-gui")


def dialog_dir(settings: QSettings) -> str:
    """Where file dialogs open: the folder of the last file opened or saved, else the home folder."""
    d = str(settings.value("dialogs/lastDir", "") or "")
    return d if d and os.path.isdir(d) else os.path.expanduser("~")


def remember_dialog_dir(settings: QSettings, path: str) -> None:
    """File dialogs open next in the folder of path (a file just opened or saved)."""
    settings.setValue("dialogs/lastDir", os.path.dirname(os.path.abspath(path)))


class WindowSettings(QObject):
    """Restores and saves the state of the window (its parent) and of its panels in settings."""

    def __init__(self, window, settings: QSettings, session, splitters: dict, settings_panel, loss_panel,
                 samples_panel, runs, runs_panel):
        super().__init__(window)
        self.settings = settings
        self.session = session
        self.splitters = splitters  # {"main"|"right"|"top": QSplitter}
        self.settings_panel = settings_panel
        self.loss_panel = loss_panel
        self.samples_panel = samples_panel
        self.runs = runs
        self.runs_panel = runs_panel

    def restore(self) -> None:
        """Put back what save() kept; a missing or unreadable value leaves the part as built."""
        s = self.settings
        geometry = s.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.parent().restoreGeometry(geometry)
        for key, splitter in self.splitters.items():
            state = s.value(f"window/splitter/{key}")
            if isinstance(state, QByteArray) and not state.isEmpty():
                splitter.restoreState(state)
        try:
            saved = json.loads(str(s.value("training/config", "") or "{}"))
            if isinstance(saved, dict) and saved.get("config"):
                cfg = core.TrainConfig.from_dict(saved["config"]).validate()
                self.settings_panel.show_config(cfg, saved.get("preset"))
        except (ValueError, TypeError):
            pass
        self._restore_runs()
        self.loss_panel.set_units(str(s.value("plot/units", "lesson")))
        self.loss_panel.set_log_y(str(s.value("plot/logY", "false")).lower() == "true")
        try:
            self.loss_panel.set_smoothing(float(s.value("plot/smoothing", 0.9)))
            self.samples_panel.temperature_spin.setValue(float(s.value("sampleNow/temperature", 0.8)))
            self.samples_panel.length_spin.setValue(int(s.value("sampleNow/length", 300)))
        except (TypeError, ValueError):
            pass
        try:
            self.settings_panel.set_speed(float(s.value("training/speed", 0.0) or 0.0))
        except (TypeError, ValueError):
            pass

    def _restore_runs(self) -> None:
        """The folder new runs go to, the folders the Runs tab lists, and its x axis."""
        s = self.settings
        folder = str(s.value("runs/folder", "") or "") or default_runs_folder()
        self.session.runs_folder = folder
        try:
            folders = json.loads(str(s.value("runs/folders", "[]") or "[]"))
        except ValueError:
            folders = []
        self.runs.app_folder = os.path.abspath(folder)
        self.runs.user_folders = [f for f in folders if isinstance(f, str) and f]
        self.runs.set_app_folder(folder)
        self.runs_panel.set_x_axis(str(s.value("runs/xAxis", "iteration")))

    def save(self) -> None:
        """Write the window's and the panels' state, and the corpus in use, to settings (synced)."""
        s = self.settings
        s.setValue("window/geometry", self.parent().saveGeometry())
        for key, splitter in self.splitters.items():
            s.setValue(f"window/splitter/{key}", splitter.saveState())
        spec = self.session.corpus_spec
        # A lesson's text and settings (hello: 3 units) are not what the next launch should open with.
        lesson = bool(spec) and spec.startswith(BUILTIN_PREFIX) and spec[len(BUILTIN_PREFIX):] in LESSON_TEXTS
        try:
            if not lesson:
                saved = {"config": self.settings_panel.config().to_dict(), "preset": self.settings_panel.preset_name}
                s.setValue("training/config", json.dumps(saved))
        except ValueError:
            pass
        s.setValue("plot/units", self.loss_panel.units)
        s.setValue("plot/logY", "true" if self.loss_panel.log_y else "false")
        s.setValue("plot/smoothing", self.loss_panel.smoothing)
        s.setValue("sampleNow/temperature", self.samples_panel.temperature_spin.value())
        s.setValue("sampleNow/length", self.samples_panel.length_spin.value())
        if spec and not lesson:
            s.setValue("corpus/last", spec)
        s.setValue("runs/folders", json.dumps(self.runs.user_folders))
        s.setValue("runs/xAxis", self.runs_panel.x_axis)
        s.sync()
