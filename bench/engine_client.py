"""Training through the app's engine client (a child process driven from Qt) against headless charrnn-train, and
the client's pause latency.

    PYTHONPATH=$PWD QT_QPA_PLATFORM=offscreen python -m bench.engine_client [--rounds 3] [--presets min-char-rnn fast]

Method: for each preset, rounds of the two contenders run one after the other, the order reversed every other round
(A B, B A, ...), each training the same iterations of builtin:shakespeare from a fresh process and writing its run.
Both speeds are read the same way from their own run's metrics.jsonl (the RunRecorder's training clock): iterations
per second between the first logged row (iteration LOG_EVERY) and the last, so start-up and corpus loading are left
out of both. The client's window side drains its mailbox on its 15 ms timer and receives every signal. The pause
latency is the time client.pause() blocks (the Pause's answer), median over PAUSES pauses, training resumed between
them for a random 0.1-0.3 s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

LOG_EVERY = 100  # metrics rows every this many iterations, in both runs
ITERATIONS = {"min-char-rnn": 8000, "fast": 1200}  # each run trains ~3-5 s here
PAUSES = 20


def run_speed(run_dir: str) -> float:
    """Iterations per second between the first and the last logged metrics row of a run."""
    with open(os.path.join(run_dir, "metrics.jsonl"), encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    rows = [r for r in rows if "elapsed" in r and "iteration" in r]
    first, last = rows[0], rows[-1]
    return (last["iteration"] - first["iteration"]) / (last["elapsed"] - first["elapsed"])


def headless(preset: str, iterations: int, folder: str) -> float:
    """charrnn-train in its own process; its run's speed."""
    run_dir = tempfile.mkdtemp(prefix="cli-", dir=folder)
    os.rmdir(run_dir)
    subprocess.run([sys.executable, "-m", "core", "train", "builtin:shakespeare", "--preset", preset, "--iterations",
                    str(iterations), "--log-every", str(LOG_EVERY), "--run-dir", run_dir],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return run_speed(run_dir)


def through_client(app, preset: str, iterations: int, folder: str) -> float:
    """The same training through an EngineClient; its run's speed."""
    from charrnn_gui.engine_client import EngineClient
    from core.config import preset as make_preset

    client = EngineClient()
    got = {"rows": 0, "samples": 0, "done": False}
    client.progressed.connect(lambda rows: got.__setitem__("rows", got["rows"] + len(rows)))
    client.sampled.connect(lambda s: got.__setitem__("samples", got["samples"] + len(s)))
    client.done.connect(lambda n: got.__setitem__("done", True))
    config = make_preset(preset, budget_iterations=iterations).to_dict()  # as the CLI's --iterations sets it
    client.open({"corpus": "builtin:shakespeare", "config": config, "runs_folder": folder, "preset": preset,
                 "log_every": LOG_EVERY})
    _wait(app, lambda: client.info is not None or client.state == "gone")
    client.start(iterations=iterations)
    _wait(app, lambda: got["done"] or client.state == "gone", 600)
    run_dir = client.info["run_path"]
    client.close("finished")
    return run_speed(run_dir)


def pause_latency(app, folder: str, pauses: int = PAUSES, seed: int = 0) -> list[float]:
    """Seconds each client.pause() blocked, with training resumed between pauses."""
    from charrnn_gui.engine_client import EngineClient
    from core.config import preset as make_preset

    rng = random.Random(seed)
    client = EngineClient()
    client.open({"corpus": "builtin:shakespeare", "config": make_preset("min-char-rnn").to_dict(),
                 "runs_folder": folder})
    _wait(app, lambda: client.info is not None)
    out = []
    for _ in range(pauses):
        client.start()
        _wait(app, lambda: False, rng.uniform(0.1, 0.3))
        t = time.perf_counter()
        answer = client.pause()
        out.append(time.perf_counter() - t)
        assert answer.ok, answer.error
    client.close()
    return out


def _wait(app, condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)  # an idle event loop sleeps too


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--presets", nargs="+", default=list(ITERATIONS))
    args = p.parse_args(argv)
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory(prefix="charrnn-bench-client-") as folder:
        for name in args.presets:
            n = ITERATIONS[name]
            rates = {"client": [], "headless": []}
            for r in range(args.rounds):
                order = ["client", "headless"] if r % 2 == 0 else ["headless", "client"]
                for who in order:
                    rate = through_client(app, name, n, folder) if who == "client" else headless(name, n, folder)
                    rates[who].append(rate)
            ratios = [a / b for a, b in zip(rates["client"], rates["headless"])]
            print(f"{name}: {n} iterations x {args.rounds} rounds; client/headless ratio median "
                  f"{statistics.median(ratios):.3f} (min {min(ratios):.3f}, max {max(ratios):.3f}); it/s client "
                  f"{[round(x) for x in rates['client']]}, headless {[round(x) for x in rates['headless']]}")
        lat = pause_latency(app, folder)
        print(f"pause: median {statistics.median(lat) * 1e3:.1f} ms, max {max(lat) * 1e3:.1f} ms over {len(lat)} "
              f"pauses (client.pause() blocking time, min-char-rnn)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
