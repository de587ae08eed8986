"""Hostile corpora through both doors: core.load_corpus in-process, and `python -m core train PATH` in a subprocess.

Refusals end the CLI with exit code 2 and exactly one line on stderr (no traceback); accepted texts train.
Cases already covered elsewhere are not repeated here: tests/test_corpus.py checks load_corpus for missing,
folder, unreadable (patched open), empty, one character, whitespace, binary, every encoding and mixed
newlines; tests/test_cli.py checks the CLI for missing, folder, empty, binary, one character and too short.

Unreadable files: the suite runs as root, and root reads a file whatever its mode (chmod 000) or its
folder's (a folder without x permission), so unreadability is simulated by making `open` raise
PermissionError for that one path, in-process and inside the CLI's own process.
"""

import os
import stat
import threading
import time

import numpy as np
import pytest

from core import CorpusError, Trainer, load_checkpoint, load_corpus, preset
from core.vocab import Vocab

from .conftest import TINY, assert_one_line_error, popen_cli, run_cli


def write(folder, name, raw: bytes):
    path = folder / name
    path.write_bytes(raw)
    return path


def tiny_config(**kw):
    base = dict(hidden_size=16, seq_length=8, sample_every=0, sample_length=20)
    base.update(kw)
    return preset("min-char-rnn", **base)


# --- refused through the CLI (the cases test_cli.py does not run) ----------------------------


def test_whitespace_only_file_is_refused_by_the_cli(tmp_path):
    result = run_cli("train", write(tmp_path, "blank.txt", b" " * 500), "--iterations", "5")
    assert_one_line_error(result, 2, "blank.txt has only one distinct character (' ')")


def test_newlines_only_file_is_refused_by_the_cli_after_normalising_them(tmp_path):
    # \r\n and \r become \n, so a file of mixed line endings and nothing else has one character.
    result = run_cli("train", write(tmp_path, "newlines.txt", b"\r\n\r\n\r\r\n\n" * 50), "--iterations", "5")
    assert_one_line_error(result, 2, "newlines.txt has only one distinct character ('\\n')")


DENY_OPEN = """\
import builtins, os
_real_open = builtins.open
def _deny(file, *args, **kwargs):
    if isinstance(file, (str, bytes, os.PathLike)) and os.fspath(file) == {path!r}:
        raise PermissionError(13, "Permission denied", os.fspath(file))
    return _real_open(file, *args, **kwargs)
builtins.open = _deny
"""


def test_unreadable_file_is_refused_by_the_cli(tmp_path, text_file):
    result = run_cli("train", text_file, "--iterations", "5", patch=DENY_OPEN.format(path=str(text_file)))
    assert_one_line_error(result, 2, f"cannot read {text_file}: Permission denied")


def test_device_is_refused_without_reading_it():
    # /dev/null reads as empty and would be called empty; the real point is that a device is not a text file.
    with pytest.raises(CorpusError, match=r"^/dev/null is not a regular file"):
        load_corpus("/dev/null")


def test_endless_device_is_refused_by_the_cli_instead_of_reading_forever():
    # /dev/zero never ends: reading it fills memory. The address-space cap turns that into a quick failure
    # rather than a machine-wide memory squeeze if the refusal ever regresses.
    cap = "import resource; resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))"
    result = run_cli("train", "/dev/zero", "--iterations", "5", patch=cap, timeout=60)
    assert_one_line_error(result, 2, "/dev/zero is not a regular file")


def test_named_pipe_with_a_writer_is_read_like_a_file(tmp_path):
    # Pipes stay allowed so that `charrnn-train <(zcat corpus.txt.gz)` works; the loader reads to the end.
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    text = "a pipe full of text, written by another thread.\n" * 20

    def writer():
        with open(fifo, "w", encoding="utf-8") as f:
            f.write(text)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    corpus = load_corpus(fifo)
    thread.join(5)
    assert corpus.text() == text


def test_a_file_too_big_for_memory_is_refused_with_a_message(tmp_path, text_file, monkeypatch):
    import core.corpus

    def no_memory(*args, **kwargs):  # as np.empty(n) fails for the ids of a text larger than memory
        raise MemoryError

    monkeypatch.setattr(core.corpus, "_encode", no_memory)
    with pytest.raises(CorpusError, match=r"^input.txt is too large to load into memory"):
        load_corpus(text_file)


def test_a_file_too_big_for_memory_is_refused_by_the_cli(text_file):
    patch = """\
import core.corpus
def _no_memory(*args, **kwargs):
    raise MemoryError
core.corpus._sniff = _no_memory
"""
    result = run_cli("train", text_file, "--iterations", "5", patch=patch)
    assert_one_line_error(result, 2, "input.txt is too large to load into memory")


# --- accepted encodings through the CLI ------------------------------------------------------

SAMPLE = "naïve café — ✓ Ünïcödé\nthe quick brown fox, again and again.\n" * 8


@pytest.mark.parametrize("raw, warning", [
    (b"\xff\xfe" + SAMPLE.encode("utf-16-le"), None),
    (b"\xfe\xff" + SAMPLE.encode("utf-16-be"), None),
    (SAMPLE.encode("utf-8-sig"), None),
    (SAMPLE.replace("—", "-").replace("✓", "v").encode("latin-1"), "decoded as cp1252"),
    (SAMPLE.replace("\n", "\r\n").encode("utf-8"), None),
    (SAMPLE.replace("\n", "\r").encode("utf-8"), None),
], ids=["utf16-le-bom", "utf16-be-bom", "utf8-bom", "latin1", "crlf", "cr"])
def test_accepted_encodings_train_through_the_cli_with_the_decoded_text(tmp_path, raw, warning):
    path = write(tmp_path, "text.txt", raw)
    corpus = load_corpus(path)
    expected = SAMPLE if warning is None else SAMPLE.replace("—", "-").replace("✓", "v")
    assert corpus.text() == expected
    result = run_cli("train", path, "--iterations", "5", *TINY)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == f"data has {len(expected)} characters, {len(set(expected))} unique."
    if warning:
        (line,) = result.stderr.splitlines()
        assert line.startswith("warning: not valid UTF-8") and warning in line
    else:
        assert result.stderr == ""


# --- a 10,000-character vocabulary ------------------------------------------------------------

CJK = [chr(c) for c in range(0x4E00, 0x4E00 + 10_000)]


@pytest.fixture
def cjk_file(tmp_path):
    rng = np.random.default_rng(1)
    text = "".join(CJK) + "".join(rng.choice(CJK, 20_000)) + "\n"
    path = tmp_path / "cjk.txt"
    path.write_text(text, encoding="utf-8")
    return path, text


def test_ten_thousand_character_vocabulary_trains_and_samples_in_process(cjk_file):
    path, text = cjk_file
    corpus = load_corpus(path)
    assert corpus.vocab_size == 10_001 and corpus.data.dtype == np.uint16
    trainer = Trainer.from_corpus(corpus, tiny_config(sample_every=1))
    snaps = list(trainer.run(iterations=3))
    assert all(np.isfinite(s.loss) and s.diverged is None for s in snaps)
    assert all(set(s.sample.text) <= set(corpus.vocab.chars) for s in snaps)
    sample = trainer.sample_now(length=40, prime=text[:5], seed=0)
    assert sample.text.startswith(text[:5]) and len(sample.text) == 45
    assert set(sample.text) <= set(corpus.vocab.chars)


def test_ten_thousand_character_vocabulary_trains_saves_and_samples_through_the_cli(cjk_file, tmp_path):
    path, text = cjk_file
    ckpt = tmp_path / "cjk.npz"
    result = run_cli("train", path, "--iterations", "3", "--hidden-size", "16", "--seq-length", "8",
                     "--sample-every", "1", "--sample-length", "20", "--progress-every", "0",
                     "--checkpoint", ckpt)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == f"data has {len(text)} characters, 10001 unique."
    assert load_checkpoint(ckpt).vocab == Vocab(sorted(set(text)))
    result = run_cli("sample", ckpt, "--prime", text[:3], "--length", "30", "--seed", "0")
    assert result.returncode == 0, result.stderr
    out = result.stdout.rstrip("\n")
    assert out.startswith(text[:3]) and len(out) == 33 and set(out) <= set(text)


# --- the file changes or disappears after it was read -----------------------------------------


def test_corpus_lives_in_memory_once_loaded_so_deleting_or_rewriting_the_file_changes_nothing(text_file):
    corpus = load_corpus(text_file)
    before = corpus.data.copy()
    text_file.write_text("something else entirely: 0123456789\n" * 10)
    trainer = Trainer.from_corpus(corpus, tiny_config())
    list(trainer.run(iterations=20))
    text_file.unlink()
    snaps = list(trainer.run(iterations=20))
    assert trainer.iteration == 40 and all(np.isfinite(s.loss) for s in snaps)
    np.testing.assert_array_equal(corpus.data, before)
    assert trainer.sample_now(length=20, seed=0).text
    with pytest.raises(CorpusError, match=f"^no such file: {text_file}$"):
        load_corpus(text_file)


def test_cli_keeps_training_after_its_corpus_file_vanishes_and_says_so_when_reopened(text_file, tmp_path):
    ckpt = tmp_path / "c.npz"
    proc = popen_cli("train", text_file, "--seconds", "2", "--checkpoint", ckpt, *TINY)
    try:
        first = proc.stdout.readline()  # printed once the corpus is in memory
        assert first.startswith("data has ")
        text_file.unlink()
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert err.strip() == f"checkpoint saved to {ckpt}"
    assert load_checkpoint(ckpt).iteration > 0
    assert_one_line_error(run_cli("train", text_file, "--iterations", "5"), 2, f"no such file: {text_file}")
    assert_one_line_error(run_cli("train", text_file, "--resume", ckpt, "--iterations", "5"), 2,
                          f"no such file: {text_file}")


def test_resuming_on_a_rewritten_corpus_file_is_refused(text_file, tmp_path):
    ckpt = tmp_path / "c.npz"
    assert run_cli("train", text_file, "--iterations", "5", "--checkpoint", ckpt, *TINY).returncode == 0
    text_file.write_text(text_file.read_text()[: -100])  # same characters, fewer of them
    assert_one_line_error(run_cli("train", text_file, "--resume", ckpt, "--iterations", "5"), 2,
                          "the checkpoint was trained on a corpus of")
    text_file.write_text("a different alphabet: XYZ 0123456789 !?\n" * 20)
    assert_one_line_error(run_cli("train", text_file, "--resume", ckpt, "--iterations", "5"), 2,
                          "the checkpoint's vocabulary")
