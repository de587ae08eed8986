"""The speed control: training at reading pace (1, 10, 100 iterations a second), Pause still instant."""

from PySide6.QtCore import QSettings

from core.runs import read_run

from .helpers import use_small_settings, wait_iterations


class StepTimes:
    """The engine's clock at the end of each step it reports (its progress rows), from the first iteration after
    `after` on; checks the steps come in order, none missing."""

    def __init__(self, client, after: int = 0):
        self.after = after
        self.iterations: list[int] = []
        self.times: list[float] = []
        client.progressed.connect(self.on_rows)

    def on_rows(self, rows) -> None:
        for iteration, time in zip(rows.iteration, rows.time):
            if iteration > self.after:
                self.iterations.append(int(iteration))
                self.times.append(float(time))

    def __len__(self) -> int:
        return len(self.times)

    def gaps(self, first: int, last: int) -> float:
        """Seconds of the engine's clock between the ends of steps first and last (indices here), which are
        consecutive iterations."""
        assert self.iterations[first:last + 1] == list(range(self.iterations[first], self.iterations[last] + 1))
        return self.times[last] - self.times[first]


def paced_window(small_window, qtbot, speed):
    """small_window training at `speed`, set before its model was made; (window, its StepTimes)."""
    w = small_window
    w.session.set_speed(speed)
    w.start()
    times = StepTimes(w.session.client)  # connected before the engine has opened: every row is seen
    return w, times


def test_at_ten_iterations_a_second_steps_are_a_tenth_of_a_second_apart_and_unlimited_is_live(small_window, qtbot):
    # Pacing makes steps never start closer than 1/speed: load only spreads them further, so the test waits for the
    # steps it needs (however long they take here) and checks their spacing on the engine's clock, never a count in a
    # second of wall time.
    w, times = paced_window(small_window, qtbot, 10)
    qtbot.waitUntil(lambda: len(times) >= 8, timeout=30_000)
    # At most ten a second: seven gaps of at least 0.1 s each (less one of slack: a row is timed when its step ends,
    # and one step may take a little longer than another).
    assert times.gaps(0, 7) >= 0.1 * 6, times.times[:8]
    w.session.set_speed(0)  # back to unlimited, live
    status = w.session.client.status().value  # answered after the Speed command: it is in force
    assert status.speed == 0.0 and status.state == "running"
    it0 = status.iteration
    qtbot.waitUntil(lambda: w.session.iteration >= it0 + 2000, timeout=30_000)  # paced, 2000 would take 200 s
    w.pause()


def test_pause_does_not_wait_for_the_next_paced_step(small_window, qtbot):
    # At one step in a hundred seconds, a pause that waited out the pace would take effect after ~100 s: it takes
    # effect at once (the engine's wait is woken by the command), which the test sees without timing it: the engine
    # answers within the session's 2 s and says it is idle.
    w, times = paced_window(small_window, qtbot, 0.01)
    paused = []
    w.session.client.paused.connect(paused.append)
    qtbot.waitUntil(lambda: w.session.iteration >= 1, timeout=10_000)
    w.session.pause()
    assert w.session.state == "paused" and paused == [1]  # delivered before pause() returned
    status = w.session.client.status()
    assert status.ok and status.value.state == "idle" and status.value.iteration == 1 and status.value.speed == 0.01
    assert w.session.iteration == 1 and times.iterations == [1]


def test_closing_while_waiting_for_the_next_paced_step_ends_the_run_at_once(small_window, qtbot):
    # The engine is told to stop while it waits 100 s for its next step: it stops (and finishes its run) rather than
    # being killed after the close's 2 s.
    w, _ = paced_window(small_window, qtbot, 0.01)
    qtbot.waitUntil(lambda: w.session.iteration >= 1 and w.session.run_path is not None, timeout=10_000)
    path, client = w.session.run_path, w.session.client
    ended = []
    client.ended.connect(ended.append)
    w.session.discard_model()
    assert ended == ["finished"] and not client.running  # the engine's own ENDED event: it stopped, not killed
    assert read_run(path).status == "finished"


def test_the_speed_combo_paces_the_window_live_and_is_remembered(make_window, qtbot):
    w = make_window()
    combo = w.settings_panel.speed_combo
    assert combo.objectName() == "speedCombo" and combo.currentText() == "Unlimited"
    assert [combo.itemText(i) for i in range(combo.count())] == ["Unlimited", "100 iterations/s", "10 iterations/s",
                                                                "1 iteration/s"]
    w.start()
    wait_iterations(w, qtbot, 20)
    client = w.session.client
    combo.setCurrentIndex(combo.findText("10 iterations/s"))  # while training
    assert w.session.speed == 10.0
    status = client.status().value  # answered after the Speed command: every later step is paced
    assert status.speed == 10.0 and status.state == "running"  # live
    times = StepTimes(client, after=status.iteration)  # (rows reach the window only from its event loop)
    qtbot.waitUntil(lambda: len(times) >= 6, timeout=30_000)
    assert times.gaps(1, 5) >= 0.1 * 3, times.times  # at most ten a second (one gap of slack, as above)
    w.pause()  # the toolbar's Pause
    assert w.session.state == "paused" and client.status().value.state == "idle"
    w.close()
    assert float(QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "charrnn",
                           "charrnn-gui").value("training/speed")) == 10.0
    again = make_window()
    assert again.settings_panel.speed_combo.currentText() == "10 iterations/s"
    assert again.session.speed == 10.0
    use_small_settings(again)
    again.step_once()  # a new model's engine gets the speed too
    qtbot.waitUntil(lambda: again.session.iteration == 1, timeout=10_000)
    assert again.session.client.status().value.speed == 10.0
