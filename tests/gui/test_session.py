"""The live session without a window: it trains, pauses, samples, saves and reopens, reporting by signal; its
engine writes every training as a run (metrics every LOG_EVERY iterations and at every evaluation)."""

from __future__ import annotations

import json
import os
import signal
import time

import numpy as np

import core
from charrnn_gui.history import RunHistory, SampleRecord
from charrnn_gui.session import IDLE, LOG_EVERY, PAUSED, RUNNING, Session
from core.engine import SaveCheckpoint
from core.runs import read_run
from core.runs.layout import LATEST, checkpoint_path

from .helpers import SMALL_TEXT


def small_config():
    return core.PRESETS["min-char-rnn"].replace(hidden_size=16, seq_length=16, sample_every=20, sample_length=40)


def make_session(qtbot):
    session = Session()
    session.set_corpus(core.corpus_from_text(SMALL_TEXT * 30, name="small"), "builtin:small")
    return session


def recording_session(qtbot, tmp_path):
    """(session, started, ended): a session writing its runs under tmp_path/runs, and the runs it started and
    ended ((folder, status) pairs), as its signals said."""
    session = make_session(qtbot)
    session.runs_folder = str(tmp_path / "runs")
    started, ended = [], []
    session.runStarted.connect(started.append)
    session.runEnded.connect(lambda p, status: ended.append((p, status)))
    return session, started, ended


def engine_state(session) -> str:
    """What the engine itself says it is doing (idle, running, stopped)."""
    answer = session.client.status()
    assert answer.ok, answer.error
    return answer.value.state


def train_a_run(session, qtbot, tmp_path, config, iterations: int) -> str:
    """Start a run of config in tmp_path/runs, train at least `iterations`, pause (every row up to the pause is
    delivered by then); its folder."""
    session.runs_folder = str(tmp_path / "runs")
    started = []
    session.runStarted.connect(started.append)
    session.create_model(config, "min-char-rnn")
    session.start()
    qtbot.waitUntil(lambda: bool(started) and session.iteration >= iterations, timeout=20_000)
    session.pause()
    assert session.run.curves.iterations.last(0) == session.iteration
    return started[0]


def logged(last: int) -> list[int]:
    """The iterations of a run's metrics lines after `last` iterations (no evaluation, no measurement): every
    LOG_EVERY, and the last one, which the run's end writes."""
    return sorted(set(range(LOG_EVERY, last + 1, LOG_EVERY)) | {last})


def saved_iteration(run) -> int:
    """The iteration of the run's last checkpoint (latest.npz, saved as the run ends)."""
    return core.load_checkpoint(run.checkpoint()).iteration


def metrics_lines(path: str) -> list[dict]:
    with open(os.path.join(path, "metrics.jsonl"), encoding="utf-8") as f:
        return [json.loads(x) for x in f]


def test_a_session_trains_and_pauses_and_says_so_in_past_tense(qtbot):
    session = make_session(qtbot)
    states = []
    session.stateChanged.connect(states.append)
    installed = []
    session.modelInstalled.connect(lambda: installed.append(session.model))
    try:
        assert session.state == IDLE and not session.has_model and session.client is None
        session.create_model(small_config(), "min-char-rnn")
        assert installed == [session.model] and session.has_model and states[-1] == PAUSED
        session.start()
        assert session.state == RUNNING
        qtbot.waitUntil(lambda: len(session.run.samples) >= 2, timeout=15_000)
        session.pause()
        stopped = session.iteration
        assert session.state == PAUSED and engine_state(session) == "idle"
        assert session.client.status().value.iteration == stopped
        # every row up to the pause was delivered before pause() returned
        assert session.run.curves.iterations.last(0) == stopped
        qtbot.wait(200)
        assert session.iteration == stopped and session.client.status().value.iteration == stopped
        assert states[states.index(RUNNING) + 1:] and set(states[states.index(RUNNING) + 1:]) == {PAUSED}
        assert all(isinstance(r, SampleRecord) and r.kind == "training" for r in session.run.samples)
    finally:
        session.shutdown()


def test_a_saved_checkpoint_reopens_with_its_weights_curves_and_samples(qtbot, tmp_path):
    session = make_session(qtbot)
    try:
        session.create_model(small_config(), "min-char-rnn")
        session.step(60)
        qtbot.waitUntil(lambda: session.iteration == 60 and len(session.run.curves) == 60, timeout=15_000)
        record, _ = session.sample_now(20, "The ", 0.5, False)
        assert record.kind == "sample now" and session.run.samples[-1] == record
        path = str(tmp_path / "m.npz")
        saved = []
        session.checkpointSaved.connect(lambda p, it: saved.append((p, it)))
        assert session.save_checkpoint(path) == 60 and saved == [(path, 60)]
        assert not session.has_unsaved_progress
        samples = list(session.run.samples)
        iteration, weights = session.weights()
        assert iteration == 60

        session.discard_model()
        assert not session.has_model and session.client is None
        assert len(session.run.curves) == 0 and not session.run.samples
        opened = []
        session.checkpointOpened.connect(lambda p, cfg, preset: opened.append((p, preset)))
        assert session.open_checkpoint(session.read_checkpoint(path), path) is None
        qtbot.waitUntil(lambda: bool(opened), timeout=15_000)  # once its engine has opened it
        assert opened == [(path, "min-char-rnn")]
        assert session.iteration == 60 and session.state == PAUSED
        assert session.client.status().value.iteration == 60 and engine_state(session) == "idle"
        reopened_at, reopened = session.weights()
        assert reopened_at == 60 and sorted(reopened) == sorted(weights)
        assert all(np.array_equal(reopened[k], weights[k]) for k in weights)
        assert list(session.run.curves.iterations.view) == list(range(1, 61))
        assert list(session.run.samples) == samples
    finally:
        session.shutdown()


def test_a_checkpoint_of_a_text_that_is_not_open_says_which(qtbot, tmp_path):
    session = make_session(qtbot)
    try:
        session.create_model(small_config())
        session.step(2)
        qtbot.waitUntil(lambda: session.iteration == 2, timeout=10_000)
        path = str(tmp_path / "m.npz")
        session.save_checkpoint(path)
        session.shutdown()
        other = Session()
        other.set_corpus(core.corpus_from_text("xyz " * 500, name="other"), str(tmp_path / "gone.txt"))
        ckpt = other.read_checkpoint(path)
        # the checkpoint names "builtin:small", which is no built-in: it cannot be loaded
        assert "was trained on small" in other.open_checkpoint(ckpt, path)
        assert not other.has_model and other.client is None
    finally:
        session.shutdown()


def test_sample_nearest_picks_the_closest_training_sample():
    run = RunHistory()
    for it in (0, 100, 200, 300):
        run.add_sample(SampleRecord(it, f"s{it}"))
    run.add_sample(SampleRecord(240, "probe", kind="sample now"))
    assert run.sample_nearest(240).iteration == 200
    assert run.sample_nearest(250).iteration == 200  # a tie goes to the earlier
    assert run.sample_nearest(240, kind=None).text == "probe"
    assert RunHistory().sample_nearest(5) is None


def test_training_is_written_as_a_run_from_the_first_start_until_reset(qtbot, tmp_path):
    session, started, ended = recording_session(qtbot, tmp_path)
    runs = tmp_path / "runs"
    try:
        session.create_model(small_config(), "min-char-rnn")
        qtbot.waitUntil(lambda: session.client.info is not None, timeout=15_000)
        qtbot.wait(100)
        # a model alone is not a run yet: no folder, no run in the engine
        assert session.run_path is None and not started and not (runs.exists() and os.listdir(runs))
        assert session.client.status().value.run_path is None
        session.start()
        qtbot.waitUntil(lambda: bool(started) and session.iteration >= 150, timeout=15_000)
        session.pause()
        last = session.iteration
        assert session.run_path == started[0] and os.listdir(runs) == [os.path.basename(started[0])]
        session.discard_model()
        assert ended == [(started[0], "finished")] and session.run_path is None
        run = read_run(started[0])
        assert run.status == "finished" and saved_iteration(run) == last
        assert list(run.curves.iteration) == logged(last)
        assert [s.iteration for s in run.samples.samples] == list(range(0, last, 20))  # every 20, from 0
        assert run.latest_iteration == last  # the line the run's end writes
        assert run.info["app_corpus"] == "builtin:small"
        assert run.preset == "min-char-rnn" and run.config["hidden_size"] == 16
        assert (run.curves.elapsed[1:] >= run.curves.elapsed[:-1]).all()
    finally:
        session.shutdown()


def test_a_first_step_opens_the_run_too(qtbot, tmp_path):
    session, started, ended = recording_session(qtbot, tmp_path)
    try:
        session.create_model(small_config(), "min-char-rnn")
        session.step(25)
        qtbot.waitUntil(lambda: session.iteration == 25 and session.state == PAUSED and bool(started),
                        timeout=15_000)
        session.discard_model()
        assert ended == [(started[0], "finished")]
        run = read_run(started[0])
        assert run.status == "finished" and saved_iteration(run) == 25
        assert list(run.curves.iteration) == logged(25) == [10, 20, 25]
    finally:
        session.shutdown()


def test_a_runs_folder_that_cannot_be_written_warns_and_training_goes_on(qtbot, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    session = make_session(qtbot)
    session.runs_folder = str(blocker / "runs")  # a folder inside a file: cannot be created
    warnings, started = [], []
    session.runWarned.connect(warnings.append)
    session.runStarted.connect(started.append)
    try:
        session.create_model(small_config())
        session.start()
        qtbot.waitUntil(lambda: bool(warnings), timeout=10_000)
        assert "not recorded as a run" in warnings[0]
        qtbot.waitUntil(lambda: session.iteration >= 50, timeout=10_000)
        assert session.state == RUNNING and engine_state(session) == "running"
        assert session.run_path is None and not started and session.client.status().value.run_path is None
        session.pause()
    finally:
        session.shutdown()


def test_a_runs_metrics_lines_carry_the_gradient_flow_measured_while_it_was_written(qtbot, tmp_path):
    session = make_session(qtbot)
    try:
        path = train_a_run(session, qtbot, tmp_path, small_config().replace(grad_flow_every=7), 150)
        last = session.iteration
        shown = {f.iteration + 1: f.to_json() for f in session.flows.flows}
        session.discard_model()
        lines = metrics_lines(path)
        # Each measurement of the window trained on from iteration i rides on the line of iteration i + 1 (as
        # charrnn-train writes it); the other lines are every LOG_EVERY iterations; in order, once each.
        measured = {r["iteration"]: r for r in lines if "grad_flow" in r}
        assert sorted(measured) == [i + 1 for i in range(0, last, 7)]
        assert [r["iteration"] for r in lines] == sorted(set(measured) | set(logged(last)))
        assert shown and all({k: measured[it][k] for k in fields} == fields for it, fields in shown.items())
        assert all(len(r["grad_flow"]) == 16 and r["loss"] > 0 and r["whh_sigma_max"] > 0 for r in measured.values())
        run = read_run(path)  # the reader takes the extra fields and keeps its curves as they were
        assert saved_iteration(run) == last and list(run.curves.iteration) == [r["iteration"] for r in lines]
        assert "whh_sigma_max" in run.curves.extra_names and "grad_flow" not in run.curves.extra_names
    finally:
        session.shutdown()


def test_a_runs_metrics_have_a_line_every_log_every_iterations_and_at_every_evaluation(qtbot, tmp_path):
    session = make_session(qtbot)
    try:
        config = small_config().replace(val_fraction=0.1, eval_every=25, grad_flow_every=40)
        path = train_a_run(session, qtbot, tmp_path, config, 300)
        last = session.iteration
        session.discard_model()
        lines = metrics_lines(path)
        its = [r["iteration"] for r in lines]
        evaluations = list(range(25, last + 1, 25))
        flows = [i + 1 for i in range(0, last, 40)]
        # Not a line per iteration: one every LOG_EVERY, plus each evaluation and gradient-flow measurement, and
        # the last iteration at the end.
        assert its == sorted(set(logged(last)) | set(evaluations) | set(flows))
        assert [r["iteration"] for r in lines if "val_bpc" in r] == evaluations
        assert [r["iteration"] for r in lines if "grad_flow" in r] == flows
        assert all(r["val_bpc"] > 0 for r in lines if "val_bpc" in r)
        run = read_run(path)
        assert saved_iteration(run) == last and run.best_val_bpc is not None and run.best_checkpoint is not None
    finally:
        session.shutdown()


def test_a_run_keeps_every_training_sample_and_sample_now_even_when_reset_follows_pause_at_once(qtbot, tmp_path):
    session, started, ended = recording_session(qtbot, tmp_path)
    try:
        session.create_model(small_config(), "min-char-rnn")
        session.step(30)
        qtbot.waitUntil(lambda: session.iteration == 30 and session.state == PAUSED, timeout=15_000)
        record, _ = session.sample_now(25, "The ", 0.5, False)
        session.start()
        # The engine trains while no event loop runs: nothing it sent is delivered to the session before the
        # Pause and the Reset (as when Reset follows Pause within one slot).
        deadline = time.monotonic() + 30  # (a guard against a hang, not a measure)
        while session.client.status().value.iteration < 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        session.pause()
        last = session.iteration
        assert last >= 200
        session.discard_model()
        assert ended == [(started[0], "finished")]
        run = read_run(started[0])
        training = [s for s in run.samples.samples if s.prime == ""]
        assert [s.iteration for s in training] == list(range(0, last, 20))
        ((now,),) = [[s for s in run.samples.samples if s.prime == "The "]]
        assert (now.iteration, now.text, now.temperature) == (30, record.text, 0.5)
        assert saved_iteration(run) == last and run.curves.latest_iteration == last
    finally:
        session.shutdown()


def test_a_divergence_the_engine_sent_right_before_reset_is_not_reported_and_the_run_ends_diverged(qtbot,
                                                                                                 tmp_path):
    session = make_session(qtbot)
    ended = []
    session.runEnded.connect(lambda p, status: ended.append((p, status)))
    try:
        path = train_a_run(session, qtbot, tmp_path, small_config(), 50)
        reported = []
        session.diverged.connect(reported.append)
        session.failed.connect(reported.append)
        session.set_live({"learning_rate": 1e3})
        session.start()
        # No event loop runs: the engine's divergence waits, undelivered, when the Reset comes.
        deadline = time.monotonic() + 30  # (a guard against a hang, not a measure)
        while not session.client.status().value.diverged and time.monotonic() < deadline:
            time.sleep(0.05)
        assert session.client.status().value.diverged
        old = session.client
        session.discard_model()  # delivers what the engine sent, for the record only
        old.diverged.emit("late")  # and a former engine's signals are nobody's business
        old.failed.emit("late")
        qtbot.wait(50)
        assert reported == [] and session.state == IDLE
        assert ended == [(path, "diverged")] and read_run(path).status == "diverged"
    finally:
        session.shutdown()


def test_a_killed_engine_ends_its_run_interrupted_and_names_the_checkpoint_to_go_on_from(qtbot, tmp_path):
    session = make_session(qtbot)
    ended, failed = [], []
    session.runEnded.connect(lambda p, status: ended.append((p, status)))
    session.failed.connect(failed.append)
    try:
        path = train_a_run(session, qtbot, tmp_path, small_config(), 50)
        assert session.client.call(SaveCheckpoint(None)).ok  # the run's latest.npz
        session.start()
        qtbot.wait(100)
        drawn = len(session.run.curves)
        os.kill(session.client.pid, signal.SIGKILL)
        qtbot.waitUntil(lambda: bool(failed), timeout=10_000)
        assert failed == ["training stopped: the training process ended unexpectedly (killed by signal 9, SIGKILL)"]
        assert not session.has_model and session.client is None and session.state == IDLE
        assert len(session.run.curves) >= drawn  # what was drawn stays
        assert ended == [(path, "interrupted")] and read_run(path).status == "interrupted"
        assert session.recovery == checkpoint_path(path, LATEST)
    finally:
        session.shutdown()


def test_a_runs_checkpoint_opened_again_continues_that_run(qtbot, tmp_path):
    session = make_session(qtbot)
    started, ended = [], []
    session.runEnded.connect(lambda p, status: ended.append((p, status)))
    try:
        path = train_a_run(session, qtbot, tmp_path, small_config(), 55)
        first = session.iteration
        session.discard_model()  # the run's latest.npz is saved as it ends
        latest = checkpoint_path(path, LATEST)
        assert core.load_checkpoint(latest).iteration == first
        session.runStarted.connect(started.append)
        opened = []
        session.checkpointOpened.connect(lambda p, cfg, preset: opened.append(p))
        assert session.open_checkpoint(session.read_checkpoint(latest), latest) is None
        qtbot.waitUntil(lambda: opened == [latest], timeout=15_000)
        assert session.iteration == first and list(session.run.curves.iterations.view) == list(range(1, first + 1))
        session.step(45)
        qtbot.waitUntil(lambda: session.iteration == first + 45 and session.state == PAUSED and bool(started),
                        timeout=15_000)
        assert started == [path]  # the same run, not a new one
        session.discard_model()
        assert ended == [(path, "finished"), (path, "finished")]
        assert os.listdir(tmp_path / "runs") == [os.path.basename(path)]
        run = read_run(path)
        assert run.status == "finished" and saved_iteration(run) == first + 45
        assert list(run.curves.iteration) == sorted(set(logged(first)) | set(logged(first + 45)))
        assert [s.iteration for s in run.samples.samples] == list(range(0, first + 45, 20))
    finally:
        session.shutdown()
