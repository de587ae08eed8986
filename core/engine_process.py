"""The engine process: a child that opens one training (corpus, trainer, run) and serves its Engine over a pipe.

Started by the app's client (charrnn_gui.engine_client) as a fresh interpreter, never a fork of one that runs Qt
threads (so no multiprocessing spawn/fork: `python -m core.engine_process FD` with FD one end of a
socket.socketpair, wrapped in a multiprocessing.connection.Connection). It imports core only.

The protocol, one pickled message at a time:

* parent -> child, first: an `open` dict (see open_engine): the corpus spec (a path or builtin:NAME), a
  TrainConfig dict, an optional checkpoint to resume, the runs folder and run options;
* child -> parent: `("opened", info)` (open_info: vocab, sizes, run folder, iteration, pid...) or
  `("failed", one line)` when the training could not be opened; then the child ends;
* then core.engine.serve: the parent sends (id, command) pairs, the child sends core.engine.Batch objects;
* an exception that escapes serve is sent as `("failed", one line)` and the run is closed as interrupted;
  a closed pipe ends the run as interrupted (serve does it) and the process.

The child ignores SIGINT (Ctrl+C in a terminal reaches the whole process group: the app decides) and limits BLAS
threads as the CLI and the app do ($CHARRNN_BLAS_THREADS, default one thread).
"""

from __future__ import annotations

import os
import sys
import time
from types import SimpleNamespace

OPENED, OPEN_FAILED = "opened", "failed"  # the child's first answer


def blas_limit():
    """The BLAS thread limit the engine trains under ($CHARRNN_BLAS_THREADS, else core.threads' default)."""
    from .threads import DEFAULT_BLAS_THREADS, blas_threads_setting, limit_blas_threads

    try:
        threads = blas_threads_setting()
    except ValueError:  # a malformed setting: the default rather than no limit
        threads = DEFAULT_BLAS_THREADS
    return limit_blas_threads(threads)


def open_engine(spec: dict):
    """Build (engine, info) from an open message.

    spec keys: corpus (a path or builtin:NAME), text and name (the corpus's text itself, instead), config (a TrainConfig dict; ignored when resuming), resume (a
    checkpoint path or None), live (live settings applied after a resume), runs_folder (where a new run goes;
    None: ./runs), run_dir (this run's folder, or None for a new one), no_run (write no run), preset (its label
    in run.json), log_every, checkpoint_every (run options as in charrnn-train), command (run.json's command),
    app_corpus (how the app reopens the text, kept in a new run's run.json), elapsed (training seconds before
    this checkpoint, e.g. from the app's meta in it), extras (arrays saved with every run checkpoint from the
    start, as the CheckpointExtras command sets them), run_on_start (open the run at the first Start or Step, not
    now: info's run_path is None and run_pending True until a RUN event names the folder), baseline_chars (the
    n-gram baselines are counted for run.json when the training text is at most this long, else read from the
    cache only; 0: cache only, as the app wants, sending what it counted with SetBaselines).

    A resumed checkpoint continues the run it belongs to (core.runs.run_of_checkpoint); one saved outside a run
    starts a new run in runs_folder. A run that cannot be continued (locked by another writer, another text)
    gives a new run too, and info's "run_warning" says why, as the app did."""
    from .checkpoint import load_checkpoint, restore_trainer
    from .cli import open_corpus
    from .config import TrainConfig
    from .engine import CheckpointExtras, Engine
    from .runs.layout import run_of_checkpoint
    from .trainer import Trainer

    if spec.get("text") is not None:  # a text the parent has in memory only (no file, no built-in name)
        from .corpus import corpus_from_text

        corpus = corpus_from_text(str(spec["text"]), name=str(spec.get("name") or "text"))
    else:
        corpus = open_corpus(spec["corpus"])
    resume = spec.get("resume")
    if resume:
        trainer = restore_trainer(load_checkpoint(resume), corpus.data, corpus.vocab)
        if spec.get("live"):
            trainer.set_live(**spec["live"])
    else:
        trainer = Trainer.from_corpus(corpus, TrainConfig.from_dict(spec.get("config") or {}).validate())
    elapsed = float(spec.get("elapsed") or 0.0)
    if spec.get("run_on_start"):  # the run opens at the first Start or Step (the app's rule)
        def open_run():
            recorder, warning = start_app_run(spec, corpus, trainer)
            return recorder, [warning] if warning else []

        engine = Engine(trainer, None, elapsed=elapsed, open_run=open_run)
        if spec.get("extras"):
            engine.call(CheckpointExtras(dict(spec["extras"])))
        info = open_info(corpus, trainer, None)
        info.update(elapsed=engine.elapsed, run_warning=None, resumed_run=False, run_pending=True)
        return engine, info
    recorder, warning = start_app_run(spec, corpus, trainer)
    if spec.get("extras"):
        recorder.set_extras(dict(spec["extras"]))
    engine = Engine(trainer, recorder, elapsed=elapsed)
    info = open_info(corpus, trainer, recorder)
    info.update(elapsed=engine.elapsed, run_warning=warning, run_pending=False,
                resumed_run=bool(resume) and warning is None and getattr(recorder, "path", None) is not None and
                run_of_checkpoint(resume) == recorder.path)
    return engine, info


def start_app_run(spec: dict, corpus, trainer):
    """(recorder, warning) of an opened training (open_engine's run keys): the run a resumed checkpoint belongs
    to, else a new one in runs_folder; a run that cannot be continued gives a new one and warning says why."""
    from .runs.cli_hook import CLI_BASELINE_CHARS, start_run
    from .runs.layout import RunError, default_run_name, new_run_folder, run_of_checkpoint

    resume = spec.get("resume")
    run_dir = spec.get("run_dir")
    no_run = bool(spec.get("no_run"))
    preset = spec.get("preset")
    folder = spec.get("runs_folder")

    def new_run():
        return new_run_folder(folder, default_run_name(corpus.name, preset, time.time())) if folder else None

    if not no_run and run_dir is None and (not resume or run_of_checkpoint(resume) is None):
        run_dir = new_run()  # a new training, or a checkpoint saved outside any run
    args = SimpleNamespace(no_run=no_run, run_dir=run_dir, resume=resume, experiment=None, preset=preset,
                           log_every=int(spec.get("log_every") or 100), checkpoint_every=spec.get("checkpoint_every"),
                           baseline_chars=int(spec.get("baseline_chars", CLI_BASELINE_CHARS)))
    command = spec.get("command") or "app"
    warning = None
    try:
        recorder = start_run(args, corpus, trainer, command)
    except RunError as e:
        if not resume or spec.get("run_dir"):
            raise
        warning = f"{e}; writing a new run instead"  # the run the checkpoint came from cannot be continued
        args.resume, args.run_dir = None, new_run()
        recorder = start_run(args, corpus, trainer, command)
    writer = getattr(recorder, "writer", None)
    if writer is not None:
        t = trainer  # run.json's config with the live settings in force (a resumed checkpoint's may differ)
        writer.info["config"] = t.config.replace(learning_rate=t.learning_rate, temperature=t.temperature,
                                                 sample_every=t.sample_every, sample_length=t.sample_length).to_dict()
        if spec.get("app_corpus") and not writer.info.get("app_corpus"):
            writer.info["app_corpus"] = str(spec["app_corpus"])  # how the app reopens the text
        writer.heartbeat(force=True)
    return recorder, warning


def open_info(corpus, trainer, recorder) -> dict:
    """What the window needs to know about an opened training (plain Python values, picklable)."""
    from .threads import blas_threads_in_use

    return {"pid": os.getpid(), "vocab": "".join(corpus.vocab.chars), "vocab_size": corpus.vocab_size,
            "corpus_name": corpus.name, "corpus_chars": len(corpus), "config": trainer.config.to_dict(),
            "parameters": int(sum(p.size for p in trainer.params.values())),
            "n_train": int(trainer.n_train), "iteration": int(trainer.iteration),
            "live": {"learning_rate": float(trainer.learning_rate), "temperature": float(trainer.temperature),
                     "sample_every": int(trainer.sample_every), "sample_length": int(trainer.sample_length)},
            "run_path": getattr(recorder, "path", None),  # None until a run_on_start run opens
            "blas_threads": [lib["threads"] for lib in blas_threads_in_use()]}


def run_child(conn) -> int:
    """The child's life on an open Connection: open, answer, serve; the exit code."""
    from .engine import Stop, one_line, serve

    try:
        spec = conn.recv()
    except (EOFError, OSError):  # the parent went away before saying anything
        return 0
    with blas_limit():
        try:
            engine, info = open_engine(spec)
        except Exception as e:
            _send(conn, (OPEN_FAILED, one_line(f"{_describe(e)}")))
            return 1
        _send(conn, (OPENED, info))
        try:
            serve(engine, conn)
        except Exception as e:  # a fault outside the engine's own handling: close the run, say why, end
            message = one_line(f"{type(e).__name__}: {e}")
            try:
                engine.call(Stop("interrupted", message))
            finally:
                _send(conn, (OPEN_FAILED, message))
            return 1
    return 0


def _describe(e: Exception) -> str:
    """An opening error as the user reads it: the message of a problem they can fix, else the type too."""
    from .checkpoint import CheckpointError
    from .corpus import CorpusError
    from .runs.layout import RunError

    if isinstance(e, (CorpusError, CheckpointError, RunError, ValueError)):
        return str(e)
    if isinstance(e, OSError):
        from .engine import os_message

        return os_message(e)
    if isinstance(e, MemoryError):  # the model did not fit in the memory left (other programs may have taken it)
        return ("not enough memory for a model with these settings; choose a smaller hidden size, sequence length "
                "or batch size")
    return f"{type(e).__name__}: {e}"


def _send(conn, message) -> None:
    try:
        conn.send(message)
    except (EOFError, OSError):  # the parent has gone
        pass


def main(argv=None) -> int:
    """`python -m core.engine_process FD`: serve the parent on the socket whose descriptor is FD."""
    import signal
    from multiprocessing.connection import Connection

    argv = sys.argv[1:] if argv is None else argv
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the app decides when training stops
    conn = Connection(int(argv[0]))
    try:
        return run_child(conn)
    finally:
        conn.close()


if __name__ == "__main__":
    sys.exit(main())
