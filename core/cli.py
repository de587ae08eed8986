"""The command-line trainer and sampler: `python -m core train|sample`, `charrnn-train`, `charrnn-sample`."""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import signal
import sys
import threading
import time

import numpy as np

from .budget import SLOW_STEP_SECONDS, human_seconds, refusal, step_cost
from .checkpoint import CheckpointError, load_checkpoint, restore_trainer, save_checkpoint
from .config import CELLS, DTYPES, LR_SCHEDULES, MAX_LAYERS, OPTIMIZERS, PRESETS, preset
from .corpus import CorpusError, load_corpus
from .engine import (CHECKPOINT, CHECKPOINT_FAILED, DIVERGED, FAILED, RUNNING, WARNING, Engine, Pause, SaveCheckpoint,
                     Start, Status, Stop, one_line as _one_line, os_message as _os_message)
from .experiments import EXPERIMENTS, experiment
from .runs.cli_hook import add_run_options, start_run
from .sample import generate
from .trainer import LN2, Trainer
from .vocab import UnknownCharactersError

EXIT_USAGE = 2
BUILTIN_PREFIX = "builtin:"


class CLIError(Exception):
    """A problem the user can fix; printed as one line on stderr with exit code 2."""


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be a positive integer")
    return value


def _blas_threads(text):
    """A --blas-threads value: a positive integer, or 'auto' for the library's own default."""
    if text.strip().lower() in ("auto", "0", "none"):
        return "auto"
    return _positive_int(text)


def train_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="charrnn-train", description="Train a character-level RNN on a text file.")
    p.add_argument("corpus", nargs="?", help="a text file, or builtin:shakespeare / builtin:python-docs (optional "
                   "with an --experiment that has its own text, e.g. hello)")
    p.add_argument("--preset", choices=sorted(PRESETS), default="min-char-rnn",
                   help="starting hyperparameters (default: min-char-rnn, the lesson's program)")
    p.add_argument("--experiment", choices=list(EXPERIMENTS),
                   help="start from one of the lecture's gradient-flow experiments instead of a preset")
    p.add_argument("--hidden-size", type=_positive_int)
    p.add_argument("--cell", choices=CELLS, help="rnn (the lesson's tanh cell), lstm or gru")
    p.add_argument("--layers", dest="num_layers", type=_positive_int, help=f"stacked layers, 1 to {MAX_LAYERS}")
    p.add_argument("--dropout", type=float, help="fraction dropped between layers while training (needs 2+ layers)")
    p.add_argument("--seq-length", type=_positive_int)
    p.add_argument("--batch-size", type=_positive_int)
    p.add_argument("--dtype", choices=DTYPES)
    p.add_argument("--optimizer", choices=OPTIMIZERS)
    p.add_argument("--lr", "--learning-rate", dest="learning_rate", type=float)
    p.add_argument("--lr-schedule", choices=LR_SCHEDULES,
                   help="cosine: decay the rate to --lr-floor times itself over --iterations or --seconds")
    p.add_argument("--lr-floor", type=float, help="the cosine schedule's final rate as a fraction of --lr")
    p.add_argument("--clip", type=float)
    p.add_argument("--state-reset-every", type=int, metavar="N",
                   help="every N windows one stream (in turn) starts from a zero state (0: never, the lesson's way)")
    p.add_argument("--seed", type=int)
    p.add_argument("--val-fraction", type=float)
    p.add_argument("--eval-every", type=_positive_int)
    p.add_argument("--sample-every", type=int, help="iterations between samples (0: never)")
    p.add_argument("--sample-length", type=_positive_int)
    p.add_argument("--temperature", type=float)
    budget = p.add_argument_group("budget (default: run until Ctrl+C)")
    budget.add_argument("--iterations", type=_positive_int, help="stop after this many iterations")
    budget.add_argument("--seconds", type=float, help="stop after this much training time")
    out = p.add_argument_group("output")
    out.add_argument("--print-every", type=_positive_int, default=100,
                     help="print 'iter N, loss: L' every this many iterations (default 100; N counts completed "
                          "iterations, except with the min-char-rnn preset, which prints the lesson's N = completed "
                          "- 1)")
    out.add_argument("--metrics", metavar="FILE.jsonl", help="append one JSON object per logged iteration")
    out.add_argument("--log-every", type=_positive_int, default=100,
                     help="iterations between metrics lines (of --metrics and of the run)")
    out.add_argument("--grad-flow-every", type=int, metavar="N",
                     help="measure gradient flow through time every N iterations into the run's metrics and --metrics "
                          "(0: off, the default)")
    out.add_argument("--checkpoint", metavar="FILE.npz", help="where to save checkpoints (and on Ctrl+C)")
    out.add_argument("--checkpoint-every", type=_positive_int,
                     help="iterations between checkpoints (to --checkpoint, and the run's latest.npz: by default "
                          "every minute)")
    out.add_argument("--resume", metavar="FILE.npz", help="continue from a checkpoint trained on this corpus")
    add_run_options(out)
    out.add_argument("--progress-every", type=float, default=5.0,
                     help="seconds between progress lines on stderr (0: none)")
    out.add_argument("--blas-threads", type=_blas_threads, default=None,
                     help="BLAS threads for the engine: a number or 'auto' (default $CHARRNN_BLAS_THREADS, "
                          "else 1: fastest on small CPUs)")
    return p


def sample_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="charrnn-sample", description="Sample text from a charrnn checkpoint.")
    p.add_argument("checkpoint", help="a .npz checkpoint written by charrnn")
    p.add_argument("--prime", default="", help="text to read before sampling (printed first)")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--length", type=_positive_int, default=500)
    p.add_argument("--argmax", action="store_true", help="always take the most likely character")
    p.add_argument("--seed", type=int, default=None)
    return p


def open_corpus(spec: str):
    """A corpus from a path or builtin:NAME."""
    if spec.startswith(BUILTIN_PREFIX):
        from .builtins import load_builtin

        return load_builtin(spec[len(BUILTIN_PREFIX):])
    return load_corpus(spec)


def config_from_args(args):
    """The preset with every option the user gave applied on top, validated."""
    names = ("hidden_size", "seq_length", "batch_size", "dtype", "optimizer", "learning_rate", "clip", "seed",
             "val_fraction", "eval_every", "sample_every", "sample_length", "temperature", "grad_flow_every")
    names += ("cell", "num_layers", "dropout", "lr_schedule", "lr_floor", "state_reset_every")
    overrides = {k: getattr(args, k) for k in names if getattr(args, k) is not None}
    # A schedule spans this run's budget (it is kept by checkpoints; a resumed run goes on along it).
    overrides.update(budget_iterations=args.iterations or 0, budget_seconds=args.seconds or 0.0)
    if args.experiment:
        return experiment(args.experiment).config.replace(**overrides).validate()
    return preset(args.preset, **overrides)


def _fmt_duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


# may change on --resume
LIVE_OPTIONS = ("learning_rate", "temperature", "sample_every", "sample_length", "grad_flow_every")
MODEL_OPTIONS = ("hidden_size", "seq_length", "batch_size", "dtype", "optimizer", "clip", "seed", "val_fraction",
                 "eval_every")  # fixed by a checkpoint
MODEL_OPTIONS += ("cell", "num_layers", "dropout", "lr_schedule", "lr_floor", "state_reset_every")
STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")  # stop between two steps, save, then exit 128 + signal number
LESSON_PRESET = "min-char-rnn"  # its "iter n, loss" lines keep the lesson's counter, n = completed - 1
LESSON_PROGRAM = ("cell", "num_layers", "batch_size", "dtype", "optimizer")  # the lesson's, whatever its sizes
POLL_SECONDS = 0.1  # training between two looks at the engine's output (printing lags by at most this)


class _StopRequest:
    """While active (main thread only), Ctrl+C, SIGTERM and SIGHUP only set `signum` and call `on_stop()` (which
    queues a stop command: the engine executes it between two steps), so a signal never leaves a step half done
    (weights updated, counters not yet) in the checkpoint it saves. Further signals change nothing."""

    def __init__(self, on_stop=None):
        self.on_stop = on_stop  # called once, at the first signal

    def __enter__(self):
        self.signum: int | None = None
        self.previous = {}
        if threading.current_thread() is threading.main_thread():
            for name in STOP_SIGNALS:
                signum = getattr(signal, name, None)
                # An ignored signal stays ignored: `nohup charrnn-train ...` must survive the terminal closing.
                if signum is not None and signal.getsignal(signum) is not signal.SIG_IGN:
                    self.previous[signum] = signal.signal(signum, self._note)
        return self

    def _note(self, signum, frame):
        if self.signum is None:
            self.signum = signum
            if self.on_stop is not None:
                self.on_stop()

    def __exit__(self, *exc):
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        return False


def _lesson_counter(args, config) -> bool:
    """Whether the 'iter n, loss' lines use the lesson's counter: the min-char-rnn preset, or for a resumed run
    (whose preset is not recorded) the lesson's program: one tanh layer, one stream, float64, Adagrad."""
    if args.resume:
        lesson = PRESETS[LESSON_PRESET]
        return all(getattr(config, k) == getattr(lesson, k) for k in LESSON_PROGRAM)
    return args.preset == LESSON_PRESET and not args.experiment


def _check_checkpoint_destination(path: str) -> None:
    """Refuse a --checkpoint path that could never be written, before any training time is spent."""
    if os.path.isdir(path):
        raise CLIError(f"--checkpoint {path} is a folder; give a file name, e.g. {os.path.join(path, 'model.npz')}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CLIError(f"cannot save checkpoints to {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise CLIError(f"cannot save checkpoints to {path}: the folder {folder} is not writable")


def _resumed_trainer(args, corpus, err):
    """The trainer of --resume, with the live options given applied; options that need new weights must agree."""
    ckpt = load_checkpoint(args.resume)
    for name in MODEL_OPTIONS:
        given, saved = getattr(args, name), getattr(ckpt.config, name)
        if given is not None and given != saved:
            option = "--layers" if name == "num_layers" else "--" + name.replace("_", "-")
            raise CLIError(f"{option} {given} differs from the checkpoint's {saved}; a resumed run keeps the "
                           f"checkpoint's model (only --lr, --temperature, --sample-every, --sample-length and "
                           f"--grad-flow-every can change)")
    _check_budget(ckpt.config, corpus.vocab_size, err)
    trainer = restore_trainer(ckpt, corpus.data, corpus.vocab)
    trainer.set_live(**{k: getattr(args, k) for k in LIVE_OPTIONS if getattr(args, k) is not None})
    return trainer


def _check_budget(config, vocab_size: int, err) -> None:
    """Refuse settings that cannot fit in memory (CLIError), before anything is allocated; warn about slow steps."""
    cost = step_cost(config, vocab_size)
    reason = refusal(cost)
    if reason:
        raise CLIError(reason)
    if cost.seconds() > SLOW_STEP_SECONDS:
        print(f"warning: one training step with these settings takes about {human_seconds(cost.seconds())} "
              f"here; Ctrl+C stops after the step in progress", file=err)


def train_command(args, out=None, err=None) -> int:
    """Run training as the options say; returns the exit code."""
    out, err = out or sys.stdout, err or sys.stderr
    ckpt_path = args.checkpoint
    if ckpt_path:
        _check_checkpoint_destination(ckpt_path)
    if args.corpus is None:  # only an experiment with its own text (e.g. hello) needs none
        own = experiment(args.experiment).corpus if args.experiment else None
        if own is None:
            raise CLIError("give a text file or builtin:NAME to train on")
        args.corpus = BUILTIN_PREFIX + own
    corpus = open_corpus(args.corpus)
    for warning in corpus.warnings:
        print(f"warning: {warning}", file=err)
    if args.resume:
        trainer = _resumed_trainer(args, corpus, err)
    else:
        config = config_from_args(args)
        _check_budget(config, corpus.vocab_size, err)
        trainer = Trainer.from_corpus(corpus, config)
    cfg = trainer.config
    print(f"data has {len(corpus)} characters, {corpus.vocab_size} unique.", file=out)
    metrics = open(args.metrics, "a", encoding="utf-8") if args.metrics else None
    run = start_run(args, corpus, trainer, getattr(args, "argv", None))
    if run.path:
        print(f"run: {run.path}", file=out)
    start = time.perf_counter()
    first_iteration = trainer.iteration
    saved_at = None  # iteration of the last checkpoint this run wrote to ckpt_path
    # The engine owns the trainer and the run from here on; save_checkpoint is looked up when it is called.
    engine = Engine(trainer, run, checkpoint_to=ckpt_path, checkpoint_every=args.checkpoint_every,
                    save=lambda t, path, **kw: save_checkpoint(t, path, **kw))

    def kept() -> str:
        """Where the newest good state is on disk, for a message about a stopped run."""
        if ckpt_path and saved_at is not None:
            return f"last checkpoint: {ckpt_path} (iteration {saved_at})"
        if args.resume:
            return f"{args.resume} still holds iteration {first_iteration}"
        run_saved_at = engine.call(Status()).value.run_saved_at
        if run_saved_at is not None:
            return f"last checkpoint: {run.latest_checkpoint} (iteration {run_saved_at})"
        return "no checkpoint was saved"

    def stopped_with(reason: str) -> int:
        """A fault inside the engine (or writing metrics): keep the last good state; exit code 1."""
        engine.call(Pause())
        message = f"training stopped at iteration {engine.iteration}: {reason}"
        if not ckpt_path:
            message += f"; {kept()}"
        else:
            answer = engine.call(SaveCheckpoint(ckpt_path))
            if answer.ok:
                message += f"; checkpoint of the last good state saved to {ckpt_path}"
            elif answer.error.startswith("the weights are not finite"):
                message += f"; {answer.error}; {kept()}"
            else:
                message += f"; the checkpoint could not be saved either ({answer.error}); {kept()}"
        print(f"charrnn-train: error: {_one_line(message)}", file=err)
        for warning in engine.call(Stop("interrupted", reason)).value.warnings:  # the run says why
            print(f"warning: {warning}", file=err)
        return 1

    printer = _RowPrinter(args, cfg, _lesson_counter(args, cfg), metrics, start, first_iteration, out, err)

    try:
        # Ctrl+C, SIGTERM and SIGHUP queue a stop, which the engine executes between two steps.
        with _StopRequest(lambda: engine.submit(Stop("interrupted"))) as stop:
            try:
                engine.submit(Start(args.iterations, args.seconds))
                while True:
                    batch = engine.poll(POLL_SECONDS)
                    printer.rows(batch)
                    for answer in batch.answers:  # the run's close, when a signal stopped the engine
                        for warning in getattr(answer.value, "warnings", None) or []:
                            print(f"warning: {warning}", file=err)
                    for event in batch.events:
                        if event.kind == WARNING:
                            print(f"warning: {event.message}", file=err)
                        elif event.kind == CHECKPOINT and event.message == ckpt_path:
                            saved_at = event.iteration
                        elif event.kind == CHECKPOINT_FAILED:  # the previous checkpoint is intact; try again later
                            print(f"warning: cannot save checkpoint to {ckpt_path} at iteration {event.iteration}: "
                                  f"{event.message}; training goes on and the previous checkpoint is intact",
                                  file=err)
                        elif event.kind == DIVERGED:  # an event row: the iteration it happened after, no loss
                            if metrics:
                                metrics.write(json.dumps({"iteration": event.iteration, "diverged": event.message,
                                                          "learning_rate": event.learning_rate,
                                                          "elapsed": time.perf_counter() - start}) + "\n")
                            print(f"charrnn: {event.message}; {kept()}", file=err)
                            return 1
                        elif event.kind == FAILED:
                            return stopped_with(event.message)
                    if batch.state != RUNNING:
                        break
                if stop.signum is None:
                    for warning in engine.call(Stop("finished")).value.warnings:
                        print(f"warning: {warning}", file=err)
            except Exception as e:  # writing metrics failed (the engine reports its own faults as events)
                return stopped_with(f"{type(e).__name__}: {e}")
            if stop.signum is not None:  # the engine stopped between two steps: the state on disk will be exact
                what = "interrupted" if stop.signum == signal.SIGINT else "terminated"
                status = engine.call(Status()).value
                if not ckpt_path and status.run_path and status.run_saved_at == status.iteration:
                    path = run.latest_checkpoint  # the run's own, saved when it closed
                    resume = f"charrnn-train {shlex.quote(args.corpus)} --resume {shlex.quote(path)}"
                    print(f"\n{what} at iteration {status.iteration}; checkpoint saved to {path}; continue with: "
                          f"{resume}", file=err)
                    return 128 + int(stop.signum)
                path = ckpt_path or "charrnn-interrupted.npz"  # also when the run's own could not be saved
                answer = engine.call(SaveCheckpoint(path))
                if not answer.ok:
                    raise CLIError(answer.error)
                print(f"\n{what} at iteration {status.iteration}; checkpoint saved to {path}", file=err)
                return 128 + int(stop.signum)
    finally:
        if metrics:
            metrics.close()
        for warning in engine.call(Stop("interrupted")).value.warnings:  # nothing left to do when already stopped
            print(f"warning: {warning}", file=err)
    if ckpt_path:
        answer = engine.call(SaveCheckpoint(ckpt_path))
        if not answer.ok:
            print(f"charrnn-train: error: cannot save checkpoint to {ckpt_path}: {answer.error}; {kept()}", file=err)
            return 1
        print(f"checkpoint saved to {ckpt_path}", file=err)
    return 0


class _RowPrinter:
    """Prints a batch's rows as the training loop always has: each sample before the row of the step it was drawn
    before, 'iter N, loss' every --print-every, validation lines, --metrics lines and progress lines."""

    def __init__(self, args, cfg, lesson: bool, metrics, start: float, first_iteration: int, out, err):
        self.args, self.cfg, self.lesson, self.metrics = args, cfg, lesson, metrics
        self.start = self.last_progress = start  # perf_counter when training started, and of the last progress line
        self.first_iteration = first_iteration
        self.out, self.err = out, err
        self.flows_at: dict = {}  # iteration -> GradFlow measured on its window, until its row is written

    def rows(self, batch) -> None:
        args, out, metrics, start = self.args, self.out, self.metrics, self.start
        rows, samples, drawn = batch.rows, batch.samples, 0
        for flow in batch.flows:  # measured on the window before the update its row reports
            self.flows_at[flow.iteration + 1] = flow
        n_rows = 0 if rows is None else len(rows)
        if n_rows:
            its, losses, smooth = rows.iteration.tolist(), rows.loss.tolist(), rows.smooth_loss.tolist()
            per_char, chars, epochs = rows.loss_per_char.tolist(), rows.chars_seen.tolist(), rows.epoch.tolist()
            rates, times = rows.learning_rate.tolist(), rows.time.tolist()
            vals = dict(zip(rows.val_iteration.tolist(), rows.val_bpc.tolist()))
        for i in range(n_rows):
            # Iteration N is the model after N completed updates; its sample was drawn before it.
            it = its[i]
            while drawn < len(samples) and samples[drawn].iteration < it:
                print(f"----\n {samples[drawn].text} \n----", file=out)
                drawn += 1
            n = it - 1 if self.lesson else it  # the lesson's counter is one behind
            if n % args.print_every == 0:
                print(f"iter {n}, loss: {smooth[i]:f}", file=out)
            val = vals.get(it)
            if val is not None:
                print(f"iter {it}, validation: {val:.4f} bits/char", file=out)
            flow = self.flows_at.pop(it, None)
            if metrics and (it % args.log_every == 0 or val is not None or flow is not None):
                row = {"iteration": it, "loss": losses[i], "smooth_loss": smooth[i], "loss_per_char": per_char[i],
                       "bits_per_char": per_char[i] / LN2, "chars_seen": chars[i], "epoch": epochs[i],
                       "learning_rate": rates[i], "elapsed": times[i] - start}
                if val is not None:
                    row["val_bpc"] = val
                row = {k: (v if math.isfinite(v) else None) for k, v in row.items()}
                if flow is not None:  # measured on this iteration's window, before its update
                    row.update(flow.to_json())
                metrics.write(json.dumps(row) + "\n")
            if args.progress_every and times[i] - self.last_progress >= args.progress_every:
                self.last_progress = times[i]
                print(_progress_line(it, args, times[i] - start, self.first_iteration, self.cfg), file=self.err)
        for sample in samples[drawn:]:  # drawn before a step that diverged
            print(f"----\n {sample.text} \n----", file=out)


def _progress_line(iteration, args, elapsed, first_iteration, cfg) -> str:
    done = iteration - first_iteration
    its = done / elapsed if elapsed > 0 else 0.0
    chars = its * cfg.seq_length * cfg.batch_size
    line = f"progress: iter {iteration}, {its:,.0f} it/s, {chars:,.0f} chars/s, elapsed {_fmt_duration(elapsed)}"
    remaining = []
    if args.iterations and its > 0:
        remaining.append((args.iterations - done) / its)
    if args.seconds:
        remaining.append(args.seconds - elapsed)
    if remaining:
        line += f", ETA {_fmt_duration(min(remaining))}"
    return line


def sample_command(args, out=None) -> int:
    out = out or sys.stdout
    ckpt = load_checkpoint(args.checkpoint)
    if not args.temperature > 0:
        raise CLIError("temperature must be positive")
    rng = np.random.default_rng(args.seed)
    result = generate(ckpt.params, ckpt.vocab, args.length, rng, prime=args.prime,
                      temperature=args.temperature, argmax=args.argmax)
    print(result.text, file=out)
    return 0


def _run(command, parser, argv) -> int:
    args = parser.parse_args(argv)
    args.argv = [parser.prog, *(sys.argv[1:] if argv is None else argv)]  # recorded in a run's run.json
    try:
        from .threads import blas_threads_setting, limit_blas_threads
    except ImportError:  # pragma: no cover - thread pinning is optional
        limit_blas_threads = None
    try:
        if limit_blas_threads is not None:
            with limit_blas_threads(blas_threads_setting(getattr(args, "blas_threads", None))):
                return command(args)
        return command(args)
    except (CorpusError, CheckpointError, UnknownCharactersError, CLIError, ValueError, OSError) as e:
        message = str(e) if not isinstance(e, OSError) else _os_message(e)
        print(f"{parser.prog}: error: {_one_line(message)}", file=sys.stderr)
        return EXIT_USAGE
    except MemoryError as e:  # e.g. a hidden size far too big for this machine
        print(f"{parser.prog}: error: not enough memory{': ' + _one_line(e) if str(e) else ''}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # Ctrl+C before training began (loading, counting baselines): nothing to save
        print(f"{parser.prog}: interrupted before training began; nothing was saved", file=sys.stderr)
        return 128 + signal.SIGINT
    except BrokenPipeError:  # pragma: no cover - e.g. piped into head
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def train_main(argv=None) -> int:
    return _run(train_command, train_parser(), argv)


def sample_main(argv=None) -> int:
    return _run(sample_command, sample_parser(), argv)


def main(argv=None) -> int:
    """`python -m core train ...` or `python -m core sample ...`."""
    argv = sys.argv[1:] if argv is None else list(argv)
    commands = {"train": train_main, "sample": sample_main}
    if not argv or argv[0] not in commands:
        print("usage: python -m core {train,sample} ... (see python -m core train --help)", file=sys.stderr)
        return EXIT_USAGE
    return commands[argv[0]](argv[1:])
