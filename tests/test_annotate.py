"""The annotation step: references, support scores and notes added to finished translations, with a status per kind."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from fakes import FakeIndex, annotated_service, write_manifest
from mt import InvalidRequest, KakehashiError, Manifest, Registry, Segment, Translation
from mt._annotate import Annotator
from mt._errors import ReferenceIndexMissing
from mt._lexicon import CulturalLexicon

TERMS = (
    "term\treading\tromaji\tgloss\texplanation\tsource\tref\talt_gloss\n"
    "祇園祭\tぎおんまつり\tGion matsuri\tGion Matsuri Festival\tA festival.\twiki_kyoto\t817202\t\n"
)


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    write_manifest(tmp_path / "models" / "ja-en", "ja-en", ("ja", "en"), (("ja", "en"), ("en", "ja")))
    path = tmp_path / "registry.toml"
    path.write_text('[[model]]\nname = "ja-en"\npath = "models/ja-en"\n', encoding="utf-8")
    return Registry.from_files([path])


@pytest.fixture
def lexicon(tmp_path: Path) -> CulturalLexicon:
    (tmp_path / "terms.tsv").write_text(TERMS, encoding="utf-8")
    return CulturalLexicon(tmp_path / "terms.tsv")


def _translation(models: tuple[str, ...] = ("ja-en",)) -> Translation:
    segments = (
        Segment("猫です。", 0, 4, "It is a cat.", -0.2),
        Segment("祇園祭は祭です。", 5, 13, "Gion Matsuri is a festival.", -0.1),
    )
    return Translation("It is a cat. Gion Matsuri is a festival.", "ja", "en", -0.15, segments, models=models)


def test_references_and_support_fill_each_segment(registry: Registry, lexicon: CulturalLexicon) -> None:
    index = FakeIndex()
    loads: list[Path] = []

    def loader(model_dir: Path, manifest: Manifest) -> FakeIndex:
        loads.append(model_dir)
        return index

    annotator = Annotator(registry, lexicon, index_loader=loader)
    result = annotator.annotate(_translation(), references=True, k=2)
    assert result.annotations == {"references": "ok"}
    cat, gion = result.segments
    assert cat.references == () and cat.support == 0.0
    assert gion.references == FakeIndex.RECORDS and gion.support == 1.0
    assert index.searched[1] == ("祇園祭は祭です。", "Gion Matsuri is a festival.", "ja", "en", 2)
    row = result.to_json(references=True)
    assert row["annotations"] == {"references": "ok"} and "notes" not in row
    assert row["segments"][0]["references"] == [] and row["segments"][0]["support"] == 0.0
    assert row["segments"][1]["references"][0]["url"] == "https://ja.wikipedia.org/?curid=817202"
    assert row["segments"][1]["references"][0]["steps"] == [40, 41]
    annotator.annotate(_translation(), references=True)
    assert loads == [registry.get("ja-en").path]  # the index loads once per model


def test_the_index_loads_once_under_concurrency(registry: Registry, lexicon: CulturalLexicon) -> None:
    loads: list[int] = []

    def slow_loader(model_dir: Path, manifest: Manifest) -> FakeIndex:
        loads.append(1)
        threading.Event().wait(0.05)
        return FakeIndex()

    annotator = Annotator(registry, lexicon, index_loader=slow_loader)
    threads = [threading.Thread(target=annotator.annotate, args=(_translation(), True)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert loads == [1]


def test_a_missing_index_is_an_explicit_status_not_an_empty_list(registry: Registry, lexicon: CulturalLexicon) -> None:
    def loader(model_dir: Path, manifest: Manifest) -> FakeIndex:
        raise ReferenceIndexMissing(manifest.name, [model_dir])

    result = Annotator(registry, lexicon, index_loader=loader).annotate(_translation(), references=True, notes=True)
    status = result.annotations["references"]
    assert status == "no index for model ja-en: run kakehashi index build --model ja-en"
    assert all(s.references is None and s.support is None for s in result.segments)
    row = result.to_json(references=True, notes=True)
    assert all(s["references"] is None for s in row["segments"])
    assert row["annotations"] == {"references": status, "notes": "ok"}


def test_other_failures_and_untranslated_texts_say_why(registry: Registry, lexicon: CulturalLexicon) -> None:
    def broken(model_dir: Path, manifest: Manifest) -> FakeIndex:
        raise KakehashiError("index file is corrupt")

    annotator = Annotator(registry, lexicon, index_loader=broken)
    assert annotator.annotate(_translation(), references=True).annotations["references"] == (
        "reference index of model ja-en unusable: index file is corrupt"
    )
    unchanged = Translation("Hello.", "en", "en", 0.0)
    assert annotator.annotate(unchanged, references=True).annotations["references"].startswith("not translated")
    pivoted = annotator.annotate(_translation(("ja-en", "en-fr")), references=True).annotations["references"]
    assert pivoted == "not available for pivoted translations (models ja-en, en-fr)"
    unknown = annotator.annotate(_translation(("gone",)), references=True).annotations["references"]
    assert unknown.startswith("reference index of model gone unusable: ")


def test_notes_have_offsets_in_the_whole_source_text(registry: Registry, lexicon: CulturalLexicon) -> None:
    annotator = Annotator(registry, lexicon, index_loader=lambda d, m: FakeIndex())
    result = annotator.annotate(_translation(), notes=True)
    assert result.annotations == {"notes": "ok"}
    (note,) = result.notes or ()
    source = "猫です。\n祇園祭は祭です。"
    assert (note.term, note.start, note.end) == ("祇園祭", 5, 8) and source[note.start : note.end] == "祇園祭"
    row = result.to_json(notes=True)
    assert row["notes"][0]["gloss"] == "Gion Matsuri Festival" and "references" not in row["segments"][0]
    assert annotator.annotate(_translation()) is not None and _translation().to_json().keys().isdisjoint(
        {"notes", "annotations"}
    )


def test_k_is_checked(registry: Registry, lexicon: CulturalLexicon) -> None:
    annotator = Annotator(registry, lexicon, index_loader=lambda d, m: FakeIndex())
    with pytest.raises(InvalidRequest, match="between 1 and 20"):
        annotator.annotate(_translation(), references=True, k=0)


def test_the_real_index_module_reports_a_model_without_index(registry: Registry, lexicon: CulturalLexicon) -> None:
    pytest.importorskip("mt._references", reason="mt._references (the reference index) is not in this checkout yet")
    result = Annotator(registry, lexicon).annotate(_translation(), references=True)
    assert result.annotations["references"].startswith("no index for model ja-en: run kakehashi index build")
    assert all(s.references is None for s in result.segments)


def test_references_survive_a_cache_hit_through_the_service(tmp_path: Path) -> None:
    from mt import TranslationOptions
    from serve._schema import TranslationRequest

    service, engine = annotated_service(tmp_path)
    request = TranslationRequest(("祇園祭は祭です。",), "en", "ja", options=TranslationOptions(beam_size=1))
    try:
        first, second = (service.annotate(service.translate(request), True, True) for _ in range(2))
    finally:
        service.stop()
    (fresh,), (cached,) = first, second
    assert engine.batches == [["祇園祭は祭です。"]] and cached.cached and not fresh.cached
    # The fake engine answers "[en]祇園祭は祭です。": found by its source, but no output word is attested.
    assert cached.segments[0].references == fresh.segments[0].references == FakeIndex.RECORDS
    assert cached.segments[0].support == fresh.segments[0].support == 0.0
    assert cached.annotations == fresh.annotations == {"references": "ok", "notes": "ok"}
    assert [n.term for n in cached.notes or ()] == ["祇園祭"]


def test_cli_text_shows_when_training_saw_each_reference(
    registry: Registry, lexicon: CulturalLexicon, capsys: pytest.CaptureFixture[str]
) -> None:
    from mt.cli import _print_annotations

    result = Annotator(registry, lexicon, index_loader=lambda d, m: FakeIndex()).annotate(_translation(), True)
    _print_annotations(result, references=True, notes=False)
    out = capsys.readouterr().out
    assert "1. 祇園祭は祭です。 → Gion Matsuri Festival is a festival." in out
    assert "seen 2 times in training (steps 40 … 41)" in out


def test_english_sources_get_notes_with_offsets_in_the_source(registry: Registry, lexicon: CulturalLexicon) -> None:
    segments = (
        Segment("It is a cat.", 0, 12, "猫です。", -0.2),
        Segment("We saw the Gion Matsuri Festival.", 13, 46, "祇園祭を見た。", -0.1),
    )
    english = Translation("猫です。祇園祭を見た。", "en", "ja", -0.15, segments, models=("ja-en",))
    result = Annotator(registry, lexicon, index_loader=lambda d, m: FakeIndex()).annotate(english, notes=True)
    (note,) = result.notes or ()
    assert (note.term, note.start, note.end) == ("Gion Matsuri Festival", 24, 45)
    assert note.gloss == "祇園祭 (Gion Matsuri Festival)" and note.reading == "ぎおんまつり"
