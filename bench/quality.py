"""(c) time to quality: validation bits/char at fixed training wall times, the clock paused while scoring."""

from __future__ import annotations

import time

from bench.common import bench_corpus

CHECKPOINTS_FULL = (10.0, 20.0, 30.0, 60.0)
CHECKPOINTS_QUICK = (2.0, 4.0, 6.0, 12.0)


def curve(step, evaluate, checkpoints) -> dict:
    """Train with step() until each checkpoint (seconds of training only), then evaluate() there."""
    clock, steps, points = 0.0, 0, {}
    for cp in checkpoints:
        while clock < cp:
            t = time.perf_counter()
            diverged = step()
            clock += time.perf_counter() - t
            steps += 1
            if diverged:
                return {"diverged_at_step": steps, "val_bpc": points}
        points[f"{cp:g}"] = round(float(evaluate()), 4)
    return {"val_bpc": points, "steps": steps, "train_seconds": round(clock, 2)}


def engine_curve(config, checkpoints) -> tuple[dict, object]:
    """The engine trainer at `config`; automatic validation is off (the curve scores at fixed times)."""
    from core import Trainer

    corpus = bench_corpus()
    trainer = Trainer.from_corpus(corpus, config.replace(eval_every=10 ** 9))
    result = curve(lambda: trainer.step().diverged, trainer.evaluate, checkpoints)
    c = trainer.config
    result.update(chars=trainer.chars_seen, epochs=round(trainer.epoch, 3),
                  config={k: getattr(c, k) for k in ("hidden_size", "seq_length", "batch_size", "dtype",
                                                     "optimizer", "learning_rate", "clip")})
    return result, trainer


def validation_scorer(trainer):
    """A function scoring arbitrary (numpy) weights exactly like trainer.evaluate() (same tail, same chars)."""

    def score(params: dict) -> float:
        for k, v in params.items():
            trainer.params[k][...] = v
        return trainer.evaluate()

    return score


def quality(checkpoints, include_torch: bool) -> tuple[dict, dict]:
    """Curves for the fast preset, the min-char-rnn preset (scored on the same held-out tail), and PyTorch."""
    from core import Trainer, preset

    corpus = bench_corpus()
    out, trainers = {}, {}
    fast_cfg = preset("fast")
    out["fast"], trainers["fast"] = engine_curve(fast_cfg, checkpoints)
    # The lesson's preset trains on the whole text; hold out the same tail here so the numbers compare.
    lesson_cfg = preset("min-char-rnn", val_fraction=fast_cfg.val_fraction, eval_chars=fast_cfg.eval_chars)
    out["min-char-rnn"], trainers["min-char-rnn"] = engine_curve(lesson_cfg, checkpoints)
    if include_torch:
        from bench import torch_ref

        if torch_ref.available():
            scorer_trainer = Trainer.from_corpus(corpus, fast_cfg.replace(eval_every=10 ** 9))
            score = validation_scorer(scorer_trainer)
            model = torch_ref.TorchRNN(corpus, fast_cfg)
            out["pytorch"] = curve(model.step, lambda: score(model.numpy_params()), checkpoints)
            out["pytorch"]["config"] = model.describe()
            h100 = fast_cfg.replace(hidden_size=100, seq_length=25, batch_size=32)
            score100 = validation_scorer(Trainer.from_corpus(corpus, h100.replace(eval_every=10 ** 9)))
            model = torch_ref.TorchRNN(corpus, h100)
            out["pytorch_h100_b32"] = curve(model.step, lambda: score100(model.numpy_params()), checkpoints)
            out["pytorch_h100_b32"]["config"] = model.describe()
        else:
            out["pytorch"] = {"skipped": torch_ref.why_unavailable()}
    return out, trainers
