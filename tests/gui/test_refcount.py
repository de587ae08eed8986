"""Regression: PySide6 6.12.0 on Python 3.11 decremented None's refcount until the process aborted."""

from __future__ import annotations

import gc
import sys

import numpy as np

from charrnn_gui.lossplot import LossPlotPanel


def test_ten_thousand_plot_updates_do_not_drain_none_refcount(qtbot):
    panel = LossPlotPanel()
    qtbot.addWidget(panel)
    panel.show()
    x = np.arange(500, dtype=np.int64)
    y = np.random.default_rng(0).random(500)
    curves = (panel.raw_curve, panel.smooth_curve, panel.ema_curve)

    def update(n):
        for i in range(n):
            curves[i % 3].setData(x, y)
            if i % 1000 == 0:
                qtbot.wait(1)  # let it paint now and then
        qtbot.wait(1)
        gc.collect()

    update(1000)  # warm up caches so that only a real leak can move the count
    before = sys.getrefcount(None)
    update(10_000)
    after = sys.getrefcount(None)
    # The broken build lost one reference per call: thousands here, then an abort on reaching zero.
    assert after >= before - 50, (before, after)
