"""Fakes for unit tests of everything above the engine (pipeline, service, annotation): a Translator, a
reference index, and a service wired to them."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mt import Hypothesis, Language, Manifest, SegmentResult, TranslationOptions
from mt._references import Reference

if TYPE_CHECKING:
    from serve._service import TranslationService


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


def _content(text: str) -> list[str]:
    return [w for w in text.lower().strip(".").replace(".", " ").split() if len(w) > 3]


class FakeIndex:
    """Finds a record when the source is its source or the output shares a content word (over 3 letters) with it
    (retrieval uses both); support = share of the
    output's content words in the targets."""

    RECORDS = (
        Reference(
            "wiki_kyoto", "CLT00199:s1", "https://ja.wikipedia.org/?curid=817202", "CC BY-SA 3.0",
            "祇園祭は祭です。", "Gion Matsuri Festival is a festival.", 12.5, True, (40, 41), 2,
        ),
    )  # fmt: skip

    def __init__(self) -> None:
        self.searched: list[tuple[str, str, str, str, int]] = []

    def search(self, source: str, output: str, source_lang: str, target_lang: str, k: int = 3) -> list[Any]:
        self.searched.append((source, output, source_lang, target_lang, k))
        words = set(_content(output))
        return [r for r in self.RECORDS if r.source == source or words & set(_content(r.target))][:k]

    def support(self, output: str, references: Sequence[Any], target_lang: str) -> float:
        words = _content(output)
        attested = {w for r in references for w in _content(r.target)}
        return sum(w in attested for w in words) / len(words) if words else 0.0


def annotated_service(
    tmp_path: Path, index_loader: Any = None, **settings: Any
) -> tuple[TranslationService, FakeTranslator]:
    """A service over one fake ja↔en model whose annotator finds references with ``index_loader`` (default: a
    FakeIndex) and the server ``settings`` given. Returns the service (stop it when done) and the fake engine."""
    from mt import RuntimeOptions, Settings
    from mt._annotate import Annotator
    from serve._service import TranslationService
    from serve._settings import ServeSettings

    write_manifest(tmp_path / "models" / "ja-en", "ja-en", ("ja", "en"), (("ja", "en"), ("en", "ja")))
    (tmp_path / "registry.toml").write_text('[[model]]\nname = "ja-en"\npath = "models/ja-en"\n', encoding="utf-8")
    engine = FakeTranslator(Manifest(name="ja-en", family="marian", languages=("ja", "en"), source="test"))

    def loader(directory: Path, runtime: RuntimeOptions) -> FakeTranslator:
        engine.manifest = Manifest.load(directory)
        return engine

    settings.setdefault("batch_wait_ms", 0)
    service = TranslationService(
        ServeSettings(engine=Settings(registry=(tmp_path / "registry.toml",)), **settings), loader=loader
    )
    service.annotator = Annotator(service.kakehashi.registry, index_loader=index_loader or (lambda d, m: FakeIndex()))
    return service, engine
