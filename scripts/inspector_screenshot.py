"""Screenshot of the Look inside panel on a freshly trained Shakespeare model: assets/screenshots/inspector.png.

Trains the `fast` preset headlessly, probes the validation passage, selects the first speaker name,
ranks units for it and shows the best one. Prints what it found, so the unit can be reproduced:

    QT_QPA_PLATFORM=offscreen python scripts/inspector_screenshot.py --iterations 4000 --seed 0
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtGui import QTextCursor  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from charrnn_gui.inspector import InspectorPanel  # noqa: E402
from core import CorpusError, Trainer, corpus_from_text, load_checkpoint, preset, restore_trainer  # noqa: E402
from core.probe import default_probe_text  # noqa: E402

SPEAKER = re.compile(r"(?m)^([A-Z][A-Z .'-]+):$")  # "SAMPSON:" alone on its line


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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=4000, help="training iterations (default 4000)")
    parser.add_argument("--seconds", type=float, default=None, help="train for this long instead")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint", default=None, help="inspect this checkpoint of the corpus instead of training")
    parser.add_argument("--unit", type=int, default=None, help="show this unit instead of the best one found")
    parser.add_argument("--out", default=str(ROOT / "assets" / "screenshots" / "inspector.png"))
    args = parser.parse_args(argv)

    app = QApplication.instance() or QApplication([])
    corpus = load_text_corpus()
    start = time.perf_counter()
    if args.checkpoint:
        trainer = restore_trainer(load_checkpoint(args.checkpoint), corpus.data, corpus.vocab)
    else:
        trainer = Trainer.from_corpus(corpus, preset("fast", seed=args.seed, sample_every=0))
        budget = {"seconds": args.seconds} if args.seconds else {"iterations": args.iterations}
        for _ in trainer.run(**budget):
            pass
    print(f"model of {corpus.name}: {trainer.iteration} iterations in {time.perf_counter() - start:.0f} s, "
          f"validation {trainer.evaluate():.2f} bits/char")

    panel = InspectorPanel()
    panel.resize(1280, 800)
    panel.set_source(lambda: {k: v.copy() for k, v in trainer.params.items()}, trainer.vocab,
                     default_probe_text(trainer))
    panel.maybe_auto_run(trainer.iteration)  # records the iteration for the info line
    panel.show()
    if not panel.run():
        print(panel.message())
        return 1
    text = panel.result.text
    names = list(SPEAKER.finditer(text))
    if names:  # select the first speaker name and let the panel find its units
        first = names[0]
        panel.select_span(first.start(), first.end())
        panel.find_units_for_selection()
        print(f"units for {first.group(0)!r}:", ", ".join(f"{u} ({s:+.2f})" for u, s in panel.ranking()))
    else:
        panel.list_units("most variable")
    if args.unit is not None:
        panel.set_unit(args.unit)
    # Put the text cursor after a later name, so the predictions show the model expecting its colon.
    cursor = QTextCursor(panel.view.document())
    where = names[1].end() - 1 if len(names) > 1 else min(40, len(text) - 1)
    cursor.setPosition(panel.doc_position(where))
    panel.view.setTextCursor(cursor)
    panel.view.verticalScrollBar().setValue(0)
    app.processEvents()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    panel.grab().save(str(out))
    print(f"showing unit {panel.unit}; saved {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
