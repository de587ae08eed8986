"""Background threads: the training worker and the corpus loader, and a registry of their QThreads.

How the training worker works
-----------------------------
A `TrainingWorker` owns a `core.Trainer` while its QThread runs `_loop()`. The loop never returns to
an event loop, so it is controlled only through state shared with the GUI thread, and every field of
that state is guarded by ONE lock, the condition variable `_cond` (the loop waits on it; each change
notifies it):

* `resume()` / `pause()` / `step(n)` set or clear the run flag (step gives the loop a budget of n
  iterations, after which it clears the flag itself);
* `request_stop()` makes the loop return; `stop()` also waits for the thread to finish;
* `hold()` is a context manager for the GUI thread: it waits until the loop is between two steps and
  keeps it there, so inside it the trainer is idle and consistent (used to save while training,
  sample now, read the history). The trainer itself is not under the lock: it belongs to whoever has
  the turn, the loop while `_stepping` or the GUI while `_holds` is non-zero, and both flags are
  changed only under the lock;
* `set_live(learning_rate=..., temperature=..., sample_every=..., sample_length=...)` puts values
  into a dict that the loop applies between steps;
* `set_speed(its_per_second)` paces training (0: as fast as it goes): between two steps the loop
  waits on the condition, which pause and stop notify, so they take effect at once.

The loop records every iteration into its own `LossHistory` (the one saved into checkpoints) and,
at most every EMIT_INTERVAL seconds, emits `progressed(Progress)` with freshly allocated arrays of
the iterations done since the previous emit. The samples drawn since then follow it as one
`sampled(list of core.Sample)`, oldest first: queued together, they cost the GUI thread one wake-up (and
the loop one hand-over of the GIL) per emit rather than one per sample, which at ~30 samples a second is
10% of the lesson preset's speed, and one delivery rather than one per sample (13 a second at 1,300 it/s).
Gradient-flow measurements (core.gradflow) travel the same way, as one `flowed(list of GradFlow)` per
emit, right before the progress that covers them (so that the run's metrics line of that iteration can
carry them). Signals are emitted with no lock held, but before the loop hands the
trainer back: a GUI hold never finds samples taken for an emit that has not been sent yet.
Divergence clears the run flag and emits `diverged(reason)`; an exception emits `failed(message)`
and ends the loop; parking after running emits `paused(iteration)`; the end emits `finished()`.

While it trains with no budget, no speed limit, no hold and no live setting waiting, the loop lets a child
process step (charrnn_gui.train_process: painting the window holds the GIL, a child has its own): it hands the
trainer's state over, records the steps that come back exactly as its own (history, samples, gradient flow,
emits; the window's counters from each batch), and calls the child back as soon as any of those conditions ends
(pause, stop, step(n), a speed, a hold, a live setting), taking the state back before anyone else gets the trainer:
`_stepping` stays set while the child has it. Everything else then runs here as before, and the next unlimited
step hands the state over again. A failed or vanished child emits `failed` with the model as it was handed over.

When it steps here, the GUI thread must get the GIL quickly while the loop runs Python: starting a worker lowers the
interpreter's switch interval to 1 ms (a thread that asks for the GIL gets it within that, and a
thread alone pays nothing), and the loop also sleeps briefly every YIELD_EVERY seconds. Measured
with scripts/measure_gui.py, this beat sleeping every few milliseconds on both presets.

Every QThread started here is kept in a module-level registry until it has been joined, so a
thread can never be destroyed while running, and tests can check that none was left behind. A
runner refers to its owner only while it runs (weakly for the stop request), and a joined runner
lets go of it and is deleted, so no reference cycle leaves a QObject to the cyclic garbage collector.
"""

from __future__ import annotations

import atexit
import ctypes
import sys
import threading
import time
import traceback
import weakref
from contextlib import contextmanager

from PySide6.QtCore import QObject, QThread, Signal

from .history import LossHistory, Progress
from .train_process import TrainingProcessError, blas_limit, fits, give_back, lease

EMIT_INTERVAL = 0.2  # seconds between progressed signals: at most 5 a second (the status bar, the samples and the
# plot show no more than that while training fast; each hand-over costs the GUI thread ~1 ms and training the GIL)
YIELD_EVERY = 0.05  # seconds of work between two explicit GIL yields (measured: scripts/measure_gui.py)
YIELD_SLEEP = 0.0002  # how long a yield sleeps; long enough for the GUI thread to take the GIL
SWITCH_INTERVAL = 0.001  # while training, a thread waiting for the GIL gets it within 1 ms (default 5 ms)
PARK_POLL = 0.05  # seconds between checks of the shared state while waiting (every change also notifies)
REMOTE_WAIT = 0.05  # seconds the loop waits for the child's next steps before it looks at its own state again
FINAL_HOLD_WAIT = 5.0  # seconds the ending loop waits for a GUI hold before its last flush (skipped after)
EXIT_JOIN_SECONDS = 10.0  # seconds the interpreter's exit waits for the registered threads to end, at most

_registry_lock = threading.Lock()
_registry: set["_Runner"] = set()


class _Runner(QThread):
    """A QThread that runs one callable; registered from start() until it has been joined."""

    def __init__(self, target, stopper, name: str):
        super().__init__()
        self.setObjectName(name)
        self._target = target  # strong while running: the owner stays alive as long as its thread
        self._stopper = weakref.WeakMethod(stopper) if stopper is not None else None  # never keeps it alive
        self._joined = False

    def run(self) -> None:  # runs in the new thread
        target = self._target
        if target is not None:
            target()

    def start_registered(self) -> None:
        with _registry_lock:
            _registry.add(self)
        self.start()

    def join(self, timeout: float = 30.0) -> bool:
        """Ask the target to stop, wait for the thread, unregister it; False if it is still running.

        A joined runner drops its target (breaking the owner -> runner -> owner cycle) and is deleted
        by the event loop; its owner drops its own reference too."""
        if self._joined:
            return True
        stopper = self._stopper() if self._stopper is not None else None
        if stopper is not None:
            stopper()
        done = self.wait(max(0, int(timeout * 1000)))
        if done:
            self._joined = True
            self._target = self._stopper = None
            with _registry_lock:
                _registry.discard(self)
            self.deleteLater()
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


def _join_at_exit(timeout: float = EXIT_JOIN_SECONDS) -> None:
    """At interpreter exit (before Python frees the registry, and with it the QThreads): stop and join every
    registered thread, so a window never closed, or a script that never ran app.exec(), ends cleanly.

    A thread still running after the timeout (a corpus load stuck in a read) is left to the OS: its QThread is
    given one more reference, so Python never destroys it (destroying a running QThread aborts the process)."""
    deadline = time.monotonic() + timeout  # for all of them together
    for t in registered_threads():
        t.join(max(0.0, deadline - time.monotonic()))
    for t in running_threads():  # pragma: no cover - needs a read that never returns
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(t))


atexit.register(_join_at_exit)


class TrainingWorker(QObject):
    """Runs a core.Trainer in a QThread; controlled through state under one lock, reports through signals."""

    progressed = Signal(object)  # Progress
    sampled = Signal(object)  # list of core.Sample drawn since the last emit, oldest first
    flowed = Signal(object)  # list of core.gradflow.GradFlow measured since the last emit, oldest first
    diverged = Signal(str)  # why
    failed = Signal(str)  # one-line message; the loop has ended
    paused = Signal(int)  # parked after running, at this iteration
    finished = Signal()  # the loop has ended

    def __init__(self, trainer, history: LossHistory | None = None, elapsed: float = 0.0, parent=None):
        super().__init__(parent)
        self.trainer = trainer
        self.history = history if history is not None else LossHistory(trainer.config.seq_length)
        # Touched only by whoever has the trainer's turn (the loop while stepping, the GUI inside hold()):
        # the last iteration (and validation) already handed to the GUI, found by iteration since thinning a
        # long history shifts rows; the trainer's count in the last progress; samples drawn since the last emit.
        self._emitted = int(self.history.iterations.last(0))
        self._val_emitted = int(self.history.val_iterations.last(0))
        self._emitted_iteration = trainer.iteration
        self._samples: list = []
        self._flows: list = []
        self._handed_over: dict | None = None  # the trainer's state when a child process took it over, until it is back
        self.process_pid: int | None = None  # the training process's, once it has trained this worker's model
        # Shared between the GUI thread and the loop: every field below only under _cond.
        self._cond = threading.Condition(threading.Lock())
        self._run = False  # told to train
        self._stop = False  # told to end the loop
        self._holds = 0  # GUI holds in progress or waiting: the loop does not start a step
        self._stepping = False  # the loop has the trainer (a step, or a flush of what it recorded)
        self._budget: int | None = None  # iterations left before parking; None: unlimited
        self._pause_requested_at: float | None = None
        self._live: dict = {}  # live settings not yet applied
        self._speed = 0.0  # iterations per second at most; 0: unlimited
        self._elapsed = float(elapsed)  # training seconds, up to the last park
        self._running_since: float | None = None  # perf_counter when the current run started (None: parked)
        self._pause_latencies: list[float] = []  # seconds from pause() to the loop parking
        self._started = False
        self._thread: _Runner | None = None  # until joined

    # -- control, from the GUI thread ----------------------------------------------------------

    def start(self) -> None:
        """Start the thread, parked; resume() or step() makes it train."""
        if self._started:
            raise RuntimeError("worker already started")
        self._started = True
        if sys.getswitchinterval() > SWITCH_INTERVAL:
            sys.setswitchinterval(SWITCH_INTERVAL)
        self._thread = _Runner(self._loop, self.request_stop, "charrnn-training")
        self._thread.start_registered()

    @property
    def thread_running(self) -> bool:
        thread = self._thread
        return thread is not None and not thread._joined and thread.isRunning()

    @property
    def is_running(self) -> bool:
        """Whether the loop has been told to train (it may still be finishing a step after pause())."""
        with self._cond:
            return self._run

    def resume(self) -> None:
        with self._cond:
            self._budget = None
            self._pause_requested_at = None
            self._run = True
            self._cond.notify_all()

    def pause(self) -> None:
        with self._cond:
            if self._run:
                self._pause_requested_at = time.perf_counter()
            self._run = False
            self._budget = None
            self._cond.notify_all()

    def step(self, n: int = 1) -> None:
        """Train n more iterations, then park (and emit paused); presses while stepping add up."""
        n = max(1, int(n))
        with self._cond:
            if self._run and self._budget is not None:
                self._budget += n  # still stepping: queue these too
            else:
                self._budget = n
            self._pause_requested_at = None
            self._run = True
            self._cond.notify_all()

    def request_stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop the loop and join the thread; True when it has ended."""
        self.request_stop()
        thread = self._thread
        if thread is None:
            return True
        done = thread.join(timeout)
        if done:
            self._thread = None
        return done

    def set_live(self, **settings) -> None:
        """Settings applied between steps (learning_rate, temperature, sample_every, sample_length)."""
        with self._cond:
            self._live.update(settings)

    def set_speed(self, its_per_second: float) -> None:
        """Train at most this many iterations a second (0: as fast as possible); applies at once."""
        with self._cond:
            self._speed = max(0.0, float(its_per_second or 0.0))
            self._cond.notify_all()

    @property
    def speed(self) -> float:
        with self._cond:
            return self._speed

    @contextmanager
    def hold(self):
        """Yield the trainer while the loop is guaranteed idle (waits at most one step)."""
        with self._cond:
            self._holds += 1
            try:
                while self._stepping:
                    self._cond.wait(PARK_POLL)
            except BaseException:
                self._holds -= 1
                self._cond.notify_all()
                raise
            live, self._live = self._live, {}
        try:
            if live:
                self.trainer.set_live(**live)
            yield self.trainer
        finally:
            with self._cond:
                self._holds -= 1
                self._cond.notify_all()

    @property
    def elapsed(self) -> float:
        """Training seconds so far, the current run's included (it is added to the total when the loop parks)."""
        with self._cond:
            since = self._running_since
            return self._elapsed + (time.perf_counter() - since if since is not None else 0.0)

    @property
    def pause_latencies(self) -> list[float]:
        """Seconds from each pause() to the loop parking (a copy)."""
        with self._cond:
            return list(self._pause_latencies)

    # -- the loop, in the worker thread --------------------------------------------------------

    def _progress(self, now: float, window_start: float, its_in_window: int, elapsed: float):
        """A Progress of the iterations recorded since the previous one (fresh arrays), or None if nothing
        changed. Only with the trainer's turn."""
        h = self.history
        rows, vals = h.since(self._emitted), h.val_since(self._val_emitted)
        t = self.trainer
        if rows.start == rows.stop and vals.start == vals.stop and t.iteration == self._emitted_iteration:
            return None
        self._emitted_iteration = t.iteration
        span = now - window_start
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
        return progress

    def _take_emission(self, now, window_start, its_in_window, elapsed) -> list:
        """The signals that hand over what was recorded since the last emit: [(signal, value), ...]."""
        progress = self._progress(now, window_start, its_in_window, elapsed)
        samples, self._samples = self._samples, []
        flows, self._flows = self._flows, []
        out = [(self.flowed, flows)] if flows else []
        out += [(self.progressed, progress)] if progress is not None else []
        out += [(self.sampled, samples)] if samples else []
        return out

    def _record(self, snap) -> None:
        """Record one step: its history row; its sample and gradient flow for the next emit (after the progress
        covering them, each kind in one signal). Only with the trainer's turn."""
        self.history.append_snapshot(snap)
        if snap.sample is not None:
            self._samples.append(snap.sample)
        if snap.grad_flow is not None:
            self._flows.append(snap.grad_flow)

    def _record_remote(self, snaps, state) -> str | None:
        """Record the child's steps as if they had been taken here; take its trainer's state once its run has ended
        (else only the counters the window reads directly). The divergence of the last step, if it diverged."""
        for snap in snaps:
            self._record(snap)
        t = self.trainer
        if state is not None:
            t.set_state(state)  # exact again (its restore point is its own, untouched)
            self._handed_over = None
        elif snaps:
            last = snaps[-1]
            t.iteration, t.chars_seen, t.smooth_loss = last.iteration, last.chars_seen, last.smooth_loss
        return snaps[-1].diverged if snaps else None

    def take_flows(self) -> list:
        """The gradient-flow measurements not emitted yet (handed over: they will not be). Only with the trainer's
        turn (e.g. inside hold())."""
        flows, self._flows = self._flows, []
        return flows

    def take_samples(self) -> list:
        """The samples drawn but not emitted yet (handed over: they will not be). Only with the trainer's turn."""
        samples, self._samples = self._samples, []
        return samples

    @staticmethod
    def _emit(signals) -> None:
        for signal, value in signals:
            signal.emit(value)

    def _loop(self) -> None:
        from core import DivergedError

        running_since: float | None = None  # when the current run started
        window_start = last_yield = time.perf_counter()
        last_step = float("-inf")  # when the last step of this run started (for the speed limit)
        its_in_window = 0
        cond = self._cond
        remote = False  # the child process has the trainer (a run started and not yet called back)
        process = lease() if fits(self.trainer) else None  # None: every step here, in this thread
        try:
            with blas_limit():
                while True:
                    # Decide under the lock; take the trainer's turn for the work.
                    with cond:
                        now = time.perf_counter()
                        if remote:  # the child has the trainer (and the turn): let it go on, or call it back
                            go_on = (self._run and not self._stop and not self._holds and not self._live
                                     and self._speed <= 0 and self._budget is None)
                            action = "remote" if go_on else "recall"
                            elapsed = self._elapsed + (now - running_since)
                        elif self._stop:
                            break
                        elif self._holds:
                            cond.wait(PARK_POLL)
                            continue
                        elif not self._run:
                            if running_since is None:
                                cond.wait(PARK_POLL * 10)
                                continue
                            action = "park"  # just parked: account for the run, hand everything over
                            if self._pause_requested_at is not None:
                                self._pause_latencies.append(now - self._pause_requested_at)
                                self._pause_requested_at = None
                            self._elapsed += now - running_since
                            elapsed = self._elapsed
                            running_since = self._running_since = None
                        else:
                            wait = last_step + 1.0 / self._speed - now if self._speed > 0 else 0.0
                            if wait > 0:  # paced: sleep in slices; pause, stop and speed changes notify
                                cond.wait(min(wait, PARK_POLL))
                                continue
                            action = "step"
                            if running_since is None:
                                running_since = self._running_since = window_start = last_yield = now
                                its_in_window = 0
                            elapsed = self._elapsed + (now - running_since)
                            live, self._live = self._live, {}
                            if (process is not None and not live and self._speed <= 0 and self._budget is None
                                    and not self.trainer.diverged and process.ready()):
                                action = "remote"  # unlimited, unheld, nothing to apply: the child steps
                        self._stepping = True
                    # The trainer's turn: no lock held.
                    emit, diverged, stepped, turn_start = [], None, [], now
                    try:
                        if action in ("remote", "recall"):
                            remote = False  # until the child has answered: an error leaves the trainer here
                            if not process.running:
                                self._handed_over = self.trainer.get_state()
                                process.start_run(self.trainer)
                                self.process_pid = process.pid
                            stepped, state = process.receive(REMOTE_WAIT) if action == "remote" else process.recall()
                            diverged = self._record_remote(stepped, state)
                            remote = state is None
                        elif action == "park":
                            emit = self._take_emission(now, window_start, its_in_window, elapsed)
                            emit.append((self.paused, self.trainer.iteration))
                            last_step = float("-inf")
                        else:
                            if live:
                                self.trainer.set_live(**live)
                            last_step = now
                            try:
                                snap = self.trainer.step()
                            except DivergedError as e:
                                snap, diverged = None, str(e)
                            if snap is not None:
                                self._record(snap)
                                diverged = snap.diverged
                                stepped = [snap]
                        if stepped:  # steps taken here or in the child: emit what they recorded when it is time
                            its_in_window += sum(1 for snap in stepped if not snap.diverged)
                            now = time.perf_counter()
                            if diverged or now - window_start >= EMIT_INTERVAL:
                                emit = self._take_emission(now, window_start, its_in_window,
                                                           elapsed + (now - turn_start))
                                window_start, its_in_window = now, 0
                        with cond:
                            if diverged:
                                self._run = False
                                self._budget = None
                                self._pause_requested_at = None
                            elif action == "step" and self._budget is not None:
                                self._budget -= 1
                                if self._budget <= 0:
                                    self._budget = None
                                    self._run = False
                        # Signals: no lock held, but the turn kept until they are sent, so that a GUI hold (which
                        # waits for the turn) finds everything taken from the trainer for them already posted.
                        self._emit(emit)
                        if diverged:
                            self.diverged.emit(diverged)
                    finally:
                        with cond:
                            self._stepping = remote  # while the child has the trainer, nobody else does
                            cond.notify_all()
                    if action == "step" and now - last_yield >= YIELD_EVERY:
                        time.sleep(YIELD_SLEEP)  # let the GUI thread take the GIL
                        last_yield = time.perf_counter()
        except Exception as e:  # never raised in the thread: reported as a signal
            with cond:
                self._run = False
                self._stepping = False
            if self._handed_over is not None:  # the child had the model: it is as it was when handed over
                self.trainer.set_state(self._handed_over)
                self._handed_over = None
            if isinstance(e, TrainingProcessError):  # its message is the user's one line
                self.failed.emit(f"training stopped: {e}")
            else:
                traceback.print_exc(file=sys.stderr)
                self.failed.emit(f"training stopped: {type(e).__name__}: {e}")
        finally:
            if process is not None:
                give_back(process)
            self._final_flush(running_since, window_start, its_in_window)
            self.finished.emit()

    def _final_flush(self, running_since, window_start, its_in_window) -> None:
        """At the end of the loop: account for the run and hand over what is left (after any GUI hold)."""
        now = time.perf_counter()
        with self._cond:
            if running_since is not None:
                self._elapsed += now - running_since
            elapsed = self._elapsed
            self._running_since = None
            deadline = now + FINAL_HOLD_WAIT
            while self._holds and time.perf_counter() < deadline:
                self._cond.wait(PARK_POLL)
            if self._holds:  # pragma: no cover - a hold that outlives the loop: leave the trainer alone
                return
            self._stepping = True
        try:
            self._emit(self._take_emission(now, window_start, its_in_window, elapsed))  # sent before the turn ends
        except Exception:  # pragma: no cover - reporting must not mask the real error
            traceback.print_exc(file=sys.stderr)
        finally:
            with self._cond:
                self._stepping = False
                self._cond.notify_all()


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
        thread = self._thread
        return thread is not None and not thread._joined and thread.isRunning()

    def join(self, timeout: float = 600.0) -> bool:
        thread = self._thread
        if thread is None:
            return True
        done = thread.join(timeout)
        if done:
            self._thread = None  # joined and being deleted: nothing refers to it any more
        return done

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
