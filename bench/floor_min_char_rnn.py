"""The floor under the min-char-rnn preset's speed in NumPy: the lesson's iteration with the fewest NumPy calls we
know, and nothing else around them (no checks, no snapshots, no options, no bookkeeping).

Not a program for users. bench/lesson.py runs it beside `charrnn-train` and the lesson's program to show what
NumPy's per-call cost allows: per step of the window one matmul, one add and one tanh forward and one matmul,
one add and one multiply backward; about twenty calls for the scores, softmax (unshifted, as the lesson's),
loss and weight gradients of the whole window; two reductions for the clip check; seven passes of Adagrad over
the flat parameters; and the sampler's six calls per character (200 characters every 100 iterations). Same
model, data order, update and sampling as the lesson (and as the preset): tests/test_bench_floor.py checks its
losses against tests/naive.py. (Folding the input term into the matmul, or the output layer's gradient into
the backward matmul, saves a call per step but costs as much in the longer matmul: measured, no faster.)

    python bench/floor_min_char_rnn.py input.txt 3000     # prints like the lesson's program
"""

import os
import sys

if __name__ == "__main__":  # one BLAS thread, as charrnn-train; set before NumPy loads OpenBLAS
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402


class FloorMinCharRNN:
    """min-char-rnn (H=100, T=25, Adagrad 0.1, clip 5) on preallocated buffers; step() is one iteration."""

    def __init__(self, data, vocab_size, hidden_size=100, seq_length=25, learning_rate=0.1, seed=0,
                 sample_every=100, sample_length=200):
        V, H, T = vocab_size, hidden_size, seq_length
        self.V, self.H, self.T, self.lr = V, H, T, learning_rate
        self.sample_every, self.sample_length = sample_every, sample_length
        self.data = np.asarray(data, dtype=np.intp)  # (N,) character ids
        rng = np.random.RandomState(seed)
        shapes = {"Wxh": (H, V), "Whh": (H, H), "Why": (V, H), "bh": (H,), "by": (V,)}
        P = sum(int(np.prod(s)) for s in shapes.values())
        self.flat, self.gflat = np.zeros(P), np.zeros(P)  # (P,) parameters and gradients, one buffer each
        self.mem, self.a, self.b = np.zeros(P), np.empty(P), np.empty(P)  # (P,) Adagrad memory, two temporaries
        self.w, self.g, start = {}, {}, 0
        for k, s in shapes.items():
            n = int(np.prod(s))
            self.w[k], self.g[k] = self.flat[start:start + n].reshape(s), self.gflat[start:start + n].reshape(s)
            start += n
        for k in ("Wxh", "Whh", "Why"):  # the lesson's draws, in its order
            self.w[k][...] = rng.randn(*shapes[k]) * 0.01
        self.hs = np.zeros((T + 1, H))  # (T+1, H): hs[0] the carried state, hs[t+1] = h_t
        self.h_flat, self.prev_flat = self.hs[1:], self.hs[:-1]  # (T, H) views
        self.probs = np.empty((T, V))  # (T, V) scores, probabilities, then dscores
        self.probs_flat = self.probs.reshape(-1)
        self.rowmax = np.empty(T)  # (T,) per-row max, then per-row sum
        self.dh, self.dtanh, self.draw = np.empty((T, H)), np.empty((T, H)), np.empty((T, H))  # (T, H) each
        self.onehot = np.zeros((T, V))  # (T, V) the inputs as one-hot rows, zero between calls
        self.onehot_flat = self.onehot.reshape(-1)
        self.rowbase = np.arange(T) * V  # (T,) flat offset of each row
        self.xpos, self.ypos, self.picked = np.empty(T, np.intp), np.empty(T, np.intp), np.empty(T)
        self.tmp = np.empty(H)  # (H,) one step's matmul
        self.fwd = [(self.hs[t].dot, self.hs[t + 1]) for t in range(T)]  # (h_{t-1}.dot, h_t)
        self.bwd = [(self.draw[t + 1].dot, self.dh[t], self.dtanh[t], self.draw[t]) for t in range(T - 2, -1, -1)]
        # Sampling: one matmul per character of [h, 1] with [[Whh.T, Why.T], [bh, by]] (next recurrent term and
        # this step's scores at once), then exp, cumulative sum, searchsorted, the input row, tanh.
        n = sample_length
        self.sW = np.empty((H + 1, H + V))  # (H+1, H+V)
        self.sbuf = np.empty(H + V)  # (H+V,) recurrent term then scores
        self.sstates = np.ones((n + 1, H + 1))  # (n+1, H+1): states with the constant 1
        self.scdf = np.empty(V)
        self.sdots = [r.dot for r in self.sstates[:-1]]
        self.shids = [r[:H] for r in self.sstates[1:]]
        self.srng = np.random.default_rng(seed)
        self.p, self.n = 0, 0
        self.smooth_loss = -np.log(1.0 / V) * T

    def sample(self, seed_ix):
        """200 ids drawn from the carried state after reading seed_ix (the lesson's sample(hprev, inputs[0], 200))."""
        H, V = self.H, self.V
        Wxh, Whh, Why, bh, by = (self.w[k] for k in ("Wxh", "Whh", "Why", "bh", "by"))
        W = self.sW
        W[:H, :H], W[:H, H:], W[H, :H], W[H, H:] = Whh.T, Why.T, bh, by
        first = self.sstates[0, :H]
        np.dot(Whh, self.hs[0], out=first)
        first += Wxh[:, seed_ix]
        first += bh
        np.tanh(first, out=first)
        rec, scores, cdf = self.sbuf[:H], self.sbuf[H:], self.scdf
        WxhT = Wxh.T
        shift = float(np.abs(Why).sum(axis=1).max() + np.abs(by).max())  # |score| <= shift: exp cannot overflow
        W[H, H:] -= shift
        ids = []
        for dot_t, hn, u in zip(self.sdots, self.shids, self.srng.random(self.sample_length).tolist()):
            dot_t(W, out=self.sbuf)
            np.exp(scores, out=scores)
            np.add.accumulate(scores, out=cdf)
            k = min(int(cdf.searchsorted(u * cdf[-1])), V - 1)
            ids.append(k)
            np.add(rec, WxhT[k], out=hn)
            np.tanh(hn, out=hn)
        return ids

    def step(self):
        """One iteration of the lesson's loop; returns the window's loss."""
        T = self.T
        if self.p + T + 1 >= len(self.data) or self.n == 0:
            self.p = 0
            self.hs[0] = 0.0
        x, y = self.data[self.p:self.p + T], self.data[self.p + 1:self.p + T + 1]  # (T,) each
        sample = self.sample(int(x[0])) if self.n % self.sample_every == 0 else None
        Wxh, Whh, Why, bh, by = (self.w[k] for k in ("Wxh", "Whh", "Why", "bh", "by"))
        g = self.g
        dot, add, multiply, tanh = np.dot, np.add, np.multiply, np.tanh
        probs, tmp, h_flat = self.probs, self.tmp, self.h_flat
        np.take(Wxh.T, x, axis=0, out=h_flat)  # input terms of the whole window
        add(h_flat, bh, out=h_flat)
        WhhT = Whh.T
        for prev_dot, ht in self.fwd:
            prev_dot(WhhT, out=tmp)
            add(tmp, ht, out=ht)
            tanh(ht, out=ht)
        dot(h_flat, Why.T, out=probs)
        add(probs, by, out=probs)
        rowcol = self.rowmax[:, None]
        np.exp(probs, out=probs)  # no shift by the maximum: the lesson has none either
        np.add.reduce(probs, axis=1, out=self.rowmax)
        np.divide(probs, rowcol, out=probs)
        add(self.rowbase, y, out=self.ypos)
        np.take(self.probs_flat, self.ypos, out=self.picked)
        np.log(self.picked, out=self.picked)
        loss = -float(self.picked.sum())
        self.probs_flat[self.ypos] -= 1.0
        dot(probs, Why, out=self.dh)
        dot(probs.T, h_flat, out=g["Why"])
        np.add.reduce(probs, axis=0, out=g["by"])
        multiply(h_flat, h_flat, out=self.dtanh)
        np.subtract(1.0, self.dtanh, out=self.dtanh)
        multiply(self.dh[T - 1], self.dtanh[T - 1], out=self.draw[T - 1])
        for next_dot, dh_t, dtanh_t, draw_t in self.bwd:
            next_dot(Whh, out=tmp)
            add(dh_t, tmp, out=draw_t)
            multiply(draw_t, dtanh_t, out=draw_t)
        dot(self.draw.T, self.prev_flat, out=g["Whh"])
        np.add.reduce(self.draw, axis=0, out=g["bh"])
        add(self.rowbase, x, out=self.xpos)
        self.onehot_flat[self.xpos] = 1.0
        dot(self.draw.T, self.onehot, out=g["Wxh"])
        self.onehot_flat[self.xpos] = 0.0
        gf, a, b, mem = self.gflat, self.a, self.b, self.mem
        if np.maximum.reduce(gf) > 5.0 or np.minimum.reduce(gf) < -5.0:
            np.clip(gf, -5.0, 5.0, out=gf)
        multiply(gf, gf, out=a)  # Adagrad, in the lesson's order of operations
        add(mem, a, out=mem)
        add(mem, 1e-8, out=a)
        np.sqrt(a, out=a)
        multiply(gf, -self.lr, out=b)
        np.divide(b, a, out=b)
        add(self.flat, b, out=self.flat)
        self.hs[0] = self.hs[T]
        self.smooth_loss = self.smooth_loss * 0.999 + loss * 0.001
        self.p += T
        self.n += 1
        return loss, sample


def main(argv):
    path, iterations = argv[1], int(argv[2])
    with open(path, encoding="utf-8") as f:
        text = f.read()
    chars = sorted(set(text))
    codes = np.array([ord(c) for c in chars])
    ids = np.searchsorted(codes, np.frombuffer(text.encode("utf-32-le", "surrogatepass"), "<u4"))
    print(f"data has {len(text)} characters, {len(chars)} unique.")
    model = FloorMinCharRNN(ids, len(chars))
    for n in range(iterations):
        loss, sample = model.step()
        if sample is not None:
            print("----\n %s \n----" % "".join(chars[i] for i in sample))
        if n % 100 == 0:
            print("iter %d, loss: %f" % (n, model.smooth_loss))


if __name__ == "__main__":
    main(sys.argv)
