"""Runs: every training written to a folder that outlives the process, to reopen, compare and follow live.

The run directory (format version 1)::

    <run>/run.json          {"format": "charrnn-run", "version": 1, "created" (ISO), "created_unix",
                             "command" (charrnn-train's argv, or "app"), "preset", "config" (TrainConfig),
                             "corpus": {"name", "path", "characters", "vocabulary", "sha256" (of the text
                             as UTF-8)}, "status": running | finished | interrupted | diverged,
                             "updated" (unix; a heartbeat at least every 20 s while running), "iteration",
                             "best_val_bpc", "best_iteration", "ended", ["resumes"], ["diverged": why],
                             ["baselines": {"1-gram": held-out bits/char, ... "6-gram"} (core.ngram, on the
                             characters val_bpc scores)]}
    <run>/metrics.jsonl     one object per logged iteration: iteration, wall_time (unix s), elapsed (training
                             s), chars_seen, loss, loss_per_char, smooth_loss, learning_rate, val_bpc when
                             evaluated, + any other fields logged (the CLI adds epoch); null for non-finite
    <run>/samples.jsonl     iteration, temperature, prime, text, wall_time
    <run>/checkpoints/      latest.npz (every N iterations, or every minute, and at the end),
                             best.npz (best held-out bits/char); core.checkpoint's format, written atomically
    <run>/writer.lock       {"pid", "host", "since"} while a writer holds the run

Files are append-only; each line is written whole by one system call, so a crash leaves every complete
line readable. A resume from a checkpoint at iteration a appends {"event": "resumed", "iteration": a} to
both logs, and readers drop the points after a written before it (TensorBoard's orphan rule).

Writing (one thread, the one stepping the trainer)::

    writer = RunWriter.create(new_run_folder(runs_folder, default_run_name(corpus.name, "fast", time.time())),
                              config=trainer.config, corpus=corpus, command="app", preset="fast")
    # or, continuing a run from one of its checkpoints: RunWriter.resume(run_dir, iteration=ckpt.iteration, ...)
    recorder = RunRecorder(writer, trainer, log_every=100)   # checkpoint_every=None: latest.npz every minute
    for snap in trainer.run(...):
        warnings = recorder.record(snap, elapsed=training_seconds)  # [] unless a write failed (disk full)
    recorder.end("finished")   # or "interrupted"; a diverged snapshot already said "diverged"
    recorder.close()           # latest.npz, run.json's status, the lock released

Reading (no threads here: an app calls these off its GUI thread and hands the arrays over; arrays
returned are never modified afterwards)::

    runs = find_runs(folder)        # [RunSummary(path, name, status, iteration, best_val_bpc, preset, cell, ...)]
    reader = read_run(runs[0].path) # RunReader: .info, .curves (Curves), .samples (SampleLog), .status
    reader.curves.iteration, reader.curves.loss_per_char, reader.curves.val["val_bpc"]   # NumPy arrays
    reader.samples.nearest(5000)    # RunSample(iteration, text, temperature, prime, wall_time)
    if reader.poll(): ...           # True when something was appended (or the files were replaced)

Status (RunReader.status, RunSummary.status): live | finished | interrupted | diverged | stale (still
"running" but nothing updated for STALE_SECONDS, or its writer died on this host) | unreadable.
"""

from .curves import COLUMNS, RESUMED, VAL_COLUMNS, Curves, RunSample, SampleLog
from .layout import (BEST, DIVERGED, FINISHED, INTERRUPTED, LATEST, RUNNING, RunError, RunExistsError,
                     checkpoint_path, corpus_identity, default_run_name, is_run_dir, new_run_folder, read_info,
                     run_of_checkpoint)
from .listing import RunSummary, find_run_dirs, find_runs, summarize_run
from .lock import RunLockedError
from .reader import LIVE, STALE, STALE_SECONDS, STATUSES, UNREADABLE, RunReader, derive_status, read_run
from .recorder import NoRecorder, RunRecorder
from .writer import RunWriter

__all__ = [
    "BEST", "COLUMNS", "Curves", "DIVERGED", "FINISHED", "INTERRUPTED", "LATEST", "LIVE", "NoRecorder", "RESUMED",
    "RUNNING", "RunError", "RunExistsError", "RunLockedError", "RunReader", "RunRecorder", "RunSample",
    "RunSummary", "RunWriter", "STALE", "STALE_SECONDS", "STATUSES", "SampleLog", "UNREADABLE", "VAL_COLUMNS",
    "checkpoint_path", "corpus_identity", "default_run_name", "derive_status", "find_run_dirs", "find_runs",
    "is_run_dir", "new_run_folder", "read_info", "read_run", "run_of_checkpoint", "summarize_run",
]
