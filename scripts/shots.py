"""What the screenshot scripts share: a display, a throwaway app, and waiting on the app while its events run.

The platform is X11 (xcb), as on a desktop: on $DISPLAY when one is set, else on a private Xvfb server started
and stopped here; `--platform offscreen` (or QT_QPA_PLATFORM=offscreen) draws without any X server. The app
gets its own settings and user-data folders (the runs go there), never the user's, and no dialog waits for an
answer.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
SCREEN = "1920x1080x24"  # the private Xvfb's screen


def add_platform_option(parser) -> None:
    """--platform xcb|offscreen (default: $QT_QPA_PLATFORM, else xcb)."""
    parser.add_argument("--platform", choices=("xcb", "offscreen"),
                        default=os.environ.get("QT_QPA_PLATFORM") or "xcb",
                        help="Qt platform: xcb (X11, the default: $DISPLAY or a private Xvfb) or offscreen")


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


@contextmanager
def display(platform: str):
    """Use this Qt platform inside the block: for xcb without $DISPLAY, on a private Xvfb that ends with it.
    SystemExit with one line when xcb lacks its system libraries."""
    os.environ["QT_QPA_PLATFORM"] = platform
    server = None
    if platform == "xcb" and not os.environ.get("DISPLAY"):
        server, os.environ["DISPLAY"] = start_xvfb()
    try:
        if platform == "xcb":
            from charrnn_gui.xcb_check import missing_packages_message

            message = missing_packages_message()
            if message:
                raise SystemExit(message)
        yield
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)


def open_window(width: int, height: int):
    """(QApplication, MainWindow) shown at this size, with throwaway settings and data folders; message boxes
    answer Yes / OK at once (a script has nobody to click them)."""
    os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="charrnn-shots-data-")  # the runs go here
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication, QMessageBox

    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, tempfile.mkdtemp(prefix="charrnn-shots-"))
    app = QApplication.instance() or QApplication([])
    QMessageBox.question = staticmethod(lambda *a, **k: QMessageBox.StandardButton.Yes)  # e.g. Reset, discard
    QMessageBox.warning = staticmethod(lambda *a, **k: QMessageBox.StandardButton.Ok)  # e.g. the divergence message
    from charrnn_gui import MainWindow

    window = MainWindow(restore_last_corpus=False)
    window.resize(width, height)
    window.show()
    print(f"platform {app.platformName()}, display {os.environ.get('DISPLAY', '-')}", file=sys.stderr)
    return app, window


def spin(app, until, timeout: float = 600.0) -> None:
    """Run the app's events until until() is true or timeout seconds passed."""
    end = time.perf_counter() + timeout
    while not until() and time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.005)
