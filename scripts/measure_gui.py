"""Measure the app while it trains: GUI timer smoothness, in-app vs headless speed, pause latency.

    QT_QPA_PLATFORM=offscreen python scripts/measure_gui.py [--preset fast] [--seconds 10]

* timer: a 16 ms QTimer runs in the GUI thread while the app trains; its p50/p95/max interval shows
  how smooth the window stays (target: p95 <= 33 ms);
* speed: iterations per second inside the app (the window as a user sees it: plot, samples,
  heatmap, status bar updating) against the engine alone in a fresh process at the same settings
  and the same single BLAS thread (target: ratio >= 0.9);
* pause: time from the Pause action until the worker has parked (target: <= 50 ms).

It reports; it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

HEADLESS = r"""
import json, sys, time
from threadpoolctl import threadpool_limits
import core
from core.builtins import load_builtin
preset, seconds, warmup = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
corpus = load_builtin("shakespeare")
with threadpool_limits(limits=1, user_api="blas"):
    trainer = core.Trainer.from_corpus(corpus, core.preset(preset))
    for _ in trainer.run(seconds=warmup):
        pass
    start_it, start = trainer.iteration, time.perf_counter()
    for _ in trainer.run(seconds=seconds):
        pass
    print(json.dumps({"its": (trainer.iteration - start_it) / (time.perf_counter() - start)}))
"""


def headless_its(preset: str, seconds: float, warmup: float) -> float:
    out = subprocess.run([sys.executable, "-c", HEADLESS, preset, str(seconds), str(warmup)], capture_output=True,
                         text=True, check=True, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return json.loads(out.stdout.strip().splitlines()[-1])["its"]


def percentile(values, q):
    values = sorted(values)
    if not values:
        return float("nan")
    k = min(len(values) - 1, max(0, int(round(q / 100 * (len(values) - 1)))))
    return values[k]


def in_app(preset: str, seconds: float, warmup: float, pauses: int) -> dict:
    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    import tempfile

    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, tempfile.mkdtemp(prefix="charrnn-measure-"))
    app = QApplication.instance() or QApplication([])
    from charrnn_gui import MainWindow

    window = MainWindow(restore_last_corpus=False)
    window.resize(1400, 900)
    window.show()
    window.settings_panel.apply_preset(preset)

    def spin(duration):
        # A real event loop, as in the app: idle waits release the GIL (a processEvents/sleep
        # polling loop would wake a thousand times a second and compete with the worker for it).
        loop = QEventLoop()
        QTimer.singleShot(max(1, int(duration * 1000)), loop.quit)
        loop.exec()

    ticks = []
    timer = QTimer()
    timer.setInterval(16)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))

    window.start()
    spin(warmup)
    timer.start()
    it0, t0 = window.trainer.iteration, time.perf_counter()
    spin(seconds)
    it1, t1 = window.trainer.iteration, time.perf_counter()
    timer.stop()
    intervals = [(b - a) * 1000 for a, b in zip(ticks, ticks[1:])]

    latencies = []  # seconds from the Pause action until pause() returned (the worker acknowledged)
    rng = random.Random(0)
    for _ in range(pauses):
        spin(rng.uniform(0.1, 0.3))
        t = time.perf_counter()
        window.start_pause_action.trigger()  # pause
        latencies.append(time.perf_counter() - t)
        spin(0.05)
        window.start_pause_action.trigger()  # resume
    spin(0.1)
    window.pause()
    parked = list(window.worker.pause_latencies)
    window.shutdown()
    window.close()
    return {
        "its": (it1 - it0) / (t1 - t0),
        "timer_ms": {"n": len(intervals), "p50": percentile(intervals, 50), "p95": percentile(intervals, 95),
                     "max": max(intervals) if intervals else float("nan")},
        "pause_action_ms": {"median": percentile(latencies, 50) * 1000, "max": max(latencies) * 1000},
        "worker_park_ms": {"median": percentile(parked, 50) * 1000, "max": max(parked) * 1000 if parked else 0.0},
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", action="append", choices=["fast", "min-char-rnn"],
                   help="preset(s) to measure (default: both)")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--pauses", type=int, default=20)
    p.add_argument("--rounds", type=int, default=3, help="alternating headless / in-app rounds per preset")
    args = p.parse_args()
    for preset in args.preset or ["fast", "min-char-rnn"]:
        # Alternate headless and in-app runs so that load from other processes hits both alike.
        runs = []
        for _ in range(args.rounds):
            runs.append((headless_its(preset, args.seconds, args.warmup),
                         in_app(preset, args.seconds, args.warmup, args.pauses)))
        ratios = sorted(app["its"] / head for head, app in runs)
        head, app = sorted(runs, key=lambda r: r[1]["its"] / r[0])[len(runs) // 2]  # the median round
        print(f"preset {preset}:  ({args.rounds} alternating rounds of {args.seconds:g} s; median round shown)")
        print(f"  headless engine      {head:9.1f} it/s")
        print(f"  inside the app       {app['its']:9.1f} it/s   ratio {app['its'] / head:.2f} "
              f"(all rounds: {', '.join(f'{r:.2f}' for r in ratios)})")
        t = app["timer_ms"]
        print(f"  16 ms GUI timer      p50 {t['p50']:.1f} ms, p95 {t['p95']:.1f} ms, max {t['max']:.1f} ms "
              f"({t['n']} intervals)")
        pa, pk = app["pause_action_ms"], app["worker_park_ms"]
        print(f"  pause latency        action returns: median {pa['median']:.1f} ms, max {pa['max']:.1f} ms; "
              f"worker parked: median {pk['median']:.1f} ms, max {pk['max']:.1f} ms")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
