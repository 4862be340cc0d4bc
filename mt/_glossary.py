"""User glossaries: parsing, validation and application at translation time.

A :class:`Glossary` maps source terms to the target terms a translation must use. It is applied by placeholder
substitution, which measured as the robust choice with the shipped models (``benchmarks/glossary.py``): each
source term is replaced by a Latin capital the sentence does not contain (``X``, ``Y``, …), which the models
copy through, and the placeholder in the output is replaced by the required target term. A sentence whose
output lost or duplicated a placeholder is translated again without placeholders, and the model's own
rendering of each term (the term translated alone) is replaced by the required one.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from mt._engine import Hypothesis, SegmentResult, TranslationOptions
from mt._errors import InvalidRequest
from mt._languages import parse_language
from mt._segmentation import writes_without_spaces

FORMATS = ("tsv", "csv", "json")
MAX_TERM_CHARS = 256
MAX_ENTRIES = 5000
# Latin capitals the shipped models copy through as names; never letters a sentence already contains.
PLACEHOLDERS = ("X", "Y", "Z", "W", "V", "Q", "K", "J")
_ARTICLE = re.compile(r"(?:the|a|an)\s", re.IGNORECASE)
_TRAILING_ARTICLE = re.compile(r"(?<![A-Za-z])(?:the|a|an)\s+$", re.IGNORECASE)


@dataclass(frozen=True)
class GlossaryOptions(TranslationOptions):
    """Decoding options of sentences translated with glossary placeholders: the glossary's content hash is an
    option, so cache keys and micro-batches never mix them with plain translations."""

    glossary: str = field(default="", metadata={"type": "string", "request": False, "bounds": {}})


@dataclass(frozen=True)
class Glossary:
    """Required renderings of source terms, for one language pair.

    Args:
        source: Source language code (base language, such as ``ja``).
        target: Target language code.
        entries: ``(source term, target term)`` pairs, in the order given.
        name: A label (DeepL's glossary name).

    Raises:
        InvalidRequest: no entries, an empty or over-long term, a term with a tab or line break, a duplicate
            source term, or one source term inside another.
    """

    source: str
    target: str
    entries: tuple[tuple[str, str], ...]
    name: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "source", parse_language(self.source).base)
        object.__setattr__(self, "target", parse_language(self.target).base)
        if self.source == self.target:
            raise InvalidRequest(
                f"a glossary translates between two languages; source and target are both {self.source}"
            )
        if not self.entries:
            raise InvalidRequest("the glossary has no entries; give at least one 'source term → target term' pair")
        if len(self.entries) > MAX_ENTRIES:
            raise InvalidRequest(f"the glossary has {len(self.entries)} entries; at most {MAX_ENTRIES} are accepted")
        seen: dict[str, int] = {}
        for number, (term, rendering) in enumerate(self.entries, start=1):
            for kind, value in (("source", term), ("target", rendering)):
                if not isinstance(value, str) or not value.strip():
                    raise InvalidRequest(f"glossary entry {number} has an empty {kind} term; both terms are required")
                if value != value.strip() or any(c in value for c in "\t\r\n"):
                    raise InvalidRequest(
                        f"glossary entry {number}'s {kind} term {value!r} has surrounding spaces, a tab or a line "
                        "break; terms are single-line text without leading or trailing spaces"
                    )
                if len(value) > MAX_TERM_CHARS:
                    raise InvalidRequest(f"glossary entry {number}'s {kind} term exceeds {MAX_TERM_CHARS} characters")
            key = self._fold(term)
            if key in seen:
                raise InvalidRequest(
                    f"glossary entry {number} duplicates the source term {term!r} of entry {seen[key]}; "
                    "each source term may appear once"
                )
            seen[key] = number
        # Which term lies inside another: every window of each term, of each length a term has (not all pairs).
        lengths = sorted({len(t) for t in seen})
        for b in seen:
            for n in lengths:
                if n >= len(b):
                    break
                for start in range(len(b) - n + 1):
                    a = b[start : start + n]
                    if a in seen:
                        raise InvalidRequest(
                            f"glossary source terms overlap: {a!r} (entry {seen[a]}) is part of {b!r} "
                            f"(entry {seen[b]}); source terms must not contain one another"
                        )

    def _fold(self, term: str) -> str:
        # Languages written with spaces match terms regardless of case; the others exactly.
        return term if writes_without_spaces(self.source) else term.casefold()

    @cached_property
    def content_hash(self) -> str:
        """SHA-256 of the glossary's canonical JSON (languages and entries; the name does not count)."""
        canonical = json.dumps(
            {"source": self.source, "target": self.target, "entries": [list(e) for e in self.entries]},
            ensure_ascii=False,
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def to_json(self) -> dict[str, Any]:
        """The glossary as a JSON object that :func:`parse_glossary` (format ``json``) reads back."""
        return {
            "name": self.name,
            "source_lang": self.source,
            "target_lang": self.target,
            "entries": [list(e) for e in self.entries],
        }

    def to_tsv(self) -> str:
        return "\n".join(f"{s}\t{t}" for s, t in self.entries)

    @cached_property
    def _pattern(self) -> re.Pattern[str]:
        # Compiled once per glossary: a sentence is matched against every term at once, longest first.
        terms = sorted((re.escape(s) for s, _ in self.entries), key=len, reverse=True)
        if writes_without_spaces(self.source):
            return re.compile("|".join(terms))
        return re.compile(r"(?<!\w)(?:" + "|".join(terms) + r")(?!\w)", re.IGNORECASE)

    def prepare(self, sentence: str) -> PreparedSentence:
        """``sentence`` with each glossary term replaced by a placeholder (unchanged when none occurs, or when
        it has more distinct terms than placeholders are free)."""
        renderings = {self._fold(s): t for s, t in self.entries}
        free = [p for p in PLACEHOLDERS if not re.search(rf"(?<![A-Za-z]){p}(?![A-Za-z])", sentence)]
        slots: dict[str, str] = {}
        terms: dict[str, str] = {}

        def substitute(match: re.Match[str]) -> str:
            key = self._fold(match.group(0))
            if key not in slots:
                if len(slots) == len(free):
                    raise _TooManyTerms
                slots[key] = free[len(slots)]
                terms[key] = match.group(0)
            return slots[key]

        try:
            text = self._pattern.sub(substitute, sentence)
        except _TooManyTerms:
            return PreparedSentence(sentence, sentence)
        return PreparedSentence(
            sentence, text, tuple((slots[k], terms[k], renderings[k]) for k in slots), self.content_hash
        )


class _TooManyTerms(Exception):
    pass


@dataclass(frozen=True)
class PreparedSentence:
    """A sentence ready for translation with a glossary: ``slots`` are ``(placeholder, source term, target term)``."""

    original: str
    text: str
    slots: tuple[tuple[str, str, str], ...] = ()
    glossary_hash: str = ""

    def restore(self, output: str) -> str | None:
        """``output`` with each placeholder replaced by its target term; ``None`` unless every placeholder
        occurs exactly once (the model dropped or repeated one)."""
        for placeholder, _, rendering in self.slots:
            pattern = re.compile(rf"(?<![A-Za-z]){placeholder}(?![A-Za-z])")
            match = list(pattern.finditer(output))
            if len(match) != 1:
                return None
            output = _splice(output, match[0].start(), match[0].end(), rendering)
        return output


def _splice(output: str, start: int, end: int, rendering: str) -> str:
    """``output`` with ``output[start:end]`` replaced by ``rendering``, fitted to where it lands."""
    before, after = output[:start], output[end:]
    if _ARTICLE.match(rendering):
        # "the X" with X → "the Ancient Capital" would say "the the".
        before = _TRAILING_ARTICLE.sub("", before)
    if not before.strip(" \"'«“‘「(") and rendering[:1].islower():
        # A cased target starts its sentence with a capital, wherever the term's translation was put.
        rendering = rendering[0].upper() + rendering[1:]
    return before + rendering + after


def required_terms_missing(output: str, renderings: Sequence[str]) -> list[str]:
    """The required target terms ``output`` does not contain (case-insensitively)."""
    folded = output.casefold()
    return [r for r in renderings if r.casefold() not in folded]


def _post_edit(output: str, slots: Sequence[tuple[str, str, str]], natural: dict[str, str]) -> str:
    """Replace the model's own rendering of each term (the term translated alone) by the required one."""
    for _, term, rendering in slots:
        own = natural.get(term, "").strip().rstrip(".。")
        found = re.search(re.escape(own), output, re.IGNORECASE) if own else None
        if found is not None and rendering.casefold() not in output.casefold():
            output = _splice(output, found.start(), found.end(), rendering)
    return output


def apply_glossary(
    glossary: Glossary,
    sentences: Sequence[str],
    options: TranslationOptions,
    translate: Callable[[list[str], TranslationOptions], list[SegmentResult]],
) -> list[SegmentResult]:
    """Translate ``sentences`` with ``translate`` so that glossary terms get their required target terms.

    Sentences without a glossary term are translated as usual (with ``options``, sharing the cache with plain
    requests); the others with placeholders and :class:`GlossaryOptions` carrying the glossary's hash.
    """
    prepared = [glossary.prepare(s) for s in sentences]
    marked = [i for i, p in enumerate(prepared) if p.slots]
    plain = [i for i, p in enumerate(prepared) if not p.slots]
    results: list[SegmentResult | None] = [None] * len(sentences)
    for i, result in zip(plain, translate([sentences[i] for i in plain], options) if plain else []):
        results[i] = result
    if not marked:
        return [r for r in results if r is not None]
    marked_options = GlossaryOptions(**{**options.__dict__, "glossary": glossary.content_hash})
    failed: list[int] = []
    for i, result in zip(marked, translate([prepared[i].text for i in marked], marked_options)):
        kept = []
        for hypothesis in result.hypotheses:
            restored = prepared[i].restore(hypothesis.text)
            if restored is not None:
                kept.append(replace(hypothesis, text=restored))
        if kept:
            results[i] = replace(result, hypotheses=tuple(kept))
        else:
            failed.append(i)
    if failed:
        terms = sorted({term for i in failed for _, term, _ in prepared[i].slots})
        retried = translate([sentences[i] for i in failed] + terms, options)
        natural = {term: r.text for term, r in zip(terms, retried[len(failed) :])}
        for i, result in zip(failed, retried):
            edited = tuple(
                Hypothesis(_post_edit(h.text, prepared[i].slots, natural), h.score, h.tokens) for h in result.hypotheses
            )
            results[i] = replace(result, hypotheses=edited)
    return [r for r in results if r is not None]


def _rows_json(data: Any) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """Entries and metadata of a JSON glossary: ``{"term": "translation", …}``, or an object with ``entries``
    (such an object, a list of ``[source, target]`` pairs or of ``{"source": …, "target": …}`` objects) and
    optional ``source_lang``, ``target_lang``, ``name``."""
    accepted = (
        'accepted: {"term": "translation", …} or {"source_lang": …, "target_lang": …, "entries": '
        '{"term": "translation"} | [["term", "translation"], …] | [{"source": …, "target": …}, …]}'
    )
    if not isinstance(data, dict):
        raise InvalidRequest(f"a JSON glossary must be an object; {accepted}")
    if "entries" not in data:
        meta: dict[str, Any] = {}
        entries: Any = data
    else:
        meta = {k: data.get(k) for k in ("source_lang", "target_lang", "name") if data.get(k) is not None}
        unknown = set(data) - {"entries", "source_lang", "target_lang", "name"}
        if unknown:
            raise InvalidRequest(f"unknown glossary field(s) {', '.join(sorted(unknown))}; {accepted}")
        entries = data["entries"]
    rows: list[tuple[str, str]] = []
    if isinstance(entries, dict):
        items: list[Any] = list(entries.items())
    elif isinstance(entries, list):
        items = [(e.get("source"), e.get("target")) if isinstance(e, dict) else e for e in entries]
    else:
        raise InvalidRequest(f"glossary 'entries' must be an object or a list; {accepted}")
    for number, item in enumerate(items, start=1):
        if not (isinstance(item, (list, tuple)) and len(item) == 2 and all(isinstance(v, str) for v in item)):
            raise InvalidRequest(f"glossary entry {number} is not a pair of strings; {accepted}")
        rows.append((item[0].strip(), item[1].strip()))
    return rows, meta


def parse_glossary(
    text: str, format: str, source: str | None = None, target: str | None = None, name: str = ""
) -> Glossary:
    """A :class:`Glossary` from its text.

    Args:
        text: The glossary: TSV (``term<TAB>translation`` per line), CSV (``term,translation`` per row, as
            DeepL reads it: extra columns must be empty or the languages) or JSON (see :func:`_rows_json`).
        format: ``tsv``, ``csv`` or ``json``.
        source, target: The language pair; a JSON glossary may carry its own (``source_lang``, ``target_lang``).
        name: A label.

    Raises:
        InvalidRequest: an unknown format, a malformed line, a missing language, or an invalid glossary.
    """
    fmt = format.lower()
    if fmt not in FORMATS:
        raise InvalidRequest(f"unknown glossary format {format!r}; accepted: {', '.join(FORMATS)}")
    rows: list[tuple[str, str]] = []
    if fmt == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidRequest(f"the glossary is not valid JSON ({exc})") from exc
        rows, meta = _rows_json(data)
        source = source or meta.get("source_lang")
        target = target or meta.get("target_lang")
        name = name or str(meta.get("name", ""))
    elif fmt == "tsv":
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            parts = line.split("\t")
            if len(parts) != 2:
                raise InvalidRequest(
                    f"glossary line {number} has {len(parts)} tab-separated field(s); "
                    "each TSV line must be 'source term<TAB>target term'"
                )
            rows.append((parts[0].strip(), parts[1].strip()))
    else:
        try:
            records = list(csv.reader(io.StringIO(text)))
        except csv.Error as exc:
            raise InvalidRequest(f"the glossary is not valid CSV ({exc})") from exc
        for number, record in enumerate(records, start=1):
            if not any(cell.strip() for cell in record):
                continue
            if len(record) not in (2, 4):
                raise InvalidRequest(
                    f"glossary row {number} has {len(record)} column(s); each CSV row must be "
                    "'source term,target term' (optionally followed by the source and target language)"
                )
            rows.append((record[0].strip(), record[1].strip()))
    if not source or not target:
        raise InvalidRequest(
            "a glossary needs its source and target language (such as ja and en): a JSON glossary's "
            "source_lang/target_lang, or given with it (kakehashi translate --from/--to)"
        )
    return Glossary(str(source), str(target), tuple(rows), name)


def load_glossary(path: Path, source: str | None = None, target: str | None = None) -> Glossary:
    """A glossary file, its format told by its suffix (``.tsv``, ``.csv``, ``.json``).

    Raises:
        InvalidRequest: an unreadable file, an unknown suffix, or an invalid glossary.
    """
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise InvalidRequest(f"glossary file {path} has an unknown suffix; accepted: .tsv, .csv, .json")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"cannot read glossary file {path}: {exc}") from exc
    return parse_glossary(text, fmt, source, target, name=path.stem)
