"""The n-gram baselines in the app: counted off the GUI thread for the model's text and split, drawn on the loss plot,
named in the status bar ("beats the 3-gram") and handed to the session for the run's run.json."""

from __future__ import annotations

import sys
import traceback

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QLabel

from core import ngram

from .threads import _Runner


class BaselineJob(QObject):
    """Counts one text's baselines (core.ngram.baselines, cached) in a QThread; emits done(key, bits or why)."""

    done = Signal(object, object)  # (key, {order: bits/char}) or (key, "why there are none")

    def __init__(self, key, count, parent=None):
        super().__init__(parent)
        self.key = key
        self._count = count
        self._thread: _Runner | None = _Runner(self._run, None, "charrnn-ngram-baselines")

    def start(self) -> None:
        """Start counting; connect to done first."""
        self._thread.start_registered()

    @property
    def running(self) -> bool:
        """The thread is still counting."""
        t = self._thread
        return t is not None and not t._joined and t.isRunning()

    def join(self, timeout: float = 60.0) -> bool:
        """Wait for the thread (at most timeout); True when it has ended and is let go."""
        t = self._thread
        if t is None:
            return True
        done = t.join(timeout)
        if done:
            self._thread = None  # the thread refers to this object: no cycle is left behind
        return done

    def _run(self) -> None:
        try:
            result = self._count()
        except ValueError as e:
            result = str(e)
        except MemoryError:
            result = "the text is too large to count its n-gram baselines"
        except Exception as e:  # reported, never raised in the thread
            traceback.print_exc(file=sys.stderr)
            result = f"cannot count the n-gram baselines: {type(e).__name__}: {e}"
        finally:
            self._count = None
        self.done.emit(self.key, result)


def status_text(held_out: float | None, bits: dict[int, float]) -> str:
    """What the status bar says of the latest held-out bits/char against the baselines."""
    if not bits:
        return ""
    if held_out is None:
        return "Baselines: " + ", ".join(f"{k}-gram {v:.2f}" for k, v in sorted(bits.items()))
    won = ngram.beaten(held_out, bits)
    if won is None:
        k = min(bits)
        return f"not yet below the {k}-gram ({bits[k]:.2f} bits/char)"
    order, value = won
    best = min(bits.values()) == value
    return f"beats the {order}-gram ({value:.2f} bits/char){', the best baseline' if best else ''}"


NO_HELD_OUT = ("This model holds no text out (the lesson's min-char-rnn trains on all of it), so there is no held-out "
               "score to set beside the n-gram baselines. A preset with validation (fast, lstm, gru) draws them.")


class BaselinesController(QObject):
    """Keeps the loss plot's baseline lines, the status label and the session's baselines in step with the model:
    when a model is installed, its text and held-out split (core.ngram.split_of) are counted (or read from the
    cache) in a thread, and the numbers go to the plot, to session.set_baselines (run.json) and to the label."""

    changed = Signal(object)  # the baselines now shown ({order: bits/char}; {} for none)

    def __init__(self, session, loss_panel, parent=None):
        super().__init__(parent)
        self.session = session
        self.loss_panel = loss_panel
        self.bits: dict[int, float] = {}
        self.key = None  # (corpus, n_train, stop, orders) of self.bits or of the job counting them
        self.job: BaselineJob | None = None
        self._old_jobs: list[BaselineJob] = []
        self.label = QLabel("", objectName="baselineLabel")
        self.label.setContentsMargins(8, 0, 8, 0)
        self.label.setToolTip("Character n-gram baselines (interpolated Kneser-Ney) counted on the training part and "
                              "scored on the same held-out characters as the model")
        session.modelInstalled.connect(self._on_model_installed)
        session.corpusChanged.connect(self._on_corpus_changed)

    @Slot()
    def _on_model_installed(self) -> None:
        model, corpus = self.session.model, self.session.corpus
        if model is None or corpus is None:
            return
        split = ngram.split_of(model.config, len(corpus))
        if split is None:  # nothing held out: no held-out bits/char to compare with
            self._show(None, {})
            self._say("No n-gram baselines", NO_HELD_OUT)
            return
        key = (corpus, *split, ngram.DEFAULT_ORDERS)  # Corpus compares by identity
        if key == self.key:
            self.session.set_baselines(ngram.labels(self.bits) if self.bits else None)
            return
        self._show(key, {})
        self._say("Counting n-gram baselines…")
        job = BaselineJob(key, lambda: ngram.baselines(corpus, *split, orders=ngram.DEFAULT_ORDERS))
        job.done.connect(self._on_done)
        self._retire(self.job)
        self.job = job
        job.start()

    @Slot(object, object)
    def _on_corpus_changed(self, corpus, spec) -> None:
        if self.key is not None and self.key[0] is not corpus:
            self._retire(self.job)
            self.job = None
            self._show(None, {})

    @Slot(object, object)
    def _on_done(self, key, result) -> None:
        job = self.sender()
        if job is self.job:
            self.job = None
            self._retire(job)
        if key != self.key:
            return  # for a text or split no longer in use
        if isinstance(result, str):
            self._show(key, {})
            self._say("No n-gram baselines", result)
            return
        self._show(key, result)

    def _show(self, key, bits: dict[int, float]) -> None:
        self.key = key
        self.bits = dict(bits)
        self.label.setText("")
        self.loss_panel.set_baselines(self.bits)
        self.session.set_baselines(ngram.labels(self.bits) if self.bits else None)
        self.update_status()
        self.changed.emit(self.bits)

    def update_status(self, held_out: float | None = None) -> None:
        """Say which baseline the latest held-out bits/char (None: not measured yet) is below."""
        if held_out is None:
            held_out = self.loss_panel.latest_bits()[1] if self.session.has_model else None
        if self.bits or not self.label.text().startswith(("Counting", "No n-gram")):
            self._say(status_text(held_out, self.bits))

    def _say(self, text: str, tip: str | None = None) -> None:
        """Show text in the status label (hidden when empty), with tip or the baselines' numbers as its tooltip."""
        self.label.setText(text)
        self.label.setVisible(bool(text))
        if tip is not None or self.bits:
            self.label.setToolTip(tip or "Held-out bits/char of character n-grams (interpolated Kneser-Ney) "
                                  "counted on the training part: " + ", ".join(
                                      f"{k}-gram {v:.3f}" for k, v in sorted(self.bits.items())))

    def _retire(self, job: BaselineJob | None) -> None:
        """Let a job finish in the background (it cannot be interrupted; a few seconds); join finished ones."""
        if job is not None and job not in self._old_jobs:
            self._old_jobs.append(job)
        for old in list(self._old_jobs):
            if not old.running and old.join(0.1):
                self._old_jobs.remove(old)

    def shutdown(self) -> None:
        """Let go of the counting threads: those done are joined, one still counting (it cannot be interrupted; a
        few seconds on a big text) stays in the thread registry, which holds it and joins it at the interpreter's
        exit, so closing the window never waits for a count."""
        for job in [j for j in (self.job, *self._old_jobs) if j is not None]:
            if not job.running:
                job.join(0.1)
        self.job, self._old_jobs = None, []
