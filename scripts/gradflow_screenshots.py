"""Screenshots of the Gradient flow tab for the README: the tanh RNN's vanishing reach, and the LSTM's two paths.

    python scripts/gradflow_screenshots.py [--seconds 60] [--out assets/screenshots]
    python scripts/gradflow_screenshots.py --platform offscreen ...      (no X server at all)

Runs the real app on the built-in corpus in throwaway settings and runs folders (never the user's), on X11
($DISPLAY or a private Xvfb, scripts/shots.py): starts Experiments → Vanishing, trains for --seconds, pauses
and saves window.grab() as gradient-flow-rnn.png; then Experiments → LSTM keeps the signal the same way as
gradient-flow-lstm.png. --only rnn|lstm takes one.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from shots import ROOT, add_platform_option, display, open_window, spin

SHOTS = {"rnn": ("vanishing", "gradient-flow-rnn"), "lstm": ("lstm", "gradient-flow-lstm"),
         "exploding": ("exploding", "gradient-flow-exploding")}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=60.0, help="training time of each experiment")
    p.add_argument("--out", default=os.path.join(ROOT, "assets", "screenshots"))
    p.add_argument("--suffix", default="", help="added to the file names (e.g. -offscreen)")
    p.add_argument("--only", choices=sorted(SHOTS), action="append", help="take only these (repeatable)")
    p.add_argument("--every", type=int, default=0, help="measure every N iterations instead of the experiment's")
    add_platform_option(p)
    args = p.parse_args()
    with display(args.platform):
        return shoot(args)


def shoot(args) -> int:
    app, window = open_window(1500, 1000)
    spin(app, lambda: window.session.corpus is not None and not window.session.is_loading, timeout=120)
    os.makedirs(args.out, exist_ok=True)
    for key in args.only or ("rnn", "lstm"):
        name, stem = SHOTS[key]
        if not window.start_experiment(name):
            print(f"cannot start {name}", file=sys.stderr)
            return 1
        if args.every:
            window.settings_panel.grad_flow_spin.setValue(args.every)
        started = time.perf_counter()
        spin(app, lambda: time.perf_counter() - started >= args.seconds or window.session.state != "running")
        window.pause()
        window.right_splitter.setSizes([330, 620])
        spin(app, lambda: False, timeout=0.5)
        window.refresh_now()
        window.gradflow_panel.show_health_at(window.session.flows.latest.iteration)
        spin(app, lambda: False, timeout=0.5)
        path = os.path.join(args.out, f"{stem}{args.suffix}.png")
        window.grab().save(path)
        print(f"{path}: iteration {window.session.iteration}, {len(window.session.flows)} measurements, "
              f"g_T-1/g_0 {window.gradflow_panel.ratio_label.property('ratio'):.3g}")
    window.shutdown()
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
