"""Dev evaluation through the engine: export the weights, convert them to int8 CTranslate2, decode, score.

Scoring through CTranslate2 (not transformers) measures the model as it will be served, quantization included.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mt._corpora import ParallelPair
from mt._evaluation import score_corpus
from mt._languages import parse_language
from mt._manifest import PromptFormat

if TYPE_CHECKING:
    from mt.training.recipes import Recipe


def convert_checkpoint(
    checkpoint: Path,
    output: Path,
    quantization: str | None,
    manifest_extra: dict[str, Any],
    prompt: PromptFormat | None = None,
) -> None:
    """Convert an exported Hugging Face checkpoint to CTranslate2, replacing ``output``."""
    from mt._convert import convert_model

    convert_model(
        str(checkpoint),
        output,
        quantization=quantization,
        force=True,
        manifest_extra=dict(manifest_extra),
        prompt=prompt,
    )


def evaluate_model(model_dir: Path, dev: Sequence[ParallelPair], threads: int) -> dict[str, Any]:
    """Greedy-decode the dev pairs with a converted model through the engine; sacreBLEU per direction.

    Returns ``{"ja-en": {"bleu", "chrf", "sentences", "example"}, …, "mean_chrf": …}``.
    """
    from mt._engine import RuntimeOptions, TranslationOptions, load_translator

    translator = load_translator(model_dir, RuntimeOptions(device="cpu", compute_type="int8", intra_threads=threads))
    options = TranslationOptions(beam_size=1, max_decoding_length=160)
    scores: dict[str, Any] = {}
    by_direction: dict[str, list[ParallelPair]] = {}
    for pair in dev:
        by_direction.setdefault(f"{pair.source_lang}-{pair.target_lang}", []).append(pair)
    for direction, pairs in sorted(by_direction.items()):
        results = translator.translate_segments(
            [p.source for p in pairs],
            parse_language(pairs[0].source_lang),
            parse_language(pairs[0].target_lang),
            options,
        )
        hyps = [r.text for r in results]
        scored = score_corpus(hyps, [p.target for p in pairs], pairs[0].target_lang)
        scores[direction] = {
            "bleu": scored.bleu,
            "chrf": scored.chrf,
            "sentences": len(pairs),
            "example": hyps[0] if hyps else "",
        }
    scores["mean_chrf"] = round(sum(v["chrf"] for v in scores.values()) / max(1, len(by_direction)), 3)
    return scores


def evaluate_weights(
    recipe: Recipe,
    model: Any,
    work: Path,
    manifest_base: dict[str, Any],
    dev: Sequence[ParallelPair],
    threads: int,
) -> dict[str, Any]:
    """Scores of the model's current weights (see :func:`evaluate_model`), converted in a scratch directory."""
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        recipe.export(model, Path(tmp) / "hf")
        convert_checkpoint(Path(tmp) / "hf", Path(tmp) / "ct2", "int8", manifest_base, recipe.prompt())
        return evaluate_model(Path(tmp) / "ct2", dev, threads)
