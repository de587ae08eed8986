"""The engine (core.engine): the one owner of a Trainer and its run; commands only between steps, each answered."""

import json
import pickle

import numpy as np
import pytest

from core import load_checkpoint
from core.engine import (CHECKPOINT, DIVERGED, DONE, ENDED, IDLE, PAUSED, RUN, RUNNING, STOPPED, WARNING,
                         CheckpointExtras, Engine, Live, NowSample, Pause, Peek, Peeked, Restore, RestoreInfo,
                         SampleNow, SaveCheckpoint, SetBaselines, Speed, Start, Status, Step, Stop, Weights)
from core.runs import RunRecorder, RunWriter, read_run
from core.trainer import Trainer

from .runs_helpers import tiny_trainer


def merged_rows(batches, name="iteration"):
    """One column of every batch's rows, in order."""
    parts = [getattr(b.rows, name) for b in batches if b.rows is not None]
    return np.concatenate(parts) if parts else np.array([])


def events(batches, kind=None):
    return [e for b in batches for e in b.events if kind is None or e.kind == kind]


def answers(batches):
    return [a for b in batches for a in b.answers]


def steps(engine, n):
    """Step n iterations and run until the engine is idle again; the batches."""
    engine.submit(Step(n))
    return engine.run_until_idle()


class Interrupting(Trainer):
    """A Trainer whose step `at` hands the engine a command while the step is under way (as a signal or a
    client's message arriving mid-step would)."""

    engine = None
    at = None
    command = None

    def step(self):
        if self.iteration == self.at and self.engine is not None:
            self.engine.submit(self.command)
        return super().step()


def interrupting_engine(at, command, **overrides):
    corpus, trainer = tiny_trainer(**overrides)
    trainer.__class__ = Interrupting
    engine = Engine(trainer)
    trainer.engine, trainer.at, trainer.command = engine, at, command
    return engine


def test_a_command_submitted_mid_step_takes_effect_at_the_next_step_boundary():
    engine = interrupting_engine(10, Pause())  # arrives during the step that completes iteration 11
    engine.submit(Start())
    batches = engine.run_until_idle(max_batches=1000)
    assert engine.iteration == 11 and batches[-1].state == IDLE
    assert [e.iteration for e in events(batches, PAUSED)] == [11]
    assert list(merged_rows(batches)) == list(range(1, 12))


def test_a_live_setting_submitted_mid_step_applies_from_the_next_step():
    engine = interrupting_engine(10, Live({"learning_rate": 0.05}))
    batches = steps(engine, 15)
    rates = merged_rows(batches, "learning_rate")
    assert list(rates[:11]) == [0.1] * 11 and list(rates[11:]) == [0.05] * 4


def test_pause_stops_the_iteration_count():
    _, trainer = tiny_trainer()
    engine = Engine(trainer)
    engine.submit(Start())
    engine.poll(0.0)
    engine.submit(Pause())
    batch = engine.poll(0.0)
    paused_at = engine.iteration
    assert batch.state == IDLE and [e.iteration for e in batch.events_of(PAUSED)] == [paused_at]
    for _ in range(5):
        later = engine.poll(0.01)
        assert later.rows is None and later.iteration == paused_at


def test_step_n_takes_exactly_n_and_steps_asked_while_stepping_add_up():
    _, trainer = tiny_trainer()
    engine = Engine(trainer)
    batches = steps(engine, 7)
    assert engine.iteration == 7 and [e.iteration for e in events(batches, PAUSED)] == [7]
    engine.submit(Step(3))
    engine.poll(0.0)  # one of them taken
    engine.submit(Step(3))
    engine.run_until_idle()
    assert engine.iteration == 13


def test_a_start_with_a_budget_trains_exactly_that_many_iterations_and_says_done():
    _, trainer = tiny_trainer()
    engine = Engine(trainer)
    engine.submit(Start(iterations=30))
    batches = engine.run_until_idle()
    assert engine.iteration == 30 and [e.iteration for e in events(batches, DONE)] == [30]


def test_save_writes_a_checkpoint_that_reloads_to_the_same_weights(tmp_path):
    _, trainer = tiny_trainer()
    engine = Engine(trainer)
    steps(engine, 12)
    path = str(tmp_path / "m.npz")
    answer = engine.call(SaveCheckpoint(path))
    assert answer.ok and answer.value == path
    assert [(e.iteration, e.message) for e in engine.poll(0.0).events_of(CHECKPOINT)] == [(12, path)]
    weights = engine.call(Weights()).value
    ckpt = load_checkpoint(path)
    assert ckpt.iteration == 12
    for name, w in weights.items():
        np.testing.assert_array_equal(ckpt.params[name], w, err_msg=name)


def test_save_to_an_unwritable_path_is_an_error_answer(tmp_path):
    _, trainer = tiny_trainer()
    engine = Engine(trainer)
    answer = engine.call(SaveCheckpoint(str(tmp_path / "no" / "such" / "m.npz")))
    assert not answer.ok and "\n" not in answer.error


def test_sample_now_is_deterministic_with_a_seed_and_does_not_disturb_training():
    _, a = tiny_trainer(sample_every=7)
    _, b = tiny_trainer(sample_every=7)
    with_samples, without = Engine(a), Engine(b)
    first = steps(with_samples, 20)
    one = with_samples.call(SampleNow(length=30, prime="Line", temperature=0.8, seed=3)).value
    two = with_samples.call(SampleNow(length=30, prime="Line", temperature=0.8, seed=3)).value
    assert isinstance(one, NowSample) and one.result.text == two.result.text and one.result.text.startswith("Line")
    assert one.result.hidden.shape == (len(one.result.text), 8)  # (len, H): the heatmap's states
    rest = steps(with_samples, 20)
    straight = steps(without, 40)
    np.testing.assert_array_equal(merged_rows(first + rest, "loss"), merged_rows(straight, "loss"))
    for name, w in with_samples.call(Weights()).value.items():
        np.testing.assert_array_equal(w, without.call(Weights()).value[name], err_msg=name)
    assert [s.text for b in first + rest for s in b.samples] == [s.text for b in straight for s in b.samples]


def test_weights_returns_a_copy():
    _, trainer = tiny_trainer()
    engine = Engine(trainer)
    steps(engine, 3)
    weights = engine.call(Weights()).value
    before = {k: v.copy() for k, v in weights.items()}
    for w in weights.values():
        w[...] = 0.0
    for name, w in engine.call(Weights()).value.items():
        np.testing.assert_array_equal(w, before[name], err_msg=name)


def test_live_settings_apply_from_the_next_step_and_bad_ones_are_refused():
    _, trainer = tiny_trainer(sample_every=0)
    engine = Engine(trainer)
    first = steps(engine, 5)
    assert engine.call(Live({"learning_rate": 0.05, "sample_every": 1, "sample_length": 4})).ok
    then = steps(engine, 2)
    assert list(merged_rows(first, "learning_rate")) == [0.1] * 5
    assert list(merged_rows(then, "learning_rate")) == [0.05] * 2
    assert [len(s.text) for b in then for s in b.samples] == [4, 4] and not [s for b in first for s in b.samples]
    refused = engine.call(Live({"hidden_size": 4}))
    assert not refused.ok and "cannot change while training" in refused.error
    assert not engine.call(Live({"learning_rate": -1})).ok


def diverging_engine(**overrides):
    """An engine that trained 150 iterations at the usual rate, then was set to a rate that diverges."""
    _, trainer = tiny_trainer(sample_every=0, clip=0.0, **overrides)
    engine = Engine(trainer)
    steps(engine, 150)
    before = engine.call(Weights()).value
    assert engine.call(Live({"learning_rate": 1e6})).ok
    engine.submit(Start())
    batches = engine.run_until_idle(max_batches=2000)
    return engine, before, batches


def test_a_diverged_run_reports_the_reason_and_keeps_finite_weights():
    engine, _, batches = diverging_engine()
    diverged = events(batches, DIVERGED)
    assert len(diverged) == 1 and "training diverged at iteration" in diverged[0].message
    assert diverged[0].learning_rate == 1e6 and batches[-1].state == IDLE
    assert engine.call(Status()).value.diverged == diverged[0].message
    assert all(np.isfinite(w).all() for w in engine.call(Weights()).value.values())


def test_restore_goes_back_to_the_weights_before_the_learning_rate_change():
    engine, before, _ = diverging_engine()
    answer = engine.call(Restore())
    assert answer.ok and isinstance(answer.value, RestoreInfo)
    assert answer.value.iteration == 150 and answer.value.learning_rate == 0.1
    for name, w in engine.call(Weights()).value.items():
        np.testing.assert_array_equal(w, before[name], err_msg=name)
    status = engine.call(Status()).value
    assert status.diverged is None and status.learning_rate == 0.1 and not status.has_restore_point
    batches = steps(engine, 5)  # and training goes on from there
    assert len(merged_rows(batches)) == 5 and not events(batches, DIVERGED)


def test_every_command_is_answered_and_a_bad_one_is_an_error_answer():
    _, trainer = tiny_trainer()
    engine = Engine(trainer)
    ids = [engine.submit(c) for c in (object(), Step(0), Restore(), Speed(-1), Start(iterations=0),
                                      SampleNow(prime="\u2603"), Status(), Stop(), Start(), Pause())]
    got = answers([engine.poll(0.0)])
    assert [a.id for a in got] == ids
    assert [a.ok for a in got] == [False, False, False, False, False, False, True, True, False, False]
    assert got[0].error.startswith("unknown command") and "stopped" in got[8].error
    assert all("\n" not in a.error for a in got if not a.ok)


def test_a_speed_limit_waits_between_steps_instead_of_stepping():
    _, trainer = tiny_trainer()
    engine = Engine(trainer)
    assert engine.call(Speed(0.001)).value == 0.001  # one step per 1000 s
    engine.submit(Start())
    first = engine.poll(0.0)
    assert len(first.rows) == 1 and first.state == RUNNING
    assert engine.poll(0.0).rows is None and engine.wait_hint() > 100
    assert engine.call(Speed(0)).ok and engine.poll(0.0).rows is not None


def run_engine(tmp_path, corpus, trainer, **kw):
    writer = RunWriter.create(str(tmp_path / "run"), config=trainer.config, corpus=corpus, command="test",
                              preset="min-char-rnn")
    return Engine(trainer, RunRecorder(writer, trainer, log_every=10, **kw))


def test_the_run_folder_written_by_the_engine_reads_back_with_every_line_whole(tmp_path):
    corpus, trainer = tiny_trainer(grad_flow_every=20)
    engine = run_engine(tmp_path, corpus, trainer, checkpoint_every=50)
    steps(engine, 60)
    assert engine.call(SampleNow(length=10, prime="Li", seed=1)).ok
    steps(engine, 40)
    stopped = engine.call(Stop("finished")).value
    assert stopped.outcome == "finished" and stopped.saved_at == 100 and stopped.warnings == []
    folder = tmp_path / "run"
    for name in ("metrics.jsonl", "samples.jsonl"):
        text = (folder / name).read_text(encoding="utf-8")
        assert text.endswith("\n") and all(json.loads(line) for line in text.splitlines())
    run = read_run(str(folder))
    assert run.status == "finished" and run.curves.iteration[-1] == 100
    assert 10 in run.curves.iteration and 100 in run.curves.iteration
    assert any(s.prime == "Li" and s.iteration == 60 for s in run.samples.samples)
    assert load_checkpoint(run.checkpoint()).iteration == 100
    assert not engine.call(Start()).ok and engine.call(Weights()).ok  # stopped: it still answers what it can


def test_a_pause_is_left_out_of_the_runs_training_time(tmp_path):
    now = [0.0]
    corpus, trainer = tiny_trainer()
    writer = RunWriter.create(str(tmp_path / "run"), config=trainer.config, corpus=corpus, command="test",
                              preset="min-char-rnn")
    engine = Engine(trainer, RunRecorder(writer, trainer, log_every=5, timer=lambda: now[0]), clock=lambda: now[0])
    steps(engine, 5)
    now[0] += 1000.0  # paused a long time
    steps(engine, 5)
    engine.call(Stop("finished"))
    assert read_run(str(tmp_path / "run")).curves.elapsed[-1] < 1.0


def test_outputs_are_picklable(tmp_path):
    corpus, trainer = tiny_trainer(sample_every=3, grad_flow_every=4)
    engine = run_engine(tmp_path, corpus, trainer)
    for command in (Step(10), SampleNow(length=5), Weights(), Status(), Live({"temperature": 0.5})):
        engine.submit(command)
    batches = engine.run_until_idle()
    batches.append(engine.poll(0.0))
    engine.submit(Stop())
    batches.append(engine.poll(0.0))
    assert [b.samples for b in batches if b.samples] and [b.flows for b in batches if b.flows]
    assert {a.command for a in answers(batches)} == {"Step", "SampleNow", "Weights", "Status", "Live", "Stop"}
    assert events(batches, ENDED) and batches[-1].state == STOPPED
    back = pickle.loads(pickle.dumps(batches))
    np.testing.assert_array_equal(merged_rows(back, "loss"), merged_rows(batches, "loss"))
    assert [s.text for b in back for s in b.samples] == [s.text for b in batches for s in b.samples]


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_the_engine_trains_every_cell_as_the_trainer_does(cell):
    _, a = tiny_trainer(cell=cell)
    _, b = tiny_trainer(cell=cell)
    batches = steps(Engine(a), 10)
    direct = [b.step().loss for _ in range(10)]
    np.testing.assert_array_equal(merged_rows(batches, "loss"), direct)


def _serve_tiny_engine(conn):
    """A child process's main: a tiny trainer's engine served on conn (core.engine.serve)."""
    from core.engine import serve

    _, trainer = tiny_trainer(sample_every=10)
    why = serve(Engine(trainer), conn)
    try:
        conn.send(why)
    except OSError:  # the client went away: exit 0 only if serve() said so
        raise SystemExit(0 if why == "pipe closed" else 3)


def _receive_until(conn, done, timeout=60.0):
    """Batches from conn until done(batches) (the child's last message, a str, is kept as well)."""
    got = []
    while not done(got):
        assert conn.poll(timeout), "the engine process went quiet"
        got.append(conn.recv())
    return got


def test_a_child_process_drives_the_engine_through_a_pipe_and_every_command_is_answered():
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=_serve_tiny_engine, args=(child,), daemon=True)
    process.start()
    try:
        parent.send((1, Start()))
        batches = _receive_until(parent, lambda got: sum(len(b.rows) for b in got if b.rows is not None) >= 30)
        for pair in ((2, Pause()), (3, Weights()), (4, Step(5)), (5, object())):
            parent.send(pair)
        batches += _receive_until(parent, lambda got: len(events(got, PAUSED)) >= 2)  # the pause, then the steps
        parent.send((6, Stop()))
        batches += _receive_until(parent, lambda got: bool(got) and isinstance(got[-1], str))
        assert batches[-1] == "stopped"
        batches = batches[:-1]
    finally:
        process.join(30)
        if process.is_alive():  # pragma: no cover - a hung child must not outlive the test
            process.kill()
    got = {a.id: a for a in answers(batches)}
    assert sorted(got) == [1, 2, 3, 4, 5, 6] and not got[5].ok and all(got[i].ok for i in (1, 2, 3, 4, 6))
    iterations = merged_rows(batches)
    assert list(iterations) == list(range(1, len(iterations) + 1))  # every step reported once, in order
    paused = [e.iteration for e in events(batches, PAUSED)]
    assert paused == [got[2].value, got[2].value + 5] and iterations[-1] == got[6].value.iteration


def test_an_engine_process_whose_client_goes_away_stops_by_itself():
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=_serve_tiny_engine, args=(child,), daemon=True)
    process.start()
    child.close()
    try:
        parent.send((1, Start()))
        _receive_until(parent, lambda got: len(got) >= 3)  # training
        parent.close()
        process.join(30)
        assert not process.is_alive() and process.exitcode == 0
    finally:
        if process.is_alive():  # pragma: no cover - a hung child must not outlive the test
            process.kill()


def test_peek_mid_training_gives_the_next_window_its_carried_state_and_the_weights_of_one_moment():
    settings = {"batch_size": 3, "state_reset_every": 4}
    engine = interrupting_engine(9, Peek(stream=1), **settings)
    engine.submit(Step(20))
    batches = engine.run_until_idle()
    (answer,) = [a for a in answers(batches) if a.command == "Peek"]
    peeked = answer.value
    assert isinstance(peeked, Peeked) and peeked.iteration == 10 and peeked.stream == 1 and peeked.streams == 3
    _, straight = tiny_trainer(**settings)
    for _ in range(10):
        straight.step()
    for name, w in straight.params.items():  # the weights after exactly the 10 steps taken when it was answered
        np.testing.assert_array_equal(peeked.params[name], w, err_msg=name)
    inputs, targets = straight.window()  # (T, B) what iteration 11 trains on
    np.testing.assert_array_equal(peeked.ids, inputs[:, 1])
    np.testing.assert_array_equal(peeked.targets, targets[:, 1])
    np.testing.assert_array_equal(peeked.state0, straight.state[:, 1])  # (K, H) after the reset rules
    assert peeked.temperature == straight.temperature


def test_peek_answers_copies_and_refuses_a_stream_that_does_not_exist():
    _, trainer = tiny_trainer()
    engine = Engine(trainer)
    steps(engine, 3)
    peeked = engine.call(Peek()).value
    for w in peeked.params.values():
        w[...] = 0.0
    peeked.state0[...] = 7.0
    assert all(np.abs(w).sum() > 0 for w in trainer.params.values()) and not (trainer.state == 7.0).any()
    bad = engine.call(Peek(stream=1))  # batch_size 1: only stream 0
    assert not bad.ok and "stream" in bad.error


def test_set_baselines_writes_them_into_run_json_and_is_false_without_a_run(tmp_path):
    corpus, trainer = tiny_trainer()
    engine = run_engine(tmp_path, corpus, trainer)
    assert engine.call(SetBaselines({"1-gram": 4.25, "3-gram": 2.5})).value is True
    assert read_run(str(tmp_path / "run")).info["baselines"] == {"1-gram": 4.25, "3-gram": 2.5}
    engine.call(Stop())
    assert not engine.call(SetBaselines({"1-gram": 1.0})).ok  # the run is closed
    _, other = tiny_trainer()
    assert Engine(other).call(SetBaselines({"1-gram": 4.25})).value is False


def test_checkpoint_extras_are_saved_with_every_run_checkpoint_until_cleared(tmp_path):
    corpus, trainer = tiny_trainer(eval_every=25)
    engine = run_engine(tmp_path, corpus, trainer, checkpoint_every=10)
    meta = np.frombuffer(json.dumps({"corpus": "builtin:x"}).encode("utf-8"), dtype=np.uint8)
    answer = engine.call(CheckpointExtras({"gui": meta, "loss": np.arange(5.0)}))
    assert answer.ok and answer.value == ["gui", "loss"]
    steps(engine, 30)
    run = read_run(str(tmp_path / "run"))
    for which in ("latest", "best"):
        ckpt = load_checkpoint(str(tmp_path / "run" / "checkpoints" / f"{which}.npz"))
        np.testing.assert_array_equal(ckpt.extras["gui"], meta, err_msg=which)
        np.testing.assert_array_equal(ckpt.extras["loss"], np.arange(5.0), err_msg=which)
    assert engine.call(CheckpointExtras(None)).value == []
    steps(engine, 10)
    assert load_checkpoint(run.checkpoint()).extras == {}


def test_status_says_the_restore_point_the_divergence_dialog_shows():
    engine, _, _ = diverging_engine()
    status = engine.call(Status()).value
    assert status.has_restore_point and status.restore_point == RestoreInfo(150, 0.1, 1e6,
                                                                            status.restore_point.smooth_loss)
    assert status.epoch > 0 and status.chars_seen == status.iteration * 8


def test_training_time_given_at_opening_is_counted_on():
    now = [0.0]
    _, trainer = tiny_trainer()
    engine = Engine(trainer, clock=lambda: now[0], elapsed=100.0)
    assert engine.call(Status()).value.elapsed == 100.0
    engine.submit(Start())
    engine.poll(0.0)
    now[0] += 2.0
    engine.submit(Pause())
    assert engine.poll(0.0).elapsed == 102.0


def test_the_new_commands_and_their_answers_are_picklable(tmp_path):
    corpus, trainer = tiny_trainer()
    engine = run_engine(tmp_path, corpus, trainer)
    commands = [Peek(), SetBaselines({"1-gram": 4.0}), CheckpointExtras({"a": np.zeros(2)}), Status()]
    for command in pickle.loads(pickle.dumps(commands)):
        engine.submit(command)
    batch = engine.poll(0.0)
    assert [a.ok for a in batch.answers] == [True] * 4
    back = pickle.loads(pickle.dumps(batch))
    np.testing.assert_array_equal(back.answers[0].value.ids, batch.answers[0].value.ids)
    assert back.answers[3].value == batch.answers[3].value
    engine.call(Stop())


def test_time_before_the_first_start_is_left_out_of_the_runs_training_time(tmp_path):
    now = [0.0]
    corpus, trainer = tiny_trainer()
    writer = RunWriter.create(str(tmp_path / "run"), config=trainer.config, corpus=corpus, command="test")
    engine = Engine(trainer, RunRecorder(writer, trainer, log_every=5, timer=lambda: now[0]), clock=lambda: now[0])
    now[0] += 1000.0  # opened, then left alone before the first Start
    steps(engine, 5)
    engine.call(Stop("finished"))
    assert read_run(str(tmp_path / "run")).curves.elapsed[-1] < 1.0


def test_a_run_opened_at_the_first_step_gets_the_extras_and_baselines_given_before(tmp_path):
    corpus, trainer = tiny_trainer()
    opened = []

    def open_run():
        writer = RunWriter.create(str(tmp_path / "run"), config=trainer.config, corpus=corpus, command="test")
        opened.append(writer.path)
        return RunRecorder(writer, trainer, log_every=5), ["a note"]

    engine = Engine(trainer, open_run=open_run)
    assert engine.call(SetBaselines({"1-gram": 4.0})).value is True
    assert engine.call(CheckpointExtras({"curve": np.arange(2.0)})).ok
    assert engine.call(SampleNow(length=5, seed=1)).ok and not opened  # nothing trained: no run yet
    batches = steps(engine, 5)
    assert [e.message for e in events(batches, RUN)] == opened and len(opened) == 1
    assert [e.message for e in events(batches, WARNING)] == ["a note"]
    assert engine.call(Status()).value.run_path == opened[0]
    steps(engine, 5)  # a second start opens nothing more
    engine.call(Stop("finished"))
    run = read_run(opened[0])
    assert len(opened) == 1 and run.info["baselines"] == {"1-gram": 4.0} and run.curves.iteration[-1] == 10
    np.testing.assert_array_equal(load_checkpoint(run.checkpoint()).extras["curve"], np.arange(2.0))


def test_a_run_that_cannot_be_opened_leaves_the_training_unrecorded_with_a_warning():
    _, trainer = tiny_trainer()

    def open_run():
        raise OSError(28, "No space left on device", "/runs/x")

    engine = Engine(trainer, open_run=open_run)
    batches = steps(engine, 5)
    (warning,) = events(batches, WARNING)
    assert warning.message == "No space left on device: /runs/x; this training is not recorded as a run"
    assert len(merged_rows(batches)) == 5 and not events(batches, RUN)
    assert engine.call(Status()).value.run_path is None


def test_extras_set_after_the_last_save_are_in_the_runs_last_checkpoint(tmp_path):
    corpus, trainer = tiny_trainer()
    engine = run_engine(tmp_path, corpus, trainer, checkpoint_every=10)
    steps(engine, 10)  # latest.npz saved at 10
    assert engine.call(CheckpointExtras({"curve": np.arange(4.0)})).ok
    assert engine.call(Stop("finished")).value.saved_at == 10  # no step since: saved again for the extras
    np.testing.assert_array_equal(load_checkpoint(read_run(str(tmp_path / "run")).checkpoint()).extras["curve"],
                                  np.arange(4.0))


def test_run_json_says_diverged_at_once_and_running_again_when_training_goes_on(tmp_path):
    corpus, trainer = tiny_trainer(sample_every=0, clip=0.0)
    engine = run_engine(tmp_path, corpus, trainer)
    steps(engine, 150)
    engine.call(Live({"learning_rate": 1e6}))
    engine.submit(Start())
    engine.run_until_idle(max_batches=2000)
    info = read_run(str(tmp_path / "run")).info
    assert info["status"] == "diverged" and info["diverged"].startswith("training diverged at iteration")
    assert engine.call(Restore()).ok
    steps(engine, 5)
    info = read_run(str(tmp_path / "run")).info
    assert info["status"] == "running" and "diverged" not in info and info["ended"] is None
    engine.call(Stop("finished"))
    assert read_run(str(tmp_path / "run")).status == "finished"
