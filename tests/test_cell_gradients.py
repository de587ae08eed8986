"""Numerical gradient checks (float64, central differences) for the LSTM, GRU and stacked-layer backward passes."""

import numpy as np
import pytest

from core.gru import gru_backward, gru_forward, gru_step_backward, gru_step_forward
from core.lstm import lstm_backward, lstm_forward, lstm_step_backward, lstm_step_forward
from core.model import (Arch, dropout_masks, init_model_params, model_backward, model_forward,
                        model_loss_and_grads)
from core.rnn import rnn_layer_backward, rnn_layer_forward, rnn_step_backward, rnn_step_forward
from tests.test_rnn_gradients import numerical_grad

T, B, D, H = 4, 3, 5, 4


def weights(rng, G, D=D):
    return rng.standard_normal((G * H, D)) * 0.5, rng.standard_normal((G * H, H)) * 0.5, rng.standard_normal(G * H)


def rel_error(a, b):
    """The largest difference relative to the largest gradient: central differences with eps 1e-6 are good
    to about 1e-10 absolute, which an element-wise relative error cannot ask of near-zero entries."""
    return np.abs(a - b).max() / max(1e-8, np.abs(a).max() + np.abs(b).max())


def check(f, pairs, tol=1e-7):
    for analytic, param in pairs:
        numeric = numerical_grad(f, param)
        assert analytic.shape == param.shape
        assert rel_error(analytic, numeric) < tol


def test_lstm_step_backward_matches_numerical_gradients():
    rng = np.random.default_rng(0)
    x, h, c = rng.standard_normal((B, D)), rng.standard_normal((B, H)), rng.standard_normal((B, H))
    Wx, Wh, b = weights(rng, 4)
    dnh, dnc = rng.standard_normal((B, H)), rng.standard_normal((B, H))

    def f():
        nh, nc, _ = lstm_step_forward(x, h, c, Wx, Wh, b)
        return float((nh * dnh).sum() + (nc * dnc).sum())

    _, _, cache = lstm_step_forward(x, h, c, Wx, Wh, b)
    dx, dh, dc, dWx, dWh, db = lstm_step_backward(dnh, dnc, cache)
    check(f, [(dx, x), (dh, h), (dc, c), (dWx, Wx), (dWh, Wh), (db, b)])


def test_lstm_backward_over_a_window_matches_numerical_gradients():
    rng = np.random.default_rng(1)
    x, h0, c0 = rng.standard_normal((T, B, D)), rng.standard_normal((B, H)), rng.standard_normal((B, H))
    Wx, Wh, b = weights(rng, 4)
    dout = rng.standard_normal((T, B, H))

    def f():
        return float((lstm_forward(x, h0, c0, Wx, Wh, b)[0] * dout).sum())

    _, _, caches = lstm_forward(x, h0, c0, Wx, Wh, b)
    dx, dh0, dc0, dWx, dWh, db = lstm_backward(dout, caches)
    check(f, [(dx, x), (dh0, h0), (dc0, c0), (dWx, Wx), (dWh, Wh), (db, b)])


def test_gru_step_backward_matches_numerical_gradients():
    rng = np.random.default_rng(2)
    x, h = rng.standard_normal((B, D)), rng.standard_normal((B, H))
    Wx, Wh, b = weights(rng, 3)
    dnh = rng.standard_normal((B, H))

    def f():
        return float((gru_step_forward(x, h, Wx, Wh, b)[0] * dnh).sum())

    _, cache = gru_step_forward(x, h, Wx, Wh, b)
    dx, dh, dWx, dWh, db = gru_step_backward(dnh, cache)
    check(f, [(dx, x), (dh, h), (dWx, Wx), (dWh, Wh), (db, b)])


def test_gru_backward_over_a_window_matches_numerical_gradients():
    rng = np.random.default_rng(3)
    x, h0 = rng.standard_normal((T, B, D)), rng.standard_normal((B, H))
    Wx, Wh, b = weights(rng, 3)
    dout = rng.standard_normal((T, B, H))

    def f():
        return float((gru_forward(x, h0, Wx, Wh, b)[0] * dout).sum())

    _, caches = gru_forward(x, h0, Wx, Wh, b)
    dx, dh0, dWx, dWh, db = gru_backward(dout, caches)
    check(f, [(dx, x), (dh0, h0), (dWx, Wx), (dWh, Wh), (db, b)])


def test_rnn_step_and_layer_backward_match_numerical_gradients():
    rng = np.random.default_rng(4)
    x, h0 = rng.standard_normal((T, B, D)), rng.standard_normal((B, H))
    Wx, Wh, b = weights(rng, 1)
    dout = rng.standard_normal((T, B, H))

    def f_step():
        return float((rnn_step_forward(x[0], h0, Wx, Wh, b)[0] * dout[0]).sum())

    _, cache = rnn_step_forward(x[0], h0, Wx, Wh, b)
    dx, dh, dWx, dWh, db = rnn_step_backward(dout[0], cache)
    check(f_step, [(dx, x[0]), (dh, h0), (dWx, Wx), (dWh, Wh), (db, b)])

    def f():
        return float((rnn_layer_forward(x, h0, Wx, Wh, b)[0] * dout).sum())

    _, caches = rnn_layer_forward(x, h0, Wx, Wh, b)
    dx, dh0, dWx, dWh, db = rnn_layer_backward(dout, caches)
    check(f, [(dx, x), (dh0, h0), (dWx, Wx), (dWh, Wh), (db, b)])


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("layers", [1, 2, 3])
def test_whole_model_window_with_fixed_dropout_matches_numerical_gradients(cell, layers):
    rng = np.random.default_rng(5)
    V = 6
    arch = Arch(cell, layers, H, V)
    params = init_model_params(arch, seed=6, scale=0.5, dtype="float64")
    for k, p in params.items():
        if p.ndim == 1:
            p += rng.standard_normal(p.shape) * 0.1
    x, y = rng.integers(V, size=(T, B)), rng.integers(V, size=(T, B))
    state0 = rng.standard_normal((arch.state_rows, B, H)) * 0.5
    masks = dropout_masks(np.random.default_rng(7), 0.3, arch, T, B, np.float64)
    assert (masks is None) == (layers == 1)
    _, grads, _ = model_loss_and_grads(params, x, y, state0, masks)
    assert grads.keys() == params.keys()
    for name, p in params.items():
        num = numerical_grad(lambda: model_loss_and_grads(params, x, y, state0, masks)[0], p)
        assert rel_error(grads[name], num) < 1e-7, name
    # The gradient on the carried state, too (training discards it; the layers must still get it right).
    scores, _, cache = model_forward(params, x, state0, masks)
    dscores = rng.standard_normal(scores.shape)
    _, dstate0 = model_backward(dscores, cache)
    num = numerical_grad(lambda: float((model_forward(params, x, state0, masks)[0] * dscores).sum()), state0)
    assert rel_error(dstate0, num) < 1e-7


def test_dropout_masks_are_zero_or_scaled_and_fixed_by_the_generator():
    arch = Arch("lstm", 3, 50, 10)
    a = dropout_masks(np.random.default_rng(1), 0.25, arch, 20, 4, np.float32)
    b = dropout_masks(np.random.default_rng(1), 0.25, arch, 20, 4, np.float32)
    assert a.shape == (2, 20, 4, 50) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert set(np.unique(a)) == {0.0, np.float32(1 / 0.75)}
    assert abs((a == 0).mean() - 0.25) < 0.02
    assert dropout_masks(np.random.default_rng(1), 0.0, arch, 20, 4, np.float32) is None
