"""Where the Unrolled view gets its numbers: one consistent copy of the weights and the next training window."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class UnrollInput:
    """A copy of the current model and the window its next iteration trains on (stream 0)."""

    params: dict  # a copy of the weights, taken between two steps
    vocab: object  # core.Vocab of the model
    ids: np.ndarray  # (T,) the window's inputs
    targets: np.ndarray  # (T,) its targets
    state0: np.ndarray  # (K, H) the state carried into the window
    temperature: float  # the live sampling temperature
    iteration: int  # completed iterations of these weights
    streams: int  # B: the window shown is stream 1 of these


def take_training_window(session) -> UnrollInput | None:
    """The one way the view reads the model: the weights and the next window from one moment between two steps
    (the engine's Peek), or None when there is no model or the engine does not answer."""
    peeked = session.peek(wait_open=False)  # the view asks again when the engine has opened
    if peeked is None:
        return None
    return UnrollInput(peeked.params, session.model.vocab, peeked.ids, peeked.targets, peeked.state0,
                       float(peeked.temperature), int(peeked.iteration), int(peeked.streams))
