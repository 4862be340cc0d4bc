"""One recipe per architecture behind the :class:`Recipe` protocol; :func:`make_recipe` picks it."""

from __future__ import annotations

from mt._errors import InvalidRequest
from mt.training.config import ARCHITECTURES, TrainingConfig
from mt.training.recipes.base import Recipe
from mt.training.recipes.decoder import DecoderRecipe
from mt.training.recipes.marian import MarianRecipe

__all__ = ["DecoderRecipe", "MarianRecipe", "Recipe", "make_recipe"]


def make_recipe(config: TrainingConfig) -> Recipe:
    """The recipe of ``config.arch``; raises :class:`InvalidRequest` for unknown or unsupported settings."""
    if config.arch == "marian":
        if config.init_from:
            raise InvalidRequest("--init-from fine-tunes causal LMs (--arch decoder); Marian models train from scratch")
        return MarianRecipe(config)
    if config.arch == "decoder":
        return DecoderRecipe(config)
    raise InvalidRequest(f"unknown architecture {config.arch!r}; accepted: {', '.join(ARCHITECTURES)}")
