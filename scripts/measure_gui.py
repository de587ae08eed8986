"""Measure the app while it trains: GUI timer smoothness, in-app vs headless speed, pause latency.

    QT_QPA_PLATFORM=offscreen python scripts/measure_gui.py [--preset fast] [--seconds 10]

* timer: a 16 ms QTimer runs in the GUI thread while the app trains; its p50/p95/max interval shows
  how smooth the window stays (target: p95 <= 33 ms);
* speed: iterations per second inside the app (the window as a user sees it: plot, samples,
  heatmap, status bar updating) against the engine alone in a fresh process at the same settings (the app's: the
  preset with gradient flow measured every core.gradflow.APP_EVERY iterations for the Gradient flow tab; with
  --plain-headless, the preset as charrnn-train runs it) and the same single BLAS thread (target: ratio >= 0.95);
* pause: time from the Pause action until it returns, the engine having answered that it paused (target: <= 50 ms);
* GUI thread CPU: the main thread's CPU time per second of training (plot, samples, heatmap, status bar,
  signal handling). Training runs in the engine's own process, so this is time taken from the other core only.

With --fed RATE it measures only the GUI thread's cost: the window, paused, is fed its engine client's signals
(progress rows every FEED_INTERVAL, a 200-character sample every 100 iterations) as if it trained at RATE
iterations a second, and the main thread's CPU per second is reported, for --seconds of feeding (the loss
history grows as it would). No training runs, so the figure hardly depends on other load on the machine.

With --interleaved PAIRS it measures the speed ratio alone, and much more steadily: a headless process and the
app (its own process) both stay alive and take turns, SLOT seconds each (--slot), the one resting stopped with
SIGSTOP (sent to its process group: the app's engine process rests with it), so that each app slot has a
headless slot beside it under the same machine load. Each process notes
(time, iteration) a few times a second; a slot's rate is taken between its first note SETTLE seconds after it
resumed and its last; the ratio is the median over the pairs (the order alternates, so a steady drift cancels).
Alternating whole runs, as the default mode does, leaves the ratio at the mercy of this shared machine's load,
which moves the rate by 10-20% from one minute to the next. Both training loops are pinned to one CPU (--pin;
the app's is its engine process): this machine's CPUs change speed each on its own. With --versus NAME=VALUE a
second app, with that constant
changed (--set changes it for both), takes its turn in every round as well, and the ratio of the two apps'
rates round by round is the A/B of the change, e.g.
    measure_gui.py --interleaved 40 --slot 1.5 --versus charrnn_gui.engine_client.DRAIN_MS=50

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
preset, seconds, warmup, flow = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
corpus = load_builtin("shakespeare")
with threadpool_limits(limits=1, user_api="blas"):
    trainer = core.Trainer.from_corpus(corpus, core.preset(preset, grad_flow_every=flow))
    for _ in trainer.run(seconds=warmup):
        pass
    start_it, start = trainer.iteration, time.perf_counter()
    for _ in trainer.run(seconds=seconds):
        pass
    print(json.dumps({"its": (trainer.iteration - start_it) / (time.perf_counter() - start)}))
"""


HEADLESS_NOTING = r"""
import json, os, sys, time
from threadpoolctl import threadpool_limits
import core
from core.builtins import load_builtin
preset, warmup, ready, stop, cpu, flow = (sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]),
                                         int(sys.argv[6]))
if cpu >= 0:
    os.sched_setaffinity(0, {cpu})
corpus = load_builtin("shakespeare")
notes = []  # (time, iteration) every NOTE_EVERY seconds at most
with threadpool_limits(limits=1, user_api="blas"):
    trainer = core.Trainer.from_corpus(corpus, core.preset(preset, grad_flow_every=flow))
    for _ in trainer.run(seconds=warmup):
        pass
    open(ready, "w").close()
    last = 0.0
    while True:
        trainer.step()
        now = time.perf_counter()
        if now - last >= %(note)r:
            notes.append((now, trainer.iteration))
            last = now
            if os.path.exists(stop):
                break
print(json.dumps(notes))
"""
NOTE_EVERY = 0.1  # seconds between two (time, iteration) notes in an interleaved measurement
SETTLE = 0.3  # seconds after a process resumes before its slot's rate is taken
FEED_INTERVAL = 0.05  # seconds between two fed batches with --fed (the client drains its mailbox every 15 ms)


def pin_training(cpu: int, engine_pid: int) -> None:
    """Pin the engine process (every thread of it) to one CPU and this process's threads to the others (Linux)."""
    others = set(os.sched_getaffinity(0)) - {cpu}
    for tid in os.listdir(f"/proc/{engine_pid}/task"):
        os.sched_setaffinity(int(tid), {cpu})
    for tid in os.listdir("/proc/self/task"):
        if others:
            os.sched_setaffinity(int(tid), others)


def headless_flow(plain: bool) -> int:
    """How often the headless run measures gradient flow: as the app does (the same work), or as the preset (plain,
    the CLI's default: never)."""
    from core.gradflow import APP_EVERY

    return 0 if plain else APP_EVERY


def headless_its(preset: str, seconds: float, warmup: float, flow: int) -> float:
    out = subprocess.run([sys.executable, "-c", HEADLESS, preset, str(seconds), str(warmup), str(flow)],
                         capture_output=True,
                         text=True, check=True, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return json.loads(out.stdout.strip().splitlines()[-1])["its"]


def percentile(values, q):
    values = sorted(values)
    if not values:
        return float("nan")
    k = min(len(values) - 1, max(0, int(round(q / 100 * (len(values) - 1)))))
    return values[k]


def open_window(preset: str):
    """A main window at 1400x900 with a preset applied, throwaway settings; and spin(seconds), which runs a
    real event loop for that long, as the app does: idle waits release the GIL (a processEvents/sleep
    polling loop would wake a thousand times a second and compete with the worker for it)."""
    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    import tempfile

    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, tempfile.mkdtemp(prefix="charrnn-measure-"))
    os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="charrnn-measure-data-")  # the runs it records go here
    QApplication.instance() or QApplication([])
    from charrnn_gui import MainWindow

    window = MainWindow(restore_last_corpus=False)
    window.resize(1400, 900)
    window.show()
    window.settings_panel.apply_preset(preset)

    def spin(duration):
        loop = QEventLoop()
        QTimer.singleShot(max(1, int(duration * 1000)), loop.quit)
        loop.exec()

    return window, spin


def in_app(preset: str, seconds: float, warmup: float, pauses: int) -> dict:
    from PySide6.QtCore import QTimer

    window, spin = open_window(preset)
    ticks = []
    timer = QTimer()
    timer.setInterval(16)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))

    window.start()
    spin(warmup)
    # Speed first, with nothing of the measurement's own in the GUI thread (the 16 ms timer wakes it 60 times a second,
    # which costs training a few per cent); then the timer's smoothness, for a third as long.
    it0, t0, c0 = window.session.iteration, time.perf_counter(), time.thread_time()
    spin(seconds)
    it1, t1, c1 = window.session.iteration, time.perf_counter(), time.thread_time()
    timer.start()
    spin(max(1.0, seconds / 3))
    timer.stop()
    intervals = [(b - a) * 1000 for a, b in zip(ticks, ticks[1:])]

    latencies = []  # seconds from the Pause action until pause() returned (the engine answered)
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
    window.shutdown()
    window.close()
    return {
        "its": (it1 - it0) / (t1 - t0),
        "gui_thread_cpu_fraction": (c1 - c0) / (t1 - t0),
        "timer_ms": {"n": len(intervals), "p50": percentile(intervals, 50), "p95": percentile(intervals, 95),
                     "max": max(intervals) if intervals else float("nan")},
        "pause_action_ms": {"median": percentile(latencies, 50) * 1000, "max": max(latencies) * 1000},
    }


def fed(preset: str, seconds: float, rate: float) -> dict:
    """GUI-thread CPU per second while the paused window is fed its engine client's signals at `rate` it/s."""
    window, spin = open_window(preset)
    window.start()
    spin(0.5)
    window.pause()
    spin(0.3)
    try:
        return _feed(window, window.session.client, window.session.model, spin, seconds, rate)
    finally:
        window.session.state = "paused"
        window.shutdown()
        window.close()


def _feed(window, client, model, spin, seconds, rate) -> dict:
    import numpy as np

    from core import Sample
    from core.engine import Rows

    window.session.state = "running"  # as while training: the status bar shows the rate, samples pour in
    T, H, V = model.config.seq_length, model.config.hidden_size, len(model.vocab)
    rng = np.random.default_rng(0)
    chars = model.vocab.chars
    # Made beforehand, so that feeding costs the GUI thread next to nothing itself.
    noise = (rng.standard_normal(1 << 16) * 0.3).astype(np.float32)
    pool = [("".join(chars[i] for i in rng.integers(0, V, 200)),
             np.tanh(rng.standard_normal((200, H))).astype(np.float32)) for _ in range(4)]
    state = {"it": model.iteration, "elapsed": 0.0}
    per_emit = rate * FEED_INTERVAL
    carry = [0.0]

    def emit():
        carry[0] += per_emit
        n = int(carry[0])
        carry[0] -= n
        if n <= 0:
            return
        it0 = state["it"]
        its = np.arange(it0 + 1, it0 + n + 1, dtype=np.int64)
        start = it0 % (len(noise) - n)
        loss = (1.6 + 2.5 * np.exp(-its / 20000.0)).astype(np.float32) + noise[start:start + n]
        smooth = (25 * (1.7 + 2.5 * np.exp(-its / 30000.0))).astype(np.float32)
        state["it"] = it0 + n
        state["elapsed"] += FEED_INTERVAL
        f = lambda v: np.full(n, v, dtype=np.float64)  # noqa: E731
        client.progressed.emit(Rows(its, loss * T, loss.astype(np.float64), smooth.astype(np.float64), its * T,
                                    f(0.1), f(0.1), f(state["elapsed"]), np.empty(0, np.int64), np.empty(0)))
        samples = []
        for k in range(it0 // 100 + 1, state["it"] // 100 + 1):  # a sample before each 100th iteration
            text, hidden = pool[k % len(pool)]
            samples.append(Sample(k * 100, text, hidden, float(smooth[-1]), 1.0))
        if samples:
            client.sampled.emit(samples)

    from PySide6.QtCore import QTimer

    feeder = QTimer()
    feeder.setInterval(int(FEED_INTERVAL * 1000))
    feeder.timeout.connect(emit)
    feeder.start()
    spin(1.0)
    c0, t0 = time.thread_time(), time.perf_counter()
    spin(seconds)
    c1, t1 = time.thread_time(), time.perf_counter()
    feeder.stop()
    points = len(window.loss_panel.history)
    return {"gui_thread_cpu_fraction": (c1 - c0) / (t1 - t0), "rate": rate, "history_points": points}


def apply_settings(settings: list[str]) -> None:
    """Set module constants for an experiment, e.g. "charrnn_gui.engine_client.DRAIN_MS=50" (a Python literal)."""
    import ast
    import importlib

    for item in settings:
        name, _, value = item.partition("=")
        module, _, attr = name.rpartition(".")
        mod = importlib.import_module(module)
        if not hasattr(mod, attr):
            raise SystemExit(f"--set: {module} has no {attr}")
        setattr(mod, attr, ast.literal_eval(value))


def app_child(preset: str, warmup: float, ready: str, stop: str, cpu: int) -> None:
    """The app's side of --interleaved: train in the window, note (time, iteration) every NOTE_EVERY seconds
    until the stop file appears, print the notes as JSON. cpu >= 0: the engine process runs on that CPU only."""
    window, spin = open_window(preset)
    window.start()
    try:
        notes = _train_noting(window, spin, cpu, warmup, ready, stop)
    finally:
        window.pause()
        window.shutdown()
        window.close()
    print(json.dumps(notes))


def _train_noting(window, spin, cpu, warmup, ready, stop) -> list:
    spin(warmup)
    if cpu >= 0:
        pin_training(cpu, window.session.client.pid)
    spin(SETTLE)
    notes = []
    open(ready, "w").close()
    while not os.path.exists(stop):
        spin(NOTE_EVERY)
        notes.append((time.perf_counter(), window.session.iteration))
    return notes


def slot_rate(notes, start: float, end: float) -> float | None:
    """Iterations a second between the first note SETTLE seconds after start and the last note before end."""
    inside = [(t, it) for t, it in notes if start + SETTLE <= t <= end]
    if len(inside) < 2 or inside[-1][0] - inside[0][0] < 0.2:
        return None
    return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])


def interleaved(preset: str, pairs: int, slot: float, warmup: float, cpu: int, settings=(), versus=None,
                flow: int = 0) -> dict:
    """The app and a headless process taking turns (see the module docstring): per-round rates and ratios.
    cpu >= 0: every training loop runs on that CPU (the apps' other threads on the others). versus: settings for a
    second app (on top of `settings`) that takes its turn in each round too, for an A/B of the two."""
    import signal
    import tempfile

    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    tmp = tempfile.mkdtemp(prefix="charrnn-interleaved-")
    stop = os.path.join(tmp, "stop")
    apps = {"app": list(settings)}
    if versus is not None:
        apps["versus"] = list(settings) + list(versus)

    def wait_for(path, proc):
        while not os.path.exists(path):
            if proc.poll() is not None:
                raise RuntimeError(f"a measured process ended early: {proc.stderr.read()[-2000:]}")
            time.sleep(0.05)

    procs = {}
    slots = []  # (who, round, start, end)
    try:
        ready = os.path.join(tmp, "head-ready")
        procs["head"] = subprocess.Popen(
            [sys.executable, "-c", HEADLESS_NOTING % {"note": NOTE_EVERY}, preset, str(warmup), ready, stop,
             str(cpu), str(flow)], cwd=here, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        wait_for(ready, procs["head"])
        os.killpg(procs["head"].pid, signal.SIGSTOP)
        for name, sets in apps.items():  # each app warms up alone, then rests
            ready = os.path.join(tmp, f"{name}-ready")
            procs[name] = subprocess.Popen(
                [sys.executable, os.path.abspath(__file__), "--app-child", preset, "--warmup", str(warmup),
                 "--ready", ready, "--stop", stop, "--pin", str(cpu)] + [f"--set={x}" for x in sets],
                cwd=here, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
            wait_for(ready, procs[name])
            os.killpg(procs[name].pid, signal.SIGSTOP)
        names = ["head", *apps]
        running = None
        for k in range(pairs):
            shift = k % len(names)
            for who in names[shift:] + names[:shift]:  # the order turns round by round: a steady drift cancels
                if who != running:
                    if running is not None:
                        os.killpg(procs[running].pid, signal.SIGSTOP)
                    os.killpg(procs[who].pid, signal.SIGCONT)
                    running = who
                start = time.perf_counter()
                time.sleep(slot)
                slots.append((who, k, start, time.perf_counter()))
    finally:
        open(stop, "w").close()
        for proc in procs.values():
            os.killpg(proc.pid, signal.SIGCONT)
    outs = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"the {name} process failed: {err[-2000:]}")
        outs[name] = json.loads(out.strip().splitlines()[-1])
    rate = {(who, k): slot_rate(outs[who], start, end) for who, k, start, end in slots}

    def ratios(a, b):  # a's rate over b's, round by round, where both were measured
        return [rate[a, k] / rate[b, k] for k in range(pairs) if rate.get((a, k)) and rate.get((b, k))]

    result = {"head": [r for (who, _), r in rate.items() if who == "head" and r]}
    for name in apps:
        result[name] = [r for (who, _), r in rate.items() if who == name and r]
        result[f"{name}_ratios"] = ratios(name, "head")
    if versus is not None:
        result["versus_over_app"] = ratios("versus", "app")
    return result


def _median(xs) -> float:
    return percentile(xs, 50)


def _spread(xs) -> str:
    return (f"quartiles {percentile(xs, 25):.3f} .. {percentile(xs, 75):.3f}; "
            f"range {min(xs):.2f} .. {max(xs):.2f}") if xs else "-"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", action="append", choices=["fast", "min-char-rnn"],
                   help="preset(s) to measure (default: both)")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--pauses", type=int, default=20)
    p.add_argument("--rounds", type=int, default=3, help="alternating headless / in-app rounds per preset")
    p.add_argument("--fed", type=float, metavar="RATE",
                   help="measure only the GUI thread, feeding the paused window signals as at RATE it/s")
    p.add_argument("--interleaved", type=int, metavar="PAIRS",
                   help="measure only the speed ratio, app and headless taking turns for PAIRS pairs of slots")
    p.add_argument("--slot", type=float, default=2.0, help="seconds per slot with --interleaved")
    p.add_argument("--pin", type=int, default=0, metavar="CPU",
                   help="with --interleaved: both training loops on this CPU, the app's other threads on the others "
                        "(this machine's CPUs differ in speed from second to second, each its own way); -1: no pinning")
    p.add_argument("--set", action="append", default=[], metavar="MODULE.NAME=VALUE",
                   help="set a module constant in the app before it opens, for an experiment "
                        "(e.g. charrnn_gui.engine_client.DRAIN_MS=50); repeatable")
    p.add_argument("--versus", action="append", metavar="MODULE.NAME=VALUE",
                   help="with --interleaved: a second app with this setting (repeatable) takes its turn in every "
                        "round too, and its speed over the first app's is reported, round by round")
    p.add_argument("--plain-headless", action="store_true",
                   help="the headless run trains the preset as charrnn-train does (no gradient-flow measurement) "
                        "rather than the same work as the app (gradient flow every core.gradflow.APP_EVERY)")
    p.add_argument("--app-child", metavar="PRESET", help=argparse.SUPPRESS)
    p.add_argument("--ready", help=argparse.SUPPRESS)
    p.add_argument("--stop", help=argparse.SUPPRESS)
    args = p.parse_args()
    apply_settings(args.set)
    if args.app_child:
        app_child(args.app_child, args.warmup, args.ready, args.stop, args.pin)
        return 0
    if args.interleaved:
        for preset in args.preset or ["min-char-rnn"]:
            r = interleaved(preset, args.interleaved, args.slot, args.warmup, args.pin, args.set,
                            args.versus if args.versus else None, headless_flow(args.plain_headless))
            print(f"preset {preset}: {args.interleaved} interleaved rounds of {args.slot:g} s slots"
                  + (f"; settings {' '.join(args.set)}" if args.set else ""))
            print(f"  in-app / headless    median {_median(r['app_ratios']):.3f} ({_spread(r['app_ratios'])})")
            if args.versus:
                print(f"  versus ({' '.join(args.versus)}) / headless  median {_median(r['versus_ratios']):.3f} "
                      f"({_spread(r['versus_ratios'])})")
                print(f"  versus / in-app      median {_median(r['versus_over_app']):.3f} "
                      f"({_spread(r['versus_over_app'])})")
            print(f"  rates (median)       app {_median(r['app']):.0f} it/s, headless {_median(r['head']):.0f} it/s")
            sys.stdout.flush()
        return 0
    if args.fed:
        for preset in args.preset or ["min-char-rnn"]:
            cpu = sorted(fed(preset, args.seconds, args.fed)["gui_thread_cpu_fraction"] for _ in range(args.rounds))
            print(f"preset {preset}, fed as at {args.fed:g} it/s for {args.seconds:g} s: GUI thread CPU "
                  f"{cpu[len(cpu) // 2] * 1000:.0f} ms per second (median of {args.rounds}; all: "
                  f"{', '.join(f'{c * 1000:.0f}' for c in cpu)})")
        return 0
    for preset in args.preset or ["fast", "min-char-rnn"]:
        # Alternate headless and in-app runs so that load from other processes hits both alike.
        runs = []
        for _ in range(args.rounds):
            runs.append((headless_its(preset, args.seconds, args.warmup, headless_flow(args.plain_headless)),
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
        cpu = sorted(a["gui_thread_cpu_fraction"] for _, a in runs)
        print(f"  GUI thread CPU       {cpu[len(cpu) // 2] * 1000:.0f} ms per second of training (median; all rounds: "
              f"{', '.join(f'{c * 1000:.0f}' for c in cpu)})")
        pa = app["pause_action_ms"]
        print(f"  pause latency        action returns (engine paused): median {pa['median']:.1f} ms, "
              f"max {pa['max']:.1f} ms")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
