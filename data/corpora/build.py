"""Build the short term pairs that the relay adds to the default model's training (``kakehashi train --add-train``).

Run from the repository root::

    .venv/bin/python data/corpora/build.py [--data ../shared/data] [--relay data/checkpoints/kakehashi-ja-en]

Writes two corpora in Kakehashi's TSV format (header ``id ja en``), gzip-compressed:

* ``kyotolexicon.train.tsv.gz`` — the Japanese-English Bilingual Kyoto Lexicon (NICT, CC BY-SA 3.0): names of
  temples, shrines, people, festivals, ranks … as the Wiki Kyoto translators wrote them. Id: ``row<N>``, the CSV
  row (2 is the first entry).
* ``wikikyototitles.train.tsv.gz`` — the titles of the Wiki Kyoto articles of the *train* split (CC BY-SA 3.0),
  which the cleaning of the sentence corpus leaves out. Id: the article file (``BDS00001``).

Neither may leak what the model is scored on: an entry whose Japanese or English side is a segment of a test or
dev set (Wiki Kyoto dev and test, Tatoeba-test) or of the relay run's own dev hold-out is left out, and the
numbers are printed. Entries are kept as written otherwise, including a bracketed explanation of the English
term: that is how the Wiki Kyoto references write them too.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
LEXICON_FILE = "kyotolexicon.train.tsv.gz"
TITLES_FILE = "wikikyototitles.train.tsv.gz"


def scored_segments(data: Path, relay: Path | None) -> set[str]:
    """Every Japanese and English segment the model is scored on: test and dev sets, and the relay's dev hold-out."""
    from mt._corpora import normalise_text
    from mt.bench.testsets import resolve
    from mt.training.data import prepare_data
    from mt.training.order import config_from_json, spec_under

    found: set[str] = set()
    for name in ("wikikyoto-dev", "wikikyoto-test", "tatoeba-test"):
        testset = resolve(f"{name}:ja-en", {"KAKEHASHI_DATA_DIR": str(data)})
        found.update(normalise_text(text) for text in (*testset.sources, *testset.references))
    if relay is not None:
        config = config_from_json(json.loads((relay / "config.json").read_text(encoding="utf-8")))
        config.train = [spec_under(spec, data) for spec in config.train]
        config.added_train = []
        _, dev, _ = prepare_data(config)
        found.update(normalise_text(text) for pair in dev for text in (pair.source, pair.target))
    return found


def lexicon_rows(data: Path) -> list[tuple[str, str, str]]:
    with open(data / "glossary" / "kyoto_lexicon" / "kyoto_lexicon.csv", encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        return [(f"row{number}", row[0], row[1]) for number, row in enumerate(reader, start=2) if len(row) >= 2]


def title_rows(data: Path) -> list[tuple[str, str, str]]:
    from mt._corpora import load_corpus

    corpus = load_corpus(f"tsv:{data / 'train' / 'wiki_kyoto_2.01' / 'wikikyoto.train.tsv.gz'}")
    return [(p.pair_id.rsplit(":", 1)[0], p.source, p.target) for p in corpus if p.pair_id.endswith(":title")]


def write(path: Path, rows: list[tuple[str, str, str]], scored: set[str]) -> Counter[str]:
    from mt._corpora import normalise_text

    counts: Counter[str] = Counter()
    # mtime 0: the same input gives the same bytes, so a rebuild changes nothing in git.
    with (
        gzip.GzipFile(path, "wb", compresslevel=9, mtime=0) as raw,
        io.TextIOWrapper(raw, "utf-8", newline="\n") as handle,
    ):
        handle.write("id\tja\ten\n")
        for record, ja, en in rows:
            ja, en = normalise_text(ja), normalise_text(en)
            if not ja or not en:
                counts["empty"] += 1
            elif ja in scored or en in scored:
                counts["in a test or dev set"] += 1
            else:
                handle.write(f"{record}\t{ja}\t{en}\n")
                counts["written"] += 1
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data", help="the shared data folder")
    parser.add_argument(
        "--relay",
        type=Path,
        default=ROOT / "data" / "checkpoints" / "kakehashi-ja-en",
        help="relay checkpoint whose dev hold-out is left out too ('' for none)",
    )
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    relay = args.relay if str(args.relay) else None
    scored = scored_segments(args.data, relay)
    for name, rows in ((LEXICON_FILE, lexicon_rows(args.data)), (TITLES_FILE, title_rows(args.data))):
        counts = write(HERE / name, rows, scored)
        print(f"{name}: {len(rows)} entries; " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
