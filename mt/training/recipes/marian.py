"""Encoder-decoder from scratch: Marian architecture, target-language tokens, joint sentencepiece."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mt._corpora import ParallelPair
from mt.training.config import TrainingConfig, require_torch
from mt.training.recipes.base import pad_rows
from mt.training.storage import row_lengths
from mt.training.vocabulary import MarianVocabulary, language_token


def zero_pad_row(model: Any, pad_id: int) -> None:
    """Keep the ``<pad>`` embedding zero.

    CTranslate2 starts the decoder from a zero vector where transformers looks up <pad>: keeping that row zero
    makes both give the same output. With tied embeddings the output layer would otherwise move it.
    """
    torch = require_torch()
    with torch.no_grad():
        model.get_input_embeddings().weight[pad_id].zero_()


class MarianRecipe:
    """Encoder-decoder from scratch: Marian architecture, target-language tokens, joint sentencepiece."""

    family = "marian"

    def __init__(self, config: TrainingConfig):
        self.config = config
        self.vocab: MarianVocabulary | None = None

    @property
    def pretrains(self) -> bool:
        return False

    def prompt(self) -> None:
        return None

    def _vocab(self) -> MarianVocabulary:
        if self.vocab is None:
            raise RuntimeError("MarianRecipe.vocabulary() must run before the vocabulary is used")
        return self.vocab

    def vocabulary(self, work: Path, train_pairs: Sequence[ParallelPair], languages: Sequence[str]) -> None:
        prefix = work / "spm"
        if prefix.with_suffix(".model").exists():
            self.vocab = MarianVocabulary(prefix.with_suffix(".model"))
        else:
            texts = (t for p in train_pairs for t in (p.source, p.target))
            self.vocab = MarianVocabulary.train(
                texts, prefix, self.config.vocab_size, [language_token(lang) for lang in languages]
            )

    def encode(self, examples: Sequence[ParallelPair]) -> dict[str, Any]:
        vocab = self._vocab()
        sources = [vocab.encode(p.source, language_token(p.target_lang)) for p in examples]
        targets = [vocab.encode(p.target) for p in examples]
        cap = self.config.max_tokens
        keep = [i for i in range(len(examples)) if len(sources[i]) <= cap and len(targets[i]) <= cap]
        return {
            "sources": [sources[i] for i in keep],
            "targets": [targets[i] for i in keep],
            "dropped_too_long": len(examples) - len(keep),
        }

    def lengths(self, data: dict[str, Any], stage: int = 2) -> list[int]:
        return [max(s, t) for s, t in zip(row_lengths(data["sources"]), row_lengths(data["targets"]))]

    def new_model(self) -> Any:
        from transformers import MarianConfig, MarianMTModel

        config, vocab = self.config, self._vocab()
        model_config = MarianConfig(
            vocab_size=vocab.pad_id + 1,
            d_model=config.d_model,
            encoder_layers=config.encoder_layers,
            decoder_layers=config.decoder_layers,
            encoder_attention_heads=config.attention_heads,
            decoder_attention_heads=config.attention_heads,
            encoder_ffn_dim=config.ffn_dim,
            decoder_ffn_dim=config.ffn_dim,
            dropout=config.dropout,
            attention_dropout=0.0,
            activation_dropout=0.0,
            max_position_embeddings=max(256, 2 * config.max_tokens),
            pad_token_id=vocab.pad_id,
            eos_token_id=vocab.eos_id,
            decoder_start_token_id=vocab.pad_id,
            forced_eos_token_id=vocab.eos_id,
            scale_embedding=True,
            share_encoder_decoder_embeddings=True,
            tie_word_embeddings=True,
            activation_function="swish",
        )
        model = MarianMTModel(model_config)
        zero_pad_row(model, vocab.pad_id)
        return model

    def loss(self, model: Any, data: dict[str, Any], rows: list[int], stage: int = 2) -> tuple[Any, int]:
        torch = require_torch()
        vocab = self._vocab()
        sources, targets = data["sources"], data["targets"]
        device = self.config.device
        input_ids = pad_rows([sources[i] for i in rows], vocab.pad_id, device)
        labels = pad_rows([targets[i] for i in rows], -100, device)
        # Teacher forcing starts from <pad>, the decoder start token of Marian models.
        decoder_input = pad_rows([[vocab.pad_id] + targets[i][:-1] for i in rows], vocab.pad_id, device)
        logits = model(
            input_ids=input_ids, attention_mask=(input_ids != vocab.pad_id).long(), decoder_input_ids=decoder_input
        ).logits
        loss = torch.nn.functional.cross_entropy(
            logits.view(-1, logits.size(-1)).float(),
            labels.view(-1),
            ignore_index=-100,
            label_smoothing=self.config.label_smoothing,
        )
        tokens = sum(len(sources[i]) + len(targets[i]) for i in rows)
        return loss, tokens

    def loss_tokens(self, data: dict[str, Any], rows: list[int], stage: int = 2) -> int:
        return sum(len(data["targets"][i]) for i in rows)

    def after_step(self, model: Any) -> None:
        zero_pad_row(model, self._vocab().pad_id)

    def export(self, model: Any, directory: Path) -> None:
        vocab = self._vocab()
        directory.mkdir(parents=True, exist_ok=True)
        model.generation_config.bad_words_ids = [[vocab.pad_id]]
        model.generation_config.max_length = 256
        model.save_pretrained(directory)
        vocab.write_hf_files(directory)
