"""Probing a model: hidden states and next-char predictions over a text, and unit rankings (LSTMVis-style).

Letters: L probe length, H hidden units, V vocabulary size, k ranked entries.
Everything here is a pure function of its arguments: no training state is read or changed.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .model import as_state, states_of
from .rnn import softmax
from .vocab import Vocab

SATURATED = 0.95  # |h| above this counts as saturated
SPAN_EPS = 0.05  # added to the pooled std in rank_span's score, in activation units (see rank_span)
UNIT_RANKINGS = ("most_active", "most_variable", "most_saturated")


class ProbeResult(NamedTuple):
    """What a model computed while reading a text, one row per character."""

    text: str  # the probed text
    ids: np.ndarray  # (L,) character ids
    hidden: np.ndarray  # (L, H) the top layer's hidden state after reading each character
    probs: np.ndarray  # (L, V) next-character distribution after each character; probs[i] predicts text[i+1]
    actual_prob: np.ndarray  # (L-1,) probability given to the character that actually came next
    bits_per_char: float  # mean -log2(actual_prob) over the L-1 predicted characters; nan when L == 1
    states: list | None = None  # per layer, {name: (L, H)}: "h", and "c", "i", "f", "o", "g" (LSTM) or
    #                             "z", "r", "g" (GRU), as core.model.STATE_NAMES lists them

    def top_k(self, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
        """The k likeliest next characters after each position: (ids (L, k), probs (L, k)), likeliest first."""
        k = min(k, self.probs.shape[1])
        order = np.argsort(-self.probs, axis=1, kind="stable")[:, :k]  # (L, k)
        return order, np.take_along_axis(self.probs, order, axis=1)


def probe(params, vocab: Vocab, text: str, h0=None) -> ProbeResult:
    """Run the model over text from h0 ((H,), or (K, H) for any model; zeros when None); unknown characters
    raise UnknownCharactersError."""
    if not text:
        raise ValueError("the probe text is empty")
    ids = vocab.encode(text).astype(np.intp)  # (L,)
    scores, layer_states, _ = states_of(params, ids[:, None], as_state(params, h0))  # (L, 1, V), {name: (L, 1, H)}
    states = [{name: a[:, 0] for name, a in layer.items()} for layer in layer_states]  # {name: (L, H)} per layer
    probs = softmax(scores[:, 0])  # (L, V)
    actual = probs[np.arange(len(ids) - 1), ids[1:]]  # (L-1,)
    with np.errstate(divide="ignore"):
        bits = float(-np.log2(actual.astype(np.float64)).mean()) if len(actual) else math.nan
    return ProbeResult(text, ids, states[-1]["h"], probs, actual, bits, states)


def rank_span(hidden, start: int, stop: int, k: int = 10) -> list[tuple[int, float]]:
    """Units that separate the span hidden[start:stop] from the rest of the probe: [(unit, score)], k best.

    score = (mean inside − mean outside) / (pooled within-group std + SPAN_EPS), a standardised mean
    difference (Cohen's d). Units are ranked by |score| and the sign is reported: positive for a unit
    that is high inside the span, negative for one that is low inside it; both are span detectors.
    "Outside" is every other character of the probe, so a unit that fires on this span and on nothing
    else scores highest, and one that fires on every similar span still scores well.
    """
    # Why this score: it needs no threshold (an untrained unit may swing only ±0.3, a trained one ±1),
    # and dividing by the spread inside each group demotes units that are merely noisy. SPAN_EPS keeps
    # near-constant units (dead, or saturated everywhere) from winning on differences of 1e-4.
    L, H = hidden.shape
    if not 0 <= start < stop <= L:
        raise ValueError(f"span [{start}, {stop}) is not a non-empty part of the {L} probed characters")
    if stop - start == L:
        raise ValueError("the span covers the whole probe; select a part of it")
    inside = np.zeros(L, dtype=bool)  # (L,)
    inside[start:stop] = True
    a, b = hidden[inside].astype(np.float64), hidden[~inside].astype(np.float64)  # (n_in, H), (n_out, H)
    pooled = np.sqrt((a.var(axis=0) * len(a) + b.var(axis=0) * len(b)) / L)  # (H,)
    score = (a.mean(axis=0) - b.mean(axis=0)) / (pooled + SPAN_EPS)  # (H,)
    return _best(score, np.abs(score), k)


def rank_units(hidden, how: str, k: int = 10, bounds=(-1.0, 1.0)) -> list[tuple[int, float]]:
    """The k units with the largest statistic over the probe, best first: [(unit, statistic)].

    how: "most_active" (mean |h|), "most_variable" (std of h over time) or "most_saturated"
    (fraction of characters within 2.5% of the range's width from either end: |h| > 0.95 for a tanh state).
    hidden may be any state (L, H); bounds is its range (core.model.STATE_RANGES), e.g. (0, 1) for a gate,
    and None for an unbounded one (the LSTM's cell state), which cannot saturate: ValueError for it.
    """
    h = np.asarray(hidden, dtype=np.float64)  # (L, H)
    if how == "most_active":
        stat = np.abs(h).mean(axis=0)  # (H,)
    elif how == "most_variable":
        stat = h.std(axis=0)  # (H,)
    elif how == "most_saturated":
        if bounds is None:
            raise ValueError("an unbounded state (such as the cell state c) has no ends to saturate at")
        lo, hi = bounds
        unit_scale = (2.0 * h - (lo + hi)) / (hi - lo)  # (L, H) the range mapped onto [-1, 1]
        stat = (np.abs(unit_scale) > SATURATED).mean(axis=0)  # (H,)
    else:
        raise ValueError(f"unknown ranking {how!r}; choose from {', '.join(UNIT_RANKINGS)}")
    return _best(stat, stat, k)


def _best(values, key, k):
    """[(unit, values[unit])] for the k units with the largest key, ties broken by lower unit number."""
    order = np.argsort(-key, kind="stable")[:max(0, k)]  # (k,)
    return [(int(u), float(values[u])) for u in order]


def default_probe_text(trainer, length: int = 600) -> str:
    """About length characters of held-out text to probe with: the validation tail's opening passage
    (or the corpus's end when there is no validation split), starting at a paragraph or line start when
    one is near, and ending at a line end when one is near."""
    return probe_passage(trainer.data, trainer.vocab, trainer.n_train, length)


def probe_passage(data, vocab: Vocab, n_train: int, length: int = 600) -> str:
    """default_probe_text for encoded data (N,) whose first n_train characters are trained on; without a
    held-out tail (fewer than 2 characters, as Trainer.has_validation counts) it is the corpus's end."""
    slack = max(1, length // 3)  # how far to look for a nicer start or end
    if len(data) - n_train >= 2:
        region = data[n_train:n_train + length + slack]  # (≤ length+slack,)
    else:
        region = data[max(0, len(data) - length - slack):]
    text = vocab.decode(region)
    if len(text) <= length:
        return text
    head = text[:slack]
    for mark in ("\n\n", "\n"):
        cut = head.find(mark)
        if cut >= 0:
            text = text[cut + len(mark):]
            break
    passage = text[:length]
    end = passage.rfind("\n")
    if end >= length - slack:
        passage = passage[:end + 1]
    return passage
