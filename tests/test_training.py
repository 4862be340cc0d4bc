"""`kakehashi train` on a few hundred pairs: loss goes down, runs resume, the export converts and translates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mt import RuntimeOptions, TranslationOptions, load_translator, parse_language
from mt._training import TrainingConfig, train

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DATA = Path(__file__).parent / "data" / "tatoeba_sample.tsv"


def _config(tmp_path: Path, max_steps: int) -> TrainingConfig:
    return TrainingConfig(
        train=[f"tsv:{DATA}"], output=tmp_path / "model", work_dir=tmp_path / "work", name="tiny-trained",
        vocab_size=1000, d_model=32, encoder_layers=1, decoder_layers=1, attention_heads=2, ffn_dim=64,
        batch_tokens=600, warmup_steps=5, learning_rate=3e-3, max_steps=max_steps, eval_minutes=1000,
        dev_holdout=20, dev_sentences=20, log_every=2, threads=1, license="CC-BY-2.0-FR",
    )


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

    manifest = json.loads((tmp_path / "model" / "kakehashi.json").read_text(encoding="utf-8"))
    assert manifest["family"] == "marian" and manifest["quantization"] == "int8"
    assert sorted(map(tuple, manifest["pairs"])) == [("en", "ja"), ("ja", "en")]
    assert manifest["corpora"]["tatoeba_sample"]["split"] == "train"
    assert manifest["corpora"]["tatoeba_sample"]["dev_held_out"] > 0
    assert manifest["license"] == "CC-BY-2.0-FR"
    assert manifest["training"]["config"]["vocab_size"] == 1000

    translator = load_translator(tmp_path / "model", RuntimeOptions(device="cpu"))
    out = translator.translate_segments(["猫が好きです。"], parse_language("ja"), parse_language("en"),
                                        TranslationOptions(beam_size=2, max_decoding_length=10))
    assert len(out) == 1 and out[0].hypotheses[0].tokens > 0


def test_resume_refuses_a_different_model(tmp_path: Path) -> None:
    train(_config(tmp_path, 2))
    changed = _config(tmp_path, 4)
    changed.d_model = 64
    from mt import InvalidRequest

    with pytest.raises(InvalidRequest, match="d_model"):
        train(changed)
