"""Cultural notes: culture-specific terms found in a source text, with reading, gloss, explanation and link.

The term table (``data/lexicon/terms.tsv.gz``, built by ``data/lexicon/build.py`` from the Kyoto Lexicon, the Wiki
Kyoto article titles and lead sentences, and the culture-related part of JMdict) is read once per
:class:`CulturalLexicon`. Matching scans the text once: at each position it tries the terms starting with that
character, longest first, so the longest term wins and notes never overlap.
"""

from __future__ import annotations

import gzip
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
LEXICON_LANGUAGES = ("ja",)


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
                        term, reading, romaji, gloss, explanation, source, ref, _ = cells
                        terms[term] = _Entry(reading, romaji, gloss, explanation, source, _url(source, ref))
                        lengths.setdefault(term[0], set()).add(len(term))
            except (OSError, EOFError, UnicodeDecodeError) as exc:
                raise InvalidModel(self.path, f"cannot read the cultural lexicon ({exc})") from exc
            self._lengths = {first: tuple(sorted(ls, reverse=True)) for first, ls in lengths.items()}
            self._terms = terms
            return terms

    def __len__(self) -> int:
        return len(self._load())

    def notes(self, text: str, lang: str) -> list[Note]:
        """The notes for ``text`` in language ``lang``, in text order.

        Scanning left to right, the longest term starting at each position wins and the scan resumes after it, so
        notes never overlap. Languages without terms (see ``LEXICON_LANGUAGES``) get an empty list.
        """
        if lang not in LEXICON_LANGUAGES or not text:
            return []
        terms = self._load()
        notes: list[Note] = []
        i = 0
        while i < len(text):
            for length in self._lengths.get(text[i], ()):
                entry = terms.get(text[i : i + length])
                if entry is not None:
                    notes.append(
                        Note(
                            term=text[i : i + length],
                            start=i,
                            end=i + length,
                            reading=entry.reading,
                            romaji=entry.romaji,
                            gloss=entry.gloss,
                            explanation=entry.explanation,
                            source=entry.source,
                            url=entry.url,
                            license=_LICENSES.get(entry.source, "CC BY-SA 3.0"),
                        )
                    )
                    i += length
                    break
            else:
                i += 1
        return notes
