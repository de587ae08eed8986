"""Runs on disk: the directory format written and read back, resumes and the orphan rule, one writer per run."""

import hashlib
import json
import math
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from core import load_checkpoint
from core.runs import (RESUMED, RunError, RunExistsError, RunLockedError, RunRecorder, RunWriter, corpus_identity,
                       read_run)
from core.runs import jsonl as jsonl_module
from core.runs.layout import LOCK

from .runs_helpers import CORPUS_ID, TEXT, tiny_trainer, write_run


def train_into(path, iterations=100, log_every=10, **overrides):
    corpus, trainer = tiny_trainer(**overrides)
    writer = RunWriter.create(path, config=trainer.config, corpus=corpus, command=["charrnn-train", "x"],
                              preset="min-char-rnn")
    recorder = RunRecorder(writer, trainer, log_every=log_every, checkpoint_every=50)
    snaps = list(trainer.run(iterations=iterations))
    for snap in snaps:
        assert recorder.record(snap) == []
    recorder.end("finished")
    assert recorder.close() == []
    return corpus, trainer, snaps


def test_a_run_round_trips_its_record_metrics_samples_and_checkpoints(tmp_path):
    corpus, trainer, snaps = train_into(tmp_path / "run", iterations=100)
    run = read_run(tmp_path / "run")
    info = run.info
    assert info["format"] == "charrnn-run" and info["version"] == 1 and info["status"] == "finished"
    assert info["command"] == ["charrnn-train", "x"] and info["preset"] == "min-char-rnn"
    assert info["config"] == trainer.config.to_dict() and isinstance(info["created"], str)
    assert info["corpus"] == {"name": "fox.txt", "path": None, "characters": len(TEXT),
                              "vocabulary": "".join(sorted(set(TEXT))),
                              "sha256": hashlib.sha256(TEXT.encode("utf-8")).hexdigest()}
    c = run.curves
    # every 10th iteration, and every evaluation (25, 75)
    assert c.iteration.tolist() == [10, 20, 25, 30, 40, 50, 60, 70, 75, 80, 90, 100] and c.iteration.dtype == np.int64
    by_it = {s.iteration: s for s in snaps}
    assert np.allclose(c.loss, [by_it[i].loss for i in c.iteration])
    assert np.allclose(c.loss_per_char, [by_it[i].loss_per_char for i in c.iteration])
    assert np.allclose(c.smooth_loss, [by_it[i].smooth_loss for i in c.iteration])
    assert c.chars_seen.tolist() == [by_it[i].chars_seen for i in c.iteration]
    assert np.all(np.diff(c.elapsed) > 0) and np.all(np.diff(c.wall_time) >= 0)
    assert np.allclose(c.learning_rate, 0.1) and "epoch" in c.extra_names
    val = c.val
    assert val["iteration"].tolist() == [25, 50, 75, 100]
    assert np.allclose(val["val_bpc"], [by_it[i].val_bpc for i in (25, 50, 75, 100)])
    assert run.best_val_bpc == min(val["val_bpc"]) == info["best_val_bpc"]
    assert [s.iteration for s in run.samples.samples] == [0, 25, 50, 75]
    assert all(s.temperature == 1.0 and len(s.text) == 20 for s in run.samples.samples)
    assert run.samples.samples[1].text == by_it[26].sample.text
    assert load_checkpoint(run.checkpoint("latest")).iteration == 100
    best = load_checkpoint(run.best_checkpoint)
    assert best.iteration == int(val["iteration"][np.argmin(val["val_bpc"])])
    assert not os.path.exists(tmp_path / "run" / LOCK)



def test_a_run_closed_between_two_log_lines_ends_its_metrics_at_the_last_iteration_trained(tmp_path):
    # Its latest.npz is of iteration 93: the run's latest iteration (what a runs listing shows and a resume
    # continues from) says the same, with that step's own numbers.
    _, _, snaps = train_into(tmp_path / "run", iterations=93)
    run = read_run(tmp_path / "run")
    assert run.curves.iteration.tolist()[-3:] == [80, 90, 93] and run.latest_iteration == 93
    assert run.curves.loss[-1] == snaps[-1].loss and run.info["iteration"] == 93
    assert int(load_checkpoint(run.checkpoint()).meta["iteration"]) == 93

def test_corpus_identity_hashes_the_text_as_utf8_in_pieces(monkeypatch):
    from core import corpus_from_text
    from core.runs import layout

    text = "naïve — ✓ text\n" * 50
    monkeypatch.setattr(layout, "HASH_CHUNK", 7)
    ident = corpus_identity(corpus_from_text(text, name="n.txt"))
    assert ident["sha256"] == hashlib.sha256(text.encode("utf-8")).hexdigest() and ident["characters"] == len(text)


def test_every_line_is_written_whole_by_one_system_call(tmp_path, monkeypatch):
    calls = []
    real_write = os.write

    def spy(fd, data):
        calls.append(bytes(data))
        return real_write(fd, data)

    monkeypatch.setattr(jsonl_module.os, "write", spy)
    writer = write_run(tmp_path / "run", status=None)
    writer.log_metrics(1, loss=1.0)
    writer.log_sample(1, "line one\nline two", 0.8, prime="li")
    writer.close()
    assert len(calls) == 2 and all(c.endswith(b"\n") and c.count(b"\n") == 1 for c in calls)
    assert json.loads(calls[1]) == {"iteration": 1, "temperature": 0.8, "prime": "li", "text": "line one\nline two",
                                    "wall_time": json.loads(calls[1])["wall_time"]}


def test_non_finite_numbers_are_written_as_null_and_read_as_nan(tmp_path):
    writer = write_run(tmp_path / "run", status=None)
    writer.log_metrics(1, loss=math.nan, smooth_loss=math.inf, val_bpc=float("nan"), grad_norm=np.float32(2.5))
    writer.close()
    line = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    assert line["loss"] is None and line["smooth_loss"] is None and line["grad_norm"] == 2.5
    run = read_run(tmp_path / "run")
    assert math.isnan(run.curves.loss[0]) and len(run.curves.val["val_bpc"]) == 0
    assert run.curves.grad_norm.tolist() == [2.5]  # extra fields pass through as columns


def test_extra_number_fields_become_columns_and_text_fields_do_not(tmp_path):
    writer = write_run(tmp_path / "run", status=None)
    writer.log_metrics(1, loss=1.0, note="warming up")
    writer.log_metrics(2, loss=2.0, grad_norm=math.inf, note="x")  # null first
    writer.log_metrics(3, loss=3.0, grad_norm=3.0, lr_scale=1)
    writer.close()
    curves = read_run(tmp_path / "run").curves
    assert curves.extra_names == ("grad_norm", "lr_scale")
    assert np.isnan(curves.grad_norm[:2]).all() and curves.grad_norm[2] == 3.0
    assert np.isnan(curves.lr_scale[:2]).all() and curves.lr_scale[2] == 1.0


def test_a_new_run_refuses_a_folder_that_already_holds_one(tmp_path):
    write_run(tmp_path / "run", [1, 2])
    with pytest.raises(RunExistsError, match="already holds a run"):
        RunWriter.create(tmp_path / "run", config={}, corpus=CORPUS_ID)
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunError, match="is a file"):
        RunWriter.create(tmp_path / "file", config={}, corpus=CORPUS_ID)


def test_a_resume_appends_the_event_and_readers_drop_the_orphans(tmp_path):
    path = tmp_path / "run"
    write_run(path, range(10, 310, 10), vals={100: 2.0, 250: 1.5, 300: 1.2}, status="interrupted")
    writer = RunWriter.resume(path, iteration=200, corpus=CORPUS_ID, command=["again"])
    assert writer.elapsed_offset == 2.0  # the last kept point's training time
    assert writer.best_val_bpc == 2.0  # 1.5 and 1.2 came after 200: orphans
    writer.log_sample(200, "after", 1.0)
    for it in (210, 220):
        writer.log_metrics(it, loss=-1.0, val_bpc=1.9 if it == 220 else None)
    writer.close()
    lines = [json.loads(x) for x in (path / "metrics.jsonl").read_text().splitlines()]
    assert {"event": RESUMED, "iteration": 200} == {k: v for k, v in lines[30].items() if k != "wall_time"}
    run = read_run(path)
    assert run.curves.iteration.tolist() == list(range(10, 210, 10)) + [210, 220]
    assert run.curves.loss[-2:].tolist() == [-1.0, -1.0] and run.curves.resumes == [200]
    assert run.curves.val["iteration"].tolist() == [100, 220] and run.best_val_bpc == 1.9
    assert run.info["status"] == "finished" and run.info["resumes"][0]["command"] == ["again"]
    assert [s.text for s in run.samples.samples] == ["after"]


def test_samples_drawn_after_the_resume_point_before_it_are_orphans(tmp_path):
    path = tmp_path / "run"
    writer = write_run(path, status=None)
    for it in (0, 100, 200, 300):
        writer.log_sample(it, f"s{it}", 1.0)
    writer.close("interrupted")
    RunWriter.resume(path, iteration=150).close()
    run = read_run(path)
    assert [s.iteration for s in run.samples.samples] == [0, 100]
    assert run.samples.nearest(140).text == "s100" and run.samples.nearest(-5).text == "s0"


def test_a_resume_refuses_a_different_corpus(tmp_path):
    write_run(tmp_path / "run", [1])
    other = dict(CORPUS_ID, sha256="1" * 64, name="other.txt")
    with pytest.raises(RunError, match="was trained on fox.txt"):
        RunWriter.resume(tmp_path / "run", iteration=1, corpus=other)
    assert not os.path.exists(tmp_path / "run" / LOCK)  # the refused writer let go of the lock


def test_a_second_writer_is_refused_with_a_clear_message(tmp_path):
    first = write_run(tmp_path / "run", [1], status=None)
    with pytest.raises(RunLockedError) as e:
        RunWriter.resume(tmp_path / "run", iteration=1)
    message = str(e.value)
    assert f"process {os.getpid()} on {socket.gethostname()}" in message and "one writer per run" in message
    assert "\n" not in message
    first.close()
    RunWriter.resume(tmp_path / "run", iteration=1).close()  # free again


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_stale_lock_of_a_dead_process_on_this_host_is_taken_over(tmp_path):
    write_run(tmp_path / "run", [1], status="interrupted")
    lock = tmp_path / "run" / LOCK
    lock.write_text(json.dumps({"pid": dead_pid(), "host": socket.gethostname(), "since": 0}))
    writer = RunWriter.resume(tmp_path / "run", iteration=1)
    assert json.loads(lock.read_text())["pid"] == os.getpid()
    writer.close()
    assert not lock.exists()


def test_a_lock_held_on_another_host_is_refused_even_if_the_pid_is_free_here(tmp_path):
    write_run(tmp_path / "run", [1], status="interrupted")
    (tmp_path / "run" / LOCK).write_text(json.dumps({"pid": dead_pid(), "host": "elsewhere", "since": 0}))
    with pytest.raises(RunLockedError, match="on elsewhere"):
        RunWriter.resume(tmp_path / "run", iteration=1)


def test_an_exception_closes_the_run_as_interrupted(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with write_run(tmp_path / "run", [1], status=None):
            raise KeyboardInterrupt
    run = read_run(tmp_path / "run")
    assert run.info["status"] == "interrupted" and run.status == "interrupted" and run.info["ended"]


def test_the_recorder_keeps_training_when_a_write_fails_and_warns_once(tmp_path, monkeypatch):
    corpus, trainer = tiny_trainer(sample_every=0)
    writer = RunWriter.create(tmp_path / "run", config=trainer.config, corpus=corpus)
    recorder = RunRecorder(writer, trainer, log_every=1, checkpoint_every=5)

    def full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writer, "save_checkpoint", full)
    warnings = [w for snap in trainer.run(iterations=20) for w in recorder.record(snap)]
    assert len(warnings) == 1 and "No space left on device" in warnings[0] and "training goes on" in warnings[0]
    assert len(read_run(tmp_path / "run").curves) == 20
    recorder.end("finished")
    recorder.close()
    assert read_run(tmp_path / "run").info["status"] == "finished"


def test_latest_checkpoint_follows_the_clock_without_an_iteration_interval(tmp_path):
    corpus, trainer = tiny_trainer(sample_every=0, val_fraction=0.0)
    now = [0.0]
    writer = RunWriter.create(tmp_path / "run", config=trainer.config, corpus=corpus)
    recorder = RunRecorder(writer, trainer, log_every=1000, checkpoint_seconds=60, timer=lambda: now[0])
    saved = []
    real = writer.save_checkpoint
    writer.save_checkpoint = lambda t, which="latest.npz": saved.append((t.iteration, which)) or real(t, which)
    for snap in trainer.run(iterations=10):
        now[0] += 25.0  # 25 s per iteration
        recorder.record(snap)
    recorder.end("finished")
    recorder.close()
    assert [it for it, _ in saved] == [3, 6, 9, 10]  # every 60 s of training and at the end


def snapshot(iteration, diverged=None):
    from core import Snapshot

    return Snapshot(iteration, 50.0, 2.0, 50.0, iteration * 8, 0.1, 0.1, diverged=diverged)


@pytest.mark.parametrize("goes_on, status", [(False, "diverged"), (True, "finished")])
def test_a_divergence_marks_the_run_diverged_unless_training_goes_on(tmp_path, goes_on, status):
    corpus, trainer = tiny_trainer(sample_every=0)
    writer = RunWriter.create(tmp_path / "run", config=trainer.config, corpus=corpus)
    recorder = RunRecorder(writer, trainer, log_every=1)
    recorder.record(snapshot(1))
    recorder.record(snapshot(1, diverged="training diverged at iteration 2"))
    assert recorder.saved_at == trainer.iteration  # the last finite weights, kept at once
    if goes_on:  # e.g. the app lowered the learning rate and pressed Start again
        recorder.record(snapshot(2))
    recorder.end("finished")
    recorder.close()
    info = read_run(tmp_path / "run").info
    assert info["status"] == status and ("diverged" in info) == (not goes_on)


def test_an_empty_lock_is_refused_while_fresh_and_taken_over_when_old(tmp_path):
    write_run(tmp_path / "run", [1], status="interrupted")
    lock = tmp_path / "run" / LOCK
    lock.write_text("")  # a writer killed between creating its lock and filling it
    with pytest.raises(RunLockedError, match="unreadable"):
        RunWriter.resume(tmp_path / "run", iteration=1)
    old = os.stat(lock).st_mtime - 120
    os.utime(lock, (old, old))
    RunWriter.resume(tmp_path / "run", iteration=1).close()
    assert not lock.exists()
