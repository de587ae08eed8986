"""What a training configuration costs before any of it is allocated: memory and arithmetic of one step.

step_cost(config, V) counts the arrays a Trainer holds for a vocabulary of V characters, for any cell and
number of layers (weights and gradients, the optimizer's memory and scratch, the restore point kept across
live learning-rate changes, the window's work buffers, the evaluation and sampling buffers) and the
floating-point operations of one training step (forward, backward through time, update; validation and samples amortised over their
intervals). refusal() says why a configuration cannot fit in this machine's memory, and
StepCost.seconds() gives the order of magnitude of a step's time, so a caller can warn before a step
that would keep Pause, Save and closing waiting.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from .config import TrainConfig
from .model import GATE_BLOCKS, STATE_NAMES, arch_of_config, param_shapes

MEMORY_FRACTION = 0.5  # of physical RAM a model may take: the rest is the OS's, the corpus's, the GUI's
FLOPS_PER_SECOND = {"float64": 3e9, "float32": 6e9}  # one BLAS thread; measured 4-6 and 8-11 on a busy 2-core CPU
CALL_SECONDS = 20e-6  # Python and NumPy per-call overhead, about four calls per time step and layer
SLOW_STEP_SECONDS = 2.0  # a step longer than this keeps Pause, Save and closing waiting noticeably
EVAL_CHUNK, EVAL_STREAMS = 256, 16  # Trainer.evaluate's window: (chunk, streams)
OPTIMIZER_SLOTS = {"adagrad": 1, "rmsprop": 1, "adam": 2}  # state arrays the size of the weights
OPTIMIZER_SCRATCH = 2  # scratch arrays the size of the weights (Optimizer._tmp)
RESTORE_MAX_BYTES = 256 << 20  # as core.trainer: a larger model keeps no restore point
INDEX_BYTES = 8  # np.intp
# (T, B, H)-sized work arrays of one layer's window: states, gate inputs and activations, their gradients.
WINDOW_ARRAYS = {"rnn": 4, "lstm": 20, "gru": 19}


@dataclass(frozen=True)
class StepCost:
    """Memory (bytes) and arithmetic (FLOPs) of training one configuration."""

    parameters: int  # P, the number of weights
    model_bytes: int  # weights and their gradients (2 P)
    optimizer_bytes: int  # the optimizer's state and scratch, and the restore point when one is kept
    workspace_bytes: int  # one window's buffers (T, B, H and V sized), evaluation and sampling buffers
    flops: float  # floating-point operations of one training step
    time_steps: int  # T times the layers, for the per-call overhead
    dtype: str  # float64 or float32

    @property
    def total_bytes(self) -> int:
        return self.model_bytes + self.optimizer_bytes + self.workspace_bytes

    def seconds(self) -> float:
        """Roughly how long one step takes on one CPU core (an order of magnitude, not a promise)."""
        return self.flops / FLOPS_PER_SECOND[self.dtype] + 4 * self.time_steps * CALL_SECONDS


def step_cost(config: TrainConfig, vocab_size: int) -> StepCost:
    """The cost of training config on a vocabulary of vocab_size characters (any cell, any number of layers)."""
    T, B, H, V = config.seq_length, config.batch_size, config.hidden_size, int(vocab_size)
    L = config.num_layers
    arch = arch_of_config(config, V)
    G = GATE_BLOCKS[config.cell]  # gate blocks: 1 rnn, 4 lstm, 3 gru
    item = 8 if config.dtype == "float64" else 4
    P = sum(math.prod(shape) for shape in param_shapes(arch).values())
    slots = OPTIMIZER_SLOTS.get(config.optimizer, 2)
    restore = (1 + slots) * P * item
    optimizer = (slots + OPTIMIZER_SCRATCH) * P * item + (restore if restore <= RESTORE_MAX_BYTES else 0)
    TB, GH = T * B, G * H
    # One window's buffers (core/fast_rnn.Workspace for the lesson's layer, core/fast_model.FastModel otherwise):
    # per layer, (T, B, H)-sized arrays for states, gate inputs, activations and their gradients, and contiguous
    # copies of its weights; between layers, dropout's outputs and masks and the gradients they pass down;
    # the read-out's (T*B, V) scores and one-hot inputs.
    between = (L - 1) * (3 + (1 if config.dropout else 0))  # dropped outputs, dx, dh_in (and the dropout masks)
    window = (L * WINDOW_ARRAYS[config.cell] + between) * TB * H
    window += sum((V if layer == 0 else H) * GH + H * GH for layer in range(L)) + H * V  # weight copies
    window += 2 * TB * V + (arch.state_rows + 2) * B * H  # read-out, carried state and step scratch
    window = window * item + 2 * TB * item + 5 * (T + 1) * B * INDEX_BYTES  # per-row scratch, offsets, indices
    S = EVAL_STREAMS
    evaluation = EVAL_CHUNK * S * (3 * L * GH + 3 * V) * 8  # hidden states and gates, scores and softmax
    sampling = config.sample_length * (len(STATE_NAMES[config.cell]) * L * H + V) * 8  # every state per character
    # Arithmetic: the products dominate (a product of (m, k) and (k, n) is 2 m k n operations).
    per_char = sum(2 * H * GH + (0 if layer == 0 else 2 * H * GH) for layer in range(L)) + 2 * H * V + 5 * V
    per_step = TB * (sum(6 * H * GH + (2 * V * GH if layer == 0 else 6 * H * GH) for layer in range(L))
                     + 6 * H * V + 10 * L * GH + 10 * V) + 12 * P  # forward, backward, softmax; the update
    flops = float(per_step)
    if config.val_fraction:
        flops += config.eval_chars * per_char / config.eval_every
    if config.sample_every:
        flops += config.sample_length * per_char / config.sample_every
    return StepCost(parameters=P, model_bytes=2 * P * item, optimizer_bytes=optimizer,
                    workspace_bytes=window + evaluation + sampling, flops=flops, time_steps=T * L,
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
    return (f"not enough memory: these settings need about {human_bytes(cost.total_bytes)} to train, more than "
            f"the {human_bytes(budget)} this computer can spare; choose a smaller hidden size, sequence length or "
            f"batch size")


def human_bytes(n: float) -> str:
    """1,000 bytes, 12.3 MB, 4.5 GB; beyond a thousand terabytes, a power of ten."""
    if n >= 1000 * 1024**4:
        return f"{n:.1e} bytes"
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
