"""Gradient flow through time: the reach of the last prediction, the BPTT carry and the health numbers."""

import json
import math

import numpy as np
import pytest

from core import Trainer, corpus_from_text, preset
from core.fast_rnn import loss_and_grads
from core.gradflow import (GradFlow, PowerIteration, clip_fraction, grad_param_ratio, last_step_backward,
                           measure_grad_flow, rnn_window_flow)
from core.optim import clip_grads, make_optimizer
from core.rnn import init_params
from core.threads import limit_blas_threads

TEXT = "".join(f"line {i}: the quick brown fox jumps over the lazy dog.\n" for i in range(300))


@pytest.fixture(autouse=True, scope="module")
def one_blas_thread():
    """As the app and the CLI train: a second BLAS thread fighting a busy core makes long windows crawl."""
    with limit_blas_threads(1):
        yield


@pytest.fixture
def corpus():
    return corpus_from_text(TEXT, name="fox")


def random_params(V, H, seed, scale, whh_scale=None):
    """Float64 weights with non-zero biases, drawn independently of the engine's init."""
    rng = np.random.default_rng(seed)
    return {"Wxh": rng.standard_normal((H, V)) * scale,
            "Whh": rng.standard_normal((H, H)) * (scale if whh_scale is None else whh_scale),
            "Why": rng.standard_normal((V, H)) * scale,
            "bh": rng.standard_normal(H) * scale, "by": rng.standard_normal(V) * 0.5}


def naive_states(params, x, h0):
    """h_1 ... h_T of one window, one stream at a time, as the lesson writes the recurrence: (T, B, H)."""
    T, B = x.shape
    out = np.empty((T, B, params["Whh"].shape[0]))
    for b in range(B):
        h = h0[b]
        for t in range(T):
            h = np.tanh(params["Wxh"][:, x[t, b]] + params["Whh"] @ h + params["bh"])
            out[t, b] = h
    return out


def losses_from(params, h_start, xs, ys, first_own_loss):
    """Cross-entropy of one stream from a given hidden state: the state's own output loss (when first_own_loss),
    then each later step's; returns the list of per-step losses."""
    losses, h = [], h_start
    steps = [(None, ys[0])] if first_own_loss else []
    steps += list(zip(xs, ys[1:] if first_own_loss else ys))
    for x_t, y_t in steps:
        if x_t is not None:
            h = np.tanh(params["Wxh"][:, x_t] + params["Whh"] @ h + params["bh"])
        s = params["Why"] @ h + params["by"]
        s = s - s.max()
        losses.append(-(s[y_t] - np.log(np.exp(s).sum())))
    return losses


def numerical_gradient(f, h, eps=1e-6):
    g = np.zeros_like(h)
    for i in range(h.size):
        hp, hm = h.copy(), h.copy()
        hp[i] += eps
        hm[i] -= eps
        g[i] = (f(hp) - f(hm)) / (2 * eps)
    return g


def window(V, T, B, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, V, (T, B)), rng.integers(0, V, (T, B))


def test_linear_toy_reach_is_whh_transpose_to_the_k_times_v():
    """With tanh replaced by the identity (derivative 1), g_k = ||(Whh^T)^k v|| exactly, v = dl_T/dh_T."""
    H, T = 7, 12
    rng = np.random.default_rng(3)
    Whh = rng.standard_normal((H, H)) * 0.6
    v = rng.standard_normal(H)
    directions, log_norms = last_step_backward(v[None], np.ones((T, 1, H)), Whh)  # (T, 1, H), (T, 1)
    for k in range(T):
        expected = np.linalg.matrix_power(Whh.T, k) @ v
        np.testing.assert_allclose(np.exp(log_norms[k, 0]) * directions[k, 0], expected, rtol=1e-12, atol=1e-14)


def test_tiny_activations_make_the_window_linear_and_g_k_equals_whh_transpose_powers_of_v():
    """Inputs so small that tanh is the identity to 1e-8: the measured reach of a whole window is ||(Whh^T)^k v||
    with v = Why^T (softmax(Why h_T + by) - onehot(y_T)), derived here from the lesson's recurrence."""
    V, H, T = 11, 9, 24
    params = random_params(V, H, seed=1, scale=1e-5, whh_scale=1.0 / math.sqrt(H))
    params["Why"] = np.random.default_rng(2).standard_normal((V, H))
    x, y = window(V, T, 1, seed=4)
    h0 = np.zeros((1, H))
    hT = naive_states(params, x, h0)[-1, 0]
    assert np.abs(hT).max() < 1e-3  # tanh'(h) = 1 - h^2 > 1 - 1e-6: the window is linear
    s = params["Why"] @ hT + params["by"]
    p = np.exp(s - s.max())
    p /= p.sum()
    p[y[-1, 0]] -= 1.0
    v = params["Why"].T @ p  # dl_T/dh_T
    expected = [np.linalg.norm(np.linalg.matrix_power(params["Whh"].T, k) @ v) for k in range(T)]
    flow = measure_grad_flow(params, x, y, h0)
    np.testing.assert_allclose(flow.grad_flow, expected, rtol=1e-5)
    assert flow.grad_flow.shape == (T,) and flow.saturated_fraction == 0.0
    assert flow.tanh_derivative_mean == pytest.approx(1.0, abs=1e-6)


def test_reach_and_carry_agree_with_finite_differences_in_float64():
    """dl_T/dh_{T-k} (the last loss) and dh_next (the later steps' losses) of every stream, against central
    differences of the lesson's recurrence restarted from a nudged hidden state."""
    V, H, T, B = 6, 5, 8, 2
    params = random_params(V, H, seed=5, scale=0.7)
    x, y = window(V, T, B, seed=6)
    h0 = np.random.default_rng(7).standard_normal((B, H)) * 0.5
    h = naive_states(params, x, h0)  # (T, B, H)
    s = h[-1] @ params["Why"].T + params["by"]  # (B, V) the last step's scores
    p = np.exp(s - s.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(B), y[-1]] -= 1.0
    directions, log_norms = last_step_backward(p @ params["Why"], 1.0 - h * h, params["Whh"])
    reach = np.exp(log_norms)[:, :, None] * directions  # (T, B, H)
    flow = rnn_window_flow(params, x, y, h0)
    np.testing.assert_allclose(flow.reach["h"], np.linalg.norm(reach, axis=2), rtol=1e-12)
    carry = flow.carry
    for b in range(B):
        for k in range(T):
            t = T - 1 - k  # array index of h_{T-k}
            later_x, later_y = x[t + 1:, b], y[t:, b]

            def last_loss(state):
                return losses_from(params, state, later_x, later_y, first_own_loss=True)[-1]

            def later_losses(state):
                return sum(losses_from(params, state, later_x, later_y, first_own_loss=True)[1:])

            np.testing.assert_allclose(reach[k, b], numerical_gradient(last_loss, h[t, b]), rtol=1e-6, atol=1e-8)
            np.testing.assert_allclose(carry[k, b], numerical_gradient(later_losses, h[t, b]), rtol=1e-6, atol=1e-8)
    measured = measure_grad_flow(params, x, y, h0)
    np.testing.assert_allclose(measured.grad_flow, np.linalg.norm(reach, axis=2).mean(axis=1), rtol=1e-12)
    np.testing.assert_allclose(measured.bptt_carry, np.linalg.norm(carry, axis=2).mean(axis=1), rtol=1e-12)
    assert measured.bptt_carry[0] == 0.0


def test_lesson_initialisation_reach_falls_more_than_1000x_over_24_steps(corpus):
    """Weights randn * 0.01: W_hh's largest singular value is about 0.2, so 24 steps back keep almost nothing."""
    trainer = Trainer.from_corpus(corpus, preset("min-char-rnn", grad_flow_every=1))
    flow = trainer.step().grad_flow
    assert flow.iteration == 0 and len(flow.grad_flow) == 25
    assert flow.grad_flow[24] / flow.grad_flow[0] < 1e-3
    assert flow.reach_ratio == flow.grad_flow[24] / flow.grad_flow[0]
    assert 0.1 < flow.whh_sigma_max < 0.4
    assert np.all(np.diff(flow.grad_flow) < 0)  # it falls at every step back


def test_power_iteration_matches_svd_to_1e6_after_warm_start():
    rng = np.random.default_rng(11)
    W = rng.standard_normal((100, 100)) / 10
    power = PowerIteration(steps=4)
    for _ in range(100):  # measurements of an unchanging matrix: each call starts where the last stopped
        sigma = power(W)
    assert sigma == pytest.approx(np.linalg.svd(W, compute_uv=False)[0], rel=1e-6)
    # Training moves W a little between measurements: one warm call stays exact; a cold one is far off.
    W2 = W + rng.standard_normal(W.shape) * 1e-4
    exact = np.linalg.svd(W2, compute_uv=False)[0]
    assert power(W2) == pytest.approx(exact, rel=1e-6)
    assert abs(PowerIteration(steps=4)(W2) - exact) / exact > 1e-4


def test_clip_fraction_is_the_share_of_entries_clipping_changes():
    rng = np.random.default_rng(0)
    grads = {"a": rng.standard_normal((30, 40)) * 4, "b": rng.standard_normal(50) * 10}
    clipped = {k: g.copy() for k, g in grads.items()}
    clip_grads(clipped, 5.0)
    changed = sum(int((clipped[k] != grads[k]).sum()) for k in grads)
    assert 0 < changed and clip_fraction(grads, 5.0) == changed / (30 * 40 + 50)
    assert clip_fraction(grads, 0.0) == 0.0


def test_clip_share_and_grad_param_ratio_come_from_the_iterations_real_gradients_before_clipping(corpus):
    cfg = preset("min-char-rnn", hidden_size=16, seq_length=10, batch_size=3, clip=0.05, grad_flow_every=5)
    trainer = Trainer.from_corpus(corpus, cfg)
    for _ in range(5):
        trainer.step()
    twin = Trainer.from_corpus(corpus, cfg.replace(grad_flow_every=0))
    for _ in range(5):
        twin.step()
    x, y = twin.window()
    _, grads, _ = loss_and_grads(twin.params, x, y, twin.hidden)
    flat = np.concatenate([g.ravel() for g in grads.values()])
    flow = trainer.step().grad_flow
    assert flow.iteration == 5
    assert 0 < flow.clip_fraction < 1
    assert flow.clip_fraction == np.count_nonzero(np.abs(flat) > 0.05) / flat.size
    params = np.concatenate([p.ravel() for p in twin.params.values()])
    assert flow.grad_param_ratio == pytest.approx(np.linalg.norm(flat) / np.linalg.norm(params), rel=1e-12)
    assert grad_param_ratio(grads, twin.params) == pytest.approx(flow.grad_param_ratio, rel=1e-12)


def test_grad_flow_arrives_every_grad_flow_every_iterations_and_can_change_live(corpus):
    trainer = Trainer.from_corpus(corpus, preset("min-char-rnn", hidden_size=16, seq_length=10, grad_flow_every=4))
    snaps = list(trainer.run(iterations=10))
    measured = [s for s in snaps if s.grad_flow is not None]
    assert [s.grad_flow.iteration for s in measured] == [0, 4, 8]
    assert [s.iteration for s in measured] == [1, 5, 9]
    trainer.set_live(grad_flow_every=0)
    assert all(s.grad_flow is None for s in trainer.run(iterations=10))
    trainer.set_live(grad_flow_every=3)
    assert [s.iteration for s in trainer.run(iterations=6) if s.grad_flow] == [22, 25]
    with pytest.raises(ValueError):
        trainer.set_live(grad_flow_every=-1)


@pytest.mark.parametrize("kw", [
    {},  # the lesson's preset
    {"batch_size": 4, "dtype": "float32", "optimizer": "adam", "learning_rate": 3e-3, "clip": 0.02},
    {"whh_init": "orthogonal", "whh_gain": 1.5, "optimizer": "sgd", "learning_rate": 1e-3, "clip": 0.0},
])
def test_measuring_never_changes_the_training_trajectory(corpus, kw):
    cfg = preset("min-char-rnn", hidden_size=24, seq_length=12, sample_every=7, **kw)
    off = Trainer.from_corpus(corpus, cfg)
    on = Trainer.from_corpus(corpus, cfg.replace(grad_flow_every=1))
    a = [(s.loss, s.smooth_loss) for s in off.run(iterations=40)]
    b = [(s.loss, s.smooth_loss) for s in on.run(iterations=40)]
    assert a == b
    assert np.array_equal(off._flat, on._flat) and np.array_equal(off.hidden, on.hidden)
    assert all(np.array_equal(off.optimizer.state[k], on.optimizer.state[k]) for k in off.optimizer.state)
    assert off.rng.bit_generator.state == on.rng.bit_generator.state


def test_measurement_is_off_by_default_and_the_default_weights_are_the_lessons_draws(corpus):
    assert preset("min-char-rnn").grad_flow_every == 0 and preset("fast").grad_flow_every == 0
    assert all(s.grad_flow is None for s in Trainer.from_corpus(corpus, preset("min-char-rnn")).run(iterations=5))
    lesson = np.random.RandomState(3)
    expected = {k: lesson.randn(*shape) * 0.01 for k, shape in (("Wxh", (50, 20)), ("Whh", (50, 50)),
                                                               ("Why", (20, 50)))}
    params = init_params(20, 50, 3)
    assert all(np.array_equal(params[k], expected[k]) for k in expected)


def test_orthogonal_whh_has_every_singular_value_equal_to_the_gain_and_keeps_the_other_draws():
    lesson = init_params(30, 40, 5)
    ortho = init_params(30, 40, 5, whh_init="orthogonal", whh_gain=1.5)
    np.testing.assert_allclose(np.linalg.svd(ortho["Whh"], compute_uv=False), 1.5, rtol=1e-12)
    assert np.array_equal(ortho["Wxh"], lesson["Wxh"]) and np.array_equal(ortho["Why"], lesson["Why"])
    np.testing.assert_array_equal(init_params(30, 40, 5, whh_gain=2.0)["Whh"], lesson["Whh"] * 2.0)


@pytest.mark.parametrize("bad, reason", [({"whh_init": "eye"}, "W_hh init"), ({"whh_gain": 0.0}, "W_hh gain"),
                                         ({"grad_flow_every": -1}, "gradient-flow interval")])
def test_bad_gradient_flow_settings_are_refused_with_a_reason(bad, reason):
    with pytest.raises(ValueError, match=reason):
        preset("min-char-rnn", **bad)


def test_sequence_length_200_trains_and_measures_every_step_back(corpus):
    cfg = preset("min-char-rnn", hidden_size=32, seq_length=200, batch_size=2, grad_flow_every=2)
    snaps = list(Trainer.from_corpus(corpus, cfg).run(iterations=3))
    flows = [s.grad_flow for s in snaps if s.grad_flow is not None]
    assert len(flows) == 2 and all(f.grad_flow.shape == (200,) and f.bptt_carry.shape == (200,) for f in flows)
    assert all(np.isfinite(s.loss) for s in snaps)


def test_to_json_holds_the_metrics_fields_and_turns_non_finite_numbers_into_null():
    flow = GradFlow(iteration=3, grad_flow=np.array([1.0, 0.5, np.inf]), bptt_carry=np.array([0.0, 1.0, 2.0]),
                    whh_sigma_max=math.nan, tanh_derivative_mean=0.9, saturated_fraction=0.1, clip_fraction=0.0,
                    grad_param_ratio=0.01, paths={"c": np.array([1.0, 1.0, 1.0])})
    data = json.loads(json.dumps(flow.to_json(), allow_nan=False))
    assert data == {"grad_flow": [1.0, 0.5, None], "bptt_carry": [0.0, 1.0, 2.0], "whh_sigma_max": None,
                    "tanh_derivative_mean": 0.9, "saturated_fraction": 0.1, "clip_fraction": 0.0,
                    "grad_param_ratio": 0.01, "grad_flow_c": [1.0, 1.0, 1.0]}


def test_cli_writes_the_gradient_flow_fields_into_the_metrics_every_n_iterations(tmp_path, capsys):
    from core.cli import main

    text = tmp_path / "input.txt"
    text.write_text(TEXT)
    metrics = tmp_path / "m.jsonl"
    common = ["--metrics", str(metrics), "--log-every", "20", "--seq-length", "10", "--hidden-size", "16",
              "--progress-every", "0"]
    assert main(["train", str(text), "--iterations", "30", "--grad-flow-every", "10", *common]) == 0
    rows = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert [r["iteration"] for r in rows] == [1, 11, 20, 21]
    fields = {"grad_flow", "bptt_carry", "whh_sigma_max", "tanh_derivative_mean", "saturated_fraction",
              "clip_fraction", "grad_param_ratio"}
    for r in rows:
        if r["iteration"] == 20:
            assert not fields & r.keys()
        else:
            assert fields <= r.keys() and len(r["grad_flow"]) == 10 and len(r["bptt_carry"]) == 10
            assert r["grad_flow"][0] > r["grad_flow"][-1] > 0 and r["whh_sigma_max"] > 0
    assert rows[0]["whh_sigma_max"] < 0.5 and rows[0]["grad_flow"][-1] / rows[0]["grad_flow"][0] < 1e-3
    # Off by default; a resumed run can turn it on.
    ckpt = tmp_path / "c.npz"
    metrics.unlink()
    assert main(["train", str(text), "--iterations", "20", "--checkpoint", str(ckpt), *common]) == 0
    assert not any(fields & json.loads(line).keys() for line in metrics.read_text().splitlines())
    assert main(["train", str(text), "--iterations", "5", "--resume", str(ckpt), "--grad-flow-every", "2",
                 "--metrics", str(metrics), "--progress-every", "0"]) == 0
    rows = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert [r["iteration"] for r in rows if "grad_flow" in r] == [21, 23, 25]
    capsys.readouterr()
    assert main(["train", str(text), "--grad-flow-every", "-1"]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0


def test_every_cell_and_stack_is_measured_from_the_start_or_once_turned_on_live(corpus):
    for kw in ({"cell": "lstm"}, {"cell": "gru"}, {"num_layers": 2}):
        snap = Trainer.from_corpus(corpus, preset("min-char-rnn", hidden_size=8, seq_length=10, grad_flow_every=10,
                                                  **kw)).step()
        assert snap.grad_flow is not None and snap.grad_flow.grad_flow.shape == (10,)
        trainer = Trainer.from_corpus(corpus, preset("min-char-rnn", hidden_size=8, seq_length=10, **kw))
        assert trainer.step().grad_flow is None
        trainer.set_live(grad_flow_every=1)
        assert trainer.step().grad_flow is not None


def test_whh_init_shapes_every_tanh_layer_of_a_stack_and_gated_cells_refuse_it(corpus):
    cfg = preset("min-char-rnn", hidden_size=8, seq_length=10, num_layers=2, whh_init="orthogonal", whh_gain=1.5)
    params = Trainer.from_corpus(corpus, cfg).params
    for key in ("L0.Wh", "L1.Wh"):
        np.testing.assert_allclose(np.linalg.svd(params[key], compute_uv=False), 1.5, rtol=1e-12)
    with pytest.raises(ValueError, match="tanh cell"):
        preset("min-char-rnn", cell="lstm", whh_init="orthogonal")


def test_sgd_steps_by_the_learning_rate_times_the_gradient():
    p = {"w": np.array([1.0, -2.0, 3.0])}
    opt = make_optimizer("sgd", p, 0.5)
    opt.step(p, {"w": np.array([2.0, 2.0, -4.0])})
    np.testing.assert_array_equal(p["w"], [0.0, -3.0, 5.0])
    opt.step(p, {"w": np.array([1.0, 1.0, 1.0])}, 0.25)  # a schedule's rate for this step
    np.testing.assert_array_equal(p["w"], [-0.25, -3.25, 4.75])
