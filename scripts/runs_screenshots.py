"""Screenshots of the Runs tab for the README: three trainings overlaid, and their samples compared.

    python scripts/runs_screenshots.py [--seconds 25] [--out assets/screenshots]
    python scripts/runs_screenshots.py --platform offscreen ...      (no X server at all)

Runs the real app on the built-in corpus in throwaway settings and runs folders (never the user's), on
X11 ($DISPLAY or a private Xvfb, scripts/shots.py): trains the fast preset at three hidden sizes one after
another (Start, wait, Reset), ticks the three runs, and saves window.grab() images of the overlay and of the
samples compared.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from shots import ROOT, add_platform_option, display, open_window, spin


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=45.0, help="training time of each of the three runs")
    p.add_argument("--out", default=os.path.join(ROOT, "assets", "screenshots"))
    p.add_argument("--suffix", default="", help="added to the file names (e.g. -offscreen)")
    add_platform_option(p)
    args = p.parse_args()
    with display(args.platform):
        return shoot(args)


def shoot(args) -> int:
    app, window = open_window(1500, 980)
    paths = []
    for hidden in (64, 128, 256):
        window.settings_panel.apply_preset("fast")
        window.settings_panel.hidden_spin.setValue(hidden)
        window.start()
        started = time.perf_counter()
        spin(app, lambda: time.perf_counter() - started >= args.seconds)
        window.pause()
        spin(app, lambda: window.session.run_path is not None, timeout=10)
        paths.append(window.session.run_path)
        window.reset_model()
        print(f"H={hidden}: {paths[-1]}", flush=True)

    runs = window.runs
    spin(app, lambda: all(p in runs.rows and runs.rows[p].status == "finished" for p in paths), timeout=20)
    for p in paths:
        window.runs_panel.set_checked(p)
    spin(app, lambda: all(runs.rows[p].history is not None and len(runs.rows[p].history.samples) for p in paths),
         timeout=20)
    window.tabs.setCurrentWidget(window.runs_panel)
    window.right_splitter.setSizes([560, 420])
    window.runs_panel.set_x_axis("time")
    window.loss_panel.set_units("bits")
    window.loss_panel.set_smoothing(0.95)
    spin(app, lambda: False, timeout=1.0)
    window.loss_panel.refresh()
    os.makedirs(args.out, exist_ok=True)
    overlay = os.path.join(args.out, f"runs-overlay{args.suffix}.png")
    window.grab().save(overlay)

    latest = min(runs.rows[p].history.samples[-1].iteration for p in paths)
    window.runs_panel.compare.set_iteration(latest)
    window.runs_panel.splitter.setSizes([560, 900])
    window.right_splitter.setSizes([380, 600])
    spin(app, lambda: False, timeout=0.5)
    compare = os.path.join(args.out, f"runs-compare-samples{args.suffix}.png")
    window.grab().save(compare)
    window.shutdown()
    window.close()
    print(overlay)
    print(compare)
    return 0


if __name__ == "__main__":
    sys.exit(main())
