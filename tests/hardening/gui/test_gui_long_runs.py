"""What a night of training does to the window: the loss history must not make memory or redraw time grow
without bound. Fed with synthetic progress batches (no training needed), as the worker delivers them.

tests/soak/soak_gui.py measures the same on a real million-iteration run.
"""

import time
import tracemalloc

import numpy as np
import pytest

from charrnn_gui.history import LossHistory, Progress
from charrnn_gui.lossplot import LossPlotPanel

BATCH = 100_000


def feed(panel, history, start, stop, rng):
    """Progress batches for iterations start+1..stop into the panel (and the worker-side history)."""
    for s in range(start, stop, BATCH):
        n = min(BATCH, stop - s)
        p = Progress(np.arange(s + 1, s + n + 1, dtype=np.int64), 1.5 + rng.random(n), np.full(n, 40.0),
                     np.empty(0, np.int64), np.empty(0), s + n, 0.0, 0, 0.1, 0.0, 0.0)
        if history is not None:
            history.extend(p)
        panel.append(p)
    panel.refresh()


def slot_ms(panel, repeats=7):
    """Median time of the plot's timer slot after a new batch arrived."""
    times = []
    for _ in range(repeats):
        panel._dirty = True  # as after a progress batch
        t0 = time.perf_counter()
        panel.refresh()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2] * 1000


def test_a_million_iterations_of_loss_history_hold_bounded_memory(qtbot):
    panel = LossPlotPanel()
    qtbot.addWidget(panel)
    history = LossHistory(25)  # the worker's copy, saved into checkpoints
    rng = np.random.default_rng(0)
    feed(panel, history, 0, 10_000, rng)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        feed(panel, history, 10_000, 1_010_000, rng)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    print(f"loss history: {held / 1e6:.0f} bytes per iteration")
    assert held < 16 * (1 << 20), f"{held / (1 << 20):.0f} MB held for a million iterations"


@pytest.mark.slow
def test_the_loss_plot_refresh_does_not_slow_down_as_the_history_grows(qtbot):
    panel = LossPlotPanel()
    qtbot.addWidget(panel)
    panel.resize(800, 500)
    rng = np.random.default_rng(0)
    feed(panel, None, 0, 300_000, rng)
    early = slot_ms(panel)
    feed(panel, None, 300_000, 3_000_000, rng)
    late = slot_ms(panel)
    print(f"loss plot refresh: {early:.1f} ms at 300k iterations, {late:.1f} ms at 3M")
    assert late < 3 * early + 2
