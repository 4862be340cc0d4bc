"""``kakehashi index build``: build the reference index of a model (see :mod:`mt._references`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def add_index_command(subparsers: Any) -> None:
    """Add ``index build [--model NAME] [--data-dir DIR] [--output DIR] [--quiet]`` to the CLI's subparsers."""
    from mt.cli import runtime_flags

    index = subparsers.add_parser("index", help="reference indexes of models' training corpora")
    commands = index.add_subparsers(dest="index_command", required=True, metavar="COMMAND")
    p = commands.add_parser("build", help="index every pair of the corpora a model was trained on")
    p.add_argument("--model", help="model name or directory (default: the default model)")
    p.add_argument("--data-dir", type=Path, help="the shared data folder (KAKEHASHI_DATA_DIR; default ../shared/data)")
    p.add_argument("--output", type=Path, help="index folder (default: beside the model, else KAKEHASHI_INDEX_DIR)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    runtime_flags(p)
    p.set_defaults(func=cmd_index_build)


def cmd_index_build(args: argparse.Namespace) -> int:
    """Build the index of ``--model`` and print where it went."""
    from mt._references import META_FILE, build_index
    from mt.bench.testsets import data_dir
    from mt.cli import settings_from_args

    registry = settings_from_args(args).load_registry()
    if args.model:
        entry = registry.get(args.model)
    else:
        defaults = [e for e in registry.entries if e.default] or registry.entries
        if not defaults:
            from mt._errors import ModelNotFound

            raise ModelNotFound("(default)", registry.names())
        entry = defaults[0]
    root = args.data_dir.expanduser() if args.data_dir else data_dir()
    path = build_index(entry.path, entry.manifest, root, output=args.output, progress=not args.quiet)
    print(f"reference index of {entry.name} written to {path}")
    steps = json.loads((path / META_FILE).read_text(encoding="utf-8"))["steps"]
    if steps["known"]:
        print(f"training steps of each pair replayed: {'; '.join(steps['sessions'])}")
    else:
        print(f"training steps of the pairs not known: {steps['reason']}")
    return 0
