"""Gate saturation statistics (Karpathy, Johnson, Fei-Fei 2015, section 4.2): how often each gate unit is pinned shut
or wide open over held-out text.

For every sigmoid gate of every layer of an LSTM (input i, forget f, output o) or a GRU (update z, reset r), and
every unit of it: the fraction of characters at which the gate is LEFT-saturated (activation < 0.1: shut) and the
fraction at which it is RIGHT-saturated (> 0.9: open). The paper plots one point per unit, x = left, y = right;
points near the diagonal x + y = 1 are units that are nearly always saturated one way or the other.

Only the sigmoid gates count, as in the paper: the LSTM's candidate g is a tanh (in [-1, 1]) and is left out. The
tanh RNN has no gates at all: its result has no gates (GateSaturation.gates is empty) and says why in .note.

The passage is read as S parallel streams (core.model.states_of with B = S) so that it costs T/S sequential steps:
each stream first reads `warmup` characters before its share (not counted) so that its counted characters start
from a state that has read text, not from zeros. Every character of the passage is counted exactly once.

Letters: N passage characters, S streams, T steps per stream, H hidden units, L layers.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .model import describe, initial_state, states_of
from .probe import probe_passage

LEFT = 0.1  # a gate below this is left-saturated (shut), as in the paper
RIGHT = 0.9  # a gate above this is right-saturated (open)
SIGMOID_GATES = {"rnn": (), "lstm": ("i", "f", "o"), "gru": ("z", "r")}  # the gates the paper plots, per cell
GATE_TITLES = {"i": "input gate", "f": "forget gate", "o": "output gate", "z": "update gate", "r": "reset gate"}
NO_GATES = ("A vanilla (tanh) RNN has no gates: nothing in it opens or shuts, so there is nothing to saturate in "
            "the paper's sense. Train an LSTM or a GRU to see this plot (the Hidden state tab and Look inside's "
            "“most saturated” ranking show how often the tanh units sit at ±1).")
PASSAGE = 2000  # default N: held-out characters read (bench/README.md has the cost per preset)
STREAMS = 32  # default S: the passage's parallel streams
WARMUP = 32  # default characters each stream reads before its counted share


class GateSaturation(NamedTuple):
    """Per layer, per sigmoid gate, per unit: the fractions of counted characters left- and right-saturated."""

    cell: str  # rnn | lstm | gru
    gates: tuple  # the gate names measured, e.g. ("i", "f", "o"); empty for the tanh RNN
    left: list  # per layer, {gate: (H,) fraction of characters with activation < LEFT}
    right: list  # per layer, {gate: (H,) fraction of characters with activation > RIGHT}
    characters: int  # N: characters counted
    note: str = ""  # why there is nothing to show (the tanh RNN), else ""

    @property
    def layers(self) -> int:
        return len(self.left)


def saturation_fractions(values, counted=None, left: float = LEFT, right: float = RIGHT):
    """values (T, S, H) of one gate (or (T, H)); counted: a (T, S) (or (T,)) mask of the steps that count, None
    for all. Returns (left fraction (H,), right fraction (H,)) over the counted steps."""
    a = np.asarray(values)
    if counted is None:
        counted = np.ones(a.shape[:-1], dtype=bool)
    m = np.asarray(counted, dtype=bool)[..., None]  # (T, S, 1)
    n = int(m.sum())
    if n == 0:
        raise ValueError("no step is counted: the passage is empty")
    axes = tuple(range(a.ndim - 1))
    lo = ((a < left) & m).sum(axis=axes) / n  # (H,)
    hi = ((a > right) & m).sum(axis=axes) / n  # (H,)
    return lo.astype(np.float64), hi.astype(np.float64)


def stream_layout(N: int, streams: int = STREAMS, warmup: int = WARMUP):
    """How N characters are read as parallel streams: (index (T, S) into the passage, counted (T, S) mask).

    Stream s counts characters [s*n, (s+1)*n) with n = ceil(N / S), and reads the `warmup` characters before them
    first (or as many as there are: stream 0 starts at the passage's start, like a sequential read). Indices past the
    passage's end point at its last character and are not counted. Every character is counted exactly once.
    """
    if N < 1:
        raise ValueError("the passage is empty")
    S = max(1, min(int(streams), N))
    n = math.ceil(N / S)
    S = math.ceil(N / n)  # no empty stream
    w = max(0, int(warmup)) if S > 1 else 0
    T = n + w
    starts = np.maximum(np.arange(S) * n - w, 0)  # (S,) the first position each stream reads
    pos = starts[None, :] + np.arange(T)[:, None]  # (T, S)
    share = np.arange(S)[None, :] * n  # (1, S) the first counted position
    counted = (pos >= share) & (pos < share + n) & (pos < N)  # (T, S)
    return np.minimum(pos, N - 1), counted


def gate_saturation(params, ids, streams: int = STREAMS, warmup: int = WARMUP) -> GateSaturation:
    """Run the model (core.model.states_of, no dropout) over the passage ids (N,) and count each sigmoid gate unit's
    saturated characters. A tanh RNN gives no gates and the note NO_GATES."""
    arch = describe(params)
    ids = np.asarray(ids, dtype=np.intp).ravel()  # (N,)
    gates = SIGMOID_GATES[arch.cell]
    if not gates:
        return GateSaturation(arch.cell, (), [], [], len(ids), NO_GATES)
    index, counted = stream_layout(len(ids), streams, warmup)  # (T, S) each
    dtype = params["Why"].dtype
    _, states, _ = states_of(params, ids[index], initial_state(arch, index.shape[1], dtype))  # per layer (T, S, H)
    left, right = [], []
    for layer in states:
        fractions = {g: saturation_fractions(layer[g], counted) for g in gates}
        left.append({g: lo for g, (lo, _) in fractions.items()})
        right.append({g: hi for g, (_, hi) in fractions.items()})
    return GateSaturation(arch.cell, gates, left, right, int(counted.sum()))


def held_out_ids(trainer, length: int = PASSAGE) -> np.ndarray:
    """About length characters of the trainer's held-out text (core.probe.probe_passage: the validation tail's
    opening, or the corpus's end without one) as ids (N,)."""
    text = probe_passage(trainer.data, trainer.vocab, trainer.n_train, length)
    return trainer.vocab.encode(text).astype(np.intp)
