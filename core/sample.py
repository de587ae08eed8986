"""Sampling text from the RNN: batched streams, temperature or argmax, inverse-CDF draws, hidden states kept."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .rnn import rnn_forward
from .vocab import Vocab


class SampleResult(NamedTuple):
    """A generated text and the hidden state after reading each of its characters."""

    text: str  # prime (if any) followed by the generated characters
    hidden: np.ndarray  # (len(text), H) hidden state after reading each character
    ids: np.ndarray  # (len(text),) character ids


def read(params, ids, h):
    """Feed ids (T, S) through the recurrence from h (S, H); return hidden states (T, S, H)."""
    return rnn_forward(ids, h, params["Wxh"], params["Whh"], params["bh"])[0]


def sample_streams(params, h, n, rng, temperature=1.0, argmax=False):
    """Draw n characters for each of S streams whose state h (S, H) has read its context.

    temperature: scalar or (S,) array, one per stream. Returns (ids (S, n), hidden (S, n, H)),
    hidden[s, t] being the state after reading the t-th generated character.
    """
    Wxh, Whh, Why, bh, by = (params[k] for k in ("Wxh", "Whh", "Why", "bh", "by"))
    S, H = h.shape
    V = Why.shape[0]
    dtype = Whh.dtype
    inv_temp = (1.0 / np.broadcast_to(np.asarray(temperature, dtype=np.float64), (S,)))[:, None].astype(dtype)  # (S, 1)
    ids = np.empty((n, S), dtype=np.int64)  # (n, S)
    hidden = np.empty((n, S, H), dtype=dtype)  # (n, S, H)
    u = rng.random((n, S))  # (n, S) uniforms for the inverse-CDF draws, drawn at once
    WxhT, WhhT, WhyT = Wxh.T, Whh.T, Why.T
    h = np.array(h, dtype=dtype)  # (S, H), own copy
    scores = np.empty((S, V), dtype=dtype)  # (S, V)
    for t in range(n):
        np.dot(h, WhyT, out=scores)
        scores += by
        if argmax:
            x = scores.argmax(axis=1)
        else:
            scores *= inv_temp
            scores -= scores.max(axis=1, keepdims=True)
            np.exp(scores, out=scores)
            cdf = np.cumsum(scores, axis=1)  # (S, V) unnormalised
            x = (cdf < u[t][:, None] * cdf[:, -1:]).sum(axis=1)
            np.minimum(x, V - 1, out=x)
        ids[t] = x
        hn = hidden[t]
        np.dot(h, WhhT, out=hn)
        hn += WxhT[x]
        hn += bh
        np.tanh(hn, out=hn)
        h = hn
    return ids.T.copy(), hidden.transpose(1, 0, 2).copy()


def sample_from_char(params, h, seed_ix, n, rng, temperature=1.0, argmax=False):
    """The lesson's sample(h, seed_ix, n): read seed_ix from h (H,), then draw n ids. Returns (ids (n,), hidden (n, H))."""
    h1 = read(params, np.array([[seed_ix]]), np.asarray(h).reshape(1, -1))[-1]  # (1, H)
    ids, hidden = sample_streams(params, h1, n, rng, temperature, argmax)
    return ids[0], hidden[0]


def generate(params, vocab: Vocab, length, rng, prime="", h=None, temperature=1.0, argmax=False,
             seed_ix=None) -> SampleResult:
    """Sample length characters after reading prime (unknown characters raise, naming them).

    h: (H,) starting state (zeros when None). With no prime, the first character is read from seed_ix
    (default: a random character) and is not part of the text.
    """
    H = params["Whh"].shape[0]
    h0 = np.zeros((1, H), dtype=params["Whh"].dtype) if h is None else np.asarray(h).reshape(1, H)
    if prime:
        pids = vocab.encode(prime).astype(np.int64)
        ph = read(params, pids[:, None], h0)[:, 0]  # (P, H)
        start = ph[-1:]
    else:
        pids = np.empty(0, dtype=np.int64)
        ph = np.empty((0, H), dtype=h0.dtype)
        seed = int(rng.integers(len(vocab))) if seed_ix is None else int(seed_ix)
        start = read(params, np.array([[seed]]), h0)[-1]
    ids, hidden = sample_streams(params, start, length, rng, temperature, argmax)
    all_ids = np.concatenate([pids, ids[0]])
    return SampleResult(vocab.decode(all_ids), np.concatenate([ph, hidden[0]]), all_ids)
