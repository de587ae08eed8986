"""The Unrolled tab's cost while the app trains: the same run, slots alternating between the Unrolled tab shown and
the Hidden state tab shown (fast preset, built-in Shakespeare).

    QT_QPA_PLATFORM=offscreen python scripts/measure_unrolled.py [SLOT_SECONDS=4] [PAIRS=6]

Reports iterations a second in each kind of slot (the median ratio shown/hidden: target >= 0.97), the GUI thread's
CPU share in each, the view's own time per refresh (the unrolling alone, and the whole refresh including the wait
for a step to end), and a 16 ms timer's p50/p95/max with the tab shown and hidden (target: p95 <= 33 ms). It reports;
it asserts nothing.
"""
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from scripts.measure_gui import open_window, percentile  # noqa: E402
from PySide6.QtCore import QTimer  # noqa: E402

window, spin = open_window("fast")
view = window.unrolled
costs = []
orig = view._compute
def timed(taken):
    t = time.perf_counter(); orig(taken); costs.append(time.perf_counter() - t)
view._compute = timed
refresh_orig = view.refresh
totals = []
def timed_refresh():
    t = time.perf_counter(); r = refresh_orig(); totals.append(time.perf_counter() - t); return r
view.refresh = timed_refresh
window.start()
spin(3.0)
slot = float(sys.argv[1]) if len(sys.argv) > 1 else 4.0
pairs = int(sys.argv[2]) if len(sys.argv) > 2 else 6
rates = {"shown": [], "hidden": []}
cpu = {"shown": [], "hidden": []}
for k in range(pairs):
    order = ("shown", "hidden") if k % 2 == 0 else ("hidden", "shown")
    for which in order:
        window.tabs.setCurrentWidget(view if which == "shown" else window.heatmap)
        spin(0.5)
        it0, t0, c0 = window.session.iteration, time.perf_counter(), time.thread_time()
        spin(slot)
        it1, t1, c1 = window.session.iteration, time.perf_counter(), time.thread_time()
        rates[which].append((it1 - it0) / (t1 - t0))
        cpu[which].append((c1 - c0) / (t1 - t0))
# timer smoothness, tab shown vs hidden, alternating
ivs = {"shown": [], "hidden": []}
for k in range(4):
    for which in (("shown", "hidden") if k % 2 == 0 else ("hidden", "shown")):
        window.tabs.setCurrentWidget(view if which == "shown" else window.heatmap)
        spin(0.3)
        ticks = []
        timer = QTimer(); timer.setInterval(16); timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
        timer.start(); spin(3.0); timer.stop()
        ivs[which] += [(b - a) * 1000 for a, b in zip(ticks, ticks[1:])]
iv = ivs["shown"]
window.pause()
cfg = window.session.model.config
res = {
    "preset": "fast", "T": cfg.seq_length, "H": cfg.hidden_size, "V": len(window.session.model.vocab),
    "its_shown_median": statistics.median(rates["shown"]), "its_hidden_median": statistics.median(rates["hidden"]),
    "ratio_shown_over_hidden": statistics.median(rates["shown"]) / statistics.median(rates["hidden"]),
    "pair_ratios": [s / h for s, h in zip(rates["shown"], rates["hidden"])],
    "gui_cpu_shown": statistics.median(cpu["shown"]), "gui_cpu_hidden": statistics.median(cpu["hidden"]),
    "view_compute_ms_median": 1000 * statistics.median(costs) if costs else None,
    "view_refresh_ms_median": 1000 * statistics.median(totals) if totals else None,
    "view_refresh_ms_max": 1000 * max(totals) if totals else None, "refreshes": len(totals),
    "timer_ms_shown": {"n": len(iv), "p50": percentile(iv, 50), "p95": percentile(iv, 95), "max": max(iv)},
    "timer_ms_hidden": {"n": len(ivs["hidden"]), "p50": percentile(ivs["hidden"], 50),
                        "p95": percentile(ivs["hidden"], 95), "max": max(ivs["hidden"])},
}
print(json.dumps(res, indent=1))
window.shutdown(); window.close()
