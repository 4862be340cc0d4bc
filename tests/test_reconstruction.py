"""Reconstruction reranking: the beam's hypotheses reordered by how well the model translates each back."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mt import InvalidModel, InvalidRequest, RuntimeOptions, TranslationOptions, load_translator, parse_language
from mt._manifest import Manifest

SENTENCES = ["子供たちは既に疲れています。", "私の命令は絶対だ。", "猫が好きです。", "京都の寺を訪ねた。"]
FLOAT32 = RuntimeOptions(device="cpu", compute_type="float32")
JA, EN = parse_language("ja"), parse_language("en")


def _with_manifest(model: Path, directory: Path, **changes: object) -> Path:
    shutil.copytree(model, directory)
    manifest = json.loads((directory / "kakehashi.json").read_text(encoding="utf-8"))
    (directory / "kakehashi.json").write_text(json.dumps({**manifest, **changes}), encoding="utf-8")
    return directory


def test_the_option_is_described_bounded_and_recommendable() -> None:
    assert TranslationOptions.recommendable()["reconstruction_weight"] == 0.0
    assert TranslationOptions().for_model({"reconstruction_weight": 0.5}).reconstruction_weight == 0.5
    assert (
        TranslationOptions(reconstruction_weight=0).for_model({"reconstruction_weight": 0.5}).reconstruction_weight == 0
    )
    schema = TranslationOptions.json_schema()["properties"]["reconstruction_weight"]
    assert schema["type"] == "number" and (schema["minimum"], schema["maximum"]) == (0, 10)
    assert "back into the source" in schema["description"]
    assert "the model's recommendation" in schema["description"]
    with pytest.raises(InvalidRequest, match="reconstruction_weight must be between 0 and 10"):
        TranslationOptions(reconstruction_weight=-1)
    with pytest.raises(InvalidRequest, match="'reconstruction_weight' must be a number"):
        TranslationOptions.from_json({"reconstruction_weight": "yes"})


def test_a_manifest_says_whether_it_translates_back() -> None:
    both = Manifest(name="m", family="marian", languages=("en", "ja"), source="s")
    assert both.translates_back() and both.serves("ja", "en")
    one_way = Manifest(name="m", family="marian", languages=("en", "ja"), source="s", pairs=(("ja", "en"),))
    assert not one_way.translates_back() and one_way.serves("ja", "en") and not one_way.serves("en", "ja")
    regional = Manifest(name="m", family="marian", languages=("en", "pt-BR"), source="s", pairs=(("en", "pt-BR"),))
    assert regional.serves("en", "pt") and not regional.translates_back()


def _reverse_scores(model: Path, pairs: list[tuple[str, str]]) -> list[float]:
    """The tiny Marian model's length-normalised log-probability of each Japanese source given its English
    hypothesis, computed here from the model files alone."""
    import ctranslate2
    import sentencepiece as spm

    scorer = ctranslate2.Translator(str(model), device="cpu", compute_type="float32")
    pieces = spm.SentencePieceProcessor(model_file=str(model / "source.spm"))
    backwards = [[">>jpn<<", *pieces.encode(hypothesis, out_type=str), "</s>"] for _, hypothesis in pairs]
    sources = [pieces.encode(sentence, out_type=str) for sentence, _ in pairs]
    return [sum(r.log_probs) / len(r.log_probs) for r in scorer.score_batch(backwards, sources)]


@pytest.mark.integration
def test_the_beam_is_reordered_by_the_score_of_translating_back(tiny_models: dict[str, Path]) -> None:
    translator = load_translator(tiny_models["marian"], FLOAT32)

    def translate(**options: object) -> list[list[tuple[str, float]]]:
        chosen = TranslationOptions(**{"beam_size": 4, "max_decoding_length": 12, **options})  # type: ignore[arg-type]
        return [
            [(h.text, h.score) for h in result.hypotheses]
            for result in translator.translate_segments(SENTENCES, JA, EN, chosen)
        ]

    beam = translate(n_best=4)
    assert translate(n_best=4, reconstruction_weight=0) == beam
    reranked_by = {weight: translate(n_best=4, reconstruction_weight=weight) for weight in (0.5, 10.0)}
    pairs = [(sentence, text) for sentence, found in zip(SENTENCES, beam) for text, _ in found]
    backward = dict(zip(pairs, _reverse_scores(tiny_models["marian"], pairs)))
    for weight, reranked in reranked_by.items():
        for sentence, found, got in zip(SENTENCES, beam, reranked):
            # The same hypotheses with their own (forward) scores, in the order of the combined score.
            assert sorted(got) == sorted(found)
            combined = [score + weight * backward[sentence, text] for text, score in got]
            assert combined == sorted(combined, reverse=True)
    # The untrained model's beams are not already in that order, so reranking shows in the best hypotheses.
    assert [found[0] for found in reranked_by[10.0]] != [found[0] for found in beam]
    # n_best keeps the first of the reranked hypotheses, and a smaller beam reranks fewer of them.
    assert translate(n_best=1, reconstruction_weight=10.0) == [found[:1] for found in reranked_by[10.0]]
    assert all(len(found) == 2 for found in translate(beam_size=2, n_best=2, reconstruction_weight=1.0))
    # Streaming decodes greedily, one hypothesis: nothing to rerank.
    greedy = TranslationOptions(beam_size=1, max_decoding_length=12, reconstruction_weight=10.0)
    streamed = "".join(translator.stream_segment(SENTENCES[0], JA, EN, greedy)).strip()
    assert streamed == translator.translate_segments(SENTENCES[:1], JA, EN, greedy)[0].text


@pytest.mark.integration
def test_a_recommended_weight_applies_unless_the_request_sets_one(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    plain = load_translator(tiny_models["marian"], FLOAT32)
    directory = _with_manifest(tiny_models["marian"], tmp_path / "tuned", decoding={"reconstruction_weight": 10.0})
    tuned = load_translator(directory, FLOAT32)

    def texts(translator: object, **options: object) -> list[str]:
        chosen = TranslationOptions(beam_size=4, max_decoding_length=12, **options)  # type: ignore[arg-type]
        return [r.text for r in translator.translate_segments(SENTENCES, JA, EN, chosen)]  # type: ignore[attr-defined]

    assert texts(tuned) == texts(plain, reconstruction_weight=10.0) != texts(plain)
    assert texts(tuned, reconstruction_weight=0) == texts(plain)


@pytest.mark.integration
def test_multilingual_models_rerank_through_their_own_tokenizer(tiny_models: dict[str, Path]) -> None:
    translator = load_translator(tiny_models["m2m100"], FLOAT32)
    en, ja = parse_language("en"), parse_language("ja")
    options = TranslationOptions(beam_size=3, n_best=3, max_decoding_length=10)
    beam = translator.translate_segments(["Hello world.", "The cat sleeps."], en, ja, options)
    reranked = translator.translate_segments(
        ["Hello world.", "The cat sleeps."],
        en,
        ja,
        TranslationOptions(**{**options.__dict__, "reconstruction_weight": 2.0}),
    )
    for before, after in zip(beam, reranked):
        assert sorted(before.hypotheses, key=lambda h: h.text) == sorted(after.hypotheses, key=lambda h: h.text)


@pytest.mark.integration
def test_models_that_cannot_translate_back_refuse_the_option(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    one_way = _with_manifest(tiny_models["marian"], tmp_path / "one-way", pairs=[["ja", "en"]])
    translator = load_translator(one_way, FLOAT32)
    with pytest.raises(InvalidRequest, match=r"translating them back \(en→ja\).*accepted here: 0"):
        translator.translate_segments(SENTENCES, JA, EN, TranslationOptions(reconstruction_weight=0.5))
    assert translator.translate_segments(SENTENCES[:1], JA, EN, TranslationOptions(reconstruction_weight=0))
    llm = load_translator(tiny_models["llama"], FLOAT32)
    with pytest.raises(InvalidRequest, match="reconstruction_weight reranks"):
        llm.translate_segments(["猫"], JA, EN, TranslationOptions(reconstruction_weight=0.5, max_decoding_length=4))
    recommending = _with_manifest(
        tiny_models["marian"], tmp_path / "recommending", pairs=[["ja", "en"]], decoding={"reconstruction_weight": 1}
    )
    with pytest.raises(InvalidModel, match="recommends reconstruction_weight.*translates ja→en"):
        load_translator(recommending, FLOAT32)
    llm_recommending = _with_manifest(tiny_models["llama"], tmp_path / "llm", decoding={"reconstruction_weight": 1})
    with pytest.raises(InvalidModel, match="this one is decoder-only"):
        load_translator(llm_recommending, FLOAT32)
