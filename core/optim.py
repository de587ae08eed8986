"""Optimisers (Adagrad, RMSProp, Adam, SGD) that update a params dict in place from a parallel grads dict."""

from __future__ import annotations

import numpy as np


def clip_grads(grads: dict[str, np.ndarray], limit: float) -> None:
    """Clip every gradient element-wise to [-limit, limit] in place; limit 0 disables."""
    if limit > 0:
        for g in grads.values():
            np.clip(g, -limit, limit, out=g)


def grads_finite(grads: dict[str, np.ndarray]) -> bool:
    """True when no gradient holds a NaN or an infinity."""
    return all(np.isfinite(g).all() for g in grads.values())


class Optimizer:
    """Base: per-parameter state arrays named '<slot>.<param>', a step counter, a learning rate."""

    slots: tuple[str, ...] = ()
    name = "base"

    def __init__(self, params: dict[str, np.ndarray], learning_rate: float):
        self.learning_rate = learning_rate  # live-changeable between steps
        self.rate = learning_rate  # the rate of the last update (learning_rate, or a schedule's)
        self.t = 0  # updates applied so far
        self.state = {f"{s}.{k}": np.zeros_like(p) for s in self.slots for k, p in params.items()}
        self._tmp = {k: (np.empty_like(p), np.empty_like(p)) for k, p in params.items()}

    def step(self, params, grads, learning_rate: float | None = None) -> None:
        """Apply one update to every parameter in place, at learning_rate (a schedule's) or self.learning_rate."""
        self.t += 1
        self.rate = self.learning_rate if learning_rate is None else learning_rate
        for k, p in params.items():
            self.update(k, p, grads[k], *self._tmp[k])

    def update(self, k, p, g, a, b) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def state_arrays(self) -> dict[str, np.ndarray]:
        return dict(self.state)

    def load_state(self, arrays: dict[str, np.ndarray], t: int) -> None:
        """Restore slots saved by state_arrays; shapes must match."""
        for key, arr in self.state.items():
            src = arrays[key]
            if src.shape != arr.shape:
                raise ValueError(f"optimizer state {key} has shape {src.shape}, expected {arr.shape}")
            arr[...] = src
        self.t = int(t)


class Adagrad(Optimizer):
    """The lesson's update: mem += g*g; p += -lr * g / sqrt(mem + eps)."""

    slots = ("mem",)
    name = "adagrad"
    eps = 1e-8

    def update(self, k, p, g, a, b):
        mem = self.state[f"mem.{k}"]
        np.multiply(g, g, out=a)
        mem += a
        np.add(mem, self.eps, out=a)
        np.sqrt(a, out=a)
        np.multiply(g, -self.rate, out=b)
        b /= a
        p += b


class RMSProp(Optimizer):
    """Leaky mean of squared gradients: ms = d*ms + (1-d)*g*g; p -= lr * g / (sqrt(ms) + eps)."""

    slots = ("ms",)
    name = "rmsprop"
    decay = 0.99
    eps = 1e-8

    def update(self, k, p, g, a, b):
        ms = self.state[f"ms.{k}"]
        np.multiply(g, g, out=a)
        a *= 1.0 - self.decay
        ms *= self.decay
        ms += a
        np.sqrt(ms, out=a)
        a += self.eps
        np.multiply(g, self.rate, out=b)
        b /= a
        p -= b


class Adam(Optimizer):
    """Adam with bias correction (beta1 0.9, beta2 0.999, eps 1e-8)."""

    slots = ("m", "v")
    name = "adam"
    beta1, beta2, eps = 0.9, 0.999, 1e-8

    def update(self, k, p, g, a, b):
        m, v = self.state[f"m.{k}"], self.state[f"v.{k}"]
        m *= self.beta1
        np.multiply(g, 1.0 - self.beta1, out=a)
        m += a
        v *= self.beta2
        np.multiply(g, g, out=a)
        a *= 1.0 - self.beta2
        v += a
        lr_t = self.rate * np.sqrt(1.0 - self.beta2 ** self.t) / (1.0 - self.beta1 ** self.t)
        np.sqrt(v, out=a)
        a += self.eps
        np.multiply(m, lr_t, out=b)
        b /= a
        p -= b


class SGD(Optimizer):
    """Plain gradient descent: p -= lr * g. Its step is as big as the gradient, so an exploding gradient wrecks it."""

    name = "sgd"

    def update(self, k, p, g, a, b):
        np.multiply(g, self.rate, out=b)
        p -= b


OPTIMIZER_CLASSES = {cls.name: cls for cls in (Adagrad, RMSProp, Adam, SGD)}


def make_optimizer(name: str, params, learning_rate: float) -> Optimizer:
    """An optimizer by name for these params."""
    return OPTIMIZER_CLASSES[name](params, learning_rate)
