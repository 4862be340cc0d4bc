"""Converted models give the same greedy output as the transformers models they came from (per family)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mt import RuntimeOptions, TranslationOptions, load_translator, parse_language
from mt._engine import DecoderOnlyTranslator, EncoderDecoderTranslator

pytestmark = pytest.mark.integration

SENTENCES = ["子供たちは既に疲れています。", "私の命令は絶対だ。", "猫が好きです。"]
ENGLISH = ["The children are already tired.", "I like cats."]
MAX = 12
GREEDY = TranslationOptions(beam_size=1, max_decoding_length=MAX)
# Parity is checked against float32 weights; "auto" would quantize to int8 on the CPU.
FLOAT32 = RuntimeOptions(device="cpu", compute_type="float32")


def _hf_seq2seq(path: Path):  # type: ignore[no-untyped-def]
    from transformers import AutoModelForSeq2SeqLM

    return AutoModelForSeq2SeqLM.from_pretrained(path).eval()


def _generate(model, ids: list[int], **kwargs):  # type: ignore[no-untyped-def]
    with torch.no_grad():
        out = model.generate(torch.tensor([ids]), num_beams=1, do_sample=False, forced_eos_token_id=None, **kwargs)
    return out[0].tolist()


def test_marian_parity(tiny_checkpoints: dict[str, Path], tiny_models: dict[str, Path]) -> None:
    translator = load_translator(tiny_models["marian"], FLOAT32)
    assert isinstance(translator, EncoderDecoderTranslator)
    hf = _hf_seq2seq(tiny_checkpoints["marian"])
    tok = translator.tokenizer
    ja, en = parse_language("ja"), parse_language("en")
    ours = translator.translate_segments(SENTENCES, ja, en, GREEDY)
    for sentence, result in zip(SENTENCES, ours):
        tokens = [">>eng<<", *tok.encode(sentence)]
        ids = [
            hf.config.vocab_size - 1 if t == "<pad>" else translator_vocab_id(tiny_checkpoints["marian"], t)
            for t in tokens
        ]
        generated = _generate(hf, ids, max_new_tokens=MAX)[1:]  # drop the decoder start token
        pieces = [translator_vocab_piece(tiny_checkpoints["marian"], i) for i in generated]
        assert result.text == tok.decode(pieces)
        assert result.source_tokens == len(tokens)


def translator_vocab_id(checkpoint: Path, token: str) -> int:
    import json

    vocab = json.loads((checkpoint / "vocab.json").read_text(encoding="utf-8"))
    return int(vocab.get(token, vocab["<unk>"]))


def translator_vocab_piece(checkpoint: Path, index: int) -> str:
    import json

    vocab = json.loads((checkpoint / "vocab.json").read_text(encoding="utf-8"))
    return {v: k for k, v in vocab.items()}[index]


def test_language_tokens_per_family(tiny_models: dict[str, Path]) -> None:
    ja, en = parse_language("ja"), parse_language("en")
    marian = load_translator(tiny_models["marian"], FLOAT32)
    assert isinstance(marian, EncoderDecoderTranslator)
    assert marian._source_tokens("猫", ja, en)[0] == ">>eng<<"
    assert marian._source_tokens("cat", en, ja)[0] == ">>jpn<<"
    m2m = load_translator(tiny_models["m2m100"], FLOAT32)
    assert isinstance(m2m, EncoderDecoderTranslator)
    assert m2m._source_tokens("猫", ja, en)[0] == "__ja__"
    assert m2m._language_prefix(en, ja) == ["__en__"]
    madlad = load_translator(tiny_models["madlad"], FLOAT32)
    assert isinstance(madlad, EncoderDecoderTranslator)
    assert madlad._source_tokens("猫", ja, en)[0] == "<2en>"
    assert madlad._language_prefix(en, ja) == []


def test_m2m100_parity_and_language_tokens(tiny_checkpoints: dict[str, Path], tiny_models: dict[str, Path]) -> None:
    from transformers import AutoTokenizer

    translator = load_translator(tiny_models["m2m100"], FLOAT32)
    assert translator.manifest.family == "m2m100"
    hf_tok = AutoTokenizer.from_pretrained(tiny_checkpoints["m2m100"])
    hf_tok.src_lang = "ja"
    hf = _hf_seq2seq(tiny_checkpoints["m2m100"])
    ja, en = parse_language("ja"), parse_language("en")
    ours = translator.translate_segments(SENTENCES, ja, en, GREEDY)
    for sentence, result in zip(SENTENCES, ours):
        ids = hf_tok(sentence)["input_ids"]
        assert hf_tok.convert_ids_to_tokens(ids)[0] == "__ja__"
        generated = _generate(hf, ids, max_new_tokens=MAX, forced_bos_token_id=hf_tok.get_lang_id("en"))
        expected = hf_tok.decode(generated, skip_special_tokens=True).strip()
        assert result.text == expected
        assert result.source_tokens == len(ids)


def test_madlad_parity(tiny_checkpoints: dict[str, Path], tiny_models: dict[str, Path]) -> None:
    from transformers import AutoTokenizer

    translator = load_translator(tiny_models["madlad"], FLOAT32)
    assert translator.manifest.family == "madlad"
    hf_tok = AutoTokenizer.from_pretrained(tiny_checkpoints["madlad"])
    hf = _hf_seq2seq(tiny_checkpoints["madlad"])
    ja, en = parse_language("ja"), parse_language("en")
    ours = translator.translate_segments(SENTENCES, ja, en, GREEDY)
    for sentence, result in zip(SENTENCES, ours):
        ids = [hf_tok.convert_tokens_to_ids("<2en>"), *hf_tok(sentence)["input_ids"]]
        generated = _generate(hf, ids, max_new_tokens=MAX)
        assert result.text == hf_tok.decode(generated, skip_special_tokens=True).strip()


@pytest.mark.parametrize("name", ["llama", "llama-chat"])
def test_decoder_only_parity(name: str, tiny_checkpoints: dict[str, Path], tiny_models: dict[str, Path]) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    translator = load_translator(tiny_models[name], FLOAT32)
    assert isinstance(translator, DecoderOnlyTranslator)
    assert translator.manifest.architecture == "decoder-only"
    hf_tok = AutoTokenizer.from_pretrained(tiny_checkpoints[name])
    hf = AutoModelForCausalLM.from_pretrained(tiny_checkpoints[name]).eval()
    ja, en = parse_language("ja"), parse_language("en")
    ours = translator.translate_segments(SENTENCES, ja, en, GREEDY)
    for sentence, result in zip(SENTENCES, ours):
        prompt = translator.render_prompt(sentence, ja, en)
        if name == "llama":
            assert prompt == f"Japanese: {sentence}\nEnglish:"
        else:
            assert prompt.startswith("<s><|user|>\n") and prompt.endswith("<|assistant|>\n")
        ids = hf_tok(prompt, add_special_tokens=name == "llama")["input_ids"]
        assert ids.count(hf_tok.bos_token_id) == 1
        generated = _generate(hf, ids, max_new_tokens=MAX)[len(ids) :]
        expected = translator.extract_answer(hf_tok.decode(generated, skip_special_tokens=True))
        assert result.text == expected


def test_decoder_only_answer_extraction(tiny_models: dict[str, Path]) -> None:
    translator = load_translator(tiny_models["llama"], FLOAT32)
    assert isinstance(translator, DecoderOnlyTranslator)
    assert translator.extract_answer(" Hello.\nJapanese: こんにちは") == "Hello."
    assert translator.extract_answer("\n\nHello.") == "Hello."
    assert translator.extract_answer("") == ""


def test_n_best_scores_and_batching(tiny_models: dict[str, Path]) -> None:
    translator = load_translator(tiny_models["marian"], FLOAT32)
    ja, en = parse_language("ja"), parse_language("en")
    options = TranslationOptions(beam_size=4, n_best=3, max_decoding_length=MAX)
    results = translator.translate_segments(SENTENCES, ja, en, options)
    for result in results:
        assert len(result.hypotheses) == 3
        scores = [h.score for h in result.hypotheses]
        assert scores == sorted(scores, reverse=True)
        assert all(s <= 0 for s in scores)
    # Token-bounded batches give the same output as one batch.
    small = translator.translate_segments(
        SENTENCES * 4, ja, en, TranslationOptions(beam_size=4, n_best=3, max_decoding_length=MAX, max_batch_tokens=64)
    )
    assert [r.text for r in small] == [r.text for r in results] * 4


def test_int8_conversion_loads_and_is_smaller(tiny_checkpoints: dict[str, Path], tmp_path: Path) -> None:
    from mt import convert_model

    manifest = convert_model(str(tiny_checkpoints["marian"]), tmp_path / "int8", quantization="int8")
    assert manifest.quantization == "int8"
    float_model = convert_model(str(tiny_checkpoints["marian"]), tmp_path / "f32", quantization="float32")
    assert float_model.quantization == "float32"
    assert (tmp_path / "int8" / "model.bin").stat().st_size < (tmp_path / "f32" / "model.bin").stat().st_size
    translator = load_translator(tmp_path / "int8")
    out = translator.translate_segments(["猫"], parse_language("ja"), parse_language("en"), GREEDY)
    assert len(out) == 1 and out[0].hypotheses


@pytest.mark.parametrize("name", ["marian", "m2m100", "madlad", "llama", "llama-chat"])
def test_streaming_gives_the_greedy_translation(name: str, tiny_models: dict[str, Path]) -> None:
    translator = load_translator(tiny_models[name], FLOAT32)
    ja, en = parse_language("ja"), parse_language("en")
    for sentence in SENTENCES:
        streamed = list(translator.stream_segment(sentence, ja, en, GREEDY))
        whole = translator.translate_segments([sentence], ja, en, GREEDY)[0].text
        assert "".join(streamed).strip() == whole


def test_translating_never_imports_torch(tiny_models: dict[str, Path]) -> None:
    """Serving needs only CTranslate2 and the tokenizers: PyTorch (the train extra) must stay out of the process."""
    import subprocess
    import sys

    script = """
import sys
from pathlib import Path
from mt import RuntimeOptions, TranslationOptions, load_translator, parse_language
for directory in sys.argv[1:]:
    translator = load_translator(Path(directory), RuntimeOptions(device="cpu", compute_type="float32"))
    translator.translate_segments(
        ["猫です。"], parse_language("ja"), parse_language("en"), TranslationOptions(max_decoding_length=4)
    )
loaded = sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))
print(len(loaded), loaded[:3])
"""
    directories = [str(tiny_models[name]) for name in ("marian", "m2m100", "madlad", "llama", "llama-chat")]
    done = subprocess.run(
        [sys.executable, "-c", script, *directories], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("0 "), f"torch was imported while translating: {done.stdout}"
