"""Translation quality with sacreBLEU (BLEU and chrF, with signatures) on the shared test sets, both directions.

    python benchmarks/quality.py --model int8=data/models/kakehashi-ja-en \
        --model float32=/tmp/kakehashi-ja-en-float32 --output benchmarks/results/quality_ja_en.json

Japanese references are scored with ``--tokenize ja-mecab``, English with ``13a``. Each model label is run on
identical inputs and decoding settings; the speed of each pass is reported too.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"


def test_sets(limit: int | None) -> Iterator[tuple[str, str, str, list[str], list[str]]]:
    """(name, source language, target language, sources, references)."""

    def lines(path: Path) -> list[str]:
        return path.read_text(encoding="utf-8").splitlines()

    tatoeba = DATA / "testsets" / "tatoeba-test" / "tatoeba-test-v2021-08-07.eng-jpn"
    ja, en = lines(Path(f"{tatoeba}.ja")), lines(Path(f"{tatoeba}.en"))
    yield "tatoeba-test", "ja", "en", ja, en
    yield "tatoeba-test", "en", "ja", en, ja
    rows = [r.split("\t") for r in lines(DATA / "train" / "wiki_kyoto_2.01" / "wikikyoto.test.tsv")[1:]]
    wiki_ja, wiki_en = [r[1] for r in rows], [r[2] for r in rows]
    yield "wikikyoto-test", "ja", "en", wiki_ja, wiki_en
    yield "wikikyoto-test", "en", "ja", wiki_en, wiki_ja
    flores = DATA / "testsets" / "flores200" / "flores200.devtest"
    f_ja, f_en = lines(Path(f"{flores}.jpn_Jpan")), lines(Path(f"{flores}.eng_Latn"))
    yield "flores200-devtest", "ja", "en", f_ja, f_en
    yield "flores200-devtest", "en", "ja", f_en, f_ja
    wmt = DATA / "testsets" / "wmt20" / "newstest2020"
    yield "wmt20", "ja", "en", lines(Path(f"{wmt}.ja-en.ja")), lines(Path(f"{wmt}.ja-en.en"))
    yield "wmt20", "en", "ja", lines(Path(f"{wmt}.en-ja.en")), lines(Path(f"{wmt}.en-ja.ja"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", required=True, help="LABEL=MODEL_DIR (repeatable)")
    parser.add_argument("--compute-type", default="auto", help="for every model (auto: int8 on CPU)")
    parser.add_argument("--beam", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--limit", type=int, help="first N lines of each test set (default: all)")
    parser.add_argument("--only", action="append", help="test set names to run (default: all)")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    from mt import Kakehashi, Registry, RuntimeOptions, TranslationOptions
    from mt._evaluation import score_corpus

    options = TranslationOptions(beam_size=args.beam, max_decoding_length=256)
    report: dict[str, Any] = {
        "settings": {"beam_size": args.beam, "threads": args.threads, "limit": args.limit},
        "results": [],
    }
    for spec in args.model:
        label, _, directory = spec.partition("=")
        compute_type = "float32" if label.endswith("float32") else args.compute_type
        registry = Registry()
        registry.add(registry.get(directory))
        kakehashi = Kakehashi(
            registry, RuntimeOptions(device="cpu", compute_type=compute_type, intra_threads=args.threads)
        )
        for name, source, target, sources, references in test_sets(args.limit):
            if args.only and name not in args.only:
                continue
            if args.limit:
                sources, references = sources[: args.limit], references[: args.limit]
            start = time.perf_counter()
            hypotheses = []
            for i in range(0, len(sources), 256):
                hypotheses += [
                    t.text for t in kakehashi.translate(sources[i : i + 256], source, target, options=options)
                ]
            seconds = time.perf_counter() - start
            row = {
                "model": label,
                "model_dir": directory,
                "test_set": name,
                "direction": f"{source}-{target}",
                "sentences": len(sources),
                "seconds": round(seconds, 1),
                "sentences_per_s": round(len(sources) / seconds, 1),
                **score_corpus(hypotheses, references, target).to_json(),
                "examples": [
                    {"source": s, "hypothesis": h, "reference": r}
                    for s, h, r in list(zip(sources, hypotheses, references))[:3]
                ],
            }
            report["results"].append(row)
            print(
                f"{label:<8} {name:<18} {source}-{target} BLEU {row['bleu']:6.2f} chrF {row['chrf']:6.2f} "
                f"({row['sentences']} sentences, {seconds:.0f} s)",
                file=sys.stderr,
                flush=True,
            )
            if args.output:
                args.output.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if not args.output:
        print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
