"""Checkpoints: one .npz of plain arrays (never pickled) plus JSON metadata, written atomically."""

from __future__ import annotations

import json
import os
import tempfile
import zipfile

import numpy as np

from .config import TrainConfig
from .rnn import PARAM_NAMES
from .vocab import Vocab

FORMAT = "charrnn-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; str(e) is the one-line message shown to the user."""


def save_checkpoint(trainer, path, extras: dict[str, np.ndarray] | None = None) -> None:
    """Write trainer's full state (and optional extra arrays, e.g. loss history) to path atomically."""
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
    }
    arrays = {f"param.{k}": trainer.params[k] for k in PARAM_NAMES}
    arrays.update({f"opt.{k}": v for k, v in trainer.optimizer.state_arrays().items()})
    arrays["hidden"] = trainer.hidden
    for k, v in (extras or {}).items():
        arrays[f"extra.{k}"] = np.asarray(v)
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".charrnn-", suffix=".tmp", dir=folder)
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


class Checkpoint:
    """A checkpoint read from disk: metadata, vocabulary, config, params and the rest as arrays."""

    def __init__(self, meta: dict, arrays: dict[str, np.ndarray]):
        self.meta = meta
        self.arrays = arrays
        self.config = TrainConfig.from_dict(meta["config"]).validate()
        self.vocab = Vocab(meta["vocab"])
        self.params = {k: arrays[f"param.{k}"] for k in PARAM_NAMES}
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
        ckpt = Checkpoint(meta, arrays)
        _check_shapes(ckpt)
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{name} is incomplete or inconsistent ({e})") from None
    return ckpt


def _check_shapes(ckpt: Checkpoint) -> None:
    cfg, V = ckpt.config, len(ckpt.vocab)
    H, B = cfg.hidden_size, cfg.batch_size
    want = {"Wxh": (H, V), "Whh": (H, H), "Why": (V, H), "bh": (H,), "by": (V,)}
    for k, shape in want.items():
        p = ckpt.params[k]
        if p.shape != shape or p.dtype != np.dtype(cfg.dtype):
            raise CheckpointError(f"parameter {k} has shape {p.shape} {p.dtype}, expected {shape} {cfg.dtype}")
        if not np.isfinite(p).all():
            raise CheckpointError(f"parameter {k} holds non-finite values")
    if ckpt.arrays["hidden"].shape != (B, H):
        raise CheckpointError(f"hidden state has shape {ckpt.arrays['hidden'].shape}, expected {(B, H)}")


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
    for k in PARAM_NAMES:
        trainer.params[k][...] = ckpt.params[k]
    opt = {k[len("opt."):]: v for k, v in ckpt.arrays.items() if k.startswith("opt.")}
    try:
        trainer.optimizer.load_state(opt, ckpt.meta["optimizer_t"])
    except (KeyError, ValueError) as e:
        raise CheckpointError(f"optimizer state is incomplete ({e})") from None
    trainer.hidden[...] = ckpt.arrays["hidden"]
    trainer.pointer = int(ckpt.meta["pointer"])
    trainer.iteration = int(ckpt.meta["iteration"])
    trainer.smooth_loss = float(ckpt.meta["smooth_loss"])
    trainer.chars_seen = int(ckpt.meta["chars_seen"])
    trainer.rng.bit_generator.state = ckpt.meta["rng"]
    trainer.set_live(**ckpt.meta.get("live", {}))
    return trainer
