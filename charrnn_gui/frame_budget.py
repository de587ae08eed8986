"""A frame budget: how much to stretch the GUI's redraw intervals so that the GUI thread leaves the GIL to training.

Every bit of Python the GUI thread runs (plot refreshes and paints, the heatmap, the samples view) holds the
GIL and so stops the training thread. While training, FrameBudget measures the GUI thread's own CPU time per
second of wall time over windows of WINDOW seconds; above BUDGET it stretches the redraw intervals by GROW
(up to MAX_STRETCH), below BUDGET * SHRINK_BELOW it shrinks them back by the same step (never below 1, the
intervals the widgets are built with). The caller multiplies its base intervals by `stretch` and bounds them.
No Qt here: the clocks are injected, so tests can drive it with a fake clock and a fake cost.
"""

from __future__ import annotations

import time

BUDGET = 0.04  # the GUI thread's CPU seconds per second of training it may take before redraws slow down (each
# costs training ~1.5 of them: the worker waits for the GIL, then for its caches)
SHRINK_BELOW = 0.6  # shrink back once the share is below this fraction of the budget (hysteresis)
WINDOW = 0.5  # seconds of wall time per measurement (from 1 to MAX_STRETCH in 2 s)
GROW = 1.5  # factor per window above the budget (and its inverse per window well below it)
MAX_STRETCH = 5.0  # at most this many times the base intervals (the loss plot: 200 ms -> 1 s)
STALE = 4.0  # a window this many times longer than asked for measured a suspension (a stopped process, a sleeping
# laptop, a stalled machine), not the GUI: it is dropped and a new one begins


class FrameBudget:
    """Measures the calling thread's CPU share and keeps a redraw stretch factor in [1, MAX_STRETCH]."""

    def __init__(self, budget: float = BUDGET, window: float = WINDOW, grow: float = GROW,
                 max_stretch: float = MAX_STRETCH, clock=time.perf_counter, cpu=time.thread_time):
        self.budget = budget
        self.window = window
        self.grow = grow
        self.max_stretch = max_stretch
        self._clock = clock  # wall seconds
        self._cpu = cpu  # this thread's CPU seconds (call tick() from the thread measured)
        self.stretch = 1.0
        self.share: float | None = None  # the last window's CPU share (None: none measured yet)
        self._start: tuple[float, float] | None = None  # (wall, cpu) at the start of the current window

    def reset(self) -> bool:
        """Back to the base intervals, measuring afresh (e.g. when training pauses: redraws are cheap then); True
        when the stretch changed."""
        old = self.stretch
        self.stretch = 1.0
        self.share = None
        self._start = None
        return old != 1.0

    def tick(self) -> bool:
        """Call often (e.g. from a 100 ms timer) while training; True when the stretch changed."""
        now, cpu = self._clock(), self._cpu()
        if self._start is None:
            self._start = (now, cpu)
            return False
        wall = now - self._start[0]
        if wall < self.window:
            return False
        start_cpu, self._start = self._start[1], (now, cpu)
        if wall > STALE * self.window:
            return False
        self.share = (cpu - start_cpu) / wall
        old = self.stretch
        if self.share > self.budget:
            self.stretch = min(self.max_stretch, self.stretch * self.grow)
        elif self.share < self.budget * SHRINK_BELOW:
            self.stretch = max(1.0, self.stretch / self.grow)
        return self.stretch != old

    def interval(self, base: float, longest: float) -> float:
        """base stretched, at most longest (and never below base)."""
        return max(base, min(longest, base * self.stretch))
