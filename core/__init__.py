"""charrnn's headless engine: a character-level vanilla RNN (min-char-rnn) in NumPy.

Never imports Qt, never starts threads, never prints (except the CLI in core.cli).
"""

from .checkpoint import Checkpoint, CheckpointError, load_checkpoint, restore_trainer, save_checkpoint
from .config import PRESETS, TrainConfig, preset
from .corpus import Corpus, CorpusError, check_fits, corpus_from_text, load_corpus
from .sample import SampleResult, generate
from .trainer import DivergedError, RestorePoint, Sample, Snapshot, Trainer
from .vocab import UnknownCharactersError, Vocab

__all__ = [
    "Checkpoint", "CheckpointError", "Corpus", "CorpusError", "DivergedError", "PRESETS", "RestorePoint", "Sample",
    "SampleResult", "Snapshot", "TrainConfig", "Trainer", "UnknownCharactersError", "Vocab", "check_fits",
    "corpus_from_text", "generate", "load_checkpoint", "load_corpus", "preset", "restore_trainer",
    "save_checkpoint",
]
