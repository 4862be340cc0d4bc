"""A fake Translator for unit tests of everything above the engine (pipeline, service)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from mt import Hypothesis, Language, Manifest, SegmentResult, TranslationOptions


class FakeTranslator:
    """Translates by tagging: ``猫`` ja→en becomes ``[en]猫``; records every batch it is given
    and every sentence it streams.

    n-best hypotheses are ``[en]猫#1``, ``[en]猫#2``, … with decreasing scores; tokens are characters.
    """

    def __init__(self, manifest: Manifest):
        self.manifest = manifest
        self.batches: list[list[str]] = []
        self.streamed: list[str] = []
        # Tests clear ``release`` to hold batches inside the engine; ``entered`` says one has arrived.
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()

    def count_tokens(self, text: str, source: Language | None = None, target: Language | None = None) -> int:
        return len(text)

    def stream_segment(
        self,
        sentence: str,
        source: Language,
        target: Language,
        options: TranslationOptions,
        deadline: float | None = None,
    ) -> Iterator[str]:
        self.streamed.append(sentence)
        text = f"[{target.code}]{sentence}"
        yield from (text[i : i + 3] for i in range(0, len(text), 3))

    def translate_segments(
        self,
        segments: Sequence[str],
        source: Language,
        target: Language,
        options: TranslationOptions,
        deadline: float | None = None,
    ) -> list[SegmentResult]:
        self.entered.set()
        assert self.release.wait(10), "a test held a batch for more than 10 s"
        self.batches.append(list(segments))
        out = []
        for text in segments:
            best = f"[{target.code}]{text}"
            hypotheses = [Hypothesis(best, -0.1, len(best))]
            hypotheses += [Hypothesis(f"{best}#{i}", -0.1 - i, len(best) + 2) for i in range(1, options.n_best)]
            out.append(SegmentResult(tuple(hypotheses), len(text)))
        return out


def write_manifest(
    directory: Path,
    name: str,
    languages: tuple[str, ...],
    pairs: tuple[tuple[str, str], ...] = (),
    max_input_tokens: int = 512,
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    Manifest(
        name=name, family="marian", languages=languages, source="test", pairs=pairs, max_input_tokens=max_input_tokens
    ).save(directory)
    return directory
