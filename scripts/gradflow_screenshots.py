"""Screenshots of the Gradient flow tab for the README: the tanh RNN's vanishing reach, and the LSTM's two paths.

    QT_QPA_PLATFORM=offscreen python scripts/gradflow_screenshots.py [--seconds 60] [--out assets/screenshots]
    DISPLAY=:NN python scripts/gradflow_screenshots.py ...      (the real xcb platform under Xvfb)

Runs the real app on the built-in corpus in a throwaway settings folder and runs folder (never the user's):
starts Experiments → Vanishing, trains for --seconds, pauses and saves window.grab() as gradient-flow-rnn.png;
then Experiments → LSTM keeps the signal the same way as gradient-flow-lstm.png. --only rnn|lstm takes one.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
if "DISPLAY" not in os.environ:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="charrnn-shots-data-")  # the runs go here

SHOTS = {"rnn": ("vanishing", "gradient-flow-rnn"), "lstm": ("lstm", "gradient-flow-lstm"),
         "exploding": ("exploding", "gradient-flow-exploding")}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=60.0, help="training time of each experiment")
    p.add_argument("--out", default=os.path.join(ROOT, "assets", "screenshots"))
    p.add_argument("--suffix", default="", help="added to the file names (e.g. -offscreen)")
    p.add_argument("--only", choices=sorted(SHOTS), action="append", help="take only these (repeatable)")
    p.add_argument("--every", type=int, default=0, help="measure every N iterations instead of the experiment's")
    args = p.parse_args()

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication, QMessageBox

    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, tempfile.mkdtemp(prefix="charrnn-shots-"))
    app = QApplication.instance() or QApplication([])
    QMessageBox.question = staticmethod(lambda *a, **k: QMessageBox.StandardButton.Yes)  # discard without asking
    QMessageBox.warning = staticmethod(lambda *a, **k: QMessageBox.StandardButton.Ok)  # the divergence message
    from charrnn_gui import MainWindow

    window = MainWindow(restore_last_corpus=False)
    window.resize(1500, 1000)
    window.show()

    def spin(until, timeout=600.0):
        end = time.perf_counter() + timeout
        while not until() and time.perf_counter() < end:
            app.processEvents()
            time.sleep(0.005)

    spin(lambda: window.corpus is not None and not window.is_loading, timeout=120)
    os.makedirs(args.out, exist_ok=True)
    for key in args.only or ("rnn", "lstm"):
        name, stem = SHOTS[key]
        if not window.start_experiment(name):
            print(f"cannot start {name}", file=sys.stderr)
            return 1
        if args.every:
            window.settings_panel.grad_flow_spin.setValue(args.every)
        started = time.perf_counter()
        spin(lambda: time.perf_counter() - started >= args.seconds or window.state != "running")
        window.pause()
        window.right_splitter.setSizes([330, 620])
        spin(lambda: False, timeout=0.5)
        window.refresh_now()
        window.gradflow_panel.show_health_at(window.session.flows.latest.iteration)
        spin(lambda: False, timeout=0.5)
        path = os.path.join(args.out, f"{stem}{args.suffix}.png")
        window.grab().save(path)
        print(f"{path}: iteration {window.trainer.iteration}, {len(window.session.flows)} measurements, "
              f"g_T-1/g_0 {window.gradflow_panel.ratio_label.property('ratio'):.3g}")
    window.shutdown()
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
