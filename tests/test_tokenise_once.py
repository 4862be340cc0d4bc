"""Each sentence is tokenised once on its way through the service: splitting long sentences, sizing batches and
translating all read the same tokens."""

from __future__ import annotations

from pathlib import Path

import pytest

from mt import Settings, TranslationOptions
from serve._schema import TranslationRequest
from serve._service import TranslationService
from serve._settings import ServeSettings

pytestmark = pytest.mark.integration


def test_each_sentence_is_tokenised_once(tiny_registry: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mt._tokenizers import SentencePieceTokenizer

    encoded: list[str] = []
    original = SentencePieceTokenizer.encode

    def counting(self: SentencePieceTokenizer, text: str) -> list[str]:
        encoded.append(text)
        return original(self, text)

    monkeypatch.setattr(SentencePieceTokenizer, "encode", counting)
    settings = ServeSettings(engine=Settings(registry=(tiny_registry,), compute_type="float32"), redis_url="none")
    service = TranslationService(settings)
    try:
        service.start()
        options = TranslationOptions(beam_size=1, max_decoding_length=4)
        service.translate(TranslationRequest(("猫です。犬です。",), "en", "ja", "tiny-marian", options))
    finally:
        service.stop()
    assert sorted(encoded) == ["犬です。", "猫です。"]
