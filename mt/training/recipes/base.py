"""What the training loop asks of an architecture: the :class:`Recipe` protocol."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from mt._corpora import ParallelPair
from mt._manifest import PromptFormat
from mt.training.config import TrainingConfig, require_torch


class Recipe(Protocol):
    """One architecture's part of training: vocabulary, token layout, model, loss and export.

    Token data (``data``) is a dict of lists of token-id lists (and counts) in the recipe's own layout, stored
    by :mod:`mt.training.storage`. ``stage`` is 1 for language-model pretraining, 2 for translation.
    """

    family: str
    config: TrainingConfig

    @property
    def pretrains(self) -> bool:
        """Whether the run starts with a language-modelling stage (stage 1)."""
        ...

    def prompt(self) -> PromptFormat | None:
        """The prompt format written into the manifest (decoder-only models), else None."""
        ...

    def vocabulary(self, work: Path, train_pairs: Sequence[ParallelPair], languages: Sequence[str]) -> None:
        """Load the vocabulary from ``work``, or train it on ``train_pairs`` and store it there."""
        ...

    def encode(self, examples: Sequence[ParallelPair]) -> dict[str, Any]:
        """Token data of the examples, with ``dropped_too_long`` counting those over the length limit."""
        ...

    def lengths(self, data: dict[str, Any], stage: int = 2) -> list[int]:
        """The length of each example of ``stage``, for length-bucketed batches."""
        ...

    def new_model(self) -> Any:
        """A freshly initialised (or ``init_from``) torch model."""
        ...

    def loss(self, model: Any, data: dict[str, Any], rows: list[int], stage: int = 2) -> tuple[Any, int]:
        """(loss tensor, number of tokens) of the examples ``rows``."""
        ...

    def loss_tokens(self, data: dict[str, Any], rows: list[int], stage: int = 2) -> int:
        """How many tokens the loss of ``rows`` is the mean over (the predicted ones): the weight of a batch when
        several are accumulated into one optimizer step."""
        ...

    def after_step(self, model: Any) -> None:
        """Restore invariants the optimizer step may break."""
        ...

    def export(self, model: Any, directory: Path) -> None:
        """Write a Hugging Face checkpoint (weights and tokenizer) that ``kakehashi convert`` reads."""
        ...


def pad_rows(rows: Sequence[Sequence[int]], value: int, device: str = "cpu") -> Any:
    """A (rows, longest) int64 tensor on ``device``, right-padded with ``value``."""
    import numpy as np

    torch = require_torch()
    width = max(len(r) for r in rows)
    out = np.full((len(rows), width), value, dtype=np.int64)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return torch.from_numpy(out).to(device, non_blocking=True)
