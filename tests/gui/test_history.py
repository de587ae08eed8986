"""Loss history arrays, the debiased moving average and the CSV export."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

from charrnn_gui.history import DebiasedEMA, GrowingArray, LossHistory, Progress, debias, ema_scan


def naive_ema(x, w, start=0.0):
    out, y = [], start
    for v in x:
        y = w * y + (1 - w) * v
        out.append(y)
    return np.array(out)


def test_growing_array_doubles_its_buffer_instead_of_growing_by_one():
    a = GrowingArray(np.float64, capacity=4)
    capacities = set()
    for i in range(1000):
        a.append(i)
        capacities.add(a.capacity)
    assert sorted(capacities) == [4, 8, 16, 32, 64, 128, 256, 512, 1024]
    a.extend(np.arange(5000))
    assert len(a) == 6000 and a.capacity == 8192
    assert a.view[999] == 999 and a.view[-1] == 4999


@pytest.mark.parametrize("w", [0.0, 0.3, 0.9, 0.99, 0.999])
def test_vectorised_ema_matches_a_plain_loop(w):
    x = np.random.default_rng(0).normal(3.0, 1.0, 3001)
    np.testing.assert_allclose(ema_scan(x, w), naive_ema(x, w), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ema_scan(x, w, 2.5), naive_ema(x, w, 2.5), rtol=1e-10, atol=1e-12)


def test_debiasing_starts_at_the_first_value_like_tensorboard():
    x = np.full(10, 4.0)
    np.testing.assert_allclose(debias(ema_scan(x, 0.999), 0.999), x)


def test_incremental_ema_equals_a_full_recompute():
    x = np.random.default_rng(1).normal(size=2000)
    inc = DebiasedEMA(0.95)
    for chunk in np.array_split(x, 37):
        inc.extend(chunk)
    full = DebiasedEMA(0.95)
    full.extend(x)
    np.testing.assert_allclose(inc.values.view, full.values.view, rtol=1e-10)
    t = np.arange(1, 2001)
    np.testing.assert_allclose(full.values.view, naive_ema(x, 0.95) / (1 - 0.95 ** t), rtol=1e-6)  # stored as float32


def _progress(its, val=()):
    its = np.asarray(its, dtype=np.int64)
    return Progress(its, its * 0.01 + 1.0, its * 0.5 + 30.0, np.array([i for i, _ in val], dtype=np.int64),
                    np.array([v for _, v in val]), int(its[-1]), 0.1, 100, 0.1, 10.0, 1.0)


def test_history_round_trips_through_checkpoint_extras_and_can_be_cut_at_an_iteration():
    h = LossHistory(seq_length=25)
    h.extend(_progress(range(1, 101), [(50, 2.0), (100, 1.8)]))
    back = LossHistory.from_extras(h.to_extras(), 25)
    assert np.array_equal(back.iterations.view, h.iterations.view)
    assert np.array_equal(back.loss.view, h.loss.view) and np.array_equal(back.smooth.view, h.smooth.view)
    assert list(back.val_iterations.view) == [50, 100]
    cut = LossHistory.from_extras(h.to_extras(), 25, up_to=60)
    assert len(cut) == 60
    assert len(LossHistory.from_extras({}, 25)) == 0  # an old checkpoint without curves


def test_csv_export_has_one_row_per_iteration_with_units_and_validation(tmp_path):
    h = LossHistory(seq_length=10)
    h.extend(_progress(range(1, 4), [(2, 1.5)]))
    path = tmp_path / "loss.csv"
    assert h.write_csv(path) == 3
    rows = list(csv.DictReader(open(path, encoding="utf-8")))
    assert [r["iteration"] for r in rows] == ["1", "2", "3"]
    assert float(rows[0]["loss"]) == pytest.approx(10 * 1.01)
    assert float(rows[0]["bits_per_char"]) == pytest.approx(1.01 / math.log(2), rel=1e-5)
    assert [r["val_bits_per_char"] for r in rows] == ["", "1.5", ""]


def _feed_one_by_one(h, its):
    class Snap:
        diverged = None
        val_bpc = None

    for i in its:
        s = Snap()
        s.iteration, s.loss_per_char, s.smooth_loss = int(i), i * 0.001, i * 0.01
        h.append_snapshot(s)


def test_a_long_history_is_thinned_to_a_bounded_size_whatever_way_it_arrives():
    from charrnn_gui.history import stride_for

    n = 5000
    one = LossHistory(25, max_points=64)
    _feed_one_by_one(one, range(1, n + 1))
    batched = LossHistory(25, max_points=64)
    rng = np.random.default_rng(0)
    start = 0
    while start < n:
        k = int(rng.integers(1, 700))
        batched.extend(_progress(range(start + 1, min(n, start + k) + 1)))
        start += k
    for h in (one, batched):
        assert len(h) < 64 and h.stride == stride_for(n, 64) == 128
        assert np.array_equal(h.iterations.view, np.arange(128, n + 1, 128))
        np.testing.assert_allclose(h.loss.view, h.iterations.view * 0.001 if h is one else h.iterations.view * 0.01 + 1.0,
                                   rtol=1e-6)
    assert one.generation > 0


def test_a_checkpointed_history_comes_back_thinned_like_a_run_of_that_length():
    full = LossHistory(25, max_points=1 << 30)  # as an older version saved it: every iteration
    full.extend(_progress(range(1, 3001)))
    back = LossHistory.from_extras(full.to_extras(), 25, up_to=2500)
    assert back.stride == 1 and len(back) == 2500  # short runs keep every iteration
    small = LossHistory.from_extras(full.to_extras(), 25, up_to=2500, max_points=64)
    assert small.stride == 64 and np.array_equal(small.iterations.view, np.arange(64, 2501, 64))
