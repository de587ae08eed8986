"""Screenshots of the main window for the README: training on Shakespeare, paused with Sample now, Look inside.

    QT_QPA_PLATFORM=offscreen python scripts/screenshots.py [--iterations 400] [--out assets/screenshots]

Runs the real app offscreen on the built-in corpus with the fast preset, in a throwaway settings
folder (never the user's), and saves window.grab() images.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--iterations", type=int, default=400)
    p.add_argument("--out", default=os.path.join(ROOT, "assets", "screenshots"))
    args = p.parse_args()

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, tempfile.mkdtemp(prefix="charrnn-shots-"))
    app = QApplication.instance() or QApplication([])
    from charrnn_gui import MainWindow

    window = MainWindow(restore_last_corpus=False)
    window.resize(1400, 900)
    window.show()
    window.settings_panel.apply_preset("fast")

    def spin(until, timeout=600.0):
        end = time.perf_counter() + timeout
        while not until() and time.perf_counter() < end:
            app.processEvents()
            time.sleep(0.005)

    os.makedirs(args.out, exist_ok=True)
    window.start()
    spin(lambda: window.trainer.iteration >= args.iterations)
    spin(lambda: False, timeout=0.6)  # one more plot refresh and status update while running
    window.refresh_now()
    training = os.path.join(args.out, "main-window-training.png")
    window.grab().save(training)

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
    paused = os.path.join(args.out, "main-window-sample-now.png")
    window.grab().save(paused)

    window.tabs.setCurrentWidget(window.inspector)  # Look inside, as a user would open it
    window.inspector.run_button.click()
    window.heatmap.unitClicked.emit(12)  # the unit clicked in the heatmap, over the probe text
    spin(lambda: False, timeout=0.3)
    inside = os.path.join(args.out, "main-window-look-inside.png")
    window.grab().save(inside)
    window.shutdown()
    window.close()
    print(training)
    print(paused)
    print(inside)
    return 0


if __name__ == "__main__":
    sys.exit(main())
