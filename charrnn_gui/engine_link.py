"""The parent's end of one engine process, without Qt: the child, the pipe, a reader thread and a bounded mailbox.

core.engine_process runs in the child; this side starts it (a fresh interpreter over a socketpair, never a fork of
a process that runs Qt threads), sends it commands, and lets one reader thread take its batches off the pipe so
that a busy or blocked GUI thread never makes the child wait to send (its training would stall behind the socket
buffer). What the reader takes is kept in a mailbox whose every part is bounded:

* progress rows are coalesced: at most MAX_ROWS wait; beyond that the newest half is kept whole and the older part
  thinned (every other row, again and again while the window does not read), so the curve keeps its shape;
* samples and gradient-flow measurements: the newest MAX_SAMPLES / MAX_FLOWS wait (the child wrote every sample
  into the run's samples.jsonl already: a dropped one is only not drawn);
* events and unclaimed answers: the newest MAX_EVENTS.

The Qt client (engine_client.py) drains the mailbox on its timer in the GUI thread; call() waits on a condition
for its answer (never longer than its timeout). When the child ends without being told to (killed, crashed), the
reader reaps it, marks the run interrupted if the child could not (core.runs.abandon) and leaves one line saying
why. The reader thread never touches Qt and ends when the pipe closes; shutdown() joins it.
"""

from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections import deque

import numpy as np

from core.engine import ENDED, RUN, Answer, Batch, Rows, Speed, Stop, one_line
from core.engine_process import OPEN_FAILED, OPENED

MAX_ROWS = 20_000  # progress rows waiting for the window, at most (then thinned)
MAX_SAMPLES = 32  # samples waiting for the window (the newest kept)
MAX_FLOWS = 16  # gradient-flow measurements waiting (the newest kept)
MAX_EVENTS = 256  # events and unclaimed answers waiting (the newest kept)
SEND_TIMEOUT = 2.0  # a send to a child that stopped reading fails after this many seconds
PIPE_BYTES = 4 << 20  # the child's socket send buffer asked for (samples make ~4 MB/s at the lesson's preset)
SILENT_SECONDS = 1.5  # a running child that sent nothing for this long is checked for a hang (the watchdog)
HUNG_CPU_SHARE = 0.1  # a child that did not answer and used less of a core than this meanwhile is hung
REAP_SECONDS = 1.0  # after the pipe closed, how long the reader waits for the child to exit before killing it
PREFIX = "training stopped: "  # how a fault line starts once training was opened
OPEN_PREFIX = "cannot start training: "  # how it starts when the training could not be opened


def merge_rows(parts: list) -> Rows | None:
    """Rows of several batches as one, in order (None for none)."""
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    names = [f for f in Rows.__dataclass_fields__]
    return Rows(*[np.concatenate([getattr(p, n) for p in parts]) for n in names])


def thin_rows(rows: Rows, cap: int) -> Rows:
    """At most cap rows: the newest cap//2 whole, the older ones every other row (repeatedly) to fit the rest."""
    n = len(rows)
    if n <= cap:
        return rows
    keep_new = cap // 2
    old = np.arange(n - keep_new)  # (n_old,) indices of the older rows
    while len(old) > cap - keep_new:
        old = old[1::2] if len(old) % 2 == 0 else old[::2]  # keep the newest of the older part
    index = np.concatenate([old, np.arange(n - keep_new, n)])  # (<= cap,)
    names = [f for f in Rows.__dataclass_fields__ if not f.startswith("val_")]
    vals = {"val_iteration": rows.val_iteration[-cap:], "val_bpc": rows.val_bpc[-cap:]}
    return Rows(**{n_: getattr(rows, n_)[index] for n_ in names}, **vals)


def exit_reason(code: int | None) -> str:
    """How a child ended, in words: killed by signal N (its name), exit code N."""
    if code is None:
        return "it did not end"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = None
        return f"killed by signal {-code}" + (f", {name}" if name else "")
    return f"exit code {code}"


class EngineLink:
    """One engine child and what it sent that was not taken yet. Thread-safe; no Qt."""

    def __init__(self, spec: dict, python: str = sys.executable):
        from multiprocessing.connection import Connection

        ours, theirs = socket.socketpair()
        # A child that stops reading (hung, SIGSTOP) must not block a send forever: the send fails instead.
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", int(SEND_TIMEOUT), 0))
        # Room for about a second of batches, so that the child does not wait while the reader thread is not
        # scheduled (the kernel caps it at net.core.wmem_max).
        theirs.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, PIPE_BYTES)
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # where core and charrnn_gui are
        path = os.environ.get("PYTHONPATH")
        env = dict(os.environ, PYTHONPATH=root + (os.pathsep + path if path else ""))
        try:
            self.process = subprocess.Popen([python, "-m", "core.engine_process", str(theirs.fileno())],
                                            pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, env=env,
                                            close_fds=True)
        except BaseException:
            ours.close()  # no child to talk to: our end goes too
            raise
        finally:
            theirs.close()
        self.conn = Connection(ours.detach())
        self.cond = threading.Condition()
        self._ids = 0
        self._rows: list = []  # Rows not taken yet
        self._row_count = 0
        self.samples: deque = deque(maxlen=MAX_SAMPLES)
        self.flows: deque = deque(maxlen=MAX_FLOWS)
        self.events: deque = deque(maxlen=MAX_EVENTS)
        self.answers: deque = deque(maxlen=MAX_EVENTS)  # answers nobody waits for
        self._waited: dict = {}  # id -> Answer or None, for call()
        self.dropped_samples = 0  # samples the window never got (they are in the run)
        self.thinned_rows = 0  # progress rows the window never got
        self.opened: dict | None = None  # the child's open info
        self.run_path: str | None = None  # the run being written: the open info's, or a RUN event's (run_on_start)
        self.state = "opening"  # opening, then core.engine's idle/running/stopped, then "gone"
        self.iteration = 0
        self.its_per_sec = 0.0
        self.elapsed = 0.0  # the engine's training seconds (a resumed checkpoint's earlier ones included)
        self.fault: str | None = None  # one line: why the engine ended without being told to
        self.fault_taken = False
        self.ended = False  # the child's Stop was answered (ENDED seen)
        self.gone = False  # the pipe closed and the child was reaped
        self.exit_code: int | None = None
        self._kill_reason: str | None = None  # set before we kill the child
        self._closing = False
        self.last_heard = time.monotonic()  # when the child last sent anything
        self.paced = False  # a Speed limit slower than one step a second is in force (silence is then normal)
        self._quiet_mark: tuple | None = None  # (monotonic, cpu()) when a silence was first noticed
        self.conn_lock = threading.Lock()  # one sender at a time
        self.conn.send(dict(spec))
        self.thread = threading.Thread(target=self._read, name="charrnn-engine-reader", daemon=True)
        self.thread.start()

    # -- sending --------------------------------------------------------------------------------------------------

    def send(self, command, waited: bool = False) -> int | str:
        """Send a command; its id, or a one-line reason it could not be sent."""
        if isinstance(command, Speed):  # a slow pace makes silence normal (see watchdog)
            self.paced = 0 < float(command.its_per_second or 0) < 1.0
        with self.cond:
            if self.gone or self.ended:
                return "the engine has ended" if self.ended else (self.fault or "the engine process has ended")
            self._ids += 1
            id = self._ids
            if waited:
                self._waited[id] = None
        try:
            with self.conn_lock:
                self.conn.send((id, command))
        except (OSError, ValueError) as e:  # a full pipe that stayed full (a hung child), or a closed one
            with self.cond:
                self._waited.pop(id, None)
            return one_line(f"the engine process did not take the command ({e.strerror or e})"
                            if isinstance(e, OSError) else "the engine process has ended")
        return id

    def wait_answer(self, id: int, command, timeout: float) -> Answer:
        """The answer to a waited command, or an error Answer after timeout seconds (or when the child ended)."""
        name = type(command).__name__
        deadline = time.monotonic() + timeout
        with self.cond:
            while self._waited.get(id) is None:
                left = deadline - time.monotonic()
                if self.gone or left <= 0:
                    self._waited.pop(id, None)
                    if self.gone:
                        return Answer(id, name, error=self.fault or "the engine process has ended")
                    return Answer(id, name, error=f"the engine did not answer {name} within {timeout:g} s")
                self.cond.wait(left)
            return self._waited.pop(id)

    def call(self, command, timeout: float) -> Answer:
        """Send a command and wait for its answer (an error Answer when it cannot be sent or does not come)."""
        id = self.send(command, waited=True)
        if isinstance(id, str):
            return Answer(0, type(command).__name__, error=id)
        return self.wait_answer(id, command, timeout)

    # -- reading (the reader thread) ------------------------------------------------------------------------------

    def _read(self) -> None:
        while True:
            try:
                message = self.conn.recv()
            except (EOFError, OSError):
                break
            except Exception as e:  # a message that does not unpickle: the link is broken
                self._fault_once(f"the training process sent something unreadable ({type(e).__name__})")
                self.kill(None)
                break
            with self.cond:
                self._take(message)
                self.cond.notify_all()
        self._reap()

    def _take(self, message) -> None:
        self.last_heard = time.monotonic()
        if isinstance(message, Batch):
            if message.rows is not None:
                self._rows.append(message.rows)
                self._row_count += len(message.rows)
                if self._row_count > MAX_ROWS:
                    merged = merge_rows(self._rows)
                    thinned = thin_rows(merged, MAX_ROWS)
                    self.thinned_rows += len(merged) - len(thinned)
                    self._rows, self._row_count = [thinned], len(thinned)
            self.dropped_samples += max(0, len(self.samples) + len(message.samples) - MAX_SAMPLES)
            self.samples.extend(message.samples)
            self.flows.extend(message.flows)
            self.events.extend(message.events)
            for answer in message.answers:
                if answer.id in self._waited:
                    self._waited[answer.id] = answer
                else:
                    self.answers.append(answer)
            if any(e.kind == ENDED for e in message.events):
                self.ended = True
            for event in message.events:
                if event.kind == RUN:  # a run opened at the first Start or Step: marked if the child dies
                    self.run_path = event.message
            self.iteration, self.state, self.its_per_sec = message.iteration, message.state, message.its_per_sec
            self.elapsed = message.elapsed
        elif isinstance(message, tuple) and message and message[0] == OPENED:
            self.opened = message[1]
            self.run_path = message[1].get("run_path")
            self.iteration = int(message[1].get("iteration") or 0)
            self.elapsed = float(message[1].get("elapsed") or 0.0)
            self.state = "idle"
        elif isinstance(message, tuple) and message and message[0] == OPEN_FAILED:  # then the child ends
            if self.opened is None and self.fault is None:
                self.fault = OPEN_PREFIX + one_line(message[1])
            self._fault_once(str(message[1]), locked=True)

    def _fault_once(self, line: str, locked: bool = False) -> None:
        if locked:
            if self.fault is None:
                self.fault = PREFIX + one_line(line)
            return
        with self.cond:
            self._fault_once(line, locked=True)

    def _reap(self) -> None:
        """The pipe closed: wait for the child, say why it ended if nobody asked it to, mark its run."""
        try:
            code = self.process.wait(REAP_SECONDS)
        except subprocess.TimeoutExpired:  # the pipe closed but the child lingers (e.g. stopped): end it
            self.kill(None)
            code = self.process.wait()
        with self.cond:
            self.exit_code = code
            told = self.ended or self._closing
            if self._kill_reason is not None:
                self._fault_once(self._kill_reason, locked=True)
            elif not told:
                self._fault_once(f"the training process ended unexpectedly ({exit_reason(code)})", locked=True)
            run = self.run_path
            unfinished = not self.ended
        if run and unfinished:  # the child could not close its run: say interrupted, and why
            from core.runs.abandon import mark_interrupted

            mark_interrupted(run, self.fault or "the training process ended")
        with self.cond:
            self.gone = True
            self.state = "gone"
            self.cond.notify_all()

    # -- taking (the GUI thread) ----------------------------------------------------------------------------------

    def take(self) -> dict:
        """Everything waiting, handed over: rows (one Rows or None), samples, flows, events, answers, and the
        fault line the first time it is taken (once gone: the last take)."""
        with self.cond:
            out = {"rows": merge_rows(self._rows), "samples": list(self.samples), "flows": list(self.flows),
                   "events": list(self.events), "answers": list(self.answers), "gone": self.gone, "fault": None}
            self._rows, self._row_count = [], 0
            self.samples.clear()
            self.flows.clear()
            self.events.clear()
            self.answers.clear()
            if self.fault is not None and not self.fault_taken and self.gone:
                self.fault_taken = True
                out["fault"] = self.fault
            return out

    def pending(self) -> int:
        """Items waiting in the mailbox (rows count one each)."""
        with self.cond:
            return self._row_count + len(self.samples) + len(self.flows) + len(self.events) + len(self.answers)

    def cpu(self) -> tuple[str | None, float | None]:
        """The child's scheduler state letter (R, S, T when stopped...) and CPU seconds so far, from /proc; (None,
        None) where that cannot be read."""
        try:
            with open(f"/proc/{self.process.pid}/stat", encoding="ascii", errors="replace") as f:
                fields = f.read().rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
            return fields[0], (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            return None, None

    def hung(self, before: tuple, seconds: float) -> bool:
        """Whether the child looks hung after `seconds` of not answering: stopped (SIGSTOP) or a zombie, or asleep
        (S) without having used the CPU. A child busy in a long step (using the CPU), one waiting for a CPU on a
        busy machine (R) or for the disk (D: a checkpoint's fsync, a slow share), and one whose state cannot be
        read (no /proc) are not: killing a child that may be working would lose its steps."""
        state, cpu = self.cpu()
        if state is None or before[1] is None:
            return False
        if state in ("T", "t", "Z"):
            return True
        return state == "S" and cpu - before[1] < HUNG_CPU_SHARE * seconds

    def watchdog(self, now: float) -> bool:
        """Kill a training child that has sent nothing for SILENT_SECONDS and is hung: stopped (SIGSTOP), or, when
        no slow speed limit explains the silence, not using the CPU (a long step uses it). True when it did."""
        with self.cond:
            quiet = now - self.last_heard if self.state == "running" and not self.gone else 0.0
        if quiet < SILENT_SECONDS / 2:
            self._quiet_mark = None
            return False
        if self._quiet_mark is None:
            self._quiet_mark = (now, self.cpu())
            return False
        since, before = self._quiet_mark
        if quiet < SILENT_SECONDS or now - since < SILENT_SECONDS / 4:
            return False
        state = self.cpu()[0]
        cpu_known = before[1] is not None  # elsewhere than Linux only Pause and close find a hung child
        if state in ("T", "t") or (cpu_known and not self.paced and self.hung(before, now - since)):
            self.kill(f"the training process sent nothing for {SILENT_SECONDS:g} s and does not run, so it was ended")
            return True
        self._quiet_mark = None  # busy in a long step, or paced: look again later
        return False

    # -- ending ---------------------------------------------------------------------------------------------------

    def kill(self, reason: str | None) -> None:
        """SIGKILL the child (it works on a stopped one too); reason: the fault line to give."""
        with self.cond:
            if reason is not None and self._kill_reason is None and not self.gone:
                self._kill_reason = reason
        try:
            self.process.kill()
        except OSError:
            pass

    def shutdown(self, outcome: str = "interrupted", timeout: float = 2.0) -> None:
        """Stop the engine (it closes its run) within timeout seconds, else kill it; close the pipe; join the
        reader. Idempotent; never waits on the engine longer than timeout (plus reaping a killed child)."""
        deadline = time.monotonic() + timeout
        with self.cond:
            self._closing = True
            done = self.gone
        if not done and self.process.poll() is None:
            id = self.send(Stop(outcome, "the app closed the engine"), waited=True)
            if not isinstance(id, str):
                with self.cond:
                    while not (self.ended or self.gone) and time.monotonic() < deadline:
                        self.cond.wait(max(0.0, deadline - time.monotonic()))
            try:
                self.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.kill(None)
        if self.process.poll() is None:  # the pipe's other end closes only when the child is gone
            self.kill(None)
        if self.thread.is_alive() and self.thread is not threading.current_thread():
            self.thread.join(REAP_SECONDS + 1.0)  # the reader sees the pipe close, reaps the child, marks the run
        try:
            self.conn.close()
        except OSError:
            pass
