"""Test sets by name and direction: ``flores200-devtest:ja-en``, ``wmt23:en-ja``, ``files:SRC,REF:ja-en`` ….

The files live under a data directory the project does not carry: ``KAKEHASHI_DATA_DIR``, or ``../shared/data``
beside the checkout. Naming follows ``shared/data/SOURCES.md``: ``<set>.<src>-<tgt>.<lang>`` for WMT (each
direction its own documents), ``<set>.<split>.<lang>`` for the multi-way sets, one TSV (``id<TAB>ja<TAB>en``) per
Wiki Kyoto split.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from itertools import permutations
from pathlib import Path

from mt._errors import InvalidRequest, KakehashiError

DATA_DIR_VARIABLE = "KAKEHASHI_DATA_DIR"
PAIR = re.compile(r"[A-Za-z]{2,3}-[A-Za-z]{2,3}")

FLORES_CODES = {
    "ja": "jpn_Jpan",
    "en": "eng_Latn",
    "zh": "zho_Hans",
    "ko": "kor_Hang",
    "fr": "fra_Latn",
    "de": "deu_Latn",
    "es": "spa_Latn",
}
NTREX_CODES = {"en": "eng", "ja": "jpn", "zh": "zho-CN", "ko": "kor", "fr": "fra", "de": "deu", "es": "spa"}
WMT_SETS = {"wmt20": "newstest2020", "wmt21": "newstest2021", "wmt22": "generaltest2022", "wmt23": "generaltest2023"}
LICENSE_FLORES = "CC-BY-SA-4.0"
LICENSE_WMT = "WMT test data: free for research use (statmt.org terms)"
LICENSE_WIKIKYOTO = "CC-BY-SA-3.0 (NICT)"


class TestSetError(KakehashiError):
    """A test set or direction that does not exist, or data that cannot be read."""


def default_data_dir() -> Path:
    """``../shared/data`` beside the checkout this package runs from."""
    return Path(__file__).resolve().parents[2].parent / "shared" / "data"


def data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The test-data root: ``KAKEHASHI_DATA_DIR`` if set, else :func:`default_data_dir`.

    Raises:
        TestSetError: the directory does not exist (the message says where it looked and how to set it).
    """
    environ = os.environ if environ is None else environ
    given = environ.get(DATA_DIR_VARIABLE)
    root = Path(given).expanduser() if given else default_data_dir()
    if not root.is_dir():
        origin = f"from {DATA_DIR_VARIABLE}" if given else f"the default; {DATA_DIR_VARIABLE} is not set"
        raise TestSetError(
            f"test data directory {root} ({origin}) does not exist; set {DATA_DIR_VARIABLE}=/path/to/shared/data "
            "(the folder holding testsets/ and train/), or name local files with --testset files:SRC,REF:xx-yy"
        )
    return root


@dataclass(frozen=True)
class TestSet:
    """Sources and references of one test set in one direction (``limit`` already applied)."""

    name: str
    source_lang: str
    target_lang: str
    sources: tuple[str, ...]
    references: tuple[str, ...]
    license: str
    files: tuple[str, ...]
    total: int = 0

    def __post_init__(self) -> None:
        if not self.total:
            # Sentences in the whole set, before --limit (a file of outputs may cover either).
            object.__setattr__(self, "total", len(self.sources))

    @property
    def pair(self) -> str:
        return f"{self.source_lang}-{self.target_lang}"

    @property
    def key(self) -> str:
        """``name:pair``, as given on the command line (``files`` sets use their file stems)."""
        return f"{self.name}:{self.pair}"

    def limited(self, limit: int | None) -> TestSet:
        if limit is None:
            return self
        return replace(self, sources=self.sources[:limit], references=self.references[:limit])


Loader = Callable[[Path, str, str], tuple[list[str], list[str], tuple[Path, ...]]]


@dataclass(frozen=True)
class TestSetInfo:
    """A registered test set: its directions, license and how its files are read."""

    name: str
    description: str
    license: str
    pairs: tuple[tuple[str, str], ...]
    load: Loader


def _lines(path: Path) -> list[str]:
    if not path.is_file():
        raise TestSetError(f"test set file {path} is missing; the data directory is incomplete (see SOURCES.md)")
    return path.read_text(encoding="utf-8").splitlines()


def _parallel(source: Path, reference: Path) -> tuple[list[str], list[str], tuple[Path, ...]]:
    sources, references = _lines(source), _lines(reference)
    if len(sources) != len(references):
        raise TestSetError(
            f"{source} has {len(sources)} lines but {reference} has {len(references)}; "
            "source and reference files must be line-aligned"
        )
    return sources, references, (source, reference)


def _multiway(folder: str, stem: str, codes: Mapping[str, str]) -> Loader:
    def load(root: Path, source: str, target: str) -> tuple[list[str], list[str], tuple[Path, ...]]:
        base = root / "testsets" / folder
        return _parallel(base / f"{stem}.{codes[source]}", base / f"{stem}.{codes[target]}")

    return load


def _wmt(folder: str, stem: str) -> Loader:
    def load(root: Path, source: str, target: str) -> tuple[list[str], list[str], tuple[Path, ...]]:
        base = root / "testsets" / folder / f"{stem}.{source}-{target}"
        return _parallel(Path(f"{base}.{source}"), Path(f"{base}.{target}"))

    return load


# The ship gate's Tatoeba pairs: every TATOEBA_GATE_STRIDE-th pair of Tatoeba-test after its first
# TATOEBA_REPORTED, which the quality reports read (``--limit 1000``). The file comes in long runs sorted by their
# English side (5,000-6,000: all "I …"), so a stride spreads the gate over the whole set where a slice would not.
TATOEBA_REPORTED = 1000
TATOEBA_GATE_STRIDE = 12


def _strided(load: Loader, name: str, skip: int, stride: int) -> Loader:
    """Every ``stride``-th pair of a set after its first ``skip`` (a slice kept apart from reports)."""

    def sliced(root: Path, source: str, target: str) -> tuple[list[str], list[str], tuple[Path, ...]]:
        sources, references, paths = load(root, source, target)
        if len(sources) <= skip:
            raise TestSetError(
                f"test set {name} takes pairs after the first {skip:,} of {paths[0]}, which has only "
                f"{len(sources):,}; the data directory is incomplete (see SOURCES.md)"
            )
        return sources[skip::stride], references[skip::stride], paths

    return sliced


def _wikikyoto(split: str, titles_only: bool = False) -> Loader:
    """The ``split`` (``dev+test``: both) of Wiki Kyoto; ``titles_only``: only the articles' titles."""

    def load(root: Path, source: str, target: str) -> tuple[list[str], list[str], tuple[Path, ...]]:
        paths = tuple(root / "train" / "wiki_kyoto_2.01" / f"wikikyoto.{name}.tsv" for name in split.split("+"))
        rows = [line.split("\t") for path in paths for line in _lines(path)[1:]]
        if titles_only:
            rows = [r for r in rows if r[0].endswith(":title")]
        column = {"ja": 1, "en": 2}
        return [r[column[source]] for r in rows], [r[column[target]] for r in rows], paths

    return load


def registry() -> dict[str, TestSetInfo]:
    """Every named test set, by name."""
    every_pair = tuple(permutations(FLORES_CODES, 2))
    tatoeba_test = _multiway("tatoeba-test", "tatoeba-test-v2021-08-07.eng-jpn", {"ja": "ja", "en": "en"})
    sets = [
        TestSetInfo(
            "flores200-dev",
            "FLORES-200 dev, multi-way",
            LICENSE_FLORES,
            every_pair,
            _multiway("flores200", "flores200.dev", FLORES_CODES),
        ),
        TestSetInfo(
            "flores200-devtest",
            "FLORES-200 devtest, multi-way",
            LICENSE_FLORES,
            every_pair,
            _multiway("flores200", "flores200.devtest", FLORES_CODES),
        ),
        TestSetInfo(
            "ntrex128",
            "NTREX-128, news translated from English",
            LICENSE_FLORES,
            tuple(("en", t) for t in NTREX_CODES if t != "en"),
            _multiway("ntrex128", "ntrex128", NTREX_CODES),
        ),
        TestSetInfo(
            "tatoeba-test",
            "Tatoeba Challenge test v2021-08-07, everyday sentences",
            "CC-BY-2.0-FR (Tatoeba)",
            (("ja", "en"), ("en", "ja")),
            tatoeba_test,
        ),
        TestSetInfo(
            "tatoeba-gate",
            f"every {TATOEBA_GATE_STRIDE}th pair of Tatoeba-test after its first {TATOEBA_REPORTED:,}, for the relay's "
            f"ship gate (model choice): apart from reports of tatoeba-test with --limit {TATOEBA_REPORTED}",
            "CC-BY-2.0-FR (Tatoeba)",
            (("ja", "en"), ("en", "ja")),
            _strided(tatoeba_test, "tatoeba-gate", TATOEBA_REPORTED, TATOEBA_GATE_STRIDE),
        ),
        *(
            TestSetInfo(
                f"bsd-{split}",
                f"Business Scene Dialogue {split}, conversations (non-commercial)",
                "CC-BY-NC-SA-4.0 (non-commercial)",
                (("ja", "en"), ("en", "ja")),
                _multiway("bsd", f"bsd.{split}", {"ja": "ja", "en": "en"}),
            )
            for split in ("dev", "test")
        ),
        *(
            TestSetInfo(
                name,
                f"WMT {stem}, news (each direction its own documents)",
                LICENSE_WMT,
                (("ja", "en"), ("en", "ja")),
                _wmt(name, stem),
            )
            for name, stem in WMT_SETS.items()
        ),
        *(
            TestSetInfo(
                f"wikikyoto-{split}",
                f"Wiki Kyoto v2.01 {split} articles (split by article; never trained on)",
                LICENSE_WIKIKYOTO,
                (("ja", "en"), ("en", "ja")),
                _wikikyoto(split),
            )
            for split in ("dev", "test")
        ),
        TestSetInfo(
            "wikikyoto-titles",
            "Wiki Kyoto v2.01 dev and test article titles: names of temples, shrines, people, festivals, eras "
            "(never trained on)",
            LICENSE_WIKIKYOTO,
            (("ja", "en"), ("en", "ja")),
            _wikikyoto("dev+test", titles_only=True),
        ),
    ]
    return {s.name: s for s in sets}


def _split_pair(pair: str, spec: str) -> tuple[str, str]:
    source, sep, target = pair.partition("-")
    if not sep or not source or not target:
        raise TestSetError(f"test set {spec!r} needs a direction such as ja-en after the last ':'; got {pair!r}")
    return source.lower(), target.lower()


def _files(spec: str, body: str) -> TestSet:
    """``files:SRC,REF[:xx-yy]``; without a pair the file suffixes (``test.ja``, ``test.en``) name the languages."""
    head, _, tail = body.rpartition(":")
    paths, pair = (head, tail) if head and PAIR.fullmatch(tail) else (body, "")
    source_path, comma, reference_path = paths.partition(",")
    if not comma or not source_path or not reference_path:
        raise TestSetError(f"test set {spec!r}: write files:SRC,REF or files:SRC,REF:xx-yy")
    src, ref = Path(source_path).expanduser(), Path(reference_path).expanduser()
    if pair:
        source, target = _split_pair(pair, spec)
    else:
        source, target = src.suffix.lstrip("."), ref.suffix.lstrip(".")
        if not source or not target or source == target:
            raise TestSetError(
                f"test set {spec!r}: cannot tell the languages from the file names; add the direction, "
                "files:SRC,REF:ja-en"
            )
    sources, references, _ = _parallel(src, ref)
    name = f"files-{src.stem}"
    return TestSet(name, source, target, tuple(sources), tuple(references), "local files", (str(src), str(ref)))


def resolve(spec: str, environ: Mapping[str, str] | None = None, limit: int | None = None) -> TestSet:
    """A test set from ``NAME:PAIR`` (``wmt23:en-ja``) or ``files:SRC,REF[:PAIR]``, cut to ``limit`` lines.

    Raises:
        TestSetError: unknown name or direction (listing what exists), missing data directory or files,
            files of different lengths.
    """
    if limit is not None and limit < 1:
        raise InvalidRequest(f"--limit must be a positive number of sentences; got {limit}")
    if spec.startswith("files:"):
        return _files(spec, spec[len("files:") :]).limited(limit)
    name, sep, pair = spec.rpartition(":")
    if not sep:
        raise TestSetError(f"test set {spec!r} needs a direction, as in {spec}:ja-en; run `kakehashi bench testsets`")
    known = registry()
    if name not in known:
        raise TestSetError(f"unknown test set {name!r}; known: {', '.join(sorted(known))}, files:SRC,REF:xx-yy")
    info = known[name]
    source, target = _split_pair(pair, spec)
    if (source, target) not in info.pairs:
        pairs = ", ".join(f"{a}-{b}" for a, b in info.pairs)
        raise TestSetError(f"test set {name!r} has no direction {source}-{target}; it has: {pairs}")
    sources, references, paths = info.load(data_dir(environ), source, target)
    return TestSet(
        name, source, target, tuple(sources), tuple(references), info.license, tuple(str(p) for p in paths)
    ).limited(limit)


def describe(environ: Mapping[str, str] | None = None) -> list[dict[str, object]]:
    """Every registered test set with its directions, license and whether its files are present here."""
    environ = os.environ if environ is None else environ
    try:
        root: Path | None = data_dir(environ)
    except TestSetError:
        root = None
    rows: list[dict[str, object]] = []
    for info in registry().values():
        present = False
        if root is not None:
            try:
                info.load(root, *info.pairs[0])
                present = True
            except TestSetError:
                present = False
        rows.append(
            {
                "name": info.name,
                "pairs": [f"{a}-{b}" for a, b in info.pairs],
                "license": info.license,
                "description": info.description,
                "present": present,
            }
        )
    return rows
