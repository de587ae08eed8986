"""The training process: a child process that steps a copy of the app's core.Trainer for the training worker.

Why a process
-------------
Painting the window holds the GIL for most of its C++ work too (a QPainter.drawPath, pyqtgraph's paint methods),
so a training loop in a thread of the app's own process lost about 1.5x the GUI thread's busy time, 10-13% of its
speed at the `min-char-rnn` preset (bench/README.md). A child process has its own interpreter and its own GIL:
the window can paint while the model trains.

How it works
------------
The worker thread stays the only one that talks to the child, and the worker's loop keeps every decision
(pause, step, speed, holds, live settings, what to emit when); the child only steps:

* `("load", data, vocab, config)` builds a Trainer on the same data and config (sent when the child does not hold
  that trainer's already);
* `("run", state)` takes over the app trainer's state (core.Trainer.get_state) and steps until a message comes,
  sending `("steps", [Snapshot, ...])` every BATCH_SECONDS; a diverged step ends the run by itself;
* after a run it sends `("stopped", state)`: the parent's trainer takes that state and is exact again;
* `("forget",)` lets the trainer and its copy of the data go (an idle child holds no model);
* `("stop",)` ends a run (and is ignored when none is under way: a recall that crossed a divergence);
* an exception sends `("failed", message)`; `("quit",)` or a closed pipe ends the process.

The child pickles each message at once and writes it from a thread of its own (`_Outbox`), so that its training
never waits for the app to read (samples make ~2 MB a second at the lesson's preset).

The child runs the same code on the same state with the same one BLAS thread, so a run is bit for bit the
same as stepping in the worker thread (tests/gui/test_train_process.py). Trainers too big to copy (MAX_BYTES), and
trainers whose step() was replaced in this process, train in the worker thread as before.

One idle child is kept for the next worker (starting one costs ~0.4 s before it answers); $CHARRNN_TRAIN_PROCESS=0
(or ENABLED = False) trains in the worker thread instead. This module never imports Qt: the child imports it.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
import weakref

BATCH_SECONDS = 0.02  # the child sends what it stepped at least this often (the parent's pause latency is ~this)
MAX_BYTES = 512 << 20  # a trainer whose data, weights and optimizer memory pass this trains in the worker thread
ENV_VAR = "CHARRNN_TRAIN_PROCESS"  # "0" (or "off", "no", "false"): train in the worker thread
ENABLED = True  # tests turn it off to train in the thread
IDLE_KEPT = 1  # idle children kept for the next worker


class TrainingProcessError(RuntimeError):
    """The child failed or ended; the message is one line for the user."""


def blas_limit():
    """Limit BLAS while training, in the worker thread or the child: one thread unless $CHARRNN_BLAS_THREADS says
    otherwise (faster on small CPUs, and it leaves a core for the GUI)."""
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


# -- the child ----------------------------------------------------------------------------------------------------


def main() -> None:
    """The child process's entry: serve the parent on the socket whose descriptor is the first argument."""
    import signal
    from multiprocessing.connection import Connection

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in a terminal reaches the whole group: the app decides
    conn = Connection(int(sys.argv[1]))
    try:
        serve(conn)
    except (EOFError, OSError):  # the app has gone
        pass


def serve(conn) -> None:
    """The child's main: answer `ready`, then load and run trainers until told to quit or the pipe closes."""
    from core import Trainer
    from core.threads import blas_threads_in_use

    outbox = _Outbox(conn)
    trainer = None
    with blas_limit():
        outbox.put(("ready", [lib["threads"] for lib in blas_threads_in_use()]))
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):  # the app has gone
                return
            kind = message[0]
            if kind == "quit":
                return
            try:
                if kind in ("load", "forget"):
                    trainer = None  # let the previous one go before building the next
                if kind == "load":
                    trainer = Trainer(*message[1:])
                elif kind == "run":
                    trainer.set_state(message[1])
                    _run(trainer, conn, outbox)
            except Exception as e:  # reported, then the child waits for the parent's next word
                outbox.put(("failed", f"{type(e).__name__}: {e}"))


class _Outbox:
    """The child's messages to the app, pickled at once and written by a thread of their own, in order.

    Samples make the stream ~2 MB a second at the lesson's preset, more than a socket buffers while the app's
    worker thread waits for the GIL behind a long paint: training must not wait for the app to read."""

    def __init__(self, conn):
        import pickle
        import queue

        self._dumps = pickle.dumps
        self._conn = conn
        self._queue = queue.SimpleQueue()
        threading.Thread(target=self._send_all, name="charrnn-outbox", daemon=True).start()

    def put(self, message) -> None:
        self._queue.put(self._dumps(message, protocol=5))  # now: the arrays may change once the trainer steps

    def _send_all(self) -> None:
        while True:
            data = self._queue.get()
            try:
                self._conn.send_bytes(data)
            except OSError:  # the app has gone; the main thread sees its end of the socket closed
                return


def _run(trainer, conn, outbox) -> None:
    """Step until the parent sends something (a stop) or a step diverges; then send the state."""
    batch, sent = [], time.perf_counter()
    while not conn.poll():
        snap = trainer.step()
        batch.append(snap)
        if snap.diverged:
            break
        now = time.perf_counter()
        if now - sent >= BATCH_SECONDS:
            outbox.put(("steps", batch))
            batch, sent = [], now
    if batch:
        outbox.put(("steps", batch))
    outbox.put(("stopped", trainer.get_state()))


# -- the parent's handle ------------------------------------------------------------------------------------------


class TrainingProcess:
    """The app's handle on one child that trains: start a run of a trainer, receive its steps, recall it.

    Used by one worker thread at a time (the pool leases it out)."""

    def __init__(self):
        import socket
        import subprocess
        from multiprocessing.connection import Connection

        ours, theirs = socket.socketpair()
        package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # where charrnn_gui and core are
        path = os.environ.get("PYTHONPATH")
        env = dict(os.environ, PYTHONPATH=package_root + (os.pathsep + path if path else ""))
        try:  # a fresh interpreter (never a fork of one that runs Qt threads), importing only core and this module
            self._process = subprocess.Popen(
                [sys.executable, "-c", "from charrnn_gui.train_process import main; main()", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, env=env, close_fds=True)
        finally:
            theirs.close()
        self._conn = Connection(ours.detach())
        self._ready = False
        self.blas_threads: list[int] | None = None  # each BLAS library's thread count in the child, once ready
        self._loaded = None  # weak reference to the trainer whose data and config the child holds
        self.running = False  # a run was started and its `stopped` not received yet
        self.broken = False  # failed or ended: never used again

    @property
    def pid(self) -> int | None:
        return self._process.pid

    @property
    def alive(self) -> bool:
        return self._process.poll() is None

    def ready(self) -> bool:
        """Whether the child has started and answered (never waits)."""
        if not self._ready and not self.broken:
            try:
                if self._conn.poll():
                    kind, value = self._receive()
                    self._ready = kind == "ready"
                    self.blas_threads = value if self._ready else None
            except (TrainingProcessError, OSError) as e:  # the worker thread trains instead
                self.broken = True
                print(f"charrnn: training in the app's own thread (the training process did not start: {e})",
                      file=sys.stderr)
        return self._ready

    def start_run(self, trainer) -> None:
        """Hand the trainer's state to the child and let it step (after loading the trainer's data, the first time)."""
        try:
            if self._loaded is None or self._loaded() is not trainer:
                self._loaded = None
                self._conn.send(("load", trainer.data, trainer.vocab, trainer.config))
                self._loaded = weakref.ref(trainer)
            self._conn.send(("run", trainer.get_state()))
        except (OSError, ValueError) as e:
            self._fail(f"the training process cannot be reached ({e})")
        self.running = True

    def receive(self, timeout: float):
        """(snapshots, state): the steps the child sent within timeout seconds (all that are waiting), and its
        trainer's state if the run has ended (a diverged step ends it), else None."""
        if not self._conn.poll(timeout):
            return [], None
        return self._take(to_the_end=False)

    def recall(self):
        """(snapshots, state): end the run, and take every step it sent and the state it ended with."""
        try:
            self._conn.send(("stop",))
        except (OSError, ValueError) as e:
            self._fail(f"the training process cannot be reached ({e})")
        return self._take(to_the_end=True)

    def _take(self, to_the_end: bool):
        """Read the child's messages until its run's state arrives, or (unless to_the_end) until none is waiting and
        the last step did not diverge (its state follows at once then); (steps, state or None)."""
        steps: list = []
        while True:
            kind, value = self._receive()
            if kind == "stopped":
                self.running = False
                return steps, value
            steps += value
            if not to_the_end and not (steps and steps[-1].diverged) and not self._conn.poll():
                return steps, None

    def forget(self) -> None:
        """Let the child drop its copy of the trainer and its data (while it waits for the next worker)."""
        if self._loaded is not None:
            self._loaded = None
            try:
                self._conn.send(("forget",))
            except (OSError, ValueError):
                self.broken = True

    def _receive(self):
        try:
            kind, *rest = self._conn.recv()
        except (EOFError, OSError) as e:
            try:
                code = self._process.wait(1.0)
            except Exception:
                code = None
            self._fail("the training process ended unexpectedly" + (f" (exit code {code})" if code is not None
                                                                      else f" ({type(e).__name__})"))
        if kind == "failed":
            self._fail(rest[0])
        return kind, rest[0] if rest else None

    def _fail(self, message: str):
        self.broken = True
        self.running = False
        raise TrainingProcessError(message)

    def close(self, timeout: float = 2.0) -> None:
        """Tell the child to quit and wait for it (killing it if it does not)."""
        self.broken = True
        try:
            self._conn.send(("quit",))
        except (OSError, ValueError):
            pass
        try:
            self._process.wait(timeout)
        except Exception:
            self._process.kill()
            self._process.wait(timeout)
        self._conn.close()


# -- the pool -----------------------------------------------------------------------------------------------------

_pool_lock = threading.Lock()
_idle: list[TrainingProcess] = []


def enabled() -> bool:
    """Whether training goes to a child process ($CHARRNN_TRAIN_PROCESS=0 turns it off)."""
    return ENABLED and os.environ.get(ENV_VAR, "1").strip().lower() not in ("0", "off", "no", "false")


def fits(trainer) -> bool:
    """Whether this trainer can train in a child: core's own step() (not replaced here), and small enough to copy."""
    from core import Trainer

    if type(trainer) is not Trainer or "step" in vars(trainer):
        return False
    return trainer.data.nbytes + trainer.model_bytes <= MAX_BYTES


def lease() -> TrainingProcess | None:
    """An idle child, or a new one starting; None when training in a child is off or cannot start."""
    if not enabled():
        return None
    with _pool_lock:
        while _idle:
            process = _idle.pop()
            if not process.broken and process.alive:
                return process
            process.close(0.1)
    try:
        return TrainingProcess()
    except Exception as e:  # the worker thread trains instead
        print(f"charrnn: training in the app's own thread (cannot start a training process: {e})", file=sys.stderr)
        return None


def give_back(process: TrainingProcess) -> None:
    """Return a leased child: kept for the next worker if it is sound and idle, else closed."""
    if not process.broken and not process.running:
        process.forget()
        with _pool_lock:
            if len(_idle) < IDLE_KEPT:
                _idle.append(process)
                return
    process.close()


def close_idle() -> None:
    """Close every idle child (at exit)."""
    with _pool_lock:
        idle, _idle[:] = list(_idle), []
    for process in idle:
        process.close()


atexit.register(close_idle)
