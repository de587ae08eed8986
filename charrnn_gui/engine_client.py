"""The app's engine client: the engine runs in a process of its own; this QObject sends it commands and turns what
it produces into past-tense signals.

    client = EngineClient()
    client.opened.connect(...); client.progressed.connect(...); client.failed.connect(...)
    client.open({"corpus": "builtin:shakespeare", "config": preset("fast").to_dict(), "runs_folder": folder})
    client.start()                # Start(); answered through `answered`
    client.pause()                # waits at most 2 s; a hung engine is killed
    client.call(SampleNow(...))   # the Answer (value or one-line error) within the timeout
    client.peek()                 # the next training window, its carried state and the weights (the Unrolled view)
    client.set_baselines(bits)    # the n-gram baselines into run.json
    client.set_checkpoint_extras(extras)  # the app's curves and meta, saved with the run's latest/best.npz
    client.close()                # stops the engine (it closes its run) within 2 s, else kills it

The child (core.engine_process) owns the Trainer and writes the run; nothing here touches a trainer. A reader
thread (engine_link.EngineLink, no Qt) drains the pipe into a bounded mailbox, so a busy GUI thread never stalls
training, and this object empties the mailbox on a DRAIN_MS timer in the GUI thread, emitting the signals there
(so no slot ever runs in the reader thread). A thread rather than a QSocketNotifier: the notifier would read only
when the GUI thread is free, and a GUI thread blocked for a while would let the socket fill and the child wait.

Lifetimes: the link is finalized with this object (weakref.finalize, also at interpreter exit): the engine is
stopped (or killed after 2 s) and the reader joined, so a client garbage-collected or never closed leaves no child
and no thread, and the interpreter exits normally.
"""

from __future__ import annotations

import time
import weakref

from PySide6.QtCore import QObject, QTimer, Signal

from core.engine import (
    CHECKPOINT,
    CHECKPOINT_FAILED,
    DIVERGED,
    DONE,
    ENDED,
    FAILED,
    PAUSED,
    RUN,
    STARTED,
    WARNING,
    Answer,
    CheckpointExtras,
    Pause,
    Peek,
    SetBaselines,
    Start,
    Status,
    Step,
    Stop,
)

from .engine_link import PREFIX, EngineLink

DRAIN_MS = 15  # how often the mailbox is emptied into signals
COMMAND_SECONDS = 2.0  # Pause, Stop and close never wait on the engine longer than this


class EngineClient(QObject):
    """One engine process at a time, driven from the GUI thread; its outputs as signals."""

    opened = Signal(dict)  # the child built the training: vocab, sizes, run_path, iteration, pid (open_info)
    progressed = Signal(object)  # core.engine.Rows: the steps taken since the last signal (coalesced, maybe thinned)
    sampled = Signal(list)  # core.trainer.Sample, oldest first (the newest MAX_SAMPLES if the window fell behind)
    flowed = Signal(list)  # core.gradflow.GradFlow, oldest first
    started = Signal(int)  # training started or resumed at this iteration
    paused = Signal(int)  # training paused at this iteration (a Pause, or a Step's iterations done)
    done = Signal(int)  # a Start's budget was spent at this iteration
    diverged = Signal(str)  # why (the engine keeps the last finite weights and waits)
    checkpointed = Signal(str, int)  # a checkpoint was written to this path, of this iteration
    run_opened = Signal(str)  # the run's folder, opened at the first Start or Step (an open spec's run_on_start)
    warned = Signal(str)  # a run write or a checkpoint failed; training goes on
    answered = Signal(int, object)  # (id, core.engine.Answer) of a command sent with submit()
    failed = Signal(str)  # one line: training stopped, and why (the process ended, was killed, or failed)
    ended = Signal(str)  # the engine is gone: finished, interrupted, diverged (how the run ended) or failed

    def __init__(self, parent=None):
        super().__init__(parent)
        self._link: EngineLink | None = None
        self._finalizer = None
        self._timer = QTimer(self)
        self._timer.setInterval(DRAIN_MS)
        self._timer.timeout.connect(self._drain)
        self.info: dict | None = None  # the open info, once opened
        self.last_fault: str | None = None  # the last failed() line
        self.outcome: str | None = None  # how the engine's run ended (its ENDED event), once it did

    # -- lifetime -------------------------------------------------------------------------------------------------

    def open(self, spec: dict) -> None:
        """Start an engine process for a training (core.engine_process.open_engine's spec); a running one is
        closed first. `opened` or `failed` says how it went."""
        self.close()
        self.info = None
        self.last_fault = None
        self.outcome = None
        link = EngineLink(spec)
        self._link = link
        self._finalizer = weakref.finalize(self, link.shutdown)  # no reference to self: GC and exit stay clean
        self._timer.start()

    def close(self, outcome: str = "interrupted") -> None:
        """Stop the engine (it closes its run as outcome, saving latest.npz) within 2 s, else kill it; join the
        reader; emit what is left. Idempotent."""
        link, finalizer = self._link, self._finalizer
        if link is None:
            return
        link.shutdown(outcome, COMMAND_SECONDS)
        if finalizer is not None:
            finalizer.detach()
        self._drain()
        self._timer.stop()
        self._link = self._finalizer = None

    @property
    def running(self) -> bool:
        """Whether an engine process is up (opening or open)."""
        return self._link is not None and not self._link.gone

    @property
    def state(self) -> str:
        """opening, idle, running, stopped (core.engine), gone, or closed (no engine)."""
        return self._link.state if self._link is not None else "closed"

    @property
    def iteration(self) -> int:
        return self._link.iteration if self._link is not None else 0

    @property
    def elapsed(self) -> float:
        """Training seconds as of the last batch (paused time left out; a resumed checkpoint's included)."""
        return self._link.elapsed if self._link is not None else 0.0

    @property
    def its_per_sec(self) -> float:
        """Iterations per second over the last batch's steps (0 when unknown)."""
        return self._link.its_per_sec if self._link is not None else 0.0

    @property
    def pid(self) -> int | None:
        return self._link.process.pid if self._link is not None else None

    @property
    def reader(self):
        """The reader thread (tests check it ends)."""
        return self._link.thread if self._link is not None else None

    def pending(self) -> int:
        """Items waiting for the window (bounded: see engine_link)."""
        return self._link.pending() if self._link is not None else 0

    # -- commands -------------------------------------------------------------------------------------------------

    def submit(self, command) -> int:
        """Send a command without waiting; its id (its Answer comes through `answered`), or 0 when it could not be
        sent (then `answered` carries the error at once)."""
        if self._link is None:
            self.answered.emit(0, Answer(0, type(command).__name__, error="no engine is open"))
            return 0
        id = self._link.send(command)
        if isinstance(id, str):
            self.answered.emit(0, Answer(0, type(command).__name__, error=id))
            return 0
        return id

    def call(self, command, timeout: float = COMMAND_SECONDS) -> Answer:
        """Send a command and wait for its Answer (value, or a one-line error: refused, not answered within
        timeout seconds, or the engine gone). Never raises; blocks the caller at most timeout seconds."""
        if self._link is None:
            return Answer(0, type(command).__name__, error="no engine is open")
        return self._link.call(command, timeout)

    def start(self, iterations: int | None = None, seconds: float | None = None) -> int:
        return self.submit(Start(iterations, seconds))

    def step(self, n: int = 1) -> int:
        return self.submit(Step(n))

    def pause(self) -> Answer:
        """Pause after the step under way; waits at most 2 s, then kills a hung engine (failed says so). An engine
        busy in a step longer than that pauses after it (`paused` says when)."""
        return self._bounded(Pause())

    def status(self) -> Answer:
        return self._bounded(Status())

    def peek(self, stream: int = 0, timeout: float = COMMAND_SECONDS) -> Answer:
        """The next training window of a stream, the state carried into it and a copy of the weights, from one
        moment between two steps (an Answer whose value is a core.engine.Peeked)."""
        return self.call(Peek(stream), timeout)

    def set_baselines(self, baselines: dict) -> int:
        """Write the n-gram baselines ({"1-gram": bits/char, ...}) into the run's run.json; the command's id."""
        return self.submit(SetBaselines(dict(baselines)))

    def set_checkpoint_extras(self, extras: dict | None) -> int:
        """Arrays saved with every checkpoint of the run from now on (its latest.npz, also at close, and best.npz);
        sent before close() they are in the run's last checkpoint. The command's id."""
        return self.submit(CheckpointExtras(extras))

    def stop(self, outcome: str = "finished") -> Answer:
        """End the run (the engine saves latest.npz and closes it, then its process ends); at most 2 s."""
        return self._bounded(Stop(outcome))

    def _bounded(self, command) -> Answer:
        """call() with COMMAND_SECONDS; an engine that did not answer and is hung (stopped, or not using the CPU)
        is killed; one busy in a long step is left to answer later (through `answered`)."""
        link = self._link
        before = link.cpu() if link is not None else (None, None)
        answer = self.call(command, COMMAND_SECONDS)
        unanswered = link is not None and not answer.ok and not link.gone and "did not answer" in answer.error
        if unanswered and link.opened is not None and link.hung(before, COMMAND_SECONDS):
            link.kill(f"the training process did not answer within {COMMAND_SECONDS:g} s, so it was ended")
        return answer

    # -- outputs --------------------------------------------------------------------------------------------------

    def flush(self) -> None:
        """Emit now what the engine has sent (say, every row up to a Pause just answered)."""
        self._drain()

    def _drain(self) -> None:
        """Empty the mailbox into signals (GUI thread)."""
        link = self._link
        if link is None:
            return
        if self.info is None and link.opened is not None:
            self.info = dict(link.opened)
            self.opened.emit(self.info)
        link.watchdog(time.monotonic())  # a stopped child: killed here, said below once reaped
        out = link.take()
        if out["rows"] is not None:
            self.progressed.emit(out["rows"])
        if out["samples"]:
            self.sampled.emit(out["samples"])
        if out["flows"]:
            self.flowed.emit(out["flows"])
        for event in out["events"]:
            self._emit_event(event)
        for answer in out["answers"]:
            self.answered.emit(answer.id, answer)
        if out["fault"] is not None:
            self.last_fault = out["fault"]
            self.failed.emit(out["fault"])
            self.ended.emit("failed")
        if out["gone"]:  # nothing more will come
            self._timer.stop()

    def _emit_event(self, event) -> None:
        kind = event.kind
        if kind == STARTED:
            self.started.emit(event.iteration)
        elif kind == PAUSED:
            self.paused.emit(event.iteration)
        elif kind == DONE:
            self.done.emit(event.iteration)
        elif kind == DIVERGED:
            self.diverged.emit(event.message)
        elif kind == FAILED:
            self.last_fault = PREFIX + event.message
            self.failed.emit(self.last_fault)
        elif kind == CHECKPOINT:
            self.checkpointed.emit(event.message, event.iteration)
        elif kind == RUN:
            self.run_opened.emit(event.message)
        elif kind in (CHECKPOINT_FAILED, WARNING):
            self.warned.emit(event.message)
        elif kind == ENDED:
            self.outcome = event.message
            self.ended.emit(event.message)
