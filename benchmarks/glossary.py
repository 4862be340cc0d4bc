"""How well glossary terms reach the output, by application strategy, with a shipped model.

    python benchmarks/glossary.py --model kakehashi-ja-en --output benchmarks/results/glossary.json

Sentences that contain glossary terms (written for this benchmark; each term's required rendering differs from
what the model says by itself, so the baseline shows the need) are translated four ways:

* ``none``: no glossary (how often the model says the required term anyway);
* ``inline``: each source term replaced by its target term in the source (the model should copy it);
* ``placeholder``: each source term replaced by a Latin capital (X, Y, …) that the output's copy is swapped
  for; an output that lost or repeated a placeholder counts as a miss;
* ``placeholder+fallback``: Kakehashi's glossary step (``Kakehashi.translate(..., glossary=…)``): placeholders,
  and for sentences whose placeholders went missing, the plain translation with the model's own rendering of
  each term replaced by the required one.

Reported per direction and strategy: the share of required terms found in the outputs (case-insensitive), the
share of sentences with all of their terms, outputs with a leftover placeholder, and milliseconds per sentence
(median of three runs, models loaded before timing).
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import statistics
import time
from pathlib import Path
from typing import Any

from mt import Kakehashi, Settings, TranslationOptions
from mt._glossary import PLACEHOLDERS, Glossary

JA_EN = {
    "金閣寺": "Golden Pavilion",
    "銀閣寺": "Silver Pavilion",
    "清水寺": "Kiyomizu Temple",
    "猫": "kitty",
    "寿司": "sushi rolls",
    "天皇": "Tenno",
    "将軍": "military ruler",
    "神社": "Shinto shrine",
    "抹茶": "matcha green tea",
    "京都": "the Ancient Capital",
    "侍": "samurai warrior",
    "茶道": "Way of Tea",
    "着物": "kimono robe",
    "桜": "sakura",
    "富士山": "Fujisan",
}

JA_SENTENCES = [
    "金閣寺に行きました。",
    "銀閣寺は美しい寺です。",
    "清水寺から町が見えます。",
    "猫が好きです。",
    "私の猫は黒いです。",
    "昨日、寿司を食べました。",
    "寿司はおいしいです。",
    "天皇は京都に住んでいた。",
    "将軍は江戸に幕府を開いた。",
    "この神社は古いです。",
    "抹茶を飲みたいです。",
    "京都は古い都です。",
    "侍は刀を持っていた。",
    "茶道を習っています。",
    "彼女は着物を着ていた。",
    "桜が咲いています。",
    "富士山は日本で一番高い山です。",
    "金閣寺と銀閣寺は京都にあります。",
    "猫が寿司を食べた。",
    "将軍は天皇に会った。",
    "神社で抹茶を飲んだ。",
    "侍が将軍を守った。",
    "着物を着て清水寺に行った。",
    "桜の下で抹茶を飲みました。",
    "富士山が見えますか。",
    "京都の神社に行きたい。",
    "茶道は京都で生まれた。",
    "この猫はとても小さい。",
    "天皇は神社を訪れた。",
    "侍の時代は終わった。",
    "私は毎日抹茶を飲みます。",
    "着物はとても高いです。",
    "桜は春に咲く。",
    "清水寺は有名な寺です。",
    "寿司屋で働いています。",
    "将軍の城は大きかった。",
    "金閣寺は金色です。",
    "富士山に登りました。",
    "母は茶道の先生です。",
    "銀閣寺の庭はきれいです。",
]

EN_JA = {
    "cat": "ネコ",
    "dog": "ワンちゃん",
    "Tokyo": "東京都",
    "teacher": "先生様",
    "book": "書籍",
    "train": "電車",
}

EN_SENTENCES = [
    "I like my cat.",
    "The dog is sleeping.",
    "Tokyo is a big city.",
    "My teacher is kind.",
    "I read a book every day.",
    "The train was late.",
    "The cat and the dog are friends.",
    "I went to Tokyo by train.",
    "This book is about Tokyo.",
    "The teacher has a dog.",
    "Where is the train station?",
    "I bought a book for my teacher.",
]


def term_hits(output: str, required: list[str]) -> int:
    folded = output.casefold()
    return sum(r.casefold() in folded for r in required)


def leftover_placeholder(output: str, source: str) -> bool:
    return any(
        re.search(rf"(?<![A-Za-z]){p}(?![A-Za-z])", output) and not re.search(rf"(?<![A-Za-z]){p}(?![A-Za-z])", source)
        for p in PLACEHOLDERS
    )


def run_direction(
    kakehashi: Kakehashi,
    glossary: Glossary,
    sentences: list[str],
    model: str,
    options: TranslationOptions,
    runs: int,
) -> dict[str, Any]:
    prepared = [glossary.prepare(s) for s in sentences]
    required = [[rendering for _, _, rendering in p.slots] for p in prepared]
    inline = []
    for p in prepared:
        text = p.text
        for placeholder, _, rendering in p.slots:
            text = re.sub(rf"(?<![A-Za-z]){placeholder}(?![A-Za-z])", rendering, text)
        inline.append(text)

    def translate(texts: list[str], with_glossary: bool) -> list[str]:
        results = kakehashi.translate(
            texts,
            glossary.source,
            glossary.target,
            model=model,
            options=options,
            glossary=glossary if with_glossary else None,
        )
        return [r.text for r in results]

    def placeholder_only() -> list[str]:
        outputs = translate([p.text for p in prepared], False)
        return [p.restore(o) or o for p, o in zip(prepared, outputs)]

    strategies = {
        "none": lambda: translate(sentences, False),
        "inline": lambda: translate(inline, False),
        "placeholder": placeholder_only,
        "placeholder+fallback": lambda: translate(sentences, True),
    }
    report: dict[str, Any] = {}
    total_terms = sum(len(r) for r in required)
    for name, call in strategies.items():
        times = []
        outputs: list[str] = []
        for _ in range(runs):
            start = time.perf_counter()
            outputs = call()
            times.append(time.perf_counter() - start)
        hits = [term_hits(o, r) for o, r in zip(outputs, required)]
        report[name] = {
            "term_accuracy": round(sum(hits) / total_terms, 4),
            "sentences_with_all_terms": round(sum(h == len(r) for h, r in zip(hits, required)) / len(sentences), 4),
            "leftover_placeholders": sum(leftover_placeholder(o, s) for o, s in zip(outputs, sentences)),
            "ms_per_sentence": round(1000 * statistics.median(times) / len(sentences), 2),
            "outputs": [{"source": s, "output": o, "required": r} for s, o, r in zip(sentences, outputs, required)],
        }
    return {
        "pair": f"{glossary.source}-{glossary.target}",
        "sentences": len(sentences),
        "terms": total_terms,
        "glossary": dict(glossary.entries),
        "strategies": report,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="kakehashi-ja-en", help="an installed model's name")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per strategy (median reported)")
    parser.add_argument("--beam", type=int, default=4)
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/glossary.json"))
    args = parser.parse_args()

    kakehashi = Kakehashi(Settings.from_env().load_registry())
    kakehashi.load_all()
    # The pipeline's own translators have no cache: every run calls CTranslate2.
    options = TranslationOptions(beam_size=args.beam)
    directions = [
        run_direction(
            kakehashi,
            Glossary("ja", "en", tuple(JA_EN.items()), "bench-ja-en"),
            JA_SENTENCES,
            args.model,
            options,
            args.runs,
        ),
        run_direction(
            kakehashi,
            Glossary("en", "ja", tuple(EN_JA.items()), "bench-en-ja"),
            EN_SENTENCES,
            args.model,
            options,
            args.runs,
        ),
    ]
    report = {
        "model": args.model,
        "beam_size": args.beam,
        "machine": {
            "python": platform.python_version(),
            "processor": platform.processor(),
            "system": platform.system(),
        },
        "directions": directions,
        "summary": {d["pair"]: {name: s["term_accuracy"] for name, s in d["strategies"].items()} for d in directions},
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report["summary"], indent=2))


if __name__ == "__main__":
    main()
