"""Build the cultural lexicon's compact term table (``terms.tsv.gz``) from the shared data and JMdict.

Run from the repository root (it needs the ``bridge`` extra: fugashi, unidic-lite, cutlet, jamdict-data)::

    .venv/bin/python data/lexicon/build.py [--data ../shared/data]

Sources, in order of precedence when a term occurs in several:

1. Wiki Kyoto 2.01 article titles (``train/wiki_kyoto_2.01``): the English title is the gloss, the article's first
   English sentence the explanation, the Japanese Wikipedia page id (``Wiki_Corpus_List_2.01.csv``) the link.
2. The Kyoto Lexicon (``glossary/kyoto_lexicon/kyoto_lexicon.csv``): the English term is the gloss, a trailing
   parenthesised part of it the explanation.
3. JMdict (through jamdict-data's database): entries whose *first* sense carries a culture field (see
   ``CULTURE_FIELDS``) or is marked a historical term; the first sense's glosses are the gloss.

Readings come from JMdict where the term is one of an entry's written forms, else from the reading that a Wiki Kyoto
lead sentence gives in brackets (``祇園祭（ぎおんまつり、...``), else from UniDic through fugashi; romaji from cutlet.
Terms of one character and terms written in hiragana only are left out: they match inside ordinary words. Kyoto
Lexicon terms that JMdict marks as common words (priority ichi1/news1/spec1/gai1) without a culture sense are left
out too: the Lexicon lists everyday words (ご飯 "boiled rice") beside its culture terms.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import re
import sqlite3
from pathlib import Path

HERE = Path(__file__).resolve().parent
CULTURE_FIELDS = (
    "Buddhism",
    "Shinto",
    "food, cooking",
    "sumo",
    "martial arts",
    "hanafuda",
    "shogi",
    "architecture, building",
    "art, aesthetics",
)
CULTURE_MISC = ("historical term",)
MAX_TERM = 24
MAX_EXPLANATION = 400
HIRAGANA_ONLY = re.compile(r"^[\u3041-\u309f\u30fc]+$")
KANA = r"[\u3041-\u309f\u30a1-\u30ff\u30fc]+"


def _keep(term: str) -> bool:
    return 2 <= len(term) <= MAX_TERM and not HIRAGANA_ONLY.match(term) and "\t" not in term


def _clean(text: str) -> str:
    return " ".join(text.replace("\t", " ").split())


def wiki_kyoto(folder: Path) -> dict[str, tuple[str, str, str, str]]:
    """term -> (gloss, explanation, page id, reading from the lead sentence)."""
    pages: dict[str, str] = {}
    with (folder / "Wiki_Corpus_List_2.01.csv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            pages[row["File name"].removesuffix(".xml")] = row["Wikipedia ID"]
    titles: dict[str, tuple[str, str]] = {}
    leads: dict[str, tuple[str, str]] = {}
    for path in sorted(folder.glob("wikikyoto.*.tsv*")):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as handle:  # type: ignore[operator]
            next(handle)
            for line in handle:
                parts = line.rstrip("\n").split("\t")
                if len(parts) != 3:
                    continue
                article, _, sentence = parts[0].partition(":")
                if sentence == "title":
                    titles[article] = (parts[1], parts[2])
                elif sentence == "s1":
                    leads[article] = (parts[1], parts[2])
    terms: dict[str, tuple[str, str, str, str]] = {}
    for article, (ja, en) in sorted(titles.items()):
        if not _keep(ja) or ja in terms or article not in pages:
            continue
        lead_ja, lead_en = leads.get(article, ("", ""))
        match = re.match(re.escape(ja) + r"[（(](" + KANA + r")[、,）)]", lead_ja)
        terms[ja] = (_clean(en), _clean(lead_en)[:MAX_EXPLANATION], pages[article], match.group(1) if match else "")
    return terms


def kyoto_lexicon(path: Path) -> dict[str, tuple[str, str]]:
    """term -> (gloss, explanation)."""
    terms: dict[str, tuple[str, str]] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        rows = csv.reader(handle)
        next(rows)
        for row in rows:
            ja, en = row[0].strip(), _clean(row[1])
            if not _keep(ja) or not en or ja in terms:
                continue
            explanation = ""
            match = re.match(r"^(.+?) \((.+)\)$", en)
            if match and "(" not in match.group(1):
                en, explanation = match.group(1), match.group(2)
            terms[ja] = (en, explanation[:MAX_EXPLANATION])
    return terms


def jmdict(database: Path) -> tuple[dict[str, tuple[str, str, int]], dict[str, str], set[str]]:
    """(culture entries: term -> (gloss, reading, idseq); readings of every written form: term -> kana;
    common words: written forms JMdict marks common (ichi1, news1, spec1, gai1) whose entry is not a culture one)."""
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    first_sense = dict(connection.execute("SELECT idseq, MIN(ID) FROM Sense GROUP BY idseq").fetchall())
    culture_senses = {
        sid
        for (sid,) in connection.execute(
            f"SELECT sid FROM field WHERE text IN ({','.join('?' * len(CULTURE_FIELDS))}) "
            f"UNION SELECT sid FROM misc WHERE text IN ({','.join('?' * len(CULTURE_MISC))})",
            CULTURE_FIELDS + CULTURE_MISC,
        )
    }
    kana: dict[int, str] = {}
    for idseq, text in connection.execute("SELECT idseq, text FROM Kana ORDER BY ID"):
        kana.setdefault(idseq, text)
    priority = ("ichi1", "news1", "spec1", "gai1")
    marks = ",".join("?" * len(priority))
    common_forms = connection.execute(
        f"SELECT k.text, k.idseq FROM Kanji k JOIN KJP p ON p.kid = k.ID WHERE p.text IN ({marks}) "
        f"UNION SELECT k.text, k.idseq FROM Kana k JOIN KNP p ON p.kid = k.ID WHERE p.text IN ({marks})",
        priority + priority,
    ).fetchall()
    common = {text for text, idseq in common_forms if first_sense.get(idseq) not in culture_senses}
    readings: dict[str, str] = {}
    culture: dict[str, tuple[str, str, int]] = {}
    glosses: dict[int, list[str]] = {}
    for sid, text in connection.execute("SELECT sid, text FROM SenseGloss WHERE lang = 'eng' OR lang IS NULL"):
        glosses.setdefault(sid, []).append(text)
    for idseq, text in connection.execute("SELECT idseq, text FROM Kanji ORDER BY ID"):
        readings.setdefault(text, kana.get(idseq, ""))
        sense = first_sense.get(idseq)
        if sense in culture_senses and _keep(text) and text not in culture:
            culture[text] = ("; ".join(glosses.get(sense, [])[:3]), kana.get(idseq, ""), idseq)
    connection.close()
    return culture, readings, common - set(culture)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=HERE.parents[1].parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=HERE / "terms.tsv.gz")
    args = parser.parse_args()

    import cutlet
    import fugashi
    import jamdict_data

    wiki = wiki_kyoto(args.data / "train" / "wiki_kyoto_2.01")
    lexicon = kyoto_lexicon(args.data / "glossary" / "kyoto_lexicon" / "kyoto_lexicon.csv")
    culture, readings, common = jmdict(Path(jamdict_data.JAMDICT_DB_PATH))
    tagger = fugashi.Tagger()
    katsu = cutlet.Cutlet()

    def unidic(term: str) -> str:
        kana = "".join(word.feature.kana or word.surface for word in tagger(term))
        # UniDic gives katakana; hiragana is what dictionaries print as a reading.
        return "".join(chr(ord(c) - 0x60) if "\u30a1" <= c <= "\u30f6" else c for c in kana)

    def reading_of(term: str, given: str = "") -> str:
        return given or readings.get(term) or unidic(term)

    def romaji(term: str, reading: str) -> str:
        # cutlet splits words well only when it reads the written form itself; a bare kana string it splits
        # at random, so that one is written as one word.
        if unidic(term) == reading:
            return str(katsu.romaji(term))
        return str(katsu.romaji(reading)).replace(" ", "").capitalize()

    rows: list[tuple[str, ...]] = []
    for term, (gloss, explanation, page, lead_reading) in wiki.items():
        lexicon_gloss = lexicon.get(term, ("", ""))[0]
        reading = reading_of(term, lead_reading)
        rows.append((term, reading, romaji(term, reading), gloss, explanation, "wiki_kyoto", page, lexicon_gloss))
    for term, (gloss, explanation) in lexicon.items():
        # The Kyoto Lexicon also lists everyday words (ご飯, 季節): those JMdict marks common are left out.
        if term not in wiki and term not in common:
            reading = reading_of(term)
            rows.append((term, reading, romaji(term, reading), gloss, explanation, "kyoto_lexicon", "", ""))
    for term, (gloss, reading, idseq) in culture.items():
        if term not in wiki and term not in lexicon and gloss:
            rows.append((term, reading, romaji(term, reading), gloss, "", "jmdict", str(idseq), ""))
    rows.sort()
    with gzip.open(args.out, "wt", encoding="utf-8", compresslevel=9) as handle:
        handle.write("term\treading\tromaji\tgloss\texplanation\tsource\tref\talt_gloss\n")
        for row in rows:
            handle.write("\t".join(_clean(field) for field in row) + "\n")
    counts = {
        source: sum(1 for row in rows if row[5] == source) for source in ("wiki_kyoto", "kyoto_lexicon", "jmdict")
    }
    print(f"wrote {len(rows)} terms {counts} to {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
