"""Decoding settings compared on the Wiki Kyoto dev split (never trained on, never tested on), both directions.

    python benchmarks/decoding.py --model data/models/kakehashi-ja-en --limit 300 \
        --output benchmarks/results/decoding.json

Each setting decodes the same sentences with the same model; BLEU and chrF per direction, the sentences per
second, and how many outputs stutter: repeat a word trigram more often than their reference does (the stutter
that beam search without constraints produces, 「3月3日の月3日」). Words are MeCab's for Japanese, so natural repeats
of a character run (ている … ている) are not counted, and a trigram the reference repeats as often is not a stutter.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT.parent / "shared" / "data" / "train" / "wiki_kyoto_2.01" / "wikikyoto.dev.tsv"

# Every setting names its penalties, so that none takes the model's recommendation (its manifest's "decoding").
NEUTRAL = {"length_penalty": 1.0, "repetition_penalty": 1.0, "no_repeat_ngram_size": 0}
SETTINGS: dict[str, dict[str, Any]] = {
    "greedy": {"beam_size": 1},
    "beam4": {"beam_size": 4},
    "beam4-lp0.6": {"beam_size": 4, "length_penalty": 0.6},
    "beam4-lp1.2": {"beam_size": 4, "length_penalty": 1.2},
    "beam4-norepeat3": {"beam_size": 4, "no_repeat_ngram_size": 3},
    "beam4-norepeat4": {"beam_size": 4, "no_repeat_ngram_size": 4},
    "beam4-reppen1.1": {"beam_size": 4, "repetition_penalty": 1.1},
    "beam4-reppen1.2": {"beam_size": 4, "repetition_penalty": 1.2},
    "beam8": {"beam_size": 8},
}


def _trigrams(words: list[str]) -> Counter[tuple[str, ...]]:
    return Counter(tuple(words[i : i + 3]) for i in range(len(words) - 2))


def stutters(hypothesis: str, reference: str, words: Callable[[str], list[str]]) -> bool:
    """Whether ``hypothesis`` repeats a word trigram more often than ``reference`` has it (and at least twice)."""
    made, wanted = _trigrams(words(hypothesis)), _trigrams(words(reference))
    return any(count > 1 and count > wanted[gram] for gram, count in made.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(ROOT / "data" / "models" / "kakehashi-ja-en"))
    parser.add_argument("--limit", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", action="append", help="setting names (default: all)")
    parser.add_argument("--output", type=Path)
    parser.add_argument("--note", help="the conditions of the run, kept in the report (e.g. what else ran beside it)")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    from tqdm import tqdm

    from mt import Kakehashi, Registry, RuntimeOptions, TranslationOptions
    from mt._evaluation import score_corpus
    from mt._japanese import ContentWords

    tokeniser = ContentWords()

    rows = [line.split("\t") for line in DEV.read_text(encoding="utf-8").splitlines()[1:]][: args.limit]
    sides = {"ja": [r[1] for r in rows], "en": [r[2] for r in rows]}
    registry = Registry()
    registry.add(registry.get(args.model))
    kakehashi = Kakehashi(registry, RuntimeOptions(device="cpu", compute_type="int8", intra_threads=args.threads))
    manifest = registry.get(args.model).manifest
    steps = manifest.training.get("summary", {}).get("steps")
    report: dict[str, Any] = {
        "model": Path(args.model).name,
        "training_steps": steps,
        "dev": "wikikyoto.dev",
        "sentences": len(rows),
        **({"note": args.note} if args.note else {}),
    }
    results = []
    chosen = [name for name in SETTINGS if not args.only or name in args.only]
    for name in tqdm(chosen, desc="settings", unit="setting"):
        options = TranslationOptions(max_decoding_length=256, **{**NEUTRAL, **SETTINGS[name]})
        row: dict[str, Any] = {"setting": name, **SETTINGS[name]}
        for source, target in (("ja", "en"), ("en", "ja")):
            start = time.perf_counter()
            hypotheses = [t.text for t in kakehashi.translate(sides[source], source, target, options=options)]
            seconds = time.perf_counter() - start
            scored = score_corpus(hypotheses, sides[target], target)
            words = partial(tokeniser.words, lang=target, content_only=False)
            row[f"{source}-{target}"] = {
                "bleu": scored.bleu,
                "chrf": scored.chrf,
                "sentences_per_s": round(len(hypotheses) / seconds, 1),
                "stuttering_outputs": sum(
                    stutters(h, r, words) for h, r in zip(hypotheses, sides[target], strict=True)
                ),
            }
        results.append(row)
        tqdm.write(json.dumps(row, ensure_ascii=False))
    report["results"] = results
    text = json.dumps(report, indent=1, ensure_ascii=False) + "\n"
    if args.output:
        args.output.write_text(text, encoding="utf-8")
        print(f"wrote {len(results)} decoding settings to {args.output}")
    else:
        print(text)


if __name__ == "__main__":
    main()
