"""Kill the app's engine process (SIGKILL) at random moments of training, through the window, and check each time.

    QT_QPA_PLATFORM=offscreen python scripts/kill_engine.py [--rounds 20] [--seed 18] [--corpus builtin:shakespeare]

Each round trains (a new model, or the previous round's run reopened from its latest.npz), waits a random 0.3 to
2.5 s, saves the run's latest.npz through the engine on every other round (so that half the rounds have a
checkpoint to recover), and kills the engine with SIGKILL. Then it checks what a user would see and what the run
folder holds:

* the window is still there and says why in one line within 2 s (its status bar; the dialog is answered here);
* the curves already drawn are still drawn;
* run.json says interrupted, and every line of metrics.jsonl and samples.jsonl is whole JSON;
* when the run had a latest.npz, the window offered to reopen it; answering yes (every other such round) reopens
  the model at that checkpoint's iteration, continuing the same run.

It prints one line per round and a summary; exit code 1 if any check failed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import tempfile
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SAY_WITHIN = 2.0  # seconds: the window must say why by then


def whole_jsonl(path: str) -> int:
    """The number of lines of a JSONL file; raises ValueError on a line cut short or not JSON."""
    if not os.path.exists(path):
        return 0
    with open(path, "rb") as f:
        raw = f.read()
    if raw and not raw.endswith(b"\n"):
        raise ValueError(f"{os.path.basename(path)} ends with a partial line")
    for line in raw.splitlines():
        json.loads(line)
    return len(raw.splitlines())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--seed", type=int, default=18)
    p.add_argument("--corpus", default="builtin:shakespeare")
    args = p.parse_args()

    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    tmp = tempfile.mkdtemp(prefix="charrnn-kill-")
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, tmp)
    os.environ["XDG_DATA_HOME"] = os.path.join(tmp, "data")
    app = QApplication.instance() or QApplication([])
    asked: list[str] = []
    answer = {"yes": False}
    QMessageBox.warning = staticmethod(lambda parent, title, text, *a, **k: asked.append(text))
    QMessageBox.question = staticmethod(
        lambda parent, title, text, *a, **k: (asked.append(text), QMessageBox.StandardButton.Yes if answer["yes"]
                                              else QMessageBox.StandardButton.No)[1])
    from core import load_checkpoint
    from core.engine import SaveCheckpoint
    from core.runs import read_info

    from charrnn_gui import MainWindow

    def spin(seconds: float) -> None:
        loop = QEventLoop()
        QTimer.singleShot(max(1, int(seconds * 1000)), loop.quit)
        loop.exec()

    def wait(cond, seconds: float) -> bool:
        end = time.monotonic() + seconds
        while not cond() and time.monotonic() < end:
            spin(0.01)
        return cond()

    window = MainWindow(restore_last_corpus=False)
    window.resize(1400, 900)
    window.show()
    window.settings_panel.apply_preset("min-char-rnn")
    if args.corpus.startswith("builtin:"):
        window.open_builtin(args.corpus.split(":", 1)[1])
    else:
        window.open_corpus_path(args.corpus)
    if not wait(lambda: window.session.corpus is not None and not window.session.is_loading, 60):
        print("the corpus did not load")
        return 1
    rng = random.Random(args.seed)
    failures = 0
    said_in: list[float] = []
    recovered = 0
    for k in range(args.rounds):
        session = window.session
        if not session.has_model:
            window.start()
        elif session.state != "running":
            window.start()
        if not wait(lambda: session.client is not None and session.client.info is not None and
                    session.run_path is not None, 20):
            print(f"round {k + 1}: the engine did not open a run")
            failures += 1
            break
        spin(rng.uniform(0.3, 2.5))
        saved = k % 2 == 0
        if saved:
            session.client.call(SaveCheckpoint(None))
        run, pid, points = session.run_path, session.client.pid, len(window.loss_panel.history)
        iteration = session.iteration
        asked.clear()
        window.statusBar().clearMessage()
        answer["yes"] = saved and k % 4 == 0  # reopen the checkpoint on every other round that has one
        t0 = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        told = wait(lambda: "killed by signal 9" in window.statusBar().currentMessage(), 10)
        said = time.monotonic() - t0
        problems = []
        if not told or said > SAY_WITHIN:
            problems.append(f"said why after {said:.2f} s" if told else "never said why")
        if not window.isVisible():
            problems.append("the window is gone")
        if answer["yes"]:
            ok = wait(lambda: session.has_model and session.client is not None and session.client.info is not None,
                      20)
            latest = os.path.join(run, "checkpoints", "latest.npz")
            at = int(load_checkpoint(latest).meta["iteration"]) if os.path.isfile(latest) else None
            if not ok or session.iteration != at or session.run_path not in (None, run):
                problems.append(f"the run's checkpoint (iteration {at}) was not reopened")
            else:
                recovered += 1
        elif len(window.loss_panel.history) < points:
            problems.append(f"the curves lost points ({points} -> {len(window.loss_panel.history)})")
        try:
            wait(lambda: read_info(run).get("status") == "interrupted", 5)
            status = read_info(run).get("status")
            lines = whole_jsonl(os.path.join(run, "metrics.jsonl")), whole_jsonl(os.path.join(run, "samples.jsonl"))
        except (ValueError, OSError) as e:
            problems.append(f"the run does not read back: {e}")
            status, lines = "?", (0, 0)
        if status != "interrupted" and not answer["yes"]:
            problems.append(f"run.json says {status}")
        has_latest = os.path.isfile(os.path.join(run, "checkpoints", "latest.npz"))
        if saved and not has_latest:
            problems.append("latest.npz is missing")
        if saved and not any("last checkpoint" in text for text in asked):
            problems.append("the window did not offer the checkpoint")
        said_in.append(said)
        failures += bool(problems)
        print(f"round {k + 1:2d}: killed at iteration {iteration:6,}; said why in {said * 1000:4.0f} ms; run "
              f"{os.path.basename(run)} {status}, {lines[0]} metrics + {lines[1]} samples lines whole"
              f"{', latest.npz reopened' if answer['yes'] and not problems else ''}"
              f"{'; PROBLEMS: ' + '; '.join(problems) if problems else ''}", flush=True)
    window.shutdown()
    window.close()
    app.processEvents()
    said_in.sort()
    if said_in:
        print(f"{len(said_in)} kills, {failures} with problems; said why in median {said_in[len(said_in) // 2] * 1000:.0f}"
              f" ms, at most {said_in[-1] * 1000:.0f} ms; {recovered} reopened from the run's latest.npz")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
