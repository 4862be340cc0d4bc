"""``kakehashi train``: the command line of training, including the relay (``--resume DIR`` / ``--pack DIR``).

Every training setting has one default, in :class:`mt.training.config.TrainingConfig`. With ``--resume DIR`` the
settings stored in the relay checkpoint take the place of those defaults, and only the flags given on the
command line change them (those that may change between runs: threads, device, precision, batch size,
batches accumulated per step, …).
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import fields
from pathlib import Path
from typing import Any

from mt._errors import InvalidRequest
from mt.training.config import MODEL_KEYS, TrainingConfig, require_torch, resolve_precision

log = logging.getLogger("kakehashi.train")

# Flag name → TrainingConfig field, for the flags that map one to one.
_FIELD_FLAGS = {
    "name": "name",
    "arch": "arch",
    "init_from": "init_from",
    "pretrain_fraction": "pretrain_fraction",
    "vocab_size": "vocab_size",
    "d_model": "d_model",
    "encoder_layers": "encoder_layers",
    "decoder_layers": "decoder_layers",
    "heads": "attention_heads",
    "ffn_dim": "ffn_dim",
    "dropout": "dropout",
    "max_tokens": "max_tokens",
    "batch_tokens": "batch_tokens",
    "accumulate": "accumulate",
    "lr": "learning_rate",
    "warmup": "warmup_steps",
    "eval_minutes": "eval_minutes",
    "checkpoint_minutes": "checkpoint_minutes",
    "time_budget": "time_budget_minutes",
    "minutes": "session_minutes",
    "max_steps": "max_steps",
    "cooldown_steps": "cooldown_steps",
    "threads": "threads",
    "seed": "seed",
    "quantization": "quantization",
    "license": "license",
    "device": "device",
    "precision": "precision",
}
# Settings of the machine and session a run happened on, not of the run: a resumed run takes this machine's defaults
# and its own flags. A session's step limit (an experiment arm's --max-steps) must not stop the next session.
_SESSION_SETTINGS = (
    "output",
    "work_dir",
    "device",
    "precision",
    "threads",
    "session_minutes",
    "max_steps",
    "cooldown_steps",
)


def _default_work_dir(name: str) -> Path:
    return Path.home() / ".cache" / "kakehashi" / "train" / name


def build_config(args: argparse.Namespace) -> TrainingConfig:
    """The run's TrainingConfig: defaults ← the relay checkpoint's settings (``--resume``) ← the flags given."""
    from mt.training.relay import checkpoint_config, checkpoint_step, unpack_checkpoint

    known = {f.name for f in fields(TrainingConfig)}
    values: dict[str, Any] = {}
    if args.resume:
        stored = checkpoint_config(Path(args.resume))
        values.update({k: v for k, v in stored.items() if k in known and k not in _SESSION_SETTINGS})
    given = {field: getattr(args, flag) for flag, field in _FIELD_FLAGS.items() if getattr(args, flag) is not None}
    if args.resume:
        changed = [k for k in MODEL_KEYS if k in given and given[k] != values.get(k)]
        if changed:
            raise InvalidRequest(
                f"--resume continues the model in {args.resume}; it cannot change {', '.join(changed)} "
                "(start a new run with --train instead)"
            )
    values.update(given)
    if args.train:
        values["train"] = args.train
    if args.add_train:
        if not args.resume:
            raise InvalidRequest(
                "--add-train adds corpora to a run continued with --resume CHECKPOINT_DIR; a new run takes all its "
                "corpora with --train"
            )
        already: list[str] = list(values.get("added_train") or [])
        values["added_train"] = already + [spec for spec in args.add_train if spec not in already]
    if args.dev:
        values["dev"] = args.dev
    if args.sample:
        values["sample"] = dict(_parse_sample(item) for item in args.sample)
    if args.weight:
        values["corpus_weights"] = {**(values.get("corpus_weights") or {}), **dict(map(_parse_weight, args.weight))}
    if args.one_direction:
        values["bidirectional"] = False
    if not values.get("train"):
        raise InvalidRequest("kakehashi train needs --train FORMAT:PATH (repeatable) or --resume CHECKPOINT_DIR")
    if values.get("precision") == "auto":
        values["precision"] = resolve_precision("auto", values.get("device") or "cpu")
        log.info("precision auto: %s on %s", values["precision"], values.get("device") or "cpu")
    name = values.get("name") or (Path(args.output).name if args.output else "kakehashi-model")
    values["name"] = name
    work_name = name
    if values.get("cooldown_steps"):
        # A cool-down branch of the relay: it ends cooldown_steps after the checkpoint's step and trains in a work
        # directory of its own, so that the relay's work directory (and checkpoint) go on un-cooled.
        work_name = f"{name}-cooldown"
        if args.resume and not values.get("max_steps"):
            values["max_steps"] = checkpoint_step(Path(args.resume)) + values["cooldown_steps"]
    work_dir = Path(args.work_dir) if args.work_dir else _default_work_dir(work_name)
    output = Path(args.output) if args.output else work_dir / "model"
    config = TrainingConfig(output=output, work_dir=work_dir, **values)
    if args.resume and unpack_checkpoint(Path(args.resume), work_dir, config.to_json()):
        log.info("continuing the relay checkpoint %s in %s", args.resume, work_dir)
    return config


def _parse_weight(item: str) -> tuple[str, float]:
    from mt.training.data import MAX_CORPUS_WEIGHT

    name, _, weight = item.partition("=")
    try:
        value = float(weight)
    except ValueError:
        value = -1.0
    if not name or not 0 <= value < MAX_CORPUS_WEIGHT:
        raise InvalidRequest(
            f"--weight takes CORPUS=W (a corpus name and its examples per epoch as a multiple of its size, "
            f"from 0 to {MAX_CORPUS_WEIGHT}: 0.5 for half, 2 for twice), got {item!r}"
        )
    return name, value


def _parse_sample(item: str) -> tuple[str, int]:
    name, _, count = item.partition("=")
    if not name or not count.isdigit():
        raise InvalidRequest(f"--sample takes CORPUS=N (a corpus name and a number of pairs), got {item!r}")
    return name, int(count)


def cmd_train(args: argparse.Namespace) -> int:
    """``kakehashi train``: train, or only prepare the data (``--prepare-only``); pack the relay checkpoint."""
    require_torch("kakehashi train")
    # Imported here, not at the top: `kakehashi translate` starts without loading the training code.
    from mt.training.data import prepare
    from mt.training.loop import train
    from mt.training.recipes import make_recipe
    from mt.training.relay import pack_checkpoint

    config = build_config(args)
    if args.prepare_only:
        config.work_dir.mkdir(parents=True, exist_ok=True)
        (config.work_dir / "config.json").write_text(json.dumps(config.to_json(), indent=2, ensure_ascii=False))
        prepared = prepare(config, make_recipe(config))
        print(
            json.dumps(
                {
                    "work_dir": str(config.work_dir),
                    "directions": prepared.directions,
                    "dev_pairs": len(prepared.dev_pairs),
                }
                | {k: len(v) for k, v in prepared.tokens.items() if not isinstance(v, int)},
                ensure_ascii=False,
            )
        )
        return 0
    summary = train(config, export=not args.no_export)
    # A cool-down branch is exported, not packed back: the relay goes on from the un-cooled checkpoint.
    pack_to = args.pack or (args.resume if not config.cooldown_steps else None)
    if pack_to:
        summary["relay_checkpoint"] = pack_checkpoint(config.work_dir, Path(pack_to), max_bytes=args.pack_limit)
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    return 0


def add_train_command(sub: Any) -> None:
    """Register ``kakehashi train`` on an argparse subparsers object."""
    p = sub.add_parser("train", help="train a translation model (needs the train extra)")
    p.add_argument("--train", action="append", help="corpus spec FORMAT:PATH (repeatable)")
    p.add_argument("--dev", action="append", help="dev corpus spec (default: held out from the training data)")
    p.add_argument("--output", "-o", help="directory for the converted model (default WORK_DIR/model)")
    p.add_argument("--work-dir", help="checkpoints and state (default ~/.cache/kakehashi/train/NAME); resumable")
    p.add_argument("--name", help="model name (default: the output directory's name)")
    relay = p.add_argument_group("relay: continue a run on any machine")
    relay.add_argument(
        "--resume",
        metavar="CHECKPOINT_DIR",
        help="continue the run stored in this relay checkpoint, then write it back there (replacing it)",
    )
    relay.add_argument("--pack", metavar="CHECKPOINT_DIR", help="write the relay checkpoint here after training")
    relay.add_argument(
        "--pack-limit", type=int, default=60_000_000, help="bytes; optimizer moments are kept only under it"
    )
    relay.add_argument("--minutes", type=float, help="train this many more minutes in this run")
    relay.add_argument(
        "--add-train",
        action="append",
        metavar="SPEC",
        help="with --resume: add this corpus to the run from now on (repeatable; kept in the checkpoint; no dev "
        "pairs are held out of it)",
    )
    relay.add_argument(
        "--prepare-only",
        action="store_true",
        help="load, clean and tokenise the corpora into WORK_DIR, then stop (to train on another machine)",
    )
    relay.add_argument("--no-export", action="store_true", help="stop after training; leave the state in WORK_DIR")
    p.add_argument(
        "--arch",
        choices=["marian", "decoder"],
        help="marian (default): encoder-decoder; decoder: Llama-architecture LLM (pretraining, then translation "
        "prompts with the loss on the answer)",
    )
    p.add_argument("--init-from", help="decoder: fine-tune this Hugging Face causal LM (directory or hub id)")
    p.add_argument(
        "--pretrain-fraction",
        type=float,
        help="decoder from scratch: share of the budget for language modelling (stage 1; default 0.4)",
    )
    p.add_argument("--sample", action="append", help="CORPUS=N: use N pairs of a corpus (repeatable)")
    p.add_argument(
        "--weight",
        action="append",
        metavar="CORPUS=W",
        help="examples of CORPUS per epoch as a multiple of its size (repeatable; 0.5: half of them, drawn anew "
        "each epoch; 2: each twice; default 1); with --resume, from this session on, kept in the checkpoint",
    )
    p.add_argument("--one-direction", action="store_true", help="train source→target only (default: both)")
    p.add_argument("--vocab-size", type=int, help="default 8000")
    p.add_argument("--d-model", type=int, help="default 256")
    p.add_argument("--encoder-layers", type=int, help="marian only; default 3")
    p.add_argument("--decoder-layers", type=int, help="default 3")
    p.add_argument("--heads", type=int, help="default 4")
    p.add_argument("--ffn-dim", type=int, help="default 1024")
    p.add_argument("--dropout", type=float, help="default 0.1")
    p.add_argument("--max-tokens", type=int, help="drop training pairs longer than this (default 64)")
    p.add_argument("--batch-tokens", type=int, help="padded tokens per batch (default 3000)")
    p.add_argument(
        "--accumulate",
        type=int,
        metavar="N",
        help="batches per optimizer step (default 1): the update of one batch of N × --batch-tokens, for machines "
        "that cannot fit it",
    )
    p.add_argument("--lr", type=float, help="peak learning rate (default 7e-4)")
    p.add_argument("--warmup", type=int, help="warm-up steps (default 600)")
    p.add_argument("--eval-minutes", type=float, help="dev evaluation interval; 0 = none during training")
    p.add_argument("--checkpoint-minutes", type=float, help="state saving interval (default 5)")
    p.add_argument("--time-budget", type=float, help="minutes of training in all, across resumed runs")
    p.add_argument("--max-steps", type=int, help="stop after this many optimiser steps")
    p.add_argument(
        "--cooldown-steps",
        type=int,
        help="a cool-down branch to export: the learning rate falls linearly to zero over this many steps, "
        "ending at --max-steps (with --resume, by default this many steps after the checkpoint's); it trains in "
        "WORK_DIR NAME-cooldown and is not packed back into the --resume checkpoint, which goes on un-cooled",
    )
    p.add_argument("--threads", type=int, help="torch CPU threads (default: all)")
    p.add_argument("--device", help="torch device: cpu (default), cuda, cuda:1")
    p.add_argument(
        "--precision",
        choices=["float32", "bfloat16", "auto"],
        help="bfloat16: mixed precision (GPUs, and CPUs with AMX or AVX-512 BF16); auto: bfloat16 where the device "
        "computes it fast, else float32 (default float32)",
    )
    p.add_argument("--seed", type=int, help="random seed of data order and initialisation")
    p.add_argument("--quantization", help="of the exported model (default int8)")
    p.add_argument("--license", help="license of the trained weights (follows the data)")
    p.set_defaults(func=cmd_train)
