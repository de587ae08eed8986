"""The samples view stays where the user scrolled while new samples arrive, and follows them at the bottom."""

import random

from PySide6.QtCore import QPoint

from charrnn_gui.samples import SampleRecord, SamplesPanel

from .helpers import SMALL_TEXT


def sample_text(rng, length=400):
    """Several lines, some longer than the view is wide (they wrap), like a sample of a text."""
    start = rng.randrange(len(SMALL_TEXT))
    text = (SMALL_TEXT * 10)[start:start + length]
    return text.replace("\n", " ", rng.randint(0, 2))


def header_at_top(panel):
    """The header of the sample whose text is at the top of the view."""
    block = panel.view.cursorForPosition(QPoint(0, 0)).block()
    while block.isValid() and not block.text().startswith("──"):
        block = block.previous()
    return block.text()


class Feed:
    def __init__(self, panel, qtbot):
        self.panel, self.qtbot, self.iteration, self.rng = panel, qtbot, 0, random.Random(3)

    def add(self, n, per_flush=5):
        for i in range(n):
            self.panel.add(SampleRecord(self.iteration, sample_text(self.rng), 40.0 - self.iteration / 1000))
            self.iteration += 100
            if i % per_flush == per_flush - 1:
                self.panel.flush()  # as the window's refresh timer does, a few samples at a time
                self.qtbot.wait(1)
        self.panel.flush()
        self.qtbot.wait(1)


def make_panel(qtbot):
    panel = SamplesPanel()
    qtbot.addWidget(panel)
    panel.resize(520, 420)
    with qtbot.waitExposed(panel):
        panel.show()
    return panel


def test_a_user_who_scrolled_up_stays_on_the_same_sample_while_new_ones_arrive(qtbot):
    panel = make_panel(qtbot)
    feed = Feed(panel, qtbot)
    feed.add(120)
    bar = panel.view.verticalScrollBar()
    bar.setValue(bar.maximum() // 3)
    qtbot.wait(10)
    reading = header_at_top(panel)
    assert reading.startswith("── iteration")
    feed.add(40)
    assert header_at_top(panel) == reading and bar.value() < bar.maximum()


def test_it_stays_there_while_the_oldest_lines_are_dropped(qtbot):
    panel = make_panel(qtbot)
    feed = Feed(panel, qtbot)
    feed.add(450)  # past the view's block limit: every new sample now drops the oldest lines
    assert "── iteration 0 " not in panel.view.toPlainText()  # the first samples are gone from the view
    bar = panel.view.verticalScrollBar()
    bar.setValue(bar.maximum() // 2)
    qtbot.wait(10)
    reading = header_at_top(panel)
    for _ in range(6):
        feed.add(10)
        assert header_at_top(panel) == reading


def test_at_the_bottom_the_view_follows_the_newest_sample(qtbot):
    panel = make_panel(qtbot)
    feed = Feed(panel, qtbot)
    feed.add(100)
    bar = panel.view.verticalScrollBar()
    assert bar.value() == bar.maximum()
    for _ in range(5):
        feed.add(7)
        assert bar.value() == bar.maximum()
    last = panel.records[-1]
    assert panel.view.document().lastBlock().text() == last.text.split("\n")[-1]
