"""Parallel corpora: loaders that keep every pair's provenance id, and cleaning that says what it dropped.

A corpus is named by a spec ``FORMAT:PATH`` (or just ``PATH``, the format guessed from the file):

* ``tsv`` — a header line naming the columns ``id<TAB><lang><TAB><lang>`` (Wiki Kyoto's ``id ja en``);
  plain or gzip. Provenance id: the ``id`` column (``BDS00001:s3``).
* ``tatoeba`` — the manythings.org export ``English<TAB>Other<TAB>Attribution``; the other language comes
  from the file name (``jpn.txt`` → ``ja``). Provenance id: the two tatoeba.org sentence ids.
* ``jsonl`` — one object per line with ``id``, ``source_lang``, ``target_lang``, ``source``, ``target``.
* ``aligned`` — ``aligned:PREFIX.{src},{tgt}``: two line-aligned files; provenance id: the line number.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from itertools import zip_longest
from pathlib import Path

from mt._errors import InvalidRequest
from mt._languages import parse_language

FORMATS = ("tsv", "tatoeba", "jsonl", "aligned")


@dataclass(frozen=True)
class ParallelPair:
    """One sentence pair and where it came from (``corpus`` + ``pair_id`` identify it for references)."""

    corpus: str
    pair_id: str
    source_lang: str
    target_lang: str
    source: str
    target: str

    def reversed(self) -> ParallelPair:
        return replace(
            self, source_lang=self.target_lang, target_lang=self.source_lang, source=self.target, target=self.source
        )


@dataclass(frozen=True)
class CleaningOptions:
    """Filters applied by :func:`clean_pairs`; lengths are in characters."""

    min_chars: int = 1
    max_chars: int = 400
    max_length_ratio: float = 9.0
    drop_duplicates: bool = True
    drop_non_sentences: bool = True


@dataclass
class CleaningReport:
    kept: int = 0
    dropped: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, object]:
        return {"kept": self.kept, "dropped": dict(self.dropped)}


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="\n")
    return open(path, encoding="utf-8", newline="\n")


def corpus_name(path: Path) -> str:
    """A short corpus name from a file name: ``wikikyoto.train.tsv.gz`` → ``wikikyoto``."""
    return path.name.split(".")[0]


def _guess_format(path: Path) -> str:
    name = path.name.lower()
    if ".jsonl" in name:
        return "jsonl"
    if ".tsv" in name:
        return "tsv"
    with _open_text(path) as handle:
        first = handle.readline()
    if "tatoeba.org" in first:
        return "tatoeba"
    raise InvalidRequest(
        f"cannot tell the format of {path}; prefix it with one of {', '.join(FORMATS)} (e.g. tsv:{path})"
    )


def load_corpus(spec: str) -> Iterator[ParallelPair]:
    """Load pairs from a corpus spec (see the module docstring).

    Raises:
        InvalidRequest: unknown format, missing file, or malformed content.
    """
    fmt, _, rest = spec.partition(":")
    prefix = fmt
    if fmt not in FORMATS or not rest:
        fmt, rest = "", spec
    if fmt == "aligned":
        return _load_aligned(rest)
    path = Path(rest)
    if not path.exists():
        if not fmt and rest and re.fullmatch(r"[a-z][a-z0-9]+", prefix):
            # ``xml:corpus.xml``: the prefix names a format rather than being part of a file name.
            raise InvalidRequest(f"unknown corpus format {prefix!r} in {spec!r}; formats: {', '.join(FORMATS)}")
        raise InvalidRequest(f"corpus file {path} does not exist")
    fmt = fmt or _guess_format(path)
    loaders = {"tsv": _load_tsv, "tatoeba": _load_tatoeba, "jsonl": _load_jsonl}
    return loaders[fmt](path)


def _load_tsv(path: Path) -> Iterator[ParallelPair]:
    name = corpus_name(path)
    with _open_text(path) as handle:
        header = handle.readline().rstrip("\n").split("\t")
        if len(header) != 3 or header[0] != "id":
            raise InvalidRequest(f"{path}: a TSV corpus needs the header 'id<TAB><lang><TAB><lang>', got {header!r}")
        src_lang, tgt_lang = parse_language(header[1]).code, parse_language(header[2]).code
        for number, line in enumerate(handle, start=2):
            fields = line.rstrip("\n").split("\t")
            if len(fields) != 3:
                raise InvalidRequest(f"{path}:{number}: expected 3 tab-separated fields, got {len(fields)}")
            yield ParallelPair(name, fields[0], src_lang, tgt_lang, fields[1], fields[2])


_TATOEBA_IDS = re.compile(r"tatoeba\.org #(\d+) .*& #(\d+)")


def _load_tatoeba(path: Path) -> Iterator[ParallelPair]:
    other = parse_language(path.name.split(".")[0]).code
    with _open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            fields = line.rstrip("\n").split("\t")
            ids = _TATOEBA_IDS.search(fields[2]) if len(fields) == 3 else None
            if ids is None:
                raise InvalidRequest(f"{path}:{number}: expected 'English<TAB>text<TAB>Attribution: tatoeba.org #id …'")
            pair_id = f"{ids[2]}-{ids[1]}"
            yield ParallelPair("tatoeba", pair_id, other, "en", fields[1], fields[0])


def _load_jsonl(path: Path) -> Iterator[ParallelPair]:
    name = corpus_name(path)
    with _open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if not isinstance(row, dict):
                    raise TypeError(f"got a JSON {type(row).__name__}")
                yield ParallelPair(
                    str(row.get("corpus", name)),
                    str(row["id"]),
                    parse_language(row["source_lang"]).code,
                    parse_language(row["target_lang"]).code,
                    row["source"],
                    row["target"],
                )
            except (KeyError, TypeError, json.JSONDecodeError) as exc:
                raise InvalidRequest(
                    f"{path}:{number}: expected a JSON object with id, source_lang, target_lang, source, target ({exc})"
                ) from exc


def _load_aligned(spec: str) -> Iterator[ParallelPair]:
    match = re.match(r"^(?P<prefix>.+)\.\{(?P<src>[^,{}]+),(?P<tgt>[^,{}]+)\}$", spec)
    if not match:
        raise InvalidRequest(f"aligned corpora are given as aligned:PREFIX.{{src,tgt}}, got {spec!r}")
    src_path = Path(f"{match['prefix']}.{match['src']}")
    tgt_path = Path(f"{match['prefix']}.{match['tgt']}")
    for p in (src_path, tgt_path):
        if not p.exists():
            raise InvalidRequest(f"corpus file {p} does not exist")
    src_lang = parse_language(match["src"].split("_")[0]).code
    tgt_lang = parse_language(match["tgt"].split("_")[0]).code
    name = corpus_name(src_path)
    with _open_text(src_path) as src, _open_text(tgt_path) as tgt:
        for number, (s, t) in enumerate(zip_longest(src, tgt), start=1):
            if s is None or t is None:
                shorter = src_path if s is None else tgt_path
                raise InvalidRequest(f"{shorter} has fewer lines than {tgt_path if s is None else src_path}")
            yield ParallelPair(name, str(number), src_lang, tgt_lang, s.rstrip("\n"), t.rstrip("\n"))


# Wiki Kyoto carries template names and headings that are not translations of each other.
_NON_SENTENCE = re.compile(r"^(Infobox|Template:|Category:|File:|Image:|\{\{|\[\[)", re.IGNORECASE)


def normalise_text(text: str) -> str:
    """NFC, whitespace runs as one space, no leading or trailing space: the form cleaning gives a sentence."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def clean_pairs(
    pairs: Iterable[ParallelPair], options: CleaningOptions | None = None, report: CleaningReport | None = None
) -> Iterator[ParallelPair]:
    """Filter pairs, keeping provenance ids; counts of what was dropped and why go into ``report``."""
    options = options or CleaningOptions()
    report = report if report is not None else CleaningReport()
    seen: set[int] = set()
    for pair in pairs:
        source, target = normalise_text(pair.source), normalise_text(pair.target)
        reason = None
        if len(source) < options.min_chars or len(target) < options.min_chars:
            reason = "empty"
        elif len(source) > options.max_chars or len(target) > options.max_chars:
            reason = "too_long"
        elif max(len(source), len(target)) > options.max_length_ratio * min(len(source), len(target)) + 10:
            reason = "length_ratio"
        elif options.drop_non_sentences and (_NON_SENTENCE.match(source) or _NON_SENTENCE.match(target)):
            reason = "non_sentence"
        elif options.drop_non_sentences and pair.pair_id.endswith(":title"):
            reason = "title"
        elif options.drop_non_sentences and source == target and not any(c.isdigit() for c in source):
            reason = "untranslated"
        if reason is None and options.drop_duplicates:
            key = hash((source, target))
            if key in seen:
                reason = "duplicate"
            seen.add(key)
        if reason:
            report.dropped[reason] += 1
            continue
        report.kept += 1
        yield replace(pair, source=source, target=target)
