"""Gradient flow through LSTM and GRU layers and stacks: every layer's reach, an LSTM's cell path, and why it lasts."""

import numpy as np
import pytest

from core import Trainer, preset
from core.experiments import experiment
from core.gradflow import cell_window_flow, divergence_cause, measure_grad_flow, path_names, rnn_window_flow
from core.model import Arch, init_model_params
from core.rnn import init_params

from .test_gradflow import corpus, one_blas_thread  # noqa: F401  the fixtures: the fox text, one BLAS thread


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def naive_losses(params, arch, xs, ys, state0, nudge=None):
    """One stream's per-step losses, written from the cells' equations: xs, ys lists of ids; state0 (K, H).

    nudge (t, layer, name, delta): add delta (H,) to that layer's h or c right after step t computes it, so the
    later steps (and the layers above at step t) see the nudged value.
    """
    H, L, C = arch.hidden, arch.layers, (2 if arch.cell == "lstm" else 1)
    h = [state0[layer * C].copy() for layer in range(L)]
    c = [state0[layer * C + 1].copy() for layer in range(L)] if arch.cell == "lstm" else None
    losses = []
    for t, (x_t, y_t) in enumerate(zip(xs, ys)):
        inp = np.zeros(arch.vocab)
        inp[x_t] = 1.0
        for layer in range(L):
            Wx, Wh, b = (params[f"L{layer}.{n}"] for n in ("Wx", "Wh", "b"))
            a = Wx @ inp + b
            if arch.cell == "lstm":
                a = a + Wh @ h[layer]
                i, f, o, g = sigmoid(a[:H]), sigmoid(a[H:2 * H]), sigmoid(a[2 * H:3 * H]), np.tanh(a[3 * H:])
                c[layer] = f * c[layer] + i * g
                if nudge is not None and nudge[:3] == (t, layer, "c"):
                    c[layer] = c[layer] + nudge[3]
                h[layer] = o * np.tanh(c[layer])
            elif arch.cell == "rnn":
                h[layer] = np.tanh(a + Wh @ h[layer])
            else:  # gru: the reset gate scales Wh_g h, as core/gru.py says
                ah = Wh @ h[layer]
                z, r = sigmoid(a[:H] + ah[:H]), sigmoid(a[H:2 * H] + ah[H:2 * H])
                g = np.tanh(a[2 * H:] + r * ah[2 * H:])
                h[layer] = z * h[layer] + (1 - z) * g
            if nudge is not None and nudge[:3] == (t, layer, "h"):
                h[layer] = h[layer] + nudge[3]
            inp = h[layer]
        s = params["Why"] @ h[-1] + params["by"]
        s = s - s.max()
        losses.append(-(s[y_t] - np.log(np.exp(s).sum())))
    return losses


def random_stack(cell, layers, V=6, H=4, seed=0):
    arch = Arch(cell, layers, H, V)
    params = init_model_params(arch, seed, 0.6, "float64")
    rng = np.random.default_rng(seed + 1)
    for k in params:
        if k.endswith(".b") or k == "by":
            params[k] = params[k] + rng.standard_normal(params[k].shape) * 0.3
    return arch, params


@pytest.mark.parametrize("cell,layers", [("lstm", 1), ("lstm", 2), ("gru", 1), ("gru", 2), ("rnn", 2)])
def test_every_layers_reach_and_the_top_carry_agree_with_finite_differences_in_float64(cell, layers):
    """||dl_T/dh_{T-k}|| (and ||dl_T/dc_{T-k}|| for an LSTM) of every layer and stream, and the top layer's dh_next,
    against central differences of the cells' equations with the state nudged mid-window."""
    T, B = 6, 2
    arch, params = random_stack(cell, layers)
    rng = np.random.default_rng(7)
    x, y = rng.integers(0, arch.vocab, (T, B)), rng.integers(0, arch.vocab, (T, B))
    state0 = rng.standard_normal((arch.state_rows, B, arch.hidden)) * 0.5
    flow = cell_window_flow(params, x, y, state0)
    names = [n for layer in range(layers) for n in path_names(cell, layers, layer)]
    assert sorted(flow.reach) == sorted(names)
    eps = 1e-6
    for b in range(B):
        xs, ys = list(x[:, b]), list(y[:, b])
        for k in range(T):
            t = T - 1 - k
            for layer in range(layers):
                for name, state in zip(path_names(cell, layers, layer), ("h", "c")):
                    grad = np.zeros(arch.hidden)
                    for j in range(arch.hidden):
                        d = np.zeros(arch.hidden)
                        d[j] = eps
                        up = naive_losses(params, arch, xs, ys, state0[:, b], (t, layer, state, d))[-1]
                        down = naive_losses(params, arch, xs, ys, state0[:, b], (t, layer, state, -d))[-1]
                        grad[j] = (up - down) / (2 * eps)
                    assert flow.reach[name][k, b] == pytest.approx(np.linalg.norm(grad), rel=1e-6, abs=1e-10), \
                        (name, k, b)
            # the carry: the later steps' losses (not step t's own) through the top layer's h at step t
            grad = np.zeros(arch.hidden)
            for j in range(arch.hidden):
                d = np.zeros(arch.hidden)
                d[j] = eps
                up = sum(naive_losses(params, arch, xs, ys, state0[:, b], (t, layers - 1, "h", d))[t + 1:])
                down = sum(naive_losses(params, arch, xs, ys, state0[:, b], (t, layers - 1, "h", -d))[t + 1:])
                grad[j] = (up - down) / (2 * eps)
            np.testing.assert_allclose(flow.carry[k, b], grad, rtol=1e-6, atol=1e-9)


def test_the_step_by_step_path_equals_the_lessons_vectorised_path_on_one_tanh_layer():
    params = init_params(7, 6, seed=0, scale=0.5)
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 7, (9, 3)), rng.integers(0, 7, (9, 3))
    h0 = rng.standard_normal((3, 6)) * 0.3
    fast, readable = rnn_window_flow(params, x, y, h0), cell_window_flow(params, x, y, h0[None])
    np.testing.assert_allclose(readable.reach["h"], fast.reach["h"], rtol=1e-12)
    np.testing.assert_allclose(readable.carry, fast.carry, rtol=1e-12, atol=1e-15)


def test_a_reach_far_below_the_smallest_float_is_still_exact_in_its_log():
    """A GRU with tiny weights over 400 steps: the reach falls below 1e-300 and never turns into denormal noise."""
    arch = Arch("gru", 1, 5, 6)
    params = init_model_params(arch, 0, 0.01, "float64")
    params["L0.b"][:5] = -8.0  # update gate near 0: each step keeps almost nothing of the old h
    rng = np.random.default_rng(1)
    x, y = rng.integers(0, 6, (400, 1)), rng.integers(0, 6, (400, 1))
    flow = cell_window_flow(params, x, y, np.zeros((1, 1, 5)))
    g = flow.reach["h"][:, 0]
    ratios = g[1:60] / g[:59]
    assert np.all(ratios < 0.1) and np.ptp(np.log(ratios[10:])) < 1.0  # a steady fall, step after step
    assert g[-1] == 0.0 or g[-1] < 1e-300  # underflows only at the very end, as a number, not as noise


def test_lstm_cell_path_reach_at_its_init_falls_far_less_than_the_vanilla_reach(corpus):
    """The experiments' same-size models at their first window: after 24 steps back the tanh RNN keeps less than
    1e-20 of the last prediction's gradient, the LSTM's cell path more than 1e-4 (its forget gates start near
    sigmoid(1) = 0.73, so each step back costs a factor 0.73 instead of the RNN's ~0.1)."""
    vanilla = Trainer.from_corpus(corpus, experiment("vanishing").config.replace(val_fraction=0.05)).step()
    lstm = Trainer.from_corpus(corpus, experiment("lstm").config.replace(val_fraction=0.05)).step()
    rnn_g, c_g = vanilla.grad_flow.grad_flow, lstm.grad_flow.paths["c"]
    rnn_fall, c_fall = rnn_g[24] / rnn_g[0], c_g[24] / c_g[0]
    assert rnn_fall < 1e-20 and c_fall > 1e-4
    assert c_fall > 1e15 * rnn_fall
    per_step = (c_g[1:100] / c_g[:99])  # the cell path's factor per step back
    assert 0.6 < np.median(per_step) < 0.85


def test_a_stacked_lstm_reports_both_paths_for_every_layer_in_the_trainers_measurement(corpus):
    cfg = preset("min-char-rnn", cell="lstm", num_layers=2, hidden_size=16, seq_length=30, batch_size=3,
                 grad_flow_every=4, val_fraction=0.05, dropout=0.3)
    trainer = Trainer.from_corpus(corpus, cfg)
    flows = [s.grad_flow for s in trainer.run(iterations=9) if s.grad_flow is not None]
    assert [f.iteration for f in flows] == [0, 4, 8]
    flow = flows[-1]
    assert sorted(flow.paths) == ["L0.c", "L0.h", "c"]
    for curve in [flow.grad_flow, *flow.paths.values()]:
        assert curve.shape == (30,) and np.all(np.isfinite(curve)) and np.all(curve > 0)
    assert flow.bptt_carry[0] == 0 and flow.bptt_carry[1] > 0
    assert 0 < flow.tanh_derivative_mean <= 1 and 0 < flow.whh_sigma_max
    exact = np.linalg.norm(trainer.params["L1.Wh"], 2)
    assert flow.whh_sigma_max == pytest.approx(exact, rel=0.05)  # power iteration, a few steps per measurement
    row = flow.to_json()
    assert {"grad_flow", "grad_flow_c", "grad_flow_L0.h", "grad_flow_L0.c"} <= set(row)


def test_the_measurement_on_a_batch_uses_the_first_streams_and_equals_them_measured_alone(corpus):
    from core.gradflow import MAX_STREAMS

    arch, params = random_stack("lstm", 1, H=4)
    rng = np.random.default_rng(2)
    B = MAX_STREAMS + 5
    x, y = rng.integers(0, arch.vocab, (7, B)), rng.integers(0, arch.vocab, (7, B))
    state = rng.standard_normal((2, B, 4)) * 0.3
    whole = measure_grad_flow(params, x, y, state)
    first = measure_grad_flow(params, x[:, :MAX_STREAMS], y[:, :MAX_STREAMS], state[:, :MAX_STREAMS])
    np.testing.assert_allclose(whole.grad_flow, first.grad_flow, rtol=1e-12)
    np.testing.assert_allclose(whole.paths["c"], first.paths["c"], rtol=1e-12)


def test_divergence_names_the_layer_whose_recurrent_weights_blew_up():
    arch, params = random_stack("gru", 2, H=4)
    params["L1.Wh"] = params["L1.Wh"] * 40
    assert "layer 2's W_hh's largest singular value" in divergence_cause(params, clip=0)
    params["L0.Wh"][0, 0] = np.inf
    assert "layer 1's W_hh is no longer finite" in divergence_cause(params, clip=0)
    assert divergence_cause(params, clip=5) == ""


def test_the_cli_writes_every_path_of_a_stacked_lstm_into_the_metrics(tmp_path, capsys):
    import json

    from core.cli import main

    from .test_gradflow import TEXT

    text, metrics = tmp_path / "input.txt", tmp_path / "m.jsonl"
    text.write_text(TEXT)
    assert main(["train", str(text), "--cell", "lstm", "--layers", "2", "--hidden-size", "8", "--seq-length", "12",
                 "--iterations", "6", "--grad-flow-every", "5", "--metrics", str(metrics), "--progress-every", "0",
                 "--no-run"]) == 0
    rows = [json.loads(line) for line in metrics.read_text().splitlines() if "grad_flow" in line]
    assert [r["iteration"] for r in rows] == [1, 6]
    for r in rows:
        for key in ("grad_flow", "grad_flow_c", "grad_flow_L0.h", "grad_flow_L0.c", "bptt_carry"):
            assert len(r[key]) == 12 and all(g is not None and g >= 0 for g in r[key]), key
