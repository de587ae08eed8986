"""The stacked model's fast path: one training window's forward and backward on preallocated buffers.

Computes what core/model.py's model_loss_and_grads computes (tests/test_fast_model.py holds them equal to
float64 round-off) for every cell and layer count, with:
- every buffer made once per window shape and written with out=;
- the input projections of a whole window in one product (a row gather for the one-hot first layer), the
  bias folded in;
- one fused product per step with the stacked recurrent weights (H, G*H) for all the gates at once;
- the sigmoids as 0.5 * tanh(a / 2) + 0.5 with the halving folded into copies of the weights, so one tanh
  covers every gate of a step (the LSTM instead takes one exp for all four gates: sigmoid(a) = 1 / (1 + exp(-a)),
  tanh(a) = 2 sigmoid(2a) - 1, the -1 and -2 folded into the weight copies);
- for the LSTM, the gate derivatives times their factors from c and h for the whole window before the backward
  recurrence, so each step's gate gradients are two products;
- the weight gradients as one product over the window after the backward recurrence.

Letters: T time steps, B streams, D inputs per step, H hidden units, G gate blocks, V vocabulary, K state rows.
"""

from __future__ import annotations

import numpy as np

from .model import Arch, param_shapes


class _Layer:
    """Buffers and the input side shared by the three cells; subclasses run the recurrence."""

    G = 1  # gate blocks
    SIGMOID_BLOCKS = 0  # leading blocks that are sigmoids (their inputs are scaled, see the module docstring)

    def __init__(self, T, B, D, H, dtype, first: bool):
        dt = np.dtype(dtype)
        GH = self.G * H
        self.T, self.B, self.D, self.H, self.first = T, B, D, H, first
        TB = T * B
        self.hs = np.zeros((T + 1, B, H), dt)  # (T+1, B, H): hs[0] = h0, hs[t+1] = h after step t
        self.h = self.hs[1:]  # (T, B, H) the layer's outputs
        self.prev_flat = self.hs[:-1].reshape(TB, H)  # (T*B, H) the state each step read
        self.ax = np.empty((T, B, GH), dt)  # (T, B, G*H) input projections with the bias (halved for sigmoids)
        self.ax_flat = self.ax.reshape(TB, GH)
        self.dax = np.empty((T, B, GH), dt)  # (T, B, G*H) gradient on the gates' inputs
        self.dax_flat = self.dax.reshape(TB, GH)
        self.dx = None if first else np.empty((T, B, D), dt)  # (T, B, D) gradient sent to the layer below
        self.dnext = np.empty((B, H), dt)  # (B, H) gradient reaching a step's h from the step after it
        self.dh = np.empty((B, H), dt)  # (B, H) total gradient on one step's h
        self.tmp = np.empty((B, H), dt)
        self.scale = np.ones(GH, dt)  # (G*H,) 0.5 on the sigmoid blocks, 1 elsewhere
        self.scale[:self.SIGMOID_BLOCKS * H] = 0.5
        self.WhT = np.empty((H, GH), dt)  # (H, G*H) contiguous Wh.T, sigmoid columns halved
        self.WxT = np.empty((D, GH), dt)  # (D, G*H) Wx.T (+ b for the first layer), sigmoid columns halved
        self.bias = np.empty(GH, dt)
        self.dWxT = np.empty((D, GH), dt) if first else None  # (V, G*H) the one-hot layer's dWx, transposed

    def project_inputs(self, x, Wx, Wh, b):
        """ax = the scaled (Wx x + b) of every step, and the scaled recurrent weights (self.scale per column)."""
        np.multiply(Wh.T, self.scale, out=self.WhT)
        if self.first:  # x: (T, B) ids; a one-hot product is a row of Wx.T
            np.add(Wx.T, b, out=self.WxT)
            self.WxT *= self.scale
            np.take(self.WxT, x.reshape(-1), axis=0, out=self.ax_flat)
        else:  # x: (T, B, D)
            np.multiply(Wx.T, self.scale, out=self.WxT)
            np.dot(x.reshape(-1, self.D), self.WxT, out=self.ax_flat)
            np.multiply(b, self.scale, out=self.bias)
            self.ax_flat += self.bias

    def input_grads(self, x, Wx, dWx, db, onehot):
        """dWx, db and (for a layer above the first) dx from dax, once per window."""
        np.add.reduce(self.dax_flat, axis=0, out=db)
        if self.first:  # onehot.T @ dax is quicker than dax.T @ onehot (the long axis T*B is contiguous in both)
            np.dot(onehot.T, self.dax_flat, out=self.dWxT)
            np.copyto(dWx, self.dWxT.T)
        else:
            x_flat = x.reshape(-1, self.D)  # (T*B, D)
            np.dot(self.dax_flat.T, x_flat, out=dWx)
            np.dot(self.dax_flat, Wx, out=self.dx.reshape(-1, self.D))


class _RNNLayer(_Layer):
    """The tanh cell: h_t = tanh(Wx x_t + Wh h_{t-1} + b)."""

    G = 1

    def __init__(self, T, B, D, H, dtype, first):
        super().__init__(T, B, D, H, dtype, first)
        self.dact = np.empty((T, B, H), self.hs.dtype)  # (T, B, H) 1 - h^2

    def forward(self, x, state0, Wx, Wh, b):
        self.project_inputs(x, Wx, Wh, b)
        hs, ax, WhT = self.hs, self.ax, self.WhT
        np.copyto(hs[0], state0[0])
        dot, add, tanh = np.dot, np.add, np.tanh
        for t in range(self.T):
            ht = hs[t + 1]
            dot(hs[t], WhT, out=ht)
            add(ht, ax[t], out=ht)
            tanh(ht, out=ht)
        return (hs[self.T],)

    def backward(self, dh_out, Wh, dWh):
        np.multiply(self.h, self.h, out=self.dact)
        np.subtract(1.0, self.dact, out=self.dact)
        dh, dnext, dax, dact = self.dh, self.dnext, self.dax, self.dact
        dnext[...] = 0.0
        for t in range(self.T - 1, -1, -1):
            np.add(dh_out[t], dnext, out=dh)
            np.multiply(dh, dact[t], out=dax[t])
            if t:
                np.dot(dax[t], Wh, out=dnext)
        np.dot(self.dax_flat.T, self.prev_flat, out=dWh)


class _LSTMLayer(_Layer):
    """The LSTM cell, gates in the order i, f, o, g (see core/lstm.py)."""

    G = 4
    SIGMOID_BLOCKS = 3

    def __init__(self, T, B, D, H, dtype, first):
        super().__init__(T, B, D, H, dtype, first)
        dt = self.hs.dtype
        # Every gate from one exp pass: sigmoid(a) = 1 / (1 + exp(-a)) and tanh(a) = 2 sigmoid(2a) - 1, so the
        # weight copies carry -1 on the sigmoid blocks and -2 on g (one exp per step is cheaper than one tanh).
        self.scale[:3 * H] = -1.0
        self.scale[3 * H:] = -2.0
        self.cs = np.zeros((T + 1, B, H), dt)  # (T+1, B, H): cs[0] = c0, cs[t+1] = c after step t
        self.act = np.empty((T, B, 4 * H), dt)  # (T, B, 4H) the gates i, f, o (sigmoid) and g (tanh)
        self.tanh_c = np.empty((T, B, H), dt)  # (T, B, H)
        self.dact = np.empty((T, B, 4 * H), dt)  # (T, B, 4H) each gate's derivative times its factor from c or h
        self.k = np.empty((T, B, H), dt)  # (T, B, H) o * (1 - tanh(c)^2): from h to c
        self.dc = np.empty((B, H), dt)
        self.dWhT = np.empty((H, 4 * H), dt)  # (H, 4H) dWh, transposed
        a = self.act
        self.gates = [(a[t, :, :H], a[t, :, H:2 * H], a[t, :, 2 * H:3 * H], a[t, :, 3 * H:]) for t in range(T)]

    def forward(self, x, state0, Wx, Wh, b):
        self.project_inputs(x, Wx, Wh, b)
        H, H3 = self.H, 3 * self.H
        hs, cs, act, ax, WhT, tc, tmp = self.hs, self.cs, self.act, self.ax, self.WhT, self.tanh_c, self.tmp
        np.copyto(hs[0], state0[0])
        np.copyto(cs[0], state0[1])
        dot, add, multiply, subtract, tanh, exp, reciprocal = (np.dot, np.add, np.multiply, np.subtract, np.tanh,
                                                              np.exp, np.reciprocal)
        for t in range(self.T):
            a = act[t]  # (B, 4H) holds -a for i, f, o and -2a for g (see __init__)
            dot(hs[t], WhT, out=a)
            add(a, ax[t], out=a)
            exp(a, out=a)
            add(a, 1.0, out=a)
            reciprocal(a, out=a)  # sigmoid(a) for i, f, o; sigmoid(2a) for g
            i, f, o, g = self.gates[t]
            multiply(g, 2.0, out=g)
            subtract(g, 1.0, out=g)  # tanh(a) = 2 sigmoid(2a) - 1
            multiply(f, cs[t], out=cs[t + 1])
            multiply(i, g, out=tmp)
            add(cs[t + 1], tmp, out=cs[t + 1])
            tanh(cs[t + 1], out=tc[t])
            multiply(o, tc[t], out=hs[t + 1])
        return hs[self.T], cs[self.T]

    def backward(self, dh_out, Wh, dWh):
        H, H2, H3 = self.H, 2 * self.H, 3 * self.H
        act, dact, k, tc, cs = self.act, self.dact, self.k, self.tanh_c, self.cs
        # Outside the recurrence, for the whole window at once: each gate's derivative (s(1 - s) for the
        # sigmoids, 1 - g^2 for g) times the factor its gradient takes from c or h, so that dax[t] is
        # dc * dact[t] on the blocks i, f, g and dh * dact[t] on o.
        np.multiply(act, act, out=dact)
        np.subtract(act[..., :H3], dact[..., :H3], out=dact[..., :H3])
        np.subtract(1.0, dact[..., H3:], out=dact[..., H3:])
        dact[..., :H] *= act[..., H3:]  # di: dc * g
        dact[..., H:H2] *= cs[:-1]  # df: dc * c_{t-1}
        dact[..., H2:H3] *= tc  # do: dh * tanh(c)
        dact[..., H3:] *= act[..., :H]  # dg: dc * i
        np.multiply(tc, tc, out=k)
        np.subtract(1.0, k, out=k)
        np.multiply(k, act[..., H2:H3], out=k)
        dh, dnext, dc, tmp = self.dh, self.dnext, self.dc, self.tmp
        dnext[...] = 0.0
        dc[...] = 0.0
        add, multiply, dot = np.add, np.multiply, np.dot
        dc4 = dc[:, None, :]  # (B, 1, H) broadcast over the four blocks
        dax4, dact4, dax = self.dax.reshape(self.T, self.B, 4, H), dact.reshape(self.T, self.B, 4, H), self.dax
        for t in range(self.T - 1, -1, -1):
            add(dh_out[t], dnext, out=dh)
            multiply(dh, k[t], out=tmp)
            add(dc, tmp, out=dc)  # dc: from c_{t+1} (already times f) and from h_t
            multiply(dact4[t], dc4, out=dax4[t])  # di, df, dg (and a do overwritten next)
            multiply(dh, dact[t, :, H2:H3], out=dax[t, :, H2:H3])
            multiply(dc, act[t, :, H:H2], out=dc)  # what reaches c_{t-1}
            if t:
                dot(dax[t], Wh, out=dnext)
        np.dot(self.prev_flat.T, self.dax_flat, out=self.dWhT)  # quicker than dax.T @ prev at these shapes
        np.copyto(dWh, self.dWhT.T)


class _GRULayer(_Layer):
    """The GRU cell, blocks in the order z, r, g (see core/gru.py)."""

    G = 3
    SIGMOID_BLOCKS = 2

    def __init__(self, T, B, D, H, dtype, first):
        super().__init__(T, B, D, H, dtype, first)
        dt = self.hs.dtype
        self.ah = np.empty((T, B, 3 * H), dt)  # (T, B, 3H) recurrent parts (z, r halved)
        self.act = np.empty((T, B, 3 * H), dt)  # (T, B, 3H) z, r (sigmoid) and g (tanh)
        self.dact = np.empty((T, B, 3 * H), dt)  # (T, B, 3H) each block's derivative
        self.dah = np.empty((T, B, 3 * H), dt)  # (T, B, 3H) gradient on the recurrent parts
        self.dah_flat = self.dah.reshape(T * B, 3 * H)
        self.dz = np.empty((B, H), dt)  # dh * z: the direct path to h_{t-1}

    def forward(self, x, state0, Wx, Wh, b):
        self.project_inputs(x, Wx, Wh, b)
        H, H2 = self.H, 2 * self.H
        hs, ah, act, ax, WhT, tmp = self.hs, self.ah, self.act, self.ax, self.WhT, self.tmp
        np.copyto(hs[0], state0[0])
        dot, add, multiply, subtract, tanh = np.dot, np.add, np.multiply, np.subtract, np.tanh
        for t in range(self.T):
            a, r_t = act[t], ah[t]
            dot(hs[t], WhT, out=r_t)
            s = a[:, :H2]
            add(ax[t, :, :H2], r_t[:, :H2], out=s)
            tanh(s, out=s)
            multiply(s, 0.5, out=s)
            add(s, 0.5, out=s)
            z, r, g = a[:, :H], a[:, H:H2], a[:, H2:]
            multiply(r, r_t[:, H2:], out=g)
            add(g, ax[t, :, H2:], out=g)
            tanh(g, out=g)
            subtract(hs[t], g, out=tmp)  # h = g + z * (prev_h - g)
            multiply(z, tmp, out=tmp)
            add(g, tmp, out=hs[t + 1])
        return (hs[self.T],)

    def backward(self, dh_out, Wh, dWh):
        H, H2 = self.H, 2 * self.H
        act, dact, hs, ah, dax, dah = self.act, self.dact, self.hs, self.ah, self.dax, self.dah
        np.multiply(act, act, out=dact)
        np.subtract(act[..., :H2], dact[..., :H2], out=dact[..., :H2])
        np.subtract(1.0, dact[..., H2:], out=dact[..., H2:])
        dh, dnext, tmp, dz = self.dh, self.dnext, self.tmp, self.dz
        dnext[...] = 0.0
        add, multiply, subtract = np.add, np.multiply, np.subtract
        for t in range(self.T - 1, -1, -1):
            a, d, dr_t = act[t], dax[t], dah[t]
            z, r, g = a[:, :H], a[:, H:H2], a[:, H2:]
            add(dh_out[t], dnext, out=dh)
            subtract(hs[t], g, out=tmp)
            multiply(dh, tmp, out=d[:, :H])  # dz
            multiply(dh, z, out=dz)
            subtract(dh, dz, out=d[:, H2:])  # dg = dh * (1 - z)
            multiply(d[:, H2:], dact[t, :, H2:], out=d[:, H2:])  # on the candidate's input
            multiply(d[:, H2:], ah[t, :, H2:], out=d[:, H:H2])  # dr
            multiply(d[:, :H2], dact[t, :, :H2], out=d[:, :H2])
            np.copyto(dr_t[:, :H2], d[:, :H2])
            multiply(d[:, H2:], r, out=dr_t[:, H2:])
            if t:
                np.dot(dr_t, Wh, out=dnext)
                add(dnext, dz, out=dnext)
        np.dot(self.dah_flat.T, self.prev_flat, out=dWh)


LAYERS = {"rnn": _RNNLayer, "lstm": _LSTMLayer, "gru": _GRULayer}


class FastModel:
    """Preallocated buffers for training windows of one shape (T, B) of one model (Arch, dtype).

    loss_and_grads(params, x, y, state0, masks) returns (loss, grads, state): the grads are written into
    self.grads (or caller-owned arrays given at construction) and state (K, B, H) is a buffer valid until
    the next call.
    """

    def __init__(self, arch: Arch, T: int, B: int, dtype, grads: dict[str, np.ndarray] | None = None):
        dt = np.dtype(dtype)
        V, H, L = arch.vocab, arch.hidden, arch.layers
        self.arch, self.shape, self.dtype = arch, (T, B), dt
        TB = T * B
        cls = LAYERS[arch.cell]
        self.layers = [cls(T, B, V if l == 0 else H, H, dt, first=l == 0) for l in range(L)]
        self.dropped = [np.empty((T, B, H), dt) for _ in range(L - 1)]  # (T, B, H) a layer's h after dropout
        self.dh_in = [np.empty((T, B, H), dt) for _ in range(L)]  # (T, B, H) gradient on each layer's h
        self.state = np.empty((arch.state_rows, B, H), dt)  # (K, B, H) after the window
        self.probs = np.empty((TB, V), dt)  # (T*B, V) scores, probabilities, then dscores
        self.probs_flat = self.probs.reshape(-1)
        self.rowstat = np.empty((TB, 1), dt)  # (T*B, 1) per-row max, then sum
        self.picked = np.empty(TB, dt)
        self.rowbase = np.arange(TB, dtype=np.intp) * V
        self.pos = np.empty(TB, np.intp)
        self.onehot = np.zeros((TB, V), dt)  # (T*B, V) the first layer's inputs; zero between calls
        self.onehot_flat = self.onehot.reshape(-1)
        self.WhyT = np.empty((H, V), dt)
        if grads is None:
            grads = {k: np.empty(s, dt) for k, s in param_shapes(arch).items()}
        self.grads = grads

    def loss_and_grads(self, params, x, y, state0, masks=None):
        T, B = self.shape
        if x.shape != (T, B) or y.shape != (T, B):
            raise ValueError(f"window of shape {x.shape} does not fit a workspace for {(T, B)}")
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # divergence is reported by the caller
            return self._loss_and_grads(params, x, y, state0, masks)

    def _loss_and_grads(self, params, x, y, state0, masks):
        arch, g = self.arch, self.grads
        T, B = self.shape
        C, L = arch.carried, arch.layers
        key = arch.layer_key
        inputs = x
        for l, layer in enumerate(self.layers):
            carried = layer.forward(inputs, state0[l * C:(l + 1) * C], params[key(l, "Wx")], params[key(l, "Wh")],
                                    params[key(l, "b")])
            self.state[l * C:(l + 1) * C] = carried
            inputs = layer.h
            if l < L - 1 and masks is not None:
                inputs = np.multiply(layer.h, masks[l], out=self.dropped[l])
        top = self.layers[-1].h.reshape(T * B, -1)  # (T*B, H)

        # Scores, probabilities and the cross-entropy, as in core/fast_rnn.py.
        probs, stat = self.probs, self.rowstat
        np.copyto(self.WhyT, params["Why"].T)
        np.dot(top, self.WhyT, out=probs)
        probs += params["by"]
        np.maximum.reduce(probs, axis=1, out=stat[:, 0])
        probs -= stat
        np.exp(probs, out=probs)
        np.add.reduce(probs, axis=1, out=stat[:, 0])
        probs /= stat
        np.add(self.rowbase, y.reshape(-1), out=self.pos)
        np.take(self.probs_flat, self.pos, out=self.picked)
        np.log(self.picked, out=self.picked)
        loss = -float(self.picked.sum()) / B
        self.probs_flat[self.pos] -= 1.0
        if B != 1:
            probs /= B
        np.dot(probs.T, top, out=g["Why"])
        np.add.reduce(probs, axis=0, out=g["by"])
        np.dot(probs, params["Why"], out=self.dh_in[-1].reshape(T * B, -1))

        np.add(self.rowbase, x.reshape(-1), out=self.pos)
        self.onehot_flat[self.pos] = 1.0
        for l in range(L - 1, -1, -1):
            layer = self.layers[l]
            Wx, Wh = params[key(l, "Wx")], params[key(l, "Wh")]
            layer.backward(self.dh_in[l], Wh, g[key(l, "Wh")])
            below = x if l == 0 else (self.dropped[l - 1] if masks is not None else self.layers[l - 1].h)
            layer.input_grads(below, Wx, g[key(l, "Wx")], g[key(l, "b")], self.onehot)
            if l:
                if masks is not None:
                    np.multiply(layer.dx, masks[l - 1], out=self.dh_in[l - 1])
                else:
                    np.copyto(self.dh_in[l - 1], layer.dx)
        self.onehot_flat[self.pos] = 0.0
        return loss, g, self.state
