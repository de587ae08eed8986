"""Screenshot of the Look inside panel on a freshly trained Shakespeare model: assets/screenshots/inspector.png.

Trains a preset headlessly (`fast` by default), probes the validation passage, selects the first speaker name,
ranks units for it and shows the best one. Prints what it found, so the unit can be reproduced:

    QT_QPA_PLATFORM=offscreen python scripts/inspector_screenshot.py --iterations 4000 --seed 0

For a gated cell, --hunt looks for a cell a person can name, in every state and layer (the LSTM's cell state c
and gates too): a unit that marks speaker names (core.probe.rank_span over every name of the passage, averaged)
and one that counts the position in the line (its correlation with the column), and shows the one asked for:

    QT_QPA_PLATFORM=offscreen python scripts/inspector_screenshot.py --preset lstm --iterations 2000 --seed 0 \\
        --hunt line --out assets/screenshots/lstm-cell.png
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtGui import QTextCursor  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from charrnn_gui.inspector import InspectorPanel  # noqa: E402
from core import (CorpusError, Trainer, corpus_from_text, load_checkpoint, preset, restore_trainer,  # noqa: E402
                  save_checkpoint)
from core.probe import default_probe_text, probe, rank_span  # noqa: E402
from core.threads import blas_threads_setting, limit_blas_threads  # noqa: E402

SPEAKER = re.compile(r"(?m)^([A-Z][A-Z .'-]+):$")  # "SAMPSON:" alone on its line
HUNTS = ("speaker", "line")


def load_text_corpus():
    """Shakespeare when the built-in is available, else Python's docs, else this repository's own text."""
    try:
        from core.builtins import load_builtin

        return load_builtin("shakespeare")
    except (ImportError, CorpusError):
        pass
    try:
        from core.builtins import load_builtin

        return load_builtin("python-docs")
    except (ImportError, CorpusError):
        text = "\n\n".join(p.read_text(encoding="utf-8") for p in sorted(ROOT.glob("**/*.py")))
        return corpus_from_text(text, name="charrnn sources", path=None, encoding="utf-8")


def speaker_consensus(values, spans) -> list[tuple[int, float, float]]:
    """Units that mark every speaker name, not just one: [(unit, mean rank_span score over the names, share of
    the names whose top 10 it is in)], by decreasing |mean score|."""
    H = values.shape[1]
    scores = np.zeros((len(spans), H))  # (names, H)
    top10 = np.zeros((len(spans), H), dtype=bool)
    for row, (start, stop) in enumerate(spans):
        for rank, (unit, score) in enumerate(rank_span(values, start, stop, k=H)):
            scores[row, unit] = score
            top10[row, unit] = rank < 10
    mean = scores.mean(axis=0)  # (H,)
    order = np.argsort(-np.abs(mean), kind="stable")
    return [(int(u), float(mean[u]), float(top10[:, u].mean())) for u in order]


def line_positions(text: str) -> np.ndarray:
    """(L,) for each character, how many characters of its line come before it (0 for a line's first)."""
    column = np.empty(len(text), dtype=np.float64)
    col = 0
    for i, ch in enumerate(text):
        column[i] = col
        col = 0 if ch == "\n" else col + 1
    return column


def line_counters(values, text) -> list[tuple[int, float]]:
    """Units that follow the position in the line: [(unit, correlation with the column over the characters
    inside lines)], by decreasing |correlation|."""
    column = line_positions(text)
    inside = np.array([ch != "\n" for ch in text])  # a newline ends a line; its state starts the next one
    v, col = values[inside].astype(np.float64), column[inside]  # (n, H), (n,)
    v = v - v.mean(axis=0)
    col = col - col.mean()
    r = (v * col[:, None]).sum(axis=0) / (np.sqrt((v * v).sum(axis=0) * (col * col).sum()) + 1e-12)  # (H,)
    order = np.argsort(-np.abs(r), kind="stable")
    return [(int(u), float(r[u])) for u in order]


def hunt(result, spans):
    """The best candidate for each hunt, over every state and layer: {hunt: (score, name, layer, unit, line)}."""
    best = {}
    for layer, states in enumerate(result.states or [{"h": result.hidden}]):
        for name, values in states.items():
            lines = []
            if spans:
                for unit, score, share in speaker_consensus(values, spans)[:3]:
                    lines.append(f"  speaker names: unit {unit:>3} mean score {score:+.2f}, in the top 10 for "
                                 f"{share:.0%} of the names")
                unit, score, share = speaker_consensus(values, spans)[0]
                candidate = (abs(score) * share, name, layer, unit, lines[0])
                if candidate[0] > best.get("speaker", (-1,))[0]:
                    best["speaker"] = candidate
            counters = line_counters(values, result.text)
            for unit, r in counters[:3]:
                lines.append(f"  line position: unit {unit:>3} correlation {r:+.2f}")
            unit, r = counters[0]
            if abs(r) > best.get("line", (-1,))[0]:
                best["line"] = (abs(r), name, layer, unit, f"  line position: unit {unit:>3} correlation {r:+.2f}")
            print(f"layer {layer + 1} {name}:")
            print("\n".join(lines))
    return best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="fast", help="the preset to train (default fast)")
    parser.add_argument("--cell", default=None, help="override the preset's cell (rnn, lstm, gru)")
    parser.add_argument("--layers", type=int, default=None, help="override the preset's number of layers")
    parser.add_argument("--iterations", type=int, default=4000, help="training iterations (default 4000)")
    parser.add_argument("--seconds", type=float, default=None, help="train for this long instead")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint", default=None, help="inspect this checkpoint of the corpus instead of training")
    parser.add_argument("--save-checkpoint", default=None, help="keep the trained model here")
    parser.add_argument("--probe-chars", type=int, default=600, help="length of the held-out passage probed")
    parser.add_argument("--hunt", choices=HUNTS, default=None,
                        help="find and show the best speaker-name unit or line-position counter of any state")
    parser.add_argument("--state", default=None, help="colour by this state (h, c, a gate's letter)")
    parser.add_argument("--layer", type=int, default=None, help="of this layer (1 = bottom; default the top one)")
    parser.add_argument("--unit", type=int, default=None, help="show this unit instead of the best one found")
    parser.add_argument("--out", default=str(ROOT / "assets" / "screenshots" / "inspector.png"))
    args = parser.parse_args(argv)

    app = QApplication.instance() or QApplication([])
    corpus = load_text_corpus()
    start = time.perf_counter()
    if args.checkpoint:
        trainer = restore_trainer(load_checkpoint(args.checkpoint), corpus.data, corpus.vocab)
    else:
        overrides = {k: v for k, v in (("cell", args.cell), ("num_layers", args.layers)) if v is not None}
        # A schedule spans the budget, as charrnn-train sets it: the same options give the same model.
        overrides.update(budget_iterations=0 if args.seconds else args.iterations, budget_seconds=args.seconds or 0.0)
        trainer = Trainer.from_corpus(corpus, preset(args.preset, seed=args.seed, sample_every=0, **overrides))
        budget = {"seconds": args.seconds} if args.seconds else {"iterations": args.iterations}
        with limit_blas_threads(blas_threads_setting(None)):  # one thread, as charrnn-train: the same rounding
            for _ in trainer.run(**budget):
                pass
        if args.save_checkpoint:
            save_checkpoint(trainer, args.save_checkpoint)
    cfg = trainer.config
    print(f"{cfg.cell} ×{cfg.num_layers}, H={cfg.hidden_size} model of {corpus.name}: {trainer.iteration} iterations "
          f"in {time.perf_counter() - start:.0f} s, validation {trainer.evaluate():.2f} bits/char")

    text = default_probe_text(trainer, args.probe_chars)
    names = list(SPEAKER.finditer(text))
    state, layer, unit = args.state, None if args.layer is None else args.layer - 1, args.unit
    if args.hunt:
        result = probe(trainer.params, trainer.vocab, text)
        found = hunt(result, [(m.start(), m.end()) for m in names])
        if args.hunt not in found:
            print(f"no {args.hunt} unit to hunt for in this passage")
            return 1
        _, found_state, found_layer, best, line = found[args.hunt]
        print(f"best {args.hunt} unit: layer {found_layer + 1} {found_state}\n{line}")
        if state is None and layer is None and unit is None:  # what was asked for wins over what was found
            state, layer, unit = found_state, found_layer, best

    panel = InspectorPanel()
    panel.resize(1280, 800)
    panel.set_source(lambda: {k: v.copy() for k, v in trainer.params.items()}, trainer.vocab, text)
    panel.maybe_auto_run(trainer.iteration)  # records the iteration for the info line
    panel.show()
    if not panel.run():
        print(panel.message())
        return 1
    if state is not None:
        layer = cfg.num_layers - 1 if layer is None else layer
        if not panel.show_state(state, layer):
            print(f"the model has no state {state!r} in layer {layer + 1}")
            return 2
    if names and args.hunt != "line":  # select the first speaker name and let the panel find its units
        first = names[0]
        panel.select_span(first.start(), first.end())
        panel.find_units_for_selection()
        print(f"units for {first.group(0)!r}:", ", ".join(f"{u} ({s:+.2f})" for u, s in panel.ranking()))
    else:
        panel.list_units("most variable")
        print("most variable units:", ", ".join(f"{u} ({s:.2f})" for u, s in panel.ranking()))
    if unit is not None:
        panel.set_unit(unit)
    cursor = QTextCursor(panel.view.document())
    if args.hunt == "line":  # the cursor at the end of the longest early line: the model expects its newline
        ends = [m.start() for m in re.finditer("\n", text[:len(text) // 2])]
        where = max(ends, key=lambda e: e - text.rfind("\n", 0, e)) if ends else min(40, len(text) - 1)
    else:  # after a later name: the model expects its colon
        where = names[1].end() - 1 if len(names) > 1 else min(40, len(text) - 1)
    cursor.setPosition(panel.doc_position(where))
    panel.view.setTextCursor(cursor)
    panel.view.verticalScrollBar().setValue(0)
    app.processEvents()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    panel.grab().save(str(out))
    print(f"showing unit {panel.unit} of the {panel.chooser.describe()}; saved {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
