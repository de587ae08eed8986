"""The LSTM cell as matched forward/backward pairs: one step, and a window of T steps.

Letters: T time steps, B parallel streams, D inputs per step, H hidden units.
Weights follow the lesson's (out, in) layout with the four gates stacked in the order i, f, o, g:
Wx (4H, D), Wh (4H, H), b (4H,). Rows 0:H make the input gate, H:2H the forget gate, 2H:3H the output
gate and 3H:4H the candidate g.

    a = Wx x + Wh prev_h + b        (the four gates' inputs in one product)
    i, f, o = sigmoid(a_i), sigmoid(a_f), sigmoid(a_o);   g = tanh(a_g)
    next_c = f * prev_c + i * g     (the cell state: an addition, not a product with W)
    next_h = o * tanh(next_c)

The cell state c is carried by addition: the gradient flows from next_c to prev_c multiplied only by f,
never by a weight matrix, which is why an LSTM remembers longer than a tanh RNN.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .rnn import sigmoid

GATES = ("i", "f", "o", "g")  # order of the gate blocks in Wx, Wh and b


class LSTMStepCache(NamedTuple):
    """What lstm_step_backward needs from lstm_step_forward; the gates are (B, H) each."""

    x: np.ndarray  # (B, D) input
    prev_h: np.ndarray  # (B, H)
    prev_c: np.ndarray  # (B, H)
    i: np.ndarray  # (B, H) input gate
    f: np.ndarray  # (B, H) forget gate
    o: np.ndarray  # (B, H) output gate
    g: np.ndarray  # (B, H) candidate
    tanh_c: np.ndarray  # (B, H) tanh(next_c)
    Wx: np.ndarray  # (4H, D)
    Wh: np.ndarray  # (4H, H)


def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
    """One LSTM step for B streams. x: (B, D); prev_h, prev_c: (B, H).

    Returns (next_h (B, H), next_c (B, H), cache).
    """
    H = prev_h.shape[1]
    a = x @ Wx.T + prev_h @ Wh.T + b  # (B, 4H)
    i = sigmoid(a[:, :H])  # (B, H)
    f = sigmoid(a[:, H:2 * H])  # (B, H)
    o = sigmoid(a[:, 2 * H:3 * H])  # (B, H)
    g = np.tanh(a[:, 3 * H:])  # (B, H)
    next_c = f * prev_c + i * g  # (B, H)
    tanh_c = np.tanh(next_c)  # (B, H)
    next_h = o * tanh_c  # (B, H)
    return next_h, next_c, LSTMStepCache(x, prev_h, prev_c, i, f, o, g, tanh_c, Wx, Wh)


def lstm_cell_gradient(dnext_h, dnext_c, cache: LSTMStepCache):
    """The whole gradient on a step's next_c (B, H): what reaches it from the next step, plus its path
    through next_h = o * tanh(next_c)."""
    return dnext_c + dnext_h * cache.o * (1.0 - cache.tanh_c * cache.tanh_c)  # (B, H)


def lstm_step_backward(dnext_h, dnext_c, cache: LSTMStepCache):
    """Gradients of one step from those on next_h and next_c (B, H) each.

    Returns (dx (B, D), dprev_h (B, H), dprev_c (B, H), dWx (4H, D), dWh (4H, H), db (4H,)).
    """
    x, prev_h, prev_c, i, f, o, g, tanh_c, Wx, Wh = cache
    dc = lstm_cell_gradient(dnext_h, dnext_c, cache)  # (B, H)
    do = dnext_h * tanh_c  # (B, H)
    di = dc * g  # (B, H)
    df = dc * prev_c  # (B, H)
    dg = dc * i  # (B, H)
    dprev_c = dc * f  # (B, H) the additive path: only the forget gate scales it
    da = np.concatenate([di * i * (1.0 - i), df * f * (1.0 - f), do * o * (1.0 - o), dg * (1.0 - g * g)],
                        axis=1)  # (B, 4H) gradient on the gates' inputs
    return da @ Wx, da @ Wh, dprev_c, da.T @ x, da.T @ prev_h, da.sum(axis=0)


def lstm_forward(x, h0, c0, Wx, Wh, b):
    """The LSTM over a window. x: (T, B, D); h0, c0: (B, H).

    Returns (h (T, B, H), c (T, B, H), cache: the T step caches). h[-1], c[-1] carry to the next window.
    """
    h, c, caches = [], [], []
    prev_h, prev_c = h0, c0
    for x_t in x:
        prev_h, prev_c, cache = lstm_step_forward(x_t, prev_h, prev_c, Wx, Wh, b)
        h.append(prev_h)
        c.append(prev_c)
        caches.append(cache)
    return np.stack(h), np.stack(c), caches


def lstm_backward(dh, caches):
    """dh (T, B, H), the gradient on every hidden state (none reaches the last cell state from later windows).

    Returns (dx (T, B, D), dh0 (B, H), dc0 (B, H), dWx (4H, D), dWh (4H, H), db (4H,)).
    """
    dx = []
    dnext_h = np.zeros_like(dh[0])  # (B, H) gradient reaching a step's h from the step after it
    dnext_c = np.zeros_like(dh[0])  # (B, H) the same for c
    dWx, dWh = np.zeros_like(caches[0].Wx), np.zeros_like(caches[0].Wh)
    db = np.zeros_like(caches[0].Wh[:, 0])
    for dh_t, cache in zip(dh[::-1], caches[::-1]):
        dx_t, dnext_h, dnext_c, dWx_t, dWh_t, db_t = lstm_step_backward(dh_t + dnext_h, dnext_c, cache)
        dx.append(dx_t)
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
    return np.stack(dx[::-1]), dnext_h, dnext_c, dWx, dWh, db
