"""Layers of the vanilla tanh RNN as matched forward/backward pairs over (T, B, ...) arrays.

Letters: T time steps, B parallel streams, H hidden units, V vocabulary size.
Parameters follow the lesson's layout: Wxh (H, V), Whh (H, H), Why (V, H), bh (H,), by (V,).
Inputs are character ids; the one-hot product Wxh @ x is a column lookup Wxh[:, x].

rnn_step_forward/rnn_layer_forward are the same cell with dense inputs (B, D) (a layer below's hidden
states, or one-hot rows), in the shape of core/lstm.py and core/gru.py, for stacks of layers (core/model.py).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

PARAM_NAMES = ("Wxh", "Whh", "Why", "bh", "by")


def init_params(vocab_size: int, hidden_size: int, seed: int, scale: float = 0.01,
                dtype: str = "float64", whh_init: str = "randn", whh_gain: float = 1.0) -> dict[str, np.ndarray]:
    """Weights drawn as RandomState(seed).randn * scale in the lesson's order Wxh, Whh, Why; zero biases.

    whh_init "orthogonal" replaces Whh by the orthogonal factor of its own Gaussian draw (every singular value 1,
    scale ignored), so the draws, and with them Wxh and Why, stay the lesson's. whh_gain then multiplies Whh.
    """
    V, H = vocab_size, hidden_size
    rng = np.random.RandomState(seed)
    params = {
        "Wxh": rng.randn(H, V) * scale,  # (H, V) input to hidden
        "Whh": rng.randn(H, H) * scale,  # (H, H) hidden to hidden
        "Why": rng.randn(V, H) * scale,  # (V, H) hidden to output
        "bh": np.zeros(H),  # (H,) hidden bias
        "by": np.zeros(V),  # (V,) output bias
    }
    params["Whh"] = recurrent_init(params["Whh"], whh_init, whh_gain)
    return {k: v.astype(dtype) for k, v in params.items()}


def recurrent_init(W, init: str = "randn", gain: float = 1.0):
    """A recurrent matrix's first value from its Gaussian draw W (H, H): W itself ("randn") or its orthogonal
    factor ("orthogonal": every singular value 1), times gain. No new draws, so the other weights stay the same."""
    if init == "orthogonal":
        q, r = np.linalg.qr(W)  # (H, H) each
        W = q * np.sign(np.diag(r))  # the sign fix makes Q uniform over orthogonal matrices
    elif init != "randn":
        raise ValueError(f"unknown W_hh init {init!r}")
    return W * gain if gain != 1.0 else W


class RNNCache(NamedTuple):
    """What rnn_backward needs from rnn_forward."""

    x: np.ndarray  # (T, B) input ids
    h0: np.ndarray  # (B, H) hidden state before the first step
    h: np.ndarray  # (T, B, H) hidden states
    Whh: np.ndarray  # (H, H)
    vocab_size: int  # V, for the shape of dWxh


def rnn_forward(x, h0, Wxh, Whh, bh, out=None):
    """Run the recurrence h_t = tanh(Wxh[:, x_t] + Whh h_{t-1} + bh) over a window.

    x: (T, B) ids; h0: (B, H). Returns (h (T, B, H), cache).
    The input projection of the whole window is one gather; each step is one matmul, one add, one tanh.
    """
    T, B = x.shape
    H = Whh.shape[0]
    xw = Wxh.T[x]  # (T, B, H) input projections, gathered columns of Wxh
    xw += bh
    h = np.empty((T, B, H), dtype=Whh.dtype) if out is None else out  # (T, B, H)
    WhhT = Whh.T
    prev = h0
    for ht, xw_t in zip(h, xw):
        np.dot(prev, WhhT, out=ht)
        ht += xw_t
        np.tanh(ht, out=ht)
        prev = ht
    return h, RNNCache(x, h0, h, Whh, Wxh.shape[1])


def rnn_backward(dh, cache: RNNCache):
    """Backpropagate through the window. dh: (T, B, H) upstream gradient on every hidden state.

    Returns (dh0 (B, H), dWxh (H, V), dWhh (H, H), dbh (H,)).
    """
    x, h0, h, Whh, V = cache
    T, B, H = h.shape
    dtanh = 1.0 - h * h  # (T, B, H) tanh'
    draw = np.empty_like(h)  # (T, B, H) gradient before the nonlinearity
    dnext = np.zeros((B, H), dtype=h.dtype)  # (B, H) gradient flowing to the previous step
    acc = np.empty((B, H), dtype=h.dtype)
    for dh_t, dtanh_t, draw_t in zip(dh[::-1], dtanh[::-1], draw[::-1]):
        np.add(dh_t, dnext, out=acc)
        np.multiply(acc, dtanh_t, out=draw_t)
        np.dot(draw_t, Whh, out=dnext)
    flat = draw.reshape(T * B, H)  # (T*B, H)
    prev = np.concatenate([h0[None], h[:-1]], axis=0).reshape(T * B, H)  # (T*B, H) h_{t-1} of every step
    dWhh = flat.T @ prev  # (H, H)
    dbh = flat.sum(axis=0)  # (H,)
    # Scatter-add rows of flat into the columns of Wxh their inputs picked: one bincount over (id, unit) cells.
    cells = (x.reshape(-1, 1).astype(np.intp) * H + np.arange(H)).ravel()  # (T*B*H,)
    dWxhT = np.bincount(cells, weights=flat.ravel(), minlength=V * H).reshape(V, H).astype(h.dtype, copy=False)
    return dnext, dWxhT.T, dWhh, dbh


class AffineCache(NamedTuple):
    """What temporal_affine_backward needs."""

    h: np.ndarray  # (T, B, H)
    W: np.ndarray  # (V, H)


def temporal_affine_forward(h, W, b):
    """Scores for every step: h (T, B, H) -> (scores (T, B, V), cache), one matmul for the window."""
    T, B, H = h.shape
    scores = (h.reshape(T * B, H) @ W.T).reshape(T, B, -1)  # (T, B, V)
    scores += b
    return scores, AffineCache(h, W)


def temporal_affine_backward(dscores, cache: AffineCache):
    """dscores (T, B, V) -> (dh (T, B, H), dW (V, H), db (V,))."""
    h, W = cache
    T, B, H = h.shape
    d = dscores.reshape(T * B, -1)  # (T*B, V)
    dh = (d @ W).reshape(T, B, H)  # (T, B, H)
    dW = d.T @ h.reshape(T * B, H)  # (V, H)
    db = d.sum(axis=0)  # (V,)
    return dh, dW, db


def softmax(scores, axis=-1):
    """Probabilities along axis, computed stably."""
    z = scores - scores.max(axis=axis, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=axis, keepdims=True)
    return z


def temporal_softmax_loss(scores, targets):
    """Cross-entropy summed over the T steps and averaged over the B streams (the lesson's loss at B=1).

    scores: (T, B, V); targets: (T, B) ids. Returns (loss, dscores (T, B, V)).
    """
    T, B, V = scores.shape
    p = softmax(scores)  # (T, B, V)
    flat = p.reshape(T * B, V)
    rows = np.arange(T * B)
    tgt = targets.reshape(-1)
    picked = flat[rows, tgt]  # (T*B,)
    with np.errstate(divide="ignore", invalid="ignore"):
        loss = float(-np.log(picked).sum()) / B
    flat[rows, tgt] -= 1.0
    if B != 1:
        p /= B
    return loss, p



def sigmoid(x):
    """The logistic function 1 / (1 + exp(-x)), written as 0.5 * (1 + tanh(x / 2)) so that no exp overflows."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


class RNNStepCache(NamedTuple):
    """What rnn_step_backward needs from rnn_step_forward."""

    x: np.ndarray  # (B, D) input
    prev_h: np.ndarray  # (B, H)
    next_h: np.ndarray  # (B, H)
    Wx: np.ndarray  # (H, D)
    Wh: np.ndarray  # (H, H)


def rnn_step_forward(x, prev_h, Wx, Wh, b):
    """One step of the tanh cell: next_h = tanh(Wx x + Wh prev_h + b), for B streams at once.

    x: (B, D); prev_h: (B, H); Wx: (H, D); Wh: (H, H); b: (H,). Returns (next_h (B, H), cache).
    """
    next_h = np.tanh(x @ Wx.T + prev_h @ Wh.T + b)  # (B, H)
    return next_h, RNNStepCache(x, prev_h, next_h, Wx, Wh)


def rnn_step_backward(dnext_h, cache: RNNStepCache):
    """dnext_h (B, H) -> (dx (B, D), dprev_h (B, H), dWx (H, D), dWh (H, H), db (H,))."""
    x, prev_h, next_h, Wx, Wh = cache
    da = dnext_h * (1.0 - next_h * next_h)  # (B, H) gradient before the tanh
    return da @ Wx, da @ Wh, da.T @ x, da.T @ prev_h, da.sum(axis=0)


def rnn_layer_forward(x, h0, Wx, Wh, b):
    """The tanh cell over a window: x (T, B, D), h0 (B, H) -> (h (T, B, H), cache: the step caches)."""
    return steps_forward(rnn_step_forward, x, h0, Wx, Wh, b)


def rnn_layer_backward(dh, caches):
    """dh (T, B, H), the gradient on every hidden state -> (dx (T, B, D), dh0 (B, H), dWx, dWh, db)."""
    return steps_backward(rnn_step_backward, dh, caches)


def steps_forward(step_forward, x, h0, Wx, Wh, b):
    """Run a cell whose state is h alone (tanh, GRU) over a window, one step_forward per step.

    x: (T, B, D); h0: (B, H). Returns (h (T, B, H), the T step caches).
    """
    h, caches, prev = [], [], h0
    for x_t in x:
        prev, cache = step_forward(x_t, prev, Wx, Wh, b)
        h.append(prev)
        caches.append(cache)
    return np.stack(h), caches


def steps_backward(step_backward, dh, caches):
    """Backpropagate steps_forward: dh (T, B, H) on every hidden state -> (dx (T, B, D), dh0 (B, H), dWx, dWh, db),
    the weight gradients summed over the steps."""
    dx = []
    dnext = np.zeros_like(dh[0])  # (B, H) gradient reaching a step from the step after it
    dWx, dWh = np.zeros_like(caches[0].Wx), np.zeros_like(caches[0].Wh)
    db = np.zeros_like(caches[0].Wh[:, 0])
    for dh_t, cache in zip(dh[::-1], caches[::-1]):
        dx_t, dnext, dWx_t, dWh_t, db_t = step_backward(dh_t + dnext, cache)
        dx.append(dx_t)
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
    return np.stack(dx[::-1]), dnext, dWx, dWh, db

# The fast path (one window's forward and backward on preallocated buffers) lives in core/fast_rnn.py;
# its names stay importable from here.
from .fast_rnn import Workspace, loss_and_grads  # noqa: E402,F401
