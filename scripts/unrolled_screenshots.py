"""Screenshots of the Unrolled tab: the hello lesson's forward pass, its backward pass with two sampled steps, and
Shakespeare with the fast preset while it trains.

    xvfb-run -a -s "-screen 0 1920x1080x24" env QT_QPA_PLATFORM=xcb python scripts/unrolled_screenshots.py OUT

writes OUT/unrolled-hello.png, OUT/unrolled-backward.png and OUT/unrolled-shakespeare.png (the README's are in
assets/screenshots/). Settings and runs go to a throwaway folder.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QEventLoop, QSettings, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

HELLO_ITERATIONS = 200  # the hello lesson trained this far (it spells hello after a few dozen)
SHAKESPEARE_SECONDS = 12  # the fast preset trained this long before the shot


def spin(seconds: float) -> None:
    """Run the event loop for a while."""
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


def wait_until(condition, step: float = 0.1) -> None:
    """Run the event loop until condition() holds."""
    while not condition():
        spin(step)


def main(out: str) -> int:
    folder = tempfile.mkdtemp(prefix="charrnn-shots-")
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, folder)
    os.environ["XDG_DATA_HOME"] = folder
    app = QApplication(sys.argv)
    from charrnn_gui import MainWindow

    os.makedirs(out, exist_ok=True)
    w = MainWindow(restore_last_corpus=False)
    w.resize(1400, 900)
    w.show()
    spin(2)
    print("platform", app.platformName())
    w.start_experiment("hello")  # waits at iteration 0 on the Unrolled tab
    w.start()
    wait_until(lambda: w.session.has_model and w.session.iteration >= HELLO_ITERATIONS)
    w.pause()
    spin(0.5)
    w.right_splitter.setSizes([380, 470])
    spin(0.3)
    view = w.unrolled
    view.refresh()
    for _ in range(4):
        view.step()  # the forward pass, column by column
    spin(0.5)
    w.grab().save(f"{out}/unrolled-hello.png")
    for _ in range(4):
        view.step()  # the backward pass, right to left
    for _ in range(2):
        view.sample_step()
    spin(0.5)
    view.grab().save(f"{out}/unrolled-backward.png")

    w.session.discard_model()
    w.open_builtin("shakespeare")
    wait_until(lambda: not w.session.is_loading and w.session.corpus.name == "shakespeare", 0.2)
    w.settings_panel.apply_preset("fast")
    view.live_check.setChecked(True)
    w.start()
    spin(SHAKESPEARE_SECONDS)
    w.tabs.setCurrentWidget(view)
    spin(3.5)
    w.grab().save(f"{out}/unrolled-shakespeare.png")
    print("shakespeare iteration", w.session.iteration)
    w.pause()
    w.shutdown()
    w.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "assets/screenshots"))
