"""Loading training texts: what is refused, how bytes are decoded, and how characters are encoded."""

import builtins
import os

import numpy as np
import pytest

from core.corpus import Corpus, CorpusError, check_fits, corpus_from_text, decode_bytes, load_corpus


def write(tmp_path, raw: bytes, name="corpus.txt"):
    path = tmp_path / name
    path.write_bytes(raw)
    return path


# --- refused files ---------------------------------------------------------------------------


def test_missing_file_is_refused_with_its_path(tmp_path):
    path = tmp_path / "nope.txt"
    with pytest.raises(CorpusError, match="no such file: .*nope.txt"):
        load_corpus(path)


def test_directory_is_refused_as_a_folder(tmp_path):
    with pytest.raises(CorpusError, match="is a folder, not a text file"):
        load_corpus(tmp_path)


def test_unreadable_file_is_refused_with_the_system_reason(tmp_path, monkeypatch):
    path = write(tmp_path, b"hello")
    real_open = builtins.open

    def deny(file, *args, **kwargs):
        if os.fspath(file) == os.fspath(path):
            raise PermissionError(13, "Permission denied", os.fspath(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", deny)
    with pytest.raises(CorpusError, match=r"^cannot read .*corpus.txt: Permission denied$"):
        load_corpus(path)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads files whatever their mode")
def test_file_without_read_permission_is_refused(tmp_path):
    path = write(tmp_path, b"hello")
    path.chmod(0)
    try:
        with pytest.raises(CorpusError, match="cannot read"):
            load_corpus(path)
    finally:
        path.chmod(0o644)


def test_empty_file_is_refused(tmp_path):
    with pytest.raises(CorpusError, match=r"^corpus.txt is empty$"):
        load_corpus(write(tmp_path, b""))


def test_one_distinct_character_is_refused_and_named(tmp_path):
    with pytest.raises(CorpusError, match=r"only one distinct character \('a'\); a model needs at least 2"):
        load_corpus(write(tmp_path, b"aaaaaaaa"))


def test_whitespace_only_with_one_character_is_refused(tmp_path):
    with pytest.raises(CorpusError, match=r"only one distinct character \(' '\)"):
        load_corpus(write(tmp_path, b"        "))


def test_whitespace_only_with_two_characters_is_accepted(tmp_path):
    corpus = load_corpus(write(tmp_path, b"  \n  \n"))
    assert corpus.vocab.chars == ("\n", " ")


def test_nul_byte_means_binary(tmp_path):
    with pytest.raises(CorpusError, match=r"^blob.bin looks like a binary file, not text$"):
        load_corpus(write(tmp_path, b"PK\x03\x04\x00\x00text", "blob.bin"))


def test_many_control_characters_mean_binary():
    raw = bytes(range(1, 32)) * 5 + b"some text"
    with pytest.raises(CorpusError, match="looks like a binary file"):
        decode_bytes(raw)


def test_tabs_form_feeds_and_newlines_are_not_binary():
    text, _, _ = decode_bytes(b"\t\f\n" * 100 + b"ab")
    assert text.endswith("ab")


def test_utf16_with_nul_character_means_binary():
    with pytest.raises(CorpusError, match="looks like a binary file"):
        decode_bytes("ab\x00cd".encode("utf-16"))


# --- decoding --------------------------------------------------------------------------------


def test_utf8_without_bom_is_decoded(tmp_path):
    corpus = load_corpus(write(tmp_path, "naïve café ✓".encode("utf-8")))
    assert corpus.text() == "naïve café ✓"
    assert corpus.encoding == "utf-8"
    assert corpus.warnings == ()


def test_utf8_with_bom_is_decoded_without_the_bom(tmp_path):
    corpus = load_corpus(write(tmp_path, "naïve café".encode("utf-8-sig")))
    assert corpus.text() == "naïve café"
    assert corpus.encoding == "utf-8-sig"


def test_utf16_le_with_bom_is_decoded(tmp_path):
    corpus = load_corpus(write(tmp_path, b"\xff\xfe" + "naïve café ✓".encode("utf-16-le")))
    assert corpus.text() == "naïve café ✓"
    assert corpus.encoding == "utf-16"


def test_utf16_be_with_bom_is_decoded(tmp_path):
    corpus = load_corpus(write(tmp_path, b"\xfe\xff" + "naïve café ✓".encode("utf-16-be")))
    assert corpus.text() == "naïve café ✓"
    assert corpus.encoding == "utf-16"


def test_cp1252_falls_back_with_a_warning(tmp_path):
    corpus = load_corpus(write(tmp_path, "café – €5".encode("cp1252")))
    assert corpus.text() == "café – €5"
    assert corpus.encoding == "cp1252"
    (warning,) = corpus.warnings
    assert "not valid UTF-8" in warning and "cp1252 (Windows-1252)" in warning


def test_bytes_undefined_in_cp1252_fall_back_to_latin1():
    text, encoding, warnings = decode_bytes(b"caf\xe9 \x81\x8d")
    assert (text, encoding) == ("café \x81\x8d", "latin-1")
    assert "latin-1" in warnings[0]


def test_mixed_newlines_become_line_feeds(tmp_path):
    corpus = load_corpus(write(tmp_path, b"one\r\ntwo\rthree\nfour\r\n"))
    assert corpus.text() == "one\ntwo\nthree\nfour\n"


def test_loaded_corpus_records_name_path_and_size(tmp_path):
    raw = "héllo\r\nworld\n".encode("utf-8")
    path = write(tmp_path, raw, "notes.md")
    corpus = load_corpus(path)
    assert corpus.name == "notes.md"
    assert corpus.path == os.fspath(path)
    assert corpus.size_bytes == len(raw)
    assert len(corpus) == len("héllo\nworld\n")


# --- encoding --------------------------------------------------------------------------------


def test_ascii_text_is_encoded_as_uint8():
    corpus = corpus_from_text("hello world\n")
    assert corpus.data.dtype == np.uint8
    assert corpus.data.shape == (12,)


def test_ids_follow_the_sorted_vocabulary():
    corpus = corpus_from_text("banana")
    assert corpus.vocab.chars == ("a", "b", "n")
    assert corpus.data.tolist() == [1, 0, 2, 0, 2, 0]
    assert corpus.vocab_size == 3


def test_text_round_trips_through_data():
    text = "To be, or not to be: that is the question.\nÆsop's naïve — ✓ 🙂 \U0001f600 ünïcödé\n" * 3
    corpus = corpus_from_text(text)
    assert corpus.text() == text
    assert corpus.vocab.decode(corpus.data) == text


def test_text_decodes_a_slice():
    corpus = corpus_from_text("abcdefghij")
    assert corpus.text(2, 5) == "cde"
    assert corpus.text(7) == "hij"


def test_encoding_matches_the_vocabularys_own_encoder():
    text = "Ünïcödé text with ëxtra characters — and some ASCII.\n" * 50
    corpus = corpus_from_text(text)
    assert np.array_equal(corpus.data, corpus.vocab.encode(text))


def test_a_10000_character_cjk_vocabulary_uses_uint16_and_round_trips():
    chars = [chr(c) for c in range(0x4E00, 0x4E00 + 10_000)]
    rng = np.random.default_rng(0)
    text = "".join(chars) + "".join(rng.choice(chars, 50_000))
    corpus = corpus_from_text(text)
    assert corpus.vocab_size == 10_000
    assert corpus.data.dtype == np.uint16
    assert corpus.text() == text


def test_encoding_spans_many_chunks(monkeypatch):
    import core.corpus

    monkeypatch.setattr(core.corpus, "CHUNK_CHARS", 7)
    text = "plain ascii, then accents: é è, then CJK: 漢字, then ascii again" * 3
    corpus = corpus_from_text(text)
    assert corpus.text() == text
    assert corpus.vocab.chars == tuple(sorted(set(text)))


def test_corpus_data_is_read_only():
    corpus = corpus_from_text("abc")
    with pytest.raises(ValueError):
        corpus.data[0] = 1


def test_empty_text_is_refused_by_name():
    with pytest.raises(CorpusError, match="^pasted is empty$"):
        corpus_from_text("", name="pasted")


def test_in_memory_text_size_is_its_utf8_length():
    assert corpus_from_text("ab€").size_bytes == 5


def test_corpus_is_a_frozen_dataclass():
    corpus = corpus_from_text("abc")
    assert isinstance(corpus, Corpus)
    with pytest.raises(AttributeError):
        corpus.name = "other"


# --- fitting a training window -------------------------------------------------------------


def test_a_corpus_that_fits_passes():
    check_fits(corpus_from_text("ab" * 13), seq_length=25)  # 26 chars >= 25 + 1


def test_too_short_corpus_names_the_longest_sequence_that_fits():
    corpus = corpus_from_text("abcdefghij" * 2)
    with pytest.raises(CorpusError) as info:
        check_fits(corpus, seq_length=25)
    assert str(info.value) == "corpus has 20 characters: too short for sequence length 25 (at most 19 fits)"


def test_the_longest_fitting_sequence_is_accepted():
    corpus = corpus_from_text("abcdefghij" * 2)
    check_fits(corpus, seq_length=19)
    with pytest.raises(CorpusError):
        check_fits(corpus, seq_length=20)


def test_batch_streams_and_validation_split_shrink_what_fits():
    corpus = corpus_from_text("abcdefghij" * 10)  # 100 chars, 90 for training, 22 per stream of 4
    with pytest.raises(CorpusError) as info:
        check_fits(corpus, seq_length=25, batch_size=4, val_fraction=0.1)
    message = str(info.value)
    assert message.startswith("corpus has 100 characters (90 after holding out 10% for validation, 22 per stream across 4 streams)")
    assert message.endswith("too short for sequence length 25 (at most 21 fits)")
    check_fits(corpus, seq_length=21, batch_size=4, val_fraction=0.1)


def test_a_corpus_too_short_for_any_window_says_so():
    with pytest.raises(CorpusError, match="too short to train on, even with sequence length 1"):
        check_fits(corpus_from_text("abc"), seq_length=1, batch_size=2)


# --- reading a file in pieces ------------------------------------------------------------------

TRICKY = "ab\r\ncd\ré—✓漢\r\n\r\nend\r"  # newlines of every kind, multi-byte characters, a final \r


@pytest.mark.parametrize("raw, encoding", [
    (TRICKY.encode("utf-8"), "utf-8"),
    (b"\xef\xbb\xbf" + TRICKY.encode("utf-8"), "utf-8-sig"),
    (TRICKY.encode("utf-16"), "utf-16"),
    (b"\xfe\xff" + TRICKY.encode("utf-16-be"), "utf-16"),
])
@pytest.mark.parametrize("piece", [1, 2, 3, 5, 7])
def test_pieces_split_anywhere_decode_the_same_text(tmp_path, monkeypatch, raw, encoding, piece):
    import core.corpus

    monkeypatch.setattr(core.corpus, "CHUNK_CHARS", piece)  # every \r\n and character split somewhere
    corpus = load_corpus(write(tmp_path, raw))
    assert corpus.text() == TRICKY.replace("\r\n", "\n").replace("\r", "\n")
    assert corpus.encoding == encoding and corpus.size_bytes == len(raw)


def test_the_first_bad_utf8_byte_is_reported_at_its_file_offset_whatever_the_pieces(tmp_path, monkeypatch):
    import core.corpus

    raw = "plain text, then ".encode("utf-8") + "é".encode("utf-8") + b" and then \xe9 in cp1252"
    monkeypatch.setattr(core.corpus, "CHUNK_CHARS", 4)
    corpus = load_corpus(write(tmp_path, raw))
    bad = raw.index(b"\xe9 in")  # the é before it is valid UTF-8
    assert f"at offset {bad}" in corpus.warnings[0]
    assert corpus.text() == raw.decode("cp1252")


@pytest.mark.parametrize("rewrite", [
    lambda f: f.write(b"more text at the end\n"),  # longer
    lambda f: (f.seek(0), f.write(b"XYZ")),  # characters the first pass never saw
    lambda f: f.truncate(10),  # shorter
])
def test_a_file_rewritten_between_the_two_passes_is_refused(tmp_path, monkeypatch, rewrite):
    import core.corpus

    path = write(tmp_path, b"the cat sat on the mat\n" * 50)
    real_sniff = core.corpus._sniff

    def sniff_then_rewrite(f, name):
        reading = real_sniff(f, name)
        with open(path, "r+b") as other:  # another program writes to the file meanwhile
            other.seek(0, os.SEEK_END)
            rewrite(other)
        return reading

    monkeypatch.setattr(core.corpus, "_sniff", sniff_then_rewrite)
    with pytest.raises(CorpusError, match=r"changed while it was being read"):
        load_corpus(path)


def test_a_rewrite_is_refused_also_when_the_vocabulary_fills_the_id_type(tmp_path, monkeypatch):
    # 256 distinct characters fill uint8 ids, so no spare id can mark unknown code points: the other check runs.
    import core.corpus

    chars = "".join(chr(c) for c in range(0x100, 0x200) if c != 0x150)  # 255 characters, and 'a'
    path = write(tmp_path, ((chars + "a") * 20).encode("utf-8"))
    real_sniff = core.corpus._sniff

    def sniff_then_rewrite(f, name):
        reading = real_sniff(f, name)
        with open(path, "r+b") as other:
            other.write(chr(0x150).encode("utf-8"))  # a code point inside the table that the text did not hold
        return reading

    monkeypatch.setattr(core.corpus, "_sniff", sniff_then_rewrite)
    with pytest.raises(CorpusError, match=r"changed while it was being read"):
        load_corpus(path)
    monkeypatch.undo()
    assert load_corpus(write(tmp_path, ((chars + "a") * 20).encode("utf-8"))).vocab_size == 256
