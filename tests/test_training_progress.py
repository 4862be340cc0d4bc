"""The training progress line: a resumed session's time left comes from its own speed, not the whole run's."""

from __future__ import annotations

import io
import math

from mt.training.progress import Progress


def test_a_resumed_session_measures_its_own_speed_to_max_steps() -> None:
    # Resumed at step 9,400 after 575 minutes of a run that was faster elsewhere; 30 s a step here.
    progress = Progress(budget_s=None, max_steps=9_500)
    assert math.isnan(progress.time_left(9_400, 575 * 60))  # no speed yet
    assert progress.time_left(9_410, 575 * 60 + 300) == 90 * 30
    assert progress.time_left(9_500, 575 * 60 + 3000) == 0
    assert progress.time_left(9_510, 575 * 60 + 3300) == 0  # past max_steps: nothing left, never negative


def test_the_time_budget_ends_the_session_when_it_comes_first() -> None:
    progress = Progress(budget_s=600.0, max_steps=1_000)
    progress.time_left(0, 0.0)
    assert progress.time_left(10, 100.0) == 500.0  # max_steps would take 9,900 s more
    assert Progress(budget_s=600.0, max_steps=None).time_left(5, 120.0) == 480.0


def test_the_line_shows_the_session_s_bar_and_time_left() -> None:
    stream = io.StringIO()
    progress = Progress(budget_s=None, max_steps=200, stream=stream)
    progress.show(100, 1000.0, 3.5, 700.0, 1e-4)
    assert "step 100 loss 3.500 700 tok/s lr 1.00e-04 elapsed 16.7m ETA unknown" in stream.getvalue()
    progress.last = 0.0  # redraw now
    progress.show(150, 1500.0, 3.0, 700.0, 1e-4)
    line = stream.getvalue().rsplit("\r", 1)[-1]
    assert line.startswith("[" + "#" * 12 + " " * 12 + "] step 150")  # half of this session's 100 steps
    assert "ETA 8.3m" in line  # 50 steps at 10 s
