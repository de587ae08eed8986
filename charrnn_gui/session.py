"""The live training session: the corpus in use, the model and its worker, the state machine, checkpoint I/O.

A Session has no widgets and shows no dialogs. The window asks it to do things (load, start, pause,
save, open) and listens to its past-tense signals; the session drives core (Trainer, checkpoints)
and the worker threads. The picture is panels <- window -> session -> core.

States (`state`): "idle" (no model yet), "paused" (a model, its worker parked), "running".
A divergence parks the worker: the state becomes "paused" and `diverged_reason` says why until
training resumes or the weights are restored.

Every training is written as a run (core.runs) under `runs_folder`, from the first Start or Step of
a model until it is discarded (Reset, another text or checkpoint, closing): metrics lines, samples,
checkpoints/latest.npz every minute and at the end, best.npz at each better held-out score. A model
opened from a run's checkpoint continues that run (a resume). The writing happens off the GUI
thread (charrnn_gui/recording.py).
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from contextlib import contextmanager

import numpy as np
from PySide6.QtCore import QCoreApplication, QEvent, QObject, Signal, Slot

import core
from core.builtins import BUILTINS, load_builtin
from core.runs import (DIVERGED, FINISHED, RunError, RunWriter, default_run_name, new_run_folder, read_info,
                       run_of_checkpoint)
from core.runs import RUNNING as RUN_RUNNING

from .checkpoint_meta import MetaError, read_app_meta
from .flow_history import FlowHistory
from .history import LossHistory, Progress, RunHistory, SampleRecord, stride_for
from .recording import RunRecording
from .worker import CorpusLoader, TrainingWorker

BUILTIN_PREFIX = "builtin:"
SAMPLES_IN_CHECKPOINT = 200  # newest samples saved with a checkpoint
RUN_CHECKPOINT_SECONDS = 60.0  # the run's latest.npz is saved this often while training (and at its end)
RUN_META_SECONDS = 5.0  # how stale the samples saved with a run's best.npz may be
LOG_POINTS = 10_000  # metrics lines: every iteration up to this, then every 2nd, 4th ... (a long run stays small)
LOG_LINES_PER_SECOND = 50  # and at most about this many per second of training (writing ~1,300 a second cost 10%)

IDLE, PAUSED, RUNNING = "idle", "paused", "running"


def rate_stride(its_per_second: float, lines_per_second: int) -> int:
    """The smallest power of two s with its_per_second / s <= lines_per_second (1 when training is slower)."""
    return stride_for(math.ceil(its_per_second) - 1, lines_per_second)  # n // s < m, i.e. n < s * m, for n = ceil - 1


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


class Session(QObject):
    """The live session: owns the corpus in use, the trainer, its worker, the state and checkpoint I/O."""

    stateChanged = Signal(str)  # the state now (emitted on every transition and when a step ends)
    loadStarted = Signal(str)  # what is being loaded, e.g. "small.txt"
    loadEnded = Signal()  # the load is over (loaded or failed); is_loading is False again
    corpusLoaded = Signal(object, str)  # a text was loaded (not yet in use): the window calls use_corpus() or not
    loadFailed = Signal(str, bool)  # why, and whether it was the text a checkpoint needs
    corpusChanged = Signal(object, str)  # the corpus now in use and its spec
    modelInstalled = Signal()  # a new or restored model; `run` holds its curves and samples
    modelDiscarded = Signal()  # no model any more (reset, a new text, before a restore)
    progressed = Signal(object)  # a worker batch (Progress), already added to `run`
    sampled = Signal(object, object)  # (SampleRecord, states: per layer {name: (T, H)}) of a training sample, in `run`
    gradFlowed = Signal(object)  # a worker batch of gradient-flow measurements (list of GradFlow), already in `flows`
    diverged = Signal(str)  # why; training is paused and the last finite weights are kept
    failed = Signal(str)  # the worker stopped on an error; the model is kept
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
        self.trainer = None
        self.worker: TrainingWorker | None = None
        self._delivering = False  # _catch_up is delivering what the worker has posted (records only, no reports)
        self.state = IDLE
        self.preset: str | None = None  # the preset the model was made from, if any
        self.run = RunHistory()  # the model's curves and samples, as the GUI has them
        self.flows = FlowHistory()  # the model's gradient-flow measurements since it was made or opened
        self.saved_iteration: int | None = None
        self.checkpoint_path: str | None = None
        self.elapsed = 0.0  # seconds of training of this model
        self.last_progress = None
        self.rate = 0.0  # iterations per second, smoothed
        self._loader: CorpusLoader | None = None
        self._load_spec: str | None = None
        self._after_load = None  # (ckpt, path): a checkpoint to restore once its corpus is loaded
        self._old_loaders: list[CorpusLoader] = []
        self.runs_folder: str | None = None  # where new runs are written; None: none are
        self.recording: RunRecording | None = None  # the run being written
        self.run_path: str | None = None  # its folder, once it exists
        self._resume_run: str | None = None  # the run whose checkpoint the model came from: training continues it
        self._run_status = RUN_RUNNING
        self._run_saved_at = 0.0  # time.monotonic() of the last latest.npz queued
        self._run_flows: list = []  # gradient-flow measurements waiting for the worker batch that covers them
        self._run_meta: dict = {}  # the app's checkpoint metadata, refreshed every RUN_META_SECONDS for best.npz
        self._run_meta_at = -RUN_META_SECONDS
        # Guards _live_worker, which the run writer's thread reads, and makes the trainer the turn of one thread
        # at a time: the GUI thread and the run writer's thread each take it around their holds of the worker.
        self._model_lock = threading.RLock()
        self._live_worker: TrainingWorker | None = None
        self.speed = 0.0  # iterations a second at most (0: unlimited)
        self.baselines: dict | None = None  # {"1-gram": held-out bits/char, ...} for run.json (charrnn_gui/baselines.py)

    # == state ==================================================================================

    def _set_state(self, state: str) -> None:
        self.state = state
        self.stateChanged.emit(state)

    @property
    def diverged_reason(self) -> str | None:
        return self.trainer.diverged if self.trainer is not None else None

    @property
    def has_unsaved_progress(self) -> bool:
        t = self.trainer
        return t is not None and t.iteration > 0 and t.iteration != self.saved_iteration

    @contextmanager
    def held_trainer(self):
        """A context giving the trainer while no step runs and no other thread holds it (via the worker when
        there is one)."""
        with self._model_lock:
            if self.worker is not None and self.worker.thread_running:
                with self.worker.hold() as t:
                    yield t
            else:
                yield self.trainer

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
        """New random weights for the corpus in use (raises CorpusError or ValueError with a one-line reason)."""
        trainer = core.Trainer.from_corpus(self.corpus, cfg)
        self.preset = preset
        self._install(trainer, RunHistory(cfg.seq_length, batch_size=cfg.batch_size), LossHistory(cfg.seq_length), 0.0)
        self.saved_iteration = None
        self.checkpoint_path = None

    def _install(self, trainer, run: RunHistory, history: LossHistory, elapsed: float) -> None:
        """Make trainer the model: `run` is what the GUI shows, `history` what the worker records into."""
        self._stop_worker()
        self.trainer = trainer
        self.elapsed = elapsed
        self.last_progress = None
        self.rate = 0.0
        self.run = run
        self.flows = FlowHistory()
        run.curves.elapsed_mark = elapsed
        self._start_worker(history)
        self.state = PAUSED
        self.modelInstalled.emit()
        self._set_state(PAUSED)

    def discard_model(self) -> None:
        self._end_run()
        self._resume_run = None
        self._stop_worker()
        self.trainer = None
        self.preset = None
        self.saved_iteration = None
        self.checkpoint_path = None
        self.elapsed = 0.0
        self.last_progress = None
        self.rate = 0.0
        self.run = RunHistory()
        self.flows = FlowHistory()
        self.state = IDLE
        self.modelDiscarded.emit()
        self._set_state(IDLE)

    def _start_worker(self, history: LossHistory) -> None:
        w = TrainingWorker(self.trainer, history, self.elapsed)
        w.set_speed(self.speed)
        w.progressed.connect(self._on_progressed)
        w.sampled.connect(self._on_sampled)
        w.flowed.connect(self._on_flowed)
        w.diverged.connect(self._on_diverged)
        w.failed.connect(self._on_failed)
        w.paused.connect(self._on_paused)
        w.finished.connect(self._on_worker_finished)
        self.worker = w
        w.start()
        with self._model_lock:
            self._live_worker = w

    def _ensure_worker(self) -> None:
        """A live worker for the current trainer (a new one after a failure ended the last)."""
        if self.worker is not None and self.worker.thread_running:
            return
        history = self.worker.history if self.worker is not None else LossHistory(self.trainer.config.seq_length)
        if self.worker is not None:
            self.elapsed = self.worker.elapsed
            self.worker.stop()
        if self.recording is not None:  # a checkpoint it is writing holds the old worker: let it finish
            self.recording.wait_idle()
        self._start_worker(history)

    def _stop_worker(self) -> None:
        w, self.worker = self.worker, None
        with self._model_lock:  # waits for a run checkpoint being written
            self._live_worker = None
        if w is not None:
            w.pause()
            if not w.stop(30.0):  # pragma: no cover - a step never takes this long
                raise RuntimeError("the training thread did not stop")
            self.elapsed = w.elapsed

    # == training ===============================================================================

    def start(self) -> None:
        """Resume training the model (there must be one: create_model first)."""
        self._ensure_worker()
        self._clear_divergence()
        self._begin_run()
        self.worker.resume()
        self._set_state(RUNNING)

    def pause(self) -> None:
        """Pause and wait until the worker acknowledges (it finishes at most the step it is in)."""
        if self.worker is not None:
            self.worker.pause()
            if self.worker.thread_running:
                with self.worker.hold():
                    pass
        self._set_state(PAUSED if self.trainer is not None else IDLE)

    def step(self, n: int = 1) -> None:
        """Train n iterations, then park (the model must exist)."""
        self._ensure_worker()
        self._clear_divergence()
        self._begin_run()
        self.worker.step(n)

    def _clear_divergence(self) -> None:
        # After a divergence the engine keeps the last finite weights; resuming (usually with a lower
        # learning rate) continues from them.
        if self.trainer is not None and self.trainer.diverged:
            with self.held_trainer() as t:
                t.clear_divergence()
        if self.recording is not None and self._run_status != RUN_RUNNING:
            self._run_status = RUN_RUNNING
            self.recording.set_status(RUN_RUNNING)

    def restore_before_divergence(self):
        """Go back to the weights from before the last learning-rate change; the RestorePoint, or None."""
        if self.trainer is None or self.trainer.restore_point is None:
            return None
        with self.held_trainer() as t:
            point = t.restore()
        self._set_state(self.state)
        return point

    def set_speed(self, its_per_second: float) -> None:
        """Train at most this many iterations a second (0: as fast as it goes), from now on."""
        self.speed = max(0.0, float(its_per_second or 0.0))
        if self.worker is not None:
            self.worker.set_speed(self.speed)

    def set_live(self, settings: dict) -> None:
        if self.worker is not None:
            self.worker.set_live(**settings)

    def sample_now(self, length: int, prime: str, temperature: float, argmax: bool):
        """Generate from the current weights and hidden state without touching training: (SampleRecord, result).
        The run being written records it in its samples.

        Raises core.UnknownCharactersError for a prime with characters the model does not know.
        """
        with self.held_trainer() as t:
            result = t.sample_now(length=length, prime=prime, temperature=temperature, argmax=argmax)
            iteration = t.iteration
        record = SampleRecord(iteration, result.text, None, temperature, "sample now", prime, argmax)
        self.run.add_sample(record)
        if self.recording is not None:  # the run keeps it beside the training samples (greedy: no temperature)
            self.recording.log_sample(iteration, record.text, None if argmax else temperature, prime)
        return record, result

    def history_snapshot(self) -> LossHistory:
        """The curves as they are now (the worker's own record while it runs)."""
        if self.worker is not None and self.worker.thread_running:
            with self.held_trainer():
                return self.worker.history.copy()
        return self.run.curves

    # worker signals (queued to this thread) -----------------------------------------------------

    def _from_worker(self) -> bool:
        """Whether the signal being handled comes from this session's worker (a former worker's are ignored)."""
        return self.worker is not None and self.sender() is self.worker

    @Slot(object)
    def _on_progressed(self, progress) -> None:
        if not self._from_worker():
            return
        self._take_progress(progress)

    def _take_progress(self, progress) -> None:
        times = self.run.add_progress(progress)
        if progress.its_per_sec > 0:
            self.rate = progress.its_per_sec if self.rate == 0 else 0.7 * self.rate + 0.3 * progress.its_per_sec
        if self.recording is not None:
            self._record_progress(progress, times)
        self.last_progress = progress
        self.elapsed = progress.elapsed
        self.progressed.emit(progress)

    @Slot(object)
    def _on_sampled(self, samples) -> None:
        if not self._from_worker():
            return
        for sample in samples:
            self._record_sample(sample)

    def _record_sample(self, sample) -> None:
        """A worker's sample into the run being written and the model's samples, and on to the window."""
        record = SampleRecord(sample.iteration, sample.text, sample.smooth_loss, sample.temperature)
        self.run.add_sample(record)
        if self.recording is not None:
            self.recording.log_sample(record.iteration, record.text, record.temperature)
        self.sampled.emit(record, sample.states or [{"h": sample.hidden}])

    @Slot(object)
    def _on_flowed(self, flows) -> None:
        if not self._from_worker():
            return
        self.flows.add(flows)
        if self.recording is not None:  # written with the progress that covers them, which comes next
            self._run_flows.extend(flows)
        self.gradFlowed.emit(flows)

    @Slot(str)
    def _on_diverged(self, reason: str) -> None:
        if not self._from_worker() or self._delivering:
            return
        self._set_state(PAUSED if self.trainer is not None else IDLE)
        if self.recording is not None:
            self._run_status = DIVERGED
            self.recording.set_status(DIVERGED, reason)
        self.diverged.emit(reason)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        if not self._from_worker() or self._delivering:
            return
        self._set_state(PAUSED if self.trainer is not None else IDLE)
        self.failed.emit(message)

    @Slot(int)
    def _on_paused(self, iteration: int) -> None:
        if not self._from_worker() or self._delivering:
            return
        parked = self.state == RUNNING and not self.worker.is_running  # the worker parked itself
        self._set_state(PAUSED if parked else self.state)

    @Slot()
    def _on_worker_finished(self) -> None:
        w = self.sender()
        if w is self.worker and w is not None and not w.thread_running:
            self.elapsed = w.elapsed

    # == the run being written =================================================================

    def _begin_run(self) -> None:
        """Start writing this model's run (a new one, or the run its checkpoint came from), once."""
        if self.recording is not None or self.runs_folder is None or self.trainer is None:
            return
        t, corpus, spec, preset = self.trainer, self.corpus, self.corpus_spec, self.preset
        config = t.config.replace(learning_rate=t.learning_rate, temperature=t.temperature,
                                  sample_every=t.sample_every, sample_length=t.sample_length)
        folder, resume, iteration = self.runs_folder, self._resume_run, t.iteration
        name = default_run_name(corpus.name, preset, time.time())

        def open_writer(warn) -> RunWriter:  # runs in the writer's thread: hashing a big text takes a while
            if resume is not None:
                try:
                    return RunWriter.resume(resume, iteration=iteration, config=config, corpus=corpus, command="app")
                except RunError as e:
                    warn(f"{e}; writing a new run instead")
            writer = RunWriter.create(new_run_folder(folder, name), config=config, corpus=corpus, command="app",
                                      preset=preset)
            writer.info["app_corpus"] = spec  # how the app reopens the text ("builtin:NAME" or a path)
            writer.heartbeat(force=True)
            return writer

        rec = RunRecording(open_writer, self._save_run_checkpoint)
        rec.opened.connect(self._on_run_opened)
        rec.refused.connect(self._on_run_refused)
        rec.warned.connect(self.runWarned)
        self.recording = rec
        rec.start()
        if self.baselines:
            rec.set_baselines(self.baselines)
        self._run_flows = []
        self._run_status = RUN_RUNNING
        self._run_saved_at = time.monotonic()
        self._refresh_run_meta(force=True)

    def set_baselines(self, baselines: dict | None) -> None:
        """The n-gram baselines of the model's text and split ({"1-gram": bits/char, ...}; None: none), written
        into the run's run.json now and into every run this model begins."""
        self.baselines = dict(baselines) if baselines else None
        if self.baselines and self.recording is not None:
            self.recording.set_baselines(self.baselines)

    def _record_progress(self, progress, times) -> None:
        """Queue the metrics lines of a worker batch: every iteration early on, thinning out as the run grows or when
        training runs faster than LOG_LINES_PER_SECOND (the multiples of a power of two, so that the lines kept line
        up across batches), the batch's last one, and every iteration that evaluated or measured gradient flow (with
        the measurement's fields, as charrnn-train writes them: on the line of the update that trained on the window
        measured, iteration + 1)."""
        its = progress.iterations  # (n,)
        T, B = self.trainer.config.seq_length, self.trainer.config.batch_size
        val = dict(zip(progress.val_iterations.tolist(), progress.val_bpc.tolist()))
        flows, self._run_flows = self._run_flows, []
        flow = {f.iteration + 1: f.to_json() for f in flows}
        rows = []
        if len(its):
            stride = max(stride_for(int(its[-1]), LOG_POINTS), rate_stride(self.rate, LOG_LINES_PER_SECOND))
            keep = its % stride == 0  # (n,)
            keep[-1] = True  # and the batch's last: the run's latest iteration is always written
            if flow:
                keep |= np.isin(its, list(flow))
            for i in np.flatnonzero(keep).tolist():
                it = int(its[i])
                lpc = float(progress.loss_per_char[i])
                row = {"iteration": it, "elapsed": float(times[i]), "chars_seen": it * T * B, "loss": lpc * T,
                       "loss_per_char": lpc, "smooth_loss": float(progress.smooth_loss[i]),
                       "learning_rate": progress.learning_rate}
                if it in val:
                    row["val_bpc"] = val.pop(it)
                row.update(flow.pop(it, {}))
                rows.append(row)
        lone: dict[int, dict] = {}  # an evaluation or a measurement at an iteration the worker's history left out
        for it, fields in [*((it, {"val_bpc": bpc}) for it, bpc in val.items()), *flow.items()]:
            lone.setdefault(int(it), {"iteration": int(it), "elapsed": progress.elapsed, "chars_seen": int(it) * T * B,
                                      "learning_rate": progress.learning_rate}).update(fields)
        rows += lone.values()
        rows.sort(key=lambda r: r["iteration"])
        self.recording.log_metrics(rows)
        self._refresh_run_meta()
        if time.monotonic() - self._run_saved_at >= RUN_CHECKPOINT_SECONDS:
            self._run_saved_at = time.monotonic()
            self.recording.save_checkpoint("latest")

    def _refresh_run_meta(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._run_meta_at >= RUN_META_SECONDS:
            self._run_meta_at = now
            self._run_meta = self._checkpoint_meta()  # replaced whole: the writer's thread reads it

    def _save_run_checkpoint(self, path: str) -> None:
        """Save the model to one of its run's checkpoints. Runs in the run writer's thread."""
        with self._model_lock:
            w = self._live_worker
            if w is None:
                return
            meta = self._run_meta
            with w.hold() as t:
                if not all(np.isfinite(p).all() for p in t.params.values()):
                    return
                core.save_checkpoint(t, path, extras=checkpoint_extras(w.history, self._training_seconds(w), meta))

    def _catch_up(self) -> None:
        """Take the iterations the worker recorded but has not sent yet, so that the run ends with every iteration
        its checkpoint holds. Only right before the worker is stopped: what it still sends is then ignored."""
        w = self.worker
        if w is None or self.trainer is None:
            return
        with self.held_trainer() as t:
            # What the worker has sent and the event loop not yet delivered (its last progress and samples, when
            # Reset follows Pause in one go): delivered now, while it is still this session's worker (afterwards they
            # would be ignored as a former worker's). Inside the hold everything it took for an emit has been sent.
            self._delivering = True  # only the record: no divergence or failure reported as the model goes
            try:
                QCoreApplication.sendPostedEvents(self, QEvent.Type.MetaCall)
            finally:
                self._delivering = False
            curves = self.run.curves
            self._run_flows.extend(w.take_flows())
            samples = w.take_samples()  # drawn since the last emit: the run keeps them too
            h = w.history
            rows, vals = h.since(int(curves.iterations.last(0))), h.val_since(int(curves.val_iterations.last(0)))
            progress = Progress(h.iterations.view[rows].copy(), h.loss.view[rows].astype(np.float64),
                                h.smooth.view[rows].astype(np.float64), h.val_iterations.view[vals].copy(),
                                h.val_bpc.view[vals].copy(), int(t.iteration), float(t.epoch), int(t.chars_seen),
                                float(t.learning_rate), 0.0, self._training_seconds(w), h.stride)
        if len(progress.iterations) or len(progress.val_iterations) or self._run_flows:
            self._take_progress(progress)
        for sample in samples:
            self._record_sample(sample)

    def _training_seconds(self, w: TrainingWorker) -> float:
        """Training seconds now: the worker counts them when it parks, the progress it sends while it runs."""
        return max(w.elapsed, self.elapsed)

    def _end_run(self) -> None:
        """Close the run being written: its latest checkpoint, its status (diverged or finished)."""
        if self.recording is not None:
            self._catch_up()
        rec, self.recording = self.recording, None
        if rec is None:
            return
        if self.trainer is not None:
            self._refresh_run_meta(force=True)
            rec.save_checkpoint("latest")
        reason = self.trainer.diverged if self.trainer is not None else None
        status = DIVERGED if reason else FINISHED
        rec.close(status, reason)
        path, self.run_path = self.run_path or rec.path, None
        if path:
            self.runEnded.emit(path, status)

    @Slot(str)
    def _on_run_opened(self, path: str) -> None:
        if self.sender() is self.recording:
            self.run_path = path
            self.runStarted.emit(path)

    @Slot(str)
    def _on_run_refused(self, why: str) -> None:
        if self.sender() is self.recording:
            self.recording = None
            self.runWarned.emit(f"{why}; this training is not recorded as a run")

    # == checkpoints ============================================================================

    def save_checkpoint(self, path: str, preset: str | None = None) -> int:
        """Write the model, its optimiser state, curves and newest samples to path; returns the iteration saved.

        A consistent snapshot even while training. Raises OSError when the file cannot be written.
        """
        meta = self._checkpoint_meta(preset)
        with self.held_trainer() as t:  # the worker is idle in here: params, history and counters agree
            history = self.worker.history if self.worker is not None else self.run.curves
            elapsed = self._training_seconds(self.worker) if self.worker is not None else self.elapsed
            core.save_checkpoint(t, path, extras=checkpoint_extras(history, elapsed, meta))
            iteration = t.iteration
        self.saved_iteration = iteration
        self.checkpoint_path = path
        self.checkpointSaved.emit(path, iteration)
        return iteration

    def _checkpoint_meta(self, preset: str | None = None) -> dict:
        """The app's metadata for a checkpoint of this model (everything but the elapsed time)."""
        return {"corpus": self.corpus_spec, "corpus_name": self.corpus.name,
                "preset": preset if preset is not None else self.preset,
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
        # Everything is read and checked first; the current model is replaced only when all of it is good.
        try:
            trainer = core.restore_trainer(ckpt, corpus.data, corpus.vocab)
            meta = read_app_meta(ckpt, core.PRESETS)
            cfg = trainer.config.replace(learning_rate=trainer.learning_rate, temperature=trainer.temperature,
                                         sample_every=trainer.sample_every, sample_length=trainer.sample_length)
        except (core.CheckpointError, core.CorpusError, ValueError) as e:  # MetaError is a ValueError
            self.checkpointFailed.emit(str(e))
            return
        T, B = trainer.config.seq_length, trainer.config.batch_size
        history = LossHistory.from_extras(ckpt.extras, T, up_to=trainer.iteration)
        run = RunHistory(T, batch_size=B)
        run.curves = history.copy()
        run.curves.batch_size = B
        for rec in meta.samples:
            run.add_sample(rec)
        self.discard_model()
        if corpus is not self.corpus:
            self.set_corpus(corpus, spec)
        self.preset = meta.preset
        self._install(trainer, run, history, meta.elapsed)
        self._resume_run = run_of_checkpoint(path)
        self.saved_iteration = trainer.iteration
        self.checkpoint_path = path
        self.last_progress = None
        self.checkpointOpened.emit(path, cfg, meta.preset)

    # == the end ================================================================================

    def shutdown(self) -> None:
        """Stop and join the training thread; let go of a corpus load (idempotent, never hangs).

        A load blocked in a read (a stalled network share, a pipe) cannot be interrupted: the session
        does not wait for it. Its thread stays in the worker registry, so it is never destroyed while
        running; its late result is ignored; app.main() deals with it at exit.
        """
        self._end_run()
        self._stop_worker()
        loader, self._loader = self._loader, None
        if loader is not None and not loader.join(0.2):
            self._old_loaders.append(loader)
