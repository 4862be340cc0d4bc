"""The progress line of a training run on stderr: steps, loss, throughput, learning rate, time left."""

from __future__ import annotations

import math
import sys
import time
from typing import Any, TextIO


class Progress:
    """One progress line on stderr, redrawn at most every two seconds.

    The bar and the time left are this session's: a resumed run starts at its checkpoint's step and elapsed
    time, and its speed is measured from there (the whole run's average would mix in other machines). The time
    left is the nearer of the time budget's end and ``max_steps`` at this session's speed.
    """

    def __init__(self, budget_s: float | None, max_steps: int | None, stream: TextIO | None = None):
        self.budget_s = budget_s
        self.max_steps = max_steps
        self.stream = stream or sys.stderr
        self.start: tuple[int, float] | None = None  # (step, elapsed seconds) at the session's first line
        self.last = 0.0

    def time_left(self, step: int, elapsed: float) -> float:
        """Seconds until the session stops, or NaN before its speed is known (without a time budget)."""
        if self.start is None:
            self.start = (step, elapsed)
        left = []
        if self.budget_s:
            left.append(max(self.budget_s - elapsed, 0.0))
        start_step, start_elapsed = self.start
        if self.max_steps and step > start_step:
            seconds_a_step = (elapsed - start_elapsed) / (step - start_step)
            left.append(max(self.max_steps - step, 0) * seconds_a_step)
        return min(left) if left else math.nan

    def show(self, step: int, elapsed: float, loss: Any, tokens_per_s: float, lr: float) -> None:
        """``loss`` is a tensor, read (a device synchronisation) only when the line is redrawn."""
        now = time.monotonic()
        if now - self.last < 2.0:
            return
        self.last = now
        loss = float(loss.detach()) if hasattr(loss, "detach") else float(loss)
        eta = self.time_left(step, elapsed)
        done = elapsed - (self.start[1] if self.start else elapsed)
        fraction = done / (done + eta) if not math.isnan(eta) and done + eta > 0 else 0.0
        eta_text = "unknown" if math.isnan(eta) else f"{eta / 60:.1f}m"
        width = 24
        bar = "#" * int(width * min(fraction, 1.0))
        self.stream.write(
            f"\r[{bar:<{width}}] step {step} loss {loss:.3f} {tokens_per_s:,.0f} tok/s lr {lr:.2e} "
            f"elapsed {elapsed / 60:.1f}m ETA {eta_text} "
        )
        self.stream.flush()
