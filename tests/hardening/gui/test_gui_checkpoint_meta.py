"""A checkpoint whose app metadata is malformed: refused with a message before anything is replaced."""

import json

import numpy as np
import pytest

from .test_gui_checkpoints import trained  # noqa: F401 - the fixture


def with_gui_meta(good, bad, payload: bytes):
    """A copy of the good checkpoint whose app metadata is the given bytes."""
    with np.load(good) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["extra.gui"] = np.frombuffer(payload, dtype=np.uint8)
    np.savez(bad, **arrays)
    return bad


def changed(good, **changes) -> bytes:
    with np.load(good) as z:
        meta = json.loads(z["extra.gui"].tobytes())
    meta.update(changes)
    return json.dumps(meta).encode()


MALFORMED = {
    "elapsed text": (lambda g: changed(g, elapsed="soon"), "training time"),
    "elapsed list": (lambda g: changed(g, elapsed=[1, 2]), "training time"),
    "elapsed negative": (lambda g: changed(g, elapsed=-5.0), "training time"),
    "elapsed NaN": (lambda g: changed(g, elapsed=float("nan")), "training time"),
    "unhashable preset": (lambda g: changed(g, preset=["fast"]), "preset"),
    "numeric preset": (lambda g: changed(g, preset=7), "preset"),
    "sample iteration text": (lambda g: changed(g, samples=[{"iteration": "ten", "text": "abc"}]),
                              "sample 1 has a malformed iteration"),
    "sample iteration negative": (lambda g: changed(g, samples=[{"iteration": 3, "text": "a"},
                                                                {"iteration": -1, "text": "b"}]),
                                  "sample 2 has a malformed iteration"),
    "sample without text": (lambda g: changed(g, samples=[{"iteration": 3}]), "sample 1 has no text"),
    "sample not an object": (lambda g: changed(g, samples=["abc"]), "sample 1 is not"),
    "samples not a list": (lambda g: changed(g, samples="abc"), "samples are not a list"),
    "corpus not text": (lambda g: changed(g, corpus={"path": "x"}), "corpus"),
    "not an object": (lambda g: b"[1, 2, 3]", "not a JSON object"),
    "not JSON": (lambda g: b"{elapsed: 3", "not readable JSON"),
    "not UTF-8": (lambda g: b"\xff\xfe{}", "not readable JSON"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_app_metadata_is_refused_and_the_current_model_stays(trained, qtbot, dialogs, tmp_path, case):
    make, expected = MALFORMED[case]
    good = tmp_path / "good.npz"
    bad = with_gui_meta(good, tmp_path / "bad.npz", make(good))
    w = trained
    corpus, client, iteration = w.session.corpus, w.session.client, w.session.iteration
    curve = w.loss_panel.history.iterations.view.copy()
    samples = w.samples_panel.count
    before = len(dialogs.messages)
    w.open_checkpoint(path=str(bad))
    qtbot.waitUntil(lambda: not w.session.is_loading, timeout=10_000)
    w.refresh_now()  # a bad sample would only fail when drawn
    shown = dialogs.messages[before:]
    assert len(shown) == 1 and shown[0][:2] == ("warning", "Cannot open checkpoint"), shown
    assert "bad.npz" in shown[0][2] and expected in shown[0][2], shown
    assert w.session.corpus is corpus and w.session.client is client and w.session.iteration == iteration
    assert w.session.state == "paused" and w.session.weights()[0] == iteration
    assert np.array_equal(w.loss_panel.history.iterations.view, curve) and w.samples_panel.count == samples
    status = client.status()  # the engine is alive, holds the same model and waits
    assert status.ok and status.value.state == "idle" and status.value.iteration == iteration
    w.start()  # and it trains on
    qtbot.waitUntil(lambda: w.session.iteration > iteration + 3, timeout=10_000)
    w.pause()


def test_well_formed_app_metadata_from_a_newer_version_still_opens(trained, qtbot, dialogs, tmp_path):
    # Unknown keys (here and in the samples) and an unknown preset name are a newer version's, not damage.
    good = tmp_path / "good.npz"
    newer = changed(good, preset="turbo", colour="blue",
                    samples=[{"iteration": 4, "text": "hello", "smooth_loss": None, "font": "big"}])
    path = with_gui_meta(good, tmp_path / "newer.npz", newer)
    w = trained
    with qtbot.waitSignal(w.session.checkpointOpened, timeout=10_000):  # the engine opened it: settings shown
        w.open_checkpoint(path=str(path))
    qtbot.waitUntil(lambda: not w.session.is_loading, timeout=10_000)
    assert dialogs.texts("warning") == []
    assert w.samples_panel.recent(1)[0].text == "hello"
    assert w.settings_panel.preset_name is None  # "turbo" is unknown here, and no preset has this model (H=16)
