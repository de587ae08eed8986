"""Runs in the app: every training is written as a run, listed, overlaid, compared, and followed live."""

from __future__ import annotations

import os

import numpy as np
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QAbstractItemView, QFileDialog

import core
from charrnn_gui.session import PAUSED
from core.runs import read_run



def use_settings(window, **overrides):
    """The GUI tests' small settings (H=16, T=16, a sample every 20 iterations) with some changed."""
    small = dict(hidden_size=16, seq_length=16, sample_every=20, sample_length=40)
    window.settings_panel.show_config(core.PRESETS["min-char-rnn"].replace(**{**small, **overrides}), "min-char-rnn")


def train_one(window, qtbot, iterations: int, **overrides) -> str:
    """Start a fresh model with the given settings, train about `iterations`, Reset; return the run's folder."""
    use_settings(window, **overrides)
    window.start()
    qtbot.waitUntil(lambda: window.session.run_path is not None and window.session.iteration >= iterations,
                    timeout=20_000)
    window.pause()
    path = window.session.run_path
    window.reset_model()
    qtbot.waitUntil(lambda: window.runs.current is None, timeout=5000)
    return path


def row_text(window, path: str) -> str:
    name = os.path.basename(path)
    return next(t for t in window.runs_panel.row_texts() if t.split("\t")[0].split("  (")[0] == name)


def row_iteration(window, path: str) -> int | None:
    row = window.runs.rows.get(path)
    return None if row is None else row.iteration


def test_the_runs_panel_is_an_item_view_with_its_action(make_window):
    window = make_window()
    view = window.findChild(QAbstractItemView, "runsPanel")
    assert view is not None and view.model() is window.runs_panel.model
    action = window.findChild(QAction, "openRunsFolderAction")
    assert action is not None and action in window.menuBar().actions()[0].menu().actions()


def test_three_trainings_become_three_runs_to_overlay_and_compare(make_window, qtbot, dialogs, small_corpus_file):
    window = make_window()
    window.open_corpus_path(str(small_corpus_file))
    qtbot.waitUntil(lambda: not window.session.is_loading, timeout=10_000)
    dialogs.answer = None  # Yes: reset without saving a checkpoint (the run keeps everything)
    paths = [train_one(window, qtbot, 120, hidden_size=h, seed=h) for h in (8, 16, 24)]
    assert len(set(paths)) == 3 and all(os.path.dirname(p) == window.session.runs_folder for p in paths)

    # The folder listing finds them, each a row with its folder name and latest iteration.
    qtbot.waitUntil(lambda: all(row_iteration(window, p) and window.runs.rows[p].status == "finished"
                                for p in paths), timeout=10_000)
    for p in paths:
        text = row_text(window, p)
        assert os.path.basename(p) in text and str(read_run(p).latest_iteration) in text.split("\t")
        assert "finished" in text and "rnn · min-char-rnn" in text

    # Tick them: one overlay curve (with a legend entry) each, in the plot's units, same smoothing.
    for p in paths:
        window.runs_panel.set_checked(p)
    qtbot.waitUntil(lambda: all(window.runs.rows[p].history is not None and len(window.runs.rows[p].history.curves)
                                for p in paths), timeout=10_000)
    panel = window.loss_panel
    qtbot.waitUntil(lambda: set(panel.overlays) == set(paths), timeout=5000)
    panel.refresh()
    assert len(panel.overlay_legend.items) == 3 and panel.overlay_legend.isVisible()
    assert not panel.raw_curve.isVisible()  # the overlay replaces this model's curves
    assert not panel.headroom.isVisible()  # and the auto-range spans the overlaid curves only
    for p in paths:
        x, y = panel.overlays[p].item.getOriginalDataset()
        run = read_run(p)
        assert list(x) == list(run.curves.iteration) and np.isfinite(y).all()
    # y is in the plot's units: bits per character is the lesson's loss / T / ln 2.
    panel.set_units("bits")
    panel.refresh()
    _, bits = panel.overlays[paths[0]].item.getOriginalDataset()
    panel.set_units("lesson")
    panel.refresh()
    _, lesson = panel.overlays[paths[0]].item.getOriginalDataset()
    assert np.allclose(lesson, bits * 16 * np.log(2.0), rtol=1e-5)
    # By characters seen and by training time.
    window.runs_panel.set_x_axis("chars")
    x, _ = panel.overlays[paths[1]].item.getOriginalDataset()
    assert list(x) == [16.0 * i for i in read_run(paths[1]).curves.iteration]
    window.runs_panel.set_x_axis("time")
    x, _ = panel.overlays[paths[1]].item.getOriginalDataset()
    assert np.all(np.diff(x) >= 0) and x[-1] > 0
    assert panel.plot.getPlotItem().getAxis("bottom").labelText == "training time (s)"

    # Compare samples: each run's sample nearest the chosen iteration, side by side.
    compare = window.runs_panel.compare
    compare.set_iteration(45)
    texts = compare.texts()
    assert set(texts) == set(paths)
    for p in paths:
        nearest = read_run(p).samples.nearest(45)
        assert nearest.iteration == 40 and texts[p] == nearest.text

    # Unchecking all brings this model's curves back.
    window.runs_panel.uncheck_all()
    assert not panel.overlays and panel.raw_curve.isVisible() and not panel.overlay_legend.isVisible()


def test_a_new_window_finds_the_runs_of_a_closed_one(make_window, qtbot, dialogs, small_corpus_file):
    first = make_window()
    first.open_corpus_path(str(small_corpus_file))
    qtbot.waitUntil(lambda: not first.session.is_loading, timeout=10_000)
    first.start()
    qtbot.waitUntil(lambda: first.session.run_path is not None and first.session.iteration >= 50, timeout=15_000)
    path = first.session.run_path
    dialogs.answer = None  # Discard: closing without a checkpoint loses nothing, the run has it all
    first.close()
    run = read_run(path)
    assert run.status == "finished" and run.checkpoint() is not None

    second = make_window()
    qtbot.waitUntil(lambda: row_iteration(second, path) == run.latest_iteration, timeout=10_000)
    assert "finished" in row_text(second, path)

    # Continue it from its latest checkpoint: the text is reopened, training appends to the same run.
    second.runs_panel.openCheckpointRequested.emit(os.path.join(path, "checkpoints", "latest.npz"), False)
    qtbot.waitUntil(lambda: second.session.has_model and not second.session.is_loading, timeout=10_000)
    resumed_at = second.session.iteration
    assert resumed_at == run.latest_iteration and second.session.corpus.name == "small.txt"
    second.start()
    qtbot.waitUntil(lambda: second.session.run_path == path and second.session.iteration >= resumed_at + 30,
                    timeout=15_000)
    second.pause()
    second.reset_model()
    again = read_run(path)
    assert again.curves.resumes == [resumed_at] and again.latest_iteration >= resumed_at + 30
    its = list(again.curves.iteration)  # thinned when training is fast (session.LOG_LINES_PER_SECOND)
    assert its == sorted(set(its)) and its[-1] == again.latest_iteration and resumed_at in its


def test_look_inside_a_runs_model_and_rename_and_delete_it(make_window, qtbot, dialogs, small_corpus_file):
    window = make_window()
    window.open_corpus_path(str(small_corpus_file))
    qtbot.waitUntil(lambda: not window.session.is_loading, timeout=10_000)
    dialogs.answer = None
    path = train_one(window, qtbot, 40)
    qtbot.waitUntil(lambda: path in window.runs.rows and window.runs.rows[path].status == "finished", timeout=10_000)

    window.runs_panel.openCheckpointRequested.emit(os.path.join(path, "checkpoints", "latest.npz"), True)
    qtbot.waitUntil(lambda: window.session.has_model and window.session.client.info is not None, timeout=10_000)
    # (the engine has opened the checkpoint: checkpointOpened came with it, and the window looked inside)
    assert window.tabs.currentWidget() is window.inspector and window.inspector.result is not None

    renamed = os.path.join(os.path.dirname(path), "my best run")
    assert window.runs_panel.rename_run(path, "my best run")
    qtbot.waitUntil(lambda: renamed in window.runs.rows and path not in window.runs.rows, timeout=10_000)
    assert not window.runs_panel.rename_run(renamed, "a/b")  # refused with a message
    assert "no slashes" in dialogs.texts("warning")[-1]

    dialogs.answer = core_cancel()
    assert not window.runs_panel.delete_run(renamed) and os.path.isdir(renamed)
    dialogs.answer = None  # Yes
    assert window.runs_panel.delete_run(renamed) and not os.path.exists(renamed)
    assert dialogs.questions[-1][0] == "Delete run?"
    qtbot.waitUntil(lambda: renamed not in window.runs.rows, timeout=5000)


def core_cancel():
    from PySide6.QtWidgets import QMessageBox

    return QMessageBox.StandardButton.Cancel


def test_the_current_run_is_listed_live_and_cannot_be_deleted(make_window, qtbot, dialogs, small_corpus_file):
    window = make_window()
    window.open_corpus_path(str(small_corpus_file))
    qtbot.waitUntil(lambda: not window.session.is_loading, timeout=10_000)
    window.start()
    qtbot.waitUntil(lambda: window.runs.current is not None, timeout=10_000)
    path = window.runs.current
    qtbot.waitUntil(lambda: (row_iteration(window, path) or 0) >= 30, timeout=10_000)
    assert "(this window)" in row_text(window, path) and "\tlive\t" in row_text(window, path)
    window.runs_panel.set_checked(path)
    assert window.runs.rows[path].history is window.session.run  # the session's own curves, not a re-read
    assert path in window.loss_panel.overlays
    assert not window.runs_panel.delete_run(path) and os.path.isdir(path)
    window.pause()


def test_the_live_runs_row_is_repainted_every_few_seconds_while_training(make_window, qtbot, dialogs,
                                                                            small_corpus_file):
    from charrnn_gui import main_window

    window = make_window()
    window.open_corpus_path(str(small_corpus_file))
    qtbot.waitUntil(lambda: not window.session.is_loading, timeout=10_000)
    window.start()
    qtbot.waitUntil(lambda: (row_iteration(window, window.runs.current or "") or 0) > 0, timeout=10_000)
    path = window.runs.current
    # Each update repaints the row (~3 ms of the GUI thread); at the refresh timer's 10 a second that was a quarter
    # of the GUI thread's time while training. Each update the window makes is noted with the time it took for it
    # (its own clock); the test waits for three, however long they take here, and the row follows the run meanwhile.
    updates = []  # (the window's time of the update, the row's iteration then)

    def updated(p):
        at = window._shown_at.get("runs row")
        if p == path and at is not None and (not updates or at != updates[-1][0]):
            updates.append((at, row_iteration(window, path)))

    window.runs.rowUpdated.connect(updated)
    qtbot.waitUntil(lambda: len(updates) >= 3, timeout=60_000)
    assert np.diff([at for at, _ in updates]).min() >= main_window.RUNS_ROW_INTERVAL
    assert updates[-1][1] > updates[0][1]  # it moved between them
    window.pause()
    # at once when paused
    qtbot.waitUntil(lambda: row_iteration(window, path) == window.session.iteration, timeout=5000)


def test_sample_now_is_recorded_in_the_runs_samples_beside_the_training_ones(make_window, qtbot, dialogs,
                                                                            small_corpus_file):
    window = make_window()
    window.open_corpus_path(str(small_corpus_file))
    qtbot.waitUntil(lambda: not window.session.is_loading, timeout=10_000)
    use_settings(window)
    window.start()
    qtbot.waitUntil(lambda: window.session.run_path is not None and window.session.iteration >= 30, timeout=20_000)
    window.pause()
    qtbot.waitUntil(lambda: window.session.state == PAUSED, timeout=5000)
    path = window.session.run_path
    panel = window.samples_panel
    panel.prime_edit.setText("the ")
    panel.temperature_spin.setValue(0.5)
    window.sample_now_action.trigger()
    panel.argmax_check.setChecked(True)
    window.sample_now_action.trigger()
    made = [r for r in window.session.run.samples if r.kind == "sample now"]
    assert len(made) == 2
    dialogs.answer = None  # reset without saving a checkpoint
    window.reset_model()
    qtbot.waitUntil(lambda: window.runs.current is None, timeout=5000)
    samples = read_run(path).samples.samples
    kept = [s for s in samples if s.prime == "the "]
    assert [(s.iteration, s.text, s.temperature) for s in kept] == [(made[0].iteration, made[0].text, 0.5),
                                                                     (made[1].iteration, made[1].text, None)]
    assert len(samples) > 2 and all(s.prime == "" for s in samples if s not in kept)  # the training samples too


def test_open_runs_folder_asks_for_a_directory_and_remembers_it(make_window, qtbot, monkeypatch, tmp_path):
    folder = tmp_path / "server-runs"
    folder.mkdir()
    asked = []
    monkeypatch.setattr(QFileDialog, "getExistingDirectory",
                        staticmethod(lambda *a, **k: (asked.append(a), str(folder))[1]))
    window = make_window()
    window.findChild(QAction, "openRunsFolderAction").trigger()
    assert asked and str(folder) in window.runs.folders
    window.close()
    again = make_window()
    assert str(folder) in again.runs.folders


def test_time_axis_uses_training_time_of_each_point(make_window, qtbot):
    window = make_window()
    window.start()
    qtbot.waitUntil(lambda: window.session.iteration >= 60, timeout=15_000)
    window.pause()
    h = window.session.run.curves
    qtbot.waitUntil(lambda: h.iterations.last(0) == window.session.iteration, timeout=5000)
    t = h.elapsed.view
    assert np.isfinite(t).all() and (np.diff(t) >= 0).all()
    assert t[-1] <= window.session.elapsed + 1e-9 and t[-1] > 0


def test_the_run_is_written_by_the_engine_process_never_by_the_window(make_window, qtbot, monkeypatch):
    """Metrics, samples and checkpoints are written by the engine's process (its RunRecorder), never by the window's
    process, let alone its GUI thread: nothing in this process writes to the run, and the run has it all."""
    from core.runs import RunWriter

    writes = []
    for name in ("log_metrics", "log_sample", "save_checkpoint", "heartbeat"):
        real = getattr(RunWriter, name)

        def spy(self, *a, _real=real, _name=name, **k):
            writes.append(_name)
            return _real(self, *a, **k)
        monkeypatch.setattr(RunWriter, name, spy)
    import charrnn_gui.session as session_module

    real_save = session_module.core.save_checkpoint

    def save(trainer, path, extras=None):
        writes.append(path)
        return real_save(trainer, path, extras=extras)
    monkeypatch.setattr(session_module.core, "save_checkpoint", save)
    window = make_window()
    window.start()
    qtbot.waitUntil(lambda: window.session.iteration >= 60 and window.runs.current is not None, timeout=15_000)
    window.pause()
    path = window.runs.current
    window.reset_model()
    assert writes == []  # the window's process wrote nothing
    run = read_run(path)
    assert run.latest_iteration >= 60 and len(run.curves.iteration) and len(run.samples.samples)
    assert run.checkpoint() is not None and run.checkpoint().endswith("latest.npz")
