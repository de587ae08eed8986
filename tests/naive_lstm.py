"""One LSTM layer's training window written plainly, like tests/naive.py: one-hot column vectors, dicts keyed
by time step, a Python loop per step and gate. An oracle for core/lstm.py, core/model.py and core/fast_model.py.
"""

from __future__ import annotations

import numpy as np


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def naive_lstm_loss(params, inputs, targets, hprev, cprev):
    """Loss and gradients of one window for ONE stream. params: "L0.Wx" (4H, V), "L0.Wh" (4H, H), "L0.b" (4H,),
    "Why" (V, H), "by" (V,); inputs, targets: lists of ids; hprev, cprev: (H, 1) column vectors.

    Returns (loss, grads dict, h_last (H, 1), c_last (H, 1)).
    """
    Wx, Wh, b, Why, by = (params[k] for k in ("L0.Wx", "L0.Wh", "L0.b", "Why", "by"))
    H, V = Wh.shape[1], Why.shape[0]
    b = b[:, None]
    by = by[:, None]
    xs, hs, cs, i, f, o, g, ps = {}, {-1: hprev.copy()}, {-1: cprev.copy()}, {}, {}, {}, {}, {}
    loss = 0.0
    for t in range(len(inputs)):
        xs[t] = np.zeros((V, 1))
        xs[t][inputs[t]] = 1.0
        a = Wx @ xs[t] + Wh @ hs[t - 1] + b
        i[t] = sigmoid(a[0:H])
        f[t] = sigmoid(a[H:2 * H])
        o[t] = sigmoid(a[2 * H:3 * H])
        g[t] = np.tanh(a[3 * H:4 * H])
        cs[t] = f[t] * cs[t - 1] + i[t] * g[t]
        hs[t] = o[t] * np.tanh(cs[t])
        y = Why @ hs[t] + by
        ps[t] = np.exp(y - y.max()) / np.sum(np.exp(y - y.max()))
        loss += -np.log(ps[t][targets[t], 0])
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    dhnext, dcnext = np.zeros((H, 1)), np.zeros((H, 1))
    for t in reversed(range(len(inputs))):
        dy = ps[t].copy()
        dy[targets[t]] -= 1.0
        grads["Why"] += dy @ hs[t].T
        grads["by"] += dy[:, 0]
        dh = Why.T @ dy + dhnext
        dc = dcnext + dh * o[t] * (1.0 - np.tanh(cs[t]) ** 2)
        da = np.vstack([dc * g[t] * i[t] * (1.0 - i[t]),
                        dc * cs[t - 1] * f[t] * (1.0 - f[t]),
                        dh * np.tanh(cs[t]) * o[t] * (1.0 - o[t]),
                        dc * i[t] * (1.0 - g[t] ** 2)])
        grads["L0.Wx"] += da @ xs[t].T
        grads["L0.Wh"] += da @ hs[t - 1].T
        grads["L0.b"] += da[:, 0]
        dhnext = Wh.T @ da
        dcnext = dc * f[t]
    last = len(inputs) - 1
    return loss, grads, hs[last], cs[last]
