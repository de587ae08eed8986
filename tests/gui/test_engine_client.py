"""The engine client (charrnn_gui.engine_client): a real engine process driven from Qt, its faults and lifetimes."""

import gc
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
import weakref

import numpy as np
import pytest

from charrnn_gui import engine_link
from charrnn_gui.engine_client import EngineClient
from core.checkpoint import load_checkpoint, restore_trainer
from core.config import preset
from core.corpus import load_corpus
from core.engine import (
    Engine,
    Peeked,
    Live,
    Pause,
    Restore,
    SampleNow,
    SaveCheckpoint,
    Speed,
    Start,
    Status,
    Step,
    Stop,
    Weights,
)
from core.engine_process import blas_limit
from core.runs import read_run
from core.trainer import Trainer

from ..runs_helpers import TEXT

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from ..test_engine_process import SMALL, corpus_file  # noqa: F401 - the engine process tests' settings and text


@pytest.fixture
def spec(corpus_file, tmp_path):
    def make(**changes):
        s = {"corpus": corpus_file, "config": preset("min-char-rnn", **SMALL).to_dict(),
             "runs_folder": str(tmp_path / "runs"), "checkpoint_every": 20, "log_every": 10}
        s.update(changes)
        return s
    return make


class Recorder:
    """Everything a client emitted, by signal name."""

    NAMES = ("opened", "progressed", "sampled", "flowed", "started", "paused", "done", "diverged", "checkpointed",
             "run_opened", "warned", "answered", "failed", "ended")

    def __init__(self, client):
        self.got = {name: [] for name in self.NAMES}
        for name in self.NAMES:
            getattr(client, name).connect(lambda *args, name=name: self.got[name].append(args))

    def column(self, name):
        parts = [getattr(rows, name) for (rows,) in self.got["progressed"]]
        return np.concatenate(parts) if parts else np.array([])


@pytest.fixture
def make_client(qtbot):
    """make() -> (client, recorder); every client is closed at teardown, and no child or reader is left."""
    made = []

    def make():
        client = EngineClient()
        made.append(client)
        return client, Recorder(client)

    yield make
    for client in made:
        pid, reader = client.pid, client.reader
        client.close()
        assert reader is None or not reader.is_alive()
        if pid is not None:
            assert not pid_exists(pid)


def pid_exists(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def opened(client, spec, qtbot):
    with qtbot.waitSignal(client.opened, timeout=20_000):
        client.open(spec)
    return client.info


def wait_for(qtbot, condition, timeout=20_000):
    qtbot.waitUntil(condition, timeout=timeout)


def training_client(make_client, spec, qtbot, iterations):
    """A client of the test spec, trained to at least `iterations` and still training: (client, recorder, info)."""
    client, rec = make_client()
    info = opened(client, spec(), qtbot)
    client.start()
    wait_for(qtbot, lambda: client.iteration >= iterations)
    return client, rec, info


def test_the_signals_carry_the_rows_and_samples_of_an_engine_in_this_process_bit_for_bit(make_client, spec,
                                                                                        corpus_file, qtbot):
    client, rec = make_client()
    opened(client, spec(), qtbot)
    with qtbot.waitSignal(client.done, timeout=20_000):
        client.start(iterations=120)
    qtbot.wait(50)  # the last rows come in the same batch as `done`
    with blas_limit():
        engine = Engine(Trainer.from_corpus(load_corpus(corpus_file), preset("min-char-rnn", **SMALL)))
        engine.submit(Start(iterations=120))
        want = engine.run_until_idle()
    for name in ("iteration", "loss", "smooth_loss", "loss_per_char", "learning_rate", "val_bpc"):
        expected = np.concatenate([getattr(b.rows, name) for b in want if b.rows is not None])
        assert np.array_equal(rec.column(name), expected), name
    assert [s.text for (ss,) in rec.got["sampled"] for s in ss] == [s.text for b in want for s in b.samples]
    got_h = [s.hidden for (ss,) in rec.got["sampled"] for s in ss if getattr(s, "hidden", None) is not None]
    want_h = [s.hidden for b in want for s in b.samples if getattr(s, "hidden", None) is not None]
    assert len(got_h) == len(want_h) and all(np.array_equal(a, b) for a, b in zip(got_h, want_h))
    flows = [f for (fs,) in rec.got["flowed"] for f in fs]
    want_flows = [f for b in want for f in b.flows]
    assert [f.iteration for f in flows] == [f.iteration for f in want_flows] and len(flows) == 6
    assert rec.got["done"] == [(120,)]


def test_every_command_is_answered(make_client, spec, qtbot, tmp_path):
    client, rec = make_client()
    opened(client, spec(), qtbot)
    with qtbot.waitSignal(client.paused, timeout=20_000):
        client.step(5)
    commands = [Speed(500.0), Live({"learning_rate": 0.05}), Start(iterations=30), Pause(), Step(3), Status(),
                SampleNow(length=10, seed=1), Weights(), Restore(), Live({"no_such_setting": 1}), "not a command",
                SaveCheckpoint(str(tmp_path / "a.npz")), Stop("finished")]
    answers = [client.call(c, timeout=10.0) for c in commands]
    assert all(a.ok for a in answers[:9]), [a.error for a in answers[:9] if not a.ok]
    assert answers[3].value >= 0 and answers[6].value.result.text and "Wxh" in answers[7].value
    assert answers[8].value.learning_rate == 0.1  # back to the rate before the live change
    assert not answers[9].ok and "\n" not in answers[9].error
    assert answers[10].error == "unknown command: str"
    assert answers[11].ok and answers[12].ok and answers[12].value.outcome == "finished"
    after = client.call(Status())  # the engine has ended: refused at once, with why
    assert not after.ok and "ended" in after.error
    ids = [client.submit(Status())]
    assert rec.got["answered"][-1][0] == 0 and not rec.got["answered"][-1][1].ok and ids == [0]


def test_submitted_commands_are_answered_through_the_signal(make_client, spec, qtbot):
    client, rec = make_client()
    opened(client, spec(), qtbot)
    ids = [client.submit(Status()), client.submit(Speed(-1.0))]
    wait_for(qtbot, lambda: len(rec.got["answered"]) == 2)
    (a, first), (b, second) = rec.got["answered"]
    assert [a, b] == ids and first.ok and second.error.startswith("speed must be")


def test_pause_stops_training_within_two_seconds(make_client, spec, qtbot):
    client, rec = make_client()
    opened(client, spec(), qtbot)
    client.start()
    wait_for(qtbot, lambda: client.iteration >= 50)
    t = time.monotonic()
    answer = client.pause()
    assert answer.ok and time.monotonic() - t < 2.0
    wait_for(qtbot, lambda: bool(rec.got["paused"]))
    assert rec.got["paused"] == [(answer.value,)]
    qtbot.wait(200)
    assert client.call(Status()).value.iteration == answer.value and client.state == "idle"


def test_a_checkpoint_saved_through_the_client_reloads_to_the_same_weights(make_client, spec, corpus_file, qtbot,
                                                                         tmp_path):
    client, rec = make_client()
    opened(client, spec(), qtbot)
    with qtbot.waitSignal(client.paused, timeout=20_000):
        client.step(37)
    path = str(tmp_path / "saved.npz")
    assert client.call(SaveCheckpoint(path)).value == path
    weights = client.call(Weights()).value
    corpus = load_corpus(corpus_file)
    reloaded = restore_trainer(load_checkpoint(path), corpus.data, corpus.vocab)
    assert reloaded.iteration == 37 and set(reloaded.params) == set(weights)
    assert all(np.array_equal(reloaded.params[k], weights[k]) for k in weights)
    wait_for(qtbot, lambda: (path, 37) in rec.got["checkpointed"])  # the path and the iteration it holds


def whole_lines(path):
    """Every line of a JSONL file, parsed; fails on a line cut short."""
    with open(path, "rb") as f:
        raw = f.read()
    assert raw == b"" or raw.endswith(b"\n"), f"{path} ends with a partial line"
    return [json.loads(line) for line in raw.splitlines()]


def test_a_killed_engine_says_why_within_two_seconds_and_its_run_reads_back_interrupted(make_client, spec, qtbot):
    rng = random.Random(18)
    for round in range(20):
        client, rec = make_client()
        info = opened(client, spec(), qtbot)
        client.start()
        wait_for(qtbot, lambda c=client: c.iteration >= 1)
        time.sleep(rng.uniform(0.0, 0.4))  # a random moment: mid-step, mid-write, mid-checkpoint
        os.kill(client.pid, signal.SIGKILL)
        t = time.monotonic()
        with qtbot.waitSignal(client.failed, timeout=2_000) as failed:
            pass
        assert time.monotonic() - t < 2.0
        (line,) = failed.args
        assert line == "training stopped: the training process ended unexpectedly (killed by signal 9, SIGKILL)"
        assert client.state == "gone" and not client.reader.is_alive() and rec.got["ended"][-1] == ("failed",)
        run = read_run(info["run_path"])
        assert run.status == "interrupted", round
        assert run.info["interrupted"] == line
        whole_lines(os.path.join(info["run_path"], "metrics.jsonl"))
        samples = whole_lines(os.path.join(info["run_path"], "samples.jsonl"))
        assert all("text" in s for s in samples)
        if run.checkpoint():
            load_checkpoint(run.checkpoint())  # whole: written to a temporary file, then renamed
        client.close()
        assert client.call(Status()).error == "no engine is open"


def test_a_stopped_engine_does_not_hold_pause_longer_than_two_seconds(make_client, spec, qtbot):
    client, rec, info = training_client(make_client, spec, qtbot, 30)
    os.kill(client.pid, signal.SIGSTOP)
    t = time.monotonic()
    answer = client.pause()
    assert time.monotonic() - t < 2.5 and not answer.ok and "did not answer" in answer.error
    with qtbot.waitSignal(client.failed, timeout=2_000) as failed:
        pass
    assert failed.args[0] == "training stopped: the training process did not answer within 2 s, so it was ended"
    assert read_run(info["run_path"]).status == "interrupted"


def test_a_training_engine_that_is_stopped_is_noticed_without_a_command(make_client, spec, qtbot):
    client, rec, info = training_client(make_client, spec, qtbot, 30)
    os.kill(client.pid, signal.SIGSTOP)
    with qtbot.waitSignal(client.failed, timeout=2_500) as failed:
        pass
    assert failed.args[0] == ("training stopped: the training process sent nothing for 1.5 s and does not run, so it "
                              "was ended")
    assert client.state == "gone" and read_run(info["run_path"]).status == "interrupted"


def test_an_engine_busy_in_a_step_longer_than_the_wait_is_not_killed_and_pauses_after_it(make_client, spec, qtbot,
                                                                                         monkeypatch, tmp_path):
    from charrnn_gui import engine_client

    monkeypatch.setattr(engine_client, "COMMAND_SECONDS", 0.06)  # shorter than one step (~0.1-0.3 s), longer than
    # a few of the CPU clock's 10 ms ticks (so that a busy child is seen using the CPU)
    big = tmp_path / "big.txt"
    big.write_text(TEXT * 5, encoding="utf-8")
    client, rec = make_client()
    config = preset("min-char-rnn", hidden_size=800, seq_length=100, batch_size=8, sample_every=1000,
                    val_fraction=0.0).to_dict()
    opened(client, spec(corpus=str(big), config=config), qtbot)
    for _ in range(5):  # a Pause that happens to arrive at a step boundary is answered in time: try again
        client.start()
        reached = client.iteration + 1
        wait_for(qtbot, lambda: client.iteration >= reached)
        qtbot.wait(30)
        answer = client.pause()
        if not answer.ok:
            break
    assert not answer.ok and "did not answer" in answer.error
    late = lambda: [a for _, a in rec.got["answered"] if a.id == answer.id]  # noqa: E731
    wait_for(qtbot, lambda: bool(late()), timeout=5_000)  # after the step under way
    assert late()[0].ok and rec.got["paused"][-1] == (late()[0].value,)
    assert client.state == "idle" and rec.got["failed"] == []  # paused after the step under way, not killed


def test_a_stopped_engine_does_not_hold_close_longer_than_two_seconds(make_client, spec, qtbot):
    client, rec, info = training_client(make_client, spec, qtbot, 30)
    pid = client.pid
    os.kill(pid, signal.SIGSTOP)
    t = time.monotonic()
    client.close()
    assert time.monotonic() - t < 2.5 and not pid_exists(pid)
    assert read_run(info["run_path"]).status == "interrupted"


def test_an_engine_that_fails_says_so_in_one_line(make_client, spec, qtbot):
    client, rec, info = training_client(make_client, spec, qtbot, 10)
    with qtbot.waitSignal(client.failed, timeout=2_000) as failed:
        client._link.conn.send("not an (id, command) pair")  # serve() itself raises in the child
    assert failed.args[0].startswith("training stopped: ValueError") and "\n" not in failed.args[0]
    wait_for(qtbot, lambda: client.state == "gone", timeout=3_000)
    assert client._link.exit_code == 1 and read_run(info["run_path"]).status == "interrupted"


def test_a_training_that_cannot_be_opened_says_why(make_client, spec, qtbot, tmp_path):
    client, rec = make_client()
    with qtbot.waitSignal(client.failed, timeout=20_000) as failed:
        client.open(spec(corpus=str(tmp_path / "nowhere.txt")))
    assert failed.args[0].startswith("cannot start training: ") and "nowhere.txt" in failed.args[0]
    assert client.info is None and rec.got["opened"] == []


def test_a_blocked_window_keeps_the_mailbox_bounded_and_the_run_keeps_every_sample(make_client, spec, qtbot,
                                                                                   monkeypatch):
    monkeypatch.setattr(engine_link, "MAX_ROWS", 200)
    monkeypatch.setattr(engine_link, "MAX_SAMPLES", 4)
    client, rec = make_client()
    config = preset("min-char-rnn", **dict(SMALL, sample_every=1, sample_length=5)).to_dict()
    info = opened(client, spec(config=config), qtbot)
    client.start()
    most = 0
    for _ in range(15):  # the GUI thread does not process events for 1.5 s: the reader goes on alone
        time.sleep(0.1)
        most = max(most, client.pending())
    link = client._link
    assert link.iteration > 400  # training did not wait for the window
    assert most <= 200 + 4 + engine_link.MAX_FLOWS + 2 * engine_link.MAX_EVENTS
    assert link.thinned_rows > 0 and link.dropped_samples > 0
    answer = client.stop("finished")
    assert answer.ok
    qtbot.wait(100)
    rows = rec.column("iteration")
    assert len(rows) <= 200 and np.all(np.diff(rows) > 0) and rows[-1] == answer.value.iteration
    samples = whole_lines(os.path.join(info["run_path"], "samples.jsonl"))
    assert [s["iteration"] for s in samples] == list(range(answer.value.iteration))  # drawn before each step


def started_client(spec, qtbot):
    """A client training in a function's frame only: (weak reference, child pid, reader thread, open info)."""
    client = EngineClient()
    info = opened(client, spec(), qtbot)
    client.start()
    wait_for(qtbot, lambda: client.iteration >= 20)
    return weakref.ref(client), client.pid, client.reader, info


def test_a_client_garbage_collected_while_training_leaves_no_process_or_thread(spec, qtbot):
    ref, pid, reader, info = started_client(spec, qtbot)
    gc.collect()
    assert ref() is None
    assert not pid_exists(pid) and not reader.is_alive()
    assert read_run(info["run_path"]).status == "interrupted"


def test_an_interpreter_that_exits_without_closing_the_client_exits_cleanly(spec, tmp_path):
    script = textwrap.dedent(f"""
        import json, sys, time
        from PySide6.QtWidgets import QApplication
        from charrnn_gui.engine_client import EngineClient
        app = QApplication([])
        client = EngineClient()
        client.open(json.loads({json.dumps(json.dumps(spec()))}))
        client.start()
        deadline = time.monotonic() + 20
        while client.iteration < 20 and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.01)
        print(client.info["run_path"], client.pid, flush=True)
        sys.exit(0)  # neither closed nor deleted
    """)
    env = dict(os.environ, PYTHONPATH=ROOT, QT_QPA_PLATFORM="offscreen")
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    run_path, pid = done.stdout.split()
    assert not pid_exists(int(pid))
    assert read_run(run_path).status == "interrupted"


def test_peek_baselines_and_checkpoint_extras_reach_the_engine_through_the_client(make_client, spec, qtbot):
    client, rec, info = training_client(make_client, spec, qtbot, 30)
    peeked = client.peek().value  # while training: taken between two steps
    assert isinstance(peeked, Peeked) and peeked.ids.shape == peeked.targets.shape == (SMALL["seq_length"],)
    assert peeked.state0.shape == (1, SMALL["hidden_size"]) and peeked.iteration >= 30
    assert client.pause().ok
    paused = client.peek().value
    weights = client.call(Weights()).value
    for name, w in weights.items():  # paused: the peeked weights are the engine's
        np.testing.assert_array_equal(paused.params[name], w, err_msg=name)
    ids = [client.set_baselines({"1-gram": 4.5}), client.set_checkpoint_extras({"curve": np.arange(3.0)})]
    wait_for(qtbot, lambda: {i for i, _ in rec.got["answered"]} >= set(ids))
    assert all(a.ok for i, a in rec.got["answered"] if i in ids)
    client.close("finished")
    run = read_run(info["run_path"])
    assert run.info["baselines"] == {"1-gram": 4.5}
    np.testing.assert_array_equal(load_checkpoint(run.checkpoint()).extras["curve"], np.arange(3.0))


def test_an_app_engine_says_where_its_run_is_once_it_opens_at_the_first_step(make_client, spec, qtbot, tmp_path):
    client, rec = make_client()
    info = opened(client, spec(run_on_start=True), qtbot)
    assert info["run_path"] is None and info["run_pending"]
    with qtbot.waitSignal(client.run_opened, timeout=20_000) as blocker:
        client.step(3)
    (path,) = blocker.args
    wait_for(qtbot, lambda: bool(rec.got["paused"]))
    assert os.path.dirname(path) == str(tmp_path / "runs") and client.status().value.run_path == path


def test_the_client_says_the_training_time_counting_on_from_a_checkpoints(make_client, spec, qtbot):
    client, rec = make_client()
    info = opened(client, spec(elapsed=50.0), qtbot)
    assert info["elapsed"] == 50.0 and client.elapsed == 50.0
    client.step(30)
    wait_for(qtbot, lambda: bool(rec.got["paused"]))
    assert client.elapsed > 50.0 and client.elapsed == client.status().value.elapsed


@pytest.mark.parametrize("state, cpu_used, hung", [
    ("T", 0.0, True),  # stopped (SIGSTOP)
    ("Z", 0.0, True),  # a zombie
    ("S", 0.0, True),  # asleep, not working
    ("S", 1.5, False),  # asleep now, but it worked: a long step that just waited
    ("R", 1.9, False),  # busy in a long step
    ("R", 0.0, False),  # waiting for a CPU on a busy machine
    ("D", 0.0, False),  # waiting for the disk (a checkpoint's fsync, a slow share)
    (None, None, False),  # no /proc to read: never kill what may be working
])
def test_only_a_stopped_or_idle_asleep_child_counts_as_hung(state, cpu_used, hung):
    from types import SimpleNamespace

    from charrnn_gui.engine_link import EngineLink

    before = (state, None if cpu_used is None else 10.0)
    fake = SimpleNamespace(cpu=lambda: (state, None if cpu_used is None else 10.0 + cpu_used))
    assert EngineLink.hung(fake, before, 2.0) is hung
