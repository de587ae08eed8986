"""(g) n-gram baselines: held-out bits/char of each order on the built-in Shakespeare, time and peak memory, and
when each preset's held-out bits/char crosses the 3-gram and 5-gram lines.

    python -m bench.ngram                        # the table of orders 1..20 (fresh processes; about 30 s)
    python -m bench.ngram --cross [--seconds S]  # ... and each preset trained for up to S s (300), one at a time

The orders are scored twice: on the whole held-out tail (the last 5%) and on its first 20,000 characters, which
is what Trainer.evaluate() scores (eval_chars) and what the app compares with. Time and peak memory (ru_maxrss of
a fresh process, the interpreter included) per set of orders 1..N. The crossings train each preset as the app does
(no time budget: the gated presets' cosine schedule then stays at its full rate; the min-char-rnn preset, which
has no held-out split, gets the 5% split to be scored on the same characters), evaluate every EVAL_SECONDS of
training time (the clock paused while scoring), and report the first training time at or below each line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from bench.common import ROOT

ORDER_SETS = (5, 6, 10, 20)
CROSS_PRESETS = ("min-char-rnn", "fast", "lstm", "gru")
EVAL_SECONDS = 5.0  # training seconds between two held-out scores in the crossing runs
LINES = (3, 5)  # the n-gram orders whose crossing is timed

_CHILD = """
import json, resource, sys, time
from core.builtins import load_builtin
from core.corpus import train_length
from core.ngram import held_out_bits
c = load_builtin("shakespeare")
n_train = train_length(len(c), 0.05)
top, stop = int(sys.argv[1]), sys.argv[2]
stop = None if stop == "all" else n_train + int(stop)
t = time.perf_counter()
bits = held_out_bits(c.data, len(c.vocab), n_train, stop, range(1, top + 1))
print(json.dumps({"seconds": time.perf_counter() - t, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "bits": bits, "n_train": n_train, "held_out": (stop or len(c)) - n_train}))
"""


def measure_orders(top: int, stop: str) -> dict:
    """held_out_bits for orders 1..top in a fresh process: its time, peak memory and numbers."""
    out = subprocess.run([sys.executable, "-c", _CHILD, str(top), stop], cwd=ROOT, capture_output=True, text=True,
                         check=True, env={"PYTHONPATH": ROOT, "PATH": "/usr/bin:/bin", "OPENBLAS_NUM_THREADS": "1"})
    return json.loads(out.stdout)


def crossing(name: str, lines: dict[int, float], seconds: float) -> dict:
    """Train preset `name` for up to `seconds` of training time; the first time its held-out bits/char is at or
    below each line (None: not within the time), and the curve."""
    from core import Trainer, preset
    from core.builtins import load_builtin

    cfg = preset(name).replace(eval_every=10 ** 9)
    if cfg.val_fraction == 0:
        cfg = cfg.replace(val_fraction=0.05)
    trainer = Trainer.from_corpus(load_builtin("shakespeare"), cfg)
    clock, next_eval, curve, crossed = 0.0, EVAL_SECONDS, [], {k: None for k in lines}
    while clock < seconds and not all(v is not None for v in crossed.values()):
        t = time.perf_counter()
        trainer.step()
        clock += time.perf_counter() - t
        if clock >= next_eval:
            next_eval += EVAL_SECONDS
            bpc = float(trainer.evaluate())
            curve.append((round(clock, 1), trainer.iteration, round(bpc, 4)))
            for k, v in lines.items():
                if crossed[k] is None and bpc <= v:
                    crossed[k] = {"seconds": round(clock, 1), "iteration": trainer.iteration, "bpc": round(bpc, 4)}
    return {"crossed": crossed, "curve": curve, "its_per_second": round(trainer.iteration / max(clock, 1e-9), 1),
            "loadavg_after": os.getloadavg()}


def main(argv=None) -> None:
    args = sys.argv[1:] if argv is None else argv
    cross = "--cross" in args
    seconds = float(args[args.index("--seconds") + 1]) if "--seconds" in args else 300.0
    results = {"started": time.strftime("%Y-%m-%d %H:%M:%S"), "loadavg_at_start": os.getloadavg(), "orders": {}}
    print("orders   seconds  peak MB  | held-out bits/char, whole tail (first 20,000 chars)")
    for top in ORDER_SETS:
        whole = measure_orders(top, "all")
        first = measure_orders(top, "20000")
        results["orders"][top] = {"whole": whole, "first_20000": first}
        print(f"1..{top:<4} {whole['seconds']:7.2f}  {whole['peak_mb']:7.0f}  | " + "  ".join(
            f"{k}: {whole['bits'][k]:.3f} ({first['bits'][k]:.3f})" for k in sorted(whole["bits"], key=int)))
    best = results["orders"][ORDER_SETS[-1]]
    for part in ("whole", "first_20000"):
        bits = {int(k): v for k, v in best[part]["bits"].items()}
        k_best = min(bits, key=bits.get)
        print(f"{part}: the best order is {k_best} ({bits[k_best]:.3f} bits/char)")
    if cross:
        lines = {k: v for k, v in ((int(k), v) for k, v in best["first_20000"]["bits"].items()) if k in LINES}
        results["crossings"] = {}
        for name in CROSS_PRESETS:
            r = crossing(name, lines, seconds)
            results["crossings"][name] = r
            said = "  ".join(f"{k}-gram ({lines[k]:.3f}): " + (f"{c['seconds']:.0f} s (it {c['iteration']:,}, "
                                                                f"{c['bpc']:.3f})" if c else f"not in {seconds:.0f} s")
                             for k, c in r["crossed"].items())
            last = r["curve"][-1] if r["curve"] else None
            print(f"{name:13s} {said}   last: {last}")
    out = f"{ROOT}/bench/results/ngram.json"
    with open(out, "w") as f:
        json.dump(results, f, indent=1)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
