"""(b) PyTorch CPU reference: the same model (tanh RNN, one-hot inputs, linear read-out), the same
streams, truncated BPTT, element-wise clipping and optimizer as a charrnn TrainConfig. Optional:
skipped with a note when torch is not importable (it is never a dependency of charrnn)."""

from __future__ import annotations

import numpy as np


def available() -> bool:
    try:
        import torch  # noqa: F401
    except Exception:  # ImportError, or a broken install
        return False
    return True


def why_unavailable() -> str:
    return "skipped: torch is not importable (pip install torch to compare)"


class TorchRNN:
    """nn.RNN(tanh) + nn.Linear trained like core.Trainer: B streams at even offsets, hidden carried."""

    def __init__(self, corpus, config, threads: int = 1):
        import torch

        torch.set_num_threads(threads)
        self.torch = torch
        self.config = config
        V, H, B, T = corpus.vocab_size, config.hidden_size, config.batch_size, config.seq_length
        self.V, self.T, self.B = V, T, B
        n_train = len(corpus.data) - int(len(corpus.data) * config.val_fraction)
        seg = n_train // B
        self.seg = seg
        self.data = torch.from_numpy(np.asarray(corpus.data[:n_train]).astype(np.int64))
        self.offsets = torch.arange(B) * seg
        self.steps = torch.arange(T + 1)[:, None]
        torch.manual_seed(config.seed)
        dtype = torch.float32 if config.dtype == "float32" else torch.float64
        self.rnn = torch.nn.RNN(V, H, nonlinearity="tanh").to(dtype)
        self.out = torch.nn.Linear(H, V).to(dtype)
        with torch.no_grad():  # the engine's initialisation: randn * init_scale, zero biases
            for p in (self.rnn.weight_ih_l0, self.rnn.weight_hh_l0, self.out.weight):
                p.normal_(0.0, config.init_scale)
            for p in (self.rnn.bias_ih_l0, self.rnn.bias_hh_l0, self.out.bias):
                p.zero_()
        self.params = list(self.rnn.parameters()) + list(self.out.parameters())
        opt = {"adam": torch.optim.Adam, "adagrad": torch.optim.Adagrad, "rmsprop": torch.optim.RMSprop}
        self.opt = opt[config.optimizer](self.params, lr=config.learning_rate)
        self.h = torch.zeros(1, B, H, dtype=dtype)
        self.dtype = dtype
        self.pointer = 0
        self.iteration = 0

    def describe(self) -> dict:
        c = self.config
        return {"hidden_size": c.hidden_size, "seq_length": c.seq_length, "batch_size": c.batch_size,
                "dtype": c.dtype, "optimizer": c.optimizer, "learning_rate": c.learning_rate,
                "torch": self.torch.__version__, "threads": self.torch.get_num_threads()}

    def step(self) -> bool:
        """One window; returns True when the loss is not finite (diverged)."""
        torch, T, B, V = self.torch, self.T, self.B, self.V
        if self.pointer + T + 1 >= self.seg or self.iteration == 0:
            self.pointer = 0
            self.h.zero_()
        chunk = self.data[self.steps + (self.offsets + self.pointer)]  # (T+1, B)
        x = torch.nn.functional.one_hot(chunk[:-1], V).to(self.dtype)  # (T, B, V)
        hs, h_last = self.rnn(x, self.h)
        scores = self.out(hs)  # (T, B, V)
        # The engine's loss: summed over the T steps, averaged over the B streams.
        loss = torch.nn.functional.cross_entropy(scores.reshape(T * B, V), chunk[1:].reshape(-1),
                                                 reduction="sum") / B
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.clip > 0:
            torch.nn.utils.clip_grad_value_(self.params, self.config.clip)
        self.opt.step()
        self.h = h_last.detach()
        self.pointer += T
        self.iteration += 1
        return not bool(torch.isfinite(loss))

    def numpy_params(self) -> dict:
        """The weights in the engine's layout, for scoring with the engine's own evaluator."""
        r, o = self.rnn, self.out
        with self.torch.no_grad():
            return {"Wxh": r.weight_ih_l0.numpy(), "Whh": r.weight_hh_l0.numpy(), "Why": o.weight.numpy(),
                    "bh": (r.bias_ih_l0 + r.bias_hh_l0).numpy(), "by": o.bias.numpy()}


def engine_vs_torch(rounds: int, seconds: float) -> dict:
    """it/s of the engine and of PyTorch at the fast preset's H, T, B, float32, Adam, one thread each."""
    from bench.common import alternate, bench_corpus, ratio_summary
    from core import Trainer, preset

    if not available():
        return {"skipped": why_unavailable()}
    corpus = bench_corpus()
    out = {}
    for name, cfg in (("fast", preset("fast")),
                      ("h100_b32", preset("fast", hidden_size=100, seq_length=25, batch_size=32))):
        cfg = cfg.replace(eval_every=10 ** 9, sample_every=0)
        engine = Trainer.from_corpus(corpus, cfg)
        model = TorchRNN(corpus, cfg)
        for _ in range(3):
            engine.step(), model.step()
        rates = alternate({"engine": (engine.step, 1), "pytorch": (model.step, 1)}, rounds, seconds)
        out[name] = {"what": f"it/s at H={cfg.hidden_size} T={cfg.seq_length} B={cfg.batch_size} float32 Adam, "
                             f"no sampling, 1 thread each", **ratio_summary(rates, "engine", "pytorch")}
    return out
