"""The stacked model's fast path equals its readable layers, and one LSTM window equals a plain per-step oracle."""

import numpy as np
import pytest

from core.fast_model import FastModel
from core.model import Arch, dropout_masks, init_model_params, model_loss_and_grads
from tests.naive_lstm import naive_lstm_loss

T, B, H, V = 7, 3, 6, 9


def model(cell, layers, seed=1, dtype="float64"):
    arch = Arch(cell, layers, H, V)
    params = init_model_params(arch, seed, 0.5, dtype)
    rng = np.random.default_rng(seed)
    for p in params.values():
        if p.ndim == 1:
            p += rng.standard_normal(p.shape).astype(p.dtype) * 0.1
    return arch, params


def window(arch, seed=2, dtype=np.float64):
    rng = np.random.default_rng(seed)
    x, y = rng.integers(V, size=(T, B)), rng.integers(V, size=(T, B))
    state0 = (rng.standard_normal((arch.state_rows, B, H)) * 0.5).astype(dtype)
    return x, y, state0


CASES = [(c, n) for c in ("rnn", "lstm", "gru") for n in (1, 2, 3) if (c, n) != ("rnn", 1)]


@pytest.mark.parametrize("cell,layers", CASES)
@pytest.mark.parametrize("dropout", [0.0, 0.4])
def test_fast_model_equals_the_readable_layers_to_float64_round_off(cell, layers, dropout):
    arch, params = model(cell, layers)
    x, y, state0 = window(arch)
    masks = dropout_masks(np.random.default_rng(3), dropout, arch, T, B, np.float64)
    loss, grads, state = model_loss_and_grads(params, x, y, state0, masks)
    fast = FastModel(arch, T, B, "float64")
    for _ in range(2):  # a second call on the same buffers gives the same
        f_loss, f_grads, f_state = fast.loss_and_grads(params, x, y, state0, masks)
        assert f_loss == pytest.approx(loss, rel=1e-12)
        for k in params:
            scale = max(1.0, np.abs(grads[k]).max())
            assert np.abs(f_grads[k] - grads[k]).max() < 1e-12 * scale, k
        assert np.abs(f_state - state).max() < 1e-12


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_fast_model_in_float32_stays_float32_and_close(cell):
    arch, params = model(cell, 2)
    x, y, state0 = window(arch)
    loss, grads, _ = model_loss_and_grads(params, x, y, state0)
    p32 = {k: v.astype(np.float32) for k, v in params.items()}
    f_loss, f_grads, f_state = FastModel(arch, T, B, "float32").loss_and_grads(p32, x, y, state0.astype(np.float32))
    assert f_state.dtype == np.float32 and all(g.dtype == np.float32 for g in f_grads.values())
    assert f_loss == pytest.approx(loss, rel=1e-5)
    for k in params:
        assert np.abs(f_grads[k] - grads[k]).max() < 1e-4 * max(1.0, np.abs(grads[k]).max()), k


def test_one_lstm_window_equals_the_per_step_oracle():
    arch, params = model("lstm", 1)
    x, y, state0 = window(arch)
    loss, grads, state = model_loss_and_grads(params, x, y, state0)
    fast_loss, fast_grads, fast_state = FastModel(arch, T, B, "float64").loss_and_grads(params, x, y, state0)
    total = {k: np.zeros_like(v) for k, v in params.items()}
    naive_loss = 0.0
    for s in range(B):  # the model averages the streams' losses (and gradients)
        l, g, h_last, c_last = naive_lstm_loss(params, list(x[:, s]), list(y[:, s]), state0[0, s][:, None],
                                               state0[1, s][:, None])
        naive_loss += l / B
        for k in total:
            total[k] += g[k] / B
        np.testing.assert_allclose(state[0, s], h_last[:, 0], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(state[1, s], c_last[:, 0], rtol=1e-12, atol=1e-14)
    assert loss == pytest.approx(naive_loss, rel=1e-12)
    assert fast_loss == pytest.approx(naive_loss, rel=1e-12)
    for k in params:
        np.testing.assert_allclose(grads[k], total[k], rtol=1e-9, atol=1e-12, err_msg=k)
        np.testing.assert_allclose(fast_grads[k], total[k], rtol=1e-9, atol=1e-12, err_msg=k)
    np.testing.assert_allclose(fast_state, state, rtol=1e-12, atol=1e-14)


def test_lstm_forget_gate_biases_start_at_one_and_the_rest_at_zero():
    arch = Arch("lstm", 2, 5, 7)
    params = init_model_params(arch, 0, 0.1, "float64")
    for layer in range(2):
        b = params[f"L{layer}.b"]
        assert (b[5:10] == 1.0).all() and not b[:5].any() and not b[10:].any()
    assert not params["by"].any()
