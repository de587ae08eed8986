"""The model: 1-3 stacked layers of one cell (rnn, lstm or gru) under the lesson's read-out, forward and backward.

Letters: T time steps, B parallel streams, H hidden units, V vocabulary size, L layers, G gate blocks per
cell (1 rnn, 4 lstm, 3 gru), K rows of carried state (L for rnn and gru, 2L for lstm: h then c per layer).

Parameters: one tanh layer keeps the lesson's names Wxh (H, V), Whh (H, H), bh (H,). Every other model has,
per layer l, "L{l}.Wx" (G*H, D), "L{l}.Wh" (G*H, H) and "L{l}.b" (G*H,), with D = V for layer 0 (one-hot
characters) and H above it. All models read out with Why (V, H) and by (V,) from the top layer's h.

The carried state is one array (K, B, H); between layers, dropout multiplies a layer's outputs by a fixed
mask of 0 and 1/(1-p) before the next layer reads them (training only). This file is the readable
reference; core/fast_model.py computes the same on preallocated buffers.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .gru import gru_backward, gru_forward
from .lstm import lstm_backward, lstm_forward
from .rnn import (init_params, recurrent_init, rnn_forward, rnn_layer_backward, rnn_layer_forward,
                  temporal_affine_backward, temporal_affine_forward, temporal_softmax_loss)

CELLS = ("rnn", "lstm", "gru")
GATE_BLOCKS = {"rnn": 1, "lstm": 4, "gru": 3}  # G: blocks of H rows stacked in Wx, Wh and b
CARRIED = {"rnn": ("h",), "lstm": ("h", "c"), "gru": ("h",)}  # state carried from window to window, per layer
STATE_NAMES = {"rnn": ("h",), "lstm": ("h", "c", "i", "f", "o", "g"), "gru": ("h", "z", "r", "g")}
STATE_MEANINGS = {  # one line each, for a legend or a tooltip; the range says how to colour it
    "h": "hidden state, in [-1, 1]",
    "c": "cell state (LSTM), unbounded: it adds up over time",
    "i": "input gate, in [0, 1]: how much of the candidate enters the cell state",
    "f": "forget gate, in [0, 1]: how much of the cell state is kept",
    "o": "output gate, in [0, 1]: how much of tanh(c) shows in h",
    "g": "candidate, in [-1, 1]: the new content proposed this step",
    "z": "update gate (GRU), in [0, 1]: how much of the old h is kept",
    "r": "reset gate (GRU), in [0, 1]: how much of the old h the candidate sees",
}
STATE_RANGES = {  # (low, high) that each state's values stay within; None: unbounded (the LSTM's cell state)
    "h": (-1.0, 1.0), "c": None, "i": (0.0, 1.0), "f": (0.0, 1.0), "o": (0.0, 1.0), "g": (-1.0, 1.0),
    "z": (0.0, 1.0), "r": (0.0, 1.0),
}
LESSON_NAMES = {"Wx": "Wxh", "Wh": "Whh", "b": "bh"}  # a one-layer tanh model's layer names


class Arch(NamedTuple):
    """The shape of a model: which cell, how many layers, hidden size and vocabulary."""

    cell: str  # rnn | lstm | gru
    layers: int  # L
    hidden: int  # H
    vocab: int  # V

    @property
    def lesson(self) -> bool:
        """One tanh layer: the lesson's model, with its parameter names."""
        return self.cell == "rnn" and self.layers == 1

    @property
    def carried(self) -> int:
        return len(CARRIED[self.cell])

    @property
    def state_rows(self) -> int:
        """K: rows of the carried state array (K, B, H)."""
        return self.layers * self.carried

    @property
    def top(self) -> int:
        """The row of the top layer's h in the carried state."""
        return (self.layers - 1) * self.carried

    def layer_key(self, layer: int, name: str) -> str:
        """The parameter name of a layer's Wx, Wh or b."""
        return LESSON_NAMES[name] if self.lesson else f"L{layer}.{name}"


def arch_of_config(config, vocab_size: int) -> Arch:
    return Arch(config.cell, config.num_layers, config.hidden_size, vocab_size)


def param_shapes(arch: Arch) -> dict[str, tuple]:
    """Every parameter's shape, in the order they are drawn at initialisation."""
    if arch.lesson:
        H, V = arch.hidden, arch.vocab
        return {"Wxh": (H, V), "Whh": (H, H), "Why": (V, H), "bh": (H,), "by": (V,)}
    GH = GATE_BLOCKS[arch.cell] * arch.hidden
    shapes = {}
    for layer in range(arch.layers):
        D = arch.vocab if layer == 0 else arch.hidden
        shapes.update({f"L{layer}.Wx": (GH, D), f"L{layer}.Wh": (GH, arch.hidden), f"L{layer}.b": (GH,)})
    shapes.update({"Why": (arch.vocab, arch.hidden), "by": (arch.vocab,)})
    return shapes


def init_model_params(arch: Arch, seed: int, scale: float, dtype: str, whh_init: str = "randn",
                      whh_gain: float = 1.0) -> dict[str, np.ndarray]:
    """Weights drawn as RandomState(seed).randn * scale, biases zero; an LSTM's forget-gate biases start at 1
    (so that it keeps its cell state until it learns not to). One tanh layer is the lesson's init exactly.
    whh_init and whh_gain reshape a tanh cell's recurrent matrices (rnn.recurrent_init); gated cells refuse them."""
    if arch.lesson:
        return init_params(arch.vocab, arch.hidden, seed, scale, dtype, whh_init, whh_gain)
    if arch.cell != "rnn" and (whh_init != "randn" or whh_gain != 1.0):
        raise ValueError("W_hh init and gain apply to the tanh cell (rnn) only")
    rng = np.random.RandomState(seed)
    params = {}
    for name, shape in param_shapes(arch).items():
        if len(shape) == 2:
            params[name] = rng.randn(*shape) * scale
        else:
            params[name] = np.zeros(shape)
        if name.endswith(".Wh") and arch.cell == "rnn":
            params[name] = recurrent_init(params[name], whh_init, whh_gain)
    if arch.cell == "lstm":
        H = arch.hidden
        for layer in range(arch.layers):
            params[f"L{layer}.b"][H:2 * H] = 1.0  # the forget gate's block (order i, f, o, g)
    return {k: v.astype(dtype) for k, v in params.items()}


def describe(params) -> Arch:
    """The Arch of a params dict, read from its names and shapes."""
    V, H = params["Why"].shape
    if "Wxh" in params:
        return Arch("rnn", 1, H, V)
    layers = sum(1 for k in params if k.endswith(".Wh"))
    blocks = params["L0.Wh"].shape[0] // H
    cell = {g: c for c, g in GATE_BLOCKS.items()}.get(blocks)
    if cell is None or layers < 1:
        raise ValueError(f"parameters of {blocks} gate blocks and {layers} layers are no known model")
    return Arch(cell, layers, H, V)


def layer_weights(params, arch: Arch, layer: int):
    """(Wx, Wh, b) of one layer."""
    return tuple(params[arch.layer_key(layer, n)] for n in ("Wx", "Wh", "b"))


def dropout_masks(rng, p: float, arch: Arch, T: int, B: int, dtype, out=None):
    """Masks for the L-1 gaps between layers, (L-1, T, B, H): 0 with probability p, else 1/(1-p)
    (inverted dropout, so nothing changes at evaluation). None when p is 0 or there is one layer."""
    if p <= 0 or arch.layers < 2:
        return None
    shape = (arch.layers - 1, T, B, arch.hidden)
    masks = np.empty(shape, dtype=dtype) if out is None else out  # (L-1, T, B, H)
    rng.random(dtype=masks.dtype, out=masks)  # uniforms in [0, 1), then 1 where they reach p
    np.greater_equal(masks, p, out=masks, casting="unsafe")
    masks *= masks.dtype.type(1.0 / (1.0 - p))
    return masks


def one_hot(ids, V: int, dtype):
    """ids (T, B) -> (T, B, V) rows of the identity: the lesson's input vectors."""
    return np.eye(V, dtype=dtype)[ids]


class ModelCache(NamedTuple):
    """What model_backward needs from model_forward."""

    arch: Arch
    layers: list  # per layer, the cell's step caches
    outputs: list  # per layer, {"h": (T, B, H)} and for an LSTM "c" too
    masks: np.ndarray | None  # (L-1, T, B, H) dropout masks, or None
    affine: object  # the read-out's cache


def model_forward(params, ids, state0, masks=None):
    """Scores for every step of a window. ids: (T, B); state0: (K, B, H); masks as dropout_masks gives.

    Returns (scores (T, B, V), state (K, B, H) after the last step, cache).
    """
    arch = describe(params)
    C = arch.carried
    x = one_hot(ids, arch.vocab, params["Why"].dtype)  # (T, B, V)
    state = np.empty_like(state0)  # (K, B, H)
    caches, outputs = [], []
    for layer in range(arch.layers):
        Wx, Wh, b = layer_weights(params, arch, layer)
        h0 = state0[layer * C]  # (B, H)
        if arch.cell == "lstm":
            h, c, cache = lstm_forward(x, h0, state0[layer * C + 1], Wx, Wh, b)  # (T, B, H) each
            state[layer * C + 1] = c[-1]
            outputs.append({"h": h, "c": c})
        elif arch.cell == "gru":
            h, cache = gru_forward(x, h0, Wx, Wh, b)  # (T, B, H)
            outputs.append({"h": h})
        else:
            h, cache = rnn_layer_forward(x, h0, Wx, Wh, b)  # (T, B, H)
            outputs.append({"h": h})
        state[layer * C] = h[-1]
        caches.append(cache)
        x = h if masks is None or layer == arch.layers - 1 else h * masks[layer]  # (T, B, H)
    scores, affine = temporal_affine_forward(x, params["Why"], params["by"])  # (T, B, V)
    return scores, state, ModelCache(arch, caches, outputs, masks, affine)


def model_backward(dscores, cache: ModelCache):
    """dscores (T, B, V) -> (grads dict parallel to params, dstate0 (K, B, H))."""
    arch, caches, _, masks, affine = cache
    C = arch.carried
    grads = {}
    dh, grads["Why"], grads["by"] = temporal_affine_backward(dscores, affine)  # (T, B, H)
    dstate0 = np.zeros((arch.state_rows,) + dh.shape[1:], dtype=dh.dtype)  # (K, B, H)
    for layer in reversed(range(arch.layers)):
        if arch.cell == "lstm":
            dx, dh0, dc0, dWx, dWh, db = lstm_backward(dh, caches[layer])
            dstate0[layer * C + 1] = dc0
        elif arch.cell == "gru":
            dx, dh0, dWx, dWh, db = gru_backward(dh, caches[layer])
        else:
            dx, dh0, dWx, dWh, db = rnn_layer_backward(dh, caches[layer])
        dstate0[layer * C] = dh0
        for name, g in (("Wx", dWx), ("Wh", dWh), ("b", db)):
            grads[arch.layer_key(layer, name)] = g
        if layer > 0:
            dh = dx if masks is None else dx * masks[layer - 1]  # (T, B, H) back through the dropout
    return grads, dstate0


def model_loss_and_grads(params, ids, targets, state0, masks=None):
    """Forward and backward over one window: (loss, grads dict parallel to params, state (K, B, H) after it)."""
    scores, state, cache = model_forward(params, ids, state0, masks)
    loss, dscores = temporal_softmax_loss(scores, targets)
    grads, _ = model_backward(dscores, cache)
    return loss, {k: grads[k] for k in params}, state


def initial_state(arch: Arch, streams: int, dtype) -> np.ndarray:
    """A zero carried state (K, S, H)."""
    return np.zeros((arch.state_rows, streams, arch.hidden), dtype=dtype)


def as_state(params, h, streams: int = 1):
    """A carried state (K, S, H) from h: None (zeros), (H,) or (S, H) for a one-state model, or (K, H) / (K, S, H)."""
    arch = describe(params)
    dtype = params["Why"].dtype
    if h is None:
        return initial_state(arch, streams, dtype)
    h = np.asarray(h, dtype=dtype)
    if h.ndim == 3:
        return h
    if h.ndim == 2 and arch.state_rows > 1:  # (K, H): one stream's full state
        return h.reshape(arch.state_rows, 1, arch.hidden)
    return h.reshape(1, -1, arch.hidden)  # (H,) or (S, H) of a model with one state row


def run(params, ids, state0):
    """Read ids (T, S) from state0 (K, S, H) without dropout: (scores (T, S, V), top h (T, S, H), state (K, S, H)).

    One tanh layer runs the lesson's vectorised rnn_forward; the others run model_forward.
    """
    arch = describe(params)
    if arch.lesson:
        h, _ = rnn_forward(ids, state0[0], params["Wxh"], params["Whh"], params["bh"])  # (T, S, H)
        scores, _ = temporal_affine_forward(h, params["Why"], params["by"])  # (T, S, V)
        return scores, h, h[-1][None]
    scores, state, cache = model_forward(params, ids, state0)
    return scores, cache.outputs[-1]["h"], state


def states_of(params, ids, state0):
    """What every layer computed while reading ids (T, S) from state0 (K, S, H).

    Returns (scores (T, S, V), states, state (K, S, H)), where states[layer] is a dict from the names in
    STATE_NAMES[cell] ("h", and "c", "i", "f", "o", "g" for an LSTM; "z", "r", "g" for a GRU) to (T, S, H).
    """
    arch = describe(params)
    if arch.lesson:
        scores, h, state = run(params, ids, state0)
        return scores, [{"h": h}], state
    scores, state, cache = model_forward(params, ids, state0)
    states = []
    for outputs, steps in zip(cache.outputs, cache.layers):
        named = dict(outputs)
        for name in STATE_NAMES[arch.cell]:
            if name not in named:
                named[name] = np.stack([getattr(step, name) for step in steps])  # (T, S, H)
        states.append({name: named[name] for name in STATE_NAMES[arch.cell]})
    return scores, states, state
