"""Numerical gradient checks (float64, central differences) for every backward pass."""

import numpy as np
import pytest

from core.rnn import (init_params, loss_and_grads, rnn_backward, rnn_forward, temporal_affine_backward,
                      temporal_affine_forward, temporal_softmax_loss)


def numerical_grad(f, x, eps=1e-6):
    """d f() / d x by central differences, perturbing x in place."""
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + eps
        fp = f()
        x[i] = old - eps
        fm = f()
        x[i] = old
        grad[i] = (fp - fm) / (2 * eps)
    return grad


def rel_error(a, b):
    return np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b)))


@pytest.fixture(params=[1, 3], ids=["B=1", "B=3"])
def batch(request):
    return request.param


def test_rnn_backward_matches_numerical_gradients(batch):
    rng = np.random.default_rng(0)
    T, B, H, V = 5, batch, 4, 6
    x = rng.integers(V, size=(T, B))
    h0 = rng.standard_normal((B, H))
    Wxh, Whh, bh = rng.standard_normal((H, V)) * 0.5, rng.standard_normal((H, H)) * 0.5, rng.standard_normal(H)
    dout = rng.standard_normal((T, B, H))

    def f():
        return float((rnn_forward(x, h0, Wxh, Whh, bh)[0] * dout).sum())

    h, cache = rnn_forward(x, h0, Wxh, Whh, bh)
    dh0, dWxh, dWhh, dbh = rnn_backward(dout, cache)
    for analytic, param in [(dh0, h0), (dWxh, Wxh), (dWhh, Whh), (dbh, bh)]:
        assert rel_error(analytic, numerical_grad(f, param)) < 1e-6


def test_temporal_affine_backward_matches_numerical_gradients(batch):
    rng = np.random.default_rng(1)
    T, B, H, V = 4, batch, 5, 7
    h, W, b = rng.standard_normal((T, B, H)), rng.standard_normal((V, H)), rng.standard_normal(V)
    dout = rng.standard_normal((T, B, V))

    def f():
        return float((temporal_affine_forward(h, W, b)[0] * dout).sum())

    _, cache = temporal_affine_forward(h, W, b)
    dh, dW, db = temporal_affine_backward(dout, cache)
    for analytic, param in [(dh, h), (dW, W), (db, b)]:
        assert rel_error(analytic, numerical_grad(f, param)) < 1e-6


def test_temporal_softmax_loss_gradient_matches_numerical(batch):
    rng = np.random.default_rng(2)
    T, B, V = 4, batch, 6
    scores, targets = rng.standard_normal((T, B, V)), rng.integers(V, size=(T, B))
    _, dscores = temporal_softmax_loss(scores.copy(), targets)
    num = numerical_grad(lambda: temporal_softmax_loss(scores.copy(), targets)[0], scores)
    assert rel_error(dscores, num) < 1e-6


def test_loss_and_grads_matches_numerical_gradients_for_every_parameter(batch):
    rng = np.random.default_rng(3)
    T, B, H, V = 6, batch, 5, 7
    params = init_params(V, H, seed=4, scale=0.5)
    params["bh"][:] = rng.standard_normal(H) * 0.1
    params["by"][:] = rng.standard_normal(V) * 0.1
    x, y = rng.integers(V, size=(T, B)), rng.integers(V, size=(T, B))
    h0 = rng.standard_normal((B, H)) * 0.5
    _, grads, _ = loss_and_grads(params, x, y, h0)
    assert grads.keys() == params.keys()
    for name, p in params.items():
        num = numerical_grad(lambda: loss_and_grads(params, x, y, h0)[0], p)
        assert grads[name].shape == p.shape
        assert rel_error(grads[name], num) < 1e-6, name


def test_loss_is_summed_over_time_and_averaged_over_streams():
    params = init_params(5, 3, seed=0)
    x = np.array([[0, 1], [2, 3], [4, 0]])
    y = np.array([[1, 2], [3, 4], [0, 1]])
    both, _, _ = loss_and_grads(params, x, y, np.zeros((2, 3)))
    first, _, _ = loss_and_grads(params, x[:, :1], y[:, :1], np.zeros((1, 3)))
    second, _, _ = loss_and_grads(params, x[:, 1:], y[:, 1:], np.zeros((1, 3)))
    assert both == pytest.approx((first + second) / 2, rel=1e-12)


def test_float32_forward_and_backward_keep_float32():
    params = init_params(6, 4, seed=0, dtype="float32")
    x = np.zeros((3, 2), dtype=np.intp)
    loss, grads, h = loss_and_grads(params, x, x, np.zeros((2, 4), np.float32))
    assert all(g.dtype == np.float32 for g in grads.values())
    assert h.dtype == np.float32 and np.isfinite(loss)
