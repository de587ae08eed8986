"""The run directory's layout: file names, the run.json record, and writing it atomically."""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import re
import stat
import tempfile
import time

FORMAT = "charrnn-run"
VERSION = 1
RUN_JSON = "run.json"  # what the run is and how it stands; rewritten whole (atomically) on each change
METRICS = "metrics.jsonl"  # one JSON object per logged iteration, append-only
SAMPLES = "samples.jsonl"  # one JSON object per sample drawn, append-only
CHECKPOINTS = "checkpoints"  # folder of latest.npz and best.npz
LATEST = "latest.npz"  # the newest state (every N iterations and at the end)
BEST = "best.npz"  # the state with the best held-out bits/char so far
LOCK = "writer.lock"  # present while a writer holds the run: {"pid", "host", "since"}

RUNNING, FINISHED, INTERRUPTED, DIVERGED = "running", "finished", "interrupted", "diverged"
WRITTEN_STATUSES = (RUNNING, FINISHED, INTERRUPTED, DIVERGED)  # what run.json's "status" may hold
HASH_CHUNK = 1 << 20  # characters hashed per step (bounds the memory of hashing a big corpus)


class RunError(ValueError):
    """A run directory that cannot be used as asked; str(e) is the one-line message shown to the user."""


class RunExistsError(RunError):
    """A new run was asked for in a folder that already holds one."""


def is_run_dir(path) -> bool:
    """Whether path is a run directory (a folder holding run.json)."""
    return os.path.isfile(os.path.join(path, RUN_JSON))


def checkpoint_path(run_dir, which: str = LATEST) -> str:
    """Where the run keeps a checkpoint: which is LATEST or BEST (or their names without .npz)."""
    name = which if which.endswith(".npz") else which + ".npz"
    return os.path.join(os.fspath(run_dir), CHECKPOINTS, name)


def run_of_checkpoint(checkpoint) -> str | None:
    """The run directory a checkpoint file belongs to (<run>/checkpoints/NAME.npz), or None."""
    folder = os.path.dirname(os.path.abspath(os.fspath(checkpoint)))
    run = os.path.dirname(folder)
    return run if os.path.basename(folder) == CHECKPOINTS and is_run_dir(run) else None


def new_run_folder(parent, name: str) -> str:
    """Create parent/name (or name-2, name-3, ... when taken; parent too if needed) and return its path."""
    parent = os.fspath(parent)
    os.makedirs(parent, exist_ok=True)
    for i in range(1, 1000):
        path = os.path.join(parent, name if i == 1 else f"{name}-{i}")
        try:
            os.mkdir(path)
            return path
        except FileExistsError:
            continue
    raise RunError(f"cannot find a free folder name for a run in {parent}")


def corpus_identity(corpus) -> dict:
    """What names a corpus in run.json: name, path, characters, vocabulary and the sha256 of its text (UTF-8)."""
    digest = hashlib.sha256()
    n = len(corpus)
    for start in range(0, n, HASH_CHUNK):
        digest.update(corpus.text(start, min(n, start + HASH_CHUNK)).encode("utf-8", "surrogatepass"))
    return {
        "name": corpus.name,
        "path": os.path.abspath(corpus.path) if corpus.path else None,
        "characters": n,
        "vocabulary": "".join(corpus.vocab.chars),
        "sha256": digest.hexdigest(),
    }


def new_info(config: dict, corpus: dict, command, preset: str | None, now: float) -> dict:
    """A fresh run.json record, status running."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "created": iso_time(now),
        "created_unix": now,
        "command": command,  # the argv list of charrnn-train, or "app"
        "preset": preset,  # the preset the settings started from (None when unknown)
        "config": config,  # TrainConfig.to_dict()
        "corpus": corpus,  # corpus_identity()
        "status": RUNNING,
        "updated": now,  # unix time of the last rewrite (a heartbeat while running)
        "iteration": 0,  # latest iteration logged when last rewritten
        "best_val_bpc": None,  # best held-out bits/char so far (orphans excluded)
        "best_iteration": None,
        "ended": None,  # unix time of the clean end, if any
    }


def iso_time(t: float) -> str:
    """Local time with its UTC offset, to the second: 2026-11-27T14:30:05+01:00."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t)) + _utc_offset(t)


def _utc_offset(t: float) -> str:
    minutes = int(time.localtime(t).tm_gmtoff // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def open_regular(path):
    """A binary file reading path, which must be a regular file. Anything else (a named pipe, a device, a folder)
    is refused with OSError at once: opening a pipe would block until a writer came, and it cannot seek."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # no effect on a regular file's reads
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file (a named pipe, a device or a folder)", os.fspath(path))
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_info(run_dir) -> dict:
    """run.json as a dict; RunError when it is missing, unreadable, not ours or from a newer charrnn."""
    path = os.path.join(os.fspath(run_dir), RUN_JSON)
    try:
        with open_regular(path) as f:
            raw = f.read(1 << 22)
    except FileNotFoundError:
        raise RunError(f"{run_dir} is not a run (no {RUN_JSON})") from None
    except OSError as e:
        raise RunError(f"cannot read {path}: {e.strerror or e}") from None
    try:
        info = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise RunError(f"{path} is damaged (not JSON)") from None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise RunError(f"{path} is not a charrnn run record")
    version = info.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise RunError(f"{path} was written by a newer charrnn (format {version}); this one reads up to {VERSION}")
    return info


def write_info(run_dir, info: dict) -> None:
    """Replace run.json with info atomically (a reader sees the old record or the new one, never a mix)."""
    run_dir = os.fspath(run_dir)
    fd, tmp = tempfile.mkstemp(prefix=".run.json.", suffix=".tmp", dir=run_dir)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(json.dumps(clean(info), indent=1).encode("utf-8") + b"\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, os.path.join(run_dir, RUN_JSON))
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def clean(value):
    """value with NumPy scalars as Python numbers and non-finite floats as None (JSON has no NaN)."""
    kind = type(value)
    if kind is float:  # the common cases first: a metrics line is cleaned per iteration while training
        return value if math.isfinite(value) else None
    if kind is int or kind is str or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # a NumPy scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


_encode = json.JSONEncoder(separators=(",", ":")).encode  # json.dumps with these would build an encoder per line


def json_line(record: dict) -> bytes:
    """One record as one complete JSON line (ASCII-escaped, so any text stays on its line)."""
    return _encode(clean(record)).encode("ascii") + b"\n"


def default_run_name(corpus_name: str, preset: str | None, now: float) -> str:
    """<date-time>-<corpus>-<preset>, e.g. 20261127-143005-input-fast, safe as a folder name anywhere."""
    stem = os.path.splitext(corpus_name)[0] if corpus_name else "corpus"
    parts = [time.strftime("%Y%m%d-%H%M%S", time.localtime(now)), _safe(stem), _safe(preset or "custom")]
    return "-".join(p for p in parts if p)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-")[:40]
