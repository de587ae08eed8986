"""What the status bar and the loss plot say about the loss once the lesson's smooth loss lags (the fast preset)."""

from __future__ import annotations

import math
import re

import numpy as np

LN2 = math.log(2.0)


def _train_fast(make_window, qtbot, iterations):
    window = make_window(small=False)  # the built-in Shakespeare
    qtbot.waitUntil(lambda: not window.session.is_loading and window.session.corpus is not None, timeout=60_000)
    window.settings_panel.apply_preset("fast")
    window.start()
    qtbot.waitUntil(lambda: window.session.has_model and window.session.iteration >= iterations, timeout=120_000)
    window.pause()  # every row up to the pause is delivered before it returns
    qtbot.waitUntil(lambda: len(window.loss_panel.history) == window.session.iteration, timeout=10_000)
    window.refresh_now()
    return window


def test_status_shows_the_plotted_moving_average_and_the_latest_held_out_bits(make_window, qtbot):
    window = _train_fast(make_window, qtbot, 420)
    T = window.session.model.config.seq_length
    panel = window.loss_panel
    assert panel.units == "lesson"
    _, ema = panel.ema_curve.getOriginalDataset()  # the orange curve, in the lesson's units
    average = ema[-1] / T / LN2
    held_out = panel.history.val_bpc.view[-1]
    assert list(panel.history.val_iterations.view[:2]) == [200, 400]
    text = window.loss_label.text()
    assert text == f"Loss {average:.3f} bits/char · held-out {held_out:.3f}", text
    # The misleading figure was the lesson's 0.999-smoothed loss: far above both here.
    lagging = window.session.last_progress.smooth_loss[-1] / T / LN2  # the engine's, at the last iteration
    shown = [float(v) for v in re.findall(r"\d+\.\d+", text)]
    assert lagging > max(shown) + 0.5, (lagging, shown)


def test_the_lagging_start_does_not_squash_the_loss_plots_y_range(make_window, qtbot):
    window = _train_fast(make_window, qtbot, 600)
    panel = window.loss_panel
    vb = panel.plot.getPlotItem().getViewBox()
    vb.prepareForPaint()
    (x0, x1), (y0, y1) = vb.viewRange()
    its, raw = panel.raw_curve.getOriginalDataset()
    _, ema = panel.ema_curve.getOriginalDataset()
    _, smooth = panel.smooth_curve.getOriginalDataset()
    _, val = panel.val_curve.getOriginalDataset()
    assert x0 <= its[0] and x1 >= its[-1]  # every iteration shows
    late = its >= its[0] + 0.1 * (its[-1] - its[0])
    assert y0 <= min(raw[late].min(), ema.min(), val.min()) and y1 >= max(raw[late].max(), ema[late].max(), val.max())
    # The first iterations' plunge and the lesson's smooth loss, still far up, leave the top of the view.
    assert raw[0] > y1 and smooth[-1] > y1
    top_of_late = max(raw[late].max(), ema[late].max())
    # (the view rounds out to steps of about 1/16 of the span and pads a little: decimate.round_out)
    assert y1 - y0 < 1.45 * (top_of_late - min(raw.min(), ema.min()))
    panel.log_check.setChecked(True)  # the same range, in log units
    vb.prepareForPaint()
    _, (ly0, ly1) = vb.viewRange()
    assert ly1 < np.log10(raw[0]) and ly1 >= np.log10(top_of_late)
