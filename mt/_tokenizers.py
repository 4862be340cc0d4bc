"""Turning text into the token strings CTranslate2 consumes, per model family, and back.

Marian models use their sentencepiece files directly (fast, and no transformers import at serving time);
every other family uses the checkpoint's own Hugging Face tokenizer, saved beside the weights by
``kakehashi convert``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from mt._errors import InvalidModel, UnsupportedLanguagePair
from mt._languages import Language, family_tokens


class ModelTokenizer(Protocol):
    def encode(self, text: str) -> list[str]: ...

    def encode_target(self, text: str) -> list[str]: ...

    def decode(self, tokens: Sequence[str]) -> str: ...

    def has_token(self, token: str) -> bool: ...

    @property
    def special_tokens(self) -> set[str]: ...


class SentencePieceTokenizer:
    """Marian's tokenizer: ``source.spm`` / ``target.spm`` and a token list; ``</s>`` appended to the source."""

    def __init__(self, directory: Path):
        import sentencepiece as spm

        try:
            self.source = spm.SentencePieceProcessor(model_file=str(directory / "source.spm"))
            target = directory / "target.spm"
            self.target = spm.SentencePieceProcessor(model_file=str(target)) if target.exists() else self.source
        except (OSError, RuntimeError) as exc:
            raise InvalidModel(directory, f"cannot load the sentencepiece model ({exc})") from exc
        vocab_file = directory / "vocab.json"
        if vocab_file.is_file():
            self.vocab = set(json.loads(vocab_file.read_text(encoding="utf-8")))
        else:
            self.vocab = {self.source.id_to_piece(i) for i in range(self.source.get_piece_size())}
        self.special_tokens = {"</s>", "<pad>", "<unk>", "<s>"}

    def encode(self, text: str) -> list[str]:
        return [*self.source.encode(text, out_type=str), "</s>"]

    def encode_target(self, text: str) -> list[str]:
        """``text`` as target tokens (no end token: CTranslate2 adds it), e.g. to score it as a translation."""
        return list(self.target.encode(text, out_type=str))

    def decode(self, tokens: Sequence[str]) -> str:
        return str(self.target.decode_pieces([t for t in tokens if t not in self.special_tokens]))

    def has_token(self, token: str) -> bool:
        return token in self.vocab


def _tokenizer_class(directory: Path) -> Any:
    """The tokenizer class named in ``tokenizer_config.json``, else ``AutoTokenizer``.

    Naming the class keeps transformers from reading the model's configuration, which imports PyTorch (hundreds
    of megabytes) into a process that only translates.
    """
    try:
        import transformers
    except ImportError as exc:  # pragma: no cover - transformers is a core dependency
        raise InvalidModel(directory, "this model family needs the transformers package") from exc
    config = directory / "tokenizer_config.json"
    name = None
    if config.is_file():
        try:
            name = json.loads(config.read_text(encoding="utf-8")).get("tokenizer_class")
        except (ValueError, AttributeError) as exc:
            raise InvalidModel(directory, f"its tokenizer_config.json is not a JSON object ({exc})") from exc
    return getattr(transformers, name, None) if isinstance(name, str) and name else transformers.AutoTokenizer


class HuggingFaceTokenizer:
    """Any checkpoint's own tokenizer, through transformers (imported only for these families)."""

    def __init__(self, directory: Path):
        try:
            self.hf: Any = _tokenizer_class(directory).from_pretrained(str(directory))
        except Exception as exc:  # noqa: BLE001 - transformers raises many kinds
            raise InvalidModel(directory, f"cannot load its tokenizer ({exc})") from exc
        self.vocab = self.hf.get_vocab()
        self.special_tokens = set(self.hf.all_special_tokens)
        # M2M100 and NLLB keep their language tokens outside get_vocab().
        self.special_tokens.update(getattr(self.hf, "lang_token_to_id", {}))
        self.vocab.update({t: -1 for t in getattr(self.hf, "lang_token_to_id", {}) if t not in self.vocab})

    def encode(self, text: str, add_special_tokens: bool = True) -> list[str]:
        ids = self.hf(text, add_special_tokens=add_special_tokens)["input_ids"]
        return list(self.hf.convert_ids_to_tokens(ids))

    def encode_target(self, text: str) -> list[str]:
        """``text`` as target tokens, without special tokens (CTranslate2 adds the end token when scoring)."""
        return self.encode(text, add_special_tokens=False)

    def decode(self, tokens: Sequence[str]) -> str:
        ids = self.hf.convert_tokens_to_ids(list(tokens))
        return str(self.hf.decode(ids, skip_special_tokens=True)).strip()

    def has_token(self, token: str) -> bool:
        return token in self.vocab


def language_token(tokenizer: ModelTokenizer, language: Language, family: str, pair: tuple[str, str]) -> str:
    """The token that names ``language`` in this model's vocabulary.

    Raises:
        UnsupportedLanguagePair: the vocabulary has no token for the language.
    """
    candidates = family_tokens(language, family)
    for token in candidates:
        if tokenizer.has_token(token):
            return token
    raise UnsupportedLanguagePair(pair[0], pair[1], [f"(this model has no language token {' / '.join(candidates)})"])
