"""Training configuration: one dataclass of hyperparameters and the named presets."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

OPTIMIZERS = ("adagrad", "rmsprop", "adam", "sgd")
DTYPES = ("float64", "float32")
WHH_INITS = ("randn", "orthogonal")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run's trajectory, given the corpus."""

    hidden_size: int = 100  # H, units in the hidden layer
    seq_length: int = 25  # T, steps unrolled per window (truncated BPTT)
    batch_size: int = 1  # B, parallel streams over the corpus, each carrying its hidden state
    dtype: str = "float64"  # float64 (exact lesson) or float32 (fast)
    optimizer: str = "adagrad"  # adagrad | rmsprop | adam
    learning_rate: float = 0.1  # step size (live-changeable)
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

    def validate(self) -> "TrainConfig":
        """Return self, or raise ValueError with a one-line reason."""
        checks = [
            (self.hidden_size >= 1, "hidden size must be at least 1"),
            (self.seq_length >= 1, "sequence length must be at least 1"),
            (self.batch_size >= 1, "batch size must be at least 1"),
            (self.dtype in DTYPES, f"dtype must be one of {', '.join(DTYPES)}"),
            (self.optimizer in OPTIMIZERS, f"optimizer must be one of {', '.join(OPTIMIZERS)}"),
            (self.learning_rate > 0, "learning rate must be positive"),
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
            (self.grad_flow_every >= 0, "gradient-flow interval must be 0 (off) or positive"),
        ]
        for ok, reason in checks:
            if not ok:
                raise ValueError(reason)
        return self

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
}


def preset(name: str, **overrides) -> TrainConfig:
    """A named preset with overrides applied; unknown names raise ValueError."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    return PRESETS[name].replace(**overrides).validate()
