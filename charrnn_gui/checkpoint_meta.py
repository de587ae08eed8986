"""The app's own metadata in a checkpoint (corpus, training time, preset, recent samples), read and checked whole.

A checkpoint written by the app carries a JSON object in its `gui` extra. Opening one must not discard the
current model and then fail half way, so everything in it is checked here first: read_app_meta returns a
complete AppMeta or raises MetaError with a one-line reason, and only then does the window swap models.
A checkpoint without the extra (written by charrnn-train) has empty metadata; keys this version does not
know are ignored (a newer version may add some).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields

import numpy as np

from .history import SampleRecord

SAMPLE_KINDS = ("training", "sample now")


class MetaError(ValueError):
    """The app metadata of a checkpoint is malformed; str(e) says what is wrong, in one line."""


@dataclass(frozen=True)
class AppMeta:
    """What the app stores next to the model."""

    corpus: str | None = None  # "builtin:NAME" or the path of the text the model was trained on
    corpus_name: str | None = None  # that text's display name
    elapsed: float = 0.0  # seconds spent training, finite and not negative
    preset: str | None = None  # the preset the settings came from, if this version knows it
    samples: tuple[SampleRecord, ...] = ()  # the newest samples, oldest first


def read_app_meta(ckpt, known_presets=()) -> AppMeta:
    """The checked app metadata of a loaded core.Checkpoint; raises MetaError when any of it is malformed."""
    raw = ckpt.extras.get("gui")
    if raw is None:
        return AppMeta()
    try:
        meta = json.loads(np.asarray(raw, dtype=np.uint8).tobytes().decode("utf-8"))
    except (ValueError, TypeError, UnicodeDecodeError):
        raise MetaError("its app metadata is not readable JSON") from None
    if not isinstance(meta, dict):
        raise MetaError("its app metadata is not a JSON object")
    corpus = _optional_str(meta, "corpus")
    corpus_name = _optional_str(meta, "corpus_name")
    elapsed = meta.get("elapsed", 0.0)
    if elapsed is None:
        elapsed = 0.0
    if isinstance(elapsed, bool) or not isinstance(elapsed, (int, float)) or not math.isfinite(elapsed) \
            or elapsed < 0:
        raise MetaError(f"its training time {_short(elapsed)} is not a number of seconds")
    preset = _optional_str(meta, "preset")
    if preset not in known_presets:
        preset = None  # a preset of another version: the settings are shown without a name
    samples = meta.get("samples") or []
    if not isinstance(samples, list):
        raise MetaError("its samples are not a list")
    return AppMeta(corpus, corpus_name, float(elapsed), preset, tuple(_sample(s, i) for i, s in enumerate(samples)))


def _optional_str(meta: dict, key: str) -> str | None:
    value = meta.get(key)
    if value is not None and not isinstance(value, str):
        raise MetaError(f"its {key.replace('_', ' ')} {_short(value)} is not text")
    return value


def _sample(rec, i: int) -> SampleRecord:
    """One stored sample as a SampleRecord, every field of the right type."""
    where = f"sample {i + 1}"
    if not isinstance(rec, dict):
        raise MetaError(f"its {where} is not a JSON object")
    names = {f.name for f in fields(SampleRecord)}
    rec = {k: v for k, v in rec.items() if k in names}
    checks = {
        "iteration": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
        "text": lambda v: isinstance(v, str),
        "smooth_loss": lambda v: v is None or _is_number(v),
        "temperature": lambda v: _is_number(v) and v > 0,
        "kind": lambda v: v in SAMPLE_KINDS,
        "prime": lambda v: isinstance(v, str),
        "argmax": lambda v: isinstance(v, bool),
    }
    for key in ("iteration", "text"):
        if key not in rec:
            raise MetaError(f"its {where} has no {key}")
    for key, value in rec.items():
        if not checks[key](value):
            raise MetaError(f"its {where} has a malformed {key.replace('_', ' ')}: {_short(value)}")
    return SampleRecord(**rec)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _short(value) -> str:
    text = json.dumps(value) if not isinstance(value, float) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
