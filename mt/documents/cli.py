"""``kakehashi translate-file``: translate documents and folders, structure kept, resumable, with progress.

The engine that translates the collected units is chosen by ``--engine`` from :data:`ENGINES` (name → a factory
taking the parsed arguments and returning an engine and a callback that closes it); ``local`` translates in this
process through :class:`~mt.Kakehashi`, with the journal wrapped around each model so that an interrupted run
resumes where it stopped.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from mt._engine import RuntimeOptions, TranslationOptions, Translator, load_translator
from mt._errors import InvalidRequest
from mt._segment_store import weights_fingerprint
from mt.documents._journal import Journal, JournalTranslator
from mt.documents._registry import FORMATS
from mt.documents._runner import CHUNK_UNITS, Engine, RunOptions, Summary, local_engine, run

Loader = Callable[[Path, RuntimeOptions], Translator]


def default_journal() -> Path:
    """``KAKEHASHI_JOURNAL``, else ``~/.cache/kakehashi/translate-file.sqlite``."""
    configured = os.environ.get("KAKEHASHI_JOURNAL")
    return Path(configured) if configured else Path.home() / ".cache" / "kakehashi" / "translate-file.sqlite"


def _split(values: list[str] | None) -> tuple[str, ...]:
    return tuple(v.strip() for value in values or () for v in value.split(",") if v.strip())


def _local(args: argparse.Namespace, loader: Loader) -> tuple[Engine, Callable[[Summary], None]]:
    from mt._pipeline import Kakehashi
    from mt.cli import settings_from_args

    journal = Journal(args.journal)
    settings = settings_from_args(args)

    def journaled(directory: Path, runtime: RuntimeOptions) -> Translator:
        translator = loader(directory, runtime)
        return JournalTranslator(translator, journal, weights_fingerprint(directory, translator.manifest))

    kakehashi = Kakehashi(settings.load_registry(), settings.runtime(), loader=journaled)
    options = TranslationOptions(beam_size=args.beam, max_batch_tokens=args.max_batch_tokens)

    def translate(texts: list[str], source: str) -> list[str]:
        results = kakehashi.translate(texts, source, args.to, model=args.model, options=options)
        return [r.text for r in results]

    def finish(summary: Summary) -> None:
        summary.cache_hits = journal.hits
        summary.translated = journal.misses
        journal.close()

    return local_engine(translate, args.source, lambda text: kakehashi.detect(text).language), finish


def _ray(args: argparse.Namespace, loader: Loader) -> tuple[Engine, Callable[[Summary], None]]:
    from mt.documents._ray import ray_engine

    return ray_engine(args, loader)


# Engine name → factory(args, loader) → (engine, finish). Other engines register here.
ENGINES: dict[str, Callable[[argparse.Namespace, Loader], tuple[Engine, Callable[[Summary], None]]]] = {
    "local": _local,
    "ray": _ray,
}


def cmd_translate_file(args: argparse.Namespace, loader: Loader = load_translator) -> int:
    """Run ``translate-file``; 0 when every file was translated, 1 when any failed."""
    if args.journal is None:
        args.journal = default_journal()
    if args.engine not in ENGINES:
        raise InvalidRequest(f"unknown engine {args.engine!r}; accepted: {', '.join(ENGINES)}")
    options = RunOptions(
        target=args.to,
        output=args.output,
        format=args.format,
        bilingual=args.bilingual,
        fields=_split(args.fields),
        include=_split(args.include),
        exclude=_split(args.exclude),
        overwrite=args.overwrite,
    )
    engine, finish = ENGINES[args.engine](args, loader)
    summary = Summary()
    try:
        summary = run(
            [Path(p) for p in args.inputs],
            options,
            engine,
            progress=not args.quiet and sys.stderr.isatty(),
            chunk=max(1, args.chunk_units),
        )
    finally:
        finish(summary)
    for line in summary.lines():
        if not args.quiet or line.startswith("failed:"):
            print(line, file=sys.stderr)
    return 1 if summary.failed else 0


def add_translate_file_command(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``translate-file`` to the ``kakehashi`` command's subparsers."""
    from mt.cli import runtime_flags

    p = sub.add_parser(
        "translate-file",
        help="translate documents and folders (txt, md, html, srt, vtt, docx, pptx, po, xliff, jsonl, csv, tsv)",
        description="Translate documents, keeping their structure. Folders are walked recursively. Outputs go "
        "beside the inputs with a language suffix (guide.en.md) unless --output is given. Interrupted runs resume "
        "where they stopped when started again with the same command.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="files or folders")
    p.add_argument("--to", required=True, help="target language code")
    p.add_argument("--from", dest="source", default="auto", help="source language code, or auto (default)")
    p.add_argument("--output", "-o", help="output file (one input) or folder (mirrors the input tree)")
    p.add_argument("--format", choices=sorted(FORMATS), help="read every input as this format")
    p.add_argument(
        "--bilingual", action="store_true", help="source and translation side by side (md, html, txt, srt, vtt)"
    )
    p.add_argument("--fields", action="append", help="jsonl/csv/tsv: fields or columns to translate (a,b)")
    p.add_argument("--include", action="append", help="only files matching this glob (repeatable)")
    p.add_argument("--exclude", action="append", help="skip files matching this glob (repeatable)")
    p.add_argument("--overwrite", action="store_true", help="po/xliff: translate entries that have a translation")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar and no summary (failures still)")
    p.add_argument("--model", help="model name or directory (default: routed by language pair)")
    p.add_argument("--engine", default="local", help=f"how units are translated: {', '.join(ENGINES)}")
    p.add_argument(
        "--ray-address", help="--engine ray: join the Ray cluster at this address (default: start a local Ray)"
    )
    p.add_argument(
        "--journal",
        type=Path,
        default=None,
        help="resume journal (KAKEHASHI_JOURNAL; default ~/.cache/kakehashi/translate-file.sqlite)",
    )
    p.add_argument(
        "--chunk-units", type=int, default=CHUNK_UNITS, help="units per engine call (progress and resume steps)"
    )
    p.add_argument("--beam", type=int, default=4, help="beam size (1 = greedy)")
    p.add_argument("--max-batch-tokens", type=int, default=4096, help="source tokens in one model batch")
    runtime_flags(p)
    p.set_defaults(func=cmd_translate_file)
