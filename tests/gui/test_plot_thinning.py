"""The loss plot draws a long run as a bounded min/max envelope, keeps full detail when zoomed, and moves its
x range in round steps; none of it changes what the curves show."""

from __future__ import annotations

import numpy as np
import pytest

from charrnn_gui.decimate import bucket_size, envelope, every_nth, round_out
from charrnn_gui.history import Progress
from charrnn_gui.lossplot import DRAWN_BUCKETS, LossPlotPanel


def progress(start, n, seed=0):
    rng = np.random.default_rng(seed)
    its = np.arange(start + 1, start + n + 1, dtype=np.int64)
    loss = 4.0 * np.exp(-its / 5000) + 1.5 + 0.3 * rng.standard_normal(n)
    smooth = 25 * (4.0 * np.exp(-its / 8000) + 1.6)
    empty = np.empty(0)
    return Progress(its, loss, smooth, empty.astype(np.int64), empty, int(its[-1]), 0.1, int(its[-1]) * 25, 0.1,
                    3000.0, 1.0)


def test_envelope_keeps_every_buckets_min_and_max_and_the_newest_points():
    rng = np.random.default_rng(1)
    x = np.arange(1, 100_001, dtype=np.int64)
    y = rng.standard_normal(100_000).astype(np.float32)
    ex, ey = envelope(x, y, 1024)
    s = bucket_size(len(y), 1024)
    m = (len(y) - 1) // s
    assert s == 128 and len(ex) == 2 * m + (len(y) - m * s) <= 2 * 1024 + s
    body = y[:m * s].reshape(m, s)
    np.testing.assert_array_equal(ey[0:2 * m:2], body.min(axis=1))
    np.testing.assert_array_equal(ey[1:2 * m:2], body.max(axis=1))
    np.testing.assert_array_equal(ex[0:2 * m:2], x[0:m * s:s])
    np.testing.assert_array_equal(ex[2 * m:], x[m * s:])  # the newest points, as they are
    assert ey.min() == y.min() and ey.max() == y.max() and ex[-1] == x[-1] and ey[-1] == y[-1]
    assert np.all(np.diff(ex) >= 0)


def test_envelope_and_every_nth_leave_short_curves_alone():
    x, y = np.arange(3000), np.arange(3000.0)
    assert envelope(x, y, 2048)[0] is x and every_nth(x, y, 4096)[1] is y


def test_every_nth_keeps_the_first_and_last_point():
    x = np.arange(10_000)
    y = np.sqrt(x + 1.0)
    tx, ty = every_nth(x, y, 1000)
    assert tx[0] == 0 and tx[-1] == 9999 and ty[-1] == y[-1] and len(tx) <= 1001
    np.testing.assert_array_equal(ty, y[tx])


@pytest.mark.parametrize("lo, hi, out", [(1, 10, (1, 10)), (1, 101, (0, 110)), (1, 23_456, (0, 25_000)),
                                         (1, 25_001, (0, 30_000)), (38.2, 151.7, (20, 160)), (1.62, 1.63, (1.62, 1.63)),
                                         (5, 5, (5, 5))])
def test_round_out_widens_a_range_to_round_steps_of_about_a_tenth(lo, hi, out):
    assert round_out(lo, hi) == pytest.approx(out)


def test_whole_run_is_drawn_thinned_and_a_zoom_draws_every_point(qtbot):
    panel = LossPlotPanel()
    qtbot.addWidget(panel)
    panel.resize(900, 420)
    panel.show()
    for start in range(0, 58_000, 5800):
        panel.append(progress(start, 5800, seed=start))
    panel.refresh()
    raw = panel._raw.view
    x, y = panel.raw_curve.getOriginalDataset()
    assert len(x) <= 2 * DRAWN_BUCKETS + bucket_size(len(raw), DRAWN_BUCKETS)
    assert y.min() == raw.min() and y.max() == raw.max() and x[-1] == 58_000 and y[-1] == raw[-1]
    sx, sy = panel.smooth_curve.getOriginalDataset()
    assert len(sx) <= DRAWN_BUCKETS + 1 and sy[-1] == panel._smooth.view[-1]
    ex, _ = panel.ema_curve.getOriginalDataset()
    assert len(ex) == len(x)
    vb = panel.plot.getPlotItem().getViewBox()
    vb.prepareForPaint()
    (x0, x1), (y0, y1) = vb.viewRange()
    _, _, lo, hi = panel.auto_range_bounds()  # the loss after its first plunge (test_loss_status)
    assert x0 <= 1 and x1 >= 58_000 and y0 <= lo and y1 >= hi
    panel.append(progress(58_000, 300, seed=99))  # more of the same, not past the next round step (60,000)
    panel.refresh()
    vb.prepareForPaint()
    assert vb.viewRange() == [[x0, x1], [y0, y1]]  # the range, and with it the axes, did not move

    vb.setXRange(20_000, 21_000)  # as a mouse zoom does: the x auto-range goes off
    qtbot.waitUntil(lambda: len(panel.raw_curve.getOriginalDataset()[0]) == len(raw) + 300, timeout=2000)
    np.testing.assert_array_equal(panel.ema_curve.getOriginalDataset()[1], panel._ema.values.view)
    marker_x, _ = panel.headroom.getOriginalDataset()
    assert list(marker_x) == [1, 58_300]  # zoomed: the marker is no longer rounded out

    vb.enableAutoRange()  # "fit" again
    qtbot.waitUntil(lambda: len(panel.raw_curve.getOriginalDataset()[0]) < 5000, timeout=2000)


def test_plot_timer_skips_a_hidden_plot_and_catches_up_when_shown(qtbot):
    panel = LossPlotPanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.append(progress(0, 500))
    panel.hide()
    panel._on_timer()
    assert panel.raw_curve.getOriginalDataset()[0] is None  # nothing drawn while hidden
    panel.show()
    panel._on_timer()
    assert len(panel.raw_curve.getOriginalDataset()[0]) == 500


def test_log_scale_keeps_the_whole_run_in_view(qtbot):
    panel = LossPlotPanel()
    qtbot.addWidget(panel)
    panel.resize(900, 420)
    panel.show()
    panel.append(progress(0, 20_000))
    panel.refresh()
    panel.set_log_y(True)
    vb = panel.plot.getPlotItem().getViewBox()
    vb.prepareForPaint()
    (x0, x1), (y0, y1) = vb.viewRange()
    _, _, lo, hi = panel.auto_range_bounds()  # the loss after its first plunge (test_loss_status)
    assert x0 <= 1 and x1 >= 20_000
    assert y0 <= np.log10(lo) and y1 >= np.log10(hi) and y1 - y0 < 2  # log10 units, not data units
    _, marker_y = panel.headroom.getOriginalDataset()
    assert marker_y.min() > 0  # data values, which the log scale maps
