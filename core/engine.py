"""The engine: the one owner of a Trainer and of the run it writes; commands run only between two steps.

Who talks to whom::

    window --signals--> client --commands (picklable)--> Engine --step()--> core.Trainer
       ^                  |                                |  \\
       +-----signals------+<------ Batch (picklable) ------+   +--record()--> RunRecorder --> run folder
                                                                              (run.json, metrics.jsonl,
    charrnn-train (no window): Engine.submit / poll / call                     samples.jsonl, checkpoints/)

Nothing but the engine touches the trainer or the recorder: a driver sends commands and reads outputs.
The engine never starts a thread, never prints and never imports Qt, so the same object runs

* in the CLI's single thread: `submit(Start(...))`, then `poll(seconds)` in a loop until the batch's state is
  not RUNNING; a signal handler may `submit(Stop(...))` at any moment (the queue is a deque: appending is
  atomic), and the stop is executed between two steps;
* in a child process: `serve(engine, conn)` reads (id, command) pairs from a pipe between steps (the engine's
  `inbox`, at most every INBOX_SECONDS while training), blocks on the pipe while idle (`wait_hint()`), sends
  each Batch back, and stops the run as interrupted when the other end goes away. The app's client (a later
  change) is the other end.

Commands (frozen dataclasses): Start, Pause, Step, Speed, Live, SaveCheckpoint, SampleNow, Weights, Peek,
Restore, Status, SetBaselines, CheckpointExtras, Stop. Each one gets exactly one Answer (its value, or a one-line
error: an unknown command or a bad value is an error answer, never an exception). Commands are executed in the
order submitted, all of them before the next step, so a command submitted while a step is under way takes effect
at the next step boundary.

Outputs, gathered into one Batch per poll: Rows (one per completed step: the progress curves, columnar),
samples (core.trainer.Sample, with the states the heatmap draws), gradient-flow measurements
(core.gradflow.GradFlow), events (started, paused at N, done when a Start's budget is spent, diverged with the
reason, failed with one line, checkpoint saved or not, warning, ended, run opened at the first start) and
answers. Every field pickles.
"""

from __future__ import annotations

import itertools
import math
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from .checkpoint import save_checkpoint
from .runs.recorder import NoRecorder
from .trainer import LIVE_SETTINGS, DivergedError
from .unroll import peek_window

IDLE, RUNNING, STOPPED = "idle", "running", "stopped"  # the engine's states
INBOX_SECONDS = 0.002  # while training, the inbox (a pipe) is read between steps at most this often
# Event kinds: training started (or resumed); paused at N; done (a Start's budget spent); diverged (why); failed
# (one line); checkpoint saved (the path) or not (why); a warning (a run write that failed); the run ended (how);
# the run opened (its folder, when the engine was given open_run).
STARTED, PAUSED, DONE, DIVERGED, FAILED = "started", "paused", "done", "diverged", "failed"
CHECKPOINT, CHECKPOINT_FAILED, WARNING, ENDED = "checkpoint", "checkpoint_failed", "warning", "ended"
RUN = "run"  # a run opened at the first Start or Step (open_run): its folder


# -- commands ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Start:
    """Train (or resume) until paused, stopped, diverged, or the budget given here is spent (event `done`)."""

    iterations: int | None = None  # iterations to train from now (None: no limit)
    seconds: float | None = None  # wall seconds to train from now (None: no limit)


@dataclass(frozen=True)
class Pause:
    """Stop stepping after the step under way (event `paused` at the iteration reached)."""


@dataclass(frozen=True)
class Step:
    """Train exactly n more iterations, then pause; steps asked for while stepping add up."""

    n: int = 1  # iterations


@dataclass(frozen=True)
class Speed:
    """Train at most this many iterations a second (0: as fast as it goes)."""

    its_per_second: float = 0.0  # iterations per second, 0 for no limit


@dataclass(frozen=True)
class Live:
    """Change settings from the next step: learning_rate, temperature, sample_every, sample_length,
    grad_flow_every (core.trainer.LIVE_SETTINGS)."""

    settings: dict = field(default_factory=dict)  # name -> value


@dataclass(frozen=True)
class SaveCheckpoint:
    """Save the model now; the answer's value is the path written."""

    path: str | None = None  # a .npz file; None: the run's checkpoints/latest.npz
    extras: dict | None = None  # extra arrays stored beside the model (e.g. the app's curves)


@dataclass(frozen=True)
class SampleNow:
    """Sample from the current weights and stream 0's carried state without touching training (a NowSample)."""

    length: int = 200  # characters generated after the prime
    prime: str = ""  # text read first
    temperature: float | None = None  # None: the trainer's live temperature
    argmax: bool = False  # always take the most likely character
    seed: int | None = None  # the sampling's own random generator; same seed, same text
    record: bool = True  # write it into the run's samples.jsonl


@dataclass(frozen=True)
class Weights:
    """A copy of every parameter ({name: array}); changing it changes nothing in the engine."""


@dataclass(frozen=True)
class Peek:
    """The window the next iteration trains on (one stream), the state carried into it and a copy of the weights,
    all from one moment between two steps (a Peeked; for the Unrolled view and the inspector)."""

    stream: int = 0  # which of the B streams


@dataclass(frozen=True)
class SetBaselines:
    """Write the corpus's n-gram baselines into the run's run.json now ({"1-gram": held-out bits/char, ...}), or
    when the run opens (open_run); the answer is True when written or kept for that run, False without a run."""

    baselines: dict = field(default_factory=dict)  # label -> bits per character


@dataclass(frozen=True)
class CheckpointExtras:
    """Extra arrays stored with every checkpoint the run saves from now on (latest.npz, best.npz: e.g. the app's
    curves and its JSON meta, core.checkpoint's extras); None stores none. The answer is the names stored."""

    extras: dict | None = None  # name -> array


@dataclass(frozen=True)
class Restore:
    """Go back to the weights from before the last live learning-rate change (a RestoreInfo)."""


@dataclass(frozen=True)
class Status:
    """The engine's state now (an EngineStatus)."""


@dataclass(frozen=True)
class Stop:
    """End the run: pause, say how it ended, save latest.npz, close the run (a Stopped). Afterwards only
    SaveCheckpoint, SampleNow, Weights, Peek, Status and Stop are answered; the rest are errors."""

    outcome: str = "finished"  # finished or interrupted (a divergence already said diverged)
    reason: str | None = None  # why, for run.json


AFTER_STOP = (SaveCheckpoint, SampleNow, Weights, Peek, Status, Stop)  # what a stopped engine still does


# -- outputs ----------------------------------------------------------------------------------------------------

@dataclass
class Answer:
    """The answer to one command: a value, or a one-line error."""

    id: int  # the id submit() gave (or was given)
    command: str  # the command's class name
    value: object = None  # what it returned
    error: str | None = None  # why it was refused or failed

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class Event:
    """Something that happened between or during steps."""

    kind: str  # STARTED, PAUSED, DONE, DIVERGED, FAILED, CHECKPOINT, CHECKPOINT_FAILED, WARNING, ENDED, RUN
    iteration: int  # completed iterations when it happened
    message: str = ""  # the reason, the path, the warning or the outcome
    learning_rate: float | None = None  # DIVERGED: the rate of the update that failed


@dataclass
class Rows:
    """One row per completed step, columnar (n rows), and the evaluations among them (m)."""

    iteration: np.ndarray  # (n,) int64 completed iterations
    loss: np.ndarray  # (n,) float64 the window's loss summed over T, mean over B
    loss_per_char: np.ndarray  # (n,) float64 nats per character
    smooth_loss: np.ndarray  # (n,) float64 the lesson's moving average
    chars_seen: np.ndarray  # (n,) int64 training characters consumed
    epoch: np.ndarray  # (n,) float64 passes over the training text
    learning_rate: np.ndarray  # (n,) float64 the rate of each update
    time: np.ndarray  # (n,) float64 the engine's clock when the step ended
    val_iteration: np.ndarray  # (m,) int64 iterations that evaluated
    val_bpc: np.ndarray  # (m,) float64 held-out bits per character

    def __len__(self) -> int:
        return len(self.iteration)

    @classmethod
    def of(cls, snaps: list, times: list) -> "Rows":
        """Rows from core.trainer.Snapshots and their end times."""
        f = lambda name: np.array([getattr(s, name) for s in snaps], dtype=np.float64)  # noqa: E731
        vals = [s for s in snaps if s.val_bpc is not None]
        return cls(np.array([s.iteration for s in snaps], dtype=np.int64), f("loss"), f("loss_per_char"),
                   f("smooth_loss"), np.array([s.chars_seen for s in snaps], dtype=np.int64), f("epoch"),
                   f("learning_rate"), np.array(times, dtype=np.float64),
                   np.array([s.iteration for s in vals], dtype=np.int64),
                   np.array([s.val_bpc for s in vals], dtype=np.float64))


@dataclass
class Batch:
    """What the engine produced since the previous batch, in step order within each list."""

    rows: Rows | None  # progress rows of the steps taken (None: no step)
    samples: list  # core.trainer.Sample drawn during those steps, oldest first
    flows: list  # core.gradflow.GradFlow measured during those steps, oldest first
    events: list  # Event, in the order they happened
    answers: list  # Answer, in the order the commands were executed
    iteration: int  # completed iterations now
    state: str  # IDLE, RUNNING or STOPPED now
    elapsed: float  # seconds spent training so far (paused time left out)
    its_per_sec: float  # iterations per second over this batch's steps (0 when unknown)

    def events_of(self, kind: str) -> list:
        return [e for e in self.events if e.kind == kind]


@dataclass
class NowSample:
    """A SampleNow's answer: the text with the states after each character, and what drew it."""

    iteration: int  # completed iterations of the weights sampled
    prime: str  # text read first
    temperature: float  # temperature used
    argmax: bool  # greedy
    result: object  # core.sample.SampleResult: text, hidden (len, H), ids, states


@dataclass
class Peeked:
    """A Peek's answer: what the next iteration trains on, consistent with the weights copied."""

    iteration: int  # completed iterations of these weights
    params: dict  # a copy of every parameter {name: array}
    ids: np.ndarray  # (T,) the window's inputs
    targets: np.ndarray  # (T,) its targets
    state0: np.ndarray  # (K, H) the state carried into the window
    temperature: float  # the live sampling temperature
    streams: int  # B, the number of streams
    stream: int  # the stream peeked


@dataclass
class RestoreInfo:
    """A Restore's answer: the point gone back to (its weights stay in the engine)."""

    iteration: int  # completed iterations when the point was taken
    learning_rate: float  # the rate in force again
    new_learning_rate: float  # the rate that had been set after it
    smooth_loss: float  # the smooth loss then


@dataclass
class EngineStatus:
    """A Status's answer."""

    state: str  # IDLE, RUNNING or STOPPED
    iteration: int  # completed iterations
    learning_rate: float  # the live learning rate
    speed: float  # its/s limit, 0 for none
    diverged: str | None  # why training diverged, while it stays diverged
    has_restore_point: bool  # a Restore would succeed
    run_path: str | None  # the run folder written (None: no run)
    run_saved_at: int | None  # iteration of the run's last latest.npz
    elapsed: float  # training seconds (the earlier ones of a resumed checkpoint included)
    epoch: float = 0.0  # passes over the training text
    chars_seen: int = 0  # training characters consumed
    restore_point: RestoreInfo | None = None  # where a Restore would go back to (the divergence dialog says it)
    live: dict = field(default_factory=dict)  # the live settings in force (core.trainer.LIVE_SETTINGS)


@dataclass
class Stopped:
    """A Stop's answer."""

    iteration: int  # completed iterations at the end
    outcome: str | None  # how the run ended (diverged, finished, interrupted), None without a run
    saved_at: int | None  # iteration of the run's last latest.npz
    warnings: list  # writes that failed while closing the run


# -- the engine -------------------------------------------------------------------------------------------------

class Engine:
    """Owns a Trainer and its RunRecorder; executes commands between steps and batches what the steps produce.

    recorder: the run written from now on; or open_run: a function that returns (recorder, warnings), called at
    the first Start or Step (the app's rule: a model that is never trained writes no run). An open_run that raises
    leaves the training unrecorded, with a WARNING event that says why; one that works says RUN with the run's
    folder, and a WARNING for each of its warnings (e.g. a run that could not be continued). elapsed: training
    seconds before this engine (a resumed checkpoint's)."""

    def __init__(self, trainer, recorder=None, *, checkpoint_to: str | None = None,
                 checkpoint_every: int | None = None, save=save_checkpoint, clock=time.perf_counter, inbox=None,
                 elapsed: float = 0.0, open_run=None):
        self._trainer = trainer
        self._inbox = inbox  # inbox() -> iterable of (id, command) that arrived, read between steps
        self._inbox_read = -math.inf  # clock when the inbox was last read
        self._recorder = recorder if recorder is not None else NoRecorder()
        self._open_run = open_run  # () -> (recorder, warnings), called at the first Start or Step
        self._baselines: dict | None = None  # kept for a run not opened yet
        self._checkpoint_to = checkpoint_to  # also saved every checkpoint_every iterations (the CLI's --checkpoint)
        self._checkpoint_every = checkpoint_every
        self._save = save  # save(trainer, path[, extras=...]) writes a checkpoint
        self._clock = clock
        self._queue: deque = deque()  # (id, command) not yet executed
        self._ids = itertools.count(1)
        self._state = IDLE
        self._steps_left: int | None = None  # a Step's or a Start's iterations still to train
        self._until: float | None = None  # a Start's clock deadline
        self._budget_event = PAUSED  # what spending _steps_left says: PAUSED after a Step, DONE after a Start
        self._speed = 0.0
        self._last_step = -math.inf  # clock when the last step started (for the speed limit)
        self._elapsed = float(elapsed)  # training seconds up to the last pause (elapsed: those before this engine)
        self._running_since: float | None = None
        self._paused_since: float | None = clock()  # while not training (before the first start too)
        self._snaps: list = []
        self._times: list = []
        self._samples: list = []
        self._flows: list = []
        self._events: list = []
        self._answers: list = []

    # -- driving ------------------------------------------------------------------------------------------------

    def submit(self, command, id: int | None = None) -> int:
        """Queue a command for the next step boundary; returns its id (the one given, e.g. by a client)."""
        id = next(self._ids) if id is None else int(id)
        self._queue.append((id, command))
        return id

    def call(self, command) -> Answer:
        """Execute a command now (with the queue before it; no step is taken) and return its Answer, which is then
        not repeated in the next batch. For a driver in the engine's own thread, between polls."""
        id = self.submit(command)
        self._execute_queued()
        for i, answer in enumerate(self._answers):
            if answer.id == id:
                return self._answers.pop(i)
        raise AssertionError("unanswered command")  # pragma: no cover - every executed command is answered

    def poll(self, budget_seconds: float = 0.0) -> Batch:
        """Execute queued commands, then train (executing commands between steps) until budget_seconds have passed,
        the engine stops running, or a speed limit's wait would outlast the budget; returns what happened. At
        least one step is taken when running and not paced."""
        clock = self._clock
        deadline = clock() + budget_seconds
        while True:
            self._execute_queued()
            if self._state != RUNNING:
                break
            now = clock()
            if self._until is not None and now >= self._until:
                self._spent()
                continue
            wait = self._last_step + 1.0 / self._speed - now if self._speed > 0 else 0.0
            if wait > 0:
                if now + wait > deadline:
                    break
                time.sleep(wait)
                continue
            self._step(now)
            if clock() >= deadline:
                self._execute_queued()  # a command that came during the last step is answered in this batch
                break
        return self._take_batch()

    def run_until_idle(self, max_batches: int | None = None, budget_seconds: float = 0.05) -> list[Batch]:
        """poll() until the engine is not running (or max_batches were taken); the batches."""
        batches = [self.poll(budget_seconds)]
        while batches[-1].state == RUNNING and (max_batches is None or len(batches) < max_batches):
            batches.append(self.poll(budget_seconds))
        return batches

    def wait_hint(self) -> float | None:
        """Seconds until the engine wants to step again: 0 while running unpaced, the pacing wait, or None when
        idle or stopped (a driver may then block on its command pipe)."""
        if self._state != RUNNING:
            return None if not self._queue else 0.0
        if self._speed > 0:
            return max(0.0, self._last_step + 1.0 / self._speed - self._clock())
        return 0.0

    @property
    def state(self) -> str:
        return self._state

    @property
    def iteration(self) -> int:
        return self._trainer.iteration

    @property
    def elapsed(self) -> float:
        """Training seconds so far (paused time left out)."""
        since = self._running_since
        return self._elapsed + (self._clock() - since if since is not None else 0.0)

    # -- steps --------------------------------------------------------------------------------------------------

    def _step(self, now: float) -> None:
        """One training step and everything recorded about it."""
        t = self._trainer
        self._last_step = now
        try:
            try:
                snap = t.step()
            except DivergedError as e:  # stepped while diverged (a Restore or Start clears it first)
                self._diverged(str(e), t.learning_rate)
                return
            for warning in self._recorder.record(snap):
                self._event(WARNING, warning)
        except Exception as e:  # a fault in the trainer or the recorder: the run says interrupted, with why
            self._fail(e)
            return
        if snap.sample is not None:
            self._samples.append(snap.sample)
        if snap.grad_flow is not None:
            self._flows.append(snap.grad_flow)
        if snap.diverged:
            self._diverged(snap.diverged, snap.learning_rate)
            return
        self._snaps.append(snap)
        self._times.append(self._clock())
        every = self._checkpoint_every
        if self._checkpoint_to and every and snap.iteration % every == 0:
            try:
                self._save(t, self._checkpoint_to)
                self._event(CHECKPOINT, self._checkpoint_to)
            except OSError as e:  # e.g. a full disk: the previous checkpoint is intact; training goes on
                self._event(CHECKPOINT_FAILED, os_message(e))
        if self._steps_left is not None:
            self._steps_left -= 1
            if self._steps_left <= 0:
                self._spent()

    def _spent(self) -> None:
        """A Step's or a Start's budget is spent: pause, saying so."""
        self._park(self._budget_event)

    def _diverged(self, reason: str, learning_rate: float) -> None:
        self._park(None)
        self._events.append(Event(DIVERGED, self._trainer.iteration, reason, float(learning_rate)))

    def _fail(self, e: Exception) -> None:
        message = one_line(f"{type(e).__name__}: {e}")
        self._park(None)
        self._recorder.end("interrupted", message)
        self._event(FAILED, message)

    def _event(self, kind: str, message: str = "") -> None:
        self._events.append(Event(kind, self._trainer.iteration, message))

    def _run(self, steps: int | None, until: float | None, budget_event: str) -> None:
        """Start running (from idle) or change the running budget."""
        t = self._trainer
        if t.diverged:
            t.clear_divergence()  # go on from the last finite weights (usually at a lower rate)
        self._steps_left, self._until, self._budget_event = steps, until, budget_event
        if self._state == RUNNING:
            return
        if self._open_run is not None:
            self._begin_run()
        now = self._clock()
        if self._paused_since is not None:  # the run's clock leaves the pause out
            self._recorder.paused(now - self._paused_since)
            self._paused_since = None
        self._state = RUNNING
        self._running_since = now
        self._event(STARTED)

    def _begin_run(self) -> None:
        """Open the run (open_run) at the first Start or Step, with the extras and baselines already given."""
        open_run, self._open_run = self._open_run, None
        extras = self._recorder.extras
        try:
            recorder, warnings = open_run()
        except Exception as e:
            text = os_message(e) if isinstance(e, OSError) else str(e) or type(e).__name__
            self._event(WARNING, one_line(f"{text}; this training is not recorded as a run"))
            return
        self._recorder = recorder
        self._paused_since = self._clock()  # the run's clock starts now
        if extras is not None:
            recorder.set_extras(extras)
        baselines, self._baselines = self._baselines, None
        if getattr(recorder, "path", None) is not None:
            self._event(RUN, recorder.path)
        warnings = list(warnings) + (recorder.set_baselines(baselines) if baselines else [])
        for warning in warnings:
            self._event(WARNING, warning)

    def _park(self, event: str | None) -> None:
        """Stop running (after a budget, a pause, a divergence, a failure or a stop)."""
        if self._state != RUNNING:
            return
        now = self._clock()
        self._elapsed += now - self._running_since
        self._running_since = None
        self._paused_since = now
        self._state = IDLE
        self._steps_left = self._until = None
        self._last_step = -math.inf
        if event is not None:
            self._event(event)

    # -- commands -----------------------------------------------------------------------------------------------

    def _execute_queued(self) -> None:
        queue = self._queue
        if self._inbox is not None:  # while running, at most every INBOX_SECONDS (a pipe's poll costs ~3 µs)
            now = self._clock()
            if self._state != RUNNING or now - self._inbox_read >= INBOX_SECONDS:
                self._inbox_read = now
                for id, command in self._inbox():
                    self.submit(command, id)
        while queue:
            id, command = queue.popleft()
            self._answers.append(self._execute(id, command))

    def _execute(self, id: int, command) -> Answer:
        """Run one command; its Answer (an error answer for anything it raises)."""
        name = type(command).__name__
        handler = _HANDLERS.get(type(command))
        if handler is None:
            return Answer(id, name, error=f"unknown command: {name}")
        if self._state == STOPPED and not isinstance(command, AFTER_STOP):
            return Answer(id, name, error=f"{name} refused: the engine has stopped")
        try:
            return Answer(id, name, handler(self, command))
        except Exception as e:
            text = str(e) if isinstance(e, ValueError) else os_message(e) if isinstance(e, OSError) else \
                f"{type(e).__name__}: {e}"
            return Answer(id, name, error=one_line(text))

    def _do_start(self, c: Start) -> int:
        if c.iterations is not None and int(c.iterations) < 1:
            raise ValueError("iterations must be positive")
        if c.seconds is not None and not c.seconds > 0:
            raise ValueError("seconds must be positive")
        until = None if c.seconds is None else self._clock() + float(c.seconds)
        self._run(None if c.iterations is None else int(c.iterations), until, DONE)
        return self._trainer.iteration

    def _do_pause(self, c: Pause) -> int:
        self._park(PAUSED)
        return self._trainer.iteration

    def _do_step(self, c: Step) -> int:
        n = int(c.n)
        if n < 1:
            raise ValueError("step needs a positive number of iterations")
        if self._state == RUNNING and self._steps_left is not None and self._budget_event == PAUSED:
            n += self._steps_left  # still stepping: these come after
        self._run(n, None, PAUSED)
        return self._trainer.iteration

    def _do_speed(self, c: Speed) -> float:
        speed = float(c.its_per_second or 0.0)
        if not speed >= 0 or math.isinf(speed):
            raise ValueError("speed must be a finite number of iterations per second, 0 for no limit")
        self._speed = speed
        return speed

    def _do_live(self, c: Live) -> dict:
        self._trainer.set_live(**c.settings)
        return dict(c.settings)

    def _do_save(self, c: SaveCheckpoint) -> str:
        t = self._trainer
        if not all(np.isfinite(p).all() for p in t.params.values()):
            raise ValueError("the weights are not finite, so they were not saved")
        if c.path is None:
            rec = self._recorder
            if getattr(rec, "path", None) is None:
                raise ValueError("there is no run to save into")
            warnings: list[str] = []
            if not rec.save_latest(warnings):
                raise ValueError(warnings[0] if warnings else "the run's checkpoint was not saved")
            self._event(CHECKPOINT, rec.latest_checkpoint)
            return rec.latest_checkpoint
        if c.extras is None:
            self._save(t, c.path)
        else:
            self._save(t, c.path, extras=c.extras)
        self._event(CHECKPOINT, c.path)
        return c.path

    def _do_sample(self, c: SampleNow) -> NowSample:
        t = self._trainer
        length = int(c.length)
        if length < 1:
            raise ValueError("sample length must be positive")
        temperature = t.temperature if c.temperature is None else float(c.temperature)
        if not temperature > 0:
            raise ValueError("temperature must be positive")
        result = t.sample_now(length=length, prime=c.prime, temperature=temperature, argmax=bool(c.argmax),
                              seed=c.seed)
        if c.record:  # beside the training samples (greedy: no temperature)
            for warning in self._recorder.record_sample(t.iteration, result.text,
                                                         None if c.argmax else temperature, c.prime):
                self._event(WARNING, warning)
        return NowSample(t.iteration, c.prime, temperature, bool(c.argmax), result)

    def _do_weights(self, c: Weights) -> dict:
        return {k: v.copy() for k, v in self._trainer.params.items()}

    def _do_peek(self, c: Peek) -> Peeked:
        t = self._trainer
        B = int(t.config.batch_size)
        stream = int(c.stream)
        if not 0 <= stream < B:
            raise ValueError(f"stream must be from 0 to {B - 1}")
        ids, targets, state0 = peek_window(t, stream)  # (T,), (T,), (K, H)
        return Peeked(int(t.iteration), {k: v.copy() for k, v in t.params.items()}, ids, targets, state0,
                      float(t.temperature), B, stream)

    def _do_baselines(self, c: SetBaselines) -> bool:
        baselines = {str(k): float(v) for k, v in dict(c.baselines).items()}
        rec = self._recorder
        if self._open_run is not None:  # written when the run opens
            self._baselines = baselines
            return True
        if getattr(rec, "path", None) is None:
            return False
        warnings = rec.set_baselines(baselines)
        for warning in warnings:
            self._event(WARNING, warning)
        return not warnings

    def _do_extras(self, c: CheckpointExtras) -> list:
        extras = None if c.extras is None else {str(k): np.asarray(v) for k, v in dict(c.extras).items()}
        self._recorder.set_extras(extras)
        return sorted(extras or ())

    def _do_restore(self, c: Restore) -> RestoreInfo:
        point = self._trainer.restore()
        return RestoreInfo(point.iteration, point.learning_rate, point.new_learning_rate, point.smooth_loss)

    def _do_status(self, c: Status) -> EngineStatus:
        t, rec = self._trainer, self._recorder
        p = t.restore_point
        point = None if p is None else RestoreInfo(p.iteration, p.learning_rate, p.new_learning_rate, p.smooth_loss)
        return EngineStatus(self._state, t.iteration, t.learning_rate, self._speed, t.diverged,
                            p is not None, rec.path, rec.saved_at, self.elapsed, float(t.epoch), int(t.chars_seen),
                            point, {k: getattr(t, k) for k in LIVE_SETTINGS})

    def _do_stop(self, c: Stop) -> Stopped:
        rec = self._recorder
        if self._state == STOPPED:
            return Stopped(self._trainer.iteration, rec.outcome, rec.saved_at, [])
        self._park(None)
        rec.end(c.outcome, c.reason)
        warnings = rec.close()
        self._state = STOPPED
        self._event(ENDED, rec.outcome or c.outcome)
        return Stopped(self._trainer.iteration, rec.outcome, rec.saved_at, warnings)

    # -- outputs ------------------------------------------------------------------------------------------------

    def _take_batch(self) -> Batch:
        """Everything gathered since the last batch (the lists handed over, fresh ones started)."""
        snaps, times = self._snaps, self._times
        rows = Rows.of(snaps, times) if snaps else None
        span = times[-1] - times[0] if len(times) > 1 else 0.0
        its = (len(times) - 1) / span if span > 0 else 0.0
        batch = Batch(rows, self._samples, self._flows, self._events, self._answers, self._trainer.iteration,
                      self._state, self.elapsed, its)
        self._snaps, self._times, self._samples, self._flows, self._events, self._answers = [], [], [], [], [], []
        return batch


_HANDLERS = {Start: Engine._do_start, Pause: Engine._do_pause, Step: Engine._do_step, Speed: Engine._do_speed,
             Live: Engine._do_live, SaveCheckpoint: Engine._do_save, SampleNow: Engine._do_sample,
             Weights: Engine._do_weights, Peek: Engine._do_peek, Restore: Engine._do_restore,
             Status: Engine._do_status, SetBaselines: Engine._do_baselines, CheckpointExtras: Engine._do_extras,
             Stop: Engine._do_stop}


def one_line(text) -> str:
    """text with every run of whitespace (newlines included) made one space."""
    return " ".join(str(text).split())


def os_message(e: OSError) -> str:
    """An OSError as 'reason: file' (or just the reason when no file is named)."""
    reason = e.strerror or str(e)
    return f"{reason}: {e.filename}" if e.filename else reason


def serve(engine: Engine, conn, budget_seconds: float = 0.02) -> str:
    """Drive an engine from a pipe (a multiprocessing Connection) until it stops or the pipe closes: the other end
    sends (id, command) pairs, read between steps (every INBOX_SECONDS at most), and receives each Batch that
    holds anything. No thread: when the engine is idle it blocks on the pipe. A closed pipe stops the run as
    interrupted. Returns why it returned ("stopped" or "pipe closed")."""
    closed = []

    def inbox():
        pairs = []
        try:
            while not closed and conn.poll(0):
                pairs.append(conn.recv())
        except (EOFError, OSError):  # the other end went away: end the run as interrupted, keeping its checkpoint
            closed.append(True)
            pairs.append((0, Stop("interrupted", "the engine's client went away")))
        return pairs

    engine._inbox = inbox
    while True:
        hint = engine.wait_hint()
        if not closed:
            try:
                conn.poll(hint)  # None: block until a command comes (idle); else at most the pacing wait
            except (EOFError, OSError):
                pass  # the inbox finds out and stops the run
        batch = engine.poll(budget_seconds)
        if not closed and (batch.rows is not None or batch.samples or batch.flows or batch.events or batch.answers):
            try:
                conn.send(batch)
            except (EOFError, OSError):
                closed.append(True)
                engine.call(Stop("interrupted", "the engine's client went away"))
        if closed:
            return "pipe closed"
        if batch.state == STOPPED:
            return "stopped"

