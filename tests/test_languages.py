"""Unit tests of mt._languages: parsing ISO 639 codes and BCP-47 tags, and each model family's language tokens."""

from __future__ import annotations

import re

import pytest

from mt._errors import KakehashiError, UnsupportedLanguage
from mt._languages import Language, family_tokens, parse_language, supported_codes

FAMILIES = ("nllb", "m2m100", "madlad", "marian", "mbart")


def test_iso639_1_code() -> None:
    assert parse_language("ja") == Language(
        code="ja", base="ja", iso639_3="jpn", name="Japanese", script="Jpan", region=None
    )
    english = parse_language("en")
    assert (english.code, english.iso639_3, english.script, english.name) == ("en", "eng", "Latn", "English")
    assert str(english) == "en"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("jpn", "ja"),
        ("eng", "en"),
        ("deu", "de"),
        ("fra", "fr"),
        ("kor", "ko"),
        ("zho", "zh-Hans"),
        # ISO 639-3 codes NLLB uses for macrolanguage members.
        ("arb", "ar"),
        ("pes", "fa"),
        ("zsm", "ms"),
        # Other ISO 639-3 / 639-2 spellings, and retired ISO 639-1 codes.
        ("cmn", "zh-Hans"),
        ("chi", "zh-Hans"),
        ("ara", "ar"),
        ("ger", "de"),
        ("fre", "fr"),
        ("fil", "tl"),
        ("iw", "he"),
        ("in", "id"),
        ("no", "nb"),
        ("nor", "nb"),
    ],
)
def test_iso639_3_and_alias_codes(code: str, expected: str) -> None:
    assert parse_language(code).code == expected


@pytest.mark.parametrize(
    ("tag", "code", "script", "region"),
    [
        ("zh", "zh-Hans", "Hans", None),
        ("zh-Hans", "zh-Hans", "Hans", None),
        ("zh-Hant", "zh-Hant", "Hant", None),
        # For Chinese the script decides; the region only picks the script when none is given.
        ("zh-TW", "zh-Hant", "Hant", None),
        ("zh-HK", "zh-Hant", "Hant", None),
        ("zh-CN", "zh-Hans", "Hans", None),
        ("zh-Hant-TW", "zh-Hant", "Hant", None),
        ("zh-Hans-TW", "zh-Hans", "Hans", None),
        ("pt-BR", "pt-BR", "Latn", "BR"),
        ("ja-JP", "ja-JP", "Jpan", "JP"),
        ("en-US", "en-US", "Latn", "US"),
        ("es-419", "es-419", "Latn", "419"),
        # The usual script is left out of the canonical tag; another one is kept.
        ("ja-Jpan-JP", "ja-JP", "Jpan", "JP"),
        ("en-Latn-US", "en-US", "Latn", "US"),
        ("sr", "sr", "Cyrl", None),
        ("sr-Latn", "sr-Latn", "Latn", None),
        ("sr-Latn-RS", "sr-Latn-RS", "Latn", "RS"),
    ],
)
def test_bcp47_tags_with_script_and_region(tag: str, code: str, script: str, region: str | None) -> None:
    language = parse_language(tag)
    assert (language.code, language.script, language.region) == (code, script, region)


@pytest.mark.parametrize(
    ("spelling", "code"),
    [
        ("JA", "ja"),
        ("Ja", "ja"),
        ("JPN", "ja"),
        ("ja-jp", "ja-JP"),
        ("ja_JP", "ja-JP"),
        ("JA_jp", "ja-JP"),
        ("pt-br", "pt-BR"),
        ("ZH-HANT", "zh-Hant"),
        ("zh_hant", "zh-Hant"),
        ("zh-tw", "zh-Hant"),
        ("SR-LATN", "sr-Latn"),
        ("  ja \n", "ja"),
    ],
)
def test_parsing_is_case_and_separator_insensitive(spelling: str, code: str) -> None:
    assert parse_language(spelling).code == code


@pytest.mark.parametrize(
    "tag", ["ja", "jpn", "ja-JP", "zh", "zh-TW", "zh-Hant", "pt-BR", "sr-Latn", "sr-Latn-RS", "en-Latn-US", "es-419"]
)
def test_the_canonical_code_parses_back_to_the_same_language(tag: str) -> None:
    """Routes carry codes and re-parse them, so nothing (script, region) may be lost in the code."""
    language = parse_language(tag)
    assert parse_language(language.code) == language


def test_supported_codes_are_sorted_base_codes_that_parse_to_themselves() -> None:
    codes = supported_codes()
    assert codes == sorted(codes)
    assert len(codes) == len(set(codes))
    assert {"ja", "en", "zh", "ko", "de", "pt"} <= set(codes)
    for code in codes:
        language = parse_language(code)
        assert language.base == code
        assert re.fullmatch(r"[a-z]{3}", language.iso639_3)
        assert re.fullmatch(r"[A-Z][a-z]{3}", language.script)
        # Every language's ISO 639-3 code is accepted too.
        assert parse_language(language.iso639_3).base == code


@pytest.mark.parametrize("bad", ["xx", "xx-invalid", "qqq", "english", "jp", "j", "", "   ", "ja-JPN", "ja--JP", "x1"])
def test_unknown_codes_raise_with_the_code_and_what_is_accepted(bad: str) -> None:
    with pytest.raises(UnsupportedLanguage) as info:
        parse_language(bad)
    error = info.value
    assert isinstance(error, KakehashiError)
    assert error.code == bad
    message = str(error)
    assert repr(bad) in message
    assert "ISO 639-1/639-3 or BCP-47" in message
    for accepted in ("af", "ar", "de", "en"):
        assert re.search(rf"\b{accepted}\b", message)
    # The list is bounded and says how many more there are.
    assert re.search(r"… \(\d+ more\)", message)


@pytest.mark.parametrize("bad", [None, 3, b"ja"])
def test_non_strings_raise_unsupported_language(bad: object) -> None:
    with pytest.raises(UnsupportedLanguage, match="unknown language code"):
        parse_language(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("tag", "family", "tokens"),
    [
        ("ja", "nllb", ["jpn_Jpan"]),
        ("en", "nllb", ["eng_Latn"]),
        ("zh", "nllb", ["zho_Hans"]),
        ("zh-TW", "nllb", ["zho_Hant"]),
        ("ar", "nllb", ["arb_Arab"]),
        ("sr-Latn", "nllb", ["srp_Latn"]),
        ("ja", "m2m100", ["__ja__"]),
        ("en-US", "m2m100", ["__en__"]),
        ("zh-Hant", "m2m100", ["__zh__"]),
        ("pt-BR", "madlad", ["<2pt-BR>", "<2pt>"]),
        ("zh-Hant", "madlad", ["<2zh_Hant>", "<2zh-Hant>", "<2zh>"]),
        ("ja", "marian", [">>jpn_Jpan<<", ">>jpn<<", ">>ja<<"]),
        ("zh", "marian", [">>cmn_Hans<<", ">>zho_Hans<<", ">>cmn<<", ">>zho<<", ">>zh<<"]),
        ("ar", "marian", [">>ara_Arab<<", ">>arb_Arab<<", ">>ara<<", ">>arb<<", ">>ar<<"]),
        ("ja", "mbart", ["ja_XX"]),
        ("en", "mbart", ["en_XX"]),
        ("zh", "mbart", ["zh_CN"]),
        ("ko", "mbart", ["ko_KR"]),
        # mBART-50 has one region per language: a named region is tried first, the model's one after.
        ("ja-JP", "mbart", ["ja_JP", "ja_XX"]),
        ("en-US", "mbart", ["en_US", "en_XX"]),
        ("hi-IN", "mbart", ["hi_IN"]),
    ],
)
def test_family_tokens(tag: str, family: str, tokens: list[str]) -> None:
    assert family_tokens(parse_language(tag), family) == tokens


def test_madlad_tokens_start_with_the_language() -> None:
    tokens = family_tokens(parse_language("ja"), "madlad")
    assert tokens[0] == "<2ja>"
    assert set(tokens) == {"<2ja>"}


def test_marian_iso639_3_token_is_second_to_last() -> None:
    """Training relies on ``family_tokens(..., "marian")[-2]`` being ``>>iso639-3<<``."""
    for tag, token in [("ja", ">>jpn<<"), ("en", ">>eng<<"), ("zh", ">>zho<<"), ("ar", ">>arb<<"), ("de", ">>deu<<")]:
        assert family_tokens(parse_language(tag), "marian")[-2] == token


@pytest.mark.parametrize("family", ["llm", "t5", "unknown", ""])
def test_families_without_language_tokens(family: str) -> None:
    assert family_tokens(parse_language("ja"), family) == []


@pytest.mark.parametrize("code", supported_codes())
def test_every_language_has_tokens_in_every_family(code: str) -> None:
    language = parse_language(code)
    tokens = {family: family_tokens(language, family) for family in FAMILIES}
    assert all(tokens.values())
    assert re.fullmatch(r"[a-z]{3}_[A-Z][a-z]{3}", tokens["nllb"][0])
    assert tokens["m2m100"] == [f"__{language.base}__"]
    assert tokens["madlad"][-1] == f"<2{language.base}>"
    assert tokens["marian"][-1] == f">>{language.base}<<"
    assert re.fullmatch(rf"{language.base}_[A-Z]{{2}}", tokens["mbart"][-1])
