"""Where one iteration's time goes at the min-char-rnn preset (B=1, float64): each part of
Trainer.step timed on its own, in loops, on the trainer's own buffers (medians of rounds, µs)."""

from __future__ import annotations

import time

import numpy as np

from bench.common import bench_corpus, median


def _per_call(fn, n):
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n * 1e6


def profile_b1(rounds: int = 5, n: int = 400) -> dict:
    from core import Trainer, preset
    from core.rnn import loss_and_grads
    from core.sample import sample_from_char

    trainer = Trainer.from_corpus(bench_corpus(), preset("min-char-rnn"))
    for _ in range(300):
        trainer.step()
    x, y = trainer.window()
    ws, params, gflat, cfg = trainer._ws, trainer.params, trainer._gflat, trainer.config
    T, B, H, V = ws.shape
    hs, tmp = ws.hs, ws.tmp_step
    WhhT = params["Whh"].T

    def forward_loop():
        for prev_dot, ht in ws.fwd_steps:
            prev_dot(WhhT, out=tmp)
            np.add(tmp, ht, out=ht)
            np.tanh(ht, out=ht)

    def backward_loop():
        Whh = params["Whh"]
        for draw_next_dot, dh_t, dtanh_t, draw_t in ws.bwd_steps:
            draw_next_dot(Whh, out=tmp)
            np.add(dh_t, tmp, out=draw_t)
            np.multiply(draw_t, dtanh_t, out=draw_t)

    opt_flat, opt_g = {"all": trainer._flat}, {"all": gflat}
    saved = {k: v.copy() for k, v in params.items()}
    saved_state = {k: v.copy() for k, v in trainer.optimizer.state.items()}
    rng = np.random.default_rng(0)
    parts = {
        "window (slice the ids)": lambda: trainer.window(),
        "forward + backward (loss_and_grads)": lambda: loss_and_grads(params, x, y, trainer.hidden, ws),
        "  of which: forward recurrence, 25 steps": forward_loop,
        "  of which: backward recurrence, 24 steps": backward_loop,
        "finite + clip check (max, min)": lambda: (np.maximum.reduce(gflat), np.minimum.reduce(gflat)),
        "Adagrad update (flat buffer)": lambda: trainer.optimizer.step(opt_flat, opt_g),
        "sample 200 chars / 100 (amortised)": lambda: sample_from_char(params, trainer.hidden[0], 0, 200, rng),
    }
    times = {k: [] for k in parts}
    whole = []
    for _ in range(rounds):
        for k, fn in parts.items():
            calls = max(5, n // 100) if k.startswith("sample") else n
            t = _per_call(fn, calls)
            times[k].append(t / 100 if k.startswith("sample") else t)
        for k, v in saved.items():  # the optimizer loop above moved the weights: put them back
            params[k][...] = v
        for k, v in saved_state.items():
            trainer.optimizer.state[k][...] = v
        whole.append(_per_call(trainer.step, n))
    out = {k: round(median(v), 2) for k, v in times.items()}
    out["whole Trainer.step (incl. sampling every 100)"] = round(median(whole), 2)
    named = sum(v for k, v in out.items() if not k.startswith("  ") and not k.startswith("whole"))
    out["rest (Snapshot, bookkeeping, dict lookups)"] = round(out["whole Trainer.step (incl. sampling every 100)"] - named, 2)
    return {"what": "µs per iteration, min-char-rnn preset, medians", "parts_us": out}
