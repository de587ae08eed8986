"""The vanilla RNN's fast path: one training window's forward and backward on preallocated buffers.

The readable layers it must agree with (to float rounding) are in core/rnn.py; tests/test_rnn_gradients.py
checks both. Letters: T time steps, B parallel streams, H hidden units, V vocabulary size.
"""

from __future__ import annotations

import numpy as np


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
    functions of core/rnn.py up to float rounding.
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
