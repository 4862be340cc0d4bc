"""The manifest of a converted model: ``kakehashi.json`` beside the CTranslate2 weights.

It records what the model is (family, architecture, languages), where it came from (source checkpoint and
revision, the corpora it was trained on: the basis of source references), how it was converted
(quantization, versions), how it decodes best (``decoding``, what requests that leave those options unset get)
and, for decoder-only models, how to prompt it (template, stop sequences).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from mt._errors import InvalidModel

MANIFEST_NAME = "kakehashi.json"
# A model's reference index may live in this subfolder of the model directory; it is not part of the model.
REFERENCE_INDEX_DIR = "index"
MANIFEST_VERSION = 1

# family -> architecture; the family decides how language tokens are spelled.
FAMILIES: dict[str, str] = {
    "marian": "encoder-decoder",
    "nllb": "encoder-decoder",
    "m2m100": "encoder-decoder",
    "madlad": "encoder-decoder",
    "t5": "encoder-decoder",
    "mbart": "encoder-decoder",
    "llm": "decoder-only",
}


@dataclass(frozen=True)
class PromptFormat:
    """How a decoder-only model is asked to translate.

    ``template`` is a ``str.format`` string with ``{source_lang}``, ``{target_lang}`` (language names) and
    ``{text}``; ``"chat"`` uses the checkpoint's own chat template with ``instruction`` as the user turn.
    ``stop`` lists strings that end the answer.
    """

    template: str = "chat"
    instruction: str = (
        "Translate the following {source_lang} text into {target_lang}. Reply with the translation only.\n\n{text}"
    )
    stop: tuple[str, ...] = ("\n",)


@dataclass(frozen=True)
class Manifest:
    name: str
    family: str
    languages: tuple[str, ...]
    source: str
    pairs: tuple[tuple[str, str], ...] = ()
    revision: str | None = None
    quantization: str | None = None
    license: str = "unknown"
    prompt: PromptFormat | None = None
    corpora: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    converter: dict[str, str] = field(default_factory=dict)
    max_input_tokens: int = 512
    # Decoding options the model is measured to do best with (benchmarks/decoding.py), used where a request leaves
    # them unset: {"no_repeat_ngram_size": 4}. Which options may be recommended: TranslationOptions.recommendable.
    decoding: dict[str, Any] = field(default_factory=dict)
    # Positions the model can encode (learned/sinusoidal tables); 0 = no fixed limit (relative positions).
    max_positions: int = 0
    manifest_version: int = MANIFEST_VERSION

    @property
    def architecture(self) -> str:
        return FAMILIES[self.family]

    def directions(self) -> list[tuple[str, str]]:
        """The (source, target) pairs this model translates: ``pairs`` if given, else every ordered pair."""
        if self.pairs:
            return list(self.pairs)
        return [(a, b) for a in self.languages for b in self.languages if a != b]

    def serves(self, source: str, target: str) -> bool:
        """Whether the model translates ``source`` → ``target`` (base codes: a pair's ``pt-BR`` counts as ``pt``)."""
        return (source, target) in {(a.split("-")[0], b.split("-")[0]) for a, b in self.directions()}

    def translates_back(self) -> bool:
        """Whether every direction's reverse is a direction too (what reconstruction reranking needs)."""
        return all(self.serves(b.split("-")[0], a.split("-")[0]) for a, b in self.directions())

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["languages"] = list(self.languages)
        data["pairs"] = [list(p) for p in self.pairs]
        if self.prompt is not None:
            data["prompt"]["stop"] = list(self.prompt.stop)
        data["architecture"] = self.architecture
        return data

    def save(self, directory: Path) -> None:
        text = json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n"
        (directory / MANIFEST_NAME).write_text(text, encoding="utf-8")

    @classmethod
    def from_json(cls, data: dict[str, Any], where: object = "manifest") -> Manifest:
        known = {f.name for f in fields(cls)}
        try:
            values = {k: v for k, v in data.items() if k in known}
            values["languages"] = tuple(values["languages"])
            values["pairs"] = tuple((str(a), str(b)) for a, b in values.get("pairs", ()))
            if values.get("prompt") is not None:
                prompt = dict(values["prompt"])
                prompt["stop"] = tuple(prompt.get("stop", ()))
                values["prompt"] = PromptFormat(**prompt)
            if not isinstance(values.get("decoding", {}), dict):
                raise ValueError("'decoding' must be an object of decoding options")
            manifest = cls(**values)
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidModel(where, f"{MANIFEST_NAME} is missing or has a malformed field ({exc})") from exc
        if manifest.family not in FAMILIES:
            raise InvalidModel(where, f"unknown family {manifest.family!r}; known families: {', '.join(FAMILIES)}")
        return manifest

    @classmethod
    def load(cls, directory: Path) -> Manifest:
        path = directory / MANIFEST_NAME
        if not path.is_file():
            raise InvalidModel(
                directory, f"{MANIFEST_NAME} is missing (convert the checkpoint with `kakehashi convert`)"
            )
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidModel(directory, f"{MANIFEST_NAME} is not valid JSON ({exc})") from exc
        if not isinstance(data, dict):
            raise InvalidModel(directory, f"{MANIFEST_NAME} must hold a JSON object")
        return cls.from_json(data, directory)
