"""Translating whole texts: language detection, routing, segmentation, pivoting, reassembly.

:class:`Kakehashi` is the one object the CLI and the REST service talk to. All sentences of all texts in a
call go to the model together (CTranslate2 batches them by tokens), and each text comes back in its
original layout with per-sentence segments: source span, translation, score — the hook for source
references. Calls go down only: the translators the loader returns may wrap the engine (the REST service's
cache and micro-batcher do), but nothing below calls back up.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from mt._engine import RuntimeOptions, SegmentResult, TranslationOptions, Translator, load_translator
from mt._errors import InvalidRequest, UnsupportedLanguage, UnsupportedLanguagePair
from mt._glossary import Glossary, apply_glossary
from mt._langid import DetectedLanguage, LanguageDetector
from mt._languages import Language, parse_language
from mt._registry import Registry, RegistryEntry, Route
from mt._segmentation import Piece, join_translation, segment, split_long, writes_without_spaces

AUTO = "auto"


@dataclass(frozen=True)
class Alternative:
    text: str
    score: float


class Annotation(Protocol):
    """A source reference or a cultural note, as the annotation step (``mt._annotate``) attaches them."""

    def to_json(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Segment:
    """One source sentence and its translation; ``start``/``end`` index the source text.

    ``references`` (the corpus pairs that support the translation, best first) and ``support`` (0..1, the share of
    the output's content words attested in them) are None until the annotation step fills them.
    """

    source: str
    start: int
    end: int
    text: str
    score: float
    alternatives: tuple[str, ...] = ()
    references: tuple[Annotation, ...] | None = None
    support: float | None = None


@dataclass(frozen=True)
class Translation:
    """The translation of one text.

    ``score`` is the mean length-normalised log-probability of its sentences (0 is certain); ``alternatives``
    are whole-text alternatives built from the sentences' n-best lists; ``models`` names the model(s) used,
    two when the pair was pivoted through English. ``notes`` (cultural notes on the source text) and
    ``annotations`` (a status per requested annotation kind, "ok" or why not) are filled by the annotation step.
    """

    text: str
    source_lang: str
    target_lang: str
    score: float
    segments: tuple[Segment, ...] = ()
    alternatives: tuple[Alternative, ...] = ()
    detected: DetectedLanguage | None = None
    source_tokens: int = 0
    target_tokens: int = 0
    models: tuple[str, ...] = ()
    cached: bool = False
    notes: tuple[Annotation, ...] | None = None
    annotations: dict[str, str] = field(default_factory=dict)

    def to_json(self, references: bool = False, notes: bool = False) -> dict[str, Any]:
        """The one JSON form of a translation: the REST API's ``/v1/translate`` rows and ``kakehashi translate
        --json`` lines. ``references`` adds each segment's references and support score and ``notes`` the
        cultural notes, where the annotation step produced them, and either adds ``annotations``, the status of
        each requested kind (a segment's ``references`` are null when its status is not "ok")."""
        detected = (
            None
            if self.detected is None
            else {"language": self.detected.language, "confidence": self.detected.confidence}
        )
        segments = []
        for s in self.segments:
            row: dict[str, Any] = {
                "source": s.source,
                "start": s.start,
                "end": s.end,
                "text": s.text,
                "score": round(s.score, 4),
                "alternatives": list(s.alternatives),
            }
            if references:
                # null, not [], when there are none to give (no index): "annotations" says why.
                row["references"] = None if s.references is None else [r.to_json() for r in s.references]
                row["support"] = None if s.support is None else round(s.support, 4)
            segments.append(row)
        extra: dict[str, Any] = {}
        if notes:
            extra["notes"] = [] if self.notes is None else [n.to_json() for n in self.notes]
        if references or notes:
            requested = [kind for kind, wanted in (("references", references), ("notes", notes)) if wanted]
            extra["annotations"] = {kind: self.annotations.get(kind, "not annotated") for kind in requested}
        return {
            "text": self.text,
            "source": self.source_lang,
            "target": self.target_lang,
            "detected_source": detected,
            "score": round(self.score, 4),
            "alternatives": [{"text": a.text, "score": round(a.score, 4)} for a in self.alternatives],
            "cached": self.cached,
            "models": list(self.models),
            "segments": segments,
            "tokens": {"source": self.source_tokens, "target": self.target_tokens},
            # The names `kakehashi translate --json` printed before the REST API's were adopted, kept so that
            # scripts reading them go on working.
            "source_lang": self.source_lang,
            "target_lang": self.target_lang,
            "detected": detected,
            "source_tokens": self.source_tokens,
            "target_tokens": self.target_tokens,
            **extra,
        }


@dataclass(frozen=True)
class StreamEvent:
    """``delta``: more text of sentence ``segment``; ``translation``: the finished text (last event)."""

    kind: str
    segment: int = -1
    text: str = ""
    translation: Translation | None = None


@dataclass
class _Job:
    """One text on its way through the pipeline: its language, route and sentences."""

    index: int
    text: str
    source: Language
    detected: DetectedLanguage | None
    route: Route | None = None  # None: returned unchanged (empty, or already in the target language)
    pieces: list[Piece] = field(default_factory=list)
    # per translatable piece: the parts it was split into (one unless too long for the model)
    parts: list[list[str]] = field(default_factory=list)

    @property
    def sentences(self) -> list[str]:
        return [part for parts in self.parts for part in parts]


class Kakehashi:
    """Translate texts with the installed models.

    Every call goes down one way: detect the language, route the pair to model(s), segment the texts, run
    each leg of the route on the loaded translators, reassemble. What wraps a translator (the REST service's
    cache and micro-batcher) is given through ``loader``; nothing calls back up.

    Args:
        registry: The installed models.
        runtime: Device, compute type and threads for every model loaded.
        loader: Loads a model directory (tests pass a fake; the default runs CTranslate2; the REST service
            wraps it in its cache and micro-batcher).
        model_directories: Whether ``model`` may name a directory outside the registry (the CLI's
            ``--model DIR``); the REST service accepts registered names only.
    """

    def __init__(
        self,
        registry: Registry,
        runtime: RuntimeOptions | None = None,
        loader: Callable[[Path, RuntimeOptions], Translator] = load_translator,
        model_directories: bool = True,
    ):
        self.registry = registry
        self.runtime = runtime or RuntimeOptions()
        self.model_directories = model_directories
        self._loader = loader
        self._translators: dict[Path, Translator] = {}
        self._lock = threading.Lock()
        self._detector: LanguageDetector | None = None

    # -- models

    def translator(self, entry: RegistryEntry) -> Translator:
        with self._lock:
            if entry.path not in self._translators:
                self._translators[entry.path] = self._loader(entry.path, self.runtime)
            return self._translators[entry.path]

    def load_all(self) -> None:
        for entry in self.registry.entries:
            self.translator(entry)

    @property
    def detector(self) -> LanguageDetector:
        if self._detector is None:
            languages = sorted({lang for e in self.registry.entries for lang in e.manifest.languages})
            self._detector = LanguageDetector(languages or None)
        return self._detector

    def detect(self, text: str) -> DetectedLanguage:
        return self.detector.detect(text)

    def languages(self) -> dict[str, list[str]]:
        """Each source language and the targets reachable from it (directly or by pivot)."""
        sources = sorted({a for e in self.registry.entries for a, _ in e.manifest.directions()})
        targets = sorted({b for e in self.registry.entries for _, b in e.manifest.directions()})
        reachable: dict[str, list[str]] = {}
        for s in sources:
            reachable[s] = []
            for t in targets:
                if s == t:
                    continue
                try:
                    self.registry.route(parse_language(s), parse_language(t))
                except UnsupportedLanguagePair:
                    continue
                reachable[s].append(t)
        return reachable

    def _language(self, code: str) -> Language:
        """:func:`parse_language`, whose error lists the installed models' languages (what can be translated)
        rather than every code the parser knows."""
        try:
            return parse_language(code)
        except UnsupportedLanguage:
            installed = {lang for e in self.registry.entries for lang in e.manifest.languages}
            raise UnsupportedLanguage(str(code), installed, installed=True) from None

    # -- translation

    def translate(
        self,
        texts: Sequence[str],
        source: str,
        target: str,
        *,
        model: str | None = None,
        options: TranslationOptions | None = None,
        deadline: float | None = None,
        glossary: Glossary | None = None,
    ) -> list[Translation]:
        """Translate ``texts`` from ``source`` (a language code or ``"auto"``) into ``target``.

        All sentences of all texts that take the same route go to the model together. ``deadline``
        (``time.monotonic()``) is handed to the translators, for those that queue. ``glossary``: its source
        terms get its target terms in texts of its language pair (:func:`mt._glossary.apply_glossary`).

        Raises:
            UnsupportedLanguage, UnsupportedLanguagePair, ModelNotFound, InvalidModel, InvalidRequest.
        """
        options = options or TranslationOptions()
        target_lang = self._language(target)
        jobs = self._plan(texts, source, target_lang, model, options)
        _check_glossary(glossary, source, target_lang)
        # Texts that take the same route (the same source language) share one call per leg.
        groups: dict[str, list[_Job]] = {}
        for job in jobs:
            if job.route is not None:
                groups.setdefault(job.source.code, []).append(job)
        results = {job.index: self._unchanged(job, target_lang) for job in jobs if job.route is None}
        for group in groups.values():
            route = group[0].route
            assert route is not None
            sentences = [sentence for job in group for sentence in job.sentences]
            if glossary is not None and group[0].source.base == glossary.source:

                def run(batch: list[str], leg_options: TranslationOptions, r: Route = route) -> list[SegmentResult]:
                    return self._run_route(batch, r, leg_options, deadline)

                translated = apply_glossary(glossary, sentences, options, run)
            else:
                translated = self._run_route(sentences, route, options, deadline)
            cursor = 0
            for job in group:
                count = len(job.sentences)
                results[job.index] = self._assemble(job, translated[cursor : cursor + count], target_lang)
                cursor += count
        return [results[job.index] for job in jobs]

    def stream(
        self,
        text: str,
        source: str,
        target: str,
        *,
        model: str | None = None,
        options: TranslationOptions | None = None,
        deadline: float | None = None,
        glossary: Glossary | None = None,
    ) -> Iterator[StreamEvent]:
        """Translate one text sentence by sentence, yielding text as the model produces it.

        Planning (detection, routing, segmentation) is :meth:`translate`'s. Decoding is greedy (or sampled):
        beam search needs the whole hypothesis before it can answer. Pivoted pairs stream the last leg.
        Streamed sentences carry no score (0.0). With a ``glossary``, a sentence holding one of its terms is
        translated as :meth:`translate` does it and arrives in one delta: its placeholders can only be checked
        and replaced once the sentence is complete.
        """
        options = options or TranslationOptions(beam_size=1)
        target_lang = self._language(target)
        job = self._plan([text], source, target_lang, model, options)[0]
        _check_glossary(glossary, source, target_lang)
        if job.route is None:
            yield StreamEvent("translation", translation=self._unchanged(job, target_lang))
            return
        route = job.route
        sentences = job.sentences
        whole: set[int] = set()
        if glossary is not None and job.source.base == glossary.source:
            whole = {i for i, sentence in enumerate(sentences) if glossary.prepare(sentence).slots}
        if route.pivoted:
            leading = Route(route.steps[:-1])
            streamed = [i for i in range(len(sentences)) if i not in whole]
            pivoted = self._run_route([sentences[i] for i in streamed], leading, _leg_options(options), deadline)
            sentences = list(sentences)
            for i, result in zip(streamed, pivoted):
                sentences[i] = result.text
        entry, step_source, step_target = route.steps[-1]
        last = self.translator(entry)
        joiner = "" if writes_without_spaces(target_lang.code) else " "
        translated: list[str] = []
        cursor = 0
        for index, parts in enumerate(job.parts):
            pieces_out: list[str] = []
            for number, part in enumerate(sentences[cursor : cursor + len(parts)]):
                if number:
                    yield StreamEvent("delta", index, joiner)
                if cursor + number in whole:
                    assert glossary is not None

                    def run(batch: list[str], leg_options: TranslationOptions, r: Route = route) -> list[SegmentResult]:
                        return self._run_route(batch, r, leg_options, deadline)

                    produced = apply_glossary(glossary, [part], options, run)[0].text
                    yield StreamEvent("delta", index, produced)
                    pieces_out.append(produced)
                    continue
                produced = ""
                for delta in last.stream_segment(
                    part, parse_language(step_source), parse_language(step_target), options, deadline
                ):
                    produced += delta
                    yield StreamEvent("delta", index, delta)
                pieces_out.append(produced)
            cursor += len(parts)
            translated.append(joiner.join(pieces_out))
        spans = [p for p in job.pieces if p.translate]
        segments = tuple(Segment(span.text, span.start, span.end, out, 0.0) for span, out in zip(spans, translated))
        yield StreamEvent(
            "translation",
            translation=Translation(
                text=join_translation(job.pieces, translated, target_lang.code),
                source_lang=job.source.code,
                target_lang=target_lang.code,
                score=0.0,
                segments=segments,
                detected=job.detected,
                models=tuple(step[0].name for step in route.steps),
            ),
        )

    # -- the steps

    def _plan(
        self, texts: Sequence[str], source: str, target: Language, model: str | None, options: TranslationOptions
    ) -> list[_Job]:
        """Detect each text's language, route its pair and split it into sentences that fit the first model."""
        fixed_source = None if source == AUTO else self._language(source)
        routes: dict[str, Route] = {}
        jobs: list[_Job] = []
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                raise InvalidRequest(f"text {index} is a {type(text).__name__}; texts must be strings")
            detected = None
            lang = fixed_source
            if lang is None:
                if text.strip() and any(ch.isalpha() for ch in text):
                    detected = self.detect(text)
                    lang = parse_language(detected.language)
                else:
                    lang = target
            job = _Job(index, text, lang, detected)
            jobs.append(job)
            if not text.strip() or lang.base == target.base:
                continue
            if lang.code not in routes:
                routes[lang.code] = self.registry.route(lang, target, model, self.model_directories)
            job.route = routes[lang.code]
            self._segment(job, options)
        return jobs

    def _segment(self, job: _Job, options: TranslationOptions) -> None:
        assert job.route is not None
        entry, step_source, step_target = job.route.steps[0]
        first = self.translator(entry)
        limit = options.max_input_tokens or first.manifest.max_input_tokens
        if first.manifest.max_positions:
            # Room for a language token and </s> within the model's position table.
            limit = min(limit, first.manifest.max_positions - 2)
        languages = (parse_language(step_source), parse_language(step_target))
        job.pieces = segment(job.text)
        for piece in job.pieces:
            if piece.translate:
                parts = [p.strip() for p in split_long(piece.text, limit, lambda t: first.count_tokens(t, *languages))]
                job.parts.append([p for p in parts if p] or [piece.text])

    def _unchanged(self, job: _Job, target: Language) -> Translation:
        # Empty text translates to empty text; text already in the target language is returned as is.
        return Translation(job.text, job.source.code, target.code, 0.0, detected=job.detected)

    def _assemble(self, job: _Job, results: list[SegmentResult], target: Language) -> Translation:
        """One text's translation from its sentences' results, in its original layout."""
        assert job.route is not None
        translated: list[str] = []
        segments: list[Segment] = []
        scores: list[float] = []
        # per sentence: (text, score) of the best and of each further hypothesis
        per_sentence_alternatives: list[list[tuple[str, float]]] = []
        source_tokens = target_tokens = 0
        joiner = "" if writes_without_spaces(target.code) else " "
        spans = [p for p in job.pieces if p.translate]
        cursor = 0
        for span, parts in zip(spans, job.parts):
            chunk = results[cursor : cursor + len(parts)]
            cursor += len(parts)
            text = joiner.join(r.text for r in chunk)
            score = sum(r.score for r in chunk) / len(chunk)
            ranked = [(text, score)]
            for i in range(1, max(len(r.hypotheses) for r in chunk)):
                picked = [r.hypotheses[min(i, len(r.hypotheses) - 1)] for r in chunk]
                ranked.append((joiner.join(h.text for h in picked), sum(h.score for h in picked) / len(picked)))
            translated.append(text)
            scores.append(score)
            per_sentence_alternatives.append(ranked)
            segments.append(Segment(span.text, span.start, span.end, text, score, tuple(t for t, _ in ranked[1:])))
            source_tokens += sum(r.source_tokens for r in chunk)
            target_tokens += sum(r.hypotheses[0].tokens for r in chunk)
        text = join_translation(job.pieces, translated, target.code)
        n_alternatives = max((len(a) for a in per_sentence_alternatives), default=1)
        whole_alternatives: list[Alternative] = []
        for i in range(1, n_alternatives):
            variant = [a[min(i, len(a) - 1)] for a in per_sentence_alternatives]
            whole = join_translation(job.pieces, [t for t, _ in variant], target.code)
            if whole != text and all(whole != w.text for w in whole_alternatives):
                whole_alternatives.append(Alternative(whole, sum(sc for _, sc in variant) / len(variant)))
        return Translation(
            text=text,
            source_lang=job.source.code,
            target_lang=target.code,
            score=sum(scores) / len(scores) if scores else 0.0,
            segments=tuple(segments),
            alternatives=tuple(whole_alternatives),
            detected=job.detected,
            source_tokens=source_tokens,
            target_tokens=target_tokens,
            models=tuple(step[0].name for step in job.route.steps),
            cached=bool(segments) and all(r.cached for r in results),
        )

    def _run_route(
        self, sentences: list[str], route: Route, options: TranslationOptions, deadline: float | None
    ) -> list[SegmentResult]:
        current = sentences
        results: list[SegmentResult] = []
        for number, (entry, source_code, target_code) in enumerate(route.steps):
            last = number == len(route.steps) - 1
            # Only the final leg of a pivot needs n-best lists and the user's target prefix.
            step_options = options if last else _leg_options(options)
            results = self.translator(entry).translate_segments(
                current, parse_language(source_code), parse_language(target_code), step_options, deadline
            )
            current = [r.text for r in results]
        return results


def _check_glossary(glossary: Glossary | None, source: str, target: Language) -> None:
    if glossary is not None and (
        glossary.target != target.base or (source != AUTO and parse_language(source).base != glossary.source)
    ):
        raise InvalidRequest(
            f"the glossary translates {glossary.source}→{glossary.target}; this request is {source}→{target.code}"
        )


def _leg_options(options: TranslationOptions) -> TranslationOptions:
    """The options of a pivot's leading leg: the same search, one hypothesis, no target prefix."""
    return TranslationOptions(
        beam_size=options.beam_size,
        max_decoding_length=options.max_decoding_length,
        max_batch_tokens=options.max_batch_tokens,
    )
