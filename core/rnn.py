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
    if whh_init == "orthogonal":
        q, r = np.linalg.qr(params["Whh"])  # (H, H) each
        params["Whh"] = q * np.sign(np.diag(r))  # the sign fix makes Q uniform over orthogonal matrices
    elif whh_init != "randn":
        raise ValueError(f"unknown W_hh init {whh_init!r}")
    if whh_gain != 1.0:
        params["Whh"] = params["Whh"] * whh_gain
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


def loss_and_grads(params, x, y, h0, ws: "Workspace | None" = None):
    """Forward and backward over one window: (loss, grads dict parallel to params, last hidden (B, H)).

    With a Workspace (reused across calls of the same shape) nothing is allocated per call: the grads
    are written into ws.grads and the last hidden state is a view into the workspace, valid until the
    next call. Without one, the same computation runs on fresh buffers.
    """
    if ws is None:
        T, B = x.shape
        ws = Workspace(T, B, params["Whh"].shape[0], params["Why"].shape[0], params["Whh"].dtype)
        loss, grads, h_last = ws.loss_and_grads(params, x, y, h0)
        return loss, grads, h_last.copy()
    return ws.loss_and_grads(params, x, y, h0)


class Workspace:
    """Preallocated buffers for training windows of one shape (T, B, H, V, dtype), reused every iteration.

    The per-iteration work at B=1 is dominated by per-call overhead, so everything here is written with
    out= into buffers made once, per-step views are built once, and the gradients can be written
    straight into caller-owned arrays (the trainer's flat gradient buffer). Results equal the layer
    functions above up to float rounding.
    """

    def __init__(self, T: int, B: int, H: int, V: int, dtype, grads: dict[str, np.ndarray] | None = None):
        dt = np.dtype(dtype)
        self.shape = (T, B, H, V)
        self.dtype = dt
        TB = T * B
        self.hs = np.zeros((T + 1, B, H), dt)  # (T+1, B, H): hs[0] = h0, hs[t+1] = h_t
        self.h_flat = self.hs[1:].reshape(TB, H)  # (T*B, H) hidden states
        self.prev_flat = self.hs[:-1].reshape(TB, H)  # (T*B, H) the state each step read
        self.dh = np.empty((T, B, H), dt)  # (T, B, H) upstream gradient on every hidden state
        self.dh_flat = self.dh.reshape(TB, H)
        self.dtanh = np.empty((T, B, H), dt)  # (T, B, H) 1 - h^2
        self.draw = np.empty((T, B, H), dt)  # (T, B, H) gradient before the nonlinearity
        self.draw_flat = self.draw.reshape(TB, H)
        self.tmp = np.empty((B, H), dt)  # (B, H) one step's matmul
        self.probs = np.empty((TB, V), dt)  # (T*B, V) scores, then probabilities, then dscores
        self.probs_flat = self.probs.reshape(-1)
        self.rowmax = np.empty(TB, dt)  # (T*B,) per-row max, then per-row sum of exponentials
        self.rowcol = self.rowmax[:, None]  # (T*B, 1) view for broadcasting
        self.target_logit = np.empty(TB, dt)  # (T*B,) probability of each target, then its log
        self.onehot = np.zeros((TB, V), dt)  # (T*B, V) inputs as one-hot rows; zero between calls
        self.onehot_flat = self.onehot.reshape(-1)
        self.rowbase = np.arange(TB, dtype=np.intp) * V  # (T*B,) flat offset of each row
        self.xpos = np.empty(TB, np.intp)  # (T*B,) flat positions of the inputs in onehot
        self.ypos = np.empty(TB, np.intp)  # (T*B,) flat positions of the targets in probs
        self.WxbT = np.empty((V, H), dt)  # (V, H) Wxh.T + bh: a step's input term is one row
        self.WhhT = np.empty((H, H), dt)  # (H, H) contiguous Whh.T (faster matmuls than a strided view)
        self.WhyT = np.empty((H, V), dt)  # (H, V) contiguous Why.T for the scores' matmul
        self.contiguous_whh = B > 1  # at B=1 the copy costs more than it saves
        self.gather_then_add = TB <= V
        if grads is None:
            grads = {"Wxh": np.empty((H, V), dt), "Whh": np.empty((H, H), dt), "Why": np.empty((V, H), dt),
                     "bh": np.empty(H, dt), "by": np.empty(V, dt)}
        self.grads = grads
        # Per-step views made once: 1-D rows at B=1 (the quicker matmul), (B, H) blocks otherwise.
        pick = (lambda a: [r[0] for r in a]) if B == 1 else list
        self.tmp_step = self.tmp[0] if B == 1 else self.tmp
        # Bound .dot methods: a method call costs less than np.dot's dispatch, and this runs 2T times.
        self.fwd_steps = [(prev.dot, ht) for prev, ht in zip(pick(self.hs[:-1]), pick(self.hs[1:]))]
        rev = list(zip(pick(self.dh), pick(self.dtanh), pick(self.draw)))[::-1]
        self.bwd_first = rev[0]
        # (draw_{t+1}.dot, dh_t, dtanh_t, draw_t) for t = T-2 .. 0
        self.bwd_steps = [(rev[i - 1][2].dot, *rev[i]) for i in range(1, T)]

    def loss_and_grads(self, params, x, y, h0):
        T, B, H, V = self.shape
        if x.shape != (T, B) or y.shape != (T, B):
            raise ValueError(f"window of shape {x.shape} does not fit a workspace for {(T, B)}")
        Wxh, Whh, Why, bh, by = params["Wxh"], params["Whh"], params["Why"], params["bh"], params["by"]
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # a diverging run is reported by the caller
            return self._loss_and_grads(Wxh, Whh, Why, bh, by, x, y, h0)

    def _loss_and_grads(self, Wxh, Whh, Why, bh, by, x, y, h0):
        T, B, H, V = self.shape
        g = self.grads
        dot, add, multiply, tanh = np.dot, np.add, np.multiply, np.tanh
        hs, probs, tmp = self.hs, self.probs, self.tmp_step

        # Forward: hs[t+1] = tanh(Whh h_t + (Wxh[:, x_t] + bh)); the input terms are one gather.
        np.copyto(hs[0], h0)
        if self.gather_then_add:  # few steps: gather strided columns, then add the bias to each
            np.take(Wxh.T, x.reshape(-1), axis=0, out=self.h_flat)
            add(self.h_flat, bh, out=self.h_flat)
        else:  # many steps: one contiguous (V, H) table with the bias folded in, then a gather
            add(Wxh.T, bh, out=self.WxbT)
            np.take(self.WxbT, x.reshape(-1), axis=0, out=self.h_flat)
        if self.contiguous_whh:
            np.copyto(self.WhhT, Whh.T)
            WhhT = self.WhhT
        else:
            WhhT = Whh.T
        for prev_dot, ht in self.fwd_steps:
            prev_dot(WhhT, out=tmp)
            add(tmp, ht, out=ht)
            tanh(ht, out=ht)

        # Scores, probabilities and the cross-entropy -sum(log p[target]) (infinite, as in the lesson, when a
        # target's probability underflows: that is how a diverging run shows).
        np.copyto(self.WhyT, Why.T)
        dot(self.h_flat, self.WhyT, out=probs)
        add(probs, by, out=probs)
        rowcol = self.rowcol
        np.maximum.reduce(probs, axis=1, out=self.rowmax)
        np.subtract(probs, rowcol, out=probs)
        np.exp(probs, out=probs)
        np.add.reduce(probs, axis=1, out=self.rowmax)
        np.divide(probs, rowcol, out=probs)
        add(self.rowbase, y.reshape(-1), out=self.ypos)
        picked = self.target_logit
        np.take(self.probs_flat, self.ypos, out=picked)
        np.log(picked, out=picked)
        loss = -float(picked.sum()) / B

        # dscores = (p - onehot(y)) / B, then the output layer's gradients.
        self.probs_flat[self.ypos] -= 1.0
        if B != 1:
            probs /= B
        dot(probs, Why, out=self.dh_flat)
        dot(probs.T, self.h_flat, out=g["Why"])
        np.add.reduce(probs, axis=0, out=g["by"])

        # Backward through time; the gradient reaching h0 is not needed, so the last matmul is skipped.
        multiply(self.h_flat, self.h_flat, out=self.dtanh.reshape(T * B, H))
        np.subtract(1.0, self.dtanh, out=self.dtanh)
        dh_t, dtanh_t, draw_t = self.bwd_first
        multiply(dh_t, dtanh_t, out=draw_t)
        for draw_next_dot, dh_t, dtanh_t, draw_t in self.bwd_steps:
            draw_next_dot(Whh, out=tmp)
            add(dh_t, tmp, out=draw_t)
            multiply(draw_t, dtanh_t, out=draw_t)
        draw_flat = self.draw_flat
        dot(draw_flat.T, self.prev_flat, out=g["Whh"])
        np.add.reduce(draw_flat, axis=0, out=g["bh"])
        # dWxh: each step's draw lands in the column of its input: a product with the one-hot inputs.
        add(self.rowbase, x.reshape(-1), out=self.xpos)
        self.onehot_flat[self.xpos] = 1.0
        dot(draw_flat.T, self.onehot, out=g["Wxh"])
        self.onehot_flat[self.xpos] = 0.0
        return loss, g, hs[T]
