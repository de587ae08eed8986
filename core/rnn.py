"""Layers of the vanilla tanh RNN as matched forward/backward pairs over (T, B, ...) arrays.

Letters: T time steps, B parallel streams, H hidden units, V vocabulary size.
Parameters follow the lesson's layout: Wxh (H, V), Whh (H, H), Why (V, H), bh (H,), by (V,).
Inputs are character ids; the one-hot product Wxh @ x is a column lookup Wxh[:, x].
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

PARAM_NAMES = ("Wxh", "Whh", "Why", "bh", "by")


def init_params(vocab_size: int, hidden_size: int, seed: int, scale: float = 0.01,
                dtype: str = "float64") -> dict[str, np.ndarray]:
    """Weights drawn as RandomState(seed).randn * scale in the lesson's order Wxh, Whh, Why; zero biases."""
    V, H = vocab_size, hidden_size
    rng = np.random.RandomState(seed)
    params = {
        "Wxh": rng.randn(H, V) * scale,  # (H, V) input to hidden
        "Whh": rng.randn(H, H) * scale,  # (H, H) hidden to hidden
        "Why": rng.randn(V, H) * scale,  # (V, H) hidden to output
        "bh": np.zeros(H),  # (H,) hidden bias
        "by": np.zeros(V),  # (V,) output bias
    }
    return {k: v.astype(dtype) for k, v in params.items()}


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


# The fast path (one window's forward and backward on preallocated buffers) lives in core/fast_rnn.py;
# its names stay importable from here.
from .fast_rnn import Workspace, loss_and_grads  # noqa: E402,F401
