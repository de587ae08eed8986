"""Listing runs: find_runs searches folders recursively and summarises each run from run.json and its log's tail."""

import json
import os
import threading
import time

import pytest

from core.runs import RunReader, find_run_dirs, find_runs, read_run, summarize_run

from .runs_helpers import write_run


def test_find_runs_finds_runs_at_any_depth_and_skips_what_is_not_one(tmp_path):
    write_run(tmp_path / "a", [1, 2])
    write_run(tmp_path / "group" / "b", [5])
    write_run(tmp_path / "group" / "deeper" / "still" / "c", [7], status="diverged")
    (tmp_path / "empty" / "nothing").mkdir(parents=True)
    write_run(tmp_path / ".hidden" / "d", [1])
    write_run(tmp_path / "a" / "checkpoints" / "nested", [1])  # inside a run: not searched
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "run.json").write_text("{ half")
    os.symlink(tmp_path / "group", tmp_path / "group" / "deeper" / "loop")  # a cycle is followed once
    runs = find_runs(tmp_path)
    assert [r.name for r in runs] == ["a", "broken", "b", "c"]
    by_name = {r.name: r for r in runs}
    assert by_name["a"].status == "finished" and by_name["a"].iteration == 2 and by_name["a"].preset == "fast"
    assert by_name["c"].status == "diverged" and by_name["c"].cell == "rnn" and by_name["c"].corpus == "fox.txt"
    assert by_name["broken"].status == "unreadable" and "damaged" in by_name["broken"].error
    assert find_run_dirs(tmp_path, max_depth=1) == [str(tmp_path / "a"), str(tmp_path / "broken")]
    assert len(find_run_dirs(tmp_path, max_runs=2)) == 2
    assert find_runs(tmp_path / "group" / "b")[0].name == "b"  # a run folder itself
    assert find_runs(tmp_path / "does-not-exist") == []


def test_an_unreadable_folder_is_skipped(tmp_path):
    write_run(tmp_path / "ok", [1])
    locked = tmp_path / "locked"
    write_run(locked / "hidden-run", [1])
    os.chmod(locked, 0)
    try:
        names = [r.name for r in find_runs(tmp_path)]
    finally:
        os.chmod(locked, 0o755)
    assert "ok" in names  # (as root the locked folder is readable too)


def pipe_in_place_of(path):
    """Replace a file by a named pipe of the same name."""
    os.unlink(path)
    os.mkfifo(path)


def open_pipe_end(path) -> int:
    """Hold a pipe open as its writer would (O_RDWR never waits for the other end): a reader's open then does not
    wait, but its read does (the pipe is empty), and a seek on it fails."""
    return os.open(path, os.O_RDWR | os.O_NONBLOCK)


def call_without_blocking(fn, unblock):
    """fn() in a thread; if it has not returned within 10 s (stuck on a pipe), unblock() lets it go and the test
    fails rather than hanging."""
    result, errors = [], []

    def call():
        try:
            result.append(fn())
        except Exception as e:  # handed to the test
            errors.append(e)

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(10)
    blocked = thread.is_alive()
    unblock()
    thread.join(10)
    assert not blocked, "blocked on a named pipe"
    if errors:
        raise errors[0]
    return result[0]


def let_a_waiting_reader_go(path) -> None:
    """A writer that comes and goes: a reader blocked opening the pipe at path opens it and reads its end."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:  # ENXIO: nobody is waiting on it
        pass


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_run_whose_files_are_named_pipes_is_listed_as_unreadable_and_the_others_as_usual(tmp_path):
    write_run(tmp_path / "ok", [1, 2])
    write_run(tmp_path / "piped-metrics", [1])
    write_run(tmp_path / "piped-info", [1])
    pipes = [tmp_path / "piped-metrics" / "metrics.jsonl", tmp_path / "piped-info" / "run.json"]
    for pipe in pipes:
        pipe_in_place_of(pipe)
    fds = [open_pipe_end(pipe) for pipe in pipes]

    def listing():
        reader = RunReader(tmp_path / "piped-metrics")
        reader.poll()  # following it live says why it cannot, too
        return {r.name: r for r in find_runs(tmp_path)}, reader

    def unblock():
        for fd in fds:
            os.close(fd)  # a read waiting on the pipe ends
        for pipe in pipes:
            let_a_waiting_reader_go(pipe)

    by_name, reader = call_without_blocking(listing, unblock)
    assert set(by_name) == {"ok", "piped-metrics", "piped-info"} and by_name["ok"].iteration == 2
    for name, file in (("piped-metrics", "metrics.jsonl"), ("piped-info", "run.json")):
        assert by_name[name].status == "unreadable"
        assert "not a regular file" in by_name[name].error and file in by_name[name].error
    assert "metrics.jsonl" in reader.error and "not a regular file" in reader.error


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_named_pipe_that_nobody_writes_does_not_block_the_listing(tmp_path):
    write_run(tmp_path / "stuck", [1])
    pipe = tmp_path / "stuck" / "metrics.jsonl"
    pipe_in_place_of(pipe)
    found = call_without_blocking(lambda: find_runs(tmp_path), lambda: let_a_waiting_reader_go(pipe))
    assert [(r.name, r.status) for r in found] == [("stuck", "unreadable")]


def test_a_summary_agrees_with_reading_the_whole_run(tmp_path):
    its = range(10, 50_010, 10)  # 5,000 lines: the summary reads only the tail
    write_run(tmp_path / "run", its, vals={100: 3.0, 20_000: 1.7, 49_000: 1.9})
    summary = summarize_run(tmp_path / "run")
    full = read_run(tmp_path / "run")
    assert summary.iteration == full.latest_iteration == 50_000
    assert summary.best_val_bpc == full.best_val_bpc == 1.7  # from run.json: 20,000 is far before the tail
    assert summary.status == full.status == "finished"


def test_a_summary_applies_the_orphan_rule_to_the_tail(tmp_path):
    path = tmp_path / "run"
    writer = write_run(path, [10, 20, 30], status=None)
    # A best score the writer never saw in run.json (as a copy synced mid-write would look), then a resume.
    with open(path / "metrics.jsonl", "ab") as f:
        f.write(json.dumps({"iteration": 40, "val_bpc": 0.5}).encode() + b"\n")
        f.write(json.dumps({"event": "resumed", "iteration": 20}).encode() + b"\n")
        f.write(json.dumps({"iteration": 25, "val_bpc": 2.5}).encode() + b"\n")
        f.write(b'{"iteration": 26, "val')  # a partial last line waits
    summary = summarize_run(path)
    assert summary.iteration == 25 and summary.best_val_bpc == 2.5 and summary.status == "live"
    full = read_run(path)
    assert full.latest_iteration == 25 and full.best_val_bpc == 2.5
    writer.close()


def test_a_running_summary_goes_stale_by_the_clock(tmp_path):
    writer = write_run(tmp_path / "run", [1], status=None)
    assert summarize_run(tmp_path / "run", clock=lambda: time.time() + 61).status == "stale"
    assert summarize_run(tmp_path / "run").status == "live"
    writer.close()
