"""Before a model is created: refuse settings that cannot fit in memory, ask before ones whose steps are slow.

A step is not interruptible, so a model whose steps take minutes would keep Pause, Save and closing the
window waiting; one too big for memory would raise MemoryError in the middle of creating it. Both are
known from the settings and the vocabulary size alone (core.budget), before anything is allocated.
"""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget

from core.budget import SLOW_STEP_SECONDS, human_bytes, human_seconds, refusal, step_cost


def confirm_affordable(parent: QWidget, config, vocab_size: int) -> bool:
    """True when training config may start: it fits in memory, and the user agreed if its steps are slow."""
    cost = step_cost(config, vocab_size)
    reason = refusal(cost)
    if reason:
        QMessageBox.warning(parent, "Cannot start training", reason[:1].upper() + reason[1:] + ".")
        return False
    seconds = cost.seconds()
    if seconds <= SLOW_STEP_SECONDS:
        return True
    every = config.sample_every
    samples = f", and samples come {human_seconds(every * seconds)} apart (every {every:,} steps)" if every else ""
    B = QMessageBox.StandardButton
    answer = QMessageBox.question(
        parent, "Train with slow steps?",
        f"One training step with these settings takes about {human_seconds(seconds)} on this computer "
        f"({human_bytes(cost.total_bytes)} of memory). Pause, Save and closing the window each wait for the step "
        f"in progress{samples}.\n\n"
        f"Smaller settings (hidden size, sequence length, batch size) train much faster. Train anyway?",
        B.Yes | B.Cancel, B.Cancel)
    return answer == B.Yes
