"""(e) LSTM and GRU: it/s against PyTorch's nn.LSTM / nn.GRU, and held-out bits/char per time budget.

    python -m bench --only cells                 # speed, side by side with PyTorch (one thread each)
    python -m bench --only cellquality           # each preset at budgets of 10, 30 and 60 s (about 6 min)
    python -m bench --only cellquality --long    # and each preset at 300 s (about 21 min)

A preset's learning-rate schedule spans its budget, so each budget is its own run from fresh weights
(the number after 60 s is a 60 s run, not the 60 s point of a longer one). The clock counts training only.
"""

from __future__ import annotations

from bench.common import alternate, bench_corpus, ratio_summary

BUDGETS = (10.0, 30.0, 60.0)
LONG_BUDGET = 300.0
QUALITY_PRESETS = ("fast", "gru", "lstm")


def _config(name: str, **changes):
    from core import preset

    return preset(name, **changes).replace(eval_every=10 ** 9, sample_every=0)


def cells_vs_torch(rounds: int, seconds: float) -> dict:
    """it/s of the engine and of PyTorch at each new preset's settings (constant rate), one thread each."""
    from bench import torch_ref
    from core import Trainer

    if not torch_ref.available():
        return {"skipped": torch_ref.why_unavailable()}
    corpus = bench_corpus()
    out = {}
    cases = [(name, _config(name)) for name in ("lstm", "gru")]
    cases += [(f"{c}_h256_t64_b32", _config(c, hidden_size=256, seq_length=64, batch_size=32, num_layers=1,
                                           dropout=0.0)) for c in ("lstm", "gru")]
    cases += [("lstm_2layers_h256", _config("lstm", hidden_size=256, num_layers=2, dropout=0.1))]
    for name, cfg in cases:
        cfg = cfg.replace(lr_schedule="constant")
        engine = Trainer.from_corpus(corpus, cfg)
        model = torch_ref.TorchRNN(corpus, cfg)
        for _ in range(2):
            engine.step(), model.step()
        rates = alternate({"engine": (engine.step, 1), "pytorch": (model.step, 1)}, rounds, seconds)
        out[name] = {"what": f"{cfg.cell} x{cfg.num_layers} H={cfg.hidden_size} T={cfg.seq_length} "
                             f"B={cfg.batch_size} {cfg.dtype} {cfg.optimizer}, it/s, 1 thread each",
                     **ratio_summary(rates, "engine", "pytorch")}
    return out


def budget_run(step, evaluate, budget: float) -> dict:
    """Train with step() for `budget` seconds of training time, then score once."""
    from bench.quality import curve

    result = curve(step, evaluate, (budget,))
    if "diverged_at_step" in result:
        return {"diverged_at_step": result["diverged_at_step"]}
    return {"val_bpc": result["val_bpc"][f"{budget:g}"], "steps": result["steps"],
            "train_seconds": result["train_seconds"]}


def cells_quality(long: bool = False, include_torch: bool = False, presets=QUALITY_PRESETS,
                  engine: bool = True) -> dict:
    """Held-out bits/char of each preset after a fresh run of each budget (10, 30, 60 s; 300 s with long).

    engine=False runs only PyTorch's (so that the two can run in two processes, one per core).
    """
    from bench import torch_ref
    from core import Trainer

    corpus = bench_corpus()
    out = {}
    for name in presets if engine else ():
        row = {}
        for budget in BUDGETS:
            cfg = _config(name, budget_seconds=budget)
            trainer = Trainer.from_corpus(corpus, cfg)
            row[f"{budget:g}"] = budget_run(lambda: trainer.step().diverged, trainer.evaluate, budget)
        c = _config(name)
        row["config"] = {k: getattr(c, k) for k in ("cell", "num_layers", "dropout", "hidden_size", "seq_length",
                                                    "batch_size", "dtype", "optimizer", "learning_rate",
                                                    "lr_schedule", "lr_floor", "init_scale")}
        out[name] = row
    if long:  # every cell at its preset for 300 s as well (the table has a 300 s column per cell)
        for name in presets if engine else ():
            trainer = Trainer.from_corpus(corpus, _config(name, budget_seconds=LONG_BUDGET))
            out[name][f"{LONG_BUDGET:g}"] = budget_run(lambda: trainer.step().diverged, trainer.evaluate,
                                                       LONG_BUDGET)
    if include_torch and torch_ref.available():
        for name in [n for n in presets if _config(n).cell != "rnn"]:
            row = {}
            for budget in BUDGETS + ((LONG_BUDGET,) if long else ()):
                model = torch_ref.TorchRNN(corpus, _config(name, budget_seconds=budget))
                row[f"{budget:g}"] = budget_run(model.step, model.evaluate, budget)
            out[f"pytorch_{name}"] = row
    return out


def table(results: dict) -> list[str]:
    """Lines for bench/run.py's report."""
    lines = []
    speed = results.get("cells", {})
    if speed:
        lines += ["", "LSTM / GRU: it/s against PyTorch (1 thread each), median of per-round ratios [min..max]"]
        for name, r in speed.items():
            if isinstance(r, dict) and "ratio_median" in r:
                lines.append(f"  {name:20s} engine {r['engine_median']:7.1f}  pytorch {r['pytorch_median']:7.1f}  "
                             f"{r['ratio_median']:.2f}x [{r['ratio_min']:.2f}..{r['ratio_max']:.2f}]")
            elif name == "skipped":
                lines.append(f"  {r}")
    quality = results.get("cellquality", {})
    if quality:
        lines += ["", "held-out bits/char after a run of each budget (schedule over the budget; training time only)"]
        for name, row in quality.items():
            if not isinstance(row, dict):
                continue
            points = "  ".join(f"{k}s {v['val_bpc']:.3f} ({v['steps']} it)" if "val_bpc" in v else f"{k}s DIVERGED"
                               for k, v in row.items() if k != "config")
            lines.append(f"  {name:14s} {points}")
    return lines
