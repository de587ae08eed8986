"""Screenshots of the main window for the README: training on Shakespeare, paused with Sample now, Look inside.

    python scripts/screenshots.py [--iterations 400] [--out assets/screenshots] [--platform xcb|offscreen]

Runs the real app on the built-in corpus with the fast preset, in a throwaway settings folder (never
the user's), and saves window.grab() images. The platform is X11 (xcb), as on a desktop: on $DISPLAY
when one is set, else on a private Xvfb server the script starts and stops itself (or run it under
`xvfb-run -a`). `--platform offscreen` draws without any X server.
With --preset lstm --state c it shows an LSTM training with the heatmap on its cell state instead
(main-window-lstm-training.png, one picture):

    python scripts/screenshots.py --preset lstm --layers 2 --state c --iterations 150 --name main-window-lstm
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
SCREEN = "1920x1080x24"


def start_xvfb() -> tuple[subprocess.Popen, str]:
    """A private Xvfb server; returns it and its display name once it accepts clients."""
    if shutil.which("Xvfb") is None:
        raise SystemExit("screenshots: no $DISPLAY and no Xvfb (apt-get install xvfb), or use --platform offscreen")
    server = subprocess.Popen(["Xvfb", "-displayfd", "1", "-screen", "0", SCREEN, "-nolisten", "tcp"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    number = server.stdout.readline().strip()  # written when the server is ready
    if not number:
        server.kill()
        raise SystemExit("screenshots: Xvfb did not start")
    return server, f":{int(number)}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--iterations", type=int, default=400)
    p.add_argument("--out", default=os.path.join(ROOT, "assets", "screenshots"))
    p.add_argument("--platform", choices=("xcb", "offscreen"), default=os.environ.get("QT_QPA_PLATFORM") or "xcb",
                   help="Qt platform: xcb (X11, the default: a real display or a private Xvfb) or offscreen")
    p.add_argument("--preset", default="fast", help="the preset to train (default fast)")
    p.add_argument("--state", default=None, help="show this state in the heatmap (c, f, ...) and take only the "
                                                 "training picture")
    p.add_argument("--layer", type=int, default=None, help="of this layer (1 = bottom; default the top one)")
    p.add_argument("--name", default="main-window", help="the pictures' file name prefix")
    p.add_argument("--layers", type=int, default=None, help="stack this many layers (dropout 0.1 between them)")
    args = p.parse_args()
    os.environ["QT_QPA_PLATFORM"] = args.platform
    server = None
    if args.platform == "xcb" and not os.environ.get("DISPLAY"):
        server, os.environ["DISPLAY"] = start_xvfb()
    try:
        return shoot(args)
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)


def shoot(args) -> int:
    from charrnn_gui.xcb_check import missing_packages_message

    message = missing_packages_message() if args.platform == "xcb" else None
    if message:
        print(message, file=sys.stderr)
        return 1
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, tempfile.mkdtemp(prefix="charrnn-shots-"))
    app = QApplication.instance() or QApplication([])
    from charrnn_gui import MainWindow

    window = MainWindow(restore_last_corpus=False)
    window.resize(1400, 900)
    window.show()
    window.settings_panel.apply_preset(args.preset)
    if args.layers is not None:
        cfg = window.settings_panel.config().replace(num_layers=args.layers, dropout=0.1 if args.layers > 1 else 0.0)
        window.settings_panel.show_config(cfg)

    def spin(until, timeout=600.0):
        end = time.perf_counter() + timeout
        while not until() and time.perf_counter() < end:
            app.processEvents()
            time.sleep(0.005)

    print(f"platform {app.platformName()}, display {os.environ.get('DISPLAY', '-')}", file=sys.stderr)
    os.makedirs(args.out, exist_ok=True)
    window.start()
    spin(lambda: window.trainer.iteration >= args.iterations)
    spin(lambda: False, timeout=0.6)  # one more plot refresh and status update while running
    window.refresh_now()
    if args.state is not None:
        chooser = window.heatmap.chooser
        layer = chooser.layer_combo.count() - 1 if args.layer is None else args.layer - 1
        if not chooser.choose(args.state, layer):
            print(f"the heatmap offers no state {args.state!r} of layer {layer + 1}", file=sys.stderr)
            window.shutdown()
            return 2
        window.heatmap.show_cell(7, 5)  # as if hovering: unit, character and value
        spin(lambda: False, timeout=0.3)
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
    window.loss_panel.show_readout_at(window.trainer.iteration * 0.75)
    spin(lambda: False, timeout=0.3)
    paused = os.path.join(args.out, f"{args.name}-sample-now.png")
    window.grab().save(paused)

    window.tabs.setCurrentWidget(window.inspector)  # Look inside, as a user would open it
    window.inspector.run_button.click()
    window.heatmap.unitClicked.emit(12)  # the unit clicked in the heatmap, over the probe text
    spin(lambda: False, timeout=0.3)
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
