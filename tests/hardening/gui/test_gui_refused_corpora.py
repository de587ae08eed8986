"""Every refused corpus through the main window's File → Open: a message box with the loader's message, and
the previous corpus and model untouched (and still trainable). Plus a 10,000-character vocabulary, and a
200 MB file loading off the GUI thread while a 16 ms timer keeps ticking."""

import builtins
import os
import time

import numpy as np
import pytest
from PySide6.QtCore import QTimer

import core
from tests.gui.helpers import open_file_via_dialog, wait_iterations


def write(folder, name, raw: bytes):
    path = folder / name
    path.write_bytes(raw)
    return path


REFUSED = {
    "missing": (lambda d: d / "missing.txt", "no such file: {path}"),
    "folder": (lambda d: d, "{path} is a folder, not a text file"),
    "empty": (lambda d: write(d, "empty.txt", b""), "empty.txt is empty"),
    "whitespace": (lambda d: write(d, "blank.txt", b" " * 100), "blank.txt has only one distinct character (' ')"),
    "one-char": (lambda d: write(d, "zzz.txt", b"z" * 100), "zzz.txt has only one distinct character ('z')"),
    "binary": (lambda d: write(d, "blob.bin", bytes(range(256)) * 4), "blob.bin looks like a binary file, not text"),
    "utf16-with-nul": (lambda d: write(d, "nul16.txt", "ab\x00cd".encode("utf-16")), "looks like a binary file"),
    "device": (lambda d: "/dev/zero", "/dev/zero is not a regular file"),
}


@pytest.fixture
def trained(make_window, qtbot, dialogs, small_corpus_file):
    """A window on small_corpus_file with a model paused after some iterations."""
    w = make_window()
    open_file_via_dialog(w, dialogs, qtbot, small_corpus_file)
    w.start()
    wait_iterations(w, qtbot, 15)
    w.pause()
    return w


def assert_unchanged(w, corpus, client, iteration, qtbot):
    assert w.session.corpus is corpus and w.session.client is client and w.session.iteration == iteration
    at, weights = w.session.weights()
    assert at == iteration and all(np.isfinite(p).all() for p in weights.values())
    assert w.session.state == "paused" and not w.session.is_loading
    w.start()  # still usable
    wait_iterations(w, qtbot, iteration + 5)
    w.pause()


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_refused_file_shows_its_message_and_keeps_corpus_and_model(trained, qtbot, dialogs, tmp_path, case):
    make, expected = REFUSED[case]
    path = make(tmp_path)
    w = trained
    corpus, client, iteration = w.session.corpus, w.session.client, w.session.iteration
    before = len(dialogs.messages)
    open_file_via_dialog(w, dialogs, qtbot, path)
    shown = [text for _, _, text in dialogs.messages[before:]]
    assert len(shown) == 1 and dialogs.messages[-1][0] == "warning", dialogs.messages
    assert expected.format(path=path) in shown[0]
    assert_unchanged(w, corpus, client, iteration, qtbot)


def test_an_unreadable_file_shows_the_system_reason_and_keeps_state(trained, qtbot, dialogs, tmp_path, monkeypatch):
    # Root reads any file whatever its mode, so open() is made to refuse this one path.
    path = write(tmp_path, "secret.txt", b"you may not read this text")
    real_open = builtins.open

    def deny(file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and os.fspath(file) == os.fspath(path):
            raise PermissionError(13, "Permission denied", os.fspath(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", deny)
    w = trained
    corpus, client, iteration = w.session.corpus, w.session.client, w.session.iteration
    open_file_via_dialog(w, dialogs, qtbot, path)
    assert dialogs.texts("warning")[-1] == f"cannot read {path}: Permission denied"
    assert_unchanged(w, corpus, client, iteration, qtbot)


def test_a_file_too_short_for_the_window_opens_and_says_why_start_is_refused(make_window, qtbot, dialogs, tmp_path):
    w = make_window()
    open_file_via_dialog(w, dialogs, qtbot, write(tmp_path, "short.txt", b"abcdef"))
    assert w.session.corpus.name == "short.txt" and any("too short" in n for n in w.corpus_notes)
    w.start()
    assert not w.session.has_model and "too short" in dialogs.texts("warning")[-1]


def test_a_ten_thousand_character_vocabulary_trains_samples_and_draws(make_window, qtbot, dialogs, tmp_path):
    chars = [chr(c) for c in range(0x4E00, 0x4E00 + 10_000)]
    rng = np.random.default_rng(0)
    path = tmp_path / "cjk.txt"
    path.write_text("".join(chars) + "".join(rng.choice(chars, 20_000)), encoding="utf-8")
    w = make_window()
    open_file_via_dialog(w, dialogs, qtbot, path)
    assert w.session.corpus.vocab_size == 10_000
    for i in range(1, 4):
        w.step_once()
        qtbot.waitUntil(lambda: w.session.has_model and w.session.iteration == i and w.session.state == "paused",
                        timeout=10_000)
    w.sample_now()
    w.refresh_now()
    assert w.samples_panel.records and set(w.samples_panel.records[-1].text) <= set(chars)
    assert dialogs.texts("warning") == []


@pytest.mark.slow
def test_loading_a_200_mb_file_keeps_a_16_ms_timer_ticking(make_window, qtbot, dialogs, tmp_path):
    path = tmp_path / "big.txt"
    rng = np.random.default_rng(0)
    alphabet = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz      ,.;\nABCDEF", np.uint8)
    try:
        with open(path, "wb") as f:
            for _ in range(50):
                f.write(alphabet[rng.integers(0, len(alphabet), 1 << 22)].tobytes())
        w = make_window()
        qtbot.wait(300)  # the new window's first layout and paint happen before the clock starts, not in the load
        ticks = []
        timer = QTimer()
        timer.setInterval(16)
        timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
        timer.start()
        dialogs.open_paths.append(str(path))
        start = time.perf_counter()
        w.open_corpus_action.trigger()
        assert w.session.is_loading  # the action returned while the loader works
        qtbot.waitUntil(lambda: not w.session.is_loading, timeout=60_000)
        took = time.perf_counter() - start
        timer.stop()
    finally:
        path.unlink(missing_ok=True)
    assert dialogs.texts("warning") == [] and len(w.session.corpus) == 200 * (1 << 20)
    during = [t for t in ticks if t <= start + took]
    gaps = np.diff([start] + during)
    print(f"200 MB load in the GUI: {took:.1f} s, {len(during)} ticks, longest gap {gaps.max() * 1000:.0f} ms")
    assert len(during) >= took / 0.016 * 0.3  # ticking all along, not just before and after
    assert gaps.max() < 0.25  # never frozen for long (decoding in one call froze it for ~0.8 s)
