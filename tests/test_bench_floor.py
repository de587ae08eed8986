"""The bench's two reference programs do the lesson's work: the verbatim port runs and stops where told, and the
floor program computes the lesson's losses (so its speed is the speed of the real work, not of a shortcut)."""

import os
import subprocess
import sys

import numpy as np

from bench.floor_min_char_rnn import FloorMinCharRNN
from core import corpus_from_text
from tests.naive import NaiveMinCharRNN

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEXT = ("When shall we three meet again\nIn thunder, lightning, or in rain?\n"
        "When the hurlyburly's done,\nWhen the battle's lost and won.\n") * 20


def test_floor_program_computes_the_lessons_losses_and_update():
    corpus = corpus_from_text(TEXT, name="witches")
    floor = FloorMinCharRNN(corpus.data, corpus.vocab_size, seed=3)
    naive = NaiveMinCharRNN(corpus.data, corpus.vocab_size, seed=3)
    loss, _ = floor.step()
    assert abs(loss - naive.step()) < 1e-12
    for k in ("Wxh", "Whh", "Why"):  # the same update, to round-off
        np.testing.assert_allclose(floor.w[k], getattr(naive, k), rtol=0, atol=1e-12)
    np.testing.assert_allclose(floor.hs[0], naive.hprev[:, 0], rtol=0, atol=1e-12)
    for _ in range(7):  # Adagrad amplifies round-off: later steps agree less closely
        loss, _ = floor.step()
        assert abs(loss - naive.step()) < 1e-9
    assert abs(floor.smooth_loss - naive.smooth_loss) < 1e-9
    windows = len(TEXT) // 25 + 2
    for _ in range(windows):
        floor.step()
        naive.step()
    assert floor.p == naive.p and floor.p < 25 * windows  # it wrapped around as the lesson does


def test_floor_program_samples_every_hundred_iterations():
    corpus = corpus_from_text(TEXT, name="witches")
    floor = FloorMinCharRNN(corpus.data, corpus.vocab_size)
    samples = [floor.step()[1] for _ in range(201)]
    drawn = [i for i, s in enumerate(samples) if s is not None]
    assert drawn == [0, 100, 200]
    assert all(len(samples[i]) == 200 and 0 <= min(samples[i]) and max(samples[i]) < corpus.vocab_size for i in drawn)


def run_program(tmp_path, script, iterations):
    path = tmp_path / "input.txt"
    path.write_text(TEXT, encoding="utf-8")
    return subprocess.run([sys.executable, os.path.join(ROOT, "bench", script), str(path), str(iterations)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)


def test_lesson_port_stops_after_the_iterations_it_is_given(tmp_path):
    r = run_program(tmp_path, "lesson_min_char_rnn.py", 201)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"data has {len(TEXT)} characters, {len(set(TEXT))} unique.\n")
    assert [line.split(",")[0] for line in r.stdout.splitlines() if line.startswith("iter ")] == \
        ["iter 0", "iter 100", "iter 200"]
    assert r.stdout.count("----\n") == 2 * 3  # a sample (between two dashed lines) before iterations 0, 100, 200


def test_floor_program_prints_like_the_lesson(tmp_path):
    r = run_program(tmp_path, "floor_min_char_rnn.py", 201)
    assert r.returncode == 0, r.stderr
    assert [line.split(",")[0] for line in r.stdout.splitlines() if line.startswith("iter ")] == \
        ["iter 0", "iter 100", "iter 200"]
