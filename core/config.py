"""Training configuration: one dataclass of hyperparameters and the named presets."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

OPTIMIZERS = ("adagrad", "rmsprop", "adam", "sgd")
DTYPES = ("float64", "float32")
CELLS = ("rnn", "lstm", "gru")
LR_SCHEDULES = ("constant", "cosine")
MAX_LAYERS = 3
WHH_INITS = ("randn", "orthogonal")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run's trajectory, given the corpus."""

    hidden_size: int = 100  # H, units in the hidden layer
    cell: str = "rnn"  # rnn (the lesson's tanh cell) | lstm (forget-gate bias initialised to 1) | gru
    num_layers: int = 1  # stacked recurrent layers, 1 to 3; each layer reads the hidden states of the one below
    dropout: float = 0.0  # fraction of a layer's outputs zeroed before the next layer reads them (training only)
    seq_length: int = 25  # T, steps unrolled per window (truncated BPTT)
    batch_size: int = 1  # B, parallel streams over the corpus, each carrying its hidden state
    dtype: str = "float64"  # float64 (exact lesson) or float32 (fast)
    optimizer: str = "adagrad"  # adagrad | rmsprop | adam
    learning_rate: float = 0.1  # step size (live-changeable)
    lr_schedule: str = "constant"  # constant | cosine: decay to lr_floor * learning_rate over the budget
    lr_floor: float = 0.1  # the cosine schedule's final rate, as a fraction of learning_rate
    budget_iterations: int = 0  # iterations the schedule spans (the CLI's --iterations); 0: no such budget
    budget_seconds: float = 0.0  # training seconds the schedule spans (the CLI's --seconds); 0: no such budget
    clip: float = 5.0  # element-wise gradient clip to [-clip, clip]; 0 disables
    init_scale: float = 0.01  # weights drawn as randn * init_scale
    seed: int = 0  # seeds weight init (RandomState, lesson order Wxh, Whh, Why) and sampling
    val_fraction: float = 0.05  # held-out tail of the corpus for validation; 0 = none
    eval_every: int = 500  # iterations between validation passes
    eval_chars: int = 20_000  # characters of the held-out tail scored per validation pass
    sample_every: int = 100  # iterations between samples (live-changeable)
    sample_length: int = 200  # characters per sample (live-changeable)
    temperature: float = 1.0  # sampling temperature (live-changeable)
    whh_init: str = "randn"  # W_hh's first value: randn * init_scale (the lesson's) or orthogonal (same draws; see rnn)
    whh_gain: float = 1.0  # W_hh's first value is multiplied by this (orthogonal * 1.5: exploding gradients)
    grad_flow_every: int = 0  # iterations between gradient-flow measurements (core.gradflow); 0 = off (live)
    state_reset_every: int = 0  # every N windows one stream (in turn) starts from a zero state; 0 = never (lesson)

    def validate(self) -> "TrainConfig":
        """Return self, or raise ValueError with a one-line reason."""
        checks = [
            (self.hidden_size >= 1, "hidden size must be at least 1"),
            (self.cell in CELLS, f"cell must be one of {', '.join(CELLS)}"),
            (1 <= self.num_layers <= MAX_LAYERS, f"layers must be between 1 and {MAX_LAYERS}"),
            (0 <= self.dropout < 1, "dropout must be in [0, 1)"),
            (self.dropout == 0 or self.num_layers > 1, "dropout acts between layers: it needs 2 or more layers"),
            (self.seq_length >= 1, "sequence length must be at least 1"),
            (self.batch_size >= 1, "batch size must be at least 1"),
            (self.dtype in DTYPES, f"dtype must be one of {', '.join(DTYPES)}"),
            (self.optimizer in OPTIMIZERS, f"optimizer must be one of {', '.join(OPTIMIZERS)}"),
            (self.learning_rate > 0, "learning rate must be positive"),
            (self.lr_schedule in LR_SCHEDULES, f"learning-rate schedule must be one of {', '.join(LR_SCHEDULES)}"),
            (0 <= self.lr_floor <= 1, "learning-rate floor must be in [0, 1]"),
            (self.budget_iterations >= 0 and self.budget_seconds >= 0, "a schedule budget cannot be negative"),
            (self.clip >= 0, "clip must be 0 (off) or positive"),
            (self.init_scale > 0, "init scale must be positive"),
            (0 <= self.val_fraction < 0.5, "validation fraction must be in [0, 0.5)"),
            (self.eval_every >= 1, "eval interval must be at least 1"),
            (self.eval_chars >= 2, "eval chars must be at least 2"),
            (self.sample_every >= 0, "sample interval must be 0 (off) or positive"),
            (self.sample_length >= 1, "sample length must be at least 1"),
            (self.temperature > 0, "temperature must be positive"),
            (self.whh_init in WHH_INITS, f"W_hh init must be one of {', '.join(WHH_INITS)}"),
            (self.whh_gain > 0, "W_hh gain must be positive"),
            (self.cell == "rnn" or (self.whh_init == "randn" and self.whh_gain == 1.0),
             "W_hh init and gain apply to the tanh cell (rnn) only"),
            (self.grad_flow_every >= 0, "gradient-flow interval must be 0 (off) or positive"),
            (self.state_reset_every >= 0, "state reset interval must be 0 (never) or positive"),
        ]
        for ok, reason in checks:
            if not ok:
                raise ValueError(reason)
        return self

    @property
    def vanilla_one_layer(self) -> bool:
        """The lesson's model: one tanh layer, with its parameter names (Wxh, Whh, Why, bh, by)."""
        return self.cell == "rnn" and self.num_layers == 1

    def lr_factor(self, iteration: int, seconds: float) -> float:
        """The schedule's multiplier of learning_rate after `iteration` updates and `seconds` of training."""
        if self.lr_schedule == "constant":
            return 1.0
        done = 0.0  # fraction of the budget spent; with no budget the rate stays constant
        if self.budget_iterations:
            done = iteration / self.budget_iterations
        if self.budget_seconds:
            done = max(done, seconds / self.budget_seconds)
        if done <= 0.0:
            return 1.0
        cosine = 0.5 * (1.0 + math.cos(math.pi * min(1.0, done)))  # 1 -> 0 over the budget
        return self.lr_floor + (1.0 - self.lr_floor) * cosine

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """Build from a dict, ignoring unknown keys (forward compatibility)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def replace(self, **changes) -> "TrainConfig":
        return replace(self, **changes)


PRESETS: dict[str, TrainConfig] = {
    # The lesson's program, exactly: H=100, T=25, Adagrad 0.1, float64, no validation split.
    "min-char-rnn": TrainConfig(val_fraction=0.0),
    # Batched float32 streams with Adam: the quickest way to prose on a 2-core CPU (tuned in bench/).
    # Values chosen by measurement (bench/README.md): lowest held-out bits/char after 60 s on 2 cores.
    "fast": TrainConfig(
        hidden_size=192, seq_length=32, batch_size=32, dtype="float32",
        optimizer="adam", learning_rate=3e-3, init_scale=0.05, eval_every=200,
    ),
    # Gated cells with a cosine decay over the run's budget (--seconds or --iterations; none: constant), one stream
    # in turn starting from a zero state every 2 windows. Values chosen by measurement (bench/README.md,
    # bench/tune_cells.py): the lowest held-out bits/char after 60 s of training on this 2-core machine.
    "gru": TrainConfig(
        cell="gru", hidden_size=160, seq_length=64, batch_size=32, dtype="float32", optimizer="adam",
        learning_rate=1e-2, lr_schedule="cosine", lr_floor=0.05, init_scale=0.1, eval_every=200,
        state_reset_every=2,
    ),
    "lstm": TrainConfig(
        cell="lstm", hidden_size=160, seq_length=32, batch_size=32, dtype="float32", optimizer="adam",
        learning_rate=1.2e-2, lr_schedule="cosine", lr_floor=0.05, init_scale=0.1, eval_every=200,
        state_reset_every=2,
    ),
    # For runs of five minutes or more (--seconds 300): a wider GRU, slower per iteration, lower in the end. The
    # lowest held-out bits/char after 300 s of the candidates measured (bench/README.md); no stream resets (with them
    # these settings scored worse).
    "gru-long": TrainConfig(
        cell="gru", hidden_size=256, seq_length=64, batch_size=32, dtype="float32", optimizer="adam",
        learning_rate=8e-3, lr_schedule="cosine", lr_floor=0.05, init_scale=0.05, eval_every=200,
    ),
}


def preset(name: str, **overrides) -> TrainConfig:
    """A named preset with overrides applied; unknown names raise ValueError."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    return PRESETS[name].replace(**overrides).validate()


MODEL_FIELDS = ("cell", "num_layers", "hidden_size", "seq_length", "batch_size", "dtype", "optimizer")  # a preset's model


def preset_label(config: TrainConfig) -> str | None:
    """The preset whose model a config has (sizes, dtype, optimizer), or None."""
    for name, p in PRESETS.items():
        if all(getattr(p, f) == getattr(config, f) for f in MODEL_FIELDS):
            return name
    return None
