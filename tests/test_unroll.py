"""The unrolled window (core.unroll): per-step numbers agree with the model's own forward and backward, the
gradient on every h_t matches a float64 numerical gradient, and the hello lesson learns "hello"."""

import numpy as np
import pytest

from core.config import TrainConfig
from core.gru import gru_step_forward
from core.lstm import lstm_step_forward
from core.model import Arch, init_model_params, model_backward, model_forward, model_loss_and_grads
from core.rnn import rnn_step_forward, temporal_affine_forward, temporal_softmax_loss
from core.trainer import Trainer
from core.unroll import draw, peek_window, sample_step, temperature_probs, unroll
from core.vocab import Vocab

MODELS = [("rnn", 1), ("rnn", 2), ("lstm", 1), ("lstm", 3), ("gru", 1), ("gru", 2)]


def _setup(cell, layers, T=6, H=5, V=4, seed=3):
    arch = Arch(cell, layers, H, V)
    params = init_model_params(arch, seed, 0.5, "float64")
    rng = np.random.default_rng(seed)
    for k in params:  # non-zero biases, so that every term of the backward pass matters
        params[k] = params[k] + 0.1 * rng.standard_normal(params[k].shape)
    ids = rng.integers(0, V, T)
    targets = rng.integers(0, V, T)
    state0 = 0.5 * rng.standard_normal((arch.state_rows, H))
    return arch, params, ids, targets, state0


def _loss_with_h(params, arch, ids, targets, state0, at, layer, h):
    """The window's summed loss when layer's h at step `at` is replaced by h (a float64 reference forward)."""
    C = arch.carried
    prev = [state0[l * C][None].copy() for l in range(arch.layers)]
    prev_c = [state0[l * C + 1][None].copy() for l in range(arch.layers)] if arch.cell == "lstm" else None
    tops = []
    for t, x_id in enumerate(ids):
        x = np.eye(arch.vocab)[[x_id]]  # (1, V)
        for l in range(arch.layers):
            Wx, Wh, b = (params[arch.layer_key(l, n)] for n in ("Wx", "Wh", "b"))
            if arch.cell == "lstm":
                prev[l], prev_c[l], _ = lstm_step_forward(x, prev[l], prev_c[l], Wx, Wh, b)
            elif arch.cell == "gru":
                prev[l], _ = gru_step_forward(x, prev[l], Wx, Wh, b)
            else:
                prev[l], _ = rnn_step_forward(x, prev[l], Wx, Wh, b)
            if (t, l) == (at, layer):
                prev[l] = h[None].copy()
            x = prev[l]
        tops.append(x)
    scores, _ = temporal_affine_forward(np.stack(tops), params["Why"], params["by"])  # (T, 1, V)
    return temporal_softmax_loss(scores, np.asarray(targets)[:, None])[0]


@pytest.mark.parametrize("cell,layers", MODELS)
def test_per_step_losses_sum_to_the_models_window_loss(cell, layers):
    arch, params, ids, targets, state0 = _setup(cell, layers)
    u = unroll(params, ids, targets, state0)
    loss, _, _ = model_loss_and_grads(params, ids[:, None], targets[:, None], state0[:, None])
    assert u.losses.shape == (len(ids),)
    assert u.loss == pytest.approx(loss, rel=1e-12)
    assert np.allclose(u.probs.sum(axis=1), 1.0)
    assert np.allclose(u.losses, -np.log(u.probs[np.arange(len(ids)), targets]))


@pytest.mark.parametrize("cell,layers", MODELS)
def test_states_are_the_models_own(cell, layers):
    arch, params, ids, targets, state0 = _setup(cell, layers)
    u = unroll(params, ids, targets, state0)
    scores, _, cache = model_forward(params, ids[:, None], state0[:, None])
    assert np.allclose(u.scores, scores[:, 0])
    for layer in range(layers):
        assert np.allclose(u.states[layer]["h"], cache.outputs[layer]["h"][:, 0])
    names = {"rnn": {"h"}, "lstm": {"h", "c", "i", "f", "o", "g"}, "gru": {"h", "z", "r", "g"}}[cell]
    assert set(u.states[0]) == names


@pytest.mark.parametrize("cell,layers", MODELS)
def test_weight_gradients_and_the_truncated_gradient_match_model_backward(cell, layers):
    arch, params, ids, targets, state0 = _setup(cell, layers)
    u = unroll(params, ids, targets, state0)
    scores, _, cache = model_forward(params, ids[:, None], state0[:, None])
    _, dscores = temporal_softmax_loss(scores, targets[:, None])
    grads, dstate0 = model_backward(dscores, cache)
    for k in params:
        assert np.allclose(u.grads[k], grads[k], rtol=1e-10, atol=1e-12), k
    assert np.allclose(u.dstate0, dstate0[:, 0], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cell,layers", MODELS)
def test_gradient_norm_on_every_hidden_state_matches_a_numerical_gradient(cell, layers):
    arch, params, ids, targets, state0 = _setup(cell, layers)
    u = unroll(params, ids, targets, state0)
    eps = 1e-6
    for layer in range(layers):
        for t in range(len(ids)):
            h = u.states[layer]["h"][t].copy()
            g = np.zeros_like(h)
            for j in range(len(h)):
                hp, hm = h.copy(), h.copy()
                hp[j] += eps
                hm[j] -= eps
                g[j] = (_loss_with_h(params, arch, ids, targets, state0, t, layer, hp)
                        - _loss_with_h(params, arch, ids, targets, state0, t, layer, hm)) / (2 * eps)
            assert u.dh[layer, t] == pytest.approx(np.linalg.norm(g), rel=1e-6, abs=1e-9), (layer, t)


def test_the_last_step_gets_gradient_only_from_its_own_output():
    arch, params, ids, targets, state0 = _setup("rnn", 1)
    u = unroll(params, ids, targets, state0)
    p = u.probs[-1].copy()
    p[targets[-1]] -= 1.0
    assert u.dh[0, -1] == pytest.approx(np.linalg.norm(p @ params["Why"]))
    assert u.dc is None


def test_lstm_reports_the_cell_state_gradient():
    _, params, ids, targets, state0 = _setup("lstm", 2)
    u = unroll(params, ids, targets, state0)
    assert u.dc.shape == (2, len(ids)) and (u.dc > 0).all()


def _trainer(cell="rnn", layers=1, **kw):
    text = "the quick brown fox jumps over the lazy dog. " * 20
    vocab = Vocab.from_text(text)
    cfg = TrainConfig(cell=cell, num_layers=layers, hidden_size=8, seq_length=7, val_fraction=0.0,
                      sample_every=0, **kw)
    return Trainer(vocab.encode(text), vocab, cfg)


@pytest.mark.parametrize("cell,layers", [("rnn", 1), ("lstm", 2), ("gru", 1)])
def test_peek_window_is_the_next_iterations_window_and_loss(cell, layers):
    t = _trainer(cell, layers)
    for _ in range(5):
        ids, targets, state0 = peek_window(t)
        pointer, iteration = t.pointer, t.iteration
        u = unroll({k: v.copy() for k, v in t.params.items()}, ids, targets, state0)
        snap = t.step()
        assert snap.loss == pytest.approx(u.loss, rel=1e-10)
        x, y = _window_of(t, pointer, iteration)
        assert np.array_equal(ids, x) and np.array_equal(targets, y)


def _window_of(trainer, pointer, iteration):
    """The window Trainer.window() gave for the step just taken (the data at the pointer it used)."""
    T = trainer.config.seq_length
    if pointer + T + 1 >= trainer.seg_len or iteration == 0:
        pointer = 0
    chunk = trainer.data[pointer:pointer + T + 1]
    return chunk[:-1], chunk[1:]


def test_peek_window_leaves_the_trainer_unchanged():
    t = _trainer()
    t.step()
    before = (t.pointer, t.iteration, t.state.copy())
    peek_window(t)
    assert (t.pointer, t.iteration) == before[:2] and np.array_equal(t.state, before[2])


def test_peek_window_honours_the_state_reset_rule():
    t = _trainer(batch_size=2, state_reset_every=2)
    for _ in range(3):
        t.step()
    t.state[...] = 0.7
    assert t.iteration == 3
    t.step()  # iteration 3 resets nothing; now at 4: stream (4 // 2) % 2 = 0 starts from zero
    t.state[...] = 0.7
    _, _, s0 = peek_window(t, stream=0)
    _, _, s1 = peek_window(t, stream=1)
    assert not s0.any() and np.allclose(s1, 0.7)


def test_sample_step_reads_the_input_and_draws_the_next_from_its_distribution():
    arch, params, ids, targets, state0 = _setup("gru", 2)
    step = sample_step(params, state0, 2, 1.0, np.random.default_rng(0))
    u = unroll(params, [2], [0], state0)
    assert step.input == 2
    assert np.allclose(step.probs, u.probs[0])
    assert np.allclose(step.state[0], u.states[0]["h"][0]) and np.allclose(step.state[1], u.states[1]["h"][0])
    assert 0 <= step.drawn < arch.vocab
    again = sample_step(params, step.state, step.drawn, 1.0, np.random.default_rng(0))
    u2 = unroll(params, [2, step.drawn], [0, 0], state0)
    assert np.allclose(again.probs, u2.probs[1])


def test_temperature_sharpens_and_flattens():
    scores = np.array([2.0, 1.0, 0.0])
    cold, warm = temperature_probs(scores, 0.5), temperature_probs(scores, 2.0)
    assert cold[0] > temperature_probs(scores, 1.0)[0] > warm[0]
    with pytest.raises(ValueError):
        temperature_probs(scores, 0.0)


def test_draw_follows_the_distribution():
    rng = np.random.default_rng(1)
    draws = [draw([0.0, 0.0, 1.0], rng) for _ in range(20)]
    assert draws == [2] * 20


# -- the hello lesson ------------------------------------------------------------------------------------------


def test_hello_experiment_is_the_slides_setting():
    from core.builtins import load_builtin
    from core.experiments import experiment

    exp = experiment("hello")
    corpus = load_builtin(exp.corpus)
    assert set(corpus.text()) == set("helo") and corpus.text().startswith("hellohello")
    assert corpus.vocab.chars == ("e", "h", "l", "o")  # sorted(set(text)), the project's rule
    assert (exp.config.hidden_size, exp.config.seq_length, exp.config.cell, exp.config.num_layers) == (3, 4, "rnn", 1)


def test_hello_learns_to_spell_hello_greedily_from_h():
    from core.builtins import load_builtin
    from core.experiments import experiment

    exp = experiment("hello")
    trainer = Trainer.from_corpus(load_builtin(exp.corpus), exp.config)
    greedy = lambda: trainer.sample_now(length=14, prime="h", argmax=True, from_state=False).text  # noqa: E731
    assert greedy()[:5] != "hello"  # not before training
    for _ in range(200):
        trainer.step()
    assert greedy() == "hellohellohello"


def test_cli_trains_the_hello_experiment_without_a_corpus_argument(capsys):
    from core.cli import train_main

    assert train_main(["--experiment", "hello", "--iterations", "100", "--no-run", "--progress-every", "0"]) == 0
    out = capsys.readouterr().out
    assert "data has 1000 characters, 4 unique." in out and "iter 100, loss:" in out


def test_cli_without_a_corpus_or_an_experiment_with_its_own_text_says_what_to_give(capsys):
    from core.cli import train_main

    assert train_main(["--iterations", "1", "--no-run"]) == 2
    assert "give a text file or builtin:NAME" in capsys.readouterr().err


@pytest.mark.parametrize("cell,layers", MODELS)
def test_without_weight_gradients_the_norms_are_the_same(cell, layers):
    _, params, ids, targets, state0 = _setup(cell, layers)
    full, light = unroll(params, ids, targets, state0), unroll(params, ids, targets, state0, weights=False)
    assert light.grads == {}
    assert np.allclose(full.dh, light.dh) and np.allclose(full.dstate0, light.dstate0)
    assert (full.dc is None) == (light.dc is None) and (full.dc is None or np.allclose(full.dc, light.dc))
