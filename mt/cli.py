"""The ``kakehashi`` command: translate, convert, models, train; ``serve`` and ``keys`` are handed to the ``serve``
package, imported only when one of them runs (mt never imports serve otherwise)."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from mt._annotate import Annotator
from mt._config import Settings
from mt._engine import TranslationOptions
from mt._errors import InvalidRequest, KakehashiError, MissingDependency
from mt._glossary import load_glossary
from mt._index_cli import add_index_command
from mt._pipeline import AUTO, Kakehashi, Translation
from mt.bench.cli import add_bench_command
from mt.documents.cli import add_translate_file_command
from mt.training.cli import add_train_command

# Lines read from a pipe are translated in chunks, so output starts flowing before stdin ends.
_STDIN_CHUNK = 64


def runtime_flags(parser: argparse.ArgumentParser) -> None:
    """Add the runtime flags (registry, device, compute type, threads) to a command's parser."""
    group = parser.add_argument_group("runtime (also KAKEHASHI_* variables)")
    group.add_argument("--registry", action="append", help="registry TOML file (repeatable; KAKEHASHI_REGISTRY)")
    group.add_argument("--device", choices=["auto", "cpu", "cuda"], help="KAKEHASHI_DEVICE (default auto)")
    group.add_argument("--compute-type", help="int8, int8_float16, float32, … (KAKEHASHI_COMPUTE_TYPE; default auto)")
    group.add_argument("--threads", type=int, dest="intra_threads", help="threads per batch (KAKEHASHI_INTRA_THREADS)")
    group.add_argument("--inter-threads", type=int, help="batches run in parallel (KAKEHASHI_INTER_THREADS)")


def settings_from_args(args: argparse.Namespace) -> Settings:
    """The engine settings: ``KAKEHASHI_*`` variables, overridden by the flags of :func:`runtime_flags`."""
    return Settings.from_env().with_overrides(
        registry=args.registry,
        device=args.device,
        compute_type=args.compute_type,
        intra_threads=args.intra_threads,
        inter_threads=args.inter_threads,
    )


def _translation_options(args: argparse.Namespace) -> TranslationOptions:
    return TranslationOptions(
        beam_size=args.beam,
        n_best=args.n_best,
        sampling_topk=args.sampling_topk,
        sampling_topp=args.sampling_topp,
        sampling_temperature=args.temperature,
        repetition_penalty=args.repetition_penalty,
        no_repeat_ngram_size=args.no_repeat_ngram_size,
        length_penalty=args.length_penalty,
        reconstruction_weight=args.reconstruction_weight,
        max_decoding_length=args.max_length,
        max_batch_tokens=args.max_batch_tokens,
        target_prefix=args.target_prefix,
    )


def _other_language(source: str, kakehashi: Kakehashi) -> str:
    # With no --to, ja↔en (the default model's pair) is meant: English text goes to Japanese, the rest to English.
    return "ja" if source.split("-")[0] == "en" else "en"


# Below this support score a translated sentence is flagged as weakly supported by the training data.
WEAK_SUPPORT = 0.5


def _print_annotations(result: Translation, references: bool, notes: bool) -> None:
    """The references and notes of one translation as indented text under it."""
    for kind, status in result.annotations.items():
        if status != "ok":
            print(f"  [{kind}: {status}]")
    if references:
        for segment in result.segments:
            if segment.references is None:
                continue
            support = segment.support if segment.support is not None else 0.0
            flag = " (weakly supported)" if support < WEAK_SUPPORT else ""
            print(f"  {segment.text.strip()}  — support {support:.2f}{flag}")
            for number, reference in enumerate(segment.references, start=1):
                row = reference.to_json()
                print(f"    {number}. {row['source']} → {row['target']}")
                print(f"       {row['corpus']} {row['id']}, {row['license']}, {row['url'] or 'no public page'}")
                steps = row["steps"]
                if not isinstance(steps, str):
                    steps = f"seen {row['times_seen']} times in training (steps {steps[0]} … {steps[-1]})"
                print(f"       {steps}")
    for note in (result.notes or ()) if notes else ():
        row = note.to_json()
        reading = ", ".join(part for part in (row["reading"], row["romaji"]) if part)
        print(f"  ※ {row['term']} ({reading}): {row['gloss']}")
        if row["explanation"]:
            print(f"      {row['explanation']}")
        print(f"      {row['url'] or row['source']} ({row['license']})")


def _translate_lines(
    kakehashi: Kakehashi,
    lines: list[str],
    args: argparse.Namespace,
    options: TranslationOptions,
    annotator: Annotator | None = None,
) -> None:
    if args.to:
        results = kakehashi.translate(
            lines, args.source, args.to, model=args.model, options=options, glossary=args.glossary
        )
    else:
        results = []
        for line in lines:
            source = args.source if args.source != AUTO else (kakehashi.detect(line).language if line.strip() else "en")
            results.extend(
                kakehashi.translate(
                    [line],
                    source,
                    _other_language(source, kakehashi),
                    model=args.model,
                    options=options,
                    glossary=args.glossary,
                )
            )
    if annotator is not None:
        results = [annotator.annotate(r, references=args.references, notes=args.notes) for r in results]
    for result in results:
        if args.json:
            print(json.dumps(result.to_json(args.references, args.notes), ensure_ascii=False))
        else:
            print(result.text)
            for alternative in result.alternatives:
                print(f"\t{alternative.text}")
            _print_annotations(result, args.references, args.notes)
    sys.stdout.flush()


def _chunks(lines: Iterable[str], size: int) -> Iterable[list[str]]:
    chunk: list[str] = []
    for line in lines:
        chunk.append(line.rstrip("\n"))
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _is_file(text: str) -> bool:
    """Whether a TEXT argument names an existing file (a path, not a sentence)."""
    if "\n" in text or len(text) > 4096:
        return False
    try:
        return Path(text).expanduser().is_file()
    except OSError:
        return False


def cmd_translate(args: argparse.Namespace) -> int:
    files = [text for text in args.text if _is_file(text)]
    if files:
        raise InvalidRequest(
            f"{files[0]!r} is a file, and translate translates the texts it is given; "
            f"translate the file with: kakehashi translate-file {files[0]} --to LANGUAGE "
            f"(or its lines as text with: kakehashi translate < {files[0]})"
        )
    settings = settings_from_args(args)
    kakehashi = Kakehashi(settings.load_registry(), settings.runtime())
    options = _translation_options(args)
    if args.glossary is not None:
        args.glossary = load_glossary(args.glossary, None if args.source == AUTO else args.source, args.to)
    annotator = Annotator(kakehashi.registry) if args.references or args.notes else None
    if args.text:
        _translate_lines(kakehashi, list(args.text), args, options, annotator)
        return 0
    if sys.stdin.isatty():
        pair = f"{args.source}→{args.to or 'en/ja'}"
        print(f"Kakehashi interactive translation ({pair}); one paragraph per line, Ctrl-D to quit.", file=sys.stderr)
        while True:
            try:
                line = input("> ")
            except EOFError:
                print(file=sys.stderr)
                return 0
            try:
                _translate_lines(kakehashi, [line], args, options, annotator)
            except KakehashiError as exc:
                print(f"error: {exc}", file=sys.stderr)
    for chunk in _chunks(sys.stdin, _STDIN_CHUNK):
        _translate_lines(kakehashi, chunk, args, options, annotator)
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from mt._convert import convert_model
    from mt._manifest import PromptFormat

    prompt = None
    if args.prompt_template:
        stops = tuple(s.encode().decode("unicode_escape") for s in (args.stop or ["\\n"]))
        prompt = PromptFormat(template=args.prompt_template, stop=stops)
    manifest = convert_model(
        args.source,
        Path(args.output),
        quantization=None if args.quantization == "none" else args.quantization,
        force=args.force,
        revision=args.revision,
        name=args.name,
        languages=args.languages.split(",") if args.languages else None,
        prompt=prompt,
        trust_remote_code=args.trust_remote_code,
    )
    print(
        f"converted {args.source} → {args.output} ({manifest.family}, {manifest.architecture}, "
        f"{manifest.quantization or 'original precision'}; languages {', '.join(manifest.languages)})"
    )
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    rows = settings_from_args(args).load_registry().describe()
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    if not rows:
        print("no models installed (see `kakehashi convert` and KAKEHASHI_REGISTRY)")
        return 0
    header = f"{'name':<28} {'family':<8} {'architecture':<16} {'languages':<16} {'quantization':<13} {'size':>9}"
    print(header)
    for r in rows:
        size = f"{r['size_bytes'] / 1e6:.1f} MB"
        print(
            f"{r['name']:<28} {r['family']:<8} {r['architecture']:<16} {','.join(r['languages']):<16} "
            f"{r['quantization'] or '-':<13} {size:>9}"
        )
    return 0


def _decoding_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("decoding")
    group.add_argument("--beam", type=int, default=4, help="beam size (1 = greedy)")
    group.add_argument("--n-best", type=int, default=1, help="alternatives to return (≤ beam)")
    group.add_argument(
        "--sampling-topk", type=int, default=1, help="sample from the K likeliest tokens (1 = no sampling, 0 = all)"
    )
    group.add_argument(
        "--sampling-topp", type=float, default=1.0, help="sample from the tokens of this cumulative probability"
    )
    group.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (0.01-100; 1 = as trained)")
    # Unset, these four take the model's recommendation (its manifest's "decoding"), else no penalty.
    group.add_argument(
        "--repetition-penalty", type=float, help="penalise repeated tokens (> 1; 1 = none; default: the model's)"
    )
    group.add_argument(
        "--no-repeat-ngram-size",
        type=int,
        help="never repeat an n-gram of this many tokens (0 = allowed; default: the model's)",
    )
    group.add_argument(
        "--length-penalty", type=float, help="beam scores divided by length ** this (default: the model's, else 1)"
    )
    group.add_argument(
        "--reconstruction-weight",
        type=float,
        help="rerank the beam by how well each translation translates back into the source, with this weight "
        "(0 = the beam's order; models that translate both ways; default: the model's, else 0)",
    )
    group.add_argument("--max-length", type=int, default=256, help="maximum output tokens per sentence")
    group.add_argument("--max-batch-tokens", type=int, default=4096, help="source tokens in one model batch")
    group.add_argument("--target-prefix", help="force the translation to start with this text")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kakehashi", description="Kakehashi (架け橋): translation with open models.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what is loaded and done")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("translate", help="translate TEXT arguments, or stdin one paragraph per line")
    p.add_argument(
        "text", nargs="*", help="texts to translate (none: read stdin); for a file, use kakehashi translate-file"
    )
    p.add_argument("--from", dest="source", default=AUTO, help="source language code, or auto (default)")
    p.add_argument("--to", help="target language code (default: en, or ja for English input)")
    p.add_argument("--model", help="model name or directory (default: routed by language pair)")
    p.add_argument("--json", action="store_true", help="one JSON object per line, with segments and scores")
    p.add_argument(
        "--glossary",
        type=Path,
        help="required term translations: FILE.tsv / .csv (term, translation; needs --from and --to) or .json",
    )
    p.add_argument(
        "--references",
        action="store_true",
        help="show the training-corpus pairs that support each sentence, and its support score",
    )
    p.add_argument("--notes", action="store_true", help="explain culture-specific terms of the source")
    _decoding_flags(p)
    runtime_flags(p)
    p.set_defaults(func=cmd_translate)

    p = sub.add_parser("convert", help="convert a Hugging Face checkpoint to a Kakehashi (CTranslate2) model")
    p.add_argument("source", help="checkpoint directory or hub id")
    p.add_argument("--output", "-o", required=True, help="directory to write the converted model to")
    p.add_argument(
        "--quantization",
        help="weight precision of the converted model (default int8)",
        default="int8",
        choices=["int8", "int8_float16", "int8_bfloat16", "int8_float32", "float16", "bfloat16", "float32", "none"],
    )
    p.add_argument("--force", action="store_true", help="replace OUTPUT if it exists")
    p.add_argument("--revision", help="hub revision")
    p.add_argument("--name", help="model name in the registry (default: OUTPUT's name)")
    p.add_argument("--languages", help="comma-separated language codes (default: read from the vocabulary)")
    p.add_argument("--prompt-template", help="decoder-only models: '{source_lang}: {text}\\n{target_lang}:' or chat")
    p.add_argument("--stop", action="append", help="decoder-only models: stop sequence (repeatable)")
    p.add_argument(
        "--trust-remote-code", action="store_true", help="run the checkpoint's own Python code (only if you trust it)"
    )
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("models", help="list installed models")
    p.add_argument("--json", action="store_true", help="every detail of each model, as JSON")
    runtime_flags(p)
    p.set_defaults(func=cmd_models)

    add_train_command(sub)
    add_bench_command(sub)
    add_index_command(sub)
    add_translate_file_command(sub)

    # Parsed by the serve package itself (its flags are its own); add_help=False passes --help on to it.
    for name, summary in SERVE_COMMANDS.items():
        p = sub.add_parser(name, help=summary, add_help=False)
    return parser


# The commands the serve package implements, and what each does.
SERVE_COMMANDS = {
    "serve": "run the REST service (needs the serve extra)",
    "keys": "create an API key for the REST service (stored hashed)",
    "worker": "run document translation jobs from the Redis queue (needs the jobs extra)",
}


def _run_serve_command(args: argparse.Namespace, arguments: list[str]) -> int:
    try:
        serve_cli = importlib.import_module("serve.cli")
    except ModuleNotFoundError as exc:
        raise MissingDependency(exc.name or "serve", "serve", f"kakehashi {args.command}") from exc
    return int(serve_cli.main([args.command, *arguments]))


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, unparsed = parser.parse_known_args(argv)
    if unparsed and args.command not in SERVE_COMMANDS:
        parser.error(f"unrecognized arguments: {' '.join(unparsed)}")
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        if args.command in SERVE_COMMANDS:
            return _run_serve_command(args, unparsed)
        return int(args.func(args) or 0)
    except KakehashiError as exc:
        print(f"kakehashi: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
