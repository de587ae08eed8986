"""Screenshots of the main window for the README: training on Shakespeare, paused with Sample now, Look inside.

    python scripts/screenshots.py [--iterations 400] [--out assets/screenshots] [--platform xcb|offscreen]

Runs the real app on the built-in corpus with the fast preset, in throwaway settings and runs folders (never
the user's), and saves window.grab() images. The platform is X11 (xcb), as on a desktop: on $DISPLAY
when one is set, else on a private Xvfb server the script starts and stops itself (scripts/shots.py).
`--platform offscreen` draws without any X server.
With --preset lstm --state c it shows an LSTM training with the heatmap on its cell state instead
(main-window-lstm-training.png, one picture):

    python scripts/screenshots.py --preset lstm --layers 2 --state c --iterations 150 --name main-window-lstm
"""

from __future__ import annotations

import argparse
import os
import sys

from shots import ROOT, add_platform_option, display, open_window, spin


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--iterations", type=int, default=400)
    p.add_argument("--out", default=os.path.join(ROOT, "assets", "screenshots"))
    add_platform_option(p)
    p.add_argument("--preset", default="fast", help="the preset to train (default fast)")
    p.add_argument("--state", default=None, help="show this state in the heatmap (c, f, ...) and take only the "
                                                 "training picture")
    p.add_argument("--layer", type=int, default=None, help="of this layer (1 = bottom; default the top one)")
    p.add_argument("--name", default="main-window", help="the pictures' file name prefix")
    p.add_argument("--layers", type=int, default=None, help="stack this many layers (dropout 0.1 between them)")
    args = p.parse_args()
    with display(args.platform):
        return shoot(args)


def shoot(args) -> int:
    app, window = open_window(1400, 900)
    window.settings_panel.apply_preset(args.preset)
    if args.layers is not None:
        cfg = window.settings_panel.config().replace(num_layers=args.layers, dropout=0.1 if args.layers > 1 else 0.0)
        window.settings_panel.show_config(cfg)
    os.makedirs(args.out, exist_ok=True)
    window.start()
    spin(app, lambda: window.session.iteration >= args.iterations)
    spin(app, lambda: False, timeout=0.6)  # one more plot refresh and status update while running
    window.refresh_now()
    if args.state is not None:
        chooser = window.heatmap.chooser
        layer = chooser.layer_combo.count() - 1 if args.layer is None else args.layer - 1
        if not chooser.choose(args.state, layer):
            print(f"the heatmap offers no state {args.state!r} of layer {layer + 1}", file=sys.stderr)
            window.shutdown()
            return 2
        window.heatmap.show_cell(7, 5)  # as if hovering: unit, character and value
        spin(app, lambda: False, timeout=0.3)
    training = os.path.join(args.out, f"{args.name}-training.png")
    window.grab().save(training)
    if args.state is not None:
        window.shutdown()
        window.close()
        print(training)
        return 0

    window.pause()
    samples = window.samples_panel
    samples.prime_edit.setText("ROMEO:")
    samples.temperature_spin.setValue(0.7)
    samples.length_spin.setValue(160)
    samples.sample_button.click()
    window.refresh_now()
    window.heatmap.show_cell(12, 3)  # as if hovering: unit, character and value
    window.loss_panel.show_readout_at(window.session.iteration * 0.75)
    spin(app, lambda: False, timeout=0.3)
    paused = os.path.join(args.out, f"{args.name}-sample-now.png")
    window.grab().save(paused)

    window.tabs.setCurrentWidget(window.inspector)  # Look inside, as a user would open it
    window.inspector.run_button.click()
    window.heatmap.unitClicked.emit(12)  # the unit clicked in the heatmap, over the probe text
    spin(app, lambda: False, timeout=0.3)
    inside = os.path.join(args.out, f"{args.name}-look-inside.png")
    window.grab().save(inside)
    window.shutdown()
    window.close()
    print(training)
    print(paused)
    print(inside)
    return 0


if __name__ == "__main__":
    sys.exit(main())
