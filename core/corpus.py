"""Training corpus: a text loaded from disk, checked, and encoded as an array of character ids."""

from __future__ import annotations

import codecs
import os
import stat
from dataclasses import dataclass, field

import numpy as np

from core.vocab import Vocab

CHUNK_CHARS = 1 << 20  # characters encoded per step; bounds the temporaries of big texts
MAX_CODEPOINT = 0x10FFFF
BINARY_CONTROL_FRACTION = 0.10  # more C0 controls than this (besides \t \n \r \f) means binary
_TEXT_CONTROLS = frozenset(b"\t\n\r\f")


class CorpusError(ValueError):
    """A text that cannot be trained on; str(e) is the one-line message shown to the user."""


@dataclass(frozen=True, eq=False)
class Corpus:
    """A training text: its encoded characters, its vocabulary and where it came from."""

    name: str  # display name: the file name or the built-in corpus's name
    path: str | None  # the file it was read from, or None for a built-in or in-memory text
    data: np.ndarray = field(repr=False)  # shape (N,), read-only ids of the characters, dtype vocab.dtype
    vocab: Vocab  # the sorted distinct characters; ids index into vocab.chars
    encoding: str  # how the bytes were decoded: "utf-8", "utf-8-sig", "utf-16", "cp1252", "latin-1"
    size_bytes: int  # size of the text on disk (or as UTF-8, for in-memory texts)
    warnings: tuple[str, ...] = ()  # non-fatal problems worth showing the user

    @property
    def vocab_size(self) -> int:
        """Number of distinct characters, V."""
        return len(self.vocab)

    def __len__(self) -> int:
        return int(self.data.shape[0])

    def text(self, start: int = 0, stop: int | None = None) -> str:
        """The characters data[start:stop], decoded back to a string."""
        ids = self.data[start:stop]
        codepoints = np.array([ord(c) for c in self.vocab.chars], dtype="<u4")
        return codepoints[ids].tobytes().decode("utf-32-le", "surrogatepass")


def decode_bytes(raw: bytes, name: str = "text") -> tuple[str, str, tuple[str, ...]]:
    """Decode a file's bytes to (text, encoding, warnings), with newlines normalised to \\n.

    Byte-order marks decide UTF-8 and UTF-16; otherwise strict UTF-8, falling back to cp1252 and
    then latin-1 with a warning. Bytes that look binary raise CorpusError.
    """
    parts, encoding, warnings = _decode_parts(raw, name)
    return "".join(parts), encoding, warnings


def _decode_parts(raw: bytes, name: str) -> tuple[list[str], str, tuple[str, ...]]:
    """decode_bytes as a list of pieces of at most CHUNK_CHARS characters, decoded piece by piece.

    A thread holds the GIL for the whole of one call into a codec; decoding a 200 MB file in one call
    froze the GUI thread (and its timers) for most of a second, piece by piece it never waits long.
    """
    warnings: tuple[str, ...] = ()
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            parts = _decode_pieces(raw, "utf-16")
        except UnicodeDecodeError:
            raise CorpusError(f"{name} starts like UTF-16 text but cannot be decoded as UTF-16") from None
        if any("\x00" in part for part in parts):
            raise CorpusError(f"{name} looks like a binary file, not text")
        encoding = "utf-16"
    else:
        _refuse_binary(raw, name)
        parts, encoding, warnings = _decode_8bit(raw)
    return _normalise_newlines(parts), encoding, warnings


def _decode_pieces(raw: bytes, codec: str, start: int = 0) -> list[str]:
    """raw[start:] decoded strictly with codec, CHUNK_CHARS bytes per call; a UnicodeDecodeError's start
    is made an offset into raw."""
    decoder = codecs.getincrementaldecoder(codec)("strict")
    view = memoryview(raw)
    parts = []
    offset = start
    try:
        for offset in range(start, len(raw), CHUNK_CHARS):
            pending = len(decoder.getstate()[0])  # bytes of a character cut by the previous piece
            try:
                part = decoder.decode(view[offset:offset + CHUNK_CHARS])
            except UnicodeDecodeError as e:
                e.start += offset - pending
                raise
            if part:
                parts.append(part)
        pending = len(decoder.getstate()[0])
        try:
            part = decoder.decode(b"", final=True)
        except UnicodeDecodeError as e:
            e.start += len(raw) - pending
            raise
    finally:
        view.release()
    if part:
        parts.append(part)
    return parts


def _normalise_newlines(parts: list[str]) -> list[str]:
    """\\r\\n and \\r become \\n, in place, including a \\r\\n split across two pieces."""
    if not any("\r" in part for part in parts):
        return parts
    carry = ""
    for i, part in enumerate(parts):
        if carry:
            part = carry + part
            carry = ""
        if part.endswith("\r"):
            part, carry = part[:-1], "\r"
        parts[i] = part.replace("\r\n", "\n").replace("\r", "\n")
    if carry:
        parts.append("\n")
    return [part for part in parts if part]


def _refuse_binary(raw: bytes, name: str) -> None:
    """Raise CorpusError if 8-bit-encoded bytes hold a NUL or too many control characters."""
    if b"\x00" in raw:
        raise CorpusError(f"{name} looks like a binary file, not text")
    if not raw:
        return
    counts = np.zeros(256, dtype=np.int64)
    for start in range(0, len(raw), CHUNK_CHARS):
        counts += np.bincount(np.frombuffer(raw, np.uint8, min(CHUNK_CHARS, len(raw) - start), start), minlength=256)
    controls = sum(int(counts[b]) for b in range(32) if b not in _TEXT_CONTROLS)
    if controls > BINARY_CONTROL_FRACTION * len(raw):
        raise CorpusError(f"{name} looks like a binary file, not text")


def _decode_8bit(raw: bytes) -> tuple[list[str], str, tuple[str, ...]]:
    """Decode bytes without a UTF-16 BOM: UTF-8 (with or without BOM), else cp1252, else latin-1."""
    has_bom = raw.startswith(b"\xef\xbb\xbf")
    body = 3 if has_bom else 0
    try:
        return _decode_pieces(raw, "utf-8", body), "utf-8-sig" if has_bom else "utf-8", ()
    except UnicodeDecodeError as e:
        bad_offset = e.start - body
    try:
        parts, encoding, label = _decode_pieces(raw, "cp1252", body), "cp1252", "cp1252 (Windows-1252)"
    except UnicodeDecodeError:
        parts, encoding, label = _decode_pieces(raw, "latin-1", body), "latin-1", "latin-1 (ISO-8859-1)"
    warning = f"not valid UTF-8 (first bad byte at offset {bad_offset}); decoded as {label} — check accented characters"
    return parts, encoding, (warning,)


def corpus_from_text(
    text: str,
    name: str = "text",
    path: str | None = None,
    encoding: str = "utf-8",
    size_bytes: int | None = None,
    warnings: tuple[str, ...] = (),
) -> Corpus:
    """Check a text and encode it into a Corpus; raise CorpusError if it cannot be trained on."""
    if size_bytes is None and text:
        size_bytes = _utf8_size(text)
    return _corpus_from_pieces(lambda: (chunk for _, chunk in _chunks(text)), len(text), name, path, encoding,
                               size_bytes, warnings)


def _corpus_from_pieces(pieces, n: int, name: str, path: str | None, encoding: str, size_bytes: int | None,
                        warnings) -> Corpus:
    """A Corpus of the n characters that pieces() yields in order (called twice: vocabulary, then ids)."""
    if not n:
        raise CorpusError(f"{name} is empty")
    vocab = _vocab_of(pieces())
    if len(vocab) < 2:
        raise CorpusError(
            f"{name} has only one distinct character ({vocab.chars[0]!r}); a model needs at least 2"
        )
    data = _encode(pieces(), vocab, n)
    data.flags.writeable = False
    return Corpus(
        name=name, path=path, data=data, vocab=vocab, encoding=encoding,
        size_bytes=size_bytes, warnings=tuple(warnings),
    )


def _chunks(text: str):
    """(start, chunk) pairs covering text in CHUNK_CHARS pieces."""
    for start in range(0, len(text), CHUNK_CHARS):
        yield start, text[start:start + CHUNK_CHARS]


def _codepoints(chunk: str) -> np.ndarray:
    """The code points of a chunk of text: uint8 when it fits in latin-1, else uint32."""
    if chunk.isascii():
        return np.frombuffer(chunk.encode("ascii"), np.uint8)
    try:
        return np.frombuffer(chunk.encode("latin-1"), np.uint8)
    except UnicodeEncodeError:
        return np.frombuffer(chunk.encode("utf-32-le", "surrogatepass"), "<u4")


def _vocab_of(pieces) -> Vocab:
    """The vocabulary of the text made of pieces (strings), found without per-character Python work."""
    seen = np.zeros(MAX_CODEPOINT + 1, dtype=bool)
    for piece in pieces:
        seen[_codepoints(piece)] = True
    # Code point order is Python's string order, so this equals sorted(set(text)).
    return Vocab("".join(map(chr, np.flatnonzero(seen).tolist())))


def _encode(pieces, vocab: Vocab, n: int) -> np.ndarray:
    """The ids of the n characters of pieces, shape (n,), written piece by piece into one array."""
    codes = np.array([ord(c) for c in vocab.chars], dtype=np.int64)
    table = np.zeros(int(codes[-1]) + 1, dtype=vocab.dtype)  # code point -> id
    table[codes] = np.arange(len(codes), dtype=vocab.dtype)
    out = np.empty(n, dtype=vocab.dtype)
    start = 0
    for piece in pieces:
        np.take(table, _codepoints(piece), out=out[start:start + len(piece)], mode="clip")
        start += len(piece)
    return out


def _utf8_size(text: str) -> int:
    """Length of text encoded as UTF-8, without building the whole encoding at once."""
    if text.isascii():
        return len(text)
    return sum(len(chunk.encode("utf-8", "surrogatepass")) for _, chunk in _chunks(text))


def load_corpus(path) -> Corpus:
    """Read a text file into a Corpus; raise CorpusError with one clear message if it cannot be used.

    Regular files and pipes are read (so `<(zcat text.gz)` works); devices and sockets are refused
    before reading, since some never end (/dev/zero) and would fill memory.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise CorpusError(f"{path} is a folder, not a text file")
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise CorpusError(f"no such file: {path}") from None
    except OSError as e:
        raise CorpusError(f"cannot read {path}: {e.strerror or e}") from None
    if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
        raise CorpusError(f"{path} is not a regular file (it is a device or another special file)")
    name = os.path.basename(path) or path
    try:
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            raise CorpusError(f"no such file: {path}") from None
        except OSError as e:
            raise CorpusError(f"cannot read {path}: {e.strerror or e}") from None
        if not raw:
            raise CorpusError(f"{name} is empty")
        parts, encoding, warnings = _decode_parts(raw, name)
        size_bytes = len(raw)
        del raw  # the decoded text replaces the bytes; do not hold both while encoding
        return _corpus_from_pieces(lambda: iter(parts), sum(map(len, parts)), name, path, encoding, size_bytes,
                                   warnings)
    except MemoryError:
        raw = parts = None  # drop whatever was read before describing the failure
        raise CorpusError(f"{name} is too large to load into memory{_size_note(path)}") from None


def _size_note(path: str) -> str:
    """' (N MB)' for a file whose size is known, else ''."""
    try:
        size = os.stat(path).st_size
    except OSError:
        return ""
    return f" ({size / 1e6:,.0f} MB)" if size else ""


def train_length(n: int, val_fraction: float) -> int:
    """How many of a corpus's n characters are trained on; the rest, the tail, is held out for validation."""
    return n - int(n * val_fraction)


def check_fits(corpus: Corpus, seq_length: int, batch_size: int = 1, val_fraction: float = 0.0) -> None:
    """Raise CorpusError unless each training stream holds at least one window of seq_length.

    A window reads T inputs and the T targets one step later, so a stream needs n >= T + 1 characters;
    the lesson's reset rule (p + T + 1 >= n sends p back to 0) then replays that first window.
    """
    if seq_length < 1 or batch_size < 1:
        raise ValueError("sequence length and batch size must be at least 1")
    n = len(corpus)
    train = train_length(n, val_fraction)
    per_stream = train // batch_size
    longest = per_stream - 1
    if seq_length <= longest:
        return
    about = f"corpus has {n} characters"
    details = []
    if val_fraction > 0:
        details.append(f"{train} after holding out {val_fraction:.0%} for validation")
    if batch_size > 1:
        details.append(f"{per_stream} per stream across {batch_size} streams")
    if details:
        about += f" ({', '.join(details)})"
    if longest < 1:
        raise CorpusError(f"{about}: too short to train on, even with sequence length 1")
    raise CorpusError(f"{about}: too short for sequence length {seq_length} (at most {longest} fits)")
