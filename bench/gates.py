"""The cost of the Gates tab: one gate saturation reading per preset, and the app's training speed with the tab shown
against hidden, in the same run.

    PYTHONPATH=. python bench/gates.py [--reps 7] [--slots 8] [--slot 6] [--preset lstm]

(1) core: gate_saturation on the held-out passage the app reads (core.saturation.PASSAGE characters, STREAMS
    streams with a WARMUP each), for the lstm and gru presets at 1 and 2 layers, median of --reps (one BLAS thread,
    as the app); beside it, the same passage read as one sequential stream (S = 1), and how far the fractions of a
    briefly trained model move between the two (max |difference| over units and gates).
(2) app (Qt offscreen): one window trains --preset on the built-in Shakespeare; the Gates tab and the Hidden state
    tab take turns on screen, --slot seconds each, --slots slots in all; each slot's it/s is taken from the
    trainer's iteration count. Reported: the median of the per-pair ratios (shown / hidden) with min..max, the
    readings made, their median time on their thread and the GUI thread's wait for the weights copy (median, 90th
    percentile, max: MainWindow._weights_copy waits for the step under way to end).

It reports; it asserts nothing.

Measured 2026-12-06 on the shared 2-core machine (load average 5-7: other engineers' tests; absolute times are
inflated by about 2x against a quiet machine, the ratios are what to read):
* one reading of 1,971 held-out characters (32 streams, warm-up 32), ms, median of 7 [one sequential stream]:
  lstm 1 layer 76 [142], 2 layers 250 [342]; gru 1 layer 41 [118], 2 layers 103 [205]. Fractions against the
  sequential read, 30 iterations in: lstm max |difference| 0.0005; gru 0.013 (1 layer) and 0.24 on its worst unit
  (2 layers; mean over units 0.004): a GRU unit whose z keeps h for long remembers its zero start longer than the
  warm-up (so does the sequential read's first stretch). At 150 iterations the gru x2 worst unit differs by 0.06.
* the app, lstm preset (1 layer), 8 slots of 6 s, shown / hidden it/s (median of per-pair ratios, min..max):
  training in its child process (the default) 1.01 (0.53-1.26; 261 ms readings every 2 s); training in the
  worker thread (CHARRNN_TRAIN_PROCESS=0) 0.79 (0.72-0.93) with a reading every 2 s, then, with MAX_DUTY spacing
  the readings to one per ~3.7 s, 1.09 (1.02-1.34): no cost that this noise lets one see. The GUI thread's wait
  for the weights copy (held_trainer: the step under way ends first): median 28-44 ms, 90th percentile 64-250 ms,
  max 0.2-0.8 s (the same wait the Look inside probe has).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def core_costs(reps: int) -> dict:
    """Median ms of one reading per preset and layer count, streams against one sequential stream."""
    import numpy as np

    import core
    from core.builtins import load_builtin
    from core.saturation import PASSAGE, gate_saturation, held_out_ids
    from core.threads import limit_blas_threads

    limit_blas_threads(1)
    corpus = load_builtin("shakespeare")
    out = {}
    for name in ("lstm", "gru"):
        for layers in (1, 2):
            trainer = core.Trainer.from_corpus(corpus, core.preset(name, num_layers=layers))
            for _ in range(30):  # a little training, so that some gates saturate
                trainer.step()
            ids = held_out_ids(trainer, PASSAGE)
            params = {k: v.copy() for k, v in trainer.params.items()}
            times = {}
            for label, streams in (("streams", None), ("sequential", 1)):
                kw = {} if streams is None else {"streams": streams}
                gate_saturation(params, ids, **kw)
                ts = []
                for _ in range(reps):
                    t = time.perf_counter()
                    r = gate_saturation(params, ids, **kw)
                    ts.append(time.perf_counter() - t)
                times[label] = (statistics.median(ts) * 1e3, r)
            a, b = times["streams"][1], times["sequential"][1]
            diff = max(float(np.abs(x[layer][g] - y[layer][g]).max()) for layer in range(layers) for g in a.gates
                       for x, y in ((a.left, b.left), (a.right, b.right)))
            out[f"{name} x{layers}"] = {"characters": a.characters, "ms": round(times["streams"][0], 1),
                                        "sequential_ms": round(times["sequential"][0], 1),
                                        "max_fraction_difference": round(diff, 4)}
    return out


def app_cost(preset: str, slots: int, slot: float) -> dict:
    """it/s with the Gates tab shown against hidden, alternating in one training run."""
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    import core
    from charrnn_gui import MainWindow

    app = QApplication.instance() or QApplication(sys.argv)

    def wait(seconds):
        loop = QEventLoop()
        QTimer.singleShot(int(seconds * 1000), loop.quit)
        loop.exec()

    w = MainWindow(restore_last_corpus=False)
    w.resize(1400, 900)
    w.show()
    w.open_builtin("shakespeare")
    while w.session.is_loading:
        wait(0.05)
    w.settings_panel.show_config(core.preset(preset), preset)
    panel = w.saturation_panel
    waits, seconds = [], []
    original = w._weights_copy

    def timed_copy():
        t = time.perf_counter()
        got = original()
        waits.append(time.perf_counter() - t)
        return got

    panel.set_source(timed_copy)
    w.start()
    wait(3.0)  # warm up
    rates = {"shown": [], "hidden": []}
    order = []
    for i in range(slots):
        shown = (i % 4) in (0, 3)  # shown, hidden, hidden, shown, ...: a steady drift cancels
        w.tabs.setCurrentWidget(panel if shown else w.heatmap)
        wait(0.5)  # the switch settles (a reading started just before may finish)
        n0, c0, t0 = w.session.iteration, panel.computations, time.perf_counter()
        wait(slot)
        n1, t1 = w.session.iteration, time.perf_counter()
        if panel.computations > c0 and panel.seconds:
            seconds.append(panel.seconds)
        rates["shown" if shown else "hidden"].append((n1 - n0) / (t1 - t0))
        order.append(("shown" if shown else "hidden", round((n1 - n0) / (t1 - t0), 2), panel.computations - c0))
    w.pause()
    wait(0.5)
    readings = panel.computations
    w.shutdown()  # joins training and ends the run without asking to save (closing would ask)
    w.close()
    pairs = [s / h for s, h in zip(rates["shown"], rates["hidden"])]
    return {"preset": preset, "slot_s": slot, "slots": order,
            "shown_its": round(statistics.median(rates["shown"]), 2),
            "hidden_its": round(statistics.median(rates["hidden"]), 2),
            "ratio_median": round(statistics.median(pairs), 3), "ratio_min": round(min(pairs), 3),
            "ratio_max": round(max(pairs), 3), "readings": readings,
            "reading_ms_median": round(statistics.median(seconds) * 1e3, 1) if seconds else None,
            "copy_wait_ms_median": round(statistics.median(waits) * 1e3, 1) if waits else None,
            "copy_wait_ms_p90": round(sorted(waits)[int(0.9 * (len(waits) - 1))] * 1e3, 1) if waits else None,
            "copy_wait_ms_max": round(max(waits) * 1e3, 1) if waits else None, "copies": len(waits)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--slots", type=int, default=8)
    ap.add_argument("--slot", type=float, default=6.0)
    ap.add_argument("--preset", default="lstm")
    ap.add_argument("--only", choices=("core", "app"), default=None)
    args = ap.parse_args()
    out = {}
    if args.only in (None, "core"):
        out["core"] = core_costs(args.reps)
    if args.only in (None, "app"):
        out["app"] = app_cost(args.preset, args.slots, args.slot)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
