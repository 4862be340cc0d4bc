"""CTranslate2 int8 vs CTranslate2 float32 vs transformers (PyTorch): one model, identical inputs and decoding.

Each engine runs in its own child process (so peak RSS is its own), after a warm-up batch; the reported time is
the median of ``--repeats`` passes over the inputs, model load excluded. The parent prints and writes ratios
against transformers, measured in this one run.

    python benchmarks/engine_speed.py --checkpoint ~/.cache/kakehashi/train/ja-en-v1/export-hf \
        --source-lang ja --target-lang en --sentences 200 --output benchmarks/results/engine_speed.json

Without ``--checkpoint`` a Marian model with the shipped default's architecture and random weights is built
(speed does not depend on the values of the weights; every engine decodes to the same lengths).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data" / "testsets" / "tatoeba-test" / "tatoeba-test-v2021-08-07.eng-jpn"
FALLBACK = ROOT / "tests" / "data" / "tatoeba_sample.tsv"


def load_inputs(lang: str, count: int) -> list[str]:
    path = Path(f"{SHARED}.{lang}")
    if path.exists():
        lines = path.read_text(encoding="utf-8").splitlines()
    else:
        column = {"ja": 1, "en": 2}[lang]
        lines = [row.split("\t")[column] for row in FALLBACK.read_text(encoding="utf-8").splitlines()[1:]]
    return lines[:count]


def _peak_rss_mb() -> float:
    # VmHWM belongs to this process image; ru_maxrss would carry over the parent's peak across exec.
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_engine(engine: str, checkpoint: Path, ct2_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Runs inside the child process: load, warm up, time ``repeats`` passes."""
    sys.path.insert(0, str(ROOT))
    from mt import RuntimeOptions, TranslationOptions, load_translator, parse_language

    sentences = load_inputs(args.source_lang, args.sentences)
    source, target = parse_language(args.source_lang), parse_language(args.target_lang)
    options = TranslationOptions(
        beam_size=args.beam, max_decoding_length=args.max_length, max_batch_tokens=args.batch_tokens
    )
    rss_before = _peak_rss_mb()
    if engine.startswith("ctranslate2"):
        compute_type = engine.split("-")[1]
        translator = load_translator(
            ct2_dir, RuntimeOptions(device="cpu", compute_type=compute_type, intra_threads=args.threads)
        )

        def translate(batch: list[str]) -> tuple[list[str], int]:
            results = translator.translate_segments(batch, source, target, options)
            return [r.text for r in results], sum(r.hypotheses[0].tokens for r in results)
    elif _is_decoder_only(checkpoint):
        translate = _transformers_causal_lm(checkpoint, ct2_dir, source, target, args)
    else:
        translate = _transformers_seq2seq(checkpoint, ct2_dir, source, target, args)

    rss_loaded = _peak_rss_mb()
    batches = [sentences[i : i + args.batch_sentences] for i in range(0, len(sentences), args.batch_sentences)]
    translate(batches[0])  # warm-up
    times, outputs, tokens = [], [], 0
    for _ in range(args.repeats):
        start = time.perf_counter()
        outputs, tokens = [], 0
        for batch in batches:
            texts, count = translate(batch)
            outputs.extend(texts)
            tokens += count
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    return {
        "engine": engine,
        "seconds": round(seconds, 3),
        "sentences_per_s": round(len(sentences) / seconds, 2),
        "target_tokens": tokens,
        "tokens_per_s": round(tokens / seconds, 1),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "rss_before_load_mb": round(rss_before, 1),
        "rss_after_load_mb": round(rss_loaded, 1),
        "sample_output": outputs[:3],
    }


def _is_decoder_only(checkpoint: Path) -> bool:
    config = json.loads((checkpoint / "config.json").read_text(encoding="utf-8"))
    return not config.get("is_encoder_decoder", False)


def _transformers_seq2seq(checkpoint: Path, ct2_dir: Path, source: Any, target: Any, args: argparse.Namespace) -> Any:
    """Marian-style checkpoint through ``generate``; tokenised exactly as the CTranslate2 path tokenises."""
    import torch
    from transformers import AutoModelForSeq2SeqLM

    from mt import RuntimeOptions, load_translator

    torch.set_num_threads(args.threads)
    model = AutoModelForSeq2SeqLM.from_pretrained(checkpoint).eval()
    helper: Any = load_translator(ct2_dir, RuntimeOptions(device="cpu", compute_type="int8", intra_threads=1))
    vocab = json.loads((checkpoint / "vocab.json").read_text(encoding="utf-8"))
    pieces = {i: p for p, i in vocab.items()}

    def translate(batch: list[str]) -> tuple[list[str], int]:
        ids = [[vocab.get(t, vocab["<unk>"]) for t in helper._source_tokens(s, source, target)] for s in batch]
        width = max(map(len, ids))
        pad = model.config.pad_token_id
        input_ids = torch.tensor([row + [pad] * (width - len(row)) for row in ids])
        with torch.inference_mode():
            out = model.generate(
                input_ids=input_ids,
                attention_mask=(input_ids != pad).long(),
                num_beams=args.beam,
                do_sample=False,
                max_new_tokens=args.max_length,
            )
        texts, tokens = [], 0
        for row in out.tolist():
            body = [i for i in row[1:] if i not in (pad, model.config.eos_token_id)]
            tokens += len(body) + 1
            texts.append(helper.tokenizer.decode([pieces[i] for i in body]))
        return texts, tokens

    return translate


def _transformers_causal_lm(checkpoint: Path, ct2_dir: Path, source: Any, target: Any, args: argparse.Namespace) -> Any:
    """Decoder-only checkpoint through ``generate``: the same prompts, end tokens and answer extraction."""
    import torch
    from transformers import AutoModelForCausalLM

    from mt import RuntimeOptions, load_translator

    torch.set_num_threads(args.threads)
    model = AutoModelForCausalLM.from_pretrained(checkpoint).eval()
    helper: Any = load_translator(ct2_dir, RuntimeOptions(device="cpu", compute_type="int8", intra_threads=1))
    hf = helper.tokenizer.hf
    end_ids = [int(i) for i in hf.convert_tokens_to_ids(helper._end_tokens())]
    pad = hf.pad_token_id if hf.pad_token_id is not None else end_ids[0]

    def translate(batch: list[str]) -> tuple[list[str], int]:
        prompts = [hf.convert_tokens_to_ids(helper._prompt_tokens(s, source, target)) for s in batch]
        width = max(map(len, prompts))
        input_ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts])  # left padding
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
        with torch.inference_mode():
            out = model.generate(
                input_ids=input_ids,
                attention_mask=mask,
                num_beams=args.beam,
                do_sample=False,
                max_new_tokens=args.max_length,
                eos_token_id=end_ids,
                pad_token_id=pad,
            )
        texts, tokens = [], 0
        for row in out[:, width:].tolist():
            body = []
            for i in row:
                if i in end_ids:
                    break
                body.append(i)
            tokens += len(body)  # as CTranslate2's Generator counts: the end token excluded
            texts.append(helper.extract_answer(hf.decode(body, skip_special_tokens=True)))
        return texts, tokens

    return translate


def build_random_checkpoint(directory: Path) -> Path:
    sys.path.insert(0, str(ROOT / "tests"))
    import tiny_models  # the same builder the tests use

    return tiny_models.build_marian(directory)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, help="Hugging Face checkpoint directory (Marian or decoder-only)")
    parser.add_argument("--source-lang", default="ja")
    parser.add_argument("--target-lang", default="en")
    parser.add_argument("--sentences", type=int, default=200)
    parser.add_argument("--beam", type=int, default=4)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--batch-sentences", type=int, default=32)
    parser.add_argument("--batch-tokens", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path)
    parser.add_argument(
        "--like", type=Path, help="a converted model whose manifest (prompt format, pairs) the conversions copy"
    )
    parser.add_argument("--engine", help=argparse.SUPPRESS)
    parser.add_argument("--ct2-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.engine:  # child process
        print(json.dumps(run_engine(args.engine, args.checkpoint, args.ct2_dir, args)))
        return

    sys.path.insert(0, str(ROOT))
    from mt import convert_model

    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = args.checkpoint or build_random_checkpoint(Path(tmp) / "random-marian")
        ct2_dir = Path(tmp) / "ct2-float32"
        if args.like:
            from float32_twin import convert_like

            convert_like(checkpoint, args.like, ct2_dir)
        else:
            convert_model(str(checkpoint), ct2_dir, quantization="float32")
        results = []
        for engine in ("transformers", "ctranslate2-float32", "ctranslate2-int8"):
            command = [
                sys.executable,
                __file__,
                "--engine",
                engine,
                "--checkpoint",
                str(checkpoint),
                "--ct2-dir",
                str(ct2_dir),
            ] + [
                f"--{k.replace('_', '-')}={v}"
                for k, v in vars(args).items()
                if k not in ("engine", "checkpoint", "ct2_dir", "output", "like") and v is not None
            ]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(
                f"{engine:<22} {results[-1]['tokens_per_s']:>9.1f} tok/s {results[-1]['sentences_per_s']:>7.2f} "
                f"sent/s  peak RSS {results[-1]['peak_rss_mb']:.0f} MB",
                file=sys.stderr,
            )
    base = results[0]
    for row in results:
        row["speed_vs_transformers"] = round(row["tokens_per_s"] / base["tokens_per_s"], 2)
        row["sentences_speed_vs_transformers"] = round(row["sentences_per_s"] / base["sentences_per_s"], 2)
        row["memory_vs_transformers"] = round(row["peak_rss_mb"] / base["peak_rss_mb"], 2)
    report = {
        "benchmark": "engine_speed",
        "checkpoint": str(args.checkpoint) if args.checkpoint else "random weights, tests/tiny_models.build_marian",
        "settings": {
            k: str(v) if isinstance(v, Path) else v
            for k, v in vars(args).items()
            if k not in ("engine", "ct2_dir", "output", "checkpoint")
        },
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "python": platform.python_version(),
        },
        "results": results,
    }
    text = json.dumps(report, indent=2, ensure_ascii=False)
    if args.output:
        args.output.write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
