"""The live training session: the corpus in use, the engine that trains the model, the state machine, checkpoints.

A Session has no widgets and shows no dialogs. The window asks it to do things (load, start, pause, save, open)
and listens to its past-tense signals. The model itself lives in an engine process of its own (core.engine in
core.engine_process, driven through charrnn_gui.engine_client): the session sends it commands and turns what it
produces into the window's data, and never holds a trainer. The picture is panels <- window -> session -> client
-> engine process -> core.

States (`state`): "idle" (no model), "paused" (a model, its engine waiting), "running". A divergence pauses the
engine: the state becomes "paused" and `diverged_reason` says why until training resumes or the weights are
restored. An engine that dies (killed, out of memory) leaves the window as it was drawn, with no model: `failed`
says why, and `recovery` names the run's last checkpoint to go on from.

Every training is written as a run (core.runs) under `runs_folder` by the engine's own RunRecorder, the CLI's:
from the first Start or Step of a model until it is discarded (Reset, another text or checkpoint, closing). A model
opened from a run's checkpoint continues that run. The session keeps the run's checkpoints reopenable in the app:
every RUN_META_SECONDS it hands the engine its curves and samples to save with them.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, Signal, Slot

import core
from core.builtins import BUILTINS, load_builtin
from core.engine import Live, Pause, Restore, SampleNow, SaveCheckpoint, Speed
from core.runs import RunError, read_info, run_of_checkpoint
from core.runs.layout import LATEST, checkpoint_path

from .checkpoint_meta import MetaError, read_app_meta
from .engine_client import EngineClient
from .flow_history import FlowHistory
from .history import LossHistory, Progress, RunHistory, SampleRecord
from .threads import CorpusLoader

BUILTIN_PREFIX = "builtin:"
SAMPLES_IN_CHECKPOINT = 200  # newest samples saved with a checkpoint
RUN_META_SECONDS = 5.0  # how stale the curves and samples saved with the run's checkpoints may be
LOG_EVERY = 10  # the run's metrics.jsonl gets a line every this many iterations (and at every evaluation and
# gradient-flow measurement): charrnn-train's policy with a denser default, so a lesson's short run has curves
SAVE_SECONDS = 60.0  # a checkpoint save or a sample may take this long (a big model) before it is given up
IDLE, PAUSED, RUNNING = "idle", "paused", "running"
def checkpoint_extras(history: LossHistory, elapsed: float, meta: dict) -> dict:
    """The arrays the app saves with a checkpoint: its curves and its metadata (as UTF-8 JSON bytes)."""
    extras = history.to_extras()
    extras["gui"] = np.frombuffer(json.dumps({**meta, "elapsed": elapsed}).encode("utf-8"), dtype=np.uint8)
    return extras


def run_corpus_spec(run: str | None) -> str | None:
    """How to reopen a run's text: the app's spec, else the file the run names, else None."""
    if run is None:
        return None
    try:
        info = read_info(run)
    except RunError:
        return None
    spec = info.get("app_corpus")
    if isinstance(spec, str):
        return spec
    corpus = info.get("corpus") if isinstance(info.get("corpus"), dict) else {}
    path = corpus.get("path")
    return path if isinstance(path, str) else None


def corpus_loader(spec: str):
    """(load, label) for a corpus spec ("builtin:NAME" or a file path), or None if it cannot be loaded now."""
    if spec.startswith(BUILTIN_PREFIX) and spec[len(BUILTIN_PREFIX):] in BUILTINS:
        name = spec[len(BUILTIN_PREFIX):]
        return (lambda: load_builtin(name)), f"built-in {name}"
    if not spec.startswith(BUILTIN_PREFIX) and os.path.isfile(spec):
        return (lambda: core.load_corpus(spec)), os.path.basename(spec)
    return None


@dataclass
class Model:
    """What the window knows of the model its engine trains: what it was made from, and how far it got."""

    config: core.TrainConfig  # its settings, with the live ones in force when it was opened
    preset: str | None  # the preset it was made from, if any
    data: np.ndarray  # (N,) the encoded corpus (the window's copy)
    vocab: object  # core.Vocab
    n_train: int  # the first n_train characters are trained on; the rest is held out
    iteration: int = 0  # completed iterations, as the window has seen them
    epoch: float = 0.0  # passes over the training text then


def model_of(corpus, cfg: core.TrainConfig, preset: str | None, iteration: int = 0, chars_seen: int = 0) -> Model:
    """The Model a config makes of a corpus (the split as the Trainer makes it)."""
    n_train = core.corpus.train_length(len(corpus.data), cfg.val_fraction)
    return Model(cfg, preset, corpus.data, corpus.vocab, n_train, iteration, chars_seen / max(1, n_train))


def progress_of(rows, its_per_sec: float, elapsed: float) -> Progress:
    """The window's Progress for a batch of the engine's Rows."""
    return Progress(rows.iteration, rows.loss_per_char, rows.smooth_loss, rows.val_iteration, rows.val_bpc,
                    int(rows.iteration[-1]), float(rows.epoch[-1]), int(rows.chars_seen[-1]),
                    float(rows.learning_rate[-1]), its_per_sec, elapsed)


class Session(QObject):
    """The live session: owns the corpus in use, the engine client of its model, the state and checkpoint I/O."""

    stateChanged = Signal(str)  # the state now (emitted on every transition and when a step ends)
    loadStarted = Signal(str)  # what is being loaded, e.g. "small.txt"
    loadEnded = Signal()  # the load is over (loaded or failed); is_loading is False again
    corpusLoaded = Signal(object, str)  # a text was loaded (not yet in use): the window calls use_corpus() or not
    loadFailed = Signal(str, bool)  # why, and whether it was the text a checkpoint needs
    corpusChanged = Signal(object, str)  # the corpus now in use and its spec
    modelInstalled = Signal()  # a new or restored model; `run` holds its curves and samples
    modelDiscarded = Signal()  # no model any more (reset, a new text, before a restore)
    modelOpened = Signal()  # the model's engine has opened: its weights can be read (peek, weights)
    progressed = Signal(object)  # a batch of progress (Progress), already added to `run`
    sampled = Signal(object, object)  # (SampleRecord, states: per layer {name: (T, H)}) of a training sample, in `run`
    gradFlowed = Signal(object)  # a batch of gradient-flow measurements (list of GradFlow), already in `flows`
    diverged = Signal(str)  # why; training is paused and the last finite weights are kept
    failed = Signal(str)  # training stopped on an error (one line); `has_model` says whether the model is kept
    checkpointSaved = Signal(str, int)  # path, iteration
    checkpointOpened = Signal(str, object, object)  # path, the config in use, the preset name (or None)
    checkpointFailed = Signal(str)  # a checkpoint that cannot be restored: why
    runStarted = Signal(str)  # the folder of the run now being written
    runEnded = Signal(str, str)  # its folder and the status it ended with (finished, diverged, interrupted)
    runWarned = Signal(str)  # the run could not be written (or part of it): why; training goes on

    def __init__(self, parent=None):
        super().__init__(parent)
        self.corpus = None
        self.corpus_spec: str | None = None  # "builtin:NAME" or a file path
        self.client: EngineClient | None = None  # the engine of the model, while there is one
        self.model: Model | None = None
        self.state = IDLE
        self.run = RunHistory()  # the model's curves and samples, as the window has them
        self.flows = FlowHistory()  # the model's gradient-flow measurements since it was made or opened
        self.saved_iteration: int | None = None
        self.checkpoint_path: str | None = None
        self._elapsed = 0.0  # training seconds of this model when its engine last said
        self.last_progress: Progress | None = None
        self.rate = 0.0  # iterations per second, smoothed
        self.diverged_reason: str | None = None
        self.recovery: str | None = None  # after the engine died: the run's last checkpoint, if there is one
        self._loader: CorpusLoader | None = None
        self._load_spec: str | None = None
        self._after_load = None  # (ckpt, path): a checkpoint to restore once its corpus is loaded
        self._old_loaders: list[CorpusLoader] = []
        self.runs_folder: str | None = None  # where new runs are written; None: none are
        self.run_path: str | None = None  # the folder of the run being written, once it exists
        self._opening: str | None = None  # the checkpoint path being opened, until the engine says it opened
        self._saved: tuple[str, int] | None = None  # the last checkpoint the engine said it wrote: (path, iteration)
        self._meta_at = -RUN_META_SECONDS
        self.speed = 0.0  # iterations a second at most (0: unlimited)
        self.baselines: dict | None = None  # {"1-gram": held-out bits/char, ...} for run.json (charrnn_gui/baselines.py)

    # == state ==================================================================================

    def _set_state(self, state: str) -> None:
        self.state = state
        self.stateChanged.emit(state)

    @property
    def has_model(self) -> bool:
        return self.model is not None

    @property
    def preset(self) -> str | None:
        """The preset the model was made from, if any."""
        return self.model.preset if self.model is not None else None

    @property
    def iteration(self) -> int:
        """Completed iterations of the model, as far as the window has been told (0 without a model)."""
        return self.model.iteration if self.model is not None else 0

    @property
    def epoch(self) -> float:
        return self.model.epoch if self.model is not None else 0.0

    @property
    def elapsed(self) -> float:
        """Seconds of training of this model (a checkpoint's earlier ones included)."""
        if self.client is not None and self.client.info is not None:
            self._elapsed = max(self._elapsed, self.client.elapsed)
        return self._elapsed

    @property
    def has_unsaved_progress(self) -> bool:
        return self.model is not None and self.iteration > 0 and self.iteration != self.saved_iteration

    # == corpus =================================================================================

    @property
    def is_loading(self) -> bool:
        return self._loader is not None

    @property
    def loading_label(self) -> str:
        return self._loader.label if self._loader is not None else ""

    def load(self, spec: str, load, label: str, after=None) -> bool:
        """Run load() off the GUI thread; a load under way is superseded (its result will be ignored). True."""
        self._drop_load()
        loader = CorpusLoader(load, label)
        loader.loaded.connect(self._on_loader_loaded)
        loader.failed.connect(self._on_loader_failed)
        loader.finished.connect(self._on_loader_finished)
        self._loader, self._load_spec, self._after_load = loader, spec, after
        self.loadStarted.emit(label)
        loader.start()
        return True

    def set_corpus(self, corpus, spec: str) -> None:
        """Use corpus (the model, if any, is kept: the caller discards it first when it must)."""
        self.corpus = corpus
        self.corpus_spec = spec
        self.corpusChanged.emit(corpus, spec)

    def use_corpus(self, corpus, spec: str) -> None:
        """Train on a new text: the model goes, the text is in use."""
        self.discard_model()
        self.set_corpus(corpus, spec)

    @Slot(object)
    def _on_loader_loaded(self, corpus) -> None:
        if self.sender() is not self._loader:
            return
        spec, after = self._load_spec, self._after_load
        if after is not None:
            self._restore(after[0], after[1], corpus, spec)
            return
        self.corpusLoaded.emit(corpus, spec)

    @Slot(str)
    def _on_loader_failed(self, message: str) -> None:
        if self.sender() is not self._loader:
            return
        for_checkpoint = self._after_load is not None
        self._finish_loading()
        self.loadFailed.emit(message, for_checkpoint)

    @Slot()
    def _on_loader_finished(self) -> None:
        if self.sender() is self._loader:
            self._finish_loading()

    def _drop_load(self, ended: bool = False) -> None:
        """Forget the load under way, if any: the user's newer action supersedes it. Its thread ends on its own
        (a read cannot be interrupted) and stays registered until then; its late results are ignored (sender
        checks). ended: nothing follows it, so the load is announced as over."""
        loader, self._loader = self._loader, None
        if loader is None:
            return
        self._after_load = self._load_spec = None
        self._old_loaders = [old for old in self._old_loaders if not old.join(0)]
        if not loader.join(0):
            self._old_loaders.append(loader)
        if ended:
            self.loadEnded.emit()

    def _finish_loading(self) -> None:
        loader = self._loader
        if loader is None:
            return
        loader.join(5.0)
        self._loader = None
        self._after_load = None
        self.loadEnded.emit()

    # == the model ==============================================================================

    def create_model(self, cfg: core.TrainConfig, preset: str | None = None) -> None:
        """New random weights for the corpus in use, in a new engine (raises CorpusError or ValueError with a
        one-line reason; a failure of the engine itself comes later, through `failed`)."""
        cfg = cfg.validate()
        core.check_fits(self.corpus, cfg.seq_length, cfg.batch_size, cfg.val_fraction)
        self.discard_model()
        self._install(model_of(self.corpus, cfg, preset), RunHistory(cfg.seq_length, batch_size=cfg.batch_size), 0.0,
                      {"config": cfg.to_dict()})
        self.saved_iteration = None
        self.checkpoint_path = None

    def _open_spec(self, extra: dict) -> dict:
        """The engine's open message for the corpus in use (core.engine_process.open_engine)."""
        spec = {"corpus": self.corpus_spec, "app_corpus": self.corpus_spec, "runs_folder": self.runs_folder,
                "no_run": self.runs_folder is None, "run_on_start": True, "baseline_chars": 0,
                "log_every": LOG_EVERY, "command": "app", "preset": self.model.preset, **extra}
        if corpus_loader(self.corpus_spec or "") is None:  # a text the engine cannot read itself: it gets it
            spec["text"] = self.corpus.text()
            spec["name"] = self.corpus.name
        return spec

    def _install(self, model: Model, run: RunHistory, elapsed: float, open_spec: dict) -> None:
        """Make `model` the model (the old one is discarded first): its engine is started with open_spec."""
        self.model = model
        self._elapsed = elapsed
        self.last_progress = None
        self.rate = 0.0
        self.diverged_reason = None
        self.recovery = None
        self.run = run
        self.flows = FlowHistory()
        run.curves.elapsed_mark = elapsed
        client = EngineClient(self)
        for signal, slot in ((client.opened, self._on_opened), (client.progressed, self._on_progressed),
                             (client.sampled, self._on_sampled), (client.flowed, self._on_flowed),
                             (client.paused, self._on_paused), (client.done, self._on_paused),
                             (client.diverged, self._on_diverged), (client.failed, self._on_failed),
                             (client.checkpointed, self._on_checkpointed), (client.run_opened, self._on_run_opened),
                             (client.warned, self.runWarned)):
            signal.connect(slot)
        self.client = client
        try:
            client.open(self._open_spec(open_spec))
        except OSError as e:  # no process could be started (say, out of process slots or memory)
            self.client = None
            client.deleteLater()
            self.model = None
            self._set_state(IDLE)
            self.failed.emit(f"cannot start training: cannot start the training process ({e.strerror or e})")
            return
        if self.speed:
            client.submit(Speed(self.speed))
        if self.baselines:
            client.set_baselines(self.baselines)
        self.state = PAUSED
        self.modelInstalled.emit()
        self._set_state(PAUSED)

    def discard_model(self) -> None:
        """No model: its engine ends its run (latest.npz, finished or diverged) and goes; the views are cleared."""
        self._close_engine("finished")
        self.model = None
        self.saved_iteration = None
        self.checkpoint_path = None
        self._elapsed = 0.0
        self.last_progress = None
        self.rate = 0.0
        self.diverged_reason = None
        self.recovery = None
        self.run = RunHistory()
        self.flows = FlowHistory()
        self.state = IDLE
        self.modelDiscarded.emit()
        self._set_state(IDLE)

    def _close_engine(self, outcome: str) -> None:
        """End the engine (at most ~2 s): the run gets the newest curves and samples, then closes as outcome (a
        divergence not trained past stays diverged); runEnded says how."""
        client = self.client
        if client is None:
            return
        if self.run_path is not None and client.running:
            self._send_meta()
        # What it still had is delivered first (say, a Reset right after a Pause), for the record only: a
        # divergence or a fault it sent just before is not reported as the model goes.
        client.diverged.disconnect(self._on_diverged)
        client.failed.disconnect(self._on_failed)
        client.close(outcome)
        self.client = None
        self._elapsed = max(self._elapsed, client.elapsed)
        client.deleteLater()
        path, self.run_path = self.run_path, None
        if path:
            self.runEnded.emit(path, client.outcome or outcome)

    # == training ===============================================================================

    def start(self) -> None:
        """Train the model on (there must be one: create_model first)."""
        if self.client is None:
            return
        self.client.start()
        self.diverged_reason = None
        self._set_state(RUNNING)

    def pause(self) -> None:
        """Pause, waiting at most 2 s for the engine to say so (it finishes the step it is in); what it trained
        until then is delivered before this returns."""
        if self.client is not None:
            if self.client.info is None:  # still opening: the pause follows the start there
                self.client.submit(Pause())
            else:
                self.client.pause()
            self.client.flush()
        self._set_state(PAUSED if self.model is not None else IDLE)

    def step(self, n: int = 1) -> None:
        """Train n iterations, then pause (the model must exist)."""
        if self.client is None:
            return
        self.client.step(n)
        self.diverged_reason = None

    def restore_point(self):
        """Where restore_before_divergence would go back to (a core.engine.RestoreInfo), or None."""
        if self.client is None:
            return None
        answer = self.client.status()
        return answer.value.restore_point if answer.ok else None

    def restore_before_divergence(self):
        """Go back to the weights from before the last learning-rate change; the RestoreInfo, or None."""
        if self.client is None:
            return None
        answer = self.client.call(Restore())
        if not answer.ok:
            return None
        self.diverged_reason = None
        self._set_state(self.state)
        return answer.value

    def set_speed(self, its_per_second: float) -> None:
        """Train at most this many iterations a second (0: as fast as it goes), from now on."""
        self.speed = max(0.0, float(its_per_second or 0.0))
        if self.client is not None:
            self.client.submit(Speed(self.speed))

    def set_live(self, settings: dict) -> None:
        """Change live settings (learning rate, temperature, sample every/length, gradient flow every) from the
        next step."""
        if self.client is not None:
            self.client.submit(Live(dict(settings)))

    def sample_now(self, length: int, prime: str, temperature: float, argmax: bool):
        """Generate from the current weights and hidden state without touching training: (SampleRecord, result).
        The run being written records it in its samples.

        Raises core.UnknownCharactersError for a prime with characters the model does not know, RuntimeError (one
        line) when the engine cannot sample.
        """
        if self.client is None:
            raise RuntimeError("there is no model")
        self.model.vocab.encode(prime)  # unknown characters are refused here, with their names
        answer = self.client.call(SampleNow(length, prime, temperature, argmax), SAVE_SECONDS)
        if not answer.ok:
            raise RuntimeError(answer.error)
        now = answer.value
        record = SampleRecord(now.iteration, now.result.text, None, temperature, "sample now", prime, argmax)
        self.run.add_sample(record)
        return record, now.result

    def peek(self, wait_open: bool = True):
        """The next training window, the state carried into it and a copy of the weights (core.engine.Peeked), all
        from one moment between two steps; None without a model or when the engine does not answer. wait_open=False:
        None at once while the engine is still opening (a view asks again on modelOpened) rather than waiting."""
        client = self.client
        if client is None or not client.running or (client.info is None and not wait_open):
            return None
        answer = client.peek()
        if not answer.ok:
            return None
        self._seen(answer.value.iteration)
        return answer.value

    def weights(self, wait_open: bool = True):
        """(iteration, a copy of the current weights) from one moment between two steps, or None (see peek)."""
        peeked = self.peek(wait_open)
        return None if peeked is None else (peeked.iteration, peeked.params)

    def _seen(self, iteration: int) -> None:
        """The engine has done `iteration` iterations (counters only move forward)."""
        m = self.model
        if m is not None and iteration > m.iteration:
            m.iteration = int(iteration)

    # engine signals ------------------------------------------------------------------------------

    def _from_client(self) -> bool:
        """Whether the signal being handled comes from this session's engine (a former one's are ignored)."""
        return self.client is not None and self.sender() is self.client

    @Slot(dict)
    def _on_opened(self, info: dict) -> None:
        if not self._from_client():
            return
        corpus = self.corpus
        if corpus is not None and (info.get("vocab") != "".join(corpus.vocab.chars) or
                                   int(info.get("corpus_chars", -1)) != len(corpus)):
            self._lost(f"{corpus.name} changed on disk since it was opened; open it again")
            return
        path, self._opening = self._opening, None
        if path is not None:
            self.checkpointOpened.emit(path, self.model.config, self.model.preset)
        self.modelOpened.emit()

    @Slot(object)
    def _on_progressed(self, rows) -> None:
        if not self._from_client() or not len(rows):
            return
        progress = progress_of(rows, self.client.its_per_sec, self.elapsed)
        self.run.add_progress(progress)
        if progress.its_per_sec > 0:
            self.rate = progress.its_per_sec if self.rate == 0 else 0.7 * self.rate + 0.3 * progress.its_per_sec
        self._seen(progress.iteration)
        self.model.epoch = progress.epoch
        self.last_progress = progress
        if self.run_path is not None and time.monotonic() - self._meta_at >= RUN_META_SECONDS:
            self._send_meta()
        self.progressed.emit(progress)

    @Slot(list)
    def _on_sampled(self, samples) -> None:
        if not self._from_client():
            return
        for sample in samples:
            record = SampleRecord(sample.iteration, sample.text, sample.smooth_loss, sample.temperature)
            self.run.add_sample(record)
            self.sampled.emit(record, sample.states or [{"h": sample.hidden}])

    @Slot(list)
    def _on_flowed(self, flows) -> None:
        if not self._from_client():
            return
        self.flows.add(flows)
        self.gradFlowed.emit(flows)

    @Slot(int)
    def _on_paused(self, iteration: int) -> None:
        if not self._from_client():
            return
        self._seen(iteration)
        self._set_state(PAUSED)

    @Slot(str)
    def _on_diverged(self, reason: str) -> None:
        if not self._from_client():
            return
        self.diverged_reason = reason
        self._set_state(PAUSED)
        self.diverged.emit(reason)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        if not self._from_client():
            return
        if self.client.running:  # the engine failed a step and waits, the model kept
            self._set_state(PAUSED)
            self.failed.emit(message)
            return
        opening, self._opening = self._opening, None
        if self.client.info is None and opening is not None:  # a checkpoint the engine could not open
            self._close_engine("interrupted")
            self.discard_model()
            self.checkpointFailed.emit(message)
            return
        self._lost(message)

    def _lost(self, message: str) -> None:
        """The engine is gone (killed, out of memory, its text changed): no model any more, but everything drawn
        stays; `recovery` names the run's last checkpoint; failed says why."""
        run = self.run_path
        self._close_engine("interrupted")
        latest = checkpoint_path(run, LATEST) if run else None
        self.recovery = latest if latest and os.path.isfile(latest) else None
        self.model = None
        self.diverged_reason = None
        self._set_state(IDLE)
        self.failed.emit(message)

    @Slot(str, int)
    def _on_checkpointed(self, path: str, iteration: int) -> None:
        if self._from_client():
            self._saved = (path, iteration)

    @Slot(str)
    def _on_run_opened(self, path: str) -> None:
        if not self._from_client():
            return
        self.run_path = path
        self._send_meta()
        self.runStarted.emit(path)

    # == the run being written =================================================================

    def set_baselines(self, baselines: dict | None) -> None:
        """The n-gram baselines of the model's text and split ({"1-gram": bits/char, ...}; None: none), written
        into the run's run.json (now, or when the run opens)."""
        self.baselines = dict(baselines) if baselines else None
        if self.baselines and self.client is not None:
            self.client.set_baselines(self.baselines)

    def _send_meta(self) -> None:
        """Hand the engine the curves and samples to save with the run's checkpoints (latest.npz, best.npz), so
        that they reopen in the app as they were drawn."""
        self._meta_at = time.monotonic()
        self.client.set_checkpoint_extras(checkpoint_extras(self.run.curves, self.elapsed, self._checkpoint_meta()))

    # == checkpoints ============================================================================

    def save_checkpoint(self, path: str, preset: str | None = None) -> int:
        """Write the model, its optimiser state, curves and newest samples to path; returns the iteration saved.

        A consistent snapshot even while training (the engine pauses for it: weights and curves of one moment).
        Raises OSError with one line when the file cannot be written.
        """
        if self.client is None:
            raise OSError("there is no model to save")
        client, running = self.client, self.state == RUNNING
        if running:  # the curves saved must reach the weights' iteration: every row up to a pause, then go on
            self.pause()
            if self.client is not client:  # the engine died meanwhile (failed has said so)
                raise OSError("the training process ended before the checkpoint was written")
        try:
            extras = checkpoint_extras(self.run.curves, self.elapsed, self._checkpoint_meta(preset))
            self._saved = None
            answer = client.call(SaveCheckpoint(path, extras), SAVE_SECONDS)  # an engine gone by now says so
        finally:
            if running and self.client is client:
                self.start()
        if not answer.ok:
            raise OSError(answer.error)
        client.flush()  # its CHECKPOINT event says the iteration saved
        iteration = self._saved[1] if self._saved is not None and self._saved[0] == path else self.iteration
        self._seen(iteration)
        self.saved_iteration = iteration
        self.checkpoint_path = path
        self.checkpointSaved.emit(path, iteration)
        return iteration

    def _checkpoint_meta(self, preset: str | None = None) -> dict:
        """The app's metadata for a checkpoint of this model (everything but the elapsed time)."""
        return {"corpus": self.corpus_spec, "corpus_name": self.corpus.name,
                "preset": preset if preset is not None else self.model.preset,
                "samples": [r.__dict__ for r in self.run.recent_samples(SAMPLES_IN_CHECKPOINT)]}

    @staticmethod
    def read_checkpoint(path: str):
        """The checkpoint at path (raises core.CheckpointError with a one-line reason)."""
        return core.load_checkpoint(path)

    def open_checkpoint(self, ckpt, path: str) -> str | None:
        """Continue a read checkpoint: at once when the corpus in use fits, else after loading its text.

        Returns why it cannot be opened, or None (then checkpointOpened or checkpointFailed follows). A corpus load
        under way is superseded by a checkpoint that opens (the user's newer action), kept for one that cannot.
        """
        if self.corpus is not None and self.corpus.vocab == ckpt.vocab and \
                len(self.corpus) == int(ckpt.meta.get("n_data", len(self.corpus))):
            self._drop_load(ended=True)
            self._restore(ckpt, path, self.corpus, self.corpus_spec)
            return None
        try:
            meta = read_app_meta(ckpt, core.PRESETS)
        except MetaError as e:
            return f"{os.path.basename(path)} cannot be opened: {e}."
        spec = meta.corpus
        if not isinstance(spec, str):
            spec = run_corpus_spec(run_of_checkpoint(path))  # a checkpoint charrnn-train wrote into a run
        how = corpus_loader(spec) if isinstance(spec, str) else None
        if how is None:
            return (f"{os.path.basename(path)} was trained on {meta.corpus_name or 'another text'}, which "
                    f"is not open. Open that text first, then the checkpoint.")
        load, label = how
        self.load(spec, load, label, (ckpt, path))
        return None

    def _restore(self, ckpt, path: str, corpus, spec: str) -> None:
        # What can be checked here is checked before the current model is replaced; the engine restores the rest
        # (and says checkpointFailed if it cannot).
        try:
            meta = read_app_meta(ckpt, core.PRESETS)
            if corpus.vocab != ckpt.vocab or int(ckpt.meta.get("n_data", len(corpus))) != len(corpus):
                raise core.CheckpointError(f"{os.path.basename(path)} was trained on another text than "
                                           f"{corpus.name}; open the text it was trained on, or reset")
            live = {k: v for k, v in dict(ckpt.meta.get("live") or {}).items()
                    if k in ("learning_rate", "temperature", "sample_every", "sample_length")}
            cfg = ckpt.config.replace(**live).validate()
            iteration, chars_seen = int(ckpt.meta["iteration"]), int(ckpt.meta.get("chars_seen", 0))
        except (core.CheckpointError, core.CorpusError, ValueError, KeyError, TypeError) as e:
            self.checkpointFailed.emit(str(e))  # MetaError is a ValueError
            return
        T, B = cfg.seq_length, cfg.batch_size
        history = LossHistory.from_extras(ckpt.extras, T, up_to=iteration)
        run = RunHistory(T, batch_size=B)
        run.curves = history
        run.curves.batch_size = B
        for rec in meta.samples:
            run.add_sample(rec)
        self.discard_model()
        if corpus is not self.corpus:
            self.set_corpus(corpus, spec)
        self._opening = path
        self._install(model_of(corpus, cfg, meta.preset, iteration, chars_seen), run, meta.elapsed,
                      {"resume": os.path.abspath(path), "elapsed": meta.elapsed})
        self.saved_iteration = iteration
        self.checkpoint_path = path

    # == the end ================================================================================

    def shutdown(self) -> None:
        """End the engine (it closes its run; at most ~2 s); let go of a corpus load (idempotent, never hangs).

        A load blocked in a read (a stalled network share, a pipe) cannot be interrupted: the session
        does not wait for it. Its thread stays in the worker registry, so it is never destroyed while
        running; its late result is ignored; app.main() deals with it at exit.
        """
        self._close_engine("finished")
        loader, self._loader = self._loader, None
        if loader is not None and not loader.join(0.2):
            self._old_loaders.append(loader)
