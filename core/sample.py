"""Sampling text from the model: batched streams, temperature or argmax, inverse-CDF draws, states kept.

The lesson's one tanh layer has its own quick loops (one fused product per character); stacked and gated
models step through the readable cells of core/model.py, recording every layer's states and gates.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .gru import gru_step_forward
from .lstm import lstm_step_forward
from .model import STATE_NAMES, as_state, describe, layer_weights, states_of
from .rnn import rnn_step_forward
from .vocab import Vocab


class SampleResult(NamedTuple):
    """A generated text and the states after reading each of its characters."""

    text: str  # prime (if any) followed by the generated characters
    hidden: np.ndarray  # (len(text), H) the top layer's hidden state after reading each character
    ids: np.ndarray  # (len(text),) character ids
    states: list | None = None  # per layer, {name: (len(text), H)} for the names in core.model.STATE_NAMES


def sample_streams(params, h, n, rng, temperature=1.0, argmax=False):
    """Draw n characters for each of S streams whose state h has read its context.

    h: (S, H) for the lesson's one tanh layer, or the carried state (K, S, H) of any model.
    temperature: scalar or (S,) array, one per stream. Returns (ids (S, n), hidden (S, n, H)),
    hidden[s, t] being the top layer's state after reading the t-th generated character.
    Draws are inverse-CDF with one uniform per character, rng.random((n, S)) drawn at once.
    """
    ids, states = sample_states(params, h, n, rng, temperature, argmax)
    return ids, states[-1]["h"]


def sample_states(params, h, n, rng, temperature=1.0, argmax=False):
    """sample_streams, returning (ids (S, n), states): states[layer] maps each name of
    core.model.STATE_NAMES to (S, n, H), the values after reading each generated character."""
    if not describe(params).lesson:
        return _sample_stack(params, as_state(params, h), n, rng, temperature, argmax)
    ids, hidden = _sample_lesson(params, np.asarray(h).reshape(-1, params["Whh"].shape[0]), n, rng, temperature,
                                 argmax)
    return ids, [{"h": hidden}]


def _sample_lesson(params, h, n, rng, temperature, argmax):
    """sample_streams for one tanh layer, h (S, H): one fused product per character."""
    Wxh, Whh, Why, bh, by = (params[k] for k in ("Wxh", "Whh", "Why", "bh", "by"))
    S, H = np.shape(h)
    V = Why.shape[0]
    dtype = Whh.dtype
    inv_temp = 1.0 / np.broadcast_to(np.asarray(temperature, dtype=np.float64), (S,))  # (S,)
    ids = np.empty((n, S), dtype=np.int64)  # (n, S)
    u = rng.random((n, S))  # (n, S) uniforms for the inverse-CDF draws, drawn at once
    # One matmul per character: the state with a constant 1 appended, times [[Whh.T, Why.T], [bh, by]],
    # gives both the next state's recurrent term (bias included) and this state's scores.
    W = np.empty((H + 1, H + V), dtype=dtype)  # (H+1, H+V)
    W[:H, :H], W[:H, H:] = Whh.T, Why.T
    W[H, :H], W[H, H:] = bh, by
    uniform_temp = argmax or bool(np.all(inv_temp == inv_temp[0]))
    if uniform_temp and not argmax and inv_temp[0] != 1.0:
        W[:, H:] *= dtype.type(inv_temp[0])  # scores / temperature, folded into the weights once
    WxhT = np.ascontiguousarray(Wxh.T)  # (V, H) a character's input term is one row
    if S == 1 and not argmax:
        states = np.empty((n + 1, 1, H + 1), dtype=dtype)  # (n+1, 1, H+1) states with the constant 1
        states[:, :, H] = 1.0
        states[0, :, :H] = h
        # Shift every score by one constant instead of each step's maximum when the scores are provably
        # within a range whose exponentials neither overflow nor underflow: |h| is at most max(1, |h0|).
        hmax = max(1.0, float(np.abs(states[0, 0, :H]).max()))
        reach = float((np.abs(W[:H, H:]).sum(axis=0) * hmax + np.abs(W[H, H:])).max())  # |score| <= reach
        bounded = np.isfinite(reach) and 2.0 * reach < (600.0 if dtype == np.float64 else 60.0)
        if bounded:
            W[H, H:] -= dtype.type(reach)
        _draw_one_stream(states, W, np.empty(H + V, dtype=dtype), WxhT, u[:, 0].tolist(), ids[:, 0], H, V,
                         bounded)
        return ids.T.copy(), states[1:, :, :H].transpose(1, 0, 2).copy()
    # S streams: contiguous (S, H) states (ufuncs on strided views cost several times more), so the
    # biases are added instead: bh folded into the input rows, the scores' bias once per step.
    WxbT = WxhT + W[H, :H]  # (V, H) input term plus bh
    Wm = np.ascontiguousarray(W[:H])  # (H, H+V)
    states = np.empty((n + 1, S, H), dtype=dtype)  # (n+1, S, H)
    states[0] = h
    per_stream = None if uniform_temp else inv_temp[:, None].astype(dtype)  # (S, 1)
    # As for one stream: a constant shift per stream, folded into the scores' bias, replaces each step's
    # maximum when the (temperature-scaled) scores provably stay within exp's range.
    score_bias = np.array(np.broadcast_to(W[H, H:], (S, V)), dtype=dtype)  # (S, V) by (scaled when uniform)
    bounded = False
    if not argmax:
        hmax = max(1.0, float(np.abs(states[0]).max()))
        reach = float((np.abs(W[:H, H:]).sum(axis=0) * hmax + np.abs(W[H, H:])).max())  # unscaled |score| bound
        scale = inv_temp if per_stream is not None else np.ones(S)  # (S,) what multiplies the scores later
        limit = 600.0 if dtype == np.float64 else 60.0
        bounded = bool(np.isfinite(reach) and (2.0 * reach * scale).max() < limit)
        if bounded:  # (s + by - reach / scale) * scale = s * scale + by * scale - reach
            score_bias -= (reach / scale)[:, None].astype(dtype)
    buf = np.empty((S, H + V), dtype=dtype)  # (S, H+V) recurrent terms then scores
    rec, scores = buf[:, :H], buf[:, H:]
    rowmax = np.empty((S, 1), dtype=dtype)
    cdf = np.empty((S, V), dtype=dtype)
    total = cdf[:, V - 1]  # (S,) view: each row's unnormalised total
    thr = np.empty(S, dtype=dtype)
    below = np.empty((S, V), dtype=bool)
    x = np.empty(S, dtype=np.intp)
    dot, add, tanh = np.dot, np.add, np.tanh
    exp, accumulate, multiply, less, count = np.exp, np.add.accumulate, np.multiply, np.less, np.add.reduce
    for t in range(n):
        dot(states[t], Wm, out=buf)
        add(scores, score_bias, out=scores)
        if argmax:
            x = scores.argmax(axis=1)
        else:
            if per_stream is not None:
                multiply(scores, per_stream, out=scores)
            if not bounded:
                np.maximum.reduce(scores, axis=1, out=rowmax[:, 0])
                np.subtract(scores, rowmax, out=scores)
            exp(scores, out=scores)
            accumulate(scores, axis=1, out=cdf)  # (S, V) unnormalised CDF
            multiply(u[t], total, out=thr)
            # The draw is the number of CDF entries below u * total: at most V-1, since u < 1.
            less(cdf, thr[:, None], out=below)
            count(below, axis=1, out=x)
        ids[t] = x
        hn = states[t + 1]
        add(rec, WxbT[x], out=hn)
        tanh(hn, out=hn)
    return ids.T.copy(), states[1:].transpose(1, 0, 2).copy()


def _draw_one_stream(states, W, buf, WxhT, u, out_ids, H, V, bounded):
    """The S=1 loop of sample_streams on 1-D views: the fewest NumPy calls per character.

    bounded: the scores' bias row already subtracts a bound, so no per-step maximum is needed.
    """
    add, tanh, exp, subtract = np.add, np.tanh, np.exp, np.subtract
    accumulate, vmax = np.add.accumulate, np.maximum.reduce
    rec, scores = buf[:H], buf[H:]
    cdf = np.empty(V, dtype=buf.dtype)
    rows = [s[0] for s in states]  # (H+1,) state rows, the constant 1 included
    dots = [r.dot for r in rows[:-1]]  # bound methods: a method call costs less than np.dot's dispatch
    hids = [r[:H] for r in rows[1:]]  # (H,) where each new state is written
    inputs = list(WxhT)  # (H,) row views, one per character, made once
    last = V - 1
    picked = []
    draw = picked.append
    for dot_t, hn, ut in zip(dots, hids, u):
        dot_t(W, out=buf)
        if not bounded:
            subtract(scores, vmax(scores), out=scores)
        exp(scores, out=scores)
        accumulate(scores, out=cdf)
        k = int(cdf.searchsorted(ut * cdf[last]))
        if k > last:  # only for a NaN total
            k = last
        draw(k)
        add(rec, inputs[k], out=hn)
        tanh(hn, out=hn)
    out_ids[:] = picked


def _sample_stack(params, state, n, rng, temperature, argmax):
    """sample_states for any model from its carried state (K, S, H), one readable step per layer and character."""
    arch = describe(params)
    K, S, H = state.shape
    V, C = arch.vocab, arch.carried
    Why, by = params["Why"], params["by"]
    dtype = Why.dtype
    inv_temp = 1.0 / np.broadcast_to(np.asarray(temperature, dtype=np.float64), (S,))  # (S,)
    u = rng.random((n, S))  # (n, S) uniforms, drawn at once as for one tanh layer
    eye = np.eye(V, dtype=dtype)  # (V, V) one-hot rows
    weights = [layer_weights(params, arch, layer) for layer in range(arch.layers)]
    carried = [state[k] for k in range(K)]  # K arrays (S, H)
    names = STATE_NAMES[arch.cell]
    record = [{name: np.empty((n, S, H), dtype) for name in names} for _ in range(arch.layers)]  # (n, S, H) each
    ids = np.empty((n, S), dtype=np.int64)  # (n, S)
    top = carried[arch.top]
    for t in range(n):
        scores = (top @ Why.T + by).astype(np.float64)  # (S, V)
        if argmax:
            x = scores.argmax(axis=1)
        else:
            scores *= inv_temp[:, None]
            scores -= scores.max(axis=1, keepdims=True)
            cdf = np.cumsum(np.exp(scores), axis=1)  # (S, V) unnormalised CDF
            x = np.minimum((cdf < (u[t] * cdf[:, -1])[:, None]).sum(axis=1), V - 1)
        ids[t] = x
        inputs = eye[x]  # (S, V)
        for layer, (Wx, Wh, b) in enumerate(weights):
            rows, out = slice(layer * C, (layer + 1) * C), record[layer]
            if arch.cell == "lstm":
                h, c, cache = lstm_step_forward(inputs, carried[layer * C], carried[layer * C + 1], Wx, Wh, b)
                carried[rows] = [h, c]
                out["c"][t] = c
            elif arch.cell == "gru":
                h, cache = gru_step_forward(inputs, carried[layer * C], Wx, Wh, b)
                carried[rows] = [h]
            else:
                h, cache = rnn_step_forward(inputs, carried[layer * C], Wx, Wh, b)
                carried[rows] = [h]
            out["h"][t] = h
            for name in names:
                if name not in ("h", "c"):
                    out[name][t] = getattr(cache, name)
            inputs = h
        top = carried[arch.top]
    states = [{name: a.transpose(1, 0, 2).copy() for name, a in layer.items()} for layer in record]  # (S, n, H)
    return ids.T.copy(), states


def read(params, ids, h):
    """Feed ids (T, S) from the state h ((S, H) for one tanh layer, or (K, S, H)).

    Returns (states per layer {name: (T, S, H)}, the carried state (K, S, H) after the last id).
    """
    _, states, state = states_of(params, ids, as_state(params, h, ids.shape[1]))
    return states, state


def sample_from_state(params, h, seed_ix, n, rng, temperature=1.0, argmax=False):
    """Read seed_ix from one stream's state h ((H,) or (K, H)), then draw n ids.

    Returns (ids (n,), states per layer {name: (n, H)}).
    """
    _, state = read(params, np.array([[seed_ix]]), as_state(params, h))
    ids, states = sample_states(params, state, n, rng, temperature, argmax)
    return ids[0], [{name: a[0] for name, a in layer.items()} for layer in states]


def sample_from_char(params, h, seed_ix, n, rng, temperature=1.0, argmax=False):
    """The lesson's sample(h, seed_ix, n): read seed_ix from h ((H,), or (K, H) for any model), then draw n
    ids. Returns (ids (n,), hidden (n, H)), the top layer's state after each drawn character."""
    ids, states = sample_from_state(params, h, seed_ix, n, rng, temperature, argmax)
    return ids, states[-1]["h"]


def generate(params, vocab: Vocab, length, rng, prime="", h=None, temperature=1.0, argmax=False,
             seed_ix=None) -> SampleResult:
    """Sample length characters after reading prime (unknown characters raise, naming them).

    h: one stream's starting state, (H,) or (K, H) (zeros when None). With no prime, the first character is
    read from seed_ix (default: a random character) and is not part of the text.
    """
    h0 = as_state(params, h)  # (K, 1, H)
    if prime:
        pids = vocab.encode(prime).astype(np.int64)
        primed, start = read(params, pids[:, None], h0)  # {name: (P, 1, H)} per layer, (K, 1, H)
    else:
        pids = np.empty(0, dtype=np.int64)
        seed = int(rng.integers(len(vocab))) if seed_ix is None else int(seed_ix)
        primed, start = None, read(params, np.array([[seed]]), h0)[1]
    ids, states = sample_states(params, start, length, rng, temperature, argmax)  # {name: (1, n, H)}
    all_ids = np.concatenate([pids, ids[0]])
    states = [{name: a[0] if primed is None else np.concatenate([primed[layer][name][:, 0], a[0]])
               for name, a in layer_states.items()} for layer, layer_states in enumerate(states)]
    return SampleResult(vocab.decode(all_ids), states[-1]["h"], all_ids, states)
