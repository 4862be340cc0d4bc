"""Cultural notes: culture-specific terms found in a source text, with reading, gloss, explanation and link.

The term table (``data/lexicon/terms.tsv.gz``, built by ``data/lexicon/build.py`` from the Kyoto Lexicon, the Wiki
Kyoto article titles and lead sentences, and the culture-related part of JMdict) is read once per
:class:`CulturalLexicon`. Matching scans the text once: at each position it tries the terms starting with that
character, longest first, so the longest term wins and notes never overlap.

English sources get notes from the same table, through the English names of the Wiki Kyoto articles (their
title and alternative titles, without a bracketed gloss): "Gion Matsuri Festival" or "Gion Festival" → 祇園祭 with
its reading, lead sentence and article. Only names that carry Japanese are kept (not those of katakana loanwords) — a word of the name must occur
in the term's romanised reading ("Gion" in "Gion matsuri") — so English words that happen to be article titles
("Animism", "Abalone") never become notes; a one-word name must be the reading itself and is matched as written
(capitalised) unless it is long enough (``_LOWERCASE_MIN``) not to be an English word by chance.
"""

from __future__ import annotations

import gzip
import re
import threading
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from mt._errors import InvalidModel

# data/lexicon in the repository, installed as this package (pyproject.toml's package-dir, like mt._models).
LEXICON_PACKAGE = "mt._lexicon_data"
TERMS_FILE = "terms.tsv.gz"
_COLUMNS = ("term", "reading", "romaji", "gloss", "explanation", "source", "ref", "alt_gloss")
_LICENSES = {"wiki_kyoto": "CC BY-SA 3.0", "kyoto_lexicon": "CC BY-SA 3.0", "jmdict": "CC BY-SA 4.0"}
# Languages the table has terms for (the source side); other sources get no notes.
LEXICON_LANGUAGES = ("ja", "en")
_WORD = re.compile(r"[A-Za-z0-9]+(?:['’-][A-Za-z0-9]+)*")
_BRACKETED = re.compile(r"\s*[(（].*$")
# One-word English names shorter than this only match capitalised, as written ("Kyoto", not "kyoto" … "Take").
_LOWERCASE_MIN = 6
_MAX_NAME_WORDS = 8
_KIND_WORDS = {"temple", "shrine", "festival", "castle"}
_KATAKANA = re.compile(r"[\u30a0-\u30ff・ー\s]+")
_LEADING_ARTICLE = re.compile(r"^(?:the|a|an)\s+", re.IGNORECASE)


@dataclass(frozen=True)
class Note:
    """A culture-specific term of the source text; ``start``/``end`` index the source text."""

    term: str
    start: int
    end: int
    reading: str
    romaji: str
    gloss: str
    explanation: str
    source: str
    url: str | None
    license: str

    def to_json(self) -> dict[str, Any]:
        """The JSON form of a note, as the REST API and ``kakehashi translate --json`` print it."""
        return asdict(self)


@dataclass(frozen=True)
class _Entry:
    reading: str
    romaji: str
    gloss: str
    explanation: str
    source: str
    url: str | None
    alt_gloss: str = ""


@dataclass(frozen=True)
class _EnglishName:
    term: str  # the Japanese term
    capitalised: bool  # match only where the text writes it capitalised


def _folded_romaji(text: str) -> str:
    """Lower-case letters and digits of a romanisation, long vowels shortened (``Shoujin ryouri`` → ``shojinryori``),
    so that a name's spelling (``Shojin``) and the table's reading compare equal."""
    folded = re.sub(r"[^a-z0-9]", "", text.lower())
    return folded.replace("ou", "o").replace("uu", "u").replace("oo", "o").replace("ei", "e")


def _english_names(term: str, entry: _Entry) -> list[tuple[str, _EnglishName]]:
    """(lower-cased words joined by spaces, name) for each English name of a Wiki Kyoto article that carries Japanese."""
    romaji = _folded_romaji(entry.romaji)
    if entry.source != "wiki_kyoto" or not romaji or _KATAKANA.fullmatch(term):
        return []  # a katakana term is a loanword: its English name is English ("Animism"), not Japanese
    found = []
    names = [
        _WORD.findall(_LEADING_ARTICLE.sub("", _BRACKETED.sub("", n).strip()))
        for n in (entry.gloss, *entry.alt_gloss.split(","))
    ]
    # One-word alternative titles are often a reading shared with a commoner word ("kanji" for 官寺, not 漢字).
    names = names[:1] + [words for words in names[1:] if len(words) > 1]
    # "Kiyomizu-dera Temple" is also written "Kiyomizu-dera": the Japanese name already says what it is.
    names += [words[:-1] for words in names if len(words) > 1 and words[-1].lower() in _KIND_WORDS]
    for words in names:
        if not words or len(words) > _MAX_NAME_WORDS:
            continue
        if len(words) == 1:
            if _folded_romaji(words[0]) != romaji or len(words[0]) < 4:
                continue
        elif not any(len(w) >= 3 and _folded_romaji(w) in romaji for w in words if w[:1].isupper()):
            continue
        capitalised = len(words) == 1 and len(words[0]) < _LOWERCASE_MIN
        found.append((" ".join(w.lower() for w in words), _EnglishName(term, capitalised)))
    return found


def lexicon_path() -> Path:
    """The shipped term table: from the installed package, or from ``data/lexicon`` in a source tree."""
    try:
        return Path(str(resources.files(LEXICON_PACKAGE).joinpath(TERMS_FILE)))
    except ModuleNotFoundError:
        return Path(__file__).resolve().parents[1] / "data" / "lexicon" / TERMS_FILE


def _url(source: str, ref: str) -> str | None:
    if not ref:
        return None
    if source == "wiki_kyoto":
        return f"https://ja.wikipedia.org/?curid={ref}"
    if source == "jmdict":
        return f"https://www.edrdg.org/jmwsgi/entr.py?svc=jmdict&q={ref}"
    return None


class CulturalLexicon:
    """Finds culture-specific terms in source texts.

    Args:
        path: The term table (TSV, gzip or plain, with the columns ``build.py`` writes); the shipped one by default.
            It is read on first use, once, under a lock.
    """

    def __init__(self, path: Path | None = None):
        self.path = path or lexicon_path()
        self._lock = threading.Lock()
        self._terms: dict[str, _Entry] | None = None
        self._lengths: dict[str, tuple[int, ...]] = {}
        self._english: dict[str, _EnglishName] | None = None

    def _load(self) -> dict[str, _Entry]:
        with self._lock:
            if self._terms is not None:
                return self._terms
            opener: Any = gzip.open if self.path.suffix == ".gz" else open
            terms: dict[str, _Entry] = {}
            lengths: dict[str, set[int]] = {}
            try:
                with opener(self.path, "rt", encoding="utf-8") as handle:
                    header = handle.readline().rstrip("\n").split("\t")
                    if tuple(header) != _COLUMNS:
                        raise InvalidModel(self.path, f"term table columns are {header}, expected {list(_COLUMNS)}")
                    for number, line in enumerate(handle, start=2):
                        cells = line.rstrip("\n").split("\t")
                        if len(cells) != len(_COLUMNS):
                            raise InvalidModel(self.path, f"line {number} has {len(cells)} columns, not 8")
                        term, reading, romaji, gloss, explanation, source, ref, alt_gloss = cells
                        terms[term] = _Entry(reading, romaji, gloss, explanation, source, _url(source, ref), alt_gloss)
                        lengths.setdefault(term[0], set()).add(len(term))
            except (OSError, EOFError, UnicodeDecodeError) as exc:
                raise InvalidModel(self.path, f"cannot read the cultural lexicon ({exc})") from exc
            self._lengths = {first: tuple(sorted(ls, reverse=True)) for first, ls in lengths.items()}
            self._terms = terms
            return terms

    def __len__(self) -> int:
        return len(self._load())

    def _english_index(self) -> dict[str, _EnglishName]:
        terms = self._load()
        with self._lock:
            if self._english is None:
                names: dict[str, _EnglishName] = {}
                for term, entry in terms.items():
                    for key, name in _english_names(term, entry):
                        names.setdefault(key, name)  # the first article named so keeps the name
                self._english = names
            return self._english

    def _note(self, term: str, start: int, end: int, written: str | None = None) -> Note:
        entry = self._load()[term]
        english = written is not None
        return Note(
            term=written or term,
            start=start,
            end=end,
            reading=entry.reading,
            romaji=entry.romaji,
            # For an English source, the gloss is the Japanese term a reader of the translation meets.
            gloss=f"{term} ({entry.gloss})" if english else entry.gloss,
            explanation=entry.explanation,
            source=entry.source,
            url=entry.url,
            license=_LICENSES.get(entry.source, "CC BY-SA 3.0"),
        )

    def _english_notes(self, text: str) -> list[Note]:
        names = self._english_index()
        words = list(_WORD.finditer(text))
        notes: list[Note] = []
        i = 0
        while i < len(words):
            for n in range(min(_MAX_NAME_WORDS, len(words) - i), 0, -1):
                span = words[i : i + n]
                # A name's words are separated by spaces or hyphens only, never by punctuation.
                if any(text[a.end() : b.start()] not in (" ", "-") for a, b in zip(span, span[1:])):
                    continue
                name = names.get(" ".join(w.group(0).lower() for w in span))
                if name is None or (name.capitalised and not span[0].group(0)[:1].isupper()):
                    continue
                if n == 1 and span[0].group(0).isupper():
                    continue  # "HOJO" is the Hojo clan, as Wiki Kyoto writes surnames, not 方丈 (hojo)
                start, end = span[0].start(), span[-1].end()
                notes.append(self._note(name.term, start, end, text[start:end]))
                i += n
                break
            else:
                i += 1
        return notes

    def notes(self, text: str, lang: str) -> list[Note]:
        """The notes for ``text`` in language ``lang``, in text order.

        Scanning left to right, the longest term starting at each position wins and the scan resumes after it, so
        notes never overlap. Languages without terms (see ``LEXICON_LANGUAGES``) get an empty list.
        """
        lang = lang.split("-")[0]  # en-US reads the English names
        if lang not in LEXICON_LANGUAGES or not text:
            return []
        if lang == "en":
            return self._english_notes(text)
        terms = self._load()
        notes: list[Note] = []
        i = 0
        while i < len(text):
            for length in self._lengths.get(text[i], ()):
                if text[i : i + length] in terms:
                    notes.append(self._note(text[i : i + length], i, i + length))
                    i += length
                    break
            else:
                i += 1
        return notes
