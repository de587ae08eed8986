"""Every state a cell exposes has a declared range, its values keep to it, and rankings respect it."""

import numpy as np
import pytest

from core.config import TrainConfig
from core.model import STATE_MEANINGS, STATE_NAMES, STATE_RANGES
from core.probe import probe, rank_units
from core.trainer import Trainer
from core.vocab import Vocab

TEXT = "the cat [sat] on the mat; the dog (ran) home.\n" * 40
VOCAB = Vocab.from_text(TEXT)


@pytest.fixture(scope="module", params=["lstm", "gru"])
def probed(request):
    """A 2-layer model of the cell trained briefly, and its probe of the text's first 300 characters."""
    config = TrainConfig(cell=request.param, num_layers=2, dropout=0.1, hidden_size=12, seq_length=16, batch_size=4,
                         optimizer="adam", learning_rate=1e-2, init_scale=0.3, val_fraction=0.0, sample_every=0)
    trainer = Trainer(VOCAB.encode(TEXT), VOCAB, config)
    for _ in trainer.run(60):
        pass
    return request.param, probe(trainer.params, VOCAB, TEXT[:300])


def test_every_state_name_has_a_range_and_a_meaning():
    names = {name for cell in STATE_NAMES.values() for name in cell}
    assert names == set(STATE_RANGES) == set(STATE_MEANINGS)
    assert STATE_RANGES["c"] is None  # the cell state is the one unbounded state


def test_probed_states_keep_to_their_ranges(probed):
    cell, result = probed
    for layer in result.states:
        assert tuple(layer) == STATE_NAMES[cell]
        for name, values in layer.items():
            bounds = STATE_RANGES[name]
            if bounds is not None:
                assert bounds[0] <= values.min() and values.max() <= bounds[1], name


def test_the_cell_state_leaves_the_tanh_range(probed):
    cell, result = probed
    if cell != "lstm":
        pytest.skip("only the LSTM has a cell state")
    assert max(np.abs(layer["c"]).max() for layer in result.states) > 1.0  # so a [-1, 1] colour scale would clip


def test_saturation_of_a_tanh_state_is_the_share_beyond_095():
    h = np.array([[0.96, 0.2], [-0.97, 0.94], [0.1, -0.99], [0.99, 0.0]])  # (L=4, H=2)
    assert rank_units(h, "most_saturated") == [(0, 0.75), (1, 0.25)]
    assert rank_units(h, "most_saturated", bounds=(-1.0, 1.0)) == rank_units(h, "most_saturated")


def test_a_gate_saturates_near_zero_as_well_as_near_one():
    gates = np.array([[0.01, 0.5, 0.99], [0.02, 0.6, 0.98], [0.0, 0.97, 0.5], [0.03, 0.5, 0.99]])  # (L=4, H=3)
    ranked = rank_units(gates, "most_saturated", bounds=(0.0, 1.0))
    assert ranked == [(0, 0.75), (2, 0.75), (1, 0.0)]  # 0.03 is beyond 2.5% of the range; 0.97 is not
    assert rank_units(gates, "most_saturated")[0][0] == 2  # read as tanh, a gate shut at 0 would not count


def test_an_unbounded_state_cannot_be_ranked_by_saturation_but_by_the_rest():
    c = np.array([[3.0, -0.5], [2.5, 0.4], [-4.0, 0.1]])  # (L=3, H=2)
    with pytest.raises(ValueError, match="unbounded"):
        rank_units(c, "most_saturated", bounds=None)
    assert rank_units(c, "most_active", bounds=None)[0] == (0, pytest.approx(9.5 / 3))
    assert rank_units(c, "most_variable", bounds=None)[0][0] == 0
