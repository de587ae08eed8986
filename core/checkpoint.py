"""Checkpoints: one .npz of plain arrays (never pickled) plus JSON metadata, written atomically."""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
import zipfile

import numpy as np

from .config import TrainConfig
from .model import arch_of_config, param_shapes
from .vocab import Vocab

FORMAT = "charrnn-checkpoint"
VERSION = 2  # 2: any cell and layer count (cell, num_layers, dropout in the config; hidden (K, B, H)); 1 reads as rnn
TEMP_PREFIX = ".charrnn-"  # temp files are TEMP_PREFIX + target name + .PID.RANDOM + TEMP_SUFFIX
TEMP_SUFFIX = ".tmp"
COUNTERS = ("iteration", "pointer", "chars_seen", "optimizer_t")  # non-negative integers in the metadata


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; str(e) is the one-line message shown to the user."""


def save_checkpoint(trainer, path, extras: dict[str, np.ndarray] | None = None) -> None:
    """Write trainer's full state (and optional extra arrays, e.g. loss history) to path atomically."""
    lesson = trainer.arch.lesson
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "config": trainer.config.to_dict(),
        "vocab": "".join(trainer.vocab.chars),
        "iteration": trainer.iteration,
        "pointer": trainer.pointer,
        "smooth_loss": trainer.smooth_loss,
        "chars_seen": trainer.chars_seen,
        "n_data": int(len(trainer.data)),
        "optimizer_t": trainer.optimizer.t,
        "live": {"learning_rate": trainer.learning_rate, "temperature": trainer.temperature,
                 "sample_every": trainer.sample_every, "sample_length": trainer.sample_length},
        "rng": trainer.rng.bit_generator.state,
        "dropout_rng": trainer.dropout_rng.bit_generator.state,
        "train_seconds": trainer.train_seconds,
    }
    arrays = {f"param.{k}": v for k, v in trainer.params.items()}
    arrays.update({f"opt.{k}": v for k, v in trainer.optimizer.state_arrays().items()})
    arrays["hidden"] = trainer.hidden if lesson else trainer.state  # (B, H) as format 1 had it, or (K, B, H)
    for k, v in (extras or {}).items():
        arrays[f"extra.{k}"] = np.asarray(v)
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    # The temp file names its target and its process, so a later save can remove the ones a killed process
    # left behind (a kill -9 mid-save) without touching a save still in flight elsewhere.
    _remove_orphans(folder, base)
    fd, tmp = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{base}.{os.getpid()}.", suffix=TEMP_SUFFIX, dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _remove_orphans(folder: str, base: str) -> None:
    """Delete temp files of saves to folder/base whose process no longer exists; never raises."""
    pattern = re.compile(rf"^{re.escape(TEMP_PREFIX + base)}\.(\d+)\.[A-Za-z0-9_]+{re.escape(TEMP_SUFFIX)}$")
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        match = pattern.match(name)
        if match and not _process_exists(int(match.group(1))):
            try:
                os.unlink(os.path.join(folder, name))
            except OSError:
                pass


def _process_exists(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError, OverflowError, ValueError):
        return True  # exists but is not ours, or cannot tell: leave its file alone
    return True


class Checkpoint:
    """A checkpoint read from disk: metadata, vocabulary, config, params and the rest as arrays."""

    def __init__(self, meta: dict, arrays: dict[str, np.ndarray]):
        self.meta = meta
        self.arrays = arrays
        self.config = TrainConfig.from_dict(meta["config"]).validate()
        self.vocab = Vocab(meta["vocab"])
        self.arch = arch_of_config(self.config, len(self.vocab))  # files without a cell are one tanh layer
        self.params = {k: arrays[f"param.{k}"] for k in param_shapes(self.arch)}
        self.extras = {k[len("extra."):]: v for k, v in arrays.items() if k.startswith("extra.")}

    @property
    def iteration(self) -> int:
        return int(self.meta["iteration"])


def load_checkpoint(path) -> Checkpoint:
    """Read and validate a checkpoint; anything corrupt, foreign, pickled or from the future raises CheckpointError."""
    path = os.fspath(path)
    name = os.path.basename(path)
    if not os.path.exists(path):
        raise CheckpointError(f"no such checkpoint: {path}")
    if os.path.isdir(path):
        raise CheckpointError(f"{path} is a folder, not a checkpoint")
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as e:
        raise CheckpointError(f"cannot read {name}: {e.strerror}") from None
    if magic != b"PK\x03\x04":
        raise CheckpointError(f"{name} is not a charrnn checkpoint (not an .npz file)")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except ValueError as e:
        if "pickle" in str(e).lower():
            raise CheckpointError(f"{name} holds pickled objects; refused (checkpoints are plain arrays)") from None
        raise CheckpointError(f"{name} is not a readable checkpoint ({e})") from None
    except (OSError, zipfile.BadZipFile, EOFError, KeyError) as e:
        raise CheckpointError(f"{name} is not a readable checkpoint (damaged or not an .npz: {e})") from None
    try:
        meta = json.loads(arrays.pop("meta").tobytes().decode("utf-8"))
    except (KeyError, UnicodeDecodeError, json.JSONDecodeError):
        raise CheckpointError(f"{name} is not a charrnn checkpoint (no readable metadata)") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{name} is not a charrnn checkpoint")
    version = meta.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise CheckpointError(f"{name} was written by a newer charrnn (format {version}); this one reads up to {VERSION}")
    try:
        _check_meta(meta)
        ckpt = Checkpoint(meta, arrays)
        _check_shapes(ckpt)
    except CheckpointError as e:
        raise CheckpointError(f"{name}: {e}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise CheckpointError(f"{name} is incomplete or inconsistent ({e})") from None
    return ckpt


def _check_meta(meta: dict) -> None:
    """The training state in the metadata is all there, of the right types and in range."""
    for key in ("config", "rng"):
        if not isinstance(meta.get(key), dict):
            raise CheckpointError(f"its {key} is missing or malformed")
    if not isinstance(meta.get("vocab"), str):
        raise CheckpointError("its vocabulary is missing or malformed")
    for key in COUNTERS:
        value = meta.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise CheckpointError(f"its {key} is {value!r}, not a count")
    if "n_data" in meta and (not isinstance(meta["n_data"], int) or meta["n_data"] < 2):
        raise CheckpointError(f"its n_data is {meta['n_data']!r}, not a corpus length")
    loss = meta.get("smooth_loss")
    if not isinstance(loss, (int, float)) or isinstance(loss, bool) or not math.isfinite(loss):
        raise CheckpointError(f"its smooth_loss is {loss!r}, not a finite number")
    if not isinstance(meta.get("live", {}), dict):
        raise CheckpointError("its live settings are malformed")


def _check_shapes(ckpt: Checkpoint) -> None:
    cfg, arch = ckpt.config, ckpt.arch
    H, B = cfg.hidden_size, cfg.batch_size
    for k, shape in param_shapes(arch).items():
        p = ckpt.params[k]
        if p.shape != shape or p.dtype != np.dtype(cfg.dtype):
            raise CheckpointError(f"parameter {k} has shape {p.shape} {p.dtype}, expected {shape} {cfg.dtype}")
        if not np.isfinite(p).all():
            raise CheckpointError(f"parameter {k} holds non-finite values")
    hidden = (B, H) if arch.lesson else (arch.state_rows, B, H)
    if ckpt.arrays["hidden"].shape != hidden:
        raise CheckpointError(f"hidden state has shape {ckpt.arrays['hidden'].shape}, expected {hidden}")
    # A NaN in the hidden or optimizer state would turn the weights into NaN on the first step.
    for key, array in ckpt.arrays.items():
        if (key == "hidden" or key.startswith("opt.")) and not _finite(array):
            raise CheckpointError(f"{'hidden state' if key == 'hidden' else 'optimizer state ' + key[4:]} "
                                  f"holds non-finite values")


def _finite(array: np.ndarray) -> bool:
    return array.dtype.kind not in "fc" or bool(np.isfinite(array).all())


def restore_trainer(ckpt: Checkpoint, data: np.ndarray, vocab: Vocab):
    """A Trainer over data (encoded with vocab) continuing exactly where the checkpoint stopped."""
    from .trainer import Trainer

    if vocab != ckpt.vocab:
        raise CheckpointError(
            f"the checkpoint's vocabulary ({len(ckpt.vocab)} characters) differs from this corpus's "
            f"({len(vocab)} characters); open the corpus it was trained on, or reset")
    trainer = Trainer(data, vocab, ckpt.config)
    if int(ckpt.meta.get("n_data", len(data))) != len(data):
        raise CheckpointError(
            f"the checkpoint was trained on a corpus of {ckpt.meta['n_data']} characters, this one has "
            f"{len(data)}; open the corpus it was trained on, or reset")
    for k in trainer.params:
        trainer.params[k][...] = ckpt.params[k]
    opt = {k[len("opt."):]: v for k, v in ckpt.arrays.items() if k.startswith("opt.")}
    try:
        trainer.optimizer.load_state(opt, ckpt.meta["optimizer_t"])
    except (KeyError, ValueError) as e:
        raise CheckpointError(f"optimizer state is incomplete ({e})") from None
    try:
        trainer.state[...] = ckpt.arrays["hidden"]  # (K, B, H), or the lesson's (B, H) into its one row
        trainer.pointer = int(ckpt.meta["pointer"])
        trainer.iteration = int(ckpt.meta["iteration"])
        trainer.smooth_loss = float(ckpt.meta["smooth_loss"])
        trainer.chars_seen = int(ckpt.meta["chars_seen"])
        trainer.rng.bit_generator.state = ckpt.meta["rng"]
        if "dropout_rng" in ckpt.meta:
            trainer.dropout_rng.bit_generator.state = ckpt.meta["dropout_rng"]
        trainer.train_seconds = float(ckpt.meta.get("train_seconds", 0.0))
        trainer.set_live(**ckpt.meta.get("live", {}))
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise CheckpointError(f"the checkpoint's training state is incomplete or inconsistent ({e})") from None
    return trainer
