"""Screenshots of the Gates tab for a trained model: the whole window and the tab alone, one per checkpoint.

Train a model with the CLI first, e.g.

    charrnn-train builtin:shakespeare --preset lstm --layers 2 --seconds 90 --checkpoint /tmp/lstm.npz

then

    QT_QPA_PLATFORM=offscreen python scripts/gates_screenshot.py /tmp/lstm.npz --out /tmp/gates/lstm --layer 2

writes OUT-window.png and OUT-panel.png (the layer shown: --layer, 1 is the bottom one; --hover: one unit's readout)
and prints what it read.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEventLoop, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402


def wait(seconds: float) -> None:
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--out", required=True, help="path prefix of the PNGs")
    ap.add_argument("--layer", type=int, default=1)
    ap.add_argument("--size", default="1400x900")
    ap.add_argument("--hover", action="store_true", help="show the readout of the forget (GRU: update) gate's unit "
                    "open most often, as hovering it does")
    args = ap.parse_args()
    app = QApplication.instance() or QApplication(sys.argv)
    from charrnn_gui import MainWindow

    w = MainWindow(restore_last_corpus=False)
    width, height = (int(v) for v in args.size.split("x"))
    w.resize(width, height)
    w.show()
    w.open_checkpoint(path=args.checkpoint)
    deadline = time.time() + 120
    while (not w.session.has_model or w.session.is_loading) and time.time() < deadline:
        wait(0.1)
    if not w.session.has_model:
        raise SystemExit(f"could not open {args.checkpoint}")
    panel = w.saturation_panel
    w.tabs.setCurrentWidget(panel)
    wait(0.5)
    panel.compute_now()
    panel.layer_combo.setCurrentIndex(min(args.layer, panel.layer_combo.count()) - 1)
    wait(0.5)
    r = panel.result
    print(f"iteration {panel.iteration}, {r.cell} x{r.layers}, {r.characters} characters, {1e3 * panel.seconds:.0f} ms")
    for layer in range(r.layers):
        line = ", ".join(f"{g}: open >50% of the time {int((r.right[layer][g] > 0.5).sum())}, shut >50% "
                         f"{int((r.left[layer][g] > 0.5).sum())}" for g in r.gates)
        print(f"  layer {layer + 1}: {line}")
    if args.hover:  # the readout and ring of the unit whose gate is open most often, as a hover shows them
        gate = "f" if "f" in r.gates else "z"
        unit = int(r.right[panel.layer][gate].argmax())
        panel.readout.setText(panel.describe(gate, unit))
        wait(0.2)
    w.grab().save(f"{args.out}-window.png")
    panel.grab().save(f"{args.out}-panel.png")
    w.shutdown()
    w.close()


if __name__ == "__main__":
    main()
