"""Run charrnn's benchmarks and print a table of ratios and medians; write bench/results/latest.json.

    python -m bench            # full run (about 12-15 minutes on 2 cores)
    python -m bench --quick    # smoke run (about 2 minutes)
    python bench/run.py --only engine,sampling

Everything is measured side by side, alternating in one process (or in one fresh subprocess for the
corpus load and the GUI), and reported as medians and per-round ratios: other work on the machine
moves absolute numbers, much less the ratios. The engine runs with one BLAS thread, as the app does
(core.threads.limit_blas_threads); the thread section measures that choice.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

if __package__ in (None, ""):  # python bench/run.py
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import ROOT, machine_info  # noqa: E402

SECTIONS = ("lesson", "engine", "profile", "torch", "quality", "sampling", "corpus", "threads", "gui", "cells",
            "cellquality", "runs", "gradflow")
DEFAULT_SKIPS = ("cellquality",)  # long: run it by name (--only cellquality [--long])
SETTINGS = {  # rounds, seconds per contender per round, ...
    "quick": {"rounds": 4, "seconds": 0.6, "sample_rounds": 3, "corpus_mb": 20, "gui_seconds": 3.0, "runs_rounds": 3,
              "process_rounds": 3},
    "full": {"rounds": 12, "seconds": 1.5, "sample_rounds": 7, "corpus_mb": 100, "gui_seconds": 10.0, "runs_rounds": 7,
             "process_rounds": 9},
}


def fmt(x, digits=3):
    if x is None:
        return "-"
    if isinstance(x, float):
        if abs(x) >= 1000:
            return f"{x:,.0f}"
        return f"{x:.{digits}g}"
    return str(x)


def table(results: dict) -> list[str]:
    rows = [("measure", "engine (median)", "baseline (median)", "ratio (median) [min..max]")]

    def ratio_row(label, r, a, b):
        if not r or "ratio_median" not in r:
            rows.append((label, (r or {}).get("skipped", "-"), "", ""))
            return
        rows.append((label, fmt(r.get(f"{a}_median")), fmt(r.get(f"{b}_median")),
                     f"{fmt(r['ratio_median'])}x [{fmt(r['ratio_min'])}..{fmt(r['ratio_max'])}]"))

    ls = results.get("lesson", {})
    w = ls.get("whole_process")
    if w and "engine" in w:
        sec = w["seconds_median"]
        for name, label in (("engine", "charrnn-train"), ("floor", "floor program")):
            r = w[name]
            rows.append((f"min-char-rnn, whole process, {label} vs the lesson's program (x faster)",
                         f"{sec[name]:.2f} s", f"{sec['lesson']:.2f} s",
                         f"{fmt(r['median'])}x [{fmt(r['min'])}..{fmt(r['max'])}]"))
    elif w:
        rows.append(("min-char-rnn, whole process", w.get("error", "-"), "", ""))
    ratio_row("min-char-rnn B=1 f64, it/s vs the lesson's program", ls.get("in_process"), "engine", "lesson")
    fl = (ls.get("in_process") or {}).get("floor")
    ratio_row("  the floor program, it/s vs the lesson's program", fl, "floor", "lesson")
    e = results.get("engine", {})
    ratio_row("B=32 f32 H=100, chars/s vs the lesson's program", e.get("b32_float32_chars"), "engine", "lesson")
    ratio_row("fast preset, chars/s vs the lesson's program", e.get("fast_preset_chars"), "fast", "lesson")
    ratio_row("tests/naive.py, chars/s vs the lesson's program", e.get("naive_vs_lesson"), "naive", "lesson")
    t = results.get("torch", {})
    if "skipped" in t:
        rows.append(("engine vs PyTorch", t["skipped"], "", ""))
    for k, v in t.items():
        if isinstance(v, dict):
            ratio_row(f"{k}: it/s vs PyTorch (1 thread)", v, "engine", "pytorch")
    s = results.get("sampling", {})
    ratio_row("sample 10k chars, chars/s vs the lesson's sample()", s.get("single"), "engine", "lesson")
    ratio_row("4 temperatures batched, chars/s vs the lesson's sample()", s.get("batched_4_temperatures"),
              "engine_4temps", "lesson")
    th = results.get("threads", {})
    for k, v in th.items():
        ratio_row(f"{k}: it/s with 2 BLAS threads vs 1", v, "threads2", "threads1")
    for k, v in results.get("gradflow", {}).items():
        ratio_row(f"{k}: it/s, grad flow every 100 / off", v, "on", "off")
        if "estimated_ratio" in v:
            rows.append((f"{k}: the same from one measurement's cost", f"{fmt(v['measurement_ms'])} ms", "",
                         f"{fmt(v['estimated_ratio'])}x"))
    lines = []
    widths = [max(len(str(r[i])) for r in rows) for i in range(4)]
    for i, r in enumerate(rows):
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))

    pr = results.get("profile", {}).get("parts_us")
    if pr:
        lines.append("")
        lines.append("one iteration at the min-char-rnn preset (B=1 float64), µs (medians)")
        for k, v in pr.items():
            lines.append(f"  {k:48s} {v:8.1f}")
    q = results.get("quality", {})
    if q:
        lines.append("")
        lines.append("validation bits/char on the held-out tail after N seconds of training (clock paused to score)")
        for name, r in q.items():
            if "val_bpc" in r:
                pts = "  ".join(f"{k}s {v:.3f}" for k, v in r["val_bpc"].items())
                extra = f"  ({r.get('steps', '?')} steps" + (f", {r['chars']:,} chars" if 'chars' in r else "") + ")"
                lines.append(f"  {name:18s} {pts}{extra}" + ("  DIVERGED" if "diverged_at_step" in r else ""))
            else:
                lines.append(f"  {name:18s} {r.get('skipped', r)}")
    c = results.get("corpus")
    if c:
        lines.append("")
        if "error" in c:
            lines.append(f"corpus load: error: {c['error']}")
        else:
            lines.append(f"corpus load ({c['bytes_on_disk'] / 1e6:.0f} MB, {c['chars']:,} chars): {c['seconds']:.2f} s, "
                         f"peak RSS {c['peak_rss_bytes_per_char']:.2f} B/char, traced peak "
                         f"{c['traced_peak_bytes_per_char']:.2f} B/char; training shares the corpus: "
                         f"{c['training_shares_corpus_memory']}, starting it allocated "
                         f"{c['training_start_bytes_per_corpus_char']:.4f} B per corpus char")
    rl = results.get("runs")
    if rl:
        lines.append("")
        if "error" in rl:
            lines.append(f"runs listing: error: {rl['error']}")
        else:
            lines.append(f"runs listing ({rl['runs']} runs x {rl['lines_per_run']:,} metrics lines): find_runs "
                         f"{rl['listing_seconds_median']:.3f} s (median; {rl['listing_seconds_min']:.3f}.."
                         f"{rl['listing_seconds_max']:.3f}); reading every run whole {rl['full_read_seconds_median']:.2f} s")
    g = results.get("gui")
    if g:
        lines.append("")
        if "skipped" in g:
            lines.append(f"GUI: {g['skipped']}")
        else:
            for preset, r in g.items():
                tm = r.get("timer_ms", {})
                lines.append(f"GUI {preset}: in-app {fmt(r.get('its'))} it/s vs headless {fmt(r.get('headless_its'))} "
                             f"(ratio {fmt(r.get('in_app_over_headless'))}); 16 ms timer p95 {fmt(tm.get('p95'))} ms; "
                             f"pause {r.get('worker_park_ms', r.get('pause_action_ms'))}")
    return lines


def _or_error(fn) -> dict:
    """fn()'s result, or {"error": ...} so that one failed measurement leaves the rest of its section."""
    try:
        return fn()
    except Exception as e:
        return {"error": f"{type(e).__name__}: {e}"}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="short smoke run (about 2 minutes)")
    p.add_argument("--only", default="", help=f"comma-separated sections out of: {', '.join(SECTIONS)}")
    p.add_argument("--long", action="store_true", help="cellquality: also run each preset for 300 s")
    p.add_argument("--presets", default="", help="cellquality: comma-separated presets (default: fast,gru,lstm)")
    p.add_argument("--torch-only", action="store_true",
                   help="cellquality: only PyTorch's runs, on the presets' settings")
    p.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "latest.json"))
    args = p.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()] or [s for s in SECTIONS if s not in DEFAULT_SKIPS]
    unknown = [s for s in only if s not in SECTIONS]
    if unknown:
        p.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    mode = "quick" if args.quick else "full"
    cfg = SETTINGS[mode]

    from core.threads import limit_blas_threads

    limit_blas_threads(1)  # the app's default; the threads section switches it per round itself
    results: dict = {"mode": mode, "started": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": machine_info()}
    timings = {}

    def run(name, fn):
        if name not in only:
            return
        print(f"[bench] {name} ...", flush=True)
        t = time.perf_counter()
        try:
            results[name] = fn()
        except Exception as e:  # a broken section must not hide the others
            results[name] = {"error": f"{type(e).__name__}: {e}"}
            print(f"[bench] {name} failed: {type(e).__name__}: {e}", flush=True)
        timings[name] = round(time.perf_counter() - t, 1)

    from bench import (cells, corpus_load, engine, gradflow, gui_hook, lesson, profile_b1, quality, runs_listing,
                       sampling, torch_ref)

    R, S = cfg["rounds"], cfg["seconds"]
    checkpoints = quality.CHECKPOINTS_QUICK if args.quick else quality.CHECKPOINTS_FULL
    trainers = {}

    def quality_section():
        out, tr = quality.quality(checkpoints, include_torch="torch" in only)
        trainers.update(tr)
        return out

    run("lesson", lambda: {"whole_process": _or_error(lambda: lesson.whole_process(cfg["process_rounds"])),
                           "in_process": lesson.in_process(R, S)})
    run("engine", lambda: engine.batched_vs_lesson(R, S))
    run("profile", lambda: profile_b1.profile_b1(3 if args.quick else 7))
    run("torch", lambda: torch_ref.engine_vs_torch(max(3, R // 2), S))
    run("quality", quality_section)
    run("sampling", lambda: sampling.sampling(cfg["sample_rounds"], S, trainer=trainers.get("min-char-rnn")))
    run("corpus", lambda: corpus_load.corpus_load(cfg["corpus_mb"]))
    run("threads", lambda: engine.blas_threads(max(4, R // 2), S))
    run("gui", lambda: gui_hook.gui_figures(cfg["gui_seconds"]))
    run("cells", lambda: cells.cells_vs_torch(max(3, R // 2), S))
    presets = tuple(n.strip() for n in args.presets.split(",") if n.strip()) or cells.QUALITY_PRESETS
    run("cellquality", lambda: cells.cells_quality(long=args.long, include_torch="torch" in only or args.torch_only,
                                                   presets=presets, engine=not args.torch_only))
    run("runs", lambda: runs_listing.runs_listing(cfg["runs_rounds"]))
    run("gradflow", lambda: gradflow.gradflow_cost(R))
    results["section_seconds"] = timings

    print()
    for line in table(results) + cells.table(results):
        print(line)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=1, default=float)
    print(f"\nwrote {args.out} (sections took {timings})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
