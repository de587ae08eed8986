"""Small text formatting helpers for the GUI (sizes, durations, visible characters)."""

from __future__ import annotations

_VISIBLE = {"\n": "⏎", " ": "␣", "\t": "⇥", "\r": "␍"}


def display_char(ch: str) -> str:
    """A character as shown on an axis: ⏎ for newline, ␣ for space, ⇥ for tab, · for other controls."""
    if ch in _VISIBLE:
        return _VISIBLE[ch]
    if ord(ch) < 32 or 0x7F <= ord(ch) < 0xA0:
        return "·"
    return ch


def human_size(n: int) -> str:
    n = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{int(n)} bytes" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover


def duration(seconds: float) -> str:
    seconds = int(max(0.0, seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def count(n: float) -> str:
    """A count with thousands separators; 1.2k-style above a million."""
    if n >= 10_000_000:
        return f"{n / 1e6:.1f}M"
    return f"{n:,.0f}"


def vocabulary_preview(chars, limit: int = 60) -> str:
    shown = "".join(display_char(c) for c in chars[:limit])
    return shown + (f" … (+{len(chars) - limit})" if len(chars) > limit else "")


def probability(p: float) -> str:
    """A probability as a percentage with one decimal, or two significant digits when smaller than 0.1%
    (a large vocabulary's guesses would otherwise all read 0.0%)."""
    if p >= 0.001 or p <= 0:
        return f"{p:.1%}"
    return f"{100 * p:.2g}%"
