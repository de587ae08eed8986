"""Training settings: presets, the model's shape (locked while a model exists) and the live settings."""

from __future__ import annotations

import math
import re

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QLabel, QSpinBox, QVBoxLayout,
                               QWidget)

import core
from core.config import CELLS, MAX_LAYERS, preset_label
from core.gradflow import APP_EVERY
from core.model import Arch, param_shapes

PRESET_DESCRIPTIONS = {
    "min-char-rnn": "min-char-rnn (the lesson)",
    "fast": "fast (batched, Adam)",
    "gru": "gru (gated, Adam)",
    "lstm": "lstm (gated, Adam)",
    "gru-long": "gru-long (5 minutes or more)",
}
PRESET_TIPS = {
    "min-char-rnn": "Exactly Karpathy's min-char-rnn: 100 hidden units, 25 characters per window, Adagrad 0.1, float64",
    "fast": "192 hidden units, 32 parallel streams of 32 characters, Adam 3e-3, float32: prose sooner on a small CPU",
    "gru": "A GRU of {hidden_size} units, {batch_size} streams of {seq_length} characters, Adam {learning_rate:g}, "
           "float32: lower loss than the tanh cell in a minute (the command line's cosine decay needs a time budget; here the "
           "rate stays as set)",
    "lstm": "An LSTM of {hidden_size} units, {batch_size} streams of {seq_length} characters, Adam {learning_rate:g}, "
            "float32: see its cell state and gates (the command line's cosine decay needs a time budget; here the rate "
            "stays as set)",
    "gru-long": "A GRU of {hidden_size} units, {batch_size} streams of {seq_length} characters, Adam {learning_rate:g}, "
                "float32: slower at first, the lowest loss after five minutes (the command line's cosine decay needs a "
                "time budget; here the rate stays as set)",
}
CELL_NAMES = {"rnn": "RNN (tanh, the lesson's)", "lstm": "LSTM", "gru": "GRU"}
CELL_TIPS = {  # one line: what each cell is
    "rnn": "RNN: one tanh layer, h = tanh(Wxh x + Whh h + b); multiplying by Whh at every step makes it forget fast",
    "lstm": "LSTM: a cell state that is added to, not multiplied, so it can carry information across many steps",
    "gru": "GRU: an update gate blends the old hidden state with a new candidate, so it can keep h for many steps",
}
OPTIMIZER_NAMES = {"adagrad": "Adagrad (the lesson's)", "rmsprop": "RMSprop", "adam": "Adam", "sgd": "SGD (plain)"}
SPEEDS = {0.0: "Unlimited", 100.0: "100 iterations/s", 10.0: "10 iterations/s", 1.0: "1 iteration/s"}  # 0: no limit
DTYPE_NAMES = {"float64": "float64 (exact lesson)", "float32": "float32 (faster)"}
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


class SciSpinBox(QDoubleSpinBox):
    """A spin box for values spanning decades (learning rates): shows 0.003 or 1e-05, steps ×2 / ÷2."""

    def __init__(self, minimum: float, maximum: float, parent=None):
        super().__init__(parent)
        self.setDecimals(12)
        self.setRange(minimum, maximum)
        self.setKeyboardTracking(False)

    def textFromValue(self, value: float) -> str:
        return f"{value:.6g}"

    def valueFromText(self, text: str) -> float:
        try:
            return float(text.strip())
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int):
        t = text.strip()
        if _NUMBER.match(t):
            v = float(t)
            state = QValidator.State.Acceptable if self.minimum() <= v <= self.maximum() else QValidator.State.Intermediate
            return state, text, pos
        if re.match(r"^[+-]?\d*\.?\d*([eE][+-]?\d*)?$", t):
            return QValidator.State.Intermediate, text, pos
        return QValidator.State.Invalid, text, pos

    def stepBy(self, steps: int) -> None:
        v = self.value() * (2.0 ** steps)
        self.setValue(min(self.maximum(), max(self.minimum(), v)))


def _spin(minimum: int, maximum: int, name: str, tip: str = "") -> QSpinBox:
    s = QSpinBox(objectName=name)
    s.setRange(minimum, maximum)
    s.setKeyboardTracking(False)
    s.setToolTip(tip)
    s.setGroupSeparatorShown(True)
    return s


def app_preset(name: str) -> core.TrainConfig:
    """A preset as the app starts it: with gradient flow measured every APP_EVERY iterations (the CLI's is off)."""
    return core.PRESETS[name].replace(grad_flow_every=APP_EVERY)


class SettingsPanel(QWidget):
    """Preset chooser and hyperparameters; emits liveChanged(dict) for settings that apply while training."""

    liveChanged = Signal(dict)
    presetApplied = Signal(str)
    speedChanged = Signal(float)  # iterations per second at most; 0: unlimited

    STRUCTURAL = ("cell", "num_layers", "dropout", "hidden_size", "seq_length", "batch_size", "optimizer", "clip",
                  "seed", "dtype")

    def __init__(self, parent=None):
        super().__init__(parent)
        self._preset = "min-char-rnn"
        self._base = app_preset(self._preset)
        self._vocab_size = 0
        self._model_exists = False
        self._loading = False

        self.preset_combo = QComboBox(objectName="presetCombo")
        for name in core.PRESETS:
            self.preset_combo.addItem(PRESET_DESCRIPTIONS.get(name, name), name)
            tip = PRESET_TIPS.get(name, "").format(**core.PRESETS[name].to_dict())  # sizes from the preset itself
            self.preset_combo.setItemData(self.preset_combo.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.preset_combo.setToolTip("One click sets every hyperparameter to a tested recipe")
        self.preset_combo.setPlaceholderText("custom (no preset)")  # a model opened from a checkpoint of its own

        self.cell_combo = QComboBox(objectName="cell")
        for key in CELLS:
            self.cell_combo.addItem(CELL_NAMES.get(key, key), key)
            self.cell_combo.setItemData(self.cell_combo.count() - 1, CELL_TIPS.get(key, ""),
                                        Qt.ItemDataRole.ToolTipRole)
        self.layers_spin = _spin(1, MAX_LAYERS, "numLayers",
                                 "Stacked recurrent layers: each reads the hidden states of the one below")
        self.dropout_spin = QDoubleSpinBox(objectName="dropout")
        self.dropout_spin.setRange(0.0, 0.9)
        self.dropout_spin.setSingleStep(0.05)
        self.dropout_spin.setDecimals(2)
        self.dropout_spin.setKeyboardTracking(False)
        self.dropout_spin.setSpecialValueText("off")
        self.hidden_spin = _spin(1, 4096, "hiddenSize", "H: units in each hidden layer")
        self.seq_spin = _spin(1, 1000, "seqLength", "T: characters per window (truncated backpropagation through time)")
        self.batch_spin = _spin(1, 1024, "batchSize", "B: parallel streams over the corpus (1 in the lesson)")
        self.optimizer_combo = QComboBox(objectName="optimizer")
        for key, label in OPTIMIZER_NAMES.items():
            self.optimizer_combo.addItem(label, key)
        self.lr_spin = SciSpinBox(1e-6, 1e4)
        self.lr_spin.setObjectName("learningRate")
        self.lr_spin.setToolTip("Step size of the optimiser; applies immediately, even while training")
        self.clip_spin = QDoubleSpinBox(objectName="clip")
        self.clip_spin.setRange(0.0, 1000.0)
        self.clip_spin.setDecimals(2)
        self.clip_spin.setKeyboardTracking(False)
        self.clip_spin.setSpecialValueText("off")
        self.clip_spin.setToolTip("Each gradient element is clipped to [-clip, clip]; 0 turns clipping off")
        self.seed_spin = _spin(0, 2**31 - 1, "seed", "Seeds the initial weights (same seed, same run)")
        self.seed_spin.setGroupSeparatorShown(False)
        self.dtype_combo = QComboBox(objectName="dtype")
        for key, label in DTYPE_NAMES.items():
            self.dtype_combo.addItem(label, key)

        self.temperature_spin = QDoubleSpinBox(objectName="temperature")
        self.temperature_spin.setRange(0.05, 5.0)
        self.temperature_spin.setSingleStep(0.05)
        self.temperature_spin.setKeyboardTracking(False)
        self.temperature_spin.setToolTip("Sampling temperature of the samples drawn while training")
        self.sample_length_spin = _spin(1, 5000, "sampleLength", "Characters per training sample")
        self.sample_every_spin = _spin(0, 1_000_000, "sampleEvery", "Iterations between samples (0: no samples)")
        self.sample_every_spin.setSpecialValueText("never")
        self.grad_flow_spin = _spin(0, 1_000_000, "gradFlowEvery",
                                    "Iterations between two measurements of how far back the gradient reaches "
                                    "(the Gradient flow tab); each costs about one to two iterations. 0: off")
        self.grad_flow_spin.setSpecialValueText("off")
        self.speed_combo = QComboBox(objectName="speedCombo")
        for value, label in SPEEDS.items():
            self.speed_combo.addItem(label, value)
        self.speed_combo.setToolTip("Slow training down to reading pace, to show the samples go from gibberish to "
                                    "words (Unlimited: as fast as this computer goes)")

        self.lock_note = QLabel("", objectName="settingsLockNote")
        self.lock_note.setWordWrap(True)
        self.lock_note.setStyleSheet("color: #7a5a00;")
        self.params_label = QLabel("", objectName="paramCount")
        self.params_label.setWordWrap(True)
        self.params_label.setStyleSheet("color: #555;")

        model_box = QGroupBox("Model")
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Preset", self.preset_combo)
        form.addRow("Cell", self.cell_combo)
        form.addRow("Layers", self.layers_spin)
        form.addRow("Dropout", self.dropout_spin)
        form.addRow("Hidden size", self.hidden_spin)
        form.addRow("Sequence length", self.seq_spin)
        form.addRow("Batch size", self.batch_spin)
        form.addRow("Optimiser", self.optimizer_combo)
        form.addRow("Gradient clip", self.clip_spin)
        form.addRow("Seed", self.seed_spin)
        form.addRow("Precision", self.dtype_combo)
        model_layout = QVBoxLayout(model_box)  # the wrapped notes below the form: a box gives them their full height
        model_layout.addLayout(form)
        model_layout.addWidget(self.params_label)
        model_layout.addWidget(self.lock_note)

        live_box = QGroupBox("Live (apply while training)")
        live = QFormLayout(live_box)
        live.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        live.addRow("Learning rate", self.lr_spin)
        live.addRow("Temperature", self.temperature_spin)
        live.addRow("Sample length", self.sample_length_spin)
        live.addRow("Sample every", self.sample_every_spin)
        live.addRow("Gradient flow every", self.grad_flow_spin)
        live.addRow("Speed", self.speed_combo)

        for combo in (self.preset_combo, self.cell_combo, self.optimizer_combo, self.dtype_combo):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)  # every entry readable
        for w in (self.lock_note, self.params_label):
            w.setMinimumWidth(1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(model_box)
        layout.addWidget(live_box)

        self.show_config(self._base, self._preset)
        self.preset_combo.activated.connect(self._on_preset_activated)
        self.lr_spin.valueChanged.connect(lambda v: self._emit_live("learning_rate", v))
        self.temperature_spin.valueChanged.connect(lambda v: self._emit_live("temperature", v))
        self.sample_length_spin.valueChanged.connect(lambda v: self._emit_live("sample_length", v))
        self.sample_every_spin.valueChanged.connect(lambda v: self._emit_live("sample_every", v))
        self.grad_flow_spin.valueChanged.connect(lambda v: self._emit_live("grad_flow_every", v))
        self.hidden_spin.valueChanged.connect(self._update_params_label)
        self.speed_combo.currentIndexChanged.connect(self._on_speed_index)
        self.cell_combo.currentIndexChanged.connect(self._on_shape_changed)
        self.layers_spin.valueChanged.connect(self._on_shape_changed)
        self.set_model_exists(False)

    # -- values --------------------------------------------------------------------------------

    @property
    def preset_name(self) -> str | None:
        """The preset shown, or None for a model of no preset's shape."""
        return self._preset

    def config(self) -> core.TrainConfig:
        """The configuration the widgets show (validated; raises ValueError with a one-line reason)."""
        layers, cell = self.layers_spin.value(), self.cell_combo.currentData()
        # An experiment's W_hh init (orthogonal x 1.5) is the tanh cell's: a gated cell chosen after it starts as usual.
        base = self._base if cell == "rnn" else self._base.replace(whh_init="randn", whh_gain=1.0)
        return base.replace(
            cell=cell, num_layers=layers,
            dropout=self.dropout_spin.value() if layers > 1 else 0.0,  # dropout acts between layers
            hidden_size=self.hidden_spin.value(), seq_length=self.seq_spin.value(), batch_size=self.batch_spin.value(),
            optimizer=self.optimizer_combo.currentData(), learning_rate=self.lr_spin.value(),
            clip=self.clip_spin.value(), seed=self.seed_spin.value(), dtype=self.dtype_combo.currentData(),
            temperature=self.temperature_spin.value(), sample_length=self.sample_length_spin.value(),
            sample_every=self.sample_every_spin.value(), grad_flow_every=self.grad_flow_spin.value(),
        ).validate()

    def live_settings(self) -> dict:
        return {"learning_rate": self.lr_spin.value(), "temperature": self.temperature_spin.value(),
                "sample_length": self.sample_length_spin.value(), "sample_every": self.sample_every_spin.value(),
                "grad_flow_every": self.grad_flow_spin.value()}

    def show_config(self, cfg: core.TrainConfig, preset: str | None = None) -> None:
        """Show cfg in the widgets without emitting live changes."""
        self._loading = True
        try:
            if preset is None:  # e.g. a checkpoint from charrnn-train: the preset whose model it has, if any
                preset = preset_label(cfg) or ""
            if preset in core.PRESETS:
                self._preset = preset
                self.preset_combo.setCurrentIndex(self.preset_combo.findData(preset))
            elif not preset:
                self._preset = None
                self.preset_combo.setCurrentIndex(-1)  # the placeholder: no preset's model
            self._base = cfg
            self.cell_combo.setCurrentIndex(max(0, self.cell_combo.findData(cfg.cell)))
            self.layers_spin.setValue(cfg.num_layers)
            self.dropout_spin.setValue(cfg.dropout)
            self.hidden_spin.setValue(cfg.hidden_size)
            self.seq_spin.setValue(cfg.seq_length)
            self.batch_spin.setValue(cfg.batch_size)
            self.optimizer_combo.setCurrentIndex(max(0, self.optimizer_combo.findData(cfg.optimizer)))
            self.lr_spin.setValue(cfg.learning_rate)
            self.clip_spin.setValue(cfg.clip)
            self.seed_spin.setValue(cfg.seed)
            self.dtype_combo.setCurrentIndex(max(0, self.dtype_combo.findData(cfg.dtype)))
            self.temperature_spin.setValue(cfg.temperature)
            self.sample_length_spin.setValue(cfg.sample_length)
            self.sample_every_spin.setValue(cfg.sample_every)
            self.grad_flow_spin.setValue(cfg.grad_flow_every)
        finally:
            self._loading = False
        self._update_params_label()

    def apply_preset(self, name: str) -> None:
        if name not in core.PRESETS:
            return
        self.show_config(app_preset(name), name)
        self.presetApplied.emit(name)

    def _on_preset_activated(self, index: int) -> None:
        self.apply_preset(self.preset_combo.itemData(index))

    def speed(self) -> float:
        """The chosen training speed limit in iterations per second; 0: unlimited."""
        return float(self.speed_combo.currentData())

    def set_speed(self, its_per_second: float) -> None:
        """Choose a speed limit (one of SPEEDS; anything else means unlimited); emits speedChanged."""
        index = self.speed_combo.findData(float(its_per_second) if its_per_second in SPEEDS else 0.0)
        self.speed_combo.setCurrentIndex(max(0, index))

    def _on_speed_index(self, _index: int) -> None:
        self.speedChanged.emit(self.speed())

    def show_learning_rate(self, rate: float) -> None:
        """Show a learning rate the model already uses (e.g. after a restore) without sending it back."""
        self._loading = True
        try:
            self.lr_spin.setValue(rate)
        finally:
            self._loading = False

    def _emit_live(self, key: str, value) -> None:
        if not self._loading:
            self.liveChanged.emit({key: value})

    # -- model state ---------------------------------------------------------------------------

    def set_vocab_size(self, v: int) -> None:
        self._vocab_size = int(v)
        self._update_params_label()

    def set_model_exists(self, exists: bool) -> None:
        """Lock the settings that need new weights while a model exists."""
        self._model_exists = exists
        for w in (self.preset_combo, self.cell_combo, self.layers_spin, self.hidden_spin, self.seq_spin,
                  self.batch_spin, self.optimizer_combo, self.clip_spin, self.seed_spin, self.dtype_combo):
            w.setEnabled(not exists)
        self._on_shape_changed()
        self.lock_note.setText("Locked while a model exists: they need new weights. Reset to change them."
                               if exists else "")
        self.lock_note.setVisible(exists)

    def _on_shape_changed(self, *_):
        """The cell's tip on its combo, dropout only where there are layers for it to act between."""
        self.cell_combo.setToolTip(CELL_TIPS.get(self.cell_combo.currentData(), ""))
        layered = self.layers_spin.value() > 1
        self.dropout_spin.setEnabled(layered and not self._model_exists)
        self.dropout_spin.setToolTip(
            "Fraction of each layer's outputs zeroed (at random, while training only) before the next layer reads "
            "them" if layered else "Dropout acts between layers: choose 2 or more layers to use it")
        self._update_params_label()

    def _update_params_label(self, *_):
        H, V = self.hidden_spin.value(), self._vocab_size
        if not V:
            self.params_label.setText("")
            return
        arch = Arch(self.cell_combo.currentData(), self.layers_spin.value(), H, V)
        n = sum(math.prod(shape) for shape in param_shapes(arch).values())
        self.params_label.setText(f"{n:,} weights for a vocabulary of {V} characters")
