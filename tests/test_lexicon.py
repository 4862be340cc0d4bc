"""Cultural notes from the shipped term table (Kyoto Lexicon, Wiki Kyoto titles and leads, JMdict culture entries)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from mt import InvalidModel
from mt._lexicon import CulturalLexicon, Note, lexicon_path

HEADER = "term\treading\tromaji\tgloss\texplanation\tsource\tref\talt_gloss\n"


@pytest.fixture(scope="module")
def lexicon() -> CulturalLexicon:
    return CulturalLexicon()


def _by_term(notes: list[Note]) -> dict[str, Note]:
    return {note.term: note for note in notes}


def test_the_shipped_table_is_compact_and_complete(lexicon: CulturalLexicon) -> None:
    path = lexicon_path()
    assert path.is_file() and path.stat().st_size < 8_000_000
    assert len(lexicon) > 50_000
    assert (path.parent / "LICENSE.md").read_text(encoding="utf-8").count("CC BY-SA 3.0") >= 2


def test_culture_terms_get_gloss_reading_and_link(lexicon: CulturalLexicon) -> None:
    text = "祇園祭は七月です。清水寺で精進料理を食べた。"
    notes = _by_term(lexicon.notes(text, "ja"))
    gion = notes["祇園祭"]
    assert (gion.start, gion.end) == (0, 3) and text[gion.start : gion.end] == "祇園祭"
    assert gion.gloss == "Gion Matsuri Festival" and gion.reading == "ぎおんまつり"
    assert gion.explanation.startswith("Gion Matsuri Festival is a kind of festival")
    assert gion.url == "https://ja.wikipedia.org/?curid=817202"
    assert (gion.source, gion.license) == ("wiki_kyoto", "CC BY-SA 3.0")
    kiyomizu = notes["清水寺"]
    assert kiyomizu.gloss == "Kiyomizu-dera Temple" and kiyomizu.url == "https://ja.wikipedia.org/?curid=1758861"
    assert kiyomizu.romaji == "Kiyomizudera"
    shojin = notes["精進料理"]
    assert shojin.gloss.startswith("Shojin ryori") and shojin.url == "https://ja.wikipedia.org/?curid=87260"
    assert text[shojin.start : shojin.end] == "精進料理"
    assert gion.to_json()["url"] == gion.url and set(gion.to_json()) == {
        "term", "start", "end", "reading", "romaji", "gloss", "explanation", "source", "url", "license",
    }  # fmt: skip


def test_jmdict_culture_entries_link_their_entry(lexicon: CulturalLexicon) -> None:
    # あんこ型 is only in JMdict (field: sumo).
    (note,) = lexicon.notes("あんこ型の力士", "ja")[:1]
    assert note.term == "あんこ型" and note.source == "jmdict" and "sumo" in note.gloss
    assert note.url is not None and note.url.startswith("https://www.edrdg.org/jmwsgi/entr.py?svc=jmdict&q=")
    assert note.license == "CC BY-SA 4.0" and note.reading == "あんこがた"


def test_common_words_and_other_languages_get_no_notes(lexicon: CulturalLexicon) -> None:
    assert lexicon.notes("今日はご飯を食べる。", "ja") == []
    assert lexicon.notes("Je suis allé à Kiyomizu-dera.", "fr") == []
    assert lexicon.notes("I take my dog to the park. Tom likes animals and kanji.", "en") == []
    assert lexicon.notes("Gion Matsuri", "ja") == []
    assert lexicon.notes("", "ja") == []


def test_longest_match_wins_and_notes_never_overlap(tmp_path: Path) -> None:
    table = tmp_path / "terms.tsv"
    rows = [
        ("祇園", "ぎおん", "Gion", "Gion", "", "kyoto_lexicon", ""),
        ("祇園祭", "ぎおんまつり", "Gion matsuri", "Gion Festival", "", "wiki_kyoto", "817202"),
        ("園祭", "えんさい", "Ensai", "garden festival", "", "kyoto_lexicon", ""),
        ("祭り", "まつり", "Matsuri", "festival", "", "kyoto_lexicon", ""),
    ]
    table.write_text(HEADER + "".join("\t".join(row) + "\t\n" for row in rows), encoding="utf-8")
    notes = CulturalLexicon(table).notes("祇園祭と祇園の祭り", "ja")
    assert [(n.term, n.start, n.end) for n in notes] == [("祇園祭", 0, 3), ("祇園", 4, 6), ("祭り", 7, 9)]
    assert all(a.end <= b.start for a, b in zip(notes, notes[1:]))
    assert notes[0].url == "https://ja.wikipedia.org/?curid=817202" and notes[1].url is None


def test_no_overlaps_on_real_text(lexicon: CulturalLexicon) -> None:
    text = "室町時代の禅僧雪舟は京都の相国寺で水墨画を学び、延暦寺の天台宗や臨済宗の寺院と交流した。"
    notes = lexicon.notes(text, "ja")
    assert len(notes) >= 5
    assert all(a.end <= b.start for a, b in zip(notes, notes[1:]))
    assert all(text[n.start : n.end] == n.term for n in notes)


@pytest.mark.parametrize(
    "content, problem",
    [
        (b"term\tgloss\n", "columns"),
        ((HEADER + "祇園\tぎおん\n").encode(), "line 2 has 2 columns"),
        (gzip.compress(b"\xff\xfe not utf-8"), "cannot read"),
    ],
)
def test_a_broken_table_is_a_clear_error(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / ("terms.tsv.gz" if content[:2] == b"\x1f\x8b" else "terms.tsv")
    path.write_bytes(content)
    with pytest.raises(InvalidModel, match=problem):
        CulturalLexicon(path).notes("祇園祭", "ja")


def test_english_names_of_japanese_culture_get_the_japanese_term(lexicon: CulturalLexicon) -> None:
    text = "We saw the Gion Festival, visited Kiyomizu-dera and ate shojin ryori in the Heian period."
    notes = {n.term: n for n in lexicon.notes(text, "en-US")}
    assert list(notes) == ["Gion Festival", "Kiyomizu-dera", "shojin ryori", "Heian period"]
    gion = notes["Gion Festival"]
    assert gion.gloss == "祇園祭 (Gion Matsuri Festival)" and gion.reading == "ぎおんまつり"
    assert gion.url == "https://ja.wikipedia.org/?curid=817202" and gion.explanation.startswith("Gion Matsuri Festival")
    assert text[gion.start : gion.end] == "Gion Festival" and gion.license == "CC BY-SA 3.0"
    assert notes["Kiyomizu-dera"].gloss.startswith("清水寺") and notes["shojin ryori"].gloss.startswith("精進料理")
    # The longest name wins; loanwords (アニミズム "Animism") and surnames written in capitals are not notes.
    (festival,) = lexicon.notes("The Gion Matsuri Festival is held in July.", "en")
    assert (festival.term, festival.start) == ("Gion Matsuri Festival", 4)
    assert lexicon.notes("Animism. The HOJO family.", "en") == []
