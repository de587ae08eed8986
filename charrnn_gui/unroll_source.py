"""Where the Unrolled view gets its numbers: one consistent copy of the weights and the next training window."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.unroll import peek_window


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
    """The one way the view reads the model: weights copied and the next window peeked while no step runs
    (session.held_trainer), or None when there is no model."""
    if session.trainer is None:
        return None
    with session.held_trainer() as t:
        ids, targets, state0 = peek_window(t)
        params = {k: v.copy() for k, v in t.params.items()}
        return UnrollInput(params, t.vocab, ids, targets, state0, float(t.temperature), int(t.iteration),
                           int(t.config.batch_size))
