"""A checkpoint written before cells and layers existed (tests/data/vanilla_v1.npz, by commit 6083af1) still
opens as a vanilla 1-layer model, resumes exactly as that code did, and samples the same text.

tests/data/vanilla_v1_expected.json holds what the old code itself produced from the file: the next four
iterations (loss, smooth loss, sample, validation) and a primed sample.
"""

import json
import os

import numpy as np
import pytest

from core import corpus_from_text, generate, load_checkpoint, restore_trainer

DATA = os.path.join(os.path.dirname(__file__), "data")
TEXT = "".join(f"{i} little pigs went to market, {i * 7 % 13} came home.\n" for i in range(60))


@pytest.fixture
def expected():
    with open(os.path.join(DATA, "vanilla_v1_expected.json"), encoding="utf-8") as f:
        return json.load(f)


def test_old_checkpoint_opens_as_vanilla_one_layer():
    ckpt = load_checkpoint(os.path.join(DATA, "vanilla_v1.npz"))
    assert ckpt.config.cell == "rnn" and ckpt.config.num_layers == 1 and ckpt.config.dropout == 0.0
    assert sorted(ckpt.params) == ["Whh", "Why", "Wxh", "bh", "by"]
    assert ckpt.iteration == 5


def test_old_checkpoint_resumes_exactly_as_the_code_that_wrote_it(expected):
    corpus = corpus_from_text(TEXT, name="pigs")
    trainer = restore_trainer(load_checkpoint(os.path.join(DATA, "vanilla_v1.npz")), corpus.data, corpus.vocab)
    got = [[s.loss, s.smooth_loss, s.sample.text if s.sample else None, s.val_bpc] for s in trainer.run(iterations=4)]
    assert got == expected["next"]


def test_old_checkpoint_samples_the_same_text(expected):
    ckpt = load_checkpoint(os.path.join(DATA, "vanilla_v1.npz"))
    text = generate(ckpt.params, ckpt.vocab, 20, np.random.default_rng(3), prime="1 little").text
    assert text == expected["generate"]
