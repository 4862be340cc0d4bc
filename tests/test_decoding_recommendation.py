"""A model's recommended decoding (its manifest's ``decoding``) applies where a request leaves those options unset."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mt import InvalidModel, InvalidRequest, RuntimeOptions, TranslationOptions, load_translator, parse_language
from mt._manifest import Manifest
from mt._segment_store import weights_fingerprint

SENTENCES = ["子供たちは既に疲れています。", "私の命令は絶対だ。", "猫が好きです。"]
FLOAT32 = RuntimeOptions(device="cpu", compute_type="float32")


def _recommending(model: Path, directory: Path, decoding: object) -> Path:
    shutil.copytree(model, directory)
    manifest = json.loads((directory / "kakehashi.json").read_text(encoding="utf-8"))
    (directory / "kakehashi.json").write_text(json.dumps({**manifest, "decoding": decoding}), encoding="utf-8")
    return directory


def test_unset_options_take_the_recommendation_else_their_neutral_value() -> None:
    recommended = {"no_repeat_ngram_size": 4}
    assert TranslationOptions.recommendable() == {
        "length_penalty": 1.0,
        "repetition_penalty": 1.0,
        "no_repeat_ngram_size": 0,
        "reconstruction_weight": 0.0,
    }
    chosen = TranslationOptions(beam_size=2).for_model(recommended)
    assert (chosen.beam_size, chosen.no_repeat_ngram_size, chosen.repetition_penalty, chosen.length_penalty) == (
        2,
        4,
        1.0,
        1.0,
    )
    assert TranslationOptions(no_repeat_ngram_size=0).for_model(recommended).no_repeat_ngram_size == 0
    assert TranslationOptions().for_model({}).no_repeat_ngram_size == 0
    with pytest.raises(InvalidRequest, match="unknown decoding option.*beam_size; accepted: length_penalty"):
        TranslationOptions.check_recommendation({"beam_size": 8})
    with pytest.raises(InvalidRequest, match="no_repeat_ngram_size must be between 0 and 10"):
        TranslationOptions.check_recommendation({"no_repeat_ngram_size": 11})
    with pytest.raises(InvalidRequest, match="'repetition_penalty' must be a number"):
        TranslationOptions.check_recommendation({"repetition_penalty": "high"})
    schema = TranslationOptions.json_schema()["properties"]["no_repeat_ngram_size"]
    assert "default" not in schema and "the model's recommendation" in schema["description"]


@pytest.mark.integration
def test_a_model_decodes_with_its_recommendation_unless_the_request_sets_it(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    plain = load_translator(tiny_models["marian"], FLOAT32)
    directory = _recommending(tiny_models["marian"], tmp_path / "tuned", {"no_repeat_ngram_size": 1})
    tuned = load_translator(directory, FLOAT32)
    ja, en = parse_language("ja"), parse_language("en")

    def texts(translator: object, **options: object) -> list[str]:
        chosen = TranslationOptions(beam_size=2, max_decoding_length=12, **options)  # type: ignore[arg-type]
        return [r.text for r in translator.translate_segments(SENTENCES, ja, en, chosen)]  # type: ignore[attr-defined]

    assert texts(tuned) == texts(plain, no_repeat_ngram_size=1)
    assert texts(tuned, no_repeat_ngram_size=0) == texts(plain)
    # The untrained model repeats itself, so the recommendation shows in its output.
    assert texts(tuned) != texts(plain)
    greedy = TranslationOptions(beam_size=1, max_decoding_length=12)
    streamed = "".join(tuned.stream_segment(SENTENCES[0], ja, en, greedy)).strip()
    assert streamed == tuned.translate_segments(SENTENCES[:1], ja, en, greedy)[0].text

    # Cached translations of the model as it was must not be served once its recommendation changes.
    fingerprint = weights_fingerprint(directory, Manifest.load(directory))
    assert fingerprint != weights_fingerprint(tiny_models["marian"], Manifest.load(tiny_models["marian"]))
    assert fingerprint.endswith('{"no_repeat_ngram_size": 1}')
    # Benchmarks reuse kept translations by the same fingerprint.
    from mt.bench.systems import ModelSystem, parse_system

    assert ModelSystem(parse_system(f"m={directory}")).identity("ja", "en").endswith(fingerprint)


@pytest.mark.integration
def test_a_recommendation_that_cannot_be_used_is_refused_when_the_model_loads(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    broken = _recommending(tiny_models["marian"], tmp_path / "broken", {"beam": 8})
    with pytest.raises(InvalidModel, match="'decoding' recommends.*unknown decoding option.*beam; accepted"):
        load_translator(broken, FLOAT32)
