"""Gate saturation (core/saturation.py): per layer, per sigmoid gate, per unit, the fractions of characters at which
the gate is shut (< 0.1) and open (> 0.9), as in Karpathy, Johnson, Fei-Fei 2015, section 4.2."""

from __future__ import annotations

import numpy as np
import pytest

import core
from core.model import Arch, initial_state, init_model_params, states_of
from core.saturation import (LEFT, NO_GATES, RIGHT, SIGMOID_GATES, gate_saturation, held_out_ids,
                             saturation_fractions, stream_layout)

V, H = 11, 7


def model(cell, layers=1, hidden=H, scale=0.5, seed=0):
    return init_model_params(Arch(cell, layers, hidden, V), seed, scale, "float64")


def passage(n=300, seed=1):
    return np.random.RandomState(seed).randint(0, V, n)


def force_gate_biases(params, cell, value):
    """Every sigmoid gate's bias of every layer set to value (huge: the gate is pinned open or shut)."""
    blocks = {"lstm": ("i", "f", "o", "g"), "gru": ("z", "r", "g")}[cell]
    layers = sum(1 for k in params if k.endswith(".b"))
    for layer in range(layers):
        b = params[f"L{layer}.b"]
        for k, name in enumerate(blocks):
            if name in SIGMOID_GATES[cell]:
                b[k * H:(k + 1) * H] = value
    return params


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gates_forced_shut_are_left_saturated_at_every_character(cell):
    params = force_gate_biases(model(cell, layers=2), cell, -1e3)
    sat = gate_saturation(params, passage())
    for layer in range(2):
        for g in SIGMOID_GATES[cell]:
            np.testing.assert_array_equal(sat.left[layer][g], np.ones(H))
            np.testing.assert_array_equal(sat.right[layer][g], np.zeros(H))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gates_forced_open_are_right_saturated_at_every_character(cell):
    params = force_gate_biases(model(cell, layers=2), cell, 1e3)
    sat = gate_saturation(params, passage())
    for layer in range(2):
        for g in SIGMOID_GATES[cell]:
            np.testing.assert_array_equal(sat.left[layer][g], np.zeros(H))
            np.testing.assert_array_equal(sat.right[layer][g], np.ones(H))


def test_a_hand_made_gate_gives_its_known_fractions():
    # unit 0: shut at 3 of 8 steps and open at 2; unit 1: never saturated; unit 2: 0.1 and 0.9 exactly are not
    # saturated (strictly below / above the thresholds), 0.0999 and 0.9001 are.
    values = np.array([
        [0.05, 0.5, LEFT],
        [0.01, 0.5, RIGHT],
        [0.09, 0.5, 0.0999],
        [0.95, 0.5, 0.9001],
        [0.99, 0.5, 0.5],
        [0.50, 0.5, 0.5],
        [0.20, 0.5, 0.5],
        [0.80, 0.5, 0.5],
    ])  # (T, H) = (8, 3)
    left, right = saturation_fractions(values)
    np.testing.assert_allclose(left, [3 / 8, 0, 1 / 8])
    np.testing.assert_allclose(right, [2 / 8, 0, 1 / 8])


def test_only_the_counted_steps_count():
    values = np.array([[0.0], [0.0], [1.0], [1.0]])[:, None, :]  # (T, S, H) = (4, 1, 1)
    counted = np.array([[True], [False], [False], [True]])  # (T, S)
    left, right = saturation_fractions(values, counted)
    assert (left[0], right[0]) == (0.5, 0.5)


@pytest.mark.parametrize("cell, gates", [("lstm", ("i", "f", "o")), ("gru", ("z", "r"))])
def test_two_layers_give_one_fraction_per_unit_per_sigmoid_gate_per_layer(cell, gates):
    sat = gate_saturation(model(cell, layers=2, scale=2.0), passage())
    assert sat.cell == cell and sat.gates == gates and sat.layers == 2
    assert sat.characters == 300 and sat.note == ""
    for layer in range(2):
        assert set(sat.left[layer]) == set(sat.right[layer]) == set(gates)  # the LSTM's tanh candidate g is left out
        for g in gates:
            lo, hi = sat.left[layer][g], sat.right[layer][g]
            assert lo.shape == hi.shape == (H,)
            assert np.all((lo >= 0) & (hi >= 0) & (lo + hi <= 1 + 1e-12))


def test_the_tanh_rnn_has_no_gates_and_says_why():
    for layers in (1, 2):
        sat = gate_saturation(model("rnn", layers=layers), passage())
        assert sat.gates == () and sat.layers == 0 and sat.note == NO_GATES
        assert "no gates" in sat.note


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_parallel_streams_count_what_one_sequential_read_counts(cell):
    # Each stream's counted characters start after a warm-up of 100 characters, so their states have read text as a
    # sequential read's have; strong random weights (scale 1.5) make long-memory dynamics, so the states differ a
    # little and the fractions agree within 0.05 (with scale 0.5 they are equal).
    params, ids = model(cell, layers=2, scale=1.5), passage(600)
    one = gate_saturation(params, ids, streams=1)
    many = gate_saturation(params, ids, streams=6, warmup=100)
    assert one.characters == many.characters == 600
    for layer in range(2):
        for g in one.gates:
            np.testing.assert_allclose(many.left[layer][g], one.left[layer][g], atol=0.05)
            np.testing.assert_allclose(many.right[layer][g], one.right[layer][g], atol=0.05)


def test_one_stream_is_exactly_the_models_own_reading():
    params, ids = model("lstm", layers=2, scale=1.5), passage(120)
    _, states, _ = states_of(params, ids[:, None], initial_state(Arch("lstm", 2, H, V), 1, np.float64))
    sat = gate_saturation(params, ids, streams=1)
    for layer in range(2):
        f = states[layer]["f"][:, 0]  # (T, H)
        np.testing.assert_array_equal(sat.left[layer]["f"], (f < LEFT).mean(axis=0))
        np.testing.assert_array_equal(sat.right[layer]["f"], (f > RIGHT).mean(axis=0))


@pytest.mark.parametrize("N, S, w", [(1, 32, 32), (10, 3, 5), (100, 7, 0), (100, 7, 40), (2000, 32, 32), (33, 32, 8)])
def test_the_stream_layout_counts_every_character_once_after_its_warm_up(N, S, w):
    index, counted = stream_layout(N, S, w)
    assert index.shape == counted.shape
    np.testing.assert_array_equal(np.sort(index[counted]), np.arange(N))
    assert index.min() >= 0 and index.max() <= N - 1
    T, streams = index.shape
    for s in range(streams):
        steps = np.flatnonzero(counted[:, s])
        assert len(steps) and np.all(np.diff(steps) == 1)  # one run of counted steps per stream
        np.testing.assert_array_equal(np.diff(index[:steps[-1] + 1, s]), 1)  # reads consecutive characters
        assert steps[0] == min(w, index[steps[0], s])  # warm-up: w characters before, or all there are


def test_held_out_ids_come_from_the_validation_tail():
    text = "".join(chr(97 + (i * 7) % 26) + (" " if i % 9 else "\n") for i in range(3000))
    trainer = core.Trainer.from_corpus(core.corpus_from_text(text), core.preset("lstm", hidden_size=8,
                                                                                  val_fraction=0.2))
    ids = held_out_ids(trainer, 500)
    assert 300 <= len(ids) <= 500
    tail = trainer.vocab.decode(trainer.data[trainer.n_train:])
    assert trainer.vocab.decode(ids) in tail
