"""The lesson's formulation, written plainly: per-step one-hot column vectors and dicts of arrays.

An oracle for the engine's tests and the baseline of bench/. Deliberately slow and literal.
"""

from __future__ import annotations

import numpy as np


class NaiveMinCharRNN:
    """min-char-rnn as the lesson writes it (sorted vocabulary, global-style RandomState init, Adagrad)."""

    def __init__(self, data_ids, vocab_size, hidden_size=100, seq_length=25, learning_rate=0.1, seed=0):
        rng = np.random.RandomState(seed)
        self.data = list(int(i) for i in data_ids)
        self.V, self.H, self.T, self.lr = vocab_size, hidden_size, seq_length, learning_rate
        V, H = vocab_size, hidden_size
        self.Wxh = rng.randn(H, V) * 0.01
        self.Whh = rng.randn(H, H) * 0.01
        self.Why = rng.randn(V, H) * 0.01
        self.bh = np.zeros((H, 1))
        self.by = np.zeros((V, 1))
        self.mem = {k: np.zeros_like(getattr(self, k)) for k in ("Wxh", "Whh", "Why", "bh", "by")}
        self.hprev = np.zeros((H, 1))
        self.p = 0
        self.n = 0
        self.smooth_loss = -np.log(1.0 / V) * seq_length
        self.sample_rng = np.random.RandomState(seed + 1)

    def one_hot(self, i):
        x = np.zeros((self.V, 1))
        x[i] = 1
        return x

    def loss_fun(self, inputs, targets, hprev):
        """Forward and backward over one window: (loss, grads dict, last hidden)."""
        xs, hs, ps = {}, {-1: np.copy(hprev)}, {}
        loss = 0.0
        for t in range(len(inputs)):
            xs[t] = self.one_hot(inputs[t])
            hs[t] = np.tanh(self.Wxh @ xs[t] + self.Whh @ hs[t - 1] + self.bh)
            y = self.Why @ hs[t] + self.by
            ps[t] = np.exp(y) / np.sum(np.exp(y))
            loss += -np.log(ps[t][targets[t], 0])
        g = {k: np.zeros_like(getattr(self, k)) for k in ("Wxh", "Whh", "Why", "bh", "by")}
        dhnext = np.zeros_like(hs[0])
        for t in reversed(range(len(inputs))):
            dy = np.copy(ps[t])
            dy[targets[t]] -= 1
            g["Why"] += dy @ hs[t].T
            g["by"] += dy
            dh = self.Why.T @ dy + dhnext
            dhraw = (1 - hs[t] * hs[t]) * dh
            g["bh"] += dhraw
            g["Wxh"] += dhraw @ xs[t].T
            g["Whh"] += dhraw @ hs[t - 1].T
            dhnext = self.Whh.T @ dhraw
        for d in g.values():
            np.clip(d, -5, 5, out=d)
        return loss, g, hs[len(inputs) - 1]

    def sample(self, h, seed_ix, n):
        """n ids drawn with np.random.choice from hidden state h, starting by reading seed_ix."""
        x = self.one_hot(seed_ix)
        ixes = []
        for _ in range(n):
            h = np.tanh(self.Wxh @ x + self.Whh @ h + self.bh)
            y = self.Why @ h + self.by
            p = np.exp(y) / np.sum(np.exp(y))
            ix = self.sample_rng.choice(range(self.V), p=p.ravel())
            x = self.one_hot(ix)
            ixes.append(ix)
        return ixes

    def window(self):
        if self.p + self.T + 1 >= len(self.data) or self.n == 0:
            self.hprev = np.zeros((self.H, 1))
            self.p = 0
        inputs = self.data[self.p:self.p + self.T]
        targets = self.data[self.p + 1:self.p + self.T + 1]
        return inputs, targets

    def step(self, sample_every=100):
        """One iteration of the lesson's loop; returns the window's loss."""
        inputs, targets = self.window()
        if sample_every and self.n % sample_every == 0:
            self.sample(self.hprev, inputs[0], 200)
        loss, g, self.hprev = self.loss_fun(inputs, targets, self.hprev)
        self.smooth_loss = self.smooth_loss * 0.999 + loss * 0.001
        for k in ("Wxh", "Whh", "Why", "bh", "by"):
            param, mem = getattr(self, k), self.mem[k]
            mem += g[k] * g[k]
            param += -self.lr * g[k] / np.sqrt(mem + 1e-8)
        self.p += self.T
        self.n += 1
        return loss
