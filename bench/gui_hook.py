"""(f) the GUI's own figures: GUI timer p95, in-app vs headless it/s, pause latency.

The GUI developers own the measuring code; this section only calls it, in a subprocess (Qt offscreen):
charrnn_gui.measure.measure(preset, seconds) if that exists, else scripts/measure_gui.py's
headless_its() and in_app(). When neither is there, or Qt cannot start, it reports "skipped: GUI not available".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from bench.common import ROOT

CHILD = r"""
import importlib, importlib.util, json, os, sys
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
root, preset, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
sys.path.insert(0, root)
try:
    mod = importlib.import_module("charrnn_gui.measure")
    result = mod.measure(preset, seconds)
except ModuleNotFoundError:
    path = os.path.join(root, "scripts", "measure_gui.py")
    if not os.path.exists(path):
        raise SystemExit("no charrnn_gui.measure and no scripts/measure_gui.py")
    spec = importlib.util.spec_from_file_location("measure_gui", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    warmup = min(2.0, seconds / 2)
    head = mod.headless_its(preset, seconds, warmup)
    result = mod.in_app(preset, seconds, warmup, 10)
    result["headless_its"] = head
    result["in_app_over_headless"] = result["its"] / head if head else None
print(json.dumps(result))
"""


def gui_figures(seconds: float) -> dict:
    out = {}
    for preset in ("fast", "min-char-rnn"):
        try:
            r = subprocess.run([sys.executable, "-c", CHILD, ROOT, preset, str(seconds)], capture_output=True,
                               text=True, timeout=120 + 6 * seconds, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
        except subprocess.TimeoutExpired:
            return {"skipped": "skipped: GUI not available (the measurement timed out)"}
        if r.returncode != 0:
            reason = (r.stderr.strip().splitlines() or ["unknown"])[-1]
            return {"skipped": f"skipped: GUI not available ({reason[:200]})"}
        out[preset] = json.loads(r.stdout.strip().splitlines()[-1])
    return out
