"""The model registry: a TOML file listing installed models, and routing of language pairs to them.

.. code-block:: toml

    [[model]]
    name = "kakehashi-ja-en"
    path = "kakehashi-ja-en"      # relative to this file
    default = true                # preferred when several models serve a pair

A pair with no direct model is pivoted through English across two models (:meth:`Registry.route`).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mt._errors import InvalidModel, InvalidRequest, ModelNotFound, UnsupportedLanguagePair
from mt._languages import Language
from mt._manifest import MANIFEST_NAME, REFERENCE_INDEX_DIR, Manifest

PIVOT = "en"


@dataclass(frozen=True)
class RegistryEntry:
    name: str
    path: Path
    manifest: Manifest
    default: bool = False

    def serves(self, source: Language, target: Language) -> bool:
        return self.manifest.serves(source.base, target.base)


@dataclass(frozen=True)
class Route:
    """The models a translation passes through: one, or two when pivoting through English."""

    steps: tuple[tuple[RegistryEntry, str, str], ...]  # (model, source code, target code)

    @property
    def pivoted(self) -> bool:
        return len(self.steps) > 1


class Registry:
    """Installed models, from zero or more registry files and model directories."""

    def __init__(self, entries: list[RegistryEntry] | None = None):
        self.entries: list[RegistryEntry] = []
        for entry in entries or []:
            self.add(entry)

    def add(self, entry: RegistryEntry) -> None:
        if any(e.name == entry.name for e in self.entries):
            raise InvalidRequest(f"two models are named {entry.name!r}; model names must be unique")
        self.entries.append(entry)

    @classmethod
    def from_files(cls, paths: list[Path]) -> Registry:
        registry = cls()
        for path in paths:
            for entry in read_registry_file(path):
                registry.add(entry)
        return registry

    def names(self) -> list[str]:
        return [e.name for e in self.entries]

    def get(self, name_or_path: str, directories: bool = True) -> RegistryEntry:
        """A model by registry name, or (with ``directories``) any model directory on disk.

        The CLI and server configuration may name directories; requests to the server may not
        (``directories=False``), so they can neither make the server load arbitrary paths nor probe them.

        Raises:
            ModelNotFound: neither a registered name nor (where accepted) a directory.
            InvalidModel: a directory without a usable manifest.
        """
        for entry in self.entries:
            if entry.name == name_or_path:
                return entry
        if directories:
            path = Path(name_or_path).expanduser()
            if path.is_dir():
                manifest = Manifest.load(path)
                return RegistryEntry(manifest.name, path.resolve(), manifest)
        raise ModelNotFound(name_or_path, self.names(), directories)

    def describe(self) -> list[dict[str, Any]]:
        """The installed models as JSON-ready rows (``kakehashi models --json`` and ``GET /v1/models``)."""
        return [
            {
                "name": entry.name,
                "family": entry.manifest.family,
                "architecture": entry.manifest.architecture,
                "languages": list(entry.manifest.languages),
                "pairs": [f"{a}-{b}" for a, b in entry.manifest.directions()],
                "quantization": entry.manifest.quantization,
                "size_bytes": _model_bytes(entry.path),
                "path": str(entry.path),
                "default": entry.default,
                "license": entry.manifest.license,
                "corpora": sorted(entry.manifest.corpora),
                "decoding": dict(entry.manifest.decoding),
            }
            for entry in self.entries
        ]

    def pairs(self) -> list[str]:
        found = {f"{a}→{b}" for e in self.entries for a, b in e.manifest.directions()}
        return sorted(found)

    def _direct(self, source: Language, target: Language) -> RegistryEntry | None:
        candidates = [e for e in self.entries if e.serves(source, target)]
        candidates.sort(key=lambda e: not e.default)
        return candidates[0] if candidates else None

    def route(self, source: Language, target: Language, model: str | None = None, directories: bool = True) -> Route:
        """Choose the model(s) for ``source → target``; ``model`` and ``directories`` as in :meth:`get`.

        Raises:
            UnsupportedLanguagePair: no model, and no pivot through English, serves the pair.
            ModelNotFound: ``model`` is not installed.
        """
        if model:
            entry = self.get(model, directories)
            if not entry.serves(source, target):
                raise UnsupportedLanguagePair(
                    source.code, target.code, [f"{a}→{b}" for a, b in entry.manifest.directions()]
                )
            return Route(((entry, source.code, target.code),))
        direct = self._direct(source, target)
        if direct is not None:
            return Route(((direct, source.code, target.code),))
        if PIVOT not in (source.base, target.base):
            from mt._languages import parse_language

            english = parse_language(PIVOT)
            first, second = self._direct(source, english), self._direct(english, target)
            if first is not None and second is not None:
                return Route(((first, source.code, PIVOT), (second, PIVOT, target.code)))
        raise UnsupportedLanguagePair(source.code, target.code, self.pairs())


def read_registry_file(path: Path) -> list[RegistryEntry]:
    """Entries of one registry TOML file (paths relative to the file).

    Raises:
        InvalidRequest: the file is missing or malformed.
        InvalidModel: a listed model directory is unusable.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InvalidRequest(f"registry file {path} does not exist") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"registry file {path} is not valid TOML ({exc})") from exc
    entries = []
    for number, item in enumerate(data.get("model", []), start=1):
        if not isinstance(item, dict) or "path" not in item:
            raise InvalidRequest(f"{path}: [[model]] entry {number} needs at least a 'path'")
        model_dir = (path.parent / str(item["path"])).resolve()
        if not (model_dir / MANIFEST_NAME).is_file():
            raise InvalidModel(model_dir, f"listed in {path} but has no {MANIFEST_NAME}")
        manifest = Manifest.load(model_dir)
        entries.append(
            RegistryEntry(str(item.get("name", manifest.name)), model_dir, manifest, bool(item.get("default", False)))
        )
    return entries


def _model_bytes(directory: Path) -> int:
    """The model's own size on disk: its reference index, an add-on built beside it, is not counted."""
    index = directory / REFERENCE_INDEX_DIR
    return sum(f.stat().st_size for f in directory.rglob("*") if f.is_file() and index not in f.parents)
