"""Unit tests of mt._corpora: loading each corpus format with provenance ids, and cleaning with a report."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from mt._corpora import (
    CleaningOptions,
    CleaningReport,
    ParallelPair,
    clean_pairs,
    corpus_name,
    load_corpus,
)
from mt._errors import InvalidRequest, UnsupportedLanguage

KYOTO = "id\tja\ten\nBDS00001:s1\t京都は日本の古都である。\tKyoto is an old capital of Japan.\nBDS00001:s3\t清水寺は有名だ。\tKiyomizu-dera is famous.\n"
TATOEBA = (
    "Hi.\tやあ。\tCC-BY 2.0 (France) Attribution: tatoeba.org #123 (user) & #456 (user2)\n"
    "Run!\t走れ！\tCC-BY 2.0 (France) Attribution: tatoeba.org #906328 (papabear) & #2239557 (Some One)\n"
)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def pair(pair_id: str, source: str, target: str) -> ParallelPair:
    return ParallelPair("test", pair_id, "ja", "en", source, target)


def test_tsv_with_a_language_header_keeps_ids(tmp_path: Path) -> None:
    path = write(tmp_path / "wikikyoto.train.tsv", KYOTO)
    pairs = list(load_corpus(str(path)))
    assert pairs == [
        ParallelPair(
            "wikikyoto", "BDS00001:s1", "ja", "en", "京都は日本の古都である。", "Kyoto is an old capital of Japan."
        ),
        ParallelPair("wikikyoto", "BDS00001:s3", "ja", "en", "清水寺は有名だ。", "Kiyomizu-dera is famous."),
    ]


def test_tsv_column_order_decides_the_direction(tmp_path: Path) -> None:
    path = write(tmp_path / "rev.tsv", "id\tEN\tjpn\nx:1\tCat.\t猫。\n")
    (only,) = load_corpus(f"tsv:{path}")
    assert (only.source_lang, only.target_lang, only.source, only.target) == ("en", "ja", "Cat.", "猫。")


def test_gzip_tsv(tmp_path: Path) -> None:
    path = tmp_path / "wikikyoto.dev.tsv.gz"
    path.write_bytes(gzip.compress(KYOTO.encode("utf-8")))
    pairs = list(load_corpus(str(path)))
    assert [p.pair_id for p in pairs] == ["BDS00001:s1", "BDS00001:s3"]
    assert pairs[0].corpus == "wikikyoto"
    assert pairs[1].source == "清水寺は有名だ。"


def test_tsv_errors_name_the_file_and_line(tmp_path: Path) -> None:
    bad_header = write(tmp_path / "a.tsv", "ja\ten\n猫\tcat\n")
    with pytest.raises(InvalidRequest, match=r"header 'id<TAB><lang><TAB><lang>'"):
        list(load_corpus(str(bad_header)))
    short_row = write(tmp_path / "b.tsv", "id\tja\ten\nx:1\t猫\tcat\nx:2\t犬\n")
    with pytest.raises(InvalidRequest, match=r"b\.tsv:3: expected 3 tab-separated fields, got 2"):
        list(load_corpus(str(short_row)))
    unknown_language = write(tmp_path / "c.tsv", "id\tja\tklingon\n")
    with pytest.raises(UnsupportedLanguage, match="klingon"):
        list(load_corpus(str(unknown_language)))


def test_tatoeba_manythings_export(tmp_path: Path) -> None:
    path = write(tmp_path / "jpn.txt", TATOEBA)
    pairs = list(load_corpus(str(path)))
    # The other language is the source, English the target; the id holds both tatoeba.org sentence ids.
    assert pairs[0] == ParallelPair("tatoeba", "456-123", "ja", "en", "やあ。", "Hi.")
    assert pairs[1].pair_id == "2239557-906328"
    assert {p.source_lang for p in pairs} == {"ja"} and {p.target_lang for p in pairs} == {"en"}


def test_tatoeba_language_comes_from_the_file_name(tmp_path: Path) -> None:
    path = write(tmp_path / "deu.txt", "Hi.\tHallo.\tCC-BY 2.0 (France) Attribution: tatoeba.org #1 (a) & #2 (b)\n")
    (only,) = load_corpus(f"tatoeba:{path}")
    assert (only.source_lang, only.target_lang, only.pair_id) == ("de", "en", "2-1")


def test_tatoeba_malformed_line(tmp_path: Path) -> None:
    path = write(tmp_path / "jpn.txt", TATOEBA + "Hello.\tこんにちは。\n")
    with pytest.raises(InvalidRequest, match=r"jpn\.txt:3: expected 'English<TAB>text<TAB>Attribution"):
        list(load_corpus(f"tatoeba:{path}"))


def test_jsonl(tmp_path: Path) -> None:
    rows = [
        {"id": "n1", "source_lang": "ja", "target_lang": "en", "source": "猫", "target": "cat"},
        {"id": 7, "corpus": "other", "source_lang": "JPN", "target_lang": "en-US", "source": "犬", "target": "dog"},
    ]
    path = write(tmp_path / "mine.jsonl", "\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n\n")
    pairs = list(load_corpus(str(path)))
    assert pairs == [
        ParallelPair("mine", "n1", "ja", "en", "猫", "cat"),
        ParallelPair("other", "7", "ja", "en-US", "犬", "dog"),
    ]


@pytest.mark.parametrize(
    "line",
    [
        '{"id": "1", "source_lang": "ja", "target_lang": "en", "source": "猫"}',
        "not json",
        '["a list", "not an object"]',
        '"a string"',
    ],
)
def test_jsonl_malformed_lines(tmp_path: Path, line: str) -> None:
    good = '{"id": "0", "source_lang": "ja", "target_lang": "en", "source": "a", "target": "b"}'
    path = write(tmp_path / "bad.jsonl", f"{good}\n{line}\n")
    with pytest.raises(InvalidRequest, match=r"bad\.jsonl:2: expected a JSON object with id, source_lang"):
        list(load_corpus(str(path)))


def test_aligned_file_pair(tmp_path: Path) -> None:
    write(tmp_path / "kftt.ja", "一行目\n二行目\n")
    write(tmp_path / "kftt.en", "line one\nline two\n")
    pairs = list(load_corpus(f"aligned:{tmp_path}/kftt.{{ja,en}}"))
    assert pairs == [
        ParallelPair("kftt", "1", "ja", "en", "一行目", "line one"),
        ParallelPair("kftt", "2", "ja", "en", "二行目", "line two"),
    ]
    reverse = list(load_corpus(f"aligned:{tmp_path}/kftt.{{en,ja}}"))
    assert [(p.source_lang, p.target_lang, p.source) for p in reverse] == [
        ("en", "ja", "line one"),
        ("en", "ja", "line two"),
    ]


def test_aligned_errors(tmp_path: Path) -> None:
    write(tmp_path / "c.ja", "一\n二\n三\n")
    write(tmp_path / "c.en", "one\ntwo\n")
    with pytest.raises(InvalidRequest, match=r"aligned:PREFIX\.\{src,tgt\}"):
        list(load_corpus(f"aligned:{tmp_path}/c.ja"))
    with pytest.raises(InvalidRequest, match=r"c\.fr does not exist"):
        list(load_corpus(f"aligned:{tmp_path}/c.{{ja,fr}}"))
    # Files of different lengths are not silently truncated.
    with pytest.raises(InvalidRequest, match=r"c\.en has fewer lines than .*c\.ja"):
        list(load_corpus(f"aligned:{tmp_path}/c.{{ja,en}}"))


@pytest.mark.parametrize(
    ("name", "content", "format_"),
    [
        ("x.tsv", KYOTO, "tsv"),
        ("x.dev.tsv.gz", KYOTO, "tsv"),
        ("x.jsonl", '{"id": "1", "source_lang": "ja", "target_lang": "en", "source": "a", "target": "b"}\n', "jsonl"),
        ("jpn.txt", TATOEBA, "tatoeba"),
    ],
)
def test_format_is_guessed_from_the_file(tmp_path: Path, name: str, content: str, format_: str) -> None:
    path = tmp_path / name
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(content.encode("utf-8")))
    else:
        write(path, content)
    guessed = list(load_corpus(str(path)))
    assert guessed == list(load_corpus(f"{format_}:{path}"))
    assert guessed


def test_explicit_format_overrides_the_file_name(tmp_path: Path) -> None:
    path = write(tmp_path / "kyoto.txt", KYOTO)
    assert [p.pair_id for p in load_corpus(f"tsv:{path}")] == ["BDS00001:s1", "BDS00001:s3"]


def test_unguessable_format(tmp_path: Path) -> None:
    path = write(tmp_path / "mystery.txt", "a\tb\n")
    with pytest.raises(InvalidRequest, match=r"cannot tell the format of .*mystery\.txt") as info:
        load_corpus(str(path))
    assert "tsv, tatoeba, jsonl, aligned" in str(info.value)


def test_unknown_format_prefix(tmp_path: Path) -> None:
    path = write(tmp_path / "corpus.xml", "<xml/>")
    with pytest.raises(InvalidRequest, match=r"unknown corpus format 'xml'.*tsv, tatoeba, jsonl, aligned"):
        load_corpus(f"xml:{path}")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest, match=r"corpus file .*missing\.tsv does not exist"):
        load_corpus(str(tmp_path / "missing.tsv"))
    with pytest.raises(InvalidRequest, match="does not exist"):
        load_corpus(f"jsonl:{tmp_path / 'missing.jsonl'}")


def test_corpus_name_and_reversed_pair() -> None:
    assert corpus_name(Path("/data/wikikyoto.train.tsv.gz")) == "wikikyoto"
    original = pair("BDS1:s1", "猫", "cat")
    flipped = original.reversed()
    assert flipped == ParallelPair("test", "BDS1:s1", "en", "ja", "cat", "猫")
    assert flipped.reversed() == original


def test_clean_pairs_drops_and_counts_with_reasons() -> None:
    pairs = [
        pair("BDS1:s1", "猫です。", "It is a cat."),
        pair("BDS1:s2", "", "Orphan target."),
        pair("BDS1:s3", "犬。", "   "),
        pair("BDS1:s4", "あ", "This target is far too long for a one-character source."),
        pair("BDS1:s5", "Infobox Buddhist", "Infobox Buddhist"),
        pair("BDS1:s6", "Template:仏教", "Template:Buddhism"),
        pair("BDS1:title", "清水寺", "Kiyomizu-dera"),
        pair("BDS1:s7", "Kyoto", "Kyoto"),
        pair("BDS1:s8", "猫です。", "It is a cat."),
        pair("BDS1:s9", "  猫です。 ", "It  is a\tcat."),
        pair("BDS1:s10", "x" * 401, "y" * 401),
        pair("BDS1:s11", "寺は古い。", "The temple is old."),
    ]
    report = CleaningReport()
    kept = list(clean_pairs(pairs, report=report))
    assert [(p.pair_id, p.source, p.target) for p in kept] == [
        ("BDS1:s1", "猫です。", "It is a cat."),
        ("BDS1:s11", "寺は古い。", "The temple is old."),
    ]
    assert report.as_dict() == {
        "kept": 2,
        "dropped": {
            "empty": 2,
            "length_ratio": 1,
            "non_sentence": 2,
            "title": 1,
            "untranslated": 1,
            "duplicate": 2,
            "too_long": 1,
        },
    }
    assert report.kept + sum(report.dropped.values()) == len(pairs)


@pytest.mark.parametrize(
    "source",
    [
        "Infobox Buddhist",
        "infobox temple",
        "Category:Temples",
        "File:Kiyomizu.jpg",
        "Image:x.png",
        "{{Nihongo}}",
        "[[京都]]",
    ],
)
def test_non_sentence_segments_are_removed(source: str) -> None:
    report = CleaningReport()
    assert list(clean_pairs([pair("W:1", source, "A real English sentence.")], report=report)) == []
    assert report.dropped == {"non_sentence": 1}
    # Either side counts.
    assert list(clean_pairs([pair("W:2", "本物の文です。", source)])) == []


def test_numbers_copied_unchanged_are_not_untranslated() -> None:
    kept = list(clean_pairs([pair("n:1", "2019", "2019"), pair("n:2", "Kyoto", "Kyoto")]))
    assert [p.pair_id for p in kept] == ["n:1"]


def test_kept_pairs_are_normalised_and_keep_provenance() -> None:
    original = ParallelPair("wikikyoto", "BDS00001:s3", "ja", "en", " か\u3099っこう\u3000です。 ", "It is\n school.")
    (kept,) = clean_pairs([original])
    assert (kept.corpus, kept.pair_id, kept.source_lang, kept.target_lang) == (
        "wikikyoto",
        "BDS00001:s3",
        "ja",
        "en",
    )
    assert kept.source == "がっこう です。"
    assert kept.target == "It is school."


def test_length_ratio_boundary() -> None:
    # Dropped when the longer side exceeds ratio × shorter + 10 characters.
    at_limit = pair("r:1", "あ", "x" * 19)
    over = pair("r:2", "い", "y" * 20)
    report = CleaningReport()
    assert [p.pair_id for p in clean_pairs([at_limit, over], report=report)] == ["r:1"]
    assert report.dropped == {"length_ratio": 1}
    loose = CleaningOptions(max_length_ratio=20.0)
    assert len(list(clean_pairs([over], loose))) == 1


def test_cleaning_options_switch_filters_off() -> None:
    pairs = [
        pair("a:1", "猫。", "Cat."),
        pair("a:2", "猫。", "Cat."),
        pair("a:3", "Infobox Buddhist", "Infobox Buddhist"),
    ]
    lenient = CleaningOptions(drop_duplicates=False, drop_non_sentences=False)
    assert [p.pair_id for p in clean_pairs(pairs, lenient)] == ["a:1", "a:2", "a:3"]
    strict = CleaningOptions(min_chars=3, max_chars=3)
    report = CleaningReport()
    assert list(clean_pairs([pair("b:1", "猫。", "Cat."), pair("b:2", "猫です。", "Cat.")], strict, report)) == []
    assert report.dropped == {"empty": 1, "too_long": 1}


def test_the_report_accumulates_across_corpora(tmp_path: Path) -> None:
    report = CleaningReport()
    tsv = write(tmp_path / "one.tsv", "id\tja\ten\na:1\t猫。\tCat.\na:2\t猫。\tCat.\n")
    jsonl = write(
        tmp_path / "two.jsonl", '{"id": "b:1", "source_lang": "ja", "target_lang": "en", "source": "", "target": "x"}\n'
    )
    kept = [p for spec in (str(tsv), str(jsonl)) for p in clean_pairs(load_corpus(spec), report=report)]
    assert [(p.corpus, p.pair_id) for p in kept] == [("one", "a:1")]
    assert report.as_dict() == {"kept": 1, "dropped": {"duplicate": 1, "empty": 1}}
