"""Decoding settings compared on dev sets (never trained on, never tested on), both directions.

    python benchmarks/decoding.py --model data/models/kakehashi-ja-en --limit 300 \
        --output benchmarks/results/decoding.json
    python benchmarks/decoding.py --only beam4 --only beam4-norepeat4 --testset wikikyoto-dev \
        --testset tatoeba-gate --limit 0 --output benchmarks/results/decoding_dev_sets.json

Each setting decodes the same sentences with the same model; per direction (the test sets pooled) BLEU and chrF,
the paired bootstrap's p-value of chrF against the first setting, the sentences per second, and how many outputs
stutter: repeat a word trigram more often than their reference does (the stutter that beam search without
constraints produces, 「3月3日の月3日」). Words are MeCab's for Japanese, so natural repeats of a character run
(ている … ている) are not counted, and a trigram the reference repeats as often is not a stutter. Every setting
names its penalties, so none takes the model's recommended decoding (its manifest's ``decoding``). The
``…-recon`` settings rerank the beam by how well the model translates each hypothesis back
(``reconstruction_weight``)::

    python benchmarks/decoding.py --only beam4-norepeat4 --only beam4-norepeat4-recon0.25 \
        --only beam4-norepeat4-recon0.5 --only beam4-norepeat4-recon1 --testset wikikyoto-dev \
        --testset tatoeba-gate --limit 0 --output benchmarks/results/decoding_reconstruction_dev.json
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
DIRECTIONS = (("ja", "en"), ("en", "ja"))

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
    # Reranking the beam by translating each hypothesis back (the model translates both ways).
    "beam4-norepeat4-recon0.25": {"beam_size": 4, "no_repeat_ngram_size": 4, "reconstruction_weight": 0.25},
    "beam4-norepeat4-recon0.5": {"beam_size": 4, "no_repeat_ngram_size": 4, "reconstruction_weight": 0.5},
    "beam4-norepeat4-recon1": {"beam_size": 4, "no_repeat_ngram_size": 4, "reconstruction_weight": 1.0},
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
    parser.add_argument(
        "--testset",
        action="append",
        help="dev sets of both directions, pooled (kakehashi bench testsets; default: wikikyoto-dev)",
    )
    parser.add_argument("--limit", type=int, default=300, help="the first N sentences of each set (0: all)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", action="append", help="setting names (default: all); the first is the baseline")
    parser.add_argument("--resamples", type=int, default=1000, help="paired bootstrap resamples")
    parser.add_argument("--output", type=Path)
    parser.add_argument("--note", help="the conditions of the run, kept in the report (e.g. what else ran beside it)")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    from tqdm import tqdm

    from mt import Kakehashi, Registry, RuntimeOptions, TranslationOptions
    from mt._evaluation import paired_bootstrap, score_corpus
    from mt._japanese import ContentWords
    from mt.bench.testsets import resolve

    tokeniser = ContentWords()
    # Every setting names each penalty it leaves neutral, so none takes the model's recommended decoding.
    neutral = TranslationOptions.recommendable()
    names = args.testset or ["wikikyoto-dev"]
    limit = args.limit or None
    sides: dict[tuple[str, str], tuple[list[str], list[str]]] = {}
    for source, target in DIRECTIONS:
        sets = [resolve(f"{name}:{source}-{target}", limit=limit) for name in names]
        sides[source, target] = (
            [s for t in sets for s in t.sources],
            [r for t in sets for r in t.references],
        )
    registry = Registry()
    registry.add(registry.get(args.model))
    kakehashi = Kakehashi(registry, RuntimeOptions(device="cpu", compute_type="int8", intra_threads=args.threads))
    manifest = registry.get(args.model).manifest
    steps = manifest.training.get("summary", {}).get("steps")
    chosen = args.only or list(SETTINGS)
    unknown = [name for name in chosen if name not in SETTINGS]
    if unknown:
        parser.error(f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(SETTINGS)}")
    report: dict[str, Any] = {
        "model": Path(args.model).name,
        "training_steps": steps,
        "dev": " + ".join(f"{name}{f' (first {limit})' if limit else ''}" for name in names),
        "sentences": len(sides["ja", "en"][0]),
        "baseline": chosen[0],
        **({"note": args.note} if args.note else {}),
    }
    results = []
    outputs: dict[tuple[str, str], dict[str, list[str]]] = {direction: {} for direction in DIRECTIONS}
    for name in tqdm(chosen, desc="settings", unit="setting"):
        options = TranslationOptions(max_decoding_length=256, **{**neutral, **SETTINGS[name]})
        row: dict[str, Any] = {"setting": name, **SETTINGS[name]}
        for source, target in DIRECTIONS:
            texts, references = sides[source, target]
            start = time.perf_counter()
            hypotheses = [t.text for t in kakehashi.translate(texts, source, target, options=options)]
            seconds = time.perf_counter() - start
            outputs[source, target][name] = hypotheses
            scored = score_corpus(hypotheses, references, target)
            words = partial(tokeniser.words, lang=target, content_only=False)
            row[f"{source}-{target}"] = {
                "bleu": scored.bleu,
                "chrf": scored.chrf,
                "p_chrf": None,
                "sentences_per_s": round(len(hypotheses) / seconds, 1),
                "stuttering_outputs": sum(stutters(h, r, words) for h, r in zip(hypotheses, references, strict=True)),
            }
        results.append(row)
        tqdm.write(json.dumps(row, ensure_ascii=False))
    if len(chosen) > 1:
        for source, target in DIRECTIONS:
            paired = paired_bootstrap(
                outputs[source, target], sides[source, target][1], target, resamples=args.resamples
            )
            for row in results[1:]:
                row[f"{source}-{target}"]["p_chrf"] = paired.systems[row["setting"]]["chrF2"].p_value
    report["results"] = results
    text = json.dumps(report, indent=1, ensure_ascii=False) + "\n"
    if args.output:
        args.output.write_text(text, encoding="utf-8")
        print(f"wrote {len(results)} decoding settings on {report['sentences']} sentences each way to {args.output}")
    else:
        print(text)


if __name__ == "__main__":
    main()
