"""`kakehashi train` on a few hundred pairs: loss goes down, runs resume, the export converts and translates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mt import InvalidRequest, RuntimeOptions, TranslationOptions, load_translator, parse_language
from mt.training.config import TrainingConfig
from mt.training.loop import accumulate_gradients, train
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
    # Each export's score of the last weights joins the dev curve in the state (the relay checkpoint keeps it).
    curve = [(e["step"], e["mean_chrf"]) for e in state["run"]["history"]]
    assert curve == [(16, curve[0][1]), (24, summary["dev_scores"]["last"]["mean_chrf"])]

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


def test_accumulated_batches_give_the_update_of_one_batch_holding_them(tmp_path: Path) -> None:
    import copy
    import random
    from contextlib import nullcontext
    from dataclasses import replace

    from mt.training.data import batches, prepare
    from mt.training.recipes import make_recipe

    config = replace(_config(tmp_path, 1), dropout=0.0)
    recipe = make_recipe(config)
    config.work_dir.mkdir()
    data = prepare(config, recipe).tokens
    order = batches(recipe.lengths(data, 2), 300, random.Random(0))
    # Three batches of clearly different sizes: weighting them equally would not give the larger batch's update.
    group = sorted(order, key=lambda rows: recipe.loss_tokens(data, rows, 2))
    group = [group[0], group[len(group) // 2], group[-1]]
    shares = [recipe.loss_tokens(data, rows, 2) for rows in group]
    assert shares[-1] > 1.5 * shares[0], shares

    torch.manual_seed(0)
    accumulated = recipe.new_model()
    whole = copy.deepcopy(accumulated)
    with torch.no_grad():
        means = [recipe.loss(whole, data, rows)[0].item() for rows in group]
        union_loss = recipe.loss(whole, data, [row for rows in group for row in rows])[0].item()
    assert abs(sum(means) / len(means) - union_loss) > 1e-3, "the check would not tell weighting apart"

    models = (accumulated, whole)
    loss_a, tokens_a = accumulate_gradients(recipe, accumulated, data, group, 2, nullcontext)
    loss_b, tokens_b = accumulate_gradients(recipe, whole, data, [sum(group, [])], 2, nullcontext)
    assert tokens_a == tokens_b and loss_a.item() == pytest.approx(union_loss, rel=1e-5)
    torch.testing.assert_close(loss_a, loss_b, rtol=1e-5, atol=1e-6)
    for (name, a), b in zip(accumulated.named_parameters(), whole.parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-6, msg=name)
    # The same optimizer step (clipped, AdamW) then gives the same weights.
    for model in models:
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        torch.optim.AdamW(model.parameters(), lr=1e-3).step()
    for (name, a), b in zip(accumulated.named_parameters(), whole.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)


def test_train_accumulates_batches_into_optimizer_steps(tmp_path: Path) -> None:
    train(tiny_training_config(tmp_path, 3, batch_tokens=300, accumulate=3), export=False)
    run = torch.load(tmp_path / "work" / "state.pt", weights_only=False)["run"]
    # Three steps of three batches each (the first epoch holds more than nine), saved at a step boundary.
    assert (run["step"], run["epoch"], run["batch"]) == (3, 0, 9)
    assert [(r["from_step"], r["to_step"], r["accumulate"]) for r in run["runs"]] == [(0, 3, 3)]
    assert [row["step"] for row in run["losses"]] == [2]
    with pytest.raises(InvalidRequest, match="accumulate must be 1 or more"):
        train(tiny_training_config(tmp_path, 4, accumulate=0), export=False)


@pytest.mark.parametrize(("setting", "value"), [("d_model", 64), ("ffn_dim", 128)])
def test_resume_refuses_a_different_model(tmp_path: Path, setting: str, value: int) -> None:
    train(_config(tmp_path, 2))
    changed = _config(tmp_path, 4)
    setattr(changed, setting, value)
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
    # A batch's loss is the mean over its loss_tokens (its weight when batches are accumulated into one step).
    two = recipe.encode(
        pairs + [ParallelPair("t", "2", "ja", "en", "今日はとても暑いですね。", "It is very hot today.")]
    )
    model.eval()
    for stage in (1, 2):
        with torch.no_grad():
            losses = [recipe.loss(model, two, [i], stage)[0].item() for i in (0, 1)]
            both = recipe.loss(model, two, [0, 1], stage)[0].item()
        shares = [recipe.loss_tokens(two, [i], stage) for i in (0, 1)]
        assert shares[0] != shares[1] and both == pytest.approx(
            (losses[0] * shares[0] + losses[1] * shares[1]) / sum(shares), rel=1e-5
        ), stage
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
