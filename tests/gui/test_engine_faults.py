"""The engine process killed under the window: the window stays, says why at once, keeps what it drew, and the run
reads back interrupted with its last checkpoint, which the window offers to reopen."""

from __future__ import annotations

import json
import os
import signal

from PySide6.QtWidgets import QMessageBox

import core
from core.engine import SaveCheckpoint
from core.runs import read_info

from .helpers import wait_iterations


def whole_lines(path):
    """Every line of a JSONL file, parsed; fails on a line cut short."""
    with open(path, "rb") as f:
        raw = f.read()
    assert raw == b"" or raw.endswith(b"\n"), f"{path} ends with a partial line"
    return [json.loads(line) for line in raw.splitlines()]


def kill_engine(window, qtbot):
    """SIGKILL the window's engine; wait (at most 2 s) for the window to say so. The run's folder."""
    run, pid = window.session.run_path, window.session.client.pid
    window.statusBar().clearMessage()
    os.kill(pid, signal.SIGKILL)
    qtbot.waitUntil(lambda: "killed by signal 9" in window.statusBar().currentMessage(), timeout=2_000)
    return run


def test_a_killed_engine_leaves_the_window_drawn_and_says_why_and_the_run_reads_back_interrupted(
        small_window, qtbot, dialogs):
    w = small_window
    w.start()
    wait_iterations(w, qtbot, 60)
    qtbot.waitUntil(lambda: w.session.run_path is not None and len(w.loss_panel.history) >= 40, timeout=10_000)
    points, samples = len(w.loss_panel.history), len(w.session.run.samples)
    run = kill_engine(w, qtbot)
    assert w.isVisible() and not w.session.has_model and w.session.state == "idle"
    assert len(w.loss_panel.history) >= points and len(w.session.run.samples) >= samples  # what was drawn stays
    assert w.start_pause_action.text() == "Start" and w.start_pause_action.isEnabled()  # a new model can start
    assert any("killed by signal 9" in text and "Start trains a new model" in text for text in dialogs.texts())
    qtbot.waitUntil(lambda: read_info(run).get("status") == "interrupted", timeout=5_000)
    assert "killed by signal 9" in read_info(run)["interrupted"]
    metrics = whole_lines(os.path.join(run, "metrics.jsonl"))
    assert metrics and all(row["iteration"] % 10 == 0 or "val_bpc" in row for row in metrics)
    assert len(whole_lines(os.path.join(run, "samples.jsonl"))) >= 1


def test_after_a_kill_the_window_offers_the_runs_last_checkpoint_and_reopens_it_continuing_the_run(
        small_window, qtbot, dialogs):
    w = small_window
    w.start()
    wait_iterations(w, qtbot, 30)
    qtbot.waitUntil(lambda: w.session.run_path is not None, timeout=10_000)
    w.pause()
    saved = w.session.client.call(SaveCheckpoint(None))  # the run's latest.npz, as the engine saves it every minute
    assert saved.ok, saved.error
    at = int(core.load_checkpoint(saved.value).meta["iteration"])
    dialogs.answer = QMessageBox.StandardButton.Yes
    run = kill_engine(w, qtbot)
    dialogs.answer = None  # closing at the end: Discard
    assert any(saved.value in text for _, text in dialogs.questions)
    qtbot.waitUntil(lambda: w.session.has_model and w.session.client.info is not None, timeout=10_000)
    assert w.session.iteration == at and w.session.state == "paused"
    w.start()
    wait_iterations(w, qtbot, at + 20)
    qtbot.waitUntil(lambda: w.session.run_path is not None, timeout=10_000)
    assert w.session.run_path == run  # the same run goes on
    w.pause()


def test_an_engine_process_that_cannot_be_started_is_said_in_one_line_and_leaves_no_model(
        small_window, qtbot, dialogs, monkeypatch):
    import subprocess

    def refuse(*args, **kwargs):
        raise OSError(11, "Resource temporarily unavailable")

    w = small_window
    with monkeypatch.context() as patch:  # only this patch: the dialogs stay recorded
        patch.setattr(subprocess, "Popen", refuse)
        w.start()
    assert not w.session.has_model and w.session.client is None and w.session.state == "idle"
    assert dialogs.messages and dialogs.messages[-1][1] == "Cannot start training"
    assert "Resource temporarily unavailable" in dialogs.messages[-1][2]
    w.start()  # and it works again once processes can be started
    wait_iterations(w, qtbot, 5)
    w.pause()
