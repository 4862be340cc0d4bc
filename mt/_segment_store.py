"""How a translated sentence is stored, wherever it is kept: its key and its serialised result.

One definition for the REST service's segment cache (Redis or in-process) and ``translate-file``'s resumable
journal (SQLite). Keys hash the canonical JSON of everything that decides a translation — store schema version,
model name and weights fingerprint, source and target language, decoding options and the NFC-normalised
sentence — so different requests can never collide. Values are JSON (never pickle).
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from pathlib import Path
from typing import Any

from mt._engine import Hypothesis, SegmentResult
from mt._manifest import Manifest

SCHEMA_VERSION = 1
KEY_PREFIX = "kakehashi:tr:"


def weights_fingerprint(directory: Path, manifest: Manifest) -> str:
    """What tells one model's translations from another's in keys: the manifest's revision, the weights' size and
    modification time (replacing a model in place must not serve its predecessor's translations), and the decoding
    the model recommends (requests that leave those options unset decode with it)."""
    weights = directory / "model.bin"
    stat = weights.stat() if weights.exists() else None
    stamp = f"{stat.st_size}-{stat.st_mtime_ns}" if stat else "missing"
    fingerprint = f"{manifest.revision or ''}:{stamp}"
    if manifest.decoding:
        fingerprint += ":" + json.dumps(manifest.decoding, sort_keys=True)
    return fingerprint


def segment_key(model: str, revision: str, source: str, target: str, options: dict[str, Any], sentence: str) -> str:
    """The key of ``sentence`` translated by ``model`` (weights ``revision``) with ``options``."""
    canonical = json.dumps(
        {
            "v": SCHEMA_VERSION,
            "model": model,
            "revision": revision,
            "source": source,
            "target": target,
            "options": options,
            "text": unicodedata.normalize("NFC", sentence),
        },
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return KEY_PREFIX + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def encode_result(result: SegmentResult) -> str:
    return json.dumps(
        {"h": [[h.text, h.score, h.tokens] for h in result.hypotheses], "s": result.source_tokens}, ensure_ascii=False
    )


def decode_result(raw: str | bytes) -> SegmentResult | None:
    """The stored result, marked cached; None for a value that cannot be read (a miss, overwritten, never served)."""
    try:
        data = json.loads(raw)
        hypotheses = tuple(Hypothesis(str(t), float(s), int(n)) for t, s, n in data["h"])
        if not hypotheses:
            return None
        return SegmentResult(hypotheses, int(data["s"]), cached=True)
    except (ValueError, KeyError, TypeError):
        return None
