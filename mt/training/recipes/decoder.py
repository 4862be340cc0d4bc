"""Decoder-only (Llama architecture): causal language modelling, then translation prompts."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mt._corpora import ParallelPair
from mt._languages import parse_language
from mt._manifest import PromptFormat
from mt.training.config import TrainingConfig, require_torch
from mt.training.recipes.base import pad_rows
from mt.training.storage import row_lengths
from mt.training.vocabulary import train_bpe_tokenizer

DECODER_TEMPLATE = "{source_lang}: {text}\n{target_lang}:"


class DecoderRecipe:
    """Decoder-only (Llama architecture): stage 1 causal LM on both languages' text, stage 2 translation
    prompts in both directions with the loss on the answer only. ``init_from`` fine-tunes an existing
    causal LM checkpoint (stage 2 only) with its own tokenizer."""

    family = "llm"

    def __init__(self, config: TrainingConfig):
        self.config = config
        self.tokenizer: Any = None

    @property
    def pretrains(self) -> bool:
        return not self.config.init_from and self.config.pretrain_fraction > 0

    def prompt(self) -> PromptFormat:
        return PromptFormat(template=DECODER_TEMPLATE, stop=("\n",))

    def vocabulary(self, work: Path, train_pairs: Sequence[ParallelPair], languages: Sequence[str]) -> None:
        from transformers import AutoTokenizer

        if self.config.init_from:
            self.tokenizer = AutoTokenizer.from_pretrained(self.config.init_from)
            return
        directory = work / "tokenizer"
        if not (directory / "tokenizer.json").exists():
            train_bpe_tokenizer(
                directory, (t for p in train_pairs for t in (p.source, p.target)), self.config.vocab_size
            )
        self.tokenizer = AutoTokenizer.from_pretrained(directory)

    def _prompt_ids(self, pair: ParallelPair) -> list[int]:
        text = DECODER_TEMPLATE.format(
            source_lang=parse_language(pair.source_lang).name,
            text=pair.source,
            target_lang=parse_language(pair.target_lang).name,
        )
        return list(self.tokenizer(text)["input_ids"])

    def encode(self, examples: Sequence[ParallelPair]) -> dict[str, Any]:
        tok = self.tokenizer
        eos = tok.eos_token_id
        cap = self.config.max_tokens
        prompts, answers = [], []
        for pair in examples:
            prompt = self._prompt_ids(pair)
            answer = list(tok(" " + pair.target, add_special_tokens=False)["input_ids"]) + [eos]
            if len(prompt) + len(answer) <= 2 * cap:
                prompts.append(prompt)
                answers.append(answer)
        monolingual = []
        if not self.config.init_from:
            seen: set[str] = set()
            for pair in examples:
                if pair.source not in seen:
                    seen.add(pair.source)
                    ids = list(tok(pair.source)["input_ids"]) + [eos]
                    if len(ids) <= cap:
                        monolingual.append(ids)
        return {
            "prompts": prompts,
            "answers": answers,
            "monolingual": monolingual,
            "dropped_too_long": len(examples) - len(prompts),
        }

    def lengths(self, data: dict[str, Any], stage: int = 2) -> list[int]:
        if stage == 1:
            return row_lengths(data["monolingual"])
        return [p + a for p, a in zip(row_lengths(data["prompts"]), row_lengths(data["answers"]))]

    def new_model(self) -> Any:
        from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

        if self.config.init_from:
            return AutoModelForCausalLM.from_pretrained(self.config.init_from)
        c, tok = self.config, self.tokenizer
        model_config = LlamaConfig(
            vocab_size=len(tok),
            hidden_size=c.d_model,
            intermediate_size=c.ffn_dim,
            num_hidden_layers=c.decoder_layers,
            num_attention_heads=c.attention_heads,
            num_key_value_heads=c.attention_heads,
            max_position_embeddings=max(256, 2 * c.max_tokens + 16),
            bos_token_id=tok.bos_token_id,
            eos_token_id=tok.eos_token_id,
            pad_token_id=tok.pad_token_id,
            tie_word_embeddings=True,
            attention_dropout=0.0,
        )
        return LlamaForCausalLM(model_config)

    def loss(self, model: Any, data: dict[str, Any], rows: list[int], stage: int = 2) -> tuple[Any, int]:
        torch = require_torch()
        pad = self.tokenizer.pad_token_id
        if stage == 1:
            sequences = [data["monolingual"][i] for i in rows]
            labels_rows = sequences
        else:
            sequences = [data["prompts"][i] + data["answers"][i] for i in rows]
            # The loss is on the answer only: the prompt is given, not predicted.
            labels_rows = [[-100] * len(data["prompts"][i]) + data["answers"][i] for i in rows]
        device = self.config.device
        input_ids = pad_rows(sequences, pad, device)
        labels = pad_rows(labels_rows, -100, device)
        attention = pad_rows([[1] * len(s) for s in sequences], 0, device)
        logits = model(input_ids=input_ids, attention_mask=attention).logits
        shifted = logits[:, :-1].reshape(-1, logits.size(-1)).float()
        targets = labels[:, 1:].reshape(-1)
        loss = torch.nn.functional.cross_entropy(
            shifted, targets, ignore_index=-100, label_smoothing=self.config.label_smoothing
        )
        return loss, sum(len(s) for s in sequences)

    def loss_tokens(self, data: dict[str, Any], rows: list[int], stage: int = 2) -> int:
        # The labels are shifted by one: the first token of a sequence is never predicted (in stage 2 that is a
        # prompt token, unless the prompt is empty).
        if stage == 1:
            return sum(max(len(data["monolingual"][i]) - 1, 0) for i in rows)
        return sum(len(data["answers"][i]) - (not data["prompts"][i]) for i in rows)

    def after_step(self, model: Any) -> None:
        return None

    def export(self, model: Any, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(directory)
        self.tokenizer.save_pretrained(directory)
