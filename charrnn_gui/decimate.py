"""Thinning a long curve for drawing: a bounded number of points that keeps its look (min/max envelope), and
ranges rounded out to round steps.

A run at the min-char-rnn preset adds 3,000+ loss points a second; redrawing all of them five times a
second made the plot the GUI thread's biggest cost (pyqtgraph's own downsampling recomputes over every
point at each setData). Here the points are cut into buckets whose size is a power of two that only
changes when the curve doubles, so buckets stay put between refreshes and only the tail moves.
"""

from __future__ import annotations

import math

import numpy as np


def bucket_size(n: int, buckets: int) -> int:
    """The smallest power of two s with ceil(n / s) <= buckets (1 when n fits already)."""
    s = 1
    while -(-n // s) > buckets:
        s *= 2
    return s


def envelope(x: np.ndarray, y: np.ndarray, buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) to draw instead of a noisy curve of n points: each full bucket of s points as its minimum then
    its maximum at the bucket's first x (pyqtgraph's 'peak' look), then the newest 1 to s points as they are.

    At most 2 * buckets + s points; NaNs are skipped within a bucket. Returns the inputs when n fits.
    """
    n = len(y)
    s = bucket_size(n, buckets)
    if s <= 2:  # pairs would not shrink it
        return x, y
    m = (n - 1) // s  # full buckets before the tail; the tail (1 to s points, the newest) is drawn as it is
    body = y[:m * s].reshape(m, s)  # (m, s)
    rest = n - m * s
    out_x = np.empty(2 * m + rest, dtype=x.dtype)
    out_y = np.empty(2 * m + rest, dtype=y.dtype)
    np.fmin.reduce(body, axis=1, out=out_y[0:2 * m:2])
    np.fmax.reduce(body, axis=1, out=out_y[1:2 * m:2])
    starts = x[0:m * s:s]  # (m,)
    out_x[0:2 * m:2] = starts
    out_x[1:2 * m:2] = starts
    out_x[2 * m:] = x[m * s:]
    out_y[2 * m:] = y[m * s:]
    return out_x, out_y


def every_nth(x: np.ndarray, y: np.ndarray, buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of a smooth curve thinned to the first point of each bucket, and always its last point."""
    n = len(y)
    s = bucket_size(n, buckets)
    if s == 1:
        return x, y
    last = (n - 1) % s != 0  # the last point is not a bucket's first: add it
    return (np.concatenate([x[::s], x[-1:]]) if last else x[::s],
            np.concatenate([y[::s], y[-1:]]) if last else y[::s])


def round_out(lo: float, hi: float, parts: int = 10) -> tuple[float, float]:
    """[lo, hi] widened to multiples of a round step (1, 2 or 5 times a power of ten) of about 1/parts of the
    span, so that a range following growing data changes only when the data cross a step, not at every point."""
    span = hi - lo
    if not (span > 0 and math.isfinite(span)):
        return lo, hi
    power = 10.0 ** math.floor(math.log10(span / parts))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= span / parts)
    return math.floor(lo / step) * step, math.ceil(hi / step) * step
