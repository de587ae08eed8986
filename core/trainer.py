"""The training loop: truncated BPTT over B streams of a corpus, as a generator of per-iteration snapshots."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from .config import TrainConfig
from .fast_model import FastModel
from .fast_rnn import Workspace, loss_and_grads
from .gradflow import GradFlow, PowerIteration, divergence_cause, measure_grad_flow
from .model import arch_of_config, dropout_masks, init_model_params, run
from .optim import clip_grads, make_optimizer
from .rnn import temporal_softmax_loss
from .sample import SampleResult, generate, sample_from_state
from .vocab import Vocab

LN2 = math.log(2.0)
LIVE_SETTINGS = ("learning_rate", "temperature", "sample_every", "sample_length", "grad_flow_every")
RESTORE_MIN_GAP = 100  # iterations; a burst of learning-rate changes keeps the point from before the first
RESTORE_MAX_BYTES = 256 << 20  # a model whose weights and optimizer memory exceed this keeps no restore point


@dataclass
class Sample:
    """A sample drawn during training, with the states after each of its characters."""

    iteration: int  # completed iterations when it was drawn (the weights it reflects)
    text: str  # the generated characters
    hidden: np.ndarray  # (len(text), H) the top layer's hidden state after reading each character
    smooth_loss: float  # the lesson's smooth loss when it was drawn
    temperature: float  # sampling temperature used
    states: list | None = None  # per layer, {name: (len(text), H)}: h, and c and the gates (core.model.STATE_NAMES)


@dataclass
class Snapshot:
    """What one training iteration produced; fresh objects, safe to hand to another thread."""

    iteration: int  # completed iterations, this one included (a diverged one is not: then the last good one)
    loss: float  # the window's loss: cross-entropy summed over T steps, mean over B streams (the lesson's)
    loss_per_char: float  # the same in nats per character
    smooth_loss: float  # the lesson's 0.999 moving average of loss
    chars_seen: int  # training characters consumed so far (T * B per iteration)
    epoch: float  # passes over the training part of the corpus
    learning_rate: float  # learning rate used for this update
    sample: Sample | None = None  # drawn before this iteration when iteration-1 is a multiple of sample_every
    val_bpc: float | None = None  # validation bits/char, when this iteration evaluated
    diverged: str | None = None  # why training stopped (non-finite loss or gradient); weights untouched
    grad_flow: GradFlow | None = None  # gradient flow of this window, when iteration-1 is a multiple of grad_flow_every

    @property
    def bits_per_char(self) -> float:
        return self.loss_per_char / LN2


@dataclass
class RestorePoint:
    """The model just before a live learning-rate change: what to go back to if the new rate diverges."""

    iteration: int  # completed iterations when it was taken
    learning_rate: float  # the rate in force until the change
    new_learning_rate: float  # the rate it was changed to
    smooth_loss: float  # the lesson's smooth loss then
    weights: np.ndarray  # (P,) copy of every parameter, in the trainer's flat layout
    optimizer_state: dict[str, np.ndarray]  # copies of the optimizer's memory
    optimizer_t: int  # the optimizer's update count
    hidden: np.ndarray  # (K, B, H) copy of the carried state (every layer's h, and c for an LSTM)


class DivergedError(RuntimeError):
    """Training hit a non-finite loss or gradient."""


class Trainer:
    """Owns a model, its optimizer and the data pointer; step() trains one window, run() yields snapshots."""

    def __init__(self, data: np.ndarray, vocab: Vocab, config: TrainConfig):
        config.validate()
        from .corpus import check_fits, train_length  # the corpus module owns the split and "too short"

        self.config = config
        self.vocab = vocab
        self.data = data  # (N,) ids, never copied
        N = len(data)
        self.n_train = train_length(N, config.val_fraction)  # training part; the tail is held out
        check_fits(_Sized(N, vocab), config.seq_length, config.batch_size, config.val_fraction)
        B, T, H = config.batch_size, config.seq_length, config.hidden_size
        self.seg_len = self.n_train // B  # characters per stream
        self.offsets = np.arange(B, dtype=np.intp) * self.seg_len  # (B,) start of each stream
        self._steps = np.arange(T + 1, dtype=np.intp)[:, None]  # (T+1, 1)
        self.arch = arch = arch_of_config(config, len(vocab))  # cell, layers, H, V
        # Params and grads are views into one flat buffer each, so clipping, the finiteness check and
        # the optimizer update are one vectorised pass instead of five.
        self._flat, self.params = flatten(init_model_params(arch, config.seed, config.init_scale, config.dtype,
                                                            config.whh_init, config.whh_gain))
        self._gflat, self._grads = flatten({k: np.zeros_like(v) for k, v in self.params.items()})
        # Work buffers for one window, reused every iteration; gradients land straight in _gflat. The lesson's
        # one tanh layer has its own quicker workspace.
        if arch.lesson:
            self._ws = Workspace(T, B, H, len(vocab), config.dtype, grads=self._grads)
        else:
            self._ws = FastModel(arch, T, B, config.dtype, grads=self._grads)
        self.optimizer = make_optimizer(config.optimizer, {"all": self._flat}, config.learning_rate)
        self.state = np.zeros((arch.state_rows, B, H), dtype=config.dtype)  # (K, B, H) carried across windows
        self.hidden = self.state[arch.top]  # (B, H) view: the top layer's h
        self.dropout_rng = np.random.default_rng([config.seed, 1])  # dropout masks only
        self._masks = None if config.dropout == 0 else np.empty((config.num_layers - 1, T, B, H), config.dtype)
        self.train_seconds = 0.0  # time spent in step(), for a schedule over a time budget
        self.pointer = 0  # offset of the next window within every stream
        self.iteration = 0  # completed iterations
        self.smooth_loss = -math.log(1.0 / len(vocab)) * T  # the lesson's loss at iteration 0
        self.chars_seen = 0
        self.rng = np.random.default_rng(config.seed)  # training samples only; never touches the trajectory
        self.temperature = config.temperature
        self.sample_every = config.sample_every
        self.sample_length = config.sample_length
        self.grad_flow_every = config.grad_flow_every
        self._whh_power = PowerIteration()  # W_hh's top singular vector, carried between gradient-flow measurements
        self.diverged: str | None = None
        self.restore_point: RestorePoint | None = None  # taken by set_live before a learning-rate change

    @classmethod
    def from_corpus(cls, corpus, config: TrainConfig) -> "Trainer":
        return cls(corpus.data, corpus.vocab, config)

    # -- live settings -------------------------------------------------------------------------

    @property
    def learning_rate(self) -> float:
        return self.optimizer.learning_rate

    @property
    def model_bytes(self) -> int:
        """Bytes of the weights and the optimizer's memory (what a copy of the model costs)."""
        return self._flat.nbytes + sum(v.nbytes for v in self.optimizer.state_arrays().values())

    def set_live(self, **settings) -> None:
        """Change learning_rate, temperature, sample_every or sample_length between steps."""
        for key, value in settings.items():
            if key not in LIVE_SETTINGS:
                raise ValueError(f"{key} cannot change while training; it needs new weights")
            if key == "learning_rate":
                if not value > 0:
                    raise ValueError("learning rate must be positive")
                if float(value) != self.optimizer.learning_rate:
                    self._keep_restore_point(float(value))
                self.optimizer.learning_rate = float(value)
            elif key == "temperature":
                if not value > 0:
                    raise ValueError("temperature must be positive")
                self.temperature = float(value)
            else:
                if int(value) < (0 if key in ("sample_every", "grad_flow_every") else 1):
                    raise ValueError(f"{key.replace('_', ' ')} is out of range")
                if key == "grad_flow_every" and value:
                    self.config.replace(grad_flow_every=int(value)).validate()  # a model it can measure
                setattr(self, key, int(value))

    def _keep_restore_point(self, new_rate: float) -> None:
        """Copy the model before a learning-rate change, unless it is new, diverged, or the previous point is
        recent (then that one, from before the whole burst of changes, is kept)."""
        last = self.restore_point
        if self.iteration == 0 or self.diverged or not math.isfinite(self.smooth_loss):
            return
        if last is not None and self.iteration - last.iteration < RESTORE_MIN_GAP:
            last.new_learning_rate = new_rate
            return
        if self.model_bytes > RESTORE_MAX_BYTES:
            return
        state = self.optimizer.state_arrays()
        self.restore_point = RestorePoint(
            self.iteration, self.optimizer.learning_rate, new_rate, self.smooth_loss, self._flat.copy(),
            {k: v.copy() for k, v in state.items()}, self.optimizer.t, self.state.copy())

    def restore(self) -> RestorePoint:
        """Go back to the restore point's weights, optimizer memory, hidden state and learning rate (after a
        divergence, say); the iteration count and the data pointer go on. Raises ValueError without one."""
        point = self.restore_point
        if point is None:
            raise ValueError("there is no restore point: the learning rate has not been changed during training")
        self._flat[...] = point.weights
        self.optimizer.load_state(point.optimizer_state, point.optimizer_t)
        self.optimizer.learning_rate = point.learning_rate
        self.state[...] = point.hidden
        self.smooth_loss = point.smooth_loss
        self.diverged = None
        self.restore_point = None
        return point

    # -- state, for another trainer on the same data and config ------------------------------

    def get_state(self) -> dict:
        """Everything step() reads and changes, by reference (arrays are the trainer's own: copy or pickle them
        before it steps again). Another Trainer on the same data and config that set_state()s it goes on
        exactly as this one would. The restore point stays here: only this trainer's owner restores."""
        return {
            "weights": self._flat,  # (P,) every parameter, flat
            "optimizer": self.optimizer.state_arrays(),  # name -> (P,) memory
            "optimizer_t": self.optimizer.t,
            "optimizer_rate": self.optimizer.rate,
            "learning_rate": self.optimizer.learning_rate,
            "hidden": self.state,  # (K, B, H) carried state
            "pointer": self.pointer,
            "iteration": self.iteration,
            "chars_seen": self.chars_seen,
            "smooth_loss": self.smooth_loss,
            "train_seconds": self.train_seconds,
            "rng": self.rng.bit_generator.state,
            "dropout_rng": self.dropout_rng.bit_generator.state,
            "power_vector": self._whh_power.v,  # (H,) or None
            "diverged": self.diverged,
            "temperature": self.temperature,
            "sample_every": self.sample_every,
            "sample_length": self.sample_length,
            "grad_flow_every": self.grad_flow_every,
        }

    def set_state(self, state: dict) -> None:
        """Take over a state from get_state() (arrays copied in place; the restore point is left alone)."""
        self._flat[...] = state["weights"]
        self.optimizer.load_state(state["optimizer"], state["optimizer_t"])
        self.optimizer.rate = state["optimizer_rate"]
        self.optimizer.learning_rate = state["learning_rate"]
        self.state[...] = state["hidden"]
        self.pointer, self.iteration = int(state["pointer"]), int(state["iteration"])
        self.chars_seen, self.smooth_loss = int(state["chars_seen"]), float(state["smooth_loss"])
        self.train_seconds = float(state["train_seconds"])
        self.rng.bit_generator.state = state["rng"]
        self.dropout_rng.bit_generator.state = state["dropout_rng"]
        v = state["power_vector"]
        self._whh_power.v = None if v is None else np.array(v)
        self.diverged = state["diverged"]
        self.temperature = state["temperature"]
        self.sample_every, self.sample_length = state["sample_every"], state["sample_length"]
        self.grad_flow_every = state["grad_flow_every"]

    # -- training ------------------------------------------------------------------------------

    def window(self):
        """The next window's (inputs (T, B), targets (T, B)), applying the lesson's reset rule first."""
        T = self.config.seq_length
        if self.pointer + T + 1 >= self.seg_len or self.iteration == 0:
            self.pointer = 0
            self.state[...] = 0.0
        every = self.config.state_reset_every
        if every and self.iteration % every == 0:  # streams in turn: each learns to start from nothing mid-text
            self.state[:, (self.iteration // every) % self.config.batch_size] = 0.0
        idx = self._steps + (self.offsets + self.pointer)  # (T+1, B)
        chunk = self.data[idx].astype(np.intp)  # (T+1, B)
        return chunk[:-1], chunk[1:]

    def clear_divergence(self) -> None:
        """Allow training to go on after a divergence (from the last finite weights; a non-finite hidden
        state is zeroed). Usually after lowering the learning rate."""
        self.diverged = None
        if not np.isfinite(self.state).all():
            self.state[...] = 0.0

    def step(self) -> Snapshot:
        """Train on one window and return what happened; after a divergence, nothing changes."""
        if self.diverged:
            raise DivergedError(self.diverged)
        started = time.perf_counter()
        cfg = self.config
        x, y = self.window()
        sample = None
        if self.sample_every and self.iteration % self.sample_every == 0:
            ids, states = sample_from_state(self.params, self.state[:, 0], x[0, 0], self.sample_length,
                                            self.rng, self.temperature)
            sample = Sample(self.iteration, self.vocab.decode(ids), states[-1]["h"], self.smooth_loss,
                            self.temperature, states)
        if self.arch.lesson:
            loss, grads, h_last = loss_and_grads(self.params, x, y, self.hidden, self._ws)
        else:
            masks = dropout_masks(self.dropout_rng, cfg.dropout, self.arch, *x.shape, cfg.dtype, out=self._masks)
            loss, grads, h_last = self._ws.loss_and_grads(self.params, x, y, self.state, masks)
        for k, g in grads.items():
            if g is not self._grads[k]:
                np.copyto(self._grads[k], g)
        lr = self.optimizer.learning_rate * cfg.lr_factor(self.iteration, self.train_seconds)  # the schedule's rate
        gflat = self._gflat
        # The gradient's extremes (NaN propagates through both) decide finiteness and whether clipping
        # would change anything: two quick reductions instead of an element-wise check and a clip.
        hi, lo = float(np.maximum.reduce(gflat)), float(np.minimum.reduce(gflat))
        if not math.isfinite(loss) or not (math.isfinite(hi) and math.isfinite(lo)):
            what = "loss" if not math.isfinite(loss) else "gradient"
            cause = divergence_cause(self.params, cfg.clip)  # e.g. clipping off and W_hh blown up; '' if unknown
            advice = ("set a gradient clip (e.g. 5), " if cause else "") + "lower the learning rate or reset"
            self.diverged = (f"training diverged at iteration {self.iteration}: the next update's {what} is not "
                             f"finite (learning rate {lr:g}); {cause + '; ' if cause else ''}the weights of iteration "
                             f"{self.iteration} are kept — {advice}")
            return Snapshot(self.iteration, loss, loss / cfg.seq_length, self.smooth_loss, self.chars_seen,
                            self.epoch, lr, sample, None, self.diverged)
        flow = self._grad_flow(x, y) if self.grad_flow_every and self.iteration % self.grad_flow_every == 0 else None
        if cfg.clip > 0 and (hi > cfg.clip or lo < -cfg.clip):  # otherwise clipping would change nothing
            clip_grads({"all": gflat}, cfg.clip)
        self.smooth_loss = self.smooth_loss * 0.999 + loss * 0.001
        self.optimizer.step({"all": self._flat}, {"all": self._gflat}, lr)
        self.state[...] = h_last  # (K, B, H); the lesson's (B, H) fills its one row
        self.pointer += cfg.seq_length
        self.iteration += 1
        self.chars_seen += cfg.seq_length * cfg.batch_size
        val = None
        if self.has_validation and self.iteration % cfg.eval_every == 0:
            val = self.evaluate()
        self.train_seconds += time.perf_counter() - started
        return Snapshot(self.iteration, loss, loss / cfg.seq_length, self.smooth_loss, self.chars_seen,
                        self.epoch, lr, sample, val, grad_flow=flow)

    def _grad_flow(self, x, y) -> GradFlow:
        """This window's gradient flow (core.gradflow) from this iteration's real gradients, before clipping."""
        cfg = self.config
        return measure_grad_flow(self.params, x, y, self.state, {"all": self._gflat}, cfg.clip, self._whh_power,
                                 self.iteration, flat_params=self._flat)

    def run(self, iterations: int | None = None, seconds: float | None = None):
        """Yield one Snapshot per iteration until the budget is spent or training diverges."""
        start = time.perf_counter()
        done = 0
        while (iterations is None or done < iterations) and (
                seconds is None or time.perf_counter() - start < seconds):
            snap = self.step()
            done += 1
            yield snap
            if snap.diverged:
                return

    @property
    def epoch(self) -> float:
        return self.chars_seen / max(1, self.n_train)

    # -- evaluation and sampling ---------------------------------------------------------------

    @property
    def has_validation(self) -> bool:
        return len(self.data) - self.n_train >= 2

    def evaluate(self, max_chars: int | None = None, streams: int = 16, chunk: int = 256) -> float:
        """Bits per character on the held-out tail (its first eval_chars characters, 16 streams from zero state)."""
        tail = self.data[self.n_train:self.n_train + (max_chars or self.config.eval_chars)]
        S = max(1, min(streams, (len(tail) - 1) // 2))
        L = len(tail) // S  # characters per stream
        ids = tail[:S * L].reshape(S, L).T.astype(np.intp)  # (L, S)
        state = np.zeros((self.arch.state_rows, S, self.config.hidden_size), dtype=self.config.dtype)  # (K, S, H)
        total, count = 0.0, 0
        for start in range(0, L - 1, chunk):
            stop = min(start + chunk, L - 1)
            scores, _, state = run(self.params, ids[start:stop], state)  # (chunk, S, V), no dropout
            loss, _ = temporal_softmax_loss(scores, ids[start + 1:stop + 1])
            total += loss * S
            count += (stop - start) * S
        return total / count / LN2

    def sample_now(self, length=200, prime="", temperature=None, argmax=False, seed=None,
                   from_state=True) -> SampleResult:
        """A sample from the current weights (and stream 0's carried state), leaving training untouched."""
        rng = np.random.default_rng(seed)
        h = self.state[:, 0].copy() if from_state else None
        return generate(self.params, self.vocab, length, rng, prime=prime, h=h,
                        temperature=self.temperature if temperature is None else temperature, argmax=argmax)


def flatten(arrays: dict[str, np.ndarray]):
    """Copy arrays into one contiguous 1-D buffer; return (buffer, dict of views into it with the original shapes)."""
    dtype = next(iter(arrays.values())).dtype
    flat = np.empty(sum(a.size for a in arrays.values()), dtype=dtype)
    views, start = {}, 0
    for k, a in arrays.items():
        views[k] = flat[start:start + a.size].reshape(a.shape)
        views[k][...] = a
        start += a.size
    return flat, views


@dataclass
class _Sized:
    """Length and vocabulary of data, for check_fits."""

    n: int
    vocab: Vocab

    def __len__(self) -> int:
        return self.n
