"""The engine process (core.engine_process): a child that opens a training from one message and serves its Engine."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from multiprocessing.connection import Connection

import numpy as np
import pytest

from core.config import preset
from core.corpus import load_corpus
from core.checkpoint import load_checkpoint
from core.engine import DONE, ENDED, Batch, CheckpointExtras, Engine, Pause, Start, Status, Stop
from core.engine_process import OPEN_FAILED, OPENED, blas_limit
from core.runs import read_run
from core.runs.abandon import mark_interrupted
from core.runs.layout import LOCK
from core.trainer import Trainer

from .runs_helpers import TEXT

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL = dict(hidden_size=8, seq_length=8, sample_every=25, sample_length=20, val_fraction=0.1, eval_every=25,
             eval_chars=200, grad_flow_every=20)


@pytest.fixture
def corpus_file(tmp_path):
    path = tmp_path / "fox.txt"
    path.write_text(TEXT, encoding="utf-8")
    return str(path)


def spec_of(corpus_file, tmp_path, **changes):
    spec = {"corpus": corpus_file, "config": preset("min-char-rnn", **SMALL).to_dict(),
            "runs_folder": str(tmp_path / "runs"), "checkpoint_every": 20, "log_every": 10}
    spec.update(changes)
    return spec


@pytest.fixture
def child():
    """start(spec) -> (process, conn): a child engine process sent its open message; killed and reaped after."""
    started = []

    def start(spec):
        ours, theirs = socket.socketpair()
        env = dict(os.environ, PYTHONPATH=ROOT)
        process = subprocess.Popen([sys.executable, "-m", "core.engine_process", str(theirs.fileno())],
                                   pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, env=env)
        theirs.close()
        conn = Connection(ours.detach())
        started.append((process, conn))
        conn.send(spec)
        return process, conn

    yield start
    for process, conn in started:
        process.kill()
        process.wait()
        conn.close()


def receive(conn, timeout=20.0):
    assert conn.poll(timeout), "the child said nothing"
    return conn.recv()


def batches_until(conn, done, timeout=30.0):
    """Batches received until done(batch) says so."""
    out, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = receive(conn, max(0.1, deadline - time.monotonic()))
        assert isinstance(message, Batch), message
        out.append(message)
        if done(message):
            return out
    raise AssertionError("the child never got there")


def test_the_child_opens_a_training_and_says_what_the_window_needs(child, corpus_file, tmp_path):
    process, conn = child(spec_of(corpus_file, tmp_path))
    kind, info = receive(conn)
    assert kind == OPENED
    corpus = load_corpus(corpus_file)
    assert info["vocab"] == "".join(corpus.vocab.chars) and info["vocab_size"] == corpus.vocab_size
    assert info["corpus_chars"] == len(corpus) and info["iteration"] == 0 and info["pid"] == process.pid
    assert info["config"]["hidden_size"] == 8
    assert os.path.dirname(info["run_path"]) == str(tmp_path / "runs")
    assert info["blas_threads"] and all(n == 1 for n in info["blas_threads"])  # the default limit: one thread


def test_the_child_trains_bit_for_bit_as_an_engine_in_this_process(child, corpus_file, tmp_path):
    process, conn = child(spec_of(corpus_file, tmp_path))
    assert receive(conn)[0] == OPENED
    conn.send((1, Start(iterations=60)))
    got = batches_until(conn, lambda b: any(e.kind == DONE for e in b.events))
    with blas_limit():
        engine = Engine(Trainer.from_corpus(load_corpus(corpus_file), preset("min-char-rnn", **SMALL)))
        engine.submit(Start(iterations=60))
        want = engine.run_until_idle()

    def column(batches, name):
        return np.concatenate([getattr(b.rows, name) for b in batches if b.rows is not None])

    for name in ("iteration", "loss", "smooth_loss", "learning_rate", "val_bpc"):
        assert np.array_equal(column(got, name), column(want, name)), name
    assert [s.text for b in got for s in b.samples] == [s.text for b in want for s in b.samples]
    assert [f.iteration for b in got for f in b.flows] == [f.iteration for b in want for f in b.flows] != []
    conn.send((2, Stop("finished")))
    last = batches_until(conn, lambda b: any(e.kind == ENDED for e in b.events))
    assert last[-1].answers[-1].value.outcome == "finished"
    assert process.wait(10) == 0
    run = read_run(only_run(tmp_path))
    assert run.status == "finished" and run.latest_iteration == 60


def only_run(tmp_path):
    """The one run folder written under tmp_path/runs."""
    (name,) = os.listdir(tmp_path / "runs")
    return tmp_path / "runs" / name


def training_child(child, corpus_file, tmp_path, iterations):
    """An engine process on the test text, trained to at least `iterations` and still training: (process, conn,
    run folder)."""
    process, conn = child(spec_of(corpus_file, tmp_path))
    run_path = receive(conn)[1]["run_path"]
    conn.send((1, Start()))
    batches_until(conn, lambda b: b.iteration >= iterations)
    return process, conn, run_path


def test_an_open_that_fails_answers_one_line_and_the_child_ends(child, tmp_path):
    process, conn = child(spec_of(str(tmp_path / "missing.txt"), tmp_path))
    kind, line = receive(conn)
    assert kind == OPEN_FAILED and "missing.txt" in line and "\n" not in line
    assert process.wait(10) == 1


def test_a_closed_pipe_ends_the_run_as_interrupted_with_its_checkpoint(child, corpus_file, tmp_path):
    process, conn, run_path = training_child(child, corpus_file, tmp_path, 30)
    conn.close()
    assert process.wait(10) == 0
    run = read_run(run_path)
    assert run.status == "interrupted" and os.path.exists(run.checkpoint())


def test_the_child_ignores_sigint(child, corpus_file, tmp_path):
    process, conn = child(spec_of(corpus_file, tmp_path))
    assert receive(conn)[0] == OPENED
    process.send_signal(signal.SIGINT)  # Ctrl+C in a terminal reaches the whole group: the app decides
    conn.send((1, Status()))
    (batch,) = batches_until(conn, lambda b: bool(b.answers))
    assert batch.answers[0].ok and process.poll() is None


def test_a_run_whose_engine_was_killed_is_marked_interrupted_from_outside(child, corpus_file, tmp_path):
    process, conn, run_path = training_child(child, corpus_file, tmp_path, 45)
    process.kill()
    process.wait()
    assert read_run(run_path).status == "stale"  # still says running, its writer is dead
    assert mark_interrupted(run_path, "the training process ended unexpectedly (killed by signal 9)")
    run = read_run(run_path)
    assert run.status == "interrupted" and run.info["interrupted"].endswith("(killed by signal 9)")
    assert run.checkpoint() and read_run(run_path).latest_iteration >= 40
    assert not os.path.exists(os.path.join(run_path, LOCK))  # the lock taken over was released
    assert not mark_interrupted(run_path, "again")  # an ended run is left alone


def test_mark_interrupted_leaves_a_run_with_a_live_writer_alone(child, corpus_file, tmp_path):
    process, conn = child(spec_of(corpus_file, tmp_path))
    run_path = receive(conn)[1]["run_path"]
    assert not mark_interrupted(run_path, "no")
    conn.send((1, Pause()))
    batches_until(conn, lambda b: bool(b.answers))
    with open(os.path.join(run_path, "run.json"), encoding="utf-8") as f:
        assert json.load(f)["status"] == "running"


def opened(spec):
    """open_engine in this process: (engine, info)."""
    from core.engine_process import open_engine

    return open_engine(spec)


def app_checkpoint(corpus_file, tmp_path, iterations=40):
    """A run trained `iterations` in an engine as the app opens it, its latest.npz carrying the app's extras; its
    folder and checkpoint path."""
    engine, info = opened(spec_of(corpus_file, tmp_path, app_corpus=corpus_file))
    gui = np.frombuffer(json.dumps({"corpus": corpus_file, "elapsed": 3.0}).encode("utf-8"), dtype=np.uint8)
    assert engine.call(CheckpointExtras({"gui": gui})).ok
    engine.submit(Start(iterations=iterations))
    engine.run_until_idle()
    engine.call(Stop("finished"))
    return info["run_path"], os.path.join(info["run_path"], "checkpoints", "latest.npz")


def test_a_new_app_run_keeps_how_the_app_reopens_its_text(corpus_file, tmp_path):
    run_path, _ = app_checkpoint(corpus_file, tmp_path)
    assert read_run(run_path).info["app_corpus"] == corpus_file


def test_opening_a_run_checkpoint_continues_that_run_with_the_training_time_before(corpus_file, tmp_path):
    run_path, latest = app_checkpoint(corpus_file, tmp_path)
    assert "gui" in load_checkpoint(latest).extras
    engine, info = opened(spec_of(corpus_file, tmp_path, resume=latest, elapsed=12.5, live={"temperature": 0.5}))
    try:
        assert info["run_path"] == run_path and info["resumed_run"] and info["run_warning"] is None
        assert info["iteration"] == 40 and info["elapsed"] == 12.5 and info["live"]["temperature"] == 0.5
        assert engine.call(Status()).value.elapsed >= 12.5
    finally:
        engine.call(Stop("finished"))
    info = read_run(run_path).info
    assert info["resumes"][-1]["iteration"] == 40 and info["config"]["temperature"] == 0.5
    assert len(os.listdir(tmp_path / "runs")) == 1


def test_a_checkpoint_saved_outside_a_run_starts_a_new_run_in_the_runs_folder(corpus_file, tmp_path):
    _, latest = app_checkpoint(corpus_file, tmp_path)
    loose = str(tmp_path / "model.npz")
    shutil.copy(latest, loose)
    elsewhere = str(tmp_path / "app-runs")  # not the working folder's runs/
    engine, info = opened(spec_of(corpus_file, tmp_path, resume=loose, runs_folder=elsewhere))
    engine.call(Stop("finished"))
    assert os.path.dirname(info["run_path"]) == elsewhere and not info["resumed_run"]
    assert info["iteration"] == 40


def test_a_run_that_cannot_be_continued_gives_a_new_run_and_says_why(child, corpus_file, tmp_path):
    run_path, latest = app_checkpoint(corpus_file, tmp_path)
    _, conn = child(spec_of(corpus_file, tmp_path, resume=latest))  # another process writes that run now
    assert receive(conn)[1]["run_path"] == run_path
    engine, info = opened(spec_of(corpus_file, tmp_path, resume=latest))
    engine.call(Stop("finished"))
    assert info["run_path"] != run_path and os.path.dirname(info["run_path"]) == str(tmp_path / "runs")
    assert info["run_warning"].endswith("writing a new run instead") and not info["resumed_run"]


def test_the_child_tells_the_window_what_it_needs_to_probe_the_held_out_text(child, corpus_file, tmp_path):
    from core.probe import default_probe_text, probe_passage

    _, conn = child(spec_of(corpus_file, tmp_path))
    _, info = receive(conn)
    corpus = load_corpus(corpus_file)
    trainer = Trainer.from_corpus(corpus, preset("min-char-rnn", **SMALL))
    assert info["n_train"] == trainer.n_train
    assert probe_passage(corpus.data, corpus.vocab, info["n_train"]) == default_probe_text(trainer)
    assert info["live"] == {"learning_rate": trainer.learning_rate, "temperature": trainer.temperature,
                            "sample_every": trainer.sample_every, "sample_length": trainer.sample_length}


def test_an_app_engine_opens_its_run_at_the_first_step_not_before(corpus_file, tmp_path):
    from core.engine import RUN, SetBaselines, Step

    engine, info = opened(spec_of(corpus_file, tmp_path, run_on_start=True, app_corpus=corpus_file,
                                  extras={"curve": np.arange(3.0)}))
    assert info["run_path"] is None and info["run_pending"]
    assert engine.call(SetBaselines({"2-gram": 3.0})).ok
    assert not os.path.exists(tmp_path / "runs") or not os.listdir(tmp_path / "runs")
    engine.submit(Step(20))
    batches = engine.run_until_idle()
    (path,) = [e.message for b in batches for e in b.events if e.kind == RUN]
    engine.call(Stop("finished"))
    run = read_run(path)
    assert os.path.dirname(path) == str(tmp_path / "runs") and run.status == "finished"
    assert run.info["app_corpus"] == corpus_file and run.info["baselines"] == {"2-gram": 3.0}
    np.testing.assert_array_equal(load_checkpoint(run.checkpoint()).extras["curve"], np.arange(3.0))


def test_the_app_can_leave_counting_the_baselines_to_itself(corpus_file, tmp_path):
    left, _ = opened(spec_of(corpus_file, tmp_path, baseline_chars=0))  # the cache only (empty here)
    counted, _ = opened(spec_of(corpus_file, tmp_path))  # as charrnn-train: counted for a small text
    for engine in (counted, left):
        engine.call(Stop("finished"))
    baselines = [read_run(engine.call(Status()).value.run_path).info.get("baselines") for engine in (counted, left)]
    assert baselines[0] and "1-gram" in baselines[0] and baselines[1] is None
