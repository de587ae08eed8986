"""Gradient flow through time in one window: how far back the last prediction's gradient reaches, and why.

The lecture's argument: backpropagating from step t to step t-k multiplies the gradient k times by the tanh
derivative and W_hh^T, so it vanishes when W_hh's largest singular value (damped by tanh') is below 1 and explodes
above it. This module measures that, on the weights being trained, for one window:

- the reach of the last prediction, g_k = ||dl_T/dh_{T-k}|| for k = 0 ... T-1 (l_T: the loss of the window's
  last character; h_1 ... h_T its hidden states, so k counts steps back from the last one, h_T = h[T-1]); for an
  LSTM also ||dl_T/dc_{T-k}|| along the cell state, and for a stack of layers the same for every layer;
- the BPTT carry: ||dh_next|| that each hidden state receives from the later steps in the window's backward pass;
- the explanation as numbers: W_hh's largest singular value, the mean tanh derivative 1 - h^2, the share of
  saturated units (|h| > 0.95), the share of gradient entries clipping cut, and ||grad|| / ||param||.

Streams: the B streams of a window do not interact, so dl_T/dh of stream b depends on stream b's own loss only.
Every curve here is per stream (stream b's loss, not the 1/B-weighted mean the trainer optimises) and then the mean
of the streams' norms: at B=1 it is exactly the quantity above, and it does not shrink as B grows. The curves and
the tanh numbers are measured on the first MAX_STREAMS streams (a sample of the same quantity, so that a batch of
32 costs what 8 do); the clip share and grad/param come from the iteration's real gradients over all of them.

Cells: the lesson's one tanh layer has a vectorised path (rnn_window_flow); every other model (LSTM, GRU, stacks)
goes back step by step through the readable step backward functions of core/lstm.py, core/gru.py and core/rnn.py
(cell_window_flow), which is exact for the lesson's model too. The health numbers there are the top layer's, with
its stacked recurrent weights (G*H, H) as W_hh and the tanh the gradient passes on its way back through time
(tanh(c) of an LSTM, a GRU's candidate).

Letters: T time steps, B streams, H hidden units, V vocabulary, G gate blocks, K carried state rows. Arrays indexed
by "steps back" hold k = 0 first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from .fast_rnn import loss_and_grads
from .gru import gru_step_backward
from .lstm import lstm_cell_gradient, lstm_step_backward
from .model import describe, model_forward, model_loss_and_grads
from .rnn import rnn_forward, rnn_step_backward, softmax, temporal_affine_forward

SATURATED = 0.95  # |h| above this counts as a saturated unit (tanh' < 0.1)
APP_EVERY = 100  # the app's measurement interval unless the user changes it (bench/gradflow.py: its cost)
MAX_STREAMS = 8  # streams a window's curves are measured on (the first ones): the cost stays that of a few


@dataclass
class GradFlow:
    """One gradient-flow measurement of a window; curves are (T,) arrays indexed by steps back (k = 0 first)."""

    iteration: int  # completed iterations of the weights measured (the window trained on next)
    grad_flow: np.ndarray  # (T,) g_k = ||dl_T/dh_{T-k}||: the reach of the window's last prediction
    bptt_carry: np.ndarray  # (T,) ||dh_next|| arriving at h_{T-k} in the whole window's backward pass ([0] = 0)
    whh_sigma_max: float  # largest singular value of W_hh (power iteration, warm-started)
    tanh_derivative_mean: float  # mean of 1 - h^2 over the window's hidden states: the damping per step back
    saturated_fraction: float  # share of hidden values with |h| > 0.95, whose tanh' < 0.1 blocks the gradient
    clip_fraction: float  # share of gradient entries the element-wise clip cut (0 when clipping is off)
    grad_param_ratio: float  # ||grad|| / ||param|| over all parameters, before clipping (char-rnn's health line)
    # Further reach curves of the same window by name, each (T,): an LSTM adds "c" (||dl_T/dc_{T-k}|| along the
    # cell path), a stack of layers adds "L0.h" (and "L0.c") per lower layer, counted from the bottom layer 0.
    # grad_flow itself is the top layer's h. Written to JSON as grad_flow_<name>.
    paths: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def reach_ratio(self) -> float:
        """g_{T-1} / g_0: the share of the last prediction's gradient that reaches the window's first state."""
        g0 = float(self.grad_flow[0])
        return float(self.grad_flow[-1]) / g0 if g0 > 0 else math.nan

    def to_json(self) -> dict:
        """The measurement as a JSON-ready dict (the metrics JSONL fields); non-finite numbers become None."""
        out = {
            "grad_flow": _finite_list(self.grad_flow),
            "bptt_carry": _finite_list(self.bptt_carry),
            "whh_sigma_max": _finite(self.whh_sigma_max),
            "tanh_derivative_mean": _finite(self.tanh_derivative_mean),
            "saturated_fraction": _finite(self.saturated_fraction),
            "clip_fraction": _finite(self.clip_fraction),
            "grad_param_ratio": _finite(self.grad_param_ratio),
        }
        for name, curve in self.paths.items():
            out[f"grad_flow_{name}"] = _finite_list(curve)
        return out


def _finite(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def _finite_list(a) -> list:
    return [_finite(x) for x in np.asarray(a, dtype=np.float64)]


# -- one step back through the recurrence ------------------------------------------------------------------------

def step_back(dh, dtanh, Whh):
    """Carry a gradient one step back: dl/dh_t (B, H) -> dl/dh_{t-1} (B, H).

    h_t = tanh(Whh h_{t-1} + ...), so dl/dh_{t-1} = Whh^T (dl/dh_t * (1 - h_t^2)); with gradients as rows that is
    (dh * dtanh) @ Whh. This product, taken k times, is the whole lecture.
    """
    return (dh * dtanh) @ Whh  # (B, H)


def last_step_backward(dh_last, dtanh, Whh):
    """dl_T/dh_{T-k} for k = 0 ... T-1: the last character's loss alone, backpropagated through the window.

    dh_last: (B, H) dl_T/dh_T; dtanh: (T, B, H) 1 - h^2 of every state. Returns (directions (T, B, H), log_norms
    (T, B)) indexed by steps back: dl_T/dh_{T-k} = exp(log_norms[k]) * directions[k], each direction a unit vector
    (or zero). Carrying the direction at unit length and adding up the log of each step's growth keeps the reach
    exact however far it falls or grows: a plain product would sink into slow denormal numbers, then to zero.
    """
    T, B, H = dtanh.shape
    directions = np.empty_like(dtanh)  # (T, B, H)
    growth = np.empty((T, B), dtype=dtanh.dtype)  # (T, B) the factor by which each step changed the norm
    tiny = np.finfo(dtanh.dtype).tiny  # divides a zero gradient, which stays zero
    d = dh_last  # (B, H)
    for k in range(T):
        if k > 0:
            d = step_back(directions[k - 1], dtanh[T - k], Whh)  # through h_{T-k+1} = h[T-k]: (B, H)
        norm = growth[k]  # (B,) view
        np.sqrt(np.add.reduce(d * d, axis=1), out=norm)
        np.divide(d, np.maximum(norm, tiny)[:, None], out=directions[k])
    with np.errstate(divide="ignore"):  # log(0) = -inf: nothing reaches further back
        log_norms = np.cumsum(np.log(growth.astype(np.float64)), axis=0)  # (T, B)
    return directions, log_norms


def bptt_carry(dh, dtanh, Whh):
    """dh_next of the whole window's backward pass: what each hidden state receives from the steps after it.

    dh: (T, B, H) gradient on each state through its own output only. Returns (T, B, H) indexed by steps back:
    [0] = 0 (nothing comes after the last state), [k] = step_back(dh at h_{T-k+1} + [k-1]): the `dhnext` of the
    lesson's backward loop when it reaches h_{T-k}.
    """
    T = dh.shape[0]
    carry = np.zeros_like(dh)  # (T, B, H)
    for k in range(1, T):
        carry[k] = step_back(dh[T - k] + carry[k - 1], dtanh[T - k], Whh)
    return carry


def stream_mean_norm(d) -> np.ndarray:
    """(T, B, H) -> (T,): each stream's gradient norm, averaged over the streams (in float64)."""
    d = np.asarray(d, dtype=np.float64)
    return np.sqrt((d * d).sum(axis=2)).mean(axis=1)


# -- the window ------------------------------------------------------------------------------------------------

class WindowFlow(NamedTuple):
    """A cell's gradient paths through one window, before the reductions to numbers."""

    reach: dict[str, np.ndarray]  # name -> (T, B) ||dl_T/d(state)|| of each stream by steps back; "h": hidden state
    carry: np.ndarray  # (T, B, H) dh_next of the whole window's backward pass, by steps back
    h: np.ndarray  # (T, B, H) tanh outputs whose derivative and saturation are reported (the top layer's)
    Whh: np.ndarray  # (G*H, H) the recurrent matrix whose largest singular value is reported (the top layer's)


def output_gradients(scores, y, Why):
    """Each state's gradient through its own output, per stream: scores (T, B, V), y (T, B) -> (T, B, H).

    dl_t/dscores_t = p_t - onehot(y_t) for stream b's own loss l_t (not divided by B), times Why.
    """
    T, B = y.shape
    dscores = softmax(scores)  # (T, B, V)
    dscores[np.arange(T)[:, None], np.arange(B), y] -= 1.0
    return dscores @ Why  # (T, B, H)


def rnn_window_flow(params, x, y, h0) -> WindowFlow:
    """The vanilla tanh RNN's gradient paths through one window. x, y: (T, B) ids; h0: (B, H)."""
    Whh, Why = params["Whh"], params["Why"]
    h, _ = rnn_forward(x, h0, params["Wxh"], Whh, params["bh"])  # (T, B, H)
    scores, _ = temporal_affine_forward(h, Why, params["by"])  # (T, B, V)
    dh = output_gradients(scores, y, Why)  # (T, B, H)
    dtanh = 1.0 - h * h  # (T, B, H)
    _, log_reach = last_step_backward(dh[-1], dtanh, Whh)  # (T, B)
    return WindowFlow({"h": np.exp(log_reach)}, bptt_carry(dh, dtanh, Whh), h, Whh)


# -- any cell, any number of layers ------------------------------------------------------------------------------
#
# A stack's backward pass at one time step walks the layers top down: each layer's step backward takes the
# gradient on its h (from the layer above, or the read-out, plus what came back from the next step) and sends
# one part down (dx, to the layer below at the same step) and one part back (dprev_h, and an LSTM's dprev_c, to
# the step before). With only the last character's loss, nothing else enters after the first step back, so the
# whole sweep is linear in what it carries; the carried gradients are rescaled to unit length per stream after
# every step and the scale's log summed, as last_step_backward does for one tanh layer.

STEP_BACKWARD = {"rnn": rnn_step_backward, "gru": gru_step_backward}  # cells whose state is h alone


def sweep_back(dh_top, carry, steps, cell: str):
    """One time step backwards through every layer, top first.

    dh_top: (B, H) gradient on the top layer's h through the read-out at this step. carry: per layer [dh, dc], the
    gradients (B, H) reaching this step's h and c from the next step (dc None unless LSTM); replaced in place by
    what this step sends to the one before. steps: per layer, this step's cache. Returns per layer (dh, dc): the
    whole gradient on this step's h and (LSTM) c.
    """
    totals = [None] * len(steps)
    from_above = dh_top  # (B, H)
    for layer in reversed(range(len(steps))):
        dnext_h, dnext_c = carry[layer]
        dh = from_above + dnext_h  # (B, H)
        if cell == "lstm":
            dc = lstm_cell_gradient(dh, dnext_c, steps[layer])  # (B, H)
            from_above, dprev_h, dprev_c, *_ = lstm_step_backward(dh, dnext_c, steps[layer])
        else:
            dc, dprev_c = None, None
            from_above, dprev_h, *_ = STEP_BACKWARD[cell](dh, steps[layer])
        carry[layer] = [dprev_h, dprev_c]
        totals[layer] = (dh, dc)
    return totals


def path_names(cell: str, layers: int, layer: int) -> tuple[str, ...]:
    """Names of one layer's reach curves: the top layer's "h" (and "c"), a lower layer's "L0.h" (and "L0.c")."""
    names = ("h", "c") if cell == "lstm" else ("h",)
    return names if layer == layers - 1 else tuple(f"L{layer}.{n}" for n in names)


def row_norms(d) -> np.ndarray:
    """(B, H) -> (B,) each stream's gradient norm, in float64."""
    d = np.asarray(d, dtype=np.float64)
    return np.sqrt((d * d).sum(axis=1))


def cell_window_flow(params, x, y, state0) -> WindowFlow:
    """Any cell and layer count's gradient paths through one window (core.model, without dropout).

    x, y: (T, B) ids; state0: (K, B, H) the carried state before the window. The reach has a curve per layer and
    state (see path_names). carry: the top layer's dh_next in the whole window's backward pass. h: the top layer's
    tanh outputs on the way back through time (tanh(c) for an LSTM, the candidate for a GRU); Whh: the top
    layer's recurrent weights Wh (G*H, H).
    """
    arch = describe(params)
    T, B = x.shape
    L, cell = arch.layers, arch.cell
    scores, _, cache = model_forward(params, x, state0)  # (T, B, V)
    dh = output_gradients(scores, y, params["Why"])  # (T, B, H)
    steps = [[cache.layers[layer][t] for layer in range(L)] for t in range(T)]  # (T, L) step caches
    zero = np.zeros_like(dh[0])  # (B, H)

    # The reach of the last prediction: dl_T/d(state) of every layer, rescaled after each step.
    log_reach = {name: np.empty((T, B)) for layer in range(L) for name in path_names(cell, L, layer)}
    carry = [[zero, zero if cell == "lstm" else None] for _ in range(L)]
    log_scale = np.zeros(B)  # (B,) log of the factor the carried gradients were divided by
    with np.errstate(divide="ignore"):  # log(0) = -inf: nothing reaches further back
        for k in range(T):
            totals = sweep_back(dh[-1] if k == 0 else zero, carry, steps[T - 1 - k], cell)
            for layer, pair in enumerate(totals):
                for name, d in zip(path_names(cell, L, layer), pair):
                    log_reach[name][k] = np.log(row_norms(d)) + log_scale
            size = np.sqrt(sum(row_norms(d) ** 2 for pair in carry for d in pair if d is not None))  # (B,)
            size = np.maximum(size, np.finfo(np.float64).tiny)  # a zero gradient stays zero
            carry = [[d if d is None else d / size[:, None].astype(d.dtype) for d in pair] for pair in carry]
            log_scale += np.log(size)

    # The BPTT carry: every step's own loss enters; dh_next of the top layer on arriving at each step.
    top_carry = np.zeros_like(dh)  # (T, B, H) by steps back
    carry = [[zero, zero if cell == "lstm" else None] for _ in range(L)]
    for k in range(T):
        top_carry[k] = carry[-1][0]
        sweep_back(dh[T - 1 - k], carry, steps[T - 1 - k], cell)

    top = cache.layers[-1]
    tanh_out = np.stack([s.tanh_c if cell == "lstm" else s.g if cell == "gru" else s.next_h for s in top])
    Wh = params[arch.layer_key(L - 1, "Wh")]  # (G*H, H)
    return WindowFlow({name: np.exp(v) for name, v in log_reach.items()}, top_carry, tanh_out, Wh)


def measure_grad_flow(params, x, y, h0, grads=None, clip: float = 0.0, power: "PowerIteration | None" = None,
                      iteration: int = 0, flat_params=None) -> GradFlow:
    """Measure gradient flow on one window. x, y: (T, B) ids; h0: the state before it, (K, B, H) or, for a model
    with one state row, (B, H). flat_params: the parameters as one buffer, when there is one (quicker norms).

    grads: the iteration's real gradients before clipping (a dict parallel to params, or {"all": flat buffer});
    without them the window's own are computed here. clip: the element-wise clip in force (0 = off). power: a
    PowerIteration kept between measurements (warm start); a fresh one otherwise. flat_params: the parameters as
    one buffer, when there is one (quicker norms). Reads params, x, y, h0 and grads; changes none of them.
    The lesson's one tanh layer is measured by rnn_window_flow, every other model by cell_window_flow.
    """
    lesson = describe(params).lesson
    state0 = h0[None] if h0.ndim == 2 else h0  # (K, B, H)
    if grads is None:
        _, grads, _ = loss_and_grads(params, x, y, state0[0]) if lesson else model_loss_and_grads(
            params, x, y, state0)
    x, y, state0 = x[:, :MAX_STREAMS], y[:, :MAX_STREAMS], state0[:, :MAX_STREAMS]  # (T, S), (T, S), (K, S, H)
    power = power if power is not None else PowerIteration()
    with np.errstate(all="ignore"):  # a diverging run's numbers are reported as they are (inf, nan)
        flow = rnn_window_flow(params, x, y, state0[0]) if lesson else cell_window_flow(params, x, y, state0)
        reach = {name: g.mean(axis=1) for name, g in flow.reach.items()}  # (T,) each: the mean over streams
        h = flow.h
        return GradFlow(
            iteration=iteration,
            grad_flow=reach.pop("h"),
            bptt_carry=stream_mean_norm(flow.carry),
            whh_sigma_max=power(flow.Whh),
            tanh_derivative_mean=float(1.0 - np.mean(h * h, dtype=np.float64)),
            saturated_fraction=float(np.count_nonzero(np.abs(h) > SATURATED)) / h.size,
            clip_fraction=clip_fraction(grads, clip),
            grad_param_ratio=grad_param_ratio(grads, params if flat_params is None else {"all": flat_params}),
            paths=reach,
        )


# -- the health numbers ----------------------------------------------------------------------------------------

def clip_fraction(grads: dict[str, np.ndarray], clip: float) -> float:
    """Share of gradient entries an element-wise clip to [-clip, clip] changes; 0 when clip is 0 (off)."""
    if not clip > 0:
        return 0.0
    cut = sum(int(np.count_nonzero(np.abs(g) > clip)) for g in grads.values())
    return cut / sum(g.size for g in grads.values())


def grad_param_ratio(grads: dict[str, np.ndarray], params: dict[str, np.ndarray]) -> float:
    """||grad|| / ||param|| over all parameters together (sums of squares in float64)."""
    g2 = sum(float(np.square(g, dtype=np.float64).sum()) for g in grads.values())
    p2 = sum(float(np.square(p, dtype=np.float64).sum()) for p in params.values())
    return math.sqrt(g2) / math.sqrt(p2) if p2 > 0 else math.inf


class PowerIteration:
    """Largest singular value of a matrix by a few power-iteration steps, warm-started from the last vector.

    Training moves W_hh a little between measurements, so the previous right singular vector is a good start and a
    few steps per call keep the estimate at the converged value.
    """

    def __init__(self, steps: int = 3):
        self.steps = steps  # power steps (one W and one W^T product each) per call
        self.v: np.ndarray | None = None  # (H,) unit estimate of the top right singular vector, float64

    def __call__(self, W) -> float:
        W = np.asarray(W, dtype=np.float64)  # (H, H)
        if not np.isfinite(W).all():
            return math.nan
        v = self.v
        if v is None or v.shape != (W.shape[1],):
            v = np.random.default_rng(0).standard_normal(W.shape[1])  # its own generator: training's is untouched
            v /= np.linalg.norm(v)
        sigma = 0.0
        for _ in range(self.steps):
            u = W @ v  # (H,)
            norm_u = np.linalg.norm(u)
            if norm_u == 0.0:
                return 0.0
            v = W.T @ (u / norm_u)  # (H,) = sigma * v at convergence
            sigma = float(np.linalg.norm(v))
            v /= sigma
        self.v = v
        return sigma


def divergence_cause(params: dict[str, np.ndarray], clip: float) -> str:
    """Why a run diverged, in a clause, when gradient flow explains it (clipping off, W_hh grown above 1); else ''."""
    if clip > 0:
        return ""
    arch = describe(params)
    recurrent = {"W_hh" if arch.lesson else f"layer {layer + 1}'s W_hh": params[arch.layer_key(layer, "Wh")]
                 for layer in range(arch.layers)}  # name -> (G*H, H)
    for name, W in recurrent.items():
        if not np.isfinite(W).all():
            return f"gradient clipping is off and the gradients exploded through time: {name} is no longer finite"
    name, sigma = max(((n, float(np.linalg.norm(np.asarray(W, dtype=np.float64), 2))) for n, W in recurrent.items()),
                      key=lambda pair: pair[1])
    if sigma <= 1.0:
        return "gradient clipping is off"
    return (f"gradient clipping is off and {name}'s largest singular value is {sigma:.3g}: above 1, every step back "
            f"through time can multiply the gradient by that much, so the gradients exploded and nothing bounded "
            f"the updates")
