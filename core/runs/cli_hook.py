"""charrnn-train's run options (--run-dir, --no-run) and opening the run a command-line training writes."""

from __future__ import annotations

import os
import time

from ..config import preset_label
from .layout import (LATEST, RunError, RunExistsError, checkpoint_path, default_run_name, is_run_dir, new_run_folder,
                     run_of_checkpoint)
from .recorder import NoRecorder, RunRecorder
from .writer import RunWriter

# charrnn-train counts the n-gram baselines of run.json itself up to this many training characters (orders 1..6 of
# the 4.6 M of Shakespeare take 2-4 s here); of longer texts it records them only when already cached (the app).
CLI_BASELINE_CHARS = 6_000_000
RUNS_FOLDER = "runs"  # where runs go by default, in the working directory


def add_run_options(group) -> None:
    """Add --run-dir and --no-run to an argparse group."""
    group.add_argument("--run-dir", metavar="DIR",
                       help="write this training's run here: run.json, metrics.jsonl, samples.jsonl, "
                            "checkpoints/ (default: runs/<date-time>-<corpus>-<preset> in the working folder; "
                            "with --resume, the run the checkpoint belongs to; resuming appends)")
    group.add_argument("--no-run", action="store_true", help="write no run folder")


def start_run(args, corpus, trainer, command):
    """The RunRecorder of this training (a NoRecorder for --no-run). A resumed training appends to the run
    it continues: --run-dir, else the run whose checkpoints/ holds --resume. RunError (exit 2) when the run
    is locked by another writer, or --run-dir already holds a run and nothing resumes it."""
    if args.no_run:
        if args.run_dir:
            raise RunError("--run-dir and --no-run contradict each other; give one of them")
        return NoRecorder()
    # Counted before the run folder exists: a Ctrl+C during the count (seconds on a big text) leaves no run behind.
    baselines = count_baselines(corpus, trainer.config, getattr(args, "baseline_chars", CLI_BASELINE_CHARS))
    run_dir = args.run_dir or (run_of_checkpoint(args.resume) if args.resume else None)
    if run_dir and is_run_dir(run_dir):
        if not args.resume:
            raise RunExistsError(f"--run-dir {run_dir} already holds a run; continue it with --resume "
                                 f"{checkpoint_path(run_dir, LATEST)}, or give a new --run-dir")
        writer = RunWriter.resume(run_dir, iteration=trainer.iteration, config=trainer.config, corpus=corpus,
                                  command=command)
    else:
        preset = preset_label(trainer.config) if args.resume else (getattr(args, "experiment", None) or args.preset)
        if run_dir is None:
            run_dir = new_run_folder(os.path.join(os.getcwd(), RUNS_FOLDER),
                                     default_run_name(corpus.name, preset, time.time()))
        writer = RunWriter.create(run_dir, config=trainer.config, corpus=corpus, command=command, preset=preset)
    if baselines:
        writer.set_baselines(baselines)
    return RunRecorder(writer, trainer, log_every=args.log_every, checkpoint_every=args.checkpoint_every)


def count_baselines(corpus, config, compute_up_to: int = CLI_BASELINE_CHARS) -> dict | None:
    """The corpus's n-gram baselines as run.json keeps them ({"1-gram": held-out bits/char, ...}, core.ngram): from
    the cache, or counted now when the training part is at most compute_up_to characters; None when the config
    holds nothing out or they cannot be had."""
    from .. import ngram

    split = ngram.split_of(config, len(corpus))
    if split is None:
        return None
    try:
        bits = ngram.baselines(corpus, *split, compute=split[0] <= compute_up_to)
    except (ValueError, MemoryError):
        return None
    return ngram.labels(bits) if bits else None
