"""The annotation step: source references and cultural notes added to finished translations.

It runs after translation and reassembly, outside the cache and the micro-batcher, so a cached translation is
annotated like a fresh one. Every requested kind gets an explicit status in ``Translation.annotations`` ("ok", or
why it could not be done), so that a missing reference index is never mistaken for "no match".
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from mt._errors import InvalidRequest, KakehashiError, MissingDependency, ReferenceIndexMissing
from mt._lexicon import CulturalLexicon
from mt._pipeline import Segment, Translation
from mt._registry import Registry, RegistryEntry

if TYPE_CHECKING:
    from mt._manifest import Manifest

OK = "ok"
MAX_REFERENCES = 20


class ReferenceSearch(Protocol):
    """What the annotator needs of a reference index (``mt._references.ReferenceIndex``)."""

    def search(self, source: str, output: str, source_lang: str, target_lang: str, k: int = 3) -> list[Any]: ...

    def support(self, output: str, references: Sequence[Any], target_lang: str) -> float: ...


IndexLoader = Callable[[Path, "Manifest"], ReferenceSearch]


def _real_index_loader(model_dir: Path, manifest: Manifest) -> ReferenceSearch:
    try:
        references = importlib.import_module("mt._references")
    except ImportError as exc:
        if exc.name == "mt._references":
            raise KakehashiError("this installation has no reference index support (mt._references)") from exc
        raise MissingDependency(str(exc.name), "bridge", "Source references") from exc
    index: ReferenceSearch = references.ReferenceIndex.for_model(model_dir, manifest)
    return index


class Annotator:
    """Adds references, support scores and cultural notes to translations.

    Args:
        registry: Where the models named in ``Translation.models`` are looked up (their directory and manifest
            locate the reference index).
        lexicon: The cultural lexicon; the shipped one by default (read on first use).
        index_loader: ``(model_dir, manifest) -> index``; ``mt._references.ReferenceIndex.for_model`` by default.
            Tests pass a fake.
    """

    def __init__(
        self,
        registry: Registry,
        lexicon: CulturalLexicon | None = None,
        index_loader: IndexLoader | None = None,
    ):
        self.registry = registry
        self.lexicon = lexicon or CulturalLexicon()
        self._index_loader = index_loader or _real_index_loader
        self._indexes: dict[str, ReferenceSearch] = {}
        self._lock = threading.Lock()

    def index(self, entry: RegistryEntry) -> ReferenceSearch:
        """The reference index of a model, loaded on first use, once (a failure is not remembered, so an index
        built later is found).

        Raises:
            ReferenceIndexMissing: The model has no index (from ``mt._references``).
            MissingDependency: The ``bridge`` extra is not installed.
        """
        key = str(entry.path)
        with self._lock:
            if key not in self._indexes:
                self._indexes[key] = self._index_loader(entry.path, entry.manifest)
            return self._indexes[key]

    def annotate(
        self, translation: Translation, references: bool = False, notes: bool = False, k: int = 3
    ) -> Translation:
        """``translation`` with the requested annotations and their status in ``annotations``.

        Args:
            translation: A finished translation (from :meth:`Kakehashi.translate` or the last stream event).
            references: Fill each segment's ``references`` (top ``k`` supporting corpus pairs) and ``support``.
            notes: Fill ``notes`` with the cultural notes of the source text.
            k: References per segment, 1 to 20.

        Raises:
            InvalidRequest: ``k`` is out of range.
        """
        if not 1 <= k <= MAX_REFERENCES:
            raise InvalidRequest(f"k (references per segment) must be between 1 and {MAX_REFERENCES}, not {k}")
        annotations = dict(translation.annotations)
        changes: dict[str, Any] = {}
        if references:
            annotations["references"], segments = self._references(translation, k)
            if segments is not None:
                changes["segments"] = segments
        if notes:
            annotations["notes"], found = self._notes(translation)
            changes["notes"] = found
        if not changes and annotations == translation.annotations:
            return translation
        return replace(translation, annotations=annotations, **changes)

    def _references(self, translation: Translation, k: int) -> tuple[str, tuple[Segment, ...] | None]:
        if not translation.models:
            return "not translated: the text was returned unchanged, so there is nothing to support", None
        if len(translation.models) != 1:
            # A pivoted translation's output was produced by a model whose training data is not in the source
            # language, so no single index can support it.
            return f"not available for pivoted translations (models {', '.join(translation.models)})", None
        name = translation.models[0]
        try:
            index = self.index(self.registry.get(name))
        except ReferenceIndexMissing:
            # Not the exception's text: it lists the directories searched, which a server must not reveal.
            return f"no index for model {name}: run kakehashi index build --model {name}", None
        except KakehashiError as exc:
            return f"reference index of model {name} unusable: {exc}", None
        segments = []
        for segment in translation.segments:
            found = index.search(segment.source, segment.text, translation.source_lang, translation.target_lang, k)
            support = index.support(segment.text, found, translation.target_lang) if segment.text.strip() else 0.0
            segments.append(replace(segment, references=tuple(found), support=support))
        return OK, tuple(segments)

    def _notes(self, translation: Translation) -> tuple[str, tuple[Any, ...]]:
        try:
            found = [
                replace(note, start=note.start + segment.start, end=note.end + segment.start)
                for segment in translation.segments
                for note in self.lexicon.notes(segment.source, translation.source_lang)
            ]
        except KakehashiError as exc:
            return f"cultural lexicon unavailable: {exc}", ()
        return OK, tuple(found)
