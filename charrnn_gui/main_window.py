"""The main window: corpus and settings on the left, the loss plot and samples, the hidden-state heatmap.

The window builds the panels and wires them to the live Session (charrnn_gui/session.py), which owns
the corpus, the model, its worker and checkpoint I/O: panels <- window -> session -> core. Its remembered state
(window_settings.py), the exports (exports.py) and the ways to open a text (corpus_actions.py) are helpers it
creates and wires.
"""

from __future__ import annotations

import json
import os
import time

from PySide6.QtCore import QSettings, Qt, QTimer, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QApplication, QFileDialog, QLabel, QMainWindow, QMessageBox, QSplitter, QStyle,
                               QTabWidget, QVBoxLayout, QWidget)

import core
from core.experiments import EXPERIMENTS, experiment
from core.probe import default_probe_text, probe_passage
from core.saturation import held_out_ids

from .affordable import confirm_affordable
from .baselines import BaselinesController
from .checkpoint_meta import MetaError, read_app_meta
from .column import ColumnScrollArea
from .corpus_actions import CorpusActions
from .corpus_panel import CorpusPanel
from .engine_link import OPEN_PREFIX
from .exports import Exports
from .fmt import duration
from .frame_budget import FrameBudget
from .gradflow_panel import GradFlowPanel
from .heatmap import HiddenHeatmap
from .inspector import InspectorPanel
from .lifetimes import stop_with
from .lossplot import REFRESH_MS as LOSS_REFRESH_MS
from .lossplot import LossPlotPanel
from .runs_library import RunsLibrary
from .runs_panel import RunsPanel, run_colour
from .samples import SamplesPanel
from .saturation_panel import SaturationPanel
from .session import BUILTIN_PREFIX, IDLE, PAUSED, RUNNING, Session
from .settings_panel import SettingsPanel
from .unrolled import UnrolledView
from .window_settings import WindowSettings, dialog_dir, make_settings, remember_dialog_dir

REFRESH_MS = 100  # status bar and samples refresh
HEATMAP_MIN_INTERVAL = 0.5  # seconds between two heatmap redraws while samples pour in
HEATMAP_LONGEST_INTERVAL = 2.0  # ... at most, when the frame budget stretches it (charrnn_gui/frame_budget.py)
LOSS_REFRESH_LONGEST_MS = 1000  # the loss plot's refresh interval at most, likewise (its base: lossplot.REFRESH_MS)
SAMPLES_LONGEST_INTERVAL = 0.5  # seconds between two writes of new samples to the view at most (base: REFRESH_MS;
# a write costs ~3 ms however many samples it adds, and 13 samples a second cannot be read as they come anyway)
STATUS_LONGEST_INTERVAL = 0.5  # seconds between two updates of the status bar's numbers at most (~1.3 ms each)
RUNS_ROW_INTERVAL = 2.0  # seconds between two updates of the live run's row in the Runs list while training (each
# repaints the row: ~3 ms of the GUI thread, a quarter of its time at 10 a second)
CHECKPOINT_FILTER = "charrnn checkpoints (*.npz);;All files (*)"
LOOK_INSIDE_HEIGHT = 500  # pixels the Look inside (and Gradient flow) tab gets when opened in a shorter tab area


class MainWindow(QMainWindow):
    """charrnn's window. Construct with no arguments; the built-in corpus is loaded so Start works at once."""

    def __init__(self, parent=None, *, restore_last_corpus: bool = True, settings: QSettings | None = None):
        super().__init__(parent)
        self.settings = settings if settings is not None else make_settings()
        self.session = Session(self)
        self.corpus_notes: tuple[str, ...] = ()
        self._look_inside_next = False  # the checkpoint being opened is to be looked inside
        self._latest_sample = None  # (text, states, which sample) waiting for the heatmap
        self._shut_down = False
        self.frame_budget = FrameBudget()  # stretches the redraw intervals while the GUI thread takes too much CPU
        self._heatmap_min_interval = HEATMAP_MIN_INTERVAL
        self._samples_min_interval = 0.0  # every refresh writes new samples, unless the frame budget stretches it
        self._status_min_interval = 0.0  # likewise for the status bar
        self._shown_at: dict[str, float] = {}  # perf_counter when each throttled view was last updated (_due)

        self.setWindowTitle("charrnn")
        self.setAcceptDrops(True)
        self._build_actions()
        self._build_ui()
        self._build_menus()
        self._build_helpers()
        self._connect_session()
        self.window_settings.restore()

        self._refresh_timer = QTimer(self)
        self._refresh_timer.setInterval(REFRESH_MS)
        self._refresh_timer.timeout.connect(self._on_refresh_timer)
        self._refresh_timer.start()

        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)  # threads are joined even if the window never closes
        stop_with(self, self.session, self.runs)  # ... or is garbage-collected without being closed
        self.corpus_actions.load_startup(restore_last_corpus)
        self._update_ui()

    # == construction ==========================================================================

    def _action(self, text, name, slot, shortcut=None, icon=None, tip="") -> QAction:
        """A window action; slot None when a helper's slot is connected in _build_helpers."""
        a = QAction(text, self)
        a.setObjectName(name)
        if shortcut is not None:
            a.setShortcut(QKeySequence(shortcut))
        if icon is not None:
            a.setIcon(self.style().standardIcon(icon))
        if tip:
            a.setStatusTip(tip)
            a.setToolTip(tip)
        if slot is not None:
            a.triggered.connect(slot)
        self.addAction(a)
        return a

    def _build_actions(self) -> None:
        SP = QStyle.StandardPixmap
        self.open_corpus_action = self._action("&Open Text…", "openCorpusAction", None,
                                               QKeySequence.StandardKey.Open, SP.SP_DialogOpenButton,
                                               "Open a text file to train on (Ctrl+O), or drop one on the window")
        self.open_checkpoint_action = self._action("Open &Checkpoint…", "openCheckpointAction", self.open_checkpoint,
                                                   "Ctrl+Shift+O", None, "Continue a saved model")
        self.save_checkpoint_action = self._action("&Save Checkpoint", "saveCheckpointAction", self.save_checkpoint,
                                                   QKeySequence.StandardKey.Save, SP.SP_DialogSaveButton,
                                                   "Save the model, its optimiser state and its curves (Ctrl+S)")
        self.save_as_action = self._action("Save Checkpoint &As…", "saveCheckpointAsAction", self.save_checkpoint_as,
                                           "Ctrl+Shift+S")
        self.export_csv_action = self._action("Export Loss History (CSV)…", "exportLossCsvAction", None)
        self.export_png_action = self._action("Export Loss Plot (PNG)…", "exportLossPngAction", None)
        self.open_runs_folder_action = self._action("Open &Runs Folder…", "openRunsFolderAction",
                                                    self.open_runs_folder_dialog, None, None,
                                                    "Add a folder whose runs (searched recursively) are listed in "
                                                    "the Runs tab, e.g. where charrnn-train writes on a server")
        self.runs_folder_action = self._action("Folder for New Runs…", "runsFolderAction", self.choose_runs_folder,
                                               None, None, "Where this app writes every training as a run")
        self.export_samples_action = self._action("Export Samples (TXT)…", "exportSamplesAction", None)
        self.export_flow_png_action = self._action("Export Gradient Flow Heatmap (PNG)…", "exportFlowPngAction",
                                                   None)
        self.export_flow_csv_action = self._action("Export Gradient Flow Numbers (CSV)…", "exportFlowCsvAction",
                                                   None)
        self.quit_action = self._action("&Quit", "quitAction", self.close, QKeySequence.StandardKey.Quit)
        self.start_pause_action = self._action("Start", "startPauseAction", self.toggle_training, Qt.Key.Key_Space,
                                               SP.SP_MediaPlay, "Start, pause or resume training (Space)")
        self.step_action = self._action("Step", "stepAction", self.step_once, Qt.Key.Key_F10, SP.SP_MediaSkipForward,
                                        "Train exactly one iteration while paused (F10)")
        self.reset_action = self._action("Reset", "resetAction", self.reset_model, "Ctrl+R", SP.SP_BrowserReload,
                                         "Throw the weights away and start from new random ones (Ctrl+R)")
        self.sample_now_action = self._action("Sample Now", "sampleNowAction", self.sample_now, "Ctrl+G", None,
                                              "Generate text from the current weights (while paused)")

    def _build_ui(self) -> None:
        self.corpus_panel = CorpusPanel()
        self.corpus_panel.open_button.setDefaultAction(self.open_corpus_action)
        self.corpus_panel.open_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.corpus_panel.builtin_button.setText("Built-in")
        self.settings_panel = SettingsPanel()
        self.settings_panel.liveChanged.connect(self._on_live_changed)
        self.settings_panel.speedChanged.connect(self._on_speed_changed)

        left = QWidget(objectName="controlsPanel")
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(6, 6, 6, 6)
        left_layout.addWidget(self.corpus_panel)
        left_layout.addWidget(self.settings_panel)
        left_layout.addStretch(1)
        self.left_scroll = ColumnScrollArea(left)  # as wide as the controls need: nothing cut at its edge

        self.loss_panel = LossPlotPanel()
        self.samples_panel = SamplesPanel()
        self.samples_panel.sampleNowRequested.connect(self.sample_now)
        self.heatmap = HiddenHeatmap()
        self.heatmap.unitClicked.connect(self._on_unit_clicked)
        self.tabs = QTabWidget(objectName="panelTabs")
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.heatmap, "Hidden state")
        self.inspector = InspectorPanel()
        self.inspector.set_source(self._probe_params, None)
        self.inspector.unitChanged.connect(self._on_inspector_unit)
        self.add_panel("Look inside", self.inspector)
        self.gradflow_panel = GradFlowPanel()
        self.add_panel("Gradient flow", self.gradflow_panel)
        self.saturation_panel = SaturationPanel()
        self.saturation_panel.set_source(self._weights_now)
        self.add_panel("Gates", self.saturation_panel)
        self.runs = RunsLibrary(self)
        self.runs_panel = RunsPanel(self.runs, self.open_runs_folder_action)
        self.add_panel("Runs", self.runs_panel)
        self.unrolled = UnrolledView(self.session)
        self.add_panel("Unrolled", self.unrolled)
        self.tabs.currentChanged.connect(self._on_tab_changed)

        self.top_splitter = QSplitter(Qt.Orientation.Horizontal, objectName="topSplitter")
        self.top_splitter.addWidget(self.loss_panel)
        self.top_splitter.addWidget(self.samples_panel)
        self.top_splitter.setStretchFactor(0, 3)
        self.top_splitter.setStretchFactor(1, 2)
        self.right_splitter = QSplitter(Qt.Orientation.Vertical, objectName="rightSplitter")
        self.right_splitter.addWidget(self.top_splitter)
        self.right_splitter.addWidget(self.tabs)
        self.right_splitter.setStretchFactor(0, 3)
        self.right_splitter.setStretchFactor(1, 2)
        self.main_splitter = QSplitter(Qt.Orientation.Horizontal, objectName="mainSplitter")
        self.main_splitter.addWidget(self.left_scroll)
        self.main_splitter.addWidget(self.right_splitter)
        self.main_splitter.setStretchFactor(0, 0)
        self.main_splitter.setStretchFactor(1, 1)
        self.main_splitter.setCollapsible(1, False)
        self.setCentralWidget(self.main_splitter)
        self.resize(1400, 900)
        self.main_splitter.setSizes([330, 1070])
        self.top_splitter.setSizes([620, 450])
        self.right_splitter.setSizes([520, 330])

        toolbar = self.addToolBar("Training")
        toolbar.setObjectName("trainingToolbar")
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        for a in (self.open_corpus_action, None, self.start_pause_action, self.step_action, self.reset_action, None,
                  self.save_checkpoint_action):
            toolbar.addSeparator() if a is None else toolbar.addAction(a)

        bar = self.statusBar()
        self.state_label = QLabel("Ready", objectName="stateLabel")
        self.iteration_label = QLabel("Iteration 0", objectName="iterationLabel")
        self.epoch_label = QLabel("Epoch 1 · 0.0%", objectName="epochLabel")
        self.speed_label = QLabel("— it/s", objectName="speedLabel")
        self.loss_label = QLabel("Loss —", objectName="lossLabel")
        self.elapsed_label = QLabel("Elapsed 0:00:00", objectName="elapsedLabel")
        self.iteration_label.setToolTip("Completed training iterations (one window of T characters per stream each)")
        self.epoch_label.setToolTip("Which pass over the training text, and how far into it")
        self.loss_label.setToolTip("Training loss in bits per character: the moving average the loss plot draws "
                                   "(orange), and the latest held-out (validation) value")
        self.baselines = BaselinesController(self.session, self.loss_panel, self)  # n-gram lines and "beats the 3-gram"
        for w in (self.state_label, self.iteration_label, self.epoch_label, self.speed_label, self.loss_label,
                  self.baselines.label, self.elapsed_label):
            w.setContentsMargins(8, 0, 8, 0)
            bar.addPermanentWidget(w)

    def _build_menus(self) -> None:
        mb = self.menuBar()
        file_menu = mb.addMenu("&File")
        file_menu.addAction(self.open_corpus_action)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.recent_menu.setObjectName("recentMenu")
        self.builtin_menu = file_menu.addMenu("&Built-in Corpora")
        self.builtin_menu.setObjectName("builtinMenu")
        self.corpus_panel.builtin_button.setMenu(self.builtin_menu)
        file_menu.addSeparator()
        file_menu.addAction(self.open_checkpoint_action)
        file_menu.addAction(self.save_checkpoint_action)
        file_menu.addAction(self.save_as_action)
        file_menu.addSeparator()
        file_menu.addAction(self.open_runs_folder_action)
        file_menu.addAction(self.runs_folder_action)
        file_menu.addSeparator()
        export = file_menu.addMenu("&Export")
        export.addAction(self.export_csv_action)
        export.addAction(self.export_png_action)
        export.addAction(self.export_samples_action)
        export.addAction(self.export_flow_png_action)
        export.addAction(self.export_flow_csv_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        train = mb.addMenu("&Training")
        for a in (self.start_pause_action, self.step_action, self.reset_action, None, self.sample_now_action):
            train.addSeparator() if a is None else train.addAction(a)
        self.experiments_menu = mb.addMenu("E&xperiments")
        self.experiments_menu.setObjectName("experimentsMenu")
        self.experiments_menu.setToolTipsVisible(True)
        for name, exp in EXPERIMENTS.items():
            a = self.experiments_menu.addAction(exp.title)
            a.setObjectName(f"experiment-{name}")
            a.setData(name)
            a.setToolTip(exp.shows)
            a.setStatusTip(exp.shows)
        self.experiments_menu.triggered.connect(self._on_experiment_triggered)  # a bound method: no cycle
        self.view_menu = mb.addMenu("&View")
        self.view_menu.addAction("Log Scale for Loss", self.loss_panel.log_check.toggle)
        self.view_menu.addAction("Fit Loss Plot", self.loss_panel.plot.getPlotItem().enableAutoRange)
        self.view_menu.addAction("Fit Hidden-State Heatmap", self.heatmap.reset_view)

    def _build_helpers(self) -> None:
        """The window's helpers, each a child given the parts it uses: remembered state, exports, corpus actions."""
        self.window_settings = WindowSettings(
            self, self.settings, self.session, {"main": self.main_splitter, "right": self.right_splitter,
                                                "top": self.top_splitter},
            self.settings_panel, self.loss_panel, self.samples_panel, self.runs, self.runs_panel)
        self.exports = Exports(self, self.settings, self.session, self.loss_panel, self.samples_panel,
                               self.gradflow_panel)
        for action, slot in ((self.export_csv_action, self.exports.loss_csv),
                             (self.export_png_action, self.exports.loss_png),
                             (self.export_samples_action, self.exports.samples),
                             (self.export_flow_png_action, self.exports.flow_png),
                             (self.export_flow_csv_action, self.exports.flow_csv)):
            action.triggered.connect(slot)
        self.samples_panel.exportRequested.connect(self.exports.samples)
        self.gradflow_panel.exportPngRequested.connect(self.exports.flow_png)
        self.gradflow_panel.exportCsvRequested.connect(self.exports.flow_csv)
        self.corpus_actions = CorpusActions(self, self.settings, self.session, self.corpus_panel, self.recent_menu,
                                            self.builtin_menu)
        self.open_corpus_action.triggered.connect(self.corpus_actions.open_dialog)
        self.corpus_actions.checkpointDropped.connect(self._on_checkpoint_dropped)

    def _connect_session(self) -> None:
        s = self.session
        s.stateChanged.connect(self._on_state_changed)
        s.loadStarted.connect(self._on_load_started)
        s.loadEnded.connect(self._on_load_ended)
        s.corpusLoaded.connect(self._on_corpus_loaded)
        s.loadFailed.connect(self._on_load_failed)
        s.corpusChanged.connect(self._on_corpus_changed)
        s.modelInstalled.connect(self._on_model_installed)
        s.modelOpened.connect(self._on_model_opened)
        s.modelDiscarded.connect(self._on_model_discarded)
        s.progressed.connect(self._on_progressed)
        s.sampled.connect(self._on_sampled)
        s.diverged.connect(self._on_diverged)
        s.failed.connect(self._on_failed)
        s.checkpointSaved.connect(self._on_checkpoint_saved)
        s.checkpointOpened.connect(self._on_checkpoint_opened)
        s.checkpointFailed.connect(self._on_checkpoint_failed)
        s.runStarted.connect(self._on_run_started)
        s.runEnded.connect(self._on_run_ended)
        s.runWarned.connect(self._on_run_warned)
        self.runs.curvesChanged.connect(self._update_overlays)
        self.runs.rowsChanged.connect(self._update_overlays)
        self.runs_panel.axisChanged.connect(self._update_overlays)
        self.runs_panel.openCheckpointRequested.connect(self._open_run_checkpoint)

    # == panels ================================================================================

    def add_panel(self, title: str, widget: QWidget) -> int:
        """Add a panel (e.g. the inspector) as a tab next to the hidden-state heatmap; returns its index."""
        return self.tabs.addTab(widget, title)

    @Slot(int)
    def _on_unit_clicked(self, unit: int) -> None:
        chosen = self.heatmap.chooser
        self.inspector.show_state(chosen.name, chosen.layer)  # the same state of the same layer, once probed
        self.inspector.set_unit(unit)
        self.statusBar().showMessage(f"Unit {unit} of the {chosen.describe()} selected: the Look inside tab shows "
                                     f"it over its probe text", 5000)

    @Slot(int)
    def _on_tab_changed(self, index: int) -> None:
        # Look inside needs room for its text, Gradient flow for its plots: opening them grows a short tab area (the
        # user can drag it back).
        if self.tabs.widget(index) not in (self.inspector, self.gradflow_panel, self.saturation_panel, self.unrolled):
            return
        top, bottom = self.right_splitter.sizes()
        want = min(LOOK_INSIDE_HEIGHT, int(0.65 * (top + bottom)))
        if bottom < want:
            self.right_splitter.setSizes([top + bottom - want, want])

    @Slot(int)
    def _on_inspector_unit(self, unit: int) -> None:
        if self.heatmap.selected_unit != unit and len(self.heatmap.text):
            self.heatmap.select_unit(unit)

    def _probe_params(self) -> dict | None:
        """A consistent copy of the current weights for the inspector (taken between two steps), or None."""
        taken = self.session.weights(wait_open=False)
        if taken is None:
            return None
        self.inspector.set_iteration(taken[0])  # the weights' own count (progress signals may lag)
        return taken[1]

    def _weights_now(self):
        """(iteration, a copy of the weights) for the Gates tab, or None (no model, or its engine still opening)."""
        return self.session.weights(wait_open=False)

    # == corpus ================================================================================

    def open_corpus_path(self, path: str) -> bool:
        """Load a text file off the GUI thread; a refused file shows a message and changes nothing."""
        return self.corpus_actions.open_path(path)

    def open_builtin(self, name: str) -> bool:
        """Load a built-in text off the GUI thread (the newest load supersedes one under way)."""
        return self.corpus_actions.open_builtin(name)

    @Slot(str)
    def _on_load_started(self, label: str) -> None:
        self.corpus_panel.set_busy(f"Loading {label}…")
        self.statusBar().showMessage(f"Loading {label}…")
        self._update_ui()

    @Slot()
    def _on_load_ended(self) -> None:
        self.corpus_panel.set_busy(None)
        if self.statusBar().currentMessage().startswith("Loading"):
            self.statusBar().clearMessage()
        self._update_ui()

    @Slot(object, str)
    def _on_corpus_loaded(self, corpus, spec: str) -> None:
        if not self._confirm_discard(f"Open {corpus.name}?",
                                     f"Training on {corpus.name} needs a new model."):
            self.statusBar().showMessage(f"Kept {self.session.corpus.name}; {corpus.name} was not opened", 8000)
            return
        self.session.use_corpus(corpus, spec)
        self.statusBar().showMessage(f"Opened {corpus.name}: {len(corpus):,} characters, "
                                     f"{len(corpus.vocab)} distinct", 8000)

    @Slot(str, bool)
    def _on_load_failed(self, message: str, for_checkpoint: bool) -> None:
        if for_checkpoint:
            self._warn("Cannot open checkpoint",
                       f"The checkpoint was trained on a text that cannot be opened now: {message}")
        else:
            self._warn("Cannot open this file", message)
        self.statusBar().showMessage(message, 10000)

    @Slot(object, str)
    def _on_corpus_changed(self, corpus, spec: str) -> None:
        notes = self.corpus_actions.corpus_in_use(spec)  # remembered, unless it is the startup or a lesson's text
        cfg = self.settings_panel.config()
        try:
            core.check_fits(corpus, cfg.seq_length, cfg.batch_size, cfg.val_fraction)
        except (core.CorpusError, ValueError) as e:
            notes += (str(e),)
        self.corpus_notes = notes
        self.corpus_panel.show_corpus(corpus, notes)
        self.settings_panel.set_vocab_size(len(corpus.vocab))
        if not self.session.has_model:
            self.loss_panel.clear(cfg.seq_length)
            n_train = core.corpus.train_length(len(corpus.data), cfg.val_fraction)  # as the Trainer will split it
            self.inspector.set_source(self._probe_params, corpus.vocab,
                                      probe_passage(corpus.data, corpus.vocab, n_train))
        self._update_ui()

    # drag and drop -----------------------------------------------------------------------------

    def dragEnterEvent(self, event) -> None:
        self.corpus_actions.drag_enter(event)

    def dragMoveEvent(self, event) -> None:
        self.corpus_actions.drag_enter(event)

    def dropEvent(self, event) -> None:
        self.corpus_actions.drop(event)

    @Slot(str)
    def _on_checkpoint_dropped(self, path: str) -> None:
        self.open_checkpoint(path=path)

    # == training ==============================================================================

    def _create_model(self) -> bool:
        if self.session.corpus is None:
            return False
        try:
            cfg = self.settings_panel.config()
            if not confirm_affordable(self, cfg, len(self.session.corpus.vocab)):  # too big refused, too slow asked
                return False
            self.session.create_model(cfg, self.settings_panel.preset_name)
        except (core.CorpusError, ValueError) as e:
            self._warn("Cannot start training", str(e))
            return False
        except MemoryError:  # the estimate is conservative, but memory can also be taken by others meanwhile
            self._warn("Cannot start training", "There is not enough memory for a model with these settings; "
                                                "choose a smaller hidden size, sequence length or batch size.")
            return False
        return True

    @Slot()
    def _on_model_installed(self) -> None:
        model = self.session.model  # its data, vocab and split: what held_out_ids and the probe text read
        run = self.session.run
        self.loss_panel.set_history(run.curves)
        self.gradflow_panel.set_history(self.session.flows)
        self.saturation_panel.set_passage(held_out_ids(model))
        self.inspector.set_source(self._probe_params, model.vocab, default_probe_text(model))
        self.inspector.set_iteration(model.iteration)
        for record in run.samples:  # a checkpoint's samples
            self.samples_panel.add(record)

    @Slot()
    def _on_model_opened(self) -> None:
        if self.inspector.result is not None:  # the user has probed before: show the new model's reading
            self.inspector.run()

    @Slot()
    def _on_model_discarded(self) -> None:
        self._latest_sample = None
        self.loss_panel.clear(self.settings_panel.config().seq_length)
        self.samples_panel.clear()
        self.heatmap.clear()
        self.gradflow_panel.set_history(self.session.flows)
        self.gradflow_panel.set_diverged(None)
        self.gradflow_panel.set_intro(None)
        self.saturation_panel.clear()

    @Slot(str)
    def _on_state_changed(self, state: str) -> None:
        if state == RUNNING:
            self.gradflow_panel.set_diverged(None)
        self._update_ui()

    def toggle_training(self) -> None:
        """Start, pause or resume (the Start/Pause/Resume action)."""
        if self.session.state == RUNNING:
            self.pause()
        else:
            self.start()

    def start(self) -> None:
        if self.session.corpus is None or self.session.is_loading:
            return
        if not self.session.has_model and not self._create_model():
            return
        self.session.start()

    def pause(self) -> None:
        """Pause and wait until the worker acknowledges (it finishes at most the step it is in)."""
        self.session.pause()

    def step_once(self) -> None:
        """Train one iteration (while paused)."""
        if self.session.state == RUNNING or self.session.corpus is None or self.session.is_loading:
            return
        if not self.session.has_model and not self._create_model():
            return
        self.session.step(1)

    def reset_model(self) -> None:
        """New random weights (asks first if progress would be lost)."""
        if not self.session.has_model:
            return
        if not self._confirm_discard("Reset the model?", "Reset draws new random weights."):
            return
        self.session.discard_model()
        self.statusBar().showMessage("Model reset: Start trains new weights from scratch", 5000)

    def _on_experiment_triggered(self, action) -> None:
        self.start_experiment(action.data())

    def start_experiment(self, name: str) -> bool:
        """One of the lecture's experiments (core.experiments) as a new model: a gradient-flow regime on the text in
        use, trained at once with the Gradient flow tab on screen; a lesson with its own text (hello) at iteration 0
        with the Unrolled tab on screen, to Step through. False if it cannot start."""
        exp = experiment(name)
        if self.session.corpus is None or self.session.is_loading:
            self.statusBar().showMessage("Wait until the text is loaded, then start the experiment", 5000)
            return False
        if not self._confirm_discard(f"Start “{exp.title}”?", "The experiment trains a new model."):
            return False
        if self.session.has_model:
            self.session.discard_model()
        if exp.corpus and self.session.corpus_spec != BUILTIN_PREFIX + exp.corpus:  # e.g. hello: its own text
            self.corpus_actions.use_lesson_text(exp.corpus)
        self.settings_panel.show_config(exp.config, "min-char-rnn")
        try:
            self.session.create_model(exp.config, name)
        except (core.CorpusError, ValueError) as e:
            self._warn("Cannot start the experiment", f"{exp.title}: {e}")
            return False
        if exp.corpus:  # a lesson on its own text: it waits at iteration 0, to be trained one Step at a time
            self.tabs.setCurrentWidget(self.unrolled)
            self.statusBar().showMessage(f"The {exp.name} lesson at iteration 0: Step trains one iteration and the "
                                         f"Unrolled tab shows the new numbers; Start trains on", 20000)
            return True
        self.gradflow_panel.set_intro(f"<b>{exp.title}.</b> {exp.shows}")
        self.tabs.setCurrentWidget(self.gradflow_panel)
        self.session.start()
        self.statusBar().showMessage(f"Experiment: {exp.title} on {self.session.corpus.name}. Pause at any time to look "
                                     f"closer; its settings are in the panel on the left", 10000)
        return True

    def _confirm_discard(self, title: str, why: str) -> bool:
        if not self.session.has_unsaved_progress:
            return True
        n = self.session.iteration
        answer = QMessageBox.question(
            self, title, f"{why}\n\nThe current model's {n:,} iterations of training have not been saved and "
                         f"will be lost.", QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel)
        return answer == QMessageBox.StandardButton.Yes

    @Slot(dict)
    def _on_live_changed(self, settings: dict) -> None:
        self.session.set_live(settings)

    @Slot(float)
    def _on_speed_changed(self, its_per_second: float) -> None:
        self.session.set_speed(its_per_second)
        self.settings.setValue("training/speed", its_per_second)

    # session signals ----------------------------------------------------------------------------

    @Slot(object)
    def _on_progressed(self, progress) -> None:
        self.loss_panel.data_changed()  # the session has added it to the curves the plot shows
        self.inspector.maybe_auto_run(progress.iteration)

    @Slot(object, object)
    def _on_sampled(self, record, states) -> None:
        self.samples_panel.add(record)
        self._latest_sample = (record.text, states, f"the sample at iteration {record.iteration:,}")

    @Slot(str)
    def _on_diverged(self, reason: str) -> None:
        self.refresh_now()
        self.gradflow_panel.set_diverged(reason)
        why = f"{reason[:1].upper()}{reason[1:]}.\n\nTraining is paused."
        point = self.session.restore_point()
        if point is None:
            self._warn("Training diverged", f"{why} Lower the learning rate and press Resume to try again from the "
                                            f"last finite weights, or Reset to start again from new random weights.")
            return
        answer = QMessageBox.question(
            self, "Training diverged",
            f"{why} The learning rate went from {point.learning_rate:g} to {point.new_learning_rate:g} at "
            f"iteration {point.iteration:,}.\n\nYes: go back to the weights of iteration {point.iteration:,} and "
            f"the learning rate {point.learning_rate:g} (the iteration count goes on).\nNo: keep the last finite "
            f"weights; lower the learning rate before you resume, or Reset.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes)
        if answer == QMessageBox.StandardButton.Yes:
            self.restore_before_divergence()

    def restore_before_divergence(self) -> bool:
        """Go back to the weights from before the last learning-rate change (after a divergence)."""
        point = self.session.restore_before_divergence()
        if point is None:
            return False
        self.settings_panel.show_learning_rate(point.learning_rate)
        self.statusBar().showMessage(f"Restored the weights from iteration {point.iteration:,} (learning rate "
                                     f"{point.learning_rate:g}): Resume to go on training", 10000)
        return True

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        line = message[:1].upper() + message[1:]
        self.statusBar().showMessage(line, 30000)
        if self.session.has_model:
            self._warn("Training stopped", f"{line}.\n\nThe model is kept; you can save it, reset, or try again.")
            return
        latest = self.session.recovery
        if latest is None:
            title = "Cannot start training" if message.startswith(OPEN_PREFIX) else "Training stopped"
            self._warn(title, f"{line}.\n\nThe curves and samples stay on screen; Start trains a new model.")
            return
        answer = QMessageBox.question(
            self, "Training stopped", f"{line}.\n\nThe run kept its last checkpoint ({latest}). Open it to go on "
                                      f"training from there?", QMessageBox.StandardButton.Yes |
            QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes)
        if answer == QMessageBox.StandardButton.Yes:
            self.open_checkpoint(path=latest)

    # sample now ---------------------------------------------------------------------------------

    def sample_now(self) -> None:
        """Generate from the current weights and hidden state, without touching training."""
        if not self.session.has_model or self.session.state == RUNNING:
            return
        opts = self.samples_panel.sample_now_options()
        try:
            record, result = self.session.sample_now(opts["length"], opts["prime"], opts["temperature"],
                                                     opts["argmax"])
        except core.UnknownCharactersError as e:
            self.samples_panel.show_error(f"Cannot sample: the prime has {e}. Use only characters of the corpus.")
            return
        except RuntimeError as e:
            self.samples_panel.show_error(f"Cannot sample: {e}.")
            return
        self.samples_panel.show_error("")
        self.samples_panel.add(record)
        self.samples_panel.flush()
        self._latest_sample = None
        how = "argmax" if opts["argmax"] else f"temperature {opts['temperature']:g}"
        self.heatmap.set_sample(result.text, result.states or result.hidden,
                                f"the sample-now text at iteration {record.iteration:,} ({how})")

    # == checkpoints ===========================================================================

    def save_checkpoint(self, checked: bool = False, path: str | None = None) -> bool:
        """Save (to the last checkpoint path, or ask); a consistent snapshot even while training."""
        if not self.session.has_model:
            self.statusBar().showMessage("Nothing to save yet: start training first", 5000)
            return False
        path = path or self.session.checkpoint_path
        if not path:
            return self.save_checkpoint_as()
        return self._write_checkpoint(path)

    def save_checkpoint_as(self) -> bool:
        if not self.session.has_model:
            return False
        suggestion = os.path.join(dialog_dir(self.settings), f"{os.path.splitext(self.session.corpus.name)[0]}-"
                                                             f"{self.session.iteration}.npz")
        path, _ = QFileDialog.getSaveFileName(self, "Save checkpoint", suggestion, CHECKPOINT_FILTER)
        if not path:
            return False
        if not os.path.splitext(path)[1]:
            path += ".npz"
        return self._write_checkpoint(path)

    def _write_checkpoint(self, path: str) -> bool:
        try:
            self.session.save_checkpoint(path, self.settings_panel.preset_name)
        except OSError as e:
            self._warn("Cannot save checkpoint", f"Cannot write {path}: {e.strerror or e}.")
            return False
        return True

    @Slot(str, int)
    def _on_checkpoint_saved(self, path: str, iteration: int) -> None:
        remember_dialog_dir(self.settings, path)
        self.statusBar().showMessage(f"Saved iteration {iteration:,} to {path}", 8000)
        self._update_ui()

    def open_checkpoint(self, checked: bool = False, path: str | None = None) -> None:
        if not path:
            path, _ = QFileDialog.getOpenFileName(self, "Open checkpoint", dialog_dir(self.settings), CHECKPOINT_FILTER)
            if not path:
                return
        try:
            ckpt = self.session.read_checkpoint(path)
        except core.CheckpointError as e:
            self._warn("Cannot open checkpoint", str(e))
            return
        try:
            read_app_meta(ckpt, core.PRESETS)  # all of it checked before anything is replaced
        except MetaError as e:
            self._warn("Cannot open checkpoint", f"{os.path.basename(path)} cannot be opened: {e}.")
            return
        if not self._confirm_discard("Open checkpoint?", "Opening a checkpoint replaces the current model."):
            return
        why = self.session.open_checkpoint(ckpt, path)
        if why is not None:
            self._warn("Cannot open checkpoint", why)

    @Slot(str, object, object)
    def _on_checkpoint_opened(self, path: str, cfg, preset) -> None:
        self.settings_panel.show_config(cfg, preset)
        self.statusBar().showMessage(f"Opened {os.path.basename(path)} at iteration {self.session.iteration:,}", 8000)
        self._update_ui()
        self.refresh_now()
        if self._look_inside_next:
            self._look_inside_next = False
            self.tabs.setCurrentWidget(self.inspector)
            self.inspector.run()

    @Slot(str)
    def _on_checkpoint_failed(self, message: str) -> None:
        self._warn("Cannot open checkpoint", message)

    # == runs ==================================================================================

    def open_runs_folder_dialog(self, checked: bool = False, folder: str | None = None) -> bool:
        """Add a folder whose runs the Runs tab lists (and follows while they are written); remembered."""
        if not folder:
            folder = QFileDialog.getExistingDirectory(self, "Open a runs folder", dialog_dir(self.settings))
            if not folder:
                return False
        folder = os.path.abspath(folder)
        if not os.path.isdir(folder):
            self._warn("Cannot open runs folder", f"{folder} is not a folder.")
            return False
        self.runs.add_folder(folder)
        self.settings.setValue("runs/folders", json.dumps(self.runs.user_folders))
        self.tabs.setCurrentWidget(self.runs_panel)
        self.statusBar().showMessage(f"Listing the runs under {folder}", 5000)
        return True

    def choose_runs_folder(self, checked: bool = False, folder: str | None = None) -> bool:
        """Choose where this app writes its runs (from the next training on)."""
        if not folder:
            folder = QFileDialog.getExistingDirectory(self, "Folder for new runs", self.session.runs_folder or "")
            if not folder:
                return False
        folder = os.path.abspath(folder)
        self.settings.setValue("runs/folder", folder)
        self.session.runs_folder = folder
        self.runs.set_app_folder(folder)
        self.statusBar().showMessage(f"New runs are written under {folder}", 8000)
        return True

    @Slot(str)
    def _on_run_started(self, path: str) -> None:
        m = self.session.model
        self.runs.set_current(path, self.session.run, m.config.to_dict() if m is not None else None,
                              self.session.preset, self.session.corpus.name if self.session.corpus is not None else None)

    @Slot(str, str)
    def _on_run_ended(self, path: str, status: str) -> None:
        self.runs.set_current(None, ended=status)

    @Slot(str)
    def _on_run_warned(self, message: str) -> None:
        self.statusBar().showMessage(message, 15000)

    @Slot()
    def _update_overlays(self) -> None:
        runs = [(row.path, row.history.curves, run_colour(row), f"{row.name}  ({row.settings()})")
                for row in self.runs.checked_rows() if row.history is not None]
        self.loss_panel.set_overlays(runs, self.runs_panel.x_axis)

    @Slot(str, bool)
    def _open_run_checkpoint(self, path: str, look_inside: bool) -> None:
        self._look_inside_next = look_inside
        self.open_checkpoint(path=path)

    # == display ===============================================================================

    @Slot()
    def _on_refresh_timer(self) -> None:
        self._govern_frames()
        self.refresh_now(plot=False)  # the plot has its own, slower timer
        if self._due("runs row", RUNS_ROW_INTERVAL, time.perf_counter()):
            self.runs.update_current()

    def _due(self, view: str, interval: float, now: float) -> bool:
        """Whether a throttled view is due an update (at most every interval seconds while training, always
        otherwise); when it is, its time is taken as now."""
        if self.session.state == RUNNING and now - self._shown_at.get(view, 0.0) < interval:
            return False
        self._shown_at[view] = now
        return True

    def _govern_frames(self) -> None:
        """While training, stretch the loss plot's refresh, the heatmap's redraw, the samples' and the status bar's
        update intervals when the GUI thread takes more CPU than its budget (every bit of it holds the GIL, which
        training needs); back to the base intervals as soon as training stops."""
        fb = self.frame_budget
        if not (fb.tick() if self.session.state == RUNNING else fb.reset()):
            return
        self.loss_panel.set_refresh_interval(fb.interval(LOSS_REFRESH_MS, LOSS_REFRESH_LONGEST_MS))
        self._heatmap_min_interval = fb.interval(HEATMAP_MIN_INTERVAL, HEATMAP_LONGEST_INTERVAL)
        # Unstretched, the samples and the status bar follow every refresh tick (0, not the tick, which may come early).
        refresh = (lambda longest: 0.0 if fb.stretch == 1.0 else fb.interval(REFRESH_MS / 1000, longest))
        self._samples_min_interval = refresh(SAMPLES_LONGEST_INTERVAL)
        self._status_min_interval = refresh(STATUS_LONGEST_INTERVAL)

    def refresh_now(self, plot: bool = True) -> None:
        """Flush samples, the heatmap, the status bar and (unless plot=False) the loss plot."""
        now = time.perf_counter()
        if self._due("samples", self._samples_min_interval, now):
            self.samples_panel.flush()
        if self._latest_sample is not None and self._due("heatmap", self._heatmap_min_interval, now):
            text, states, what = self._latest_sample
            self._latest_sample = None
            self.heatmap.set_sample(text, states, what)
        if plot:
            self.loss_panel.refresh()
        self.gradflow_panel.refresh()
        if self._due("status", self._status_min_interval, now):
            self._update_status()

    def _update_status(self) -> None:
        m = self.session.model
        rate = self.session.rate
        it, epoch = self.session.iteration, self.session.epoch
        self.iteration_label.setText(f"Iteration {it}")
        self.epoch_label.setText(f"Epoch {int(epoch) + 1} · {100.0 * (epoch - int(epoch)):.1f}%")
        if self.session.state == RUNNING and rate > 0:
            chars = rate * m.config.seq_length * m.config.batch_size
            its = f"{rate:.2g}" if rate < 10 else f"{rate:,.0f}"  # a big LSTM may do under one a second
            self.speed_label.setText(f"{its} it/s · {chars:,.0f} chars/s")
        else:
            self.speed_label.setText("— it/s")
        average, held_out, _ = self.loss_panel.latest_bits() if m is not None else (None, None, None)
        if average is None:
            self.loss_label.setText("Loss —")
        else:
            val = "—" if held_out is None else f"{held_out:.3f}"
            self.loss_label.setText(f"Loss {average:.3f} bits/char · held-out {val}")
        self.baselines.update_status(held_out)
        self.elapsed_label.setText(f"Elapsed {duration(self.session.elapsed)}")
        self.setWindowModified(self.session.has_unsaved_progress)

    def _update_ui(self) -> None:
        has_model = self.session.has_model
        running = self.session.state == RUNNING
        loading = self.session.is_loading
        SP = QStyle.StandardPixmap
        a = self.start_pause_action
        if running:
            a.setText("Pause")
            a.setIcon(self.style().standardIcon(SP.SP_MediaPause))
        else:
            a.setText("Resume" if has_model and self.session.iteration > 0 else "Start")
            a.setIcon(self.style().standardIcon(SP.SP_MediaPlay))
        a.setEnabled(self.session.corpus is not None and (running or not loading))
        self.step_action.setEnabled(self.session.corpus is not None and not running and not loading)
        self.reset_action.setEnabled(has_model)
        self.save_checkpoint_action.setEnabled(has_model)
        self.save_as_action.setEnabled(has_model)
        self.sample_now_action.setEnabled(has_model and not running)
        self.settings_panel.set_model_exists(has_model)
        if not has_model:
            why = "Start or step training first: there is no model yet"
        elif running:
            why = "Pause training to sample from the current weights"
        else:
            why = ""
        self.samples_panel.set_sample_now_enabled(has_model and not running, why)
        self.state_label.setText("Loading…" if loading else {IDLE: "Ready", RUNNING: "Training",
                                                             PAUSED: "Paused"}[self.session.state])
        name = self.session.corpus.name if self.session.corpus is not None else "no corpus"
        self.setWindowTitle(f"{name}[*] — charrnn")
        self._update_status()

    def _warn(self, title: str, text: str) -> None:
        QMessageBox.warning(self, title, text)

    # == closing ===============================================================================

    def shutdown(self) -> None:
        """Stop and join the training thread, end the run being written; let go of a corpus load and of the
        runs readers (idempotent, never hangs).

        A load or a runs folder blocked in a read (a stalled network share, a pipe) cannot be interrupted:
        the window does not wait for it. Its thread stays in the worker registry, so it is never destroyed while
        running; its late result is ignored; app.main() deals with it at exit.
        """
        self._refresh_timer.stop()
        self.baselines.shutdown()
        self.session.shutdown()
        self.runs.shutdown()
        self._shut_down = True

    def closeEvent(self, event) -> None:
        if self._shut_down:
            event.accept()
            return
        was_running = self.session.state == RUNNING
        if was_running:
            self.pause()
        if self.session.has_unsaved_progress:
            B = QMessageBox.StandardButton
            answer = QMessageBox.question(
                self, "Save the trained model?",
                f"The model has trained for {self.session.iteration:,} iterations since it was last saved.\n\n"
                f"Save a checkpoint before closing?", B.Save | B.Discard | B.Cancel, B.Save)
            if answer == B.Save:
                if not self.save_checkpoint():
                    answer = B.Cancel
            if answer not in (B.Save, B.Discard):
                event.ignore()
                if was_running:
                    self.start()
                return
        self.window_settings.save()
        self.shutdown()
        event.accept()
