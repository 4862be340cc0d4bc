"""Unit tests of mt._segmentation: sentence cutting that keeps the layout, reassembly, and long-sentence splits."""

from __future__ import annotations

import random

import pytest

from mt._segmentation import Piece, join_translation, segment, split_long, writes_without_spaces


def sentences(text: str) -> list[str]:
    return [p.text for p in segment(text) if p.translate]


def assert_well_formed(text: str, pieces: list[Piece]) -> None:
    """The invariants every segmentation promises, whatever the text."""
    assert "".join(p.text for p in pieces) == text
    position = 0
    for piece in pieces:
        assert piece.start == position, pieces
        assert text[piece.start : piece.end] == piece.text
        assert piece.text, "no empty pieces"
        if piece.translate:
            assert piece.text == piece.text.strip()
        else:
            assert not piece.text.strip(), f"layout piece with content: {piece!r}"
        position = piece.end
    assert position == len(text)


LAYOUT_TEXTS = [
    "",
    " ",
    "\n",
    "\n\n\n",
    "\r\n",
    "\t",
    "Hello.",
    "  Leading and trailing spaces.  ",
    "\n\nBlank lines before. And after.\n\n",
    "First line.\r\nSecond line.\r\n\r\nFourth line.\r\n",
    "\tIndented with a tab. Then a tab between.\tAnd the end.\t",
    "A.  Two spaces. \t Mixed.",
    "今日は晴れです。明日は雨ですか？そうです！",
    "  「こんにちは。」と彼は言った。\n\n　全角スペースの行。\n",
    "我喜欢猫。你呢？我也是！",
    "日本語です。This is English. また日本語。\n  Indented line.",
    "No terminal at all",
    "...",
    "。。。",
    "\u3000",
]


@pytest.mark.parametrize("text", LAYOUT_TEXTS)
def test_pieces_concatenate_to_the_exact_input(text: str) -> None:
    assert_well_formed(text, segment(text))


def test_empty_and_blank_texts_have_no_sentences() -> None:
    assert segment("") == []
    assert segment("   ") == [Piece("   ", 0, 3, False)]
    assert segment("\n\n") == [Piece("\n\n", 0, 2, False)]
    assert sentences(" \t\r\n \n") == []


def test_english_sentences_and_their_offsets() -> None:
    text = "Hello world. How are you? I am fine!"
    assert segment(text) == [
        Piece("Hello world.", 0, 12, True),
        Piece(" ", 12, 13, False),
        Piece("How are you?", 13, 25, True),
        Piece(" ", 25, 26, False),
        Piece("I am fine!", 26, 36, True),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Abbreviations and initials do not end a sentence.
        ("Mr. Smith met Dr. Jones. They talked.", ["Mr. Smith met Dr. Jones.", "They talked."]),
        ("We met at 3 p.m. yesterday. It rained.", ["We met at 3 p.m. yesterday.", "It rained."]),
        ("Fruit, e.g. apples. Vegetables, i.e. Carrots.", ["Fruit, e.g. apples.", "Vegetables, i.e. Carrots."]),
        ("He moved to the U.S. Army base. Then home.", ["He moved to the U.S. Army base.", "Then home."]),
        ("Go to St. Louis. Now.", ["Go to St. Louis.", "Now."]),
        ("J. R. R. Tolkien wrote it. Yes.", ["J. R. R. Tolkien wrote it.", "Yes."]),
        # "No." and "Vol." abbreviate only before a number.
        ("Room No. 5 is free. Take it.", ["Room No. 5 is free.", "Take it."]),
        ("See Vol. 2 first. Then read on.", ["See Vol. 2 first.", "Then read on."]),
        ("I said no. Then I left.", ["I said no.", "Then I left."]),
        # Decimals and dots inside words.
        ("Pi is 3.14 roughly. Next.", ["Pi is 3.14 roughly.", "Next."]),
        ("It costs $3.50. Cheap.", ["It costs $3.50.", "Cheap."]),
        ("See example.com for more. Thanks.", ["See example.com for more.", "Thanks."]),
        ("First.Second.", ["First.Second."]),
        # A lowercase word after the full stop continues the sentence.
        ("Wait... what? Really.", ["Wait... what?", "Really."]),
        ("Is it? yes it is.", ["Is it? yes it is."]),
        # Digits, quotes and brackets may start the next sentence.
        ("Chapter 2. 3 items follow.", ["Chapter 2.", "3 items follow."]),
        ('He said "Go." Then he left.', ['He said "Go."', "Then he left."]),
        ("(See below.) Then more.", ["(See below.)", "Then more."]),
        ("Done. (Really.)", ["Done.", "(Really.)"]),
        # Runs of terminals stay together.
        ("What?! No way!!! Fine.", ["What?!", "No way!!!", "Fine."]),
    ],
)
def test_english_sentence_ends(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected
    assert_well_formed(text, segment(text))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("今日は晴れです。明日は雨ですか？そうです！", ["今日は晴れです。", "明日は雨ですか？", "そうです！"]),
        ("本当？！次の文。", ["本当？！", "次の文。"]),
        # Never inside 「」『』（）.
        (
            "彼は「そうです。わかりました。」と言った。次の文。",
            ["彼は「そうです。わかりました。」と言った。", "次の文。"],
        ),
        ("彼は『本の題。副題！』と書いた。", ["彼は『本の題。副題！』と書いた。"]),
        ("（注：これは例です。）次。", ["（注：これは例です。）", "次。"]),
        # A closing quote belongs to the sentence it closes; a quoting particle keeps the sentence going.
        ("「こんにちは。」「さようなら。」", ["「こんにちは。」", "「さようなら。」"]),
        ("「はい。」って言った。", ["「はい。」って言った。"]),
        # ASCII terminals inside Japanese text.
        ("Wow!すごい。", ["Wow!", "すごい。"]),
        ("Really?本当だ", ["Really?", "本当だ"]),
        ("第1章。第2章。", ["第1章。", "第2章。"]),
        ("終わりがない文", ["終わりがない文"]),
    ],
)
def test_japanese_sentence_ends(text: str, expected: list[str]) -> None:
    pieces = segment(text)
    assert [p.text for p in pieces if p.translate] == expected
    # Japanese needs no spaces: without whitespace in the input there is no layout piece at all.
    assert all(p.translate for p in pieces)
    assert_well_formed(text, pieces)


def test_chinese_sentence_ends() -> None:
    assert sentences("我喜欢猫。你呢？我也是！") == ["我喜欢猫。", "你呢？", "我也是！"]
    # Not inside “” quotes; the closing quote stays with its sentence.
    assert sentences("他说：“我来了。你呢？”然后走了。") == ["他说：“我来了。你呢？”", "然后走了。"]
    assert sentences("今天很好．明天呢？") == ["今天很好．", "明天呢？"]


def test_mixed_japanese_and_english() -> None:
    text = "日本語です。This is English. また日本語。\nNext line? はい。"
    assert sentences(text) == ["日本語です。", "This is English.", "また日本語。", "Next line?", "はい。"]
    assert_well_formed(text, segment(text))


def test_line_breaks_always_end_a_sentence() -> None:
    assert sentences("no terminal here\nand a lowercase line") == ["no terminal here", "and a lowercase line"]
    assert sentences("「開いた括弧\n閉じた」") == ["「開いた括弧", "閉じた」"]


def test_layout_pieces_keep_crlf_tabs_and_indentation() -> None:
    text = "\tOne.\r\n\r\n  Two. Three.\t\n"
    pieces = segment(text)
    assert_well_formed(text, pieces)
    assert [p.text for p in pieces if p.translate] == ["One.", "Two.", "Three."]
    layout = "".join(p.text for p in pieces if not p.translate)
    assert sorted(layout) == sorted("\t\r\n\r\n   \t\n")


@pytest.mark.parametrize("text", [t for t in LAYOUT_TEXTS if "\u3000" not in t and "日本語" not in t])
def test_join_with_the_source_sentences_gives_back_the_input(text: str) -> None:
    """Where the layout already separates sentences, reassembling the untranslated sentences is exact."""
    pieces = segment(text)
    originals = [p.text for p in pieces if p.translate]
    target = "ja" if any("\u3040" <= c <= "\u9fff" for c in text) else "en"
    assert join_translation(pieces, originals, target) == text


def test_join_keeps_layout_and_adds_spaces_for_spaced_targets() -> None:
    text = "  一行目です。\n\n二行目です。三文目。\n"
    pieces = segment(text)
    translated = [f"<{i}>" for i in range(3)]
    assert join_translation(pieces, translated, "en") == "  <0>\n\n<1> <2>\n"
    assert join_translation(pieces, translated, "ja") == "  <0>\n\n<1><2>\n"


def test_join_drops_spaces_between_sentences_for_unspaced_targets() -> None:
    text = "It rains. I stay home.\r\n\tBye.  See you.\n"
    pieces = segment(text)
    out = join_translation(pieces, ["雨。", "家。", "じゃ。", "またね。"], "ja")
    assert out == "雨。家。\r\n\tじゃ。またね。\n"
    # The same holds for any no-space language and regional or script variant.
    assert join_translation(pieces, ["a", "b", "c", "d"], "zh-Hant") == "ab\r\n\tcd\n"
    assert join_translation(pieces, ["a", "b", "c", "d"], "th") == "ab\r\n\tcd\n"
    # Spaced targets keep the original separators verbatim.
    assert join_translation(pieces, ["a", "b", "c", "d"], "en-US") == "a b\r\n\tc  d\n"


def test_join_keeps_trailing_whitespace_before_a_line_break() -> None:
    text = "One. \nTwo."
    assert join_translation(segment(text), ["一。", "二。"], "ja") == "一。 \n二。"


def test_join_of_empty_input() -> None:
    assert join_translation([], [], "en") == ""
    assert join_translation(segment("\n \n"), [], "ja") == "\n \n"


@pytest.mark.parametrize(
    ("language", "expected"),
    [("ja", True), ("zh", True), ("zh-Hans", True), ("th", True), ("my", True), ("en", False), ("ko", False)],
)
def test_writes_without_spaces(language: str, expected: bool) -> None:
    assert writes_without_spaces(language) is expected


def test_split_long_returns_short_sentences_unchanged() -> None:
    assert split_long("short", 10, len) == ["short"]
    assert split_long("exactly10!", 10, len) == ["exactly10!"]


def test_split_long_prefers_clause_boundaries_and_packs_greedily() -> None:
    sentence = "あいう、えおか、きくけ、こさし。"
    parts = split_long(sentence, 8, len)
    assert parts == ["あいう、えおか、", "きくけ、こさし。"]
    # Latin clause punctuation too.
    assert split_long("one two, three four; five six", 16, len) == ["one two,", " three four;", " five six"]


def test_split_long_falls_back_to_spaces_then_characters() -> None:
    words = "alpha beta gamma delta epsilon"
    parts = split_long(words, 12, len)
    assert parts == ["alpha beta ", "gamma delta ", "epsilon"]
    unbroken = "x" * 25
    parts = split_long(unbroken, 10, len)
    assert "".join(parts) == unbroken
    assert all(0 < len(p) <= 10 for p in parts)


def test_split_long_splits_oversized_clauses_further() -> None:
    sentence = "短い、" + "とても長い節" * 5 + "、最後。"
    parts = split_long(sentence, 7, len)
    assert "".join(parts) == sentence
    assert all(len(p) <= 7 for p in parts)
    assert parts[0] == "短い、"
    assert parts[-1] == "最後。"


def test_split_long_uses_the_given_token_counter() -> None:
    def count_words(text: str) -> int:
        return len(text.split())

    sentence = "one two three four five six seven"
    parts = split_long(sentence, 3, count_words)
    assert "".join(parts) == sentence
    assert [count_words(p) for p in parts] == [3, 3, 1]


def test_split_long_of_a_single_character_over_the_limit() -> None:
    assert split_long("猫", 0, len) == ["猫"]


def test_split_long_never_loses_text() -> None:
    rng = random.Random(20240607)
    alphabet = "abcあい漢字 、,;。.\t"
    for _ in range(300):
        sentence = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 80)))
        limit = rng.randint(1, 20)
        parts = split_long(sentence, limit, len)
        assert "".join(parts) == sentence
        assert all(part for part in parts)
        assert all(len(part) <= limit for part in parts), (sentence, limit, parts)


def test_segment_then_split_recovers_the_text() -> None:
    """What the pipeline does: segment, split the long sentences, and nothing of the input is lost."""
    text = "  これは、とても、長い、文です。短い。\nAnother rather long English sentence, with clauses, here. End.\n"
    rebuilt = []
    for piece in segment(text):
        if piece.translate:
            parts = split_long(piece.text, 10, len)
            assert all(len(p) <= 10 for p in parts)
            rebuilt.extend(parts)
        else:
            rebuilt.append(piece.text)
    assert "".join(rebuilt) == text
