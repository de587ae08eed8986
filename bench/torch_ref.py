"""(b) PyTorch CPU reference: the same model (tanh RNN, LSTM or GRU layers, one-hot inputs, linear read-out),
the same streams, truncated BPTT, element-wise clipping, optimizer and schedule as a charrnn TrainConfig. Optional:
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
    """nn.RNN(tanh) / nn.LSTM / nn.GRU + nn.Linear trained like core.Trainer: B streams at even offsets,
    state carried, the config's layers, dropout and learning-rate schedule."""

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
        cell = getattr(config, "cell", "rnn")
        layers = getattr(config, "num_layers", 1)
        kinds = {"rnn": lambda **kw: torch.nn.RNN(nonlinearity="tanh", **kw), "lstm": torch.nn.LSTM,
                 "gru": torch.nn.GRU}
        self.rnn = kinds[cell](input_size=V, hidden_size=H, num_layers=layers,
                               dropout=getattr(config, "dropout", 0.0)).to(dtype)
        self.out = torch.nn.Linear(H, V).to(dtype)
        with torch.no_grad():  # the engine's initialisation: randn * init_scale, zero biases, forget gates 1
            for name, p in list(self.rnn.named_parameters()) + list(self.out.named_parameters()):
                if name.startswith("weight"):
                    p.normal_(0.0, config.init_scale)
                else:
                    p.zero_()
                    if cell == "lstm" and name.startswith("bias_ih"):
                        p[H:2 * H] = 1.0  # PyTorch's order is i, f, g, o
        self.cell, self.layers = cell, layers
        self.params = list(self.rnn.parameters()) + list(self.out.parameters())
        opt = {"adam": torch.optim.Adam, "adagrad": torch.optim.Adagrad, "rmsprop": torch.optim.RMSprop}
        self.opt = opt[config.optimizer](self.params, lr=config.learning_rate)
        self.h = torch.zeros(layers, B, H, dtype=dtype)
        if cell == "lstm":
            self.h = (self.h, torch.zeros(layers, B, H, dtype=dtype))
        self.dtype = dtype
        self.pointer = 0
        self.iteration = 0
        self.train_seconds = 0.0
        self.n_train = n_train
        self.all_data = corpus.data

    def describe(self) -> dict:
        c = self.config
        return {"hidden_size": c.hidden_size, "seq_length": c.seq_length, "batch_size": c.batch_size,
                "dtype": c.dtype, "optimizer": c.optimizer, "learning_rate": c.learning_rate,
                "torch": self.torch.__version__, "threads": self.torch.get_num_threads()}

    def step(self) -> bool:
        """One window; returns True when the loss is not finite (diverged)."""
        import time

        started = time.perf_counter()
        torch, T, B, V = self.torch, self.T, self.B, self.V
        self.rnn.train()
        if self.pointer + T + 1 >= self.seg or self.iteration == 0:
            self.pointer = 0
            for h in (self.h if isinstance(self.h, tuple) else (self.h,)):
                h.zero_()
        every = getattr(self.config, "state_reset_every", 0)
        if every and self.iteration % every == 0:  # as core.Trainer.window: one stream in turn from a zero state
            for h in (self.h if isinstance(self.h, tuple) else (self.h,)):
                h[:, (self.iteration // every) % B] = 0.0
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
        factor = self.config.lr_factor(self.iteration, self.train_seconds) if hasattr(self.config, "lr_factor") else 1
        for group in self.opt.param_groups:
            group["lr"] = self.config.learning_rate * factor
        self.opt.step()
        self.h = tuple(h.detach() for h in h_last) if isinstance(h_last, tuple) else h_last.detach()
        self.pointer += T
        self.iteration += 1
        self.train_seconds += time.perf_counter() - started
        return not bool(torch.isfinite(loss))

    def evaluate(self, streams: int = 16, chunk: int = 256) -> float:
        """Held-out bits/char computed as core.Trainer.evaluate does (same tail, streams and chunks), in torch."""
        import math

        torch = self.torch
        tail = np.asarray(self.all_data[self.n_train:self.n_train + self.config.eval_chars]).astype(np.int64)
        S = max(1, min(streams, (len(tail) - 1) // 2))
        L = len(tail) // S
        ids = torch.from_numpy(tail[:S * L].reshape(S, L).T.copy())  # (L, S)
        self.rnn.eval()
        total, count, h = 0.0, 0, None
        with torch.no_grad():
            for start in range(0, L - 1, chunk):
                stop = min(start + chunk, L - 1)
                x = torch.nn.functional.one_hot(ids[start:stop], self.V).to(self.dtype)
                hs, h = self.rnn(x, h)
                scores = self.out(hs).double()
                total += float(torch.nn.functional.cross_entropy(scores.reshape(-1, self.V),
                                                                 ids[start + 1:stop + 1].reshape(-1),
                                                                 reduction="sum"))
                count += (stop - start) * S
        return total / count / math.log(2.0)

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
