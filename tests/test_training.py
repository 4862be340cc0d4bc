"""`kakehashi train` on a few hundred pairs: loss goes down, runs resume, the export converts and translates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mt import RuntimeOptions, TranslationOptions, load_translator, parse_language
from mt.training.config import TrainingConfig
from mt.training.loop import train
from tiny_models import tiny_training_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DATA = Path(__file__).parent / "data" / "tatoeba_sample.tsv"


def _config(tmp_path: Path, max_steps: int) -> TrainingConfig:
    return tiny_training_config(tmp_path, max_steps)


def test_train_resume_export(tmp_path: Path) -> None:
    summary = train(_config(tmp_path, 16))
    state = torch.load(tmp_path / "work" / "state.pt", weights_only=False)
    assert state["run"]["step"] == 16
    losses = [row["loss"] for row in state["run"]["losses"]]
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3, losses

    # A second run with a higher step limit continues where the first stopped.
    summary = train(_config(tmp_path, 24))
    state = torch.load(tmp_path / "work" / "state.pt", weights_only=False)
    assert state["run"]["step"] == 24 and summary["steps"] == 24
    steps = [row["step"] for row in state["run"]["losses"]]
    assert steps == sorted(set(steps)) and steps[-1] == 24 and steps[0] == 2

    manifest = json.loads((tmp_path / "work-model" / "kakehashi.json").read_text(encoding="utf-8"))
    assert manifest["family"] == "marian" and manifest["quantization"] == "int8"
    assert sorted(map(tuple, manifest["pairs"])) == [("en", "ja"), ("ja", "en")]
    assert manifest["corpora"]["tatoeba_sample"]["split"] == "train"
    assert manifest["corpora"]["tatoeba_sample"]["dev_held_out"] > 0
    assert manifest["license"] == "CC-BY-2.0-FR"
    assert manifest["training"]["config"]["vocab_size"] == 1000

    translator = load_translator(tmp_path / "work-model", RuntimeOptions(device="cpu"))
    out = translator.translate_segments(
        ["猫が好きです。"],
        parse_language("ja"),
        parse_language("en"),
        TranslationOptions(beam_size=2, max_decoding_length=10),
    )
    assert len(out) == 1 and out[0].hypotheses[0].tokens > 0


@pytest.mark.parametrize(("setting", "value"), [("d_model", 64), ("ffn_dim", 128)])
def test_resume_refuses_a_different_model(tmp_path: Path, setting: str, value: int) -> None:
    train(_config(tmp_path, 2))
    changed = _config(tmp_path, 4)
    setattr(changed, setting, value)
    from mt import InvalidRequest

    with pytest.raises(InvalidRequest, match=setting):
        train(changed)


def _decoder_config(tmp_path: Path, max_steps: int, **changes: object) -> TrainingConfig:
    config = TrainingConfig(
        train=[f"tsv:{DATA}"],
        output=tmp_path / "llm",
        work_dir=tmp_path / "work-llm",
        name="tiny-llm",
        arch="decoder",
        vocab_size=600,
        d_model=32,
        decoder_layers=2,
        attention_heads=2,
        ffn_dim=64,
        batch_tokens=800,
        warmup_steps=5,
        learning_rate=3e-3,
        max_steps=max_steps,
        pretrain_fraction=0.5,
        eval_minutes=1000,
        dev_holdout=10,
        dev_sentences=10,
        log_every=1,
        threads=1,
    )
    for key, value in changes.items():
        setattr(config, key, value)
    return config


def test_decoder_recipe_masks_the_prompt(tmp_path: Path) -> None:
    from mt._corpora import ParallelPair
    from mt.training.recipes import DecoderRecipe

    config = _decoder_config(tmp_path, 1)
    recipe = DecoderRecipe(config)
    pairs = [ParallelPair("t", "1", "ja", "en", "猫が好きです。", "I like cats.")]
    recipe.vocabulary(tmp_path, pairs * 50, ["en", "ja"])
    data = recipe.encode(pairs)
    prompt, answer = data["prompts"][0], data["answers"][0]
    assert recipe.tokenizer.decode(prompt, skip_special_tokens=True) == "Japanese: 猫が好きです。\nEnglish:"
    assert answer[-1] == recipe.tokenizer.eos_token_id
    assert recipe.tokenizer.decode(answer, skip_special_tokens=True).strip() == "I like cats."
    # The prompt is part of the input but contributes nothing to the loss.
    model = recipe.new_model()
    loss_full, _ = recipe.loss(model, data, [0])
    data_changed = {**data, "prompts": [[prompt[0]] + [recipe.tokenizer.unk_token_id] * (len(prompt) - 1)]}
    loss_changed, _ = recipe.loss(model, data_changed, [0])
    assert loss_full.item() != loss_changed.item()  # the prompt conditions the answer…
    labels_prompt_only = {**data, "answers": [[recipe.tokenizer.eos_token_id]]}
    loss_eos, _ = recipe.loss(model, labels_prompt_only, [0])
    assert loss_eos.item() > 0  # …and only answer tokens are predicted
    assert len(data["monolingual"]) == 1


def test_decoder_training_two_stages_and_generator(tmp_path: Path) -> None:
    summary = train(_decoder_config(tmp_path, 30))
    state = torch.load(tmp_path / "work-llm" / "state.pt", weights_only=False)
    losses = state["run"]["losses"]
    stages = [row["stage"] for row in losses]
    assert stages[0] == 1 and stages[-1] == 2 and stages == sorted(stages)
    stage1 = [r["loss"] for r in losses if r["stage"] == 1]
    assert sum(stage1[-3:]) / 3 < sum(stage1[:3]) / 3, stage1
    assert summary["steps"] == 30
    manifest = json.loads((tmp_path / "llm" / "kakehashi.json").read_text(encoding="utf-8"))
    assert manifest["family"] == "llm" and manifest["architecture"] == "decoder-only"
    assert manifest["prompt"]["template"] == "{source_lang}: {text}\n{target_lang}:"
    assert manifest["prompt"]["stop"] == ["\n"]
    from mt._engine import DecoderOnlyTranslator

    translator = load_translator(tmp_path / "llm", RuntimeOptions(device="cpu"))
    assert isinstance(translator, DecoderOnlyTranslator)
    out = translator.translate_segments(
        ["猫が好きです。", "犬"],
        parse_language("ja"),
        parse_language("en"),
        TranslationOptions(beam_size=2, n_best=2, max_decoding_length=8),
    )
    assert len(out) == 2 and all(len(r.hypotheses) == 2 for r in out)
    assert all("\n" not in h.text for r in out for h in r.hypotheses)
