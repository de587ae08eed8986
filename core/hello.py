"""The lecture's "hello" lesson (slides 33-39): the training sequence "hello" repeated, vocabulary {h, e, l, o},
a tanh RNN of 3 hidden units unrolled over 4 steps, as the slides draw it.

The vocabulary follows the project's rule, sorted(set(text)): ids e=0, h=1, l=2, o=3 (the slide lists h, e, l,
o; checkpoints store the characters, so only the order of the one-hot rows differs from the drawing).

The recipe is the lesson's own (min-char-rnn: Adagrad 0.1, clip 5, randn * 0.01, float64) at H = 3, T = 4.
Measured (seeds 0, 1, 2; greedy sampling from "h" with a zero state after every iteration): it first gives
"hello" after 18, 14 and 8 iterations and keeps giving it from iteration 38, 14 and 8 on (a few milliseconds);
the loss per character after 3,000 iterations is about 0.003 nats.
"""

from __future__ import annotations

from .config import PRESETS, TrainConfig

WORD = "hello"  # the slides' training sequence
REPEATS = 200  # copies of the word in the training text (1,000 characters: 250 windows of 4)
HELLO_TEXT = WORD * REPEATS  # "hellohello...": after "o" comes "h" again

CONFIG: TrainConfig = PRESETS["min-char-rnn"].replace(
    hidden_size=3, seq_length=4, sample_every=25, sample_length=20, eval_every=100).validate()

DESCRIPTION = "the slides' training sequence “hello”, repeated (1,000 characters; vocabulary e, h, l, o)"
SHOWS = ("The slides' example: the text “hello” repeated, vocabulary {h, e, l, o}, a tanh RNN with 3 hidden units "
         "unrolled over 4 steps. Within a few dozen iterations greedy sampling from “h” spells “hello”. Open the "
         "Unrolled tab and press Step: x_t, h_t = tanh(W_hh h_t-1 + W_xh x_t) and y_t = W_hy h_t column by column, "
         "then the gradient flowing back to the truncation boundary. Your own text is back under File → Open "
         "Recent or File → Built-in Corpora.")
