"""Following a run as it is written: only what was appended is read, partial lines wait, rewrites restart,
crashes leave complete lines, and the status goes stale when a run stops without a clean end."""

import json
import os
import signal
import time

import pytest

from core.runs import RunReader, read_run
from core.runs.jsonl import JsonlAppender, JsonlFollower

from .runs_helpers import start_writer, write_run


def line(it, **fields) -> bytes:
    return json.dumps({"iteration": it, "loss": float(it), **fields}).encode() + b"\n"


def test_poll_returns_only_the_lines_appended_since_the_last_poll(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_bytes(line(1) + line(2))
    follower = JsonlFollower(path)
    assert [r["iteration"] for r in follower.poll()[0]] == [1, 2]
    offset = follower.offset
    assert follower.poll() == ([], False)
    with open(path, "ab") as f:
        f.write(line(3))
    assert [r["iteration"] for r in follower.poll()[0]] == [3] and follower.offset == offset + len(line(3))


def test_a_partial_last_line_waits_until_it_is_complete(tmp_path):
    path = tmp_path / "m.jsonl"
    whole = line(2, val_bpc=1.5)
    path.write_bytes(line(1) + whole[:9])
    reader_side = JsonlFollower(path)
    assert [r["iteration"] for r in reader_side.poll()[0]] == [1] and reader_side.pending
    with open(path, "ab") as f:
        f.write(whole[9:-1])  # all but the newline
    assert reader_side.poll() == ([], False)
    with open(path, "ab") as f:
        f.write(b"\n")
    assert reader_side.poll()[0] == [json.loads(whole)] and reader_side.bad_lines == 0 and not reader_side.pending


def test_a_truncated_file_is_read_again_from_the_start(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_bytes(line(1) + line(2) + line(3))
    follower = JsonlFollower(path)
    follower.poll()
    path.write_bytes(line(7))  # truncated and rewritten shorter (same file)
    records, restarted = follower.poll()
    assert restarted and [r["iteration"] for r in records] == [7]


def test_a_file_rewritten_in_place_to_a_longer_one_is_read_again(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_bytes(line(1))
    follower = JsonlFollower(path)
    follower.poll()
    with open(path, "r+b") as f:  # same inode, longer, different first bytes
        f.write(line(5) + line(6))
    records, restarted = follower.poll()
    assert restarted and [r["iteration"] for r in records] == [5, 6]


def test_a_replaced_file_is_read_again_from_the_start(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_bytes(line(1) + line(2))
    follower = JsonlFollower(path)
    follower.poll()
    new = tmp_path / "new.jsonl"
    new.write_bytes(line(1) + line(2) + line(3))  # what rsync does: a new file renamed over the old one
    os.replace(new, path)
    records, restarted = follower.poll()
    assert restarted and [r["iteration"] for r in records] == [1, 2, 3]


def test_a_vanished_file_restarts_and_a_bad_line_is_skipped(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_bytes(line(1) + b"{not json\n" + b"[1, 2]\n" + line(2))
    follower = JsonlFollower(path)
    assert [r["iteration"] for r in follower.poll()[0]] == [1, 2] and follower.bad_lines == 2
    path.unlink()
    assert follower.poll() == ([], True)


def test_a_backlog_larger_than_one_read_is_read_over_several(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_bytes(b"".join(line(i) for i in range(1, 201)))
    follower = JsonlFollower(path, read_limit=1000)
    seen = []
    while True:
        records, _ = follower.poll()
        if not records:
            break
        seen += [r["iteration"] for r in records]
    assert seen == list(range(1, 201))


def test_a_new_writer_ends_a_crashed_writers_partial_line_first(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_bytes(line(1) + line(2)[:7])  # the crash cut line 2
    appender = JsonlAppender(path)
    appender.append({"event": "resumed", "iteration": 1})
    appender.close()
    follower = JsonlFollower(path)
    records, _ = follower.poll()
    assert records == [{"iteration": 1, "loss": 1.0}, {"event": "resumed", "iteration": 1}]
    assert follower.bad_lines == 1


def test_the_reader_applies_the_orphan_rule_to_lines_as_they_arrive(tmp_path):
    write_run(tmp_path / "run", [10, 20, 30, 40], vals={30: 1.5})
    reader = RunReader(tmp_path / "run")
    reader.poll()
    generation = reader.curves.generation
    with open(tmp_path / "run" / "metrics.jsonl", "ab") as f:
        f.write(json.dumps({"event": "resumed", "iteration": 20}).encode() + b"\n" + line(25) + line(30))
    assert reader.poll()
    assert reader.curves.iteration.tolist() == [10, 20, 25, 30] and reader.curves.generation > generation
    assert reader.best_val_bpc is None and reader.latest_iteration == 30


def test_status_is_live_then_stale_after_a_minute_without_updates(tmp_path):
    writer = write_run(tmp_path / "run", [1, 2], status=None)
    now = [time.time()]
    reader = RunReader(tmp_path / "run", clock=lambda: now[0])
    reader.poll()
    assert reader.status == "live"
    now[0] += 30
    assert reader.status == "live"
    now[0] += 31
    assert reader.status == "stale"
    writer.close("finished")
    reader.poll()
    now[0] += 3600
    assert reader.status == "finished"


def test_a_vanished_run_keeps_what_was_read_and_says_why(tmp_path):
    write_run(tmp_path / "run", [1, 2, 3])
    reader = read_run(tmp_path / "run")
    os.rename(tmp_path / "run", tmp_path / "moved")
    assert not reader.poll()
    assert "is gone" in reader.error and reader.latest_iteration == 3


def test_a_crash_mid_run_leaves_every_complete_line_readable(tmp_path):
    proc = start_writer(tmp_path / "run", n=0, pause=0.0, pad=3000)
    follower, deadline = RunReader(tmp_path / "run"), time.monotonic() + 60  # (a guard against a hang, not a measure)
    while (follower.latest_iteration or 0) < 20 and time.monotonic() < deadline:  # writing for a while, however slowly
        follower.poll()
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)  # in the middle of writing
    proc.wait(10)
    proc.stdout.close()
    proc.stderr.close()
    run = read_run(tmp_path / "run")
    its = run.curves.iteration.tolist()
    assert len(its) > 1 and its == list(range(1, len(its) + 1))  # nothing lost or garbled before the last line
    assert run._metrics.bad_lines == 0
    assert run.info["status"] == "running" and run.status == "stale"  # its pid on this host is gone


@pytest.mark.slow
def test_a_reader_polling_a_writer_in_another_process_sees_the_iteration_rise(tmp_path):
    proc = start_writer(tmp_path / "run", n=60, pause=0.03)
    try:
        reader = RunReader(tmp_path / "run")
        seen = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            reader.poll()
            if reader.latest_iteration is not None and (not seen or seen[-1] != reader.latest_iteration):
                seen.append(reader.latest_iteration)
            if reader.status == "finished":
                break
            time.sleep(0.05)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert len(seen) >= 3 and seen == sorted(seen) and seen[-1] == 60
    assert reader.curves.iteration.tolist() == list(range(1, 61))
