"""Offline language identification for ``source=auto``.

py3langid (a maintained langid.py, 97 languages) ships its model inside the wheel, so detection needs no
download. Scripts that identify a language on their own (kana → Japanese, Hangul → Korean) decide first,
which makes short inputs such as ``はい`` reliable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mt._errors import InvalidRequest
from mt._languages import parse_language, supported_codes


@dataclass(frozen=True)
class DetectedLanguage:
    language: str
    confidence: float  # 0..1


def _script_vote(text: str) -> str | None:
    kana = hangul = han = letters = 0
    for ch in text:
        code = ord(ch)
        if 0x3040 <= code <= 0x30FF:
            kana += 1
        elif 0xAC00 <= code <= 0xD7AF or 0x1100 <= code <= 0x11FF:
            hangul += 1
        elif 0x4E00 <= code <= 0x9FFF:
            han += 1
        if ch.isalpha():
            letters += 1
    if letters == 0:
        return None
    if kana and (kana + han) / letters > 0.3:
        return "ja"
    if hangul / letters > 0.3:
        return "ko"
    if han / letters > 0.5:
        return "han"
    return None


class LanguageDetector:
    """Identifies the language of a text; construct once and reuse (the model loads in ~0.1 s)."""

    def __init__(self, candidates: list[str] | None = None):
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        self._identifier: Any = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        # Only languages Kakehashi can name are worth proposing.
        known = set(self._identifier.nb_classes)
        wanted = {parse_language(c).base for c in candidates} if candidates else set(supported_codes())
        usable = sorted(wanted & known)
        self._candidates = set(usable)
        if len(usable) >= 2:
            self._identifier.set_languages(usable)

    def detect(self, text: str) -> DetectedLanguage:
        """The most likely language of ``text``.

        Raises:
            InvalidRequest: the text has no letters to identify a language by.
        """
        if not any(ch.isalpha() for ch in text):
            raise InvalidRequest("cannot detect the language of a text without letters; give the source language")
        by_script = _script_vote(text)
        if by_script == "han":
            # Han characters without kana: Chinese or kanji-only Japanese; never a Latin-script language.
            han_languages = [c for c in ("zh", "ja") if c in self._candidates]
            if len(han_languages) == 1:
                return DetectedLanguage(parse_language(han_languages[0]).code, 0.9)
            ranked = [r for r in self._identifier.rank(text) if r[0] in ("zh", "ja")]
            if ranked:
                total = sum(float(p) for _, p in ranked) or 1.0
                return DetectedLanguage(parse_language(ranked[0][0]).code, round(float(ranked[0][1]) / total, 4))
        elif by_script:
            return DetectedLanguage(by_script, 1.0)
        code, probability = self._identifier.classify(text)
        return DetectedLanguage(parse_language(code).code, round(float(probability), 4))

    def rank(self, text: str, limit: int = 3) -> list[DetectedLanguage]:
        if not any(ch.isalpha() for ch in text):
            return []
        ranked = self._identifier.rank(text)[:limit]
        return [DetectedLanguage(parse_language(code).code, round(float(p), 4)) for code, p in ranked]
