"""What a training configuration costs before any of it is allocated: memory and arithmetic of one step.

step_cost(config, V) counts the arrays a Trainer holds for a vocabulary of V characters (weights and
gradients, the optimizer's memory and scratch, the restore point kept across live learning-rate changes,
the window's work buffers, the evaluation and sampling buffers) and the floating-point operations of one
training step (forward, backward through time, update; validation and samples amortised over their
intervals). refusal() says why a configuration cannot fit in this machine's memory, and
StepCost.seconds() gives the order of magnitude of a step's time, so a caller can warn before a step
that would keep Pause, Save and closing waiting.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .config import TrainConfig

MEMORY_FRACTION = 0.5  # of physical RAM a model may take: the rest is the OS's, the corpus's, the GUI's
FLOPS_PER_SECOND = {"float64": 3e9, "float32": 6e9}  # one BLAS thread; measured 4-6 and 8-11 on a busy 2-core CPU
CALL_SECONDS = 20e-6  # Python and NumPy per-call overhead, about four calls per time step
SLOW_STEP_SECONDS = 2.0  # a step longer than this keeps Pause, Save and closing waiting noticeably
EVAL_CHUNK, EVAL_STREAMS = 256, 16  # Trainer.evaluate's window: (chunk, streams)
OPTIMIZER_SLOTS = {"adagrad": 1, "rmsprop": 1, "adam": 2}  # state arrays the size of the weights
OPTIMIZER_SCRATCH = 2  # scratch arrays the size of the weights (Optimizer._tmp)
RESTORE_MAX_BYTES = 256 << 20  # as core.trainer: a larger model keeps no restore point
INDEX_BYTES = 8  # np.intp


@dataclass(frozen=True)
class StepCost:
    """Memory (bytes) and arithmetic (FLOPs) of training one configuration."""

    parameters: int  # P, the number of weights
    model_bytes: int  # weights and their gradients (2 P)
    optimizer_bytes: int  # the optimizer's state and scratch, and the restore point when one is kept
    workspace_bytes: int  # one window's buffers (T, B, H and V sized), evaluation and sampling buffers
    flops: float  # floating-point operations of one training step
    time_steps: int  # T, for the per-call overhead
    dtype: str  # float64 or float32

    @property
    def total_bytes(self) -> int:
        return self.model_bytes + self.optimizer_bytes + self.workspace_bytes

    def seconds(self) -> float:
        """Roughly how long one step takes on one CPU core (an order of magnitude, not a promise)."""
        return self.flops / FLOPS_PER_SECOND[self.dtype] + 4 * self.time_steps * CALL_SECONDS


def step_cost(config: TrainConfig, vocab_size: int) -> StepCost:
    """The cost of training config on a vocabulary of vocab_size characters."""
    T, B, H, V = config.seq_length, config.batch_size, config.hidden_size, int(vocab_size)
    item = 8 if config.dtype == "float64" else 4
    P = 2 * H * V + H * H + H + V  # Wxh (H, V), Whh (H, H), Why (V, H), bh (H,), by (V,)
    slots = OPTIMIZER_SLOTS.get(config.optimizer, 2)
    restore = (1 + slots) * P * item
    optimizer = (slots + OPTIMIZER_SCRATCH) * P * item + (restore if restore <= RESTORE_MAX_BYTES else 0)
    TB = T * B
    window = (4 * TB * H  # hs, dh, dtanh, draw: (T, B, H) each
              + 2 * TB * V  # probs and the one-hot inputs: (T*B, V) each
              + 2 * H * V + H * H  # contiguous copies of Wxh.T + bh, Whh.T, Why.T
              + 2 * B * H) * item  # carried hidden state, one step's product
    window += 2 * TB * item + 5 * (T + 1) * B * INDEX_BYTES  # per-row scratch, row offsets, data indices
    S = EVAL_STREAMS
    evaluation = (3 * EVAL_CHUNK * S * H + 3 * EVAL_CHUNK * S * V) * 8  # hidden states, scores and softmax
    sampling = config.sample_length * (H + V) * 8  # the hidden state after every sampled character
    per_step = TB * (6 * H * H + 8 * H * V) + 20 * TB * (H + V) + 12 * P  # forward, backward, softmax, update
    per_eval = config.eval_chars * (2 * H * H + 2 * H * V + 5 * V) if config.val_fraction else 0
    per_sample = config.sample_length * (2 * H * H + 2 * H * V + 5 * V)
    flops = float(per_step) + per_eval / config.eval_every
    if config.sample_every:
        flops += per_sample / config.sample_every
    return StepCost(parameters=P, model_bytes=2 * P * item, optimizer_bytes=optimizer,
                    workspace_bytes=window + evaluation + sampling, flops=flops, time_steps=T,
                    dtype=config.dtype)


def physical_memory() -> int | None:
    """Bytes of RAM in this machine, or None where the OS does not say."""
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
    return pages * size if pages > 0 and size > 0 else None


def memory_budget() -> int | None:
    """Bytes a model may take here: a conservative share of physical RAM (None when unknown)."""
    total = physical_memory()
    return None if total is None else int(total * MEMORY_FRACTION)


def refusal(cost: StepCost, budget: int | None = None) -> str | None:
    """Why training with this cost cannot fit in memory (one line), or None when it can (or nobody knows)."""
    budget = memory_budget() if budget is None else budget
    if budget is None or cost.total_bytes <= budget:
        return None
    return (f"these settings need about {human_bytes(cost.total_bytes)} of memory to train, more than the "
            f"{human_bytes(budget)} this computer can spare; choose a smaller hidden size, sequence length or "
            f"batch size")


def human_bytes(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    raise AssertionError  # pragma: no cover


def human_seconds(s: float) -> str:
    if s < 60:
        return f"{s:.1f} seconds" if s < 10 else f"{s:.0f} seconds"
    if s < 3600:
        return f"{s / 60:.0f} minutes"
    if s < 86400:
        return f"{s / 3600:.1f} hours"
    return f"{s / 86400:,.0f} days"
