"""Damaged, foreign and poisoned checkpoints through File → Open Checkpoint: a message, and the current
corpus and model untouched. The engine-level refusals are in tests/hardening/test_checkpoint_faults.py."""

import json

import numpy as np
import pytest

import core
from tests.gui.helpers import open_file_via_dialog, wait_iterations


@pytest.fixture
def trained(make_window, qtbot, dialogs, small_corpus_file, tmp_path):
    """A paused window with a model, and a good checkpoint of it at tmp_path/good.npz."""
    w = make_window()
    open_file_via_dialog(w, dialogs, qtbot, small_corpus_file)
    w.start()
    wait_iterations(w, qtbot, 15)
    w.pause()
    assert w.save_checkpoint(path=str(tmp_path / "good.npz"))
    w.start()
    wait_iterations(w, qtbot, w.session.iteration + 5)
    w.pause()
    return w


def rewrite(good, bad, change_arrays=None, change_meta=None):
    with np.load(good) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(arrays.pop("meta").tobytes())
    if change_arrays:
        change_arrays(arrays)
    if change_meta:
        change_meta(meta)
    np.savez(bad, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8), **arrays)
    return bad


def nan_in(key):
    def change(arrays):
        arrays[key] = arrays[key].copy()
        arrays[key].flat[0] = np.nan
    return change


class Payload:
    def __reduce__(self):
        return (print, ("unpickled!",))


CASES = {
    "truncated": (lambda good, bad: bad.write_bytes(good.read_bytes()[:500]) and bad, "truncated.npz"),
    "text file": (lambda good, bad: bad.write_text("just some notes\n") and bad, "not a charrnn checkpoint"),
    "pickled": (lambda good, bad: rewrite(good, bad, lambda a: a.update(hidden=np.array([Payload()], dtype=object))),
                "holds pickled objects; refused"),
    "future": (lambda good, bad: rewrite(good, bad, change_meta=lambda m: m.update(version=99)), "newer charrnn"),
    "nan weights": (lambda good, bad: rewrite(good, bad, nan_in("param.Why")), "non-finite"),
    "nan optimizer": (lambda good, bad: rewrite(good, bad, nan_in("opt.mem.all")), "non-finite"),
    "missing field": (lambda good, bad: rewrite(good, bad, change_meta=lambda m: m.pop("rng")), "rng"),
    "other corpus": (lambda good, bad: rewrite(good, bad, change_meta=lambda m: m.update(n_data=m["n_data"] + 7)),
                     "was trained on another text than small.txt"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_refused_checkpoint_shows_a_message_and_keeps_the_model(trained, qtbot, dialogs, tmp_path, case, capsys):
    make, expected = CASES[case]
    bad = make(tmp_path / "good.npz", tmp_path / f"{case.replace(' ', '_')}.npz")
    w = trained
    corpus, client, iteration = w.session.corpus, w.session.client, w.session.iteration
    before = len(dialogs.messages)
    w.open_checkpoint(path=str(bad))
    qtbot.waitUntil(lambda: not w.session.is_loading, timeout=10_000)
    shown = dialogs.messages[before:]
    assert len(shown) == 1 and shown[0][0] == "warning" and expected in shown[0][2], shown
    assert w.session.corpus is corpus and w.session.client is client and w.session.iteration == iteration
    at, weights = w.session.weights()
    assert at == iteration and all(np.isfinite(p).all() for p in weights.values())
    assert "unpickled!" not in capsys.readouterr().out
    w.start()
    wait_iterations(w, qtbot, iteration + 5)
    w.pause()


def test_the_good_checkpoint_still_opens_after_all_that(trained, qtbot, dialogs, tmp_path):
    w = trained
    w.open_checkpoint(path=str(tmp_path / "good.npz"))  # the unsaved progress question is answered "discard"
    qtbot.waitUntil(lambda: not w.session.is_loading, timeout=10_000)
    assert w.session.iteration == core.load_checkpoint(tmp_path / "good.npz").iteration
    assert dialogs.texts("warning") == []
