"""Kakehashi.translate above a fake engine: batching, layout, pivoting, detection, alternatives."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakes import FakeTranslator, write_manifest
from mt import (
    InvalidRequest,
    Kakehashi,
    Manifest,
    ModelNotFound,
    Registry,
    RegistryEntry,
    TranslationOptions,
    UnsupportedLanguage,
    UnsupportedLanguagePair,
)


def _service(
    tmp_path: Path, *models: tuple[str, tuple[str, ...], tuple[tuple[str, str], ...]], max_input_tokens: int = 512
) -> tuple[Kakehashi, dict[str, FakeTranslator]]:
    registry = Registry()
    for name, languages, pairs in models:
        path = write_manifest(tmp_path / name, name, languages, pairs, max_input_tokens)
        registry.add(RegistryEntry(name, path, Manifest.load(path)))
    fakes: dict[str, FakeTranslator] = {}

    def loader(path: Path, runtime: object) -> FakeTranslator:
        fake = FakeTranslator(Manifest.load(path))
        fakes[fake.manifest.name] = fake
        return fake

    return Kakehashi(registry, loader=loader), fakes  # type: ignore[arg-type]


JA_EN = ("ja-en", ("ja", "en"), (("ja", "en"), ("en", "ja")))


def test_all_sentences_of_all_texts_go_in_one_batch(tmp_path: Path) -> None:
    kakehashi, fakes = _service(tmp_path, JA_EN)
    results = kakehashi.translate(["猫です。犬です。", "鳥です。"], "ja", "en")
    assert fakes["ja-en"].batches == [["猫です。", "犬です。", "鳥です。"]]
    assert [r.text for r in results] == ["[en]猫です。 [en]犬です。", "[en]鳥です。"]
    assert results[0].models == ("ja-en",)


def test_layout_is_kept(tmp_path: Path) -> None:
    kakehashi, _ = _service(tmp_path, JA_EN)
    text = "  一行目です。\n\n二行目です。三文目。\n"
    result = kakehashi.translate([text], "ja", "en")[0]
    assert result.text == "  [en]一行目です。\n\n[en]二行目です。 [en]三文目。\n"
    # Segments point back into the source text.
    for segment in result.segments:
        assert text[segment.start : segment.end] == segment.source


def test_no_spaces_between_sentences_for_japanese_targets(tmp_path: Path) -> None:
    kakehashi, _ = _service(tmp_path, JA_EN)
    result = kakehashi.translate(["It rains. I stay home.\nBye."], "en", "ja")[0]
    assert result.text == "[ja]It rains.[ja]I stay home.\n[ja]Bye."


def test_empty_and_whitespace_texts(tmp_path: Path) -> None:
    kakehashi, fakes = _service(tmp_path, JA_EN)
    results = kakehashi.translate(["", "  \n", "猫。"], "ja", "en")
    assert [r.text for r in results] == ["", "  \n", "[en]猫。"]
    assert fakes["ja-en"].batches == [["猫。"]]
    assert kakehashi.translate([], "ja", "en") == []


def test_pivot_through_english(tmp_path: Path) -> None:
    kakehashi, fakes = _service(tmp_path, JA_EN, ("en-de", ("en", "de"), (("en", "de"),)))
    result = kakehashi.translate(["猫。"], "ja", "de")[0]
    assert result.text == "[de][en]猫。"
    assert result.models == ("ja-en", "en-de")
    assert fakes["en-de"].batches == [["[en]猫。"]]


def test_unsupported_pairs_and_languages(tmp_path: Path) -> None:
    kakehashi, _ = _service(tmp_path, JA_EN)
    with pytest.raises(UnsupportedLanguagePair, match="ja→en"):
        kakehashi.translate(["x"], "ja", "fr")
    with pytest.raises(UnsupportedLanguage, match="accepted"):
        kakehashi.translate(["x"], "xx-invalid", "en")


def test_n_best_alternatives(tmp_path: Path) -> None:
    kakehashi, _ = _service(tmp_path, JA_EN)
    result = kakehashi.translate(["猫。犬。"], "ja", "en", options=TranslationOptions(beam_size=3, n_best=3))[0]
    assert result.text == "[en]猫。 [en]犬。"
    assert [a.text for a in result.alternatives] == ["[en]猫。#1 [en]犬。#1", "[en]猫。#2 [en]犬。#2"]
    assert result.alternatives[0].score > result.alternatives[1].score
    assert result.segments[0].alternatives == ("[en]猫。#1", "[en]猫。#2")


def test_auto_detection_per_text(tmp_path: Path) -> None:
    kakehashi, _ = _service(tmp_path, JA_EN)
    results = kakehashi.translate(["これはペンです。", "This is a pen."], "auto", "ja")
    assert results[0].detected is not None and results[0].detected.language == "ja"
    assert results[0].source_lang == "ja"
    # Already in the target language: returned unchanged.
    assert results[0].text == "これはペンです。"
    assert results[1].detected is not None and results[1].detected.language == "en"
    assert results[1].text == "[ja]This is a pen."


def test_long_sentences_are_split_not_truncated(tmp_path: Path) -> None:
    kakehashi, fakes = _service(tmp_path, JA_EN, max_input_tokens=10)
    sentence = "あいうえおかきくけこ、さしすせそたちつてと、なにぬねの。"
    result = kakehashi.translate([sentence], "ja", "en")[0]
    batch = fakes["ja-en"].batches[0]
    assert len(batch) > 1 and all(len(part) <= 10 for part in batch)
    assert "".join(batch) == sentence
    assert len(result.segments) == 1
    assert result.text == " ".join(f"[en]{part}" for part in batch)


def test_non_string_text_is_rejected(tmp_path: Path) -> None:
    kakehashi, _ = _service(tmp_path, JA_EN)
    with pytest.raises(InvalidRequest, match="text 1"):
        kakehashi.translate(["ok", 3], "ja", "en")  # type: ignore[list-item]


def test_languages_lists_reachable_targets(tmp_path: Path) -> None:
    kakehashi, _ = _service(tmp_path, JA_EN, ("en-de", ("en", "de"), (("en", "de"),)))
    assert kakehashi.languages() == {"en": ["de", "ja"], "ja": ["de", "en"]}


def test_invalid_options_are_rejected() -> None:
    with pytest.raises(InvalidRequest, match="beam_size"):
        TranslationOptions(beam_size=0)
    with pytest.raises(InvalidRequest, match="n_best"):
        TranslationOptions(beam_size=2, n_best=3)


def test_stream_events_rebuild_the_layout(tmp_path: Path) -> None:
    kakehashi, fakes = _service(tmp_path, JA_EN, ("en-de", ("en", "de"), (("en", "de"),)))
    events = list(kakehashi.stream("猫です。犬です。\n鳥。", "ja", "en"))
    assert [e.kind for e in events][-1] == "translation"
    by_segment: dict[int, str] = {}
    for e in events[:-1]:
        by_segment[e.segment] = by_segment.get(e.segment, "") + e.text
    assert by_segment == {0: "[en]猫です。", 1: "[en]犬です。", 2: "[en]鳥。"}
    final = events[-1].translation
    assert final is not None and final.text == "[en]猫です。 [en]犬です。\n[en]鳥。"
    # Pivot: the first leg runs whole, the last leg streams.
    pivot = list(kakehashi.stream("猫。", "ja", "de"))
    assert pivot[-1].translation is not None and pivot[-1].translation.text == "[de][en]猫。"
    assert fakes["ja-en"].batches[-1] == ["猫。"]
    assert list(kakehashi.stream("", "ja", "en"))[-1].translation.text == ""  # type: ignore[union-attr]


def test_model_directories_only_where_allowed(tmp_path: Path) -> None:
    kakehashi, fakes = _service(tmp_path, JA_EN)
    elsewhere = write_manifest(tmp_path / "elsewhere", "ja-en", ("ja", "en"), (("ja", "en"),))
    # The CLI's --model DIR: any model directory.
    assert kakehashi.translate(["猫。"], "ja", "en", model=str(elsewhere))[0].models == ("ja-en",)
    servers = Kakehashi(kakehashi.registry, loader=kakehashi._loader, model_directories=False)
    with pytest.raises(ModelNotFound, match="give an installed model name. Installed models: ja-en") as refused:
        servers.translate(["猫。"], "ja", "en", model=str(elsewhere))
    assert "directory" not in str(refused.value)
    assert servers.translate(["猫。"], "ja", "en", model="ja-en")[0].text == "[en]猫。"
