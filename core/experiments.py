"""The lecture's gradient-flow experiments as named training configs: vanishing, exploding, clipping rescues it,
LSTM keeps the signal; and the slides' "hello" lesson (core.hello), which brings its own text.

Each is an ordinary TrainConfig (a run to pause, inspect and resume like any other) with gradient-flow measurement
on, so the reach of the last prediction (core.gradflow) is there from the first iteration. All share one shape:
H = 100 hidden units, one stream, T = SEQ_LENGTH characters per window (long, so that the reach over many steps is
visible), measured every GRAD_FLOW_EVERY iterations.

Measured on the built-in Shakespeare (2 busy cores): "vanishing" keeps less than 1e-3 of the last prediction's
gradient 3 steps back at initialisation (1e-24 at 24 steps, 7e-197 at 199), and 10 steps back after a minute of
training (4,852 iterations, loss 942 -> 423 per window); "exploding" starts with a reach that grows 3.3 million
times over the 199 steps back and diverges at iteration 3 (0.1 s: the 4th update's loss is not finite, the weights
of iteration 3 are kept); "clipping" runs 7,328 iterations in a minute, finite throughout, the loss 824 -> 581,
with 53% of the gradient entries clipped at first and 2% at the end.

The exploding pair uses plain SGD on purpose: Adagrad, RMSProp and Adam divide each step by the gradient's own
size, so an exploding gradient cannot throw their weights far; SGD's step is the gradient times the learning rate,
which is the update the lecture's argument (and its fix, clipping) is about.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import hello
from .config import PRESETS, TrainConfig

SEQ_LENGTH = 200  # T of every experiment: the lecture's "many steps back"
GRAD_FLOW_EVERY = 50  # iterations between measurements in the experiments (each costs about two iterations)


@dataclass(frozen=True)
class Experiment:
    """One regime of gradient flow through time, as a run a teacher starts with one click."""

    name: str  # key, e.g. "exploding"
    title: str  # menu text
    config: TrainConfig  # the run: an ordinary config, validated
    shows: str  # what the class should see, in plain words
    corpus: str | None = None  # the built-in text it trains on (core.builtins), or None: the text in use


def _lesson(**changes) -> TrainConfig:
    """The lesson's recipe (H=100, Adagrad 0.1, clip 5, randn * 0.01) at the experiments' window length."""
    return PRESETS["min-char-rnn"].replace(seq_length=SEQ_LENGTH, grad_flow_every=GRAD_FLOW_EVERY,
                                           **changes).validate()


# W_hh orthogonal with every singular value 1.5, plain SGD: at initialisation the reach of the last prediction
# grows with every step back instead of shrinking.
_EXPLODING = dict(whh_init="orthogonal", whh_gain=1.5, optimizer="sgd", learning_rate=0.0075, dtype="float32")

EXPERIMENTS: dict[str, Experiment] = {e.name: e for e in (
    Experiment(
        "vanishing", "Vanishing gradients (the lesson's initialisation)", _lesson(),
        "W_hh starts as randn * 0.01 (largest singular value about 0.2): the gradient of the last prediction "
        "shrinks at every step back, to less than a thousandth within a few steps, so the first characters of the "
        "window teach the last one nothing. Watch how far the reach grows as training goes on."),
    Experiment(
        "exploding", "Exploding gradients (W_hh orthogonal x 1.5, clipping off)", _lesson(clip=0.0, **_EXPLODING),
        "Every singular value of W_hh is 1.5: the gradient grows at each step back, SGD takes a step as large, and "
        "within a few iterations the loss is no longer finite. Training pauses and says why."),
    Experiment(
        "clipping", "Clipping rescues it (the same with clip 5)", _lesson(clip=5.0, **_EXPLODING),
        "The same start, with each gradient entry clipped to [-5, 5]: at first half the entries are cut, no update "
        "can be huge, and the run stays finite while the loss falls. Later most units saturate, and the reach "
        "vanishes again: clipping fixes exploding, not vanishing."),
    Experiment(
        "lstm", "LSTM keeps the signal (the same size LSTM)", _lesson(cell="lstm"),
        "The same size, recipe and start, as an LSTM: its cell state is carried by addition, so going back one "
        "step multiplies the cell path's gradient (right) by the forget gate (about 0.73 at the start) instead of "
        "by W_hh and tanh'. Its reach falls far more slowly than the tanh RNN's: compare g_T-1/g_0 here with the "
        "Vanishing experiment's."),
    Experiment("hello", "Hello (the slides' character-level language model)", hello.CONFIG, hello.SHOWS, "hello"),
)}
LESSON_TEXTS = frozenset(e.corpus for e in EXPERIMENTS.values() if e.corpus)  # built-in texts only a lesson uses


def experiment(name: str) -> Experiment:
    """An experiment by name; unknown names raise ValueError listing the known ones."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose from {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[name]
