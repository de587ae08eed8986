"""Watching a run written by another process (charrnn-train on a server, seen through a share), and folders
that stall: the window follows appended lines, truncations, replaced files and resumes, and never blocks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# A run writer in another process, driven line by line on stdin; it answers "ok" after each command.
#   log N        N more metrics lines (loss falling with the iteration; a sample every 10 iterations)
#   partial      the first half of the next metrics line, without its newline (a write caught mid-way)
#   complete     the rest of that line
#   replace K    metrics.jsonl replaced (a new file, as rsync does) by one holding iterations 1..K
#   resume A     the writer stops and a new one continues the run from iteration A (a resume with orphans)
#   finish       the run ends cleanly
CHILD = r"""
import json, os, sys, time
from core.runs import INTERRUPTED, RunWriter
path = sys.argv[1]
config = {"hidden_size": 8, "seq_length": 10, "batch_size": 2}
w = RunWriter.create(path, config=config, corpus={"name": "server.txt"}, command=["charrnn-train"], preset="fast")
it = 0
def row(i):
    return {"elapsed": i / 10, "chars_seen": 20 * i, "loss": 40.0 / (1 + i / 50), "loss_per_char": 4.0 / (1 + i / 50),
            "smooth_loss": 40.0 / (1 + i / 60), "learning_rate": 0.01}
def log(n):
    global it
    for _ in range(n):
        it += 1
        w.log_metrics(it, **row(it))
        if it % 10 == 0:
            w.log_sample(it, f"sample of the server run at iteration {it}", 1.0)
metrics = os.path.join(path, "metrics.jsonl")
half = None
for line in sys.stdin:
    cmd, *args = line.split()
    if cmd == "log":
        log(int(args[0]))
    elif cmd == "partial":
        it += 1
        data = json.dumps({"iteration": it, "wall_time": time.time(), **row(it)}).encode() + b"\n"
        half = data[len(data) // 2:]
        with open(metrics, "ab") as f:
            f.write(data[:len(data) // 2])
    elif cmd == "complete":
        with open(metrics, "ab") as f:
            f.write(half)
    elif cmd == "replace":
        k = int(args[0])
        tmp = metrics + ".tmp"
        with open(tmp, "wb") as f:
            for i in range(1, k + 1):
                f.write(json.dumps({"iteration": i, "wall_time": time.time(), **row(i)}).encode() + b"\n")
        os.replace(tmp, metrics)
        it = k
    elif cmd == "resume":
        w.close(INTERRUPTED)
        it = int(args[0])
        w = RunWriter.resume(path, iteration=it, config=config, command=["charrnn-train", "--resume"])
    elif cmd == "finish":
        w.close("finished")
    print("ok", flush=True)
    if cmd == "finish":
        break
"""


class Child:
    """The writer process; send() waits for its answer."""

    def __init__(self, run_dir):
        env = dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1")
        self.proc = subprocess.Popen([sys.executable, "-c", CHILD, str(run_dir)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)

    def send(self, command: str) -> None:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline()
        assert answer.strip() == "ok", self.proc.stderr.read()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            f.close()


def overlay_iterations(window, path) -> list[int]:
    o = window.loss_panel.overlays.get(path)
    if o is None:
        return []
    window.loss_panel.refresh()
    x, _ = o.item.getOriginalDataset()
    return [] if x is None else [int(v) for v in x]


def test_a_run_written_by_another_process_is_followed_live(make_window, qtbot, tmp_path):
    share = tmp_path / "share"
    run_dir = share / "server" / "run-1"  # found recursively under the folder added
    child = Child(run_dir)
    try:
        child.send("log 50")
        window = make_window()
        window.open_runs_folder_dialog(folder=str(share))
        path = str(run_dir)
        qtbot.waitUntil(lambda: path in window.runs.rows and window.runs.rows[path].iteration == 50, timeout=10_000)
        row = window.runs.rows[path]
        assert row.status == "live" and row.preset == "fast"
        assert any(t.startswith("run-1\t") and "\t50\t" in t for t in window.runs_panel.row_texts())

        # The row's iteration rises as lines are appended, at the first poll of the run after they are written (one
        # follow interval, 1 s, plus a read): the polls are counted, not timed, so a slow machine sees the same.
        polls = []  # one per job given to a folder reader that follows this run
        for reader in window.runs._readers.values():
            def counted(scan, follow, submit=reader.submit):
                if path in follow:
                    polls.append(len(polls))
                submit(scan, follow)
            reader.submit = counted
        child.send("log 30")  # written when it answers
        before = len(polls)
        qtbot.waitUntil(lambda: window.runs.rows[path].iteration == 80, timeout=10_000)
        assert len(polls) - before <= 2  # the first poll started after the write reads it (one more in flight at most)
        assert any("\t80\t" in t for t in window.runs_panel.row_texts())

        # Checked, its curve is overlaid and grows with each append.
        window.runs_panel.set_checked(path)
        qtbot.waitUntil(lambda: overlay_iterations(window, path) == list(range(1, 81)), timeout=10_000)
        child.send("log 20")
        qtbot.waitUntil(lambda: overlay_iterations(window, path) == list(range(1, 101)), timeout=10_000)
        assert window.runs.rows[path].history.curves.batch_size == 2  # characters seen: 10 x 2 per iteration
        window.runs_panel.set_x_axis("chars")
        qtbot.waitUntil(lambda: overlay_iterations(window, path)[-1:] == [2000], timeout=5000)
        window.runs_panel.set_x_axis("iteration")

        # A line caught half written waits until it is whole.
        child.send("partial")
        qtbot.wait(2500)  # two follow cycles
        assert overlay_iterations(window, path)[-1] == 100
        child.send("complete")
        qtbot.waitUntil(lambda: overlay_iterations(window, path)[-1:] == [101], timeout=10_000)

        # A replaced file (another inode, as rsync writes it) is read again from its start.
        child.send("replace 60")
        qtbot.waitUntil(lambda: overlay_iterations(window, path) == list(range(1, 61)), timeout=10_000)
        qtbot.waitUntil(lambda: window.runs.rows[path].iteration == 60, timeout=5000)

        # A resume from iteration 40: the points after 40 written before it are orphans, dropped.
        child.send("resume 40")
        child.send("log 15")
        qtbot.waitUntil(lambda: overlay_iterations(window, path) == list(range(1, 56)), timeout=10_000)
        assert window.runs.rows[path].iteration == 55
        samples = [s.iteration for s in window.runs.rows[path].history.samples]
        assert samples == [10, 20, 30, 40, 50]  # the samples at 50 and 60 before the resume were orphans

        window.runs_panel.compare.set_iteration(44)
        assert window.runs_panel.compare.texts()[path] == "sample of the server run at iteration 40"

        child.send("finish")
        qtbot.waitUntil(lambda: window.runs.rows[path].status == "finished", timeout=10_000)
    finally:
        child.close()


def test_a_truncated_metrics_file_is_read_again(make_window, qtbot, tmp_path):
    from core.runs import RunWriter

    run_dir = tmp_path / "runs" / "cut"
    w = RunWriter.create(run_dir, config={"seq_length": 4}, corpus={"name": "t.txt"}, command="test")
    for i in range(1, 31):
        w.log_metrics(i, loss_per_char=1.0, smooth_loss=4.0, elapsed=i)
    window = make_window()
    window.open_runs_folder_dialog(folder=str(tmp_path / "runs"))
    path = str(run_dir)
    qtbot.waitUntil(lambda: path in window.runs.rows, timeout=10_000)
    window.runs_panel.set_checked(path)
    qtbot.waitUntil(lambda: overlay_iterations(window, path) == list(range(1, 31)), timeout=10_000)
    metrics = run_dir / "metrics.jsonl"
    lines = metrics.read_bytes().splitlines(keepends=True)
    with open(metrics, "r+b") as f:  # truncated in place to its first 12 lines, then one more appended
        f.truncate(sum(len(x) for x in lines[:12]))
        f.seek(0, 2)
        f.write(json.dumps({"iteration": 13, "loss_per_char": 0.5, "smooth_loss": 2.0, "elapsed": 13}).encode() + b"\n")
    qtbot.waitUntil(lambda: overlay_iterations(window, path) == list(range(1, 14)), timeout=10_000)
    w.close("finished")


def test_a_stalled_folder_never_blocks_the_window(make_window, qtbot, tmp_path, monkeypatch):
    import charrnn_gui.runs_library as lib
    from core.runs import RunWriter

    monkeypatch.setattr(lib, "STALL_SECONDS", 1.0)
    # A run on a share that stops answering: reading it waits until the share comes back.
    stuck = tmp_path / "stuck" / "run"
    w = RunWriter.create(stuck, config={}, corpus={"name": "t.txt"}, command="test")
    w.close("finished")
    share_back = threading.Event()
    summarize = lib.summarize_run
    readers_stuck = []  # the thread of each read of the stuck share

    def stalled_summarize(path):
        if str(path).startswith(str(tmp_path / "stuck")):
            readers_stuck.append(threading.current_thread())
            share_back.wait(30)
        return summarize(path)

    monkeypatch.setattr(lib, "summarize_run", stalled_summarize)
    fine = tmp_path / "fine"
    window = make_window()
    try:
        window.open_runs_folder_dialog(folder=str(tmp_path / "stuck"))  # returns: adding the folder does not wait
        qtbot.waitUntil(lambda: str(tmp_path / "stuck") in window.runs.stalled_folders(), timeout=10_000)
        assert window.runs_panel.note.isVisible() and "not responding" in window.runs_panel.note.text()

        # Meanwhile another folder is listed as usual: one stalled share stalls only itself.
        RunWriter.create(fine / "ok-run", config={}, corpus={"name": "t.txt"}, command="test").close("finished")
        window.open_runs_folder_dialog(folder=str(fine))
        qtbot.waitUntil(lambda: str(fine / "ok-run") in window.runs.rows, timeout=10_000)
        # The event loop never waited for the share: the stuck read is in a reader thread, never the GUI thread's
        # (the waits above ran the event loop, and the other folder was listed, while that read was stuck).
        assert readers_stuck and threading.main_thread() not in readers_stuck and not share_back.is_set()
    finally:
        share_back.set()  # the share answers again
    qtbot.waitUntil(lambda: str(tmp_path / "stuck") not in window.runs.stalled_folders(), timeout=10_000)
    qtbot.waitUntil(lambda: str(stuck) in window.runs.rows, timeout=10_000)
