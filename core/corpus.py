"""Training corpus: a text loaded from disk, checked, and encoded as an array of character ids."""

from __future__ import annotations

import codecs
import io
import os
import stat
from dataclasses import dataclass, field

import numpy as np

from core.vocab import Vocab

CHUNK_CHARS = 1 << 20  # characters encoded per step; bounds the temporaries of big texts
MAX_CODEPOINT = 0x10FFFF
BINARY_CONTROL_FRACTION = 0.10  # more C0 controls than this (besides \t \n \r \f) means binary
_TEXT_CONTROLS = frozenset(b"\t\n\r\f")
_BINARY_CONTROLS = bytes(b for b in range(1, 32) if b not in _TEXT_CONTROLS)  # C0 controls that text lacks


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
    f = io.BytesIO(raw)
    reading = _sniff(f, name)
    return "".join(_pieces(f, reading.codec, reading.start)), reading.encoding, reading.warnings


@dataclass(frozen=True)
class _Reading:
    """How a file decodes, and what a first pass over it found."""

    codec: str  # the strict codec that decodes all of it
    start: int  # bytes to skip first (a UTF-8 byte-order mark)
    encoding: str  # what to report: "utf-8", "utf-8-sig", "utf-16", "cp1252" or "latin-1"
    warnings: tuple[str, ...]  # e.g. the fallback from UTF-8
    seen: np.ndarray  # (MAX_CODEPOINT + 1,) bool: which code points the text holds
    n: int  # characters, after newline normalisation


def _sniff(f, name: str) -> _Reading:
    """Choose the codec of the binary file f (seekable) and count its characters, reading it in pieces.

    Nothing of the text is kept: a second pass (_pieces) decodes it again to encode it, so loading needs
    memory for the encoded ids and one piece, not for the bytes and the decoded text besides.
    """
    f.seek(0)
    head = f.read(3)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            seen, n = _scan(_pieces(f, "utf-16", 0))
        except UnicodeDecodeError:
            raise CorpusError(f"{name} starts like UTF-16 text but cannot be decoded as UTF-16") from None
        if seen[0]:
            raise CorpusError(f"{name} looks like a binary file, not text")
        return _Reading("utf-16", 0, "utf-16", (), seen, n)
    _refuse_binary(f, name)
    start = 3 if head.startswith(b"\xef\xbb\xbf") else 0
    try:
        return _Reading("utf-8", start, "utf-8-sig" if start else "utf-8", (), *_scan(_pieces(f, "utf-8", start)))
    except UnicodeDecodeError as e:
        bad_offset = e.start - start
    try:
        codec, label, (seen, n) = "cp1252", "cp1252 (Windows-1252)", _scan(_pieces(f, "cp1252", start))
    except UnicodeDecodeError:
        codec, label, (seen, n) = "latin-1", "latin-1 (ISO-8859-1)", _scan(_pieces(f, "latin-1", start))
    warning = f"not valid UTF-8 (first bad byte at offset {bad_offset}); decoded as {label} — check accented characters"
    return _Reading(codec, start, codec, (warning,), seen, n)


def _scan(pieces) -> tuple[np.ndarray, int]:
    """(which code points occur (MAX_CODEPOINT + 1,) bool, how many characters) in a text given as pieces,
    found without per-character Python work."""
    seen = np.zeros(MAX_CODEPOINT + 1, dtype=bool)
    n = 0
    for piece in pieces:
        seen[_codepoints(piece)] = True
        n += len(piece)
    return seen, n


def _pieces(f, codec: str, start: int):
    """The text of f from byte start, decoded strictly with codec, newlines normalised (\\r\\n and \\r become
    \\n), in pieces of about CHUNK_CHARS characters. A UnicodeDecodeError's start is an offset into f.

    A thread holds the GIL for the whole of one call into a codec; decoding a 200 MB file in one call
    froze the GUI thread (and its timers) for most of a second, piece by piece it never waits long.
    """
    f.seek(start)
    decoder = codecs.getincrementaldecoder(codec)("strict")
    offset, carry = start, ""
    while True:
        block = f.read(CHUNK_CHARS)
        final = not block
        pending = len(decoder.getstate()[0])  # bytes of a character cut by the previous block
        try:
            piece = carry + decoder.decode(block, final=final)
        except UnicodeDecodeError as e:
            e.start += offset - pending
            raise
        offset += len(block)
        carry = ""
        if "\r" in piece:
            if piece.endswith("\r") and not final:  # its \n may start the next block
                piece, carry = piece[:-1], "\r"
            piece = piece.replace("\r\n", "\n").replace("\r", "\n")
        if piece:
            yield piece
        if final:
            return


def _refuse_binary(f, name: str) -> None:
    """Raise CorpusError if the 8-bit-encoded file f holds a NUL or too many control characters."""
    controls = total = 0
    f.seek(0)
    while block := f.read(CHUNK_CHARS):
        if b"\0" in block:
            raise CorpusError(f"{name} looks like a binary file, not text")
        controls += len(block) - len(block.translate(None, _BINARY_CONTROLS))  # bytes ops: no per-byte array
        total += len(block)
    if controls > BINARY_CONTROL_FRACTION * total:
        raise CorpusError(f"{name} looks like a binary file, not text")


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
    def pieces():
        return (chunk for _, chunk in _chunks(text))

    seen, n = _scan(pieces())
    return _corpus_from_pieces(pieces, seen, n, name, path, encoding, size_bytes, warnings)


def _corpus_from_pieces(pieces, seen: np.ndarray, n: int, name: str, path: str | None, encoding: str,
                        size_bytes: int | None, warnings) -> Corpus:
    """A Corpus of the n characters that pieces() yields in order, whose code points seen marks (_scan)."""
    if not n:
        raise CorpusError(f"{name} is empty")
    # Code point order is Python's string order, so this equals sorted(set(text)).
    vocab = Vocab("".join(map(chr, np.flatnonzero(seen).tolist())))
    if len(vocab) < 2:
        raise CorpusError(
            f"{name} has only one distinct character ({vocab.chars[0]!r}); a model needs at least 2"
        )
    data = _encode(pieces(), vocab, n, name)
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


def _encode(pieces, vocab: Vocab, n: int, name: str = "text") -> np.ndarray:
    """The ids of the n characters of pieces, shape (n,), written piece by piece into one array.

    Pieces that add up to another length, or hold a character outside vocab, mean the text changed since
    it was counted (a file rewritten while it was being read): CorpusError.
    """
    codes = np.array([ord(c) for c in vocab.chars], dtype=np.int64)
    # Code point -> id; code points outside the vocabulary map to the id V, which no character has, so one max
    # over a piece's ids finds them (when the dtype cannot hold V, a lookup of known code points does).
    unknown = len(codes) if len(codes) <= np.iinfo(vocab.dtype).max else None
    table = np.full(int(codes[-1]) + 1, unknown or 0, dtype=vocab.dtype)  # code point -> id
    table[codes] = np.arange(len(codes), dtype=vocab.dtype)
    if unknown is None:
        known = np.zeros(int(codes[-1]) + 1, dtype=bool)  # code point -> in vocab
        known[codes] = True
    out = np.empty(n, dtype=vocab.dtype)
    start = 0
    for piece in pieces:
        points = _codepoints(piece)
        stop = start + len(piece)
        if stop > n or int(points.max()) >= len(table):
            raise CorpusError(f"{name} changed while it was being read; open it again")
        ids = out[start:stop]
        np.take(table, points, out=ids)
        if (int(ids.max()) == unknown) if unknown is not None else not known[points].all():
            raise CorpusError(f"{name} changed while it was being read; open it again")
        start = stop
    if start != n:
        raise CorpusError(f"{name} changed while it was being read; open it again")
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
                if stat.S_ISFIFO(mode):  # a pipe can be read only once: keep its bytes
                    return _load_file(io.BytesIO(f.read()), name, path)
                return _load_file(f, name, path)
        except FileNotFoundError:
            raise CorpusError(f"no such file: {path}") from None
        except OSError as e:
            raise CorpusError(f"cannot read {path}: {e.strerror or e}") from None
    except MemoryError:
        raise CorpusError(f"{name} is too large to load into memory{_size_note(path)}") from None


def _load_file(f, name: str, path: str) -> Corpus:
    """A Corpus of the seekable binary file f, read in two passes of pieces (choose and count, then encode)."""
    size_bytes = f.seek(0, os.SEEK_END)
    if not size_bytes:
        raise CorpusError(f"{name} is empty")
    reading = _sniff(f, name)
    return _corpus_from_pieces(lambda: _pieces(f, reading.codec, reading.start), reading.seen, reading.n, name,
                               path, reading.encoding, size_bytes, reading.warnings)


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
