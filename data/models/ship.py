"""Ship a model trained by ``kakehashi train`` into data/models: copy it, attribute its data, register it.

    python data/models/ship.py ~/.cache/kakehashi/out/kakehashi-ja-en --default
    python data/models/ship.py ~/.cache/kakehashi/out/kakehashi-llm-ja-en
    python data/models/ship.py MODEL --default --decoding '{"no_repeat_ngram_size": 4}'

The manifest's corpora get the public name, address and licence of each corpus (what source references will
cite), with paths made relative to the shared data folder so that nothing of the training machine remains.
A LICENSE file with the attribution the data licences ask for is written next to the weights, and the model is
added to (or replaced in) ``registry.toml``. The manifest's ``decoding`` (the options requests that leave them
unset decode with) is ``--decoding``, else that of the model it replaces: a recommendation measured with
benchmarks/decoding.py holds for the relay's next weights until it is measured again.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tomllib
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

# What the source references cite for each corpus the default models learn from.
CORPORA = {
    "tatoeba": {
        "title": "Tatoeba Japanese-English sentence pairs (manythings.org/anki export, 2022-05-02)",
        "url": "https://tatoeba.org/",
        "record_url": "https://tatoeba.org/en/sentences/show/{id}",
        "license": "CC-BY-2.0-FR",
        "attribution": "Sentences and translations by the contributors of tatoeba.org; pair ids are tatoeba.org "
        "sentence ids (Japanese-English).",
    },
    "wikikyoto": {
        "title": "Japanese-English Bilingual Corpus of Wikipedia's Kyoto Articles v2.01 (NICT)",
        "url": "https://alaginrc.nict.go.jp/WikiCorpus/index_E.html",
        "license": "CC-BY-SA-3.0",
        "attribution": "National Institute of Information and Communications Technology (NICT), from Japanese "
        "Wikipedia articles about Kyoto; ids are <article file>:<sentence id>.",
    },
    # Added to the relay's run with --add-train (data/corpora/build.py).
    "kyotolexicon": {
        "title": "Japanese-English Bilingual Kyoto Lexicon v2.01 (NICT)",
        "url": "https://alaginrc.nict.go.jp/WikiCorpus/index_E.html",
        "license": "CC-BY-SA-3.0",
        "attribution": "National Institute of Information and Communications Technology (NICT): terms of Kyoto's "
        "culture and history; ids are row<N> of kyoto_lexicon.csv, less entries found in test or dev sets.",
    },
    "wikikyototitles": {
        "title": "Article titles of the Japanese-English Bilingual Corpus of Wikipedia's Kyoto Articles v2.01 (NICT)",
        "url": "https://alaginrc.nict.go.jp/WikiCorpus/index_E.html",
        "license": "CC-BY-SA-3.0",
        "attribution": "National Institute of Information and Communications Technology (NICT), from Japanese "
        "Wikipedia; titles of the train split's articles; ids are <article file>.",
    },
}

LICENSE_TEMPLATE = """\
{name}: CTranslate2 int8 weights, tokenizer and manifest, trained from scratch by the Kakehashi project.

Licence: Creative Commons Attribution-ShareAlike 3.0 (CC BY-SA 3.0),
https://creativecommons.org/licenses/by-sa/3.0/ — the licence of the largest training corpus, which asks that
derived works be shared alike. The Kakehashi source code is under Apache-2.0; this licence covers the files in
this directory.

The weights were learned from these corpora (training splits only; see kakehashi.json for the exact counts):
{corpora}
"""


def _portable_spec(spec: str) -> str:
    """A corpus spec relative to the folder that holds ``shared/data``; corpora of this repository
    (``data/corpora/…``) stay relative to its root."""
    fmt, _, path = spec.partition(":")
    if path.startswith("data/corpora/"):
        return spec
    parts = Path(path).parts
    if "data" in parts:
        index = len(parts) - 1 - parts[::-1].index("data")
        path = "/".join(("shared",) + parts[index:])
    return f"{fmt}:{path}"


def ship(source: Path, default: bool, decoding: dict[str, Any] | None = None) -> Path:
    manifest = json.loads((source / "kakehashi.json").read_text(encoding="utf-8"))
    name = manifest["name"]
    target = HERE / name
    if decoding is None and (target / "kakehashi.json").is_file():
        decoding = json.loads((target / "kakehashi.json").read_text(encoding="utf-8")).get("decoding", {})
        if decoding:
            print(f"decoding carried over from the model it replaces: {json.dumps(decoding)}")
    manifest["decoding"] = decoding or {}
    staging = HERE / f".{name}.staging"
    if staging.exists():
        shutil.rmtree(staging)
    shutil.copytree(source, staging)
    lines = []
    for corpus_name, entry in manifest.get("corpora", {}).items():
        known = CORPORA.get(corpus_name)
        if known is None:
            raise SystemExit(f"no attribution known for corpus {corpus_name!r}; add it to CORPORA in {__file__}")
        entry.update(known)
        entry["spec"] = _portable_spec(entry["spec"])
        lines.append(f"- {known['title']} — {known['url']} — {known['license']}. {known['attribution']}")
    config = manifest.get("training", {}).get("config", {})
    for key in ("output", "work_dir"):
        config.pop(key, None)
    for key in ("train", "added_train"):
        if key in config:
            config[key] = [_portable_spec(s) for s in config[key]]
    (staging / "kakehashi.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    (staging / "LICENSE").write_text(LICENSE_TEMPLATE.format(name=name, corpora="\n".join(lines)))
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)
    _register(name, default)
    return target


def _register(name: str, default: bool) -> None:
    registry = HERE / "registry.toml"
    models = tomllib.loads(registry.read_text(encoding="utf-8")).get("model", []) if registry.exists() else []
    models = [m for m in models if m["name"] != name]
    models.append({"name": name, "path": name, "default": default})
    models.sort(key=lambda m: (not m["default"], m["name"]))
    out = ["# Models shipped with Kakehashi (paths relative to this file). Written by ship.py.", ""]
    for m in models:
        out += [
            "[[model]]",
            f'name = "{m["name"]}"',
            f'path = "{m["path"]}"',
            f"default = {str(m['default']).lower()}",
            "",
        ]
    registry.write_text("\n".join(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, help="a model directory written by kakehashi train")
    parser.add_argument("--default", action="store_true", help="preferred for its language pairs")
    parser.add_argument(
        "--decoding",
        type=json.loads,
        help="JSON object of the decoding options the model recommends ('{}': none; default: those of the model "
        "it replaces)",
    )
    args = parser.parse_args()
    if args.decoding is not None:
        sys.path.insert(0, str(HERE.parent.parent))
        from mt import InvalidRequest, TranslationOptions

        try:
            TranslationOptions.check_recommendation(args.decoding)
        except InvalidRequest as exc:
            parser.error(f"--decoding: {exc}")
    print(ship(args.model.expanduser(), args.default, args.decoding))


if __name__ == "__main__":
    main()
