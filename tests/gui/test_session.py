"""The live session without a window: it trains, pauses, samples, saves and reopens, reporting by signal."""

from __future__ import annotations

import json
import os

import numpy as np

import core
from charrnn_gui.history import RunHistory, SampleRecord
from charrnn_gui import session as session_module
from charrnn_gui.session import IDLE, PAUSED, RUNNING, Session, rate_stride
from core.trainer import Sample

from .helpers import SMALL_TEXT


def small_config():
    return core.PRESETS["min-char-rnn"].replace(hidden_size=16, seq_length=16, sample_every=20, sample_length=40)


def make_session(qtbot):
    session = Session()
    session.set_corpus(core.corpus_from_text(SMALL_TEXT * 30, name="small"), "builtin:small")
    return session


def train_a_run(session, qtbot, tmp_path, config, iterations: int) -> str:
    """Start a run of config in tmp_path/runs, train at least `iterations`, pause with every one sent; its folder."""
    session.runs_folder = str(tmp_path / "runs")
    started = []
    session.runStarted.connect(started.append)
    session.create_model(config, "min-char-rnn")
    session.start()
    qtbot.waitUntil(lambda: bool(started) and session.trainer.iteration >= iterations, timeout=15_000)
    session.pause()
    qtbot.waitUntil(lambda: session.run.curves.iterations.last(0) == session.trainer.iteration, timeout=5000)
    return started[0]


def test_a_session_trains_and_pauses_and_says_so_in_past_tense(qtbot):
    session = make_session(qtbot)
    states = []
    session.stateChanged.connect(states.append)
    installed = []
    session.modelInstalled.connect(lambda: installed.append(session.trainer))
    try:
        assert session.state == IDLE and session.trainer is None
        session.create_model(small_config(), "min-char-rnn")
        assert installed == [session.trainer] and states[-1] == PAUSED
        session.start()
        assert session.state == RUNNING
        qtbot.waitUntil(lambda: len(session.run.samples) >= 2, timeout=15_000)
        session.pause()
        assert session.state == PAUSED and not session.worker.is_running
        stopped = session.trainer.iteration
        qtbot.wait(200)
        assert session.trainer.iteration == stopped
        qtbot.waitUntil(lambda: session.run.curves.iterations.last(0) == stopped, timeout=5000)
        assert states[states.index(RUNNING) + 1:] and set(states[states.index(RUNNING) + 1:]) == {PAUSED}
        assert all(isinstance(r, SampleRecord) and r.kind == "training" for r in session.run.samples)
    finally:
        session.shutdown()


def test_a_saved_checkpoint_reopens_with_its_curves_and_samples(qtbot, tmp_path):
    session = make_session(qtbot)
    try:
        session.create_model(small_config(), "min-char-rnn")
        session.step(60)
        qtbot.waitUntil(lambda: session.trainer.iteration == 60 and len(session.run.curves) == 60, timeout=15_000)
        record, _ = session.sample_now(20, "The ", 0.5, False)
        assert record.kind == "sample now" and session.run.samples[-1] == record
        path = str(tmp_path / "m.npz")
        saved = []
        session.checkpointSaved.connect(lambda p, it: saved.append((p, it)))
        assert session.save_checkpoint(path) == 60 and saved == [(path, 60)]
        assert not session.has_unsaved_progress
        samples = list(session.run.samples)

        session.discard_model()
        assert session.trainer is None and len(session.run.curves) == 0 and not session.run.samples
        opened = []
        session.checkpointOpened.connect(lambda p, cfg, preset: opened.append((p, preset)))
        assert session.open_checkpoint(session.read_checkpoint(path), path) is None
        assert opened == [(path, "min-char-rnn")]
        assert session.trainer.iteration == 60 and session.state == PAUSED
        assert list(session.run.curves.iterations.view) == list(range(1, 61))
        assert list(session.run.samples) == samples
    finally:
        session.shutdown()


def test_a_checkpoint_of_a_text_that_is_not_open_says_which(qtbot, tmp_path):
    session = make_session(qtbot)
    try:
        session.create_model(small_config())
        session.step(2)
        qtbot.waitUntil(lambda: session.trainer.iteration == 2, timeout=10_000)
        path = str(tmp_path / "m.npz")
        session.save_checkpoint(path)
        session.shutdown()
        other = Session()
        other.set_corpus(core.corpus_from_text("xyz " * 500, name="other"), str(tmp_path / "gone.txt"))
        ckpt = other.read_checkpoint(path)
        # the checkpoint names "builtin:small", which is no built-in: it cannot be loaded
        assert "was trained on small" in other.open_checkpoint(ckpt, path)
        assert other.trainer is None
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


def test_training_is_written_as_a_run_from_start_until_reset(qtbot, tmp_path, monkeypatch):
    from core.runs import read_run

    monkeypatch.setattr(session_module, "LOG_LINES_PER_SECOND", 1e9)  # a line per iteration, however fast it trains
    session = make_session(qtbot)
    session.runs_folder = str(tmp_path / "runs")
    started, ended = [], []
    session.runStarted.connect(started.append)
    session.runEnded.connect(lambda p, status: ended.append((p, status)))
    try:
        session.create_model(small_config(), "min-char-rnn")
        assert session.recording is None  # a model alone is not a run yet
        session.start()
        qtbot.waitUntil(lambda: bool(started) and session.trainer.iteration >= 150, timeout=15_000)
        session.pause()
        qtbot.waitUntil(lambda: session.run.curves.iterations.last(0) == session.trainer.iteration, timeout=5000)
        last = session.trainer.iteration
        session.discard_model()
        assert ended == [(started[0], "finished")]
        run = read_run(started[0])
        assert run.status == "finished" and run.latest_iteration == last
        assert list(run.curves.iteration) == list(range(1, last + 1))
        assert len(run.samples) == len([r for r in range(0, last, 20)])  # a sample every 20, from iteration 0
        assert run.checkpoint() is not None and run.info["app_corpus"] == "builtin:small"
        assert run.preset == "min-char-rnn" and run.config["hidden_size"] == 16
        assert (run.curves.elapsed[1:] >= run.curves.elapsed[:-1]).all()
    finally:
        session.shutdown()


def test_a_runs_folder_that_cannot_be_written_warns_and_training_goes_on(qtbot, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    session = make_session(qtbot)
    session.runs_folder = str(blocker / "runs")  # a folder inside a file: cannot be created
    warnings = []
    session.runWarned.connect(warnings.append)
    try:
        session.create_model(small_config())
        session.start()
        qtbot.waitUntil(lambda: bool(warnings), timeout=10_000)
        assert "not recorded as a run" in warnings[0] and session.recording is None
        qtbot.waitUntil(lambda: session.trainer.iteration >= 50, timeout=10_000)
        assert session.state == RUNNING
        session.pause()
    finally:
        session.shutdown()


def test_a_runs_metrics_lines_carry_the_gradient_flow_measured_while_it_was_written(qtbot, tmp_path, monkeypatch):
    from core.runs import read_run

    monkeypatch.setattr(session_module, "LOG_LINES_PER_SECOND", 1e9)  # a line per iteration, however fast it trains
    session = make_session(qtbot)
    try:
        path = train_a_run(session, qtbot, tmp_path, small_config().replace(grad_flow_every=10), 150)
        last = session.trainer.iteration
        shown = {f.iteration + 1: f.to_json() for f in session.flows.flows}
        session.discard_model()
        lines = [json.loads(x) for x in open(os.path.join(path, "metrics.jsonl"), encoding="utf-8")]
        # Each measurement of the window trained on from iteration i rides on the line of iteration i + 1 (as
        # charrnn-train writes it), one line per iteration, in order.
        measured = {r["iteration"]: r for r in lines if "grad_flow" in r}
        assert sorted(measured) == [i + 1 for i in range(0, last, 10)]
        assert [r["iteration"] for r in lines] == list(range(1, last + 1))
        assert shown and all({k: measured[it][k] for k in fields} == fields for it, fields in shown.items())
        assert all(len(r["grad_flow"]) == 16 and r["loss"] > 0 and r["whh_sigma_max"] > 0 for r in measured.values())
        run = read_run(path)  # the reader takes the extra fields and keeps its curves as they were
        assert run.latest_iteration == last and list(run.curves.iteration) == list(range(1, last + 1))
        assert "whh_sigma_max" in run.curves.extra_names and "grad_flow" not in run.curves.extra_names
    finally:
        session.shutdown()


def test_rate_stride_is_the_smallest_power_of_two_that_keeps_under_the_line_rate():
    assert rate_stride(0.0, 50) == rate_stride(50.0, 50) == 1
    assert rate_stride(51.0, 50) == 2
    assert rate_stride(1300.0, 50) == 32  # the lesson's preset on a slow machine: 1300 / 32 = 41 lines a second
    assert rate_stride(3200.0, 50) == 64


def test_a_fast_run_writes_a_bounded_number_of_lines_a_second_and_every_evaluation(qtbot, tmp_path, monkeypatch):
    from core.runs import read_run

    monkeypatch.setattr(session_module, "LOG_LINES_PER_SECOND", 20)
    session = make_session(qtbot)
    try:
        config = small_config().replace(val_fraction=0.1, eval_every=50, grad_flow_every=40)
        path = train_a_run(session, qtbot, tmp_path, config, 3000)
        last, seconds, rate = session.trainer.iteration, session.elapsed, session.rate
        session.discard_model()
        assert rate > 200  # fast enough for the cap to matter (H=16 trains thousands of iterations a second)
        lines = [json.loads(x) for x in open(os.path.join(path, "metrics.jsonl"), encoding="utf-8")]
        its = [r["iteration"] for r in lines]
        assert its == sorted(set(its)) and its[-1] <= last
        plain = [r["iteration"] for r in lines if "val_bpc" not in r and "grad_flow" not in r]
        # Lines on their own are at most about the cap's per second of training (the stride is a power of two at
        # least rate / cap, so at most the cap, and twice it while the rate estimate settles), never every iteration.
        assert len(plain) <= 2 * 20 * seconds + 20 and len(plain) < last / 4
        assert np.median(np.diff(plain)) >= 4  # thinned (to multiples of a stride, and each batch's last iteration)
        # Every evaluation and every gradient-flow measurement is still there.
        assert [r["iteration"] for r in lines if "val_bpc" in r] == list(range(50, last + 1, 50))
        assert [r["iteration"] for r in lines if "grad_flow" in r] == [i + 1 for i in range(0, last, 40)]
        run = read_run(path)
        assert run.latest_iteration == last or run.latest_iteration == its[-1]
    finally:
        session.shutdown()


def test_samples_sent_but_not_yet_delivered_when_the_run_ends_are_kept_in_it(qtbot, tmp_path):
    import time

    from core.runs import read_run

    session = make_session(qtbot)
    try:
        session.runs_folder = str(tmp_path / "runs")
        started = []
        session.runStarted.connect(started.append)
        session.create_model(small_config(), "min-char-rnn")
        session.start()
        qtbot.waitUntil(lambda: bool(started) and session.trainer.iteration >= 150, timeout=15_000)
        session.pause()
        # The worker parks and sends its last progress and samples; nothing delivers them before the Reset (no
        # event loop runs in between, as when Reset follows Pause within one slot).
        w = session.worker
        deadline = time.monotonic() + 30  # (a guard against a hang, not a measure)
        while not w.pause_latencies and time.monotonic() < deadline:  # the loop has parked ...
            time.sleep(0.01)
        with w.hold():  # ... and posted its last progress and samples: it keeps the turn until they are sent
            pass
        last = session.trainer.iteration
        session.discard_model()
        run = read_run(started[0])
        assert [s.iteration for s in run.samples.samples] == list(range(0, last, 20))
        assert list(run.curves.iteration) == [i for i in range(1, last + 1) if i in set(run.curves.iteration)]
        assert run.latest_iteration == last
    finally:
        session.shutdown()


def test_a_divergence_posted_by_the_worker_right_before_reset_is_not_reported_as_the_model_goes(qtbot, tmp_path):
    import threading

    session = make_session(qtbot)
    try:
        train_a_run(session, qtbot, tmp_path, small_config(), 50)
        reported = []
        session.diverged.connect(reported.append)
        session.failed.connect(reported.append)
        w = session.worker  # as if its last step had diverged and its signals were still queued at the Reset
        poster = threading.Thread(target=lambda: (w.diverged.emit("late"), w.failed.emit("late")))
        poster.start()
        poster.join()
        session.discard_model()  # delivers what the worker posted, for the record only
        qtbot.wait(50)
        assert reported == [] and session.state == IDLE
    finally:
        session.shutdown()


def test_samples_drawn_but_not_yet_sent_when_the_run_ends_are_kept_in_it(qtbot, tmp_path):
    from core.runs import read_run

    session = make_session(qtbot)
    try:
        path = train_a_run(session, qtbot, tmp_path, small_config(), 50)
        with session.held_trainer() as t:  # as if the worker had drawn it right before Reset, not sent it yet
            late = t.sample_now(length=40, seed=3)
            session.worker._samples.append(Sample(t.iteration, late.text, np.zeros((len(late.text), 16)), t.smooth_loss, 1.0))
        session.discard_model()
        assert read_run(path).samples.samples[-1].text == late.text
    finally:
        session.shutdown()
