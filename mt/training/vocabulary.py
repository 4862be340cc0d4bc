"""Vocabularies trained from the corpora: a joint sentencepiece model in the Marian layout, a byte-level BPE
tokenizer for decoder-only models."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from mt._errors import InvalidRequest
from mt._languages import family_tokens, parse_language

# The sentencepiece layout CTranslate2's Marian converter expects: no <pad>/<s> pieces in the model (<pad> is
# appended as the last vocabulary row), </s> = 0, <unk> = 1, and byte fallback so that nothing maps to <unk>.
MARIAN_SPM_LAYOUT: dict[str, Any] = {
    "model_type": "unigram",
    "byte_fallback": True,
    "pad_id": -1,
    "bos_id": -1,
    "eos_id": 0,
    "unk_id": 1,
    "eos_piece": "</s>",
    "unk_piece": "<unk>",
}


def language_token(lang: str) -> str:
    """The Marian target-language token of ``lang``, e.g. ``>>jpn<<``."""
    return family_tokens(parse_language(lang), "marian")[-2]  # >>iso639-3<<


class MarianVocabulary:
    """A joint sentencepiece model plus the Marian id layout: ``</s>``=0, ``<unk>``=1, language tokens, ``<pad>`` last."""

    def __init__(self, model_file: Path):
        import sentencepiece as spm

        self.model_file = model_file
        self.sp = spm.SentencePieceProcessor(model_file=str(model_file))
        self.pieces = [self.sp.id_to_piece(i) for i in range(self.sp.get_piece_size())]
        self.pad_id = len(self.pieces)
        self.eos_id = 0
        self.index = {p: i for i, p in enumerate(self.pieces)}

    @staticmethod
    def train(texts: Iterator[str], prefix: Path, vocab_size: int, language_tokens: Sequence[str]) -> MarianVocabulary:
        """Train on ``texts`` and write ``PREFIX.model``; ``language_tokens`` become single pieces."""
        import sentencepiece as spm

        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=texts,
                model_prefix=str(prefix),
                vocab_size=vocab_size,
                character_coverage=0.9995,
                user_defined_symbols=list(language_tokens),
                **MARIAN_SPM_LAYOUT,
                input_sentence_size=400000,
                shuffle_input_sentence=True,
                minloglevel=2,
            )
        except RuntimeError as exc:
            if "Vocabulary size is smaller than required_chars" in str(exc):
                raise InvalidRequest(
                    f"--vocab-size {vocab_size} is smaller than the number of distinct characters the training data "
                    "needs (Japanese alone has thousands); use a larger --vocab-size, e.g. 8000"
                ) from exc
            raise
        return MarianVocabulary(prefix.with_suffix(".model"))

    def encode(self, text: str, language_token: str | None = None) -> list[int]:
        """Token ids of ``text``, ``</s>`` last, the target-language token first when given."""
        ids = self.sp.encode(text)
        prefix = [self.index[language_token]] if language_token else []
        return prefix + ids + [self.eos_id]

    def decode(self, pieces: Sequence[str]) -> str:
        return self.sp.decode_pieces([p for p in pieces if p not in ("</s>", "<pad>")])

    def write_hf_files(self, directory: Path) -> None:
        """The files transformers' MarianTokenizer reads (one shared vocabulary for both sides)."""
        vocab = {piece: i for i, piece in enumerate(self.pieces)}
        vocab["<pad>"] = self.pad_id
        (directory / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
        shutil.copy(self.model_file, directory / "source.spm")
        shutil.copy(self.model_file, directory / "target.spm")
        tokenizer_config = {
            "tokenizer_class": "MarianTokenizer",
            "model_max_length": 512,
            "separate_vocabs": False,
            "eos_token": "</s>",
            "unk_token": "<unk>",
            "pad_token": "<pad>",
        }
        (directory / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2), encoding="utf-8")


def train_bpe_tokenizer(directory: Path, texts: Iterator[str], vocab_size: int) -> None:
    """A byte-level BPE tokenizer (every byte has a token, so no text is ever <unk>), saved as a working
    ``tokenizer.json`` — transformers 5 cannot build a Llama tokenizer from a raw sentencepiece file."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    directory.mkdir(parents=True, exist_ok=True)
    backend = Tokenizer(models.BPE())
    backend.normalizer = normalizers.NFC()
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<unk>", "<s>", "</s>", "<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(texts, trainer)
    backend.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", backend.token_to_id("<s>"))]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>"
    )
    tokenizer.save_pretrained(directory)
