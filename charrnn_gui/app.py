"""The `charrnn-gui [PATH]` entry point: a text file (or a .npz checkpoint) to open, or nothing."""

from __future__ import annotations

import argparse
import sys


def parse_args(argv):
    p = argparse.ArgumentParser(prog="charrnn-gui",
                                description="Watch a character-level RNN (min-char-rnn) learn to write.")
    p.add_argument("path", nargs="?", help="a text file to train on, or a .npz checkpoint to continue")
    return p.parse_args(argv)


def main(argv=None) -> int:
    from PySide6.QtCore import QCoreApplication

    if QCoreApplication.instance() is None:  # Qt aborts the process when its platform plugin cannot load: look first
        from .xcb_check import missing_packages_message

        message = missing_packages_message(argv=sys.argv[1:] if argv is None else argv)
        if message:
            print(message, file=sys.stderr)
            return 1
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1] + list(sys.argv[1:] if argv is None else argv))
        argv = app.arguments()[1:]  # Qt has removed its own options (-platform, -style, ...)
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    why = path_problem(args.path)
    if why:  # a typo on the command line: said where it was typed, as argparse does, before any window opens
        print(f"charrnn-gui: error: {why}", file=sys.stderr)
        return 2
    app.setApplicationName("charrnn-gui")
    app.setOrganizationName("charrnn")
    app.setApplicationDisplayName("charrnn")

    window = open_window(args.path)  # noqa: F841 - kept alive while the app runs
    code = app.exec()
    return finish_threads(code)


def path_problem(path: str | None) -> str | None:
    """Why the command line's path cannot be opened at all (missing, a folder), else None. What is inside a file
    (not text, not a checkpoint) is for the window to say, as when the file is opened or dropped there."""
    import os

    if path is None:
        return None
    if not os.path.exists(path):
        return f"{path}: no such file"
    if os.path.isdir(path):
        return f"{path} is a folder; give a text file (.txt) to train on or a checkpoint (.npz) to continue"
    return None


def open_window(path: str | None = None):
    """The shown MainWindow, opening path as a checkpoint (.npz) or as a text to train on (anything else);
    without a path, the last text used."""
    from .main_window import MainWindow

    window = MainWindow(restore_last_corpus=path is None)
    window.show()
    if path:
        if path.lower().endswith(".npz"):
            window.open_checkpoint(path=path)
        else:
            window.open_corpus_path(path)
    return window


def finish_threads(code: int, timeout: float = 5.0) -> int:
    """Join the app's threads before Python tears Qt down (a destroyed running QThread aborts).

    Only a corpus load stuck in a read can still be running after the timeout; then the process
    ends at once, without running destructors, rather than aborting or hanging.
    """
    import os

    from .threads import running_threads, stop_all_threads

    stop_all_threads(timeout)
    if running_threads():  # pragma: no cover - needs a read that never returns
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
