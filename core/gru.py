"""The GRU cell as matched forward/backward pairs: one step, and a window of T steps.

Letters: T time steps, B parallel streams, D inputs per step, H hidden units.
Weights follow the lesson's (out, in) layout with three blocks stacked in the order z, r, g:
Wx (3H, D), Wh (3H, H), b (3H,). Rows 0:H make the update gate z, H:2H the reset gate r, 2H:3H the
candidate g.

    ax = Wx x + b,   ah = Wh prev_h                    (each block's input and recurrent parts)
    z = sigmoid(ax_z + ah_z);   r = sigmoid(ax_r + ah_r)
    g = tanh(ax_g + r * ah_g)                          (the reset gate scales the recurrent part)
    next_h = z * prev_h + (1 - z) * g                  (keep the old state where z is near 1)

The reset gate multiplies Wh prev_h rather than prev_h (as cuDNN and PyTorch do, unlike the 2014 paper),
so one product with the stacked Wh serves all three blocks.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .rnn import sigmoid, steps_backward, steps_forward

GATES = ("z", "r", "g")  # order of the blocks in Wx, Wh and b


class GRUStepCache(NamedTuple):
    """What gru_step_backward needs from gru_step_forward; the gates are (B, H) each."""

    x: np.ndarray  # (B, D) input
    prev_h: np.ndarray  # (B, H)
    z: np.ndarray  # (B, H) update gate
    r: np.ndarray  # (B, H) reset gate
    g: np.ndarray  # (B, H) candidate
    ah_g: np.ndarray  # (B, H) the candidate's recurrent part, Wh_g prev_h
    Wx: np.ndarray  # (3H, D)
    Wh: np.ndarray  # (3H, H)


def gru_step_forward(x, prev_h, Wx, Wh, b):
    """One GRU step for B streams. x: (B, D); prev_h: (B, H). Returns (next_h (B, H), cache)."""
    H = prev_h.shape[1]
    ax = x @ Wx.T + b  # (B, 3H)
    ah = prev_h @ Wh.T  # (B, 3H)
    z = sigmoid(ax[:, :H] + ah[:, :H])  # (B, H)
    r = sigmoid(ax[:, H:2 * H] + ah[:, H:2 * H])  # (B, H)
    ah_g = ah[:, 2 * H:]  # (B, H)
    g = np.tanh(ax[:, 2 * H:] + r * ah_g)  # (B, H)
    next_h = z * prev_h + (1.0 - z) * g  # (B, H)
    return next_h, GRUStepCache(x, prev_h, z, r, g, ah_g, Wx, Wh)


def gru_step_backward(dnext_h, cache: GRUStepCache):
    """dnext_h (B, H) -> (dx (B, D), dprev_h (B, H), dWx (3H, D), dWh (3H, H), db (3H,))."""
    x, prev_h, z, r, g, ah_g, Wx, Wh = cache
    dz = dnext_h * (prev_h - g)  # (B, H)
    dg = dnext_h * (1.0 - z)  # (B, H)
    dag = dg * (1.0 - g * g)  # (B, H) gradient on the candidate's input
    dr = dag * ah_g  # (B, H)
    daz = dz * z * (1.0 - z)  # (B, H)
    dar = dr * r * (1.0 - r)  # (B, H)
    dax = np.concatenate([daz, dar, dag], axis=1)  # (B, 3H) gradient on ax
    dah = np.concatenate([daz, dar, dag * r], axis=1)  # (B, 3H) gradient on ah
    dprev_h = dnext_h * z + dah @ Wh  # (B, H) directly through z, and through the gates
    return dax @ Wx, dprev_h, dax.T @ x, dah.T @ prev_h, dax.sum(axis=0)


def gru_forward(x, h0, Wx, Wh, b):
    """The GRU over a window. x: (T, B, D); h0: (B, H). Returns (h (T, B, H), cache: the T step caches).

    The loop is the tanh cell's (core/rnn.py steps_forward): step after step, each reading the last h.
    """
    return steps_forward(gru_step_forward, x, h0, Wx, Wh, b)


def gru_backward(dh, caches):
    """dh (T, B, H), the gradient on every hidden state -> (dx (T, B, D), dh0 (B, H), dWx, dWh, db).

    Walks the steps backwards, adding each step's weight gradients (core/rnn.py steps_backward).
    """
    return steps_backward(gru_step_backward, dh, caches)
