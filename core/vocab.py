"""Vocabulary: the sorted set of a text's characters and the maps to and from integer ids."""

from __future__ import annotations

import numpy as np


class UnknownCharactersError(ValueError):
    """Text holds characters the vocabulary does not know; str(e) names them."""


def id_dtype(vocab_size: int) -> np.dtype:
    """Smallest unsigned integer dtype that holds ids 0..vocab_size-1."""
    if vocab_size <= 1 << 8:
        return np.dtype(np.uint8)
    if vocab_size <= 1 << 16:
        return np.dtype(np.uint16)
    return np.dtype(np.uint32)


class Vocab:
    """A deterministic character vocabulary: ids follow sorted(set(text))."""

    def __init__(self, chars):
        chars = tuple(chars)
        if list(chars) != sorted(set(chars)):
            raise ValueError("vocabulary must be sorted and without duplicates")
        self.chars = chars  # id -> character
        self.index = {ch: i for i, ch in enumerate(chars)}  # character -> id
        self.dtype = id_dtype(len(chars))  # dtype of encoded arrays

    @classmethod
    def from_text(cls, text: str) -> "Vocab":
        """The vocabulary of a text: sorted(set(text))."""
        return cls(sorted(set(text)))

    def __len__(self) -> int:
        return len(self.chars)

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocab) and self.chars == other.chars

    def __repr__(self) -> str:
        return f"Vocab({len(self.chars)} chars)"

    def unknown(self, text: str) -> list[str]:
        """Characters of text that are not in the vocabulary, sorted."""
        return sorted(set(text) - self.index.keys())

    def encode(self, text: str) -> np.ndarray:
        """Ids of text's characters, shape (len(text),); unknown characters raise."""
        missing = self.unknown(text)
        if missing:
            shown = ", ".join(repr(c) for c in missing[:10])
            more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
            raise UnknownCharactersError(f"characters not in the model's vocabulary: {shown}{more}")
        index = self.index
        return np.fromiter((index[c] for c in text), dtype=self.dtype, count=len(text))

    def decode(self, ids) -> str:
        """The text of a sequence of ids."""
        chars = self.chars
        return "".join(chars[int(i)] for i in ids)
