"""GUI soak: the real main window (offscreen) trains a tiny model with the loss plot live for a million
iterations (or a time budget), and we watch memory, redraw time and the Qt object count.

    QT_QPA_PLATFORM=offscreen python tests/soak/soak_gui.py                 # 1,000,000 iterations
    QT_QPA_PLATFORM=offscreen python tests/soak/soak_gui.py --minutes 10    # at most 10 minutes

Checks, printed on one result line (exit code 0 when all hold, 1 otherwise):
* resident memory (RSS, the window's plus its engine process's) at 100,000 iterations (or 10 % of a budget-limited run) vs the end: <= 10 % growth;
* the loss plot's redraw at the end: its timer slot (LossPlotPanel.refresh with new data) plus a synchronous
  full paint of the plot
  (plot.grab()), < 30 ms (median of 20);
* QObjects under the window (findChildren) at the reference point vs the end: no growth in number;
* no warning dialog, no worker thread left running after close.
This is a script, not a test: it takes minutes.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from soak_engine import soak_text  # noqa: E402  (same text as the engine soak)
from tests.soak.memory import rss_bytes  # noqa: E402

REFERENCE_ITERATION = 100_000
MAX_GROWTH = 0.10
MAX_REDRAW_MS = 30.0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--iterations", type=int, default=1_000_000)
    p.add_argument("--minutes", type=float, default=None)
    p.add_argument("--hidden-size", type=int, default=16)
    args = p.parse_args(argv)

    from PySide6.QtCore import QObject, QSettings
    from PySide6.QtWidgets import QApplication, QMessageBox

    import core
    from charrnn_gui.main_window import MainWindow
    from charrnn_gui.threads import running_threads

    app = QApplication.instance() or QApplication(sys.argv[:1])
    warnings = []
    for kind in ("warning", "critical", "information"):
        setattr(QMessageBox, kind, staticmethod(lambda parent, title, text, *a, _k=kind, **k: (
            warnings.append(f"{_k}: {title}: {text}"), QMessageBox.StandardButton.Ok)[1]))
    QMessageBox.question = staticmethod(lambda *a, **k: QMessageBox.StandardButton.Discard)

    folder = tempfile.mkdtemp(prefix="charrnn-soak-gui-")
    corpus_path = os.path.join(folder, "soak.txt")
    with open(corpus_path, "w", encoding="utf-8") as f:
        f.write(soak_text())
    settings = QSettings(os.path.join(folder, "settings.ini"), QSettings.Format.IniFormat)
    w = MainWindow(restore_last_corpus=False, settings=settings)
    w.show()
    w.open_corpus_path(corpus_path)
    while w.session.is_loading:
        app.processEvents()
        time.sleep(0.01)
    cfg = core.PRESETS["min-char-rnn"].replace(hidden_size=args.hidden_size, seq_length=25, sample_every=100,
                                               sample_length=200)
    w.settings_panel.show_config(cfg, "min-char-rnn")

    budget = None if args.minutes is None else args.minutes * 60.0
    state = {"reference": None, "done": False}
    start = time.perf_counter()

    def objects():
        """QObjects under the window, as a count per class (len() is the total)."""
        from collections import Counter

        return Counter(type(o).__name__ + (f"#{o.objectName()}" if o.objectName() else "")
                       for o in w.findChildren(QObject))

    def total_rss() -> int:
        """The window's resident memory plus its engine process's (training runs there)."""
        client = w.session.client
        if client is None or client.pid is None:
            return rss_bytes()
        try:
            with open(f"/proc/{client.pid}/statm") as f:
                return rss_bytes() + int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            return rss_bytes()

    def poll():
        i = w.session.iteration if w.session.has_model else 0
        now = time.perf_counter() - start
        if now - state.get("last", -1.0) < 0.2:
            return
        state["last"] = now
        if state["reference"] is None and (i >= REFERENCE_ITERATION or (budget is not None and now >= 0.1 * budget)):
            state["reference"] = (i, total_rss(), objects())
        if i >= args.iterations or (budget is not None and now >= budget) or warnings:
            state["done"] = True

    # Drive the event loop by hand (app.exec() + quit() would emit aboutToQuit, which shuts the window down).
    w.start()
    while not state["done"]:
        app.processEvents()
        poll()
        time.sleep(0.01)
    elapsed = time.perf_counter() - start
    w.pause()  # delivers every row up to the pause
    deadline = time.perf_counter() + 10
    while len(w.loss_panel.history) < w.session.iteration and time.perf_counter() < deadline:
        app.processEvents()  # deliver the progress batches still queued
        time.sleep(0.01)
    w.refresh_now()
    done = w.session.iteration
    rss_end, objects_end = total_rss(), objects()
    reference = state["reference"] or (done, rss_end, objects_end)

    # Redraw cost with the whole history on the plot: the timer slot with fresh rows, then a real paint.
    panel = w.loss_panel
    slot_ms, paint_ms = [], []
    for _ in range(20):
        panel._dirty = True  # as after a progress batch
        t0 = time.perf_counter()
        panel.refresh()
        t1 = time.perf_counter()
        panel.plot.grab()  # a full paint of the plot into a pixmap (offscreen windows skip on-screen repaints)
        t2 = time.perf_counter()
        slot_ms.append((t1 - t0) * 1000)
        paint_ms.append((t2 - t1) * 1000)
    slot_ms.sort()
    paint_ms.sort()
    redraw = [a + b for a, b in zip(slot_ms, paint_ms)]
    redraw_median = sorted(redraw)[len(redraw) // 2]

    growth = (rss_end - reference[1]) / reference[1]
    problems = []
    if growth > MAX_GROWTH:
        problems.append(f"RSS grew {growth:+.1%} (limit {MAX_GROWTH:.0%})")
    if redraw_median > MAX_REDRAW_MS:
        problems.append(f"redraw {redraw_median:.1f} ms (limit {MAX_REDRAW_MS:.0f} ms)")
    n_ref, n_end = sum(reference[2].values()), sum(objects_end.values())
    if n_end > n_ref:
        problems.append(f"QObjects grew {n_ref} -> {n_end} (+{dict(objects_end - reference[2])})")
    problems += warnings
    history_rows = len(panel.history)
    w.close()
    left = [t.objectName() for t in running_threads()]
    if left:
        problems.append(f"threads left running: {left}")
    mb = 1 / (1 << 20)
    print(f"soak_gui: {'OK' if not problems else 'FAIL'} iterations={done:,} elapsed={elapsed:.0f}s "
          f"it/s={done / elapsed:,.0f} history_rows={history_rows:,} "
          f"rss@{reference[0]:,}={reference[1] * mb:.1f}MB rss@{done:,}={rss_end * mb:.1f}MB growth={growth:+.2%} "
          f"({(rss_end - reference[1]) / max(1, done - reference[0]):.0f} B/iteration) "
          f"redraw_ms(median)={redraw_median:.1f} [slot {slot_ms[10]:.1f} + paint {paint_ms[10]:.1f}] "
          f"qobjects@{reference[0]:,}={sum(reference[2].values())} qobjects@{done:,}={sum(objects_end.values())}"
          + (f" problems: {'; '.join(problems)}" if problems else ""), flush=True)
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
