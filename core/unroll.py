"""The network unrolled over one window, step by step, as the lecture draws it: what every step reads, holds,
predicts and loses, and how much gradient reaches each hidden state on the way back.

Letters: T time steps, H hidden units, V vocabulary size, L layers, K rows of carried state (core.model).

For one stream, from the carried state at the window's start (h_{-1}), unroll_forward gives per step t the input
character x_t, every layer's states (h_t, and c_t and the gates for gated cells), the output distribution
y_t = softmax(W_hy h_t + b_y), the target and the step's loss -log y_t[target]; their sum is the window loss the
trainer minimises. unroll_backward walks that summed loss back through time and records ||dL/dh_t|| per step and
layer: the gradient that reaches each hidden state from its own output and from every later step. It stops at the
window's start: the carried state h_{-1} came from earlier windows whose steps are done (truncated
backpropagation through time), so the gradient that would reach it (dstate0) is reported but goes nowhere.

sample_step is test-time sampling as the slides draw it: read one character from a state, take the distribution
(with a temperature), draw one character, which becomes the next input.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .lstm import lstm_cell_gradient, lstm_step_backward
from .gru import gru_step_backward
from .model import STATE_NAMES, ModelCache, describe, model_forward
from .rnn import rnn_step_backward, softmax, temporal_affine_backward, temporal_softmax_loss


class Unrolled(NamedTuple):
    """One window unrolled for one stream: the forward pass per step and the gradient norms of its backward pass."""

    inputs: np.ndarray  # (T,) input ids x_t
    targets: np.ndarray  # (T,) target ids (the next characters)
    state0: np.ndarray  # (K, H) the carried state h_{-1} the window starts from
    states: list  # per layer, {name: (T, H)} for the names in STATE_NAMES[cell]
    scores: np.ndarray  # (T, V) unnormalised output scores W_hy h_t + b_y
    probs: np.ndarray  # (T, V) y_t = softmax(scores)
    losses: np.ndarray  # (T,) -log y_t[target]; they sum to the window loss
    dh: np.ndarray  # (L, T) ||dL/dh_t|| per layer and step, L the window's summed loss
    dc: np.ndarray | None  # (L, T) ||dL/dc_t|| for an LSTM, else None
    dstate0: np.ndarray  # (K, H) the gradient reaching the carried state, dropped by truncation
    grads: dict  # the weight gradients of the window's summed loss (as model_backward gives them)

    @property
    def loss(self) -> float:
        """The window loss: the sum of the per-step losses."""
        return float(self.losses.sum())


class UnrollCache(NamedTuple):
    """What unroll_backward needs from unroll_forward."""

    model: ModelCache  # model_forward's cache (one stream)
    dscores: np.ndarray  # (T, 1, V) gradient of the summed loss on the scores


def unroll_forward(params, ids, targets, state0):
    """The forward pass of one window for one stream, kept per step.

    ids, targets: (T,) ids; state0: (K, H) carried state. Returns (dict with inputs, targets, state0, states,
    scores, probs, losses; cache for unroll_backward).
    """
    arch = describe(params)
    ids = np.asarray(ids, dtype=np.intp).reshape(-1)  # (T,)
    targets = np.asarray(targets, dtype=np.intp).reshape(-1)  # (T,)
    state0 = np.asarray(state0, dtype=params["Why"].dtype).reshape(arch.state_rows, 1, arch.hidden)  # (K, 1, H)
    scores, _, cache = model_forward(params, ids[:, None], state0)  # (T, 1, V)
    probs = softmax(scores[:, 0].astype(np.float64))  # (T, V)
    T = len(ids)
    with np.errstate(divide="ignore"):
        losses = -np.log(probs[np.arange(T), targets])  # (T,)
    _, dscores = temporal_softmax_loss(scores.copy(), targets[:, None])  # (T, 1, V)
    states = []
    for outputs, steps in zip(cache.outputs, cache.layers):
        layer = {}
        for name in STATE_NAMES[arch.cell]:
            full = outputs[name] if name in outputs else np.stack([getattr(step, name) for step in steps])
            layer[name] = full[:, 0]  # (T, H)
        states.append(layer)
    out = dict(inputs=ids, targets=targets, state0=state0[:, 0], states=states, scores=scores[:, 0], probs=probs,
               losses=losses)
    return out, UnrollCache(cache, dscores)


def unroll_backward(cache: UnrollCache, weights: bool = True):
    """Backpropagate the window's summed loss step by step, recording the gradient on every hidden state.

    Returns (dh (L, T) norms, dc (L, T) norms or None, dstate0 (K, H), grads dict). The walk is model_backward's
    (core.model), one step at a time so that the gradient on each h_t is seen whole: from its own output (or the
    layer above) plus from step t+1. It ends at the truncation boundary: dstate0 is computed, never applied.
    weights=False skips the weight gradients (grads is then {}), which cost most of the time for a large H: the
    step caches get zero-width copies of the inputs the weight gradients alone read, so the cells' own backward
    functions take their outer products with nothing.
    """
    model, dscores = cache
    arch = model.arch
    C, T = arch.carried, dscores.shape[0]
    grads = {}
    dx, grads["Why"], grads["by"] = temporal_affine_backward(dscores, model.affine)  # (T, 1, H)
    dh_norm = np.zeros((arch.layers, T))  # (L, T)
    dc_norm = np.zeros((arch.layers, T)) if arch.cell == "lstm" else None  # (L, T)
    dstate0 = np.zeros((arch.state_rows, arch.hidden), dtype=dx.dtype)  # (K, H)
    for layer in reversed(range(arch.layers)):
        steps = model.layers[layer]
        dnext = np.zeros_like(dx[0])  # (1, H) gradient reaching h_t from step t+1
        dnext_c = np.zeros_like(dx[0])  # (1, H) the same for an LSTM's c_t
        dWx, dWh = np.zeros_like(steps[0].Wx), np.zeros_like(steps[0].Wh)
        db = np.zeros_like(steps[0].Wh[:, 0])
        if not weights:
            steps = [_without_weight_inputs(step, arch.cell) for step in steps]
        below = []
        for t in reversed(range(T)):
            dh_t = dx[t] + dnext  # (1, H) the whole gradient on h_t
            dh_norm[layer, t] = np.linalg.norm(dh_t)
            if arch.cell == "lstm":
                dc_norm[layer, t] = np.linalg.norm(lstm_cell_gradient(dh_t, dnext_c, steps[t]))
                dx_t, dnext, dnext_c, dWx_t, dWh_t, db_t = lstm_step_backward(dh_t, dnext_c, steps[t])
            elif arch.cell == "gru":
                dx_t, dnext, dWx_t, dWh_t, db_t = gru_step_backward(dh_t, steps[t])
            else:
                dx_t, dnext, dWx_t, dWh_t, db_t = rnn_step_backward(dh_t, steps[t])
            below.append(dx_t)
            if weights:
                dWx += dWx_t
                dWh += dWh_t
                db += db_t
        dstate0[layer * C] = dnext[0]
        if arch.cell == "lstm":
            dstate0[layer * C + 1] = dnext_c[0]
        if weights:
            for name, g in (("Wx", dWx), ("Wh", dWh), ("b", db)):
                grads[arch.layer_key(layer, name)] = g
        dx = np.stack(below[::-1])  # (T, 1, D) the gradient on the layer below's outputs
    return dh_norm, dc_norm, dstate0, grads if weights else {}


def _without_weight_inputs(step, cell: str):
    """A step cache whose inputs read only by the weight gradients are zero-width (1, 0): x always, and prev_h for
    the tanh and LSTM cells (the GRU's gates read prev_h)."""
    nothing = step.x[:, :0]  # (1, 0)
    if cell == "gru":
        return step._replace(x=nothing)
    return step._replace(x=nothing, prev_h=nothing)


def unroll(params, ids, targets, state0, weights: bool = True) -> Unrolled:
    """One window of one stream, forward and backward: see Unrolled. ids, targets (T,); state0 (K, H).
    weights=False leaves the weight gradients out (grads is {}): the view needs only the norms."""
    out, cache = unroll_forward(params, ids, targets, state0)
    dh, dc, dstate0, grads = unroll_backward(cache, weights)
    return Unrolled(dh=dh, dc=dc, dstate0=dstate0, grads=grads, **out)


def peek_window(trainer, stream: int = 0):
    """What the trainer's next iteration trains on, for one stream, without changing the trainer.

    Returns (ids (T,), targets (T,), state0 (K, H)): the same window and carried state Trainer.window() will give
    (its reset rules applied to copies).
    """
    cfg = trainer.config
    T = cfg.seq_length
    pointer, state0 = trainer.pointer, trainer.state[:, stream].copy()  # (K, H)
    if pointer + T + 1 >= trainer.seg_len or trainer.iteration == 0:
        pointer = 0
        state0[...] = 0.0
    every = cfg.state_reset_every
    if every and trainer.iteration % every == 0 and (trainer.iteration // every) % cfg.batch_size == stream:
        state0[...] = 0.0
    start = int(trainer.offsets[stream]) + pointer
    chunk = np.asarray(trainer.data[start:start + T + 1], dtype=np.intp)  # (T+1,)
    return chunk[:-1], chunk[1:], state0


class SampleStep(NamedTuple):
    """One step of test-time sampling: what the network holds after reading x, its distribution and the draw."""

    input: int  # the id read, x_t
    states: list  # per layer, {name: (H,)} after reading it
    state: np.ndarray  # (K, H) the carried state after it (the next step starts here)
    probs: np.ndarray  # (V,) y_t at the temperature
    drawn: int  # the id drawn from probs: the next step's input


def temperature_probs(scores, temperature: float):
    """softmax(scores / temperature) (V,): below 1 sharper, above 1 flatter."""
    if not temperature > 0:
        raise ValueError("temperature must be positive")
    return softmax(np.asarray(scores, dtype=np.float64) / temperature)


def draw(probs, rng) -> int:
    """One id drawn from a distribution (V,)."""
    p = np.asarray(probs, dtype=np.float64)
    return int(rng.choice(len(p), p=p / p.sum()))


def sample_step(params, state, x: int, temperature: float, rng) -> SampleStep:
    """Read id x from state (K, H): the distribution at the temperature and one id drawn from it."""
    out, _ = unroll_forward(params, [x], [0], state)
    probs = temperature_probs(out["scores"][0], temperature)  # (V,)
    after = carried_at(out["states"], describe(params).cell, -1)  # (K, H)
    states = [{name: v[0] for name, v in named.items()} for named in out["states"]]
    return SampleStep(int(x), states, after, probs, draw(probs, rng))


def carried_at(states, cell: str, t: int) -> np.ndarray:
    """The carried state (K, H) after step t, from per-layer states {name: (T, H)}: h per layer, and c for an LSTM."""
    rows = []
    for named in states:
        rows.append(named["h"][t])
        if cell == "lstm":
            rows.append(named["c"][t])
    return np.stack(rows)  # (K, H)
