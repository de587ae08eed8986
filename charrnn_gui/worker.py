"""Background threads: the training worker and the corpus loader, and a registry of their QThreads.

How the training worker works
-----------------------------
A `TrainingWorker` owns a `core.Trainer` while its QThread runs `_loop()`. The loop never returns to
an event loop, so it is controlled only through thread-safe flags (`threading.Event`):

* `resume()` / `pause()` / `step(n)` set or clear the run flag (step gives the loop a budget of n
  iterations, after which it clears the flag itself);
* `request_stop()` makes the loop return; `stop()` also waits for the thread to finish;
* `hold()` is a context manager for the GUI thread: it raises the hold flag and takes the trainer
  lock, which the loop holds around every step, so inside it the trainer is idle and consistent
  (used to save while training, sample now, read the history). The loop parks while held.
* `set_live(learning_rate=..., temperature=..., sample_every=..., sample_length=...)` puts values
  into a lock-protected dict that the loop applies between steps.

The loop records every iteration into its own `LossHistory` (the one saved into checkpoints) and,
at most every EMIT_INTERVAL seconds, emits `progressed(Progress)` with freshly allocated arrays of
the iterations done since the previous emit. Every sample is emitted as `sampled(core.Sample)`, right
after the progress that covers it: queued together, they cost the GUI thread one wake-up (and the loop
one hand-over of the GIL) per emit rather than one per sample, which at ~30 samples a second is 10%
of the lesson preset's speed. Gradient-flow measurements (core.gradflow) travel the same way, as one
`flowed(list of GradFlow)` per emit.
Divergence clears the run flag and emits `diverged(reason)`; an exception emits `failed(message)`
and ends the loop; parking after running emits `paused(iteration)`; the end emits `finished()`.
The GUI thread must get the GIL quickly while the loop runs Python: starting a worker lowers the
interpreter's switch interval to 1 ms (a thread that asks for the GIL gets it within that, and a
thread alone pays nothing), and the loop also sleeps briefly every YIELD_EVERY seconds. Measured
with scripts/measure_gui.py, this beat sleeping every few milliseconds on both presets.

Every QThread started here is kept in a module-level registry until it has been joined, so a
thread can never be destroyed while running, and tests can check that none was left behind.
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from contextlib import contextmanager

from PySide6.QtCore import QObject, QThread, Signal

from .history import LossHistory, Progress

EMIT_INTERVAL = 0.05  # seconds between progressed signals: at most 20 per second
YIELD_EVERY = 0.05  # seconds of work between two explicit GIL yields (measured: scripts/measure_gui.py)
YIELD_SLEEP = 0.0002  # how long a yield sleeps; long enough for the GUI thread to take the GIL
SWITCH_INTERVAL = 0.001  # while training, a thread waiting for the GIL gets it within 1 ms (default 5 ms)
PARK_POLL = 0.05  # seconds between checks of the stop flag while parked

_registry_lock = threading.Lock()
_registry: set["_Runner"] = set()


class _Runner(QThread):
    """A QThread that runs one callable; registered from start() until it has been joined."""

    def __init__(self, target, stopper, name: str):
        super().__init__()
        self.setObjectName(name)
        self._target = target
        self._stopper = stopper

    def run(self) -> None:  # runs in the new thread
        self._target()

    def start_registered(self) -> None:
        with _registry_lock:
            _registry.add(self)
        self.start()

    def join(self, timeout: float = 30.0) -> bool:
        """Ask the target to stop, wait for the thread, unregister it; False if it is still running."""
        if self._stopper is not None:
            self._stopper()
        done = self.wait(max(0, int(timeout * 1000)))
        if done:
            with _registry_lock:
                _registry.discard(self)
        return done


def running_threads() -> list[QThread]:
    """Registered threads that are still running."""
    with _registry_lock:
        return [t for t in _registry if t.isRunning()]


def registered_threads() -> list[QThread]:
    """Threads started here and not yet joined (running or finished)."""
    with _registry_lock:
        return list(_registry)


def stop_all_threads(timeout: float = 30.0) -> list[str]:
    """Stop and join every registered thread; return the names of those that were still running."""
    names = []
    for t in registered_threads():
        if t.isRunning():
            names.append(t.objectName() or repr(t))
        t.join(timeout)
    return names


def _blas_limit():
    """Limit BLAS while training: one thread unless $CHARRNN_BLAS_THREADS says otherwise (faster on small
    CPUs, and it leaves a core for the GUI)."""
    try:
        from core.threads import DEFAULT_BLAS_THREADS, blas_threads_setting, limit_blas_threads

        try:
            threads = blas_threads_setting()
        except ValueError:  # a malformed $CHARRNN_BLAS_THREADS: the default, rather than no limit
            threads = DEFAULT_BLAS_THREADS
        return limit_blas_threads(threads)
    except Exception:  # pragma: no cover - a missing threadpoolctl is never fatal here
        from contextlib import nullcontext

        return nullcontext()


class TrainingWorker(QObject):
    """Runs a core.Trainer in a QThread; controlled by flags, reports through signals."""

    progressed = Signal(object)  # Progress
    sampled = Signal(object)  # core.Sample
    flowed = Signal(object)  # list of core.gradflow.GradFlow measured since the last emit, oldest first
    diverged = Signal(str)  # why
    failed = Signal(str)  # one-line message; the loop has ended
    paused = Signal(int)  # parked after running, at this iteration
    finished = Signal()  # the loop has ended

    def __init__(self, trainer, history: LossHistory | None = None, elapsed: float = 0.0, parent=None):
        super().__init__(parent)
        self.trainer = trainer
        self.history = history if history is not None else LossHistory(trainer.config.seq_length)
        # The last iteration (and validation) already handed to the GUI; rows are found by iteration,
        # since thinning a long history shifts their indices.
        self._emitted = int(self.history.iterations.last(0))
        self._val_emitted = int(self.history.val_iterations.last(0))
        self._emitted_iteration = trainer.iteration  # the trainer's count in the last progress
        self._samples: list = []  # core.Sample drawn since the last emit, in order
        self._flows: list = []  # GradFlow measured since the last emit, in order
        self._elapsed = float(elapsed)
        self._run_flag = threading.Event()
        self._stop_flag = threading.Event()
        self._hold_flag = threading.Event()
        self._lock = threading.Lock()  # held around every step and by hold()
        self._live_lock = threading.Lock()
        self._live: dict = {}
        self._budget: int | None = None  # iterations left before parking; None: unlimited
        self._pause_requested_at: float | None = None
        self.pause_latencies: list[float] = []  # seconds from pause() to the loop parking
        self._thread: _Runner | None = None

    # -- control, from the GUI thread ----------------------------------------------------------

    def start(self) -> None:
        """Start the thread, parked; resume() or step() makes it train."""
        if self._thread is not None:
            raise RuntimeError("worker already started")
        if sys.getswitchinterval() > SWITCH_INTERVAL:
            sys.setswitchinterval(SWITCH_INTERVAL)
        self._thread = _Runner(self._loop, self.request_stop, "charrnn-training")
        self._thread.start_registered()

    @property
    def thread_running(self) -> bool:
        return self._thread is not None and self._thread.isRunning()

    @property
    def is_running(self) -> bool:
        """Whether the loop has been told to train (it may still be finishing a step after pause())."""
        return self._run_flag.is_set()

    def resume(self) -> None:
        self._budget = None
        self._pause_requested_at = None
        self._run_flag.set()

    def pause(self) -> None:
        if self._run_flag.is_set():
            self._pause_requested_at = time.perf_counter()
        self._run_flag.clear()

    def step(self, n: int = 1) -> None:
        """Train n more iterations, then park (and emit paused); presses while stepping add up."""
        n = max(1, int(n))
        with self.hold():
            if self._run_flag.is_set() and self._budget is not None:
                self._budget += n  # still stepping: queue these too
            else:
                self._budget = n
            self._pause_requested_at = None
            self._run_flag.set()

    def request_stop(self) -> None:
        self._stop_flag.set()
        self._run_flag.set()  # wake a parked loop

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop the loop and join the thread; True when it has ended."""
        self.request_stop()
        if self._thread is None:
            return True
        return self._thread.join(timeout)

    def set_live(self, **settings) -> None:
        """Settings applied between steps (learning_rate, temperature, sample_every, sample_length)."""
        with self._live_lock:
            self._live.update(settings)

    @contextmanager
    def hold(self):
        """Yield the trainer while the loop is guaranteed idle (waits at most one step)."""
        self._hold_flag.set()
        try:
            with self._lock:
                self._apply_live()
                yield self.trainer
        finally:
            self._hold_flag.clear()

    @property
    def elapsed(self) -> float:
        return self._elapsed

    # -- the loop, in the worker thread --------------------------------------------------------

    def _apply_live(self) -> None:
        with self._live_lock:
            live, self._live = self._live, {}
        if live:
            self.trainer.set_live(**live)

    def _flush(self, now: float, window_start: float, its_in_window: int, running_since: float | None) -> tuple:
        """Emit the iterations recorded since the previous emit (fresh arrays), if any; return the samples drawn
        and the gradient flows measured meanwhile, which the caller emits once it has let go of the trainer lock."""
        self._emit_progress(now, window_start, its_in_window, running_since)
        held = (self._samples, self._flows)
        self._samples, self._flows = [], []
        return held

    def _emit_held(self, held) -> None:
        """Emit what _flush returned: one sampled signal per sample, one flowed signal for all the flows."""
        samples, flows = held
        for sample in samples:
            self.sampled.emit(sample)
        if flows:
            self.flowed.emit(flows)

    def _emit_progress(self, now: float, window_start: float, its_in_window: int,
                       running_since: float | None) -> None:
        h = self.history
        rows, vals = h.since(self._emitted), h.val_since(self._val_emitted)
        t = self.trainer
        if rows.start == rows.stop and vals.start == vals.stop and t.iteration == self._emitted_iteration:
            return
        self._emitted_iteration = t.iteration
        span = now - window_start
        elapsed = self._elapsed + (now - running_since if running_since is not None else 0.0)
        progress = Progress(
            iterations=h.iterations.view[rows].copy(),
            loss_per_char=h.loss.view[rows].copy(),
            smooth_loss=h.smooth.view[rows].copy(),
            val_iterations=h.val_iterations.view[vals].copy(),
            val_bpc=h.val_bpc.view[vals].copy(),
            iteration=int(t.iteration), epoch=float(t.epoch), chars_seen=int(t.chars_seen),
            learning_rate=float(t.learning_rate),
            its_per_sec=its_in_window / span if span > 0.02 else 0.0,
            elapsed=elapsed,
            stride=h.stride,
        )
        if len(progress.iterations):
            self._emitted = int(progress.iterations[-1])
        if len(progress.val_iterations):
            self._val_emitted = int(progress.val_iterations[-1])
        self.progressed.emit(progress)

    def _loop(self) -> None:
        from core import DivergedError

        running_since: float | None = None  # when the current run started
        window_start = last_yield = time.perf_counter()
        its_in_window = 0
        try:
            with _blas_limit():
                while not self._stop_flag.is_set():
                    if self._hold_flag.is_set():
                        time.sleep(0.0005)
                        continue
                    if not self._run_flag.is_set():
                        if running_since is not None:  # just parked
                            now = time.perf_counter()
                            if self._pause_requested_at is not None:
                                self.pause_latencies.append(now - self._pause_requested_at)
                                self._pause_requested_at = None
                            with self._lock:
                                held = self._flush(now, window_start, its_in_window, running_since)
                                self._elapsed += now - running_since
                                running_since = None
                                iteration = self.trainer.iteration
                            self._emit_held(held)
                            self.paused.emit(iteration)
                        self._run_flag.wait(PARK_POLL)
                        continue
                    if running_since is None:
                        running_since = window_start = last_yield = time.perf_counter()
                        its_in_window = 0
                    held = None
                    with self._lock:
                        if not self._run_flag.is_set() or self._hold_flag.is_set() or self._stop_flag.is_set():
                            continue
                        self._apply_live()
                        try:
                            snap = self.trainer.step()
                        except DivergedError as e:
                            self._run_flag.clear()
                            self._pause_requested_at = None
                            self.diverged.emit(str(e))
                            continue
                        if self._budget is not None:
                            self._budget -= 1
                            if self._budget <= 0:
                                self._budget = None
                                self._run_flag.clear()
                        self.history.append_snapshot(snap)
                        if snap.sample is not None:
                            self._samples.append(snap.sample)  # emitted after the progress that covers it
                        if snap.grad_flow is not None:
                            self._flows.append(snap.grad_flow)
                        its_in_window += 0 if snap.diverged else 1
                        now = time.perf_counter()
                        if snap.diverged:
                            self._run_flag.clear()
                            self._pause_requested_at = None
                        if snap.diverged or now - window_start >= EMIT_INTERVAL:
                            held = self._flush(now, window_start, its_in_window, running_since)
                            window_start, its_in_window = now, 0
                    if held is not None:
                        self._emit_held(held)
                    if snap.diverged:
                        self.diverged.emit(snap.diverged)
                    if now - last_yield >= YIELD_EVERY:
                        time.sleep(YIELD_SLEEP)  # let the GUI thread take the GIL
                        last_yield = time.perf_counter()
        except Exception as e:  # never raised in the thread: reported as a signal
            self._run_flag.clear()
            traceback.print_exc(file=sys.stderr)
            self.failed.emit(f"training stopped: {type(e).__name__}: {e}")
        finally:
            now = time.perf_counter()
            held = ([], [])
            with self._lock:
                try:
                    held = self._flush(now, window_start, its_in_window, running_since)
                except Exception:  # pragma: no cover - reporting must not mask the real error
                    traceback.print_exc(file=sys.stderr)
                if running_since is not None:
                    self._elapsed += now - running_since
            self._emit_held(held)
            self.finished.emit()


class CorpusLoader(QObject):
    """Runs one loading function (e.g. core.load_corpus) in a QThread; emits loaded(obj) or failed(str)."""

    loaded = Signal(object)
    failed = Signal(str)
    finished = Signal()

    def __init__(self, load, label: str, parent=None):
        super().__init__(parent)
        self._load = load
        self.label = label
        self.result = None
        self._thread: _Runner | None = None

    def start(self) -> None:
        self._thread = _Runner(self._run, None, "charrnn-corpus-loader")
        self._thread.start_registered()

    @property
    def thread_running(self) -> bool:
        return self._thread is not None and self._thread.isRunning()

    def join(self, timeout: float = 600.0) -> bool:
        return True if self._thread is None else self._thread.join(timeout)

    def _run(self) -> None:
        from core import CheckpointError, CorpusError

        try:
            self.result = self._load()
        except (CorpusError, CheckpointError) as e:
            self.failed.emit(str(e))
        except MemoryError:
            self.failed.emit(f"{self.label} is too large to load into memory")
        except Exception as e:  # reported, never raised in the thread
            traceback.print_exc(file=sys.stderr)
            self.failed.emit(f"cannot open {self.label}: {type(e).__name__}: {e}")
        else:
            self.loaded.emit(self.result)
        finally:
            self.finished.emit()
