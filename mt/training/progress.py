"""The progress line of a training run on stderr: steps, loss, throughput, learning rate, time left."""

from __future__ import annotations

import sys
import time
from typing import Any


class Progress:
    """One progress line on stderr, redrawn at most every two seconds."""

    def __init__(self, budget_s: float | None, max_steps: int | None):
        self.budget_s = budget_s
        self.max_steps = max_steps
        self.last = 0.0

    def show(self, step: int, elapsed: float, loss: Any, tokens_per_s: float, lr: float) -> None:
        """``loss`` is a tensor, read (a device synchronisation) only when the line is redrawn."""
        now = time.monotonic()
        if now - self.last < 2.0:
            return
        self.last = now
        loss = float(loss.detach()) if hasattr(loss, "detach") else float(loss)
        if self.max_steps:
            fraction = step / self.max_steps
        elif self.budget_s:
            fraction = elapsed / self.budget_s
        else:
            fraction = 0.0
        eta = (elapsed / fraction - elapsed) if fraction > 0 else float("nan")
        width = 24
        bar = "#" * int(width * min(fraction, 1.0))
        sys.stderr.write(
            f"\r[{bar:<{width}}] step {step} loss {loss:.3f} {tokens_per_s:,.0f} tok/s lr {lr:.2e} "
            f"elapsed {elapsed / 60:.1f}m ETA {eta / 60:.1f}m "
        )
        sys.stderr.flush()
