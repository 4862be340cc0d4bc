"""The relay checkpoint: what it takes to continue a training run on another machine, in one small directory.

A work directory of ``kakehashi train`` holds tokenised data, snapshots and full-precision optimizer state
(hundreds of MB). The relay checkpoint keeps only what continuing needs and fits in a repository:

* ``config.json`` — the run's settings, corpus paths relative to the project root;
* the vocabulary (``spm.model`` for Marian, ``tokenizer/`` for decoder-only models);
* ``state.pt`` — weights in float16 (tied weights once), Adam moments in bfloat16 when they fit under the size
  limit (bfloat16 keeps the tiny second moments that float16 would flush to zero), else Adam's second moments
  in Adafactor's factored form (a mean per row and per column of each matrix: a few hundred kB), the run state
  (step, epoch, position in the data order, elapsed minutes, the chain of runs) and the random generators;
* ``history.json`` — the same run state, readable.

The data is not stored: it is rebuilt from the corpora, deterministically, in the same order.
``pack_checkpoint`` replaces the directory as a whole (never adds to it); ``unpack_checkpoint`` turns it back into
a work directory, unless the work directory already holds the same run further along.

Factored second moments spare a run continued on another machine the learning-rate re-warm-up that fresh
moments need: the second moments are rebuilt as the outer product of the row and column means (exact for each
row's and column's mean), the first moments start at zero, which makes the first steps after the resume small
by themselves (Adam's first moment builds up over about 10 steps).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from mt._errors import InvalidRequest
from mt.training.config import RESUME_KEYS, require_torch
from mt.training.state import SNAPSHOT_GLOB, STATE_FILE
from mt.training.storage import DATA_FILE, PREPARED_FILE

VOCABULARY_PATHS = ("spm.model", "spm.vocab", "tokenizer")
DEFAULT_MAX_BYTES = 60_000_000
WEIGHT_DTYPES = ("float16", "float32")
# Settings that decide the prepared (tokenised) data of a work directory.
DATA_KEYS = ("arch", "train", "dev", "sample", "vocab_size", "max_tokens", "bidirectional", "dev_holdout", "seed")


def _torch() -> Any:
    return require_torch("relay checkpoints")


def _tensor_bytes(tree: Any) -> int:
    torch = _torch()
    if isinstance(tree, torch.Tensor):
        return tree.numel() * tree.element_size()
    if isinstance(tree, dict):
        return sum(_tensor_bytes(v) for v in tree.values())
    if isinstance(tree, list | tuple):
        return sum(_tensor_bytes(v) for v in tree)
    return 0


def _cast_floats(tree: Any, dtype: Any) -> Any:
    torch = _torch()
    if isinstance(tree, torch.Tensor):
        return tree.to(dtype) if tree.is_floating_point() and tree.dim() > 0 else tree
    if isinstance(tree, dict):
        return {k: _cast_floats(v, dtype) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_cast_floats(v, dtype) for v in tree]
    return tree


def _untie(weights: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Store tied weights once: (weights without the copies, {copy's key: kept key}). A saved state dict holds
    tied tensors (shared embeddings, output layer) as separate equal copies."""
    torch = _torch()
    kept: dict[str, Any] = {}
    aliases: dict[str, str] = {}
    for key, value in weights.items():
        twin = None
        if value.dim() == 2:
            twin = next((k for k, v in kept.items() if v.shape == value.shape and torch.equal(v, value)), None)
        if twin is None:
            kept[key] = value
        else:
            aliases[key] = twin
    return kept, aliases


def _retie(weights: dict[str, Any], aliases: dict[str, str]) -> dict[str, Any]:
    return {**weights, **{copy: weights[kept] for copy, kept in aliases.items()}}


def pack_checkpoint(
    work: Path, destination: Path, max_bytes: int = DEFAULT_MAX_BYTES, weights_dtype: str = "float16"
) -> dict[str, Any]:
    """Write the relay checkpoint of the run in ``work`` to ``destination`` (replacing it). Returns what was
    stored: step, minutes, size in bytes, and whether the optimizer moments fitted."""
    torch = _torch()
    if weights_dtype not in WEIGHT_DTYPES:
        raise InvalidRequest(f"unknown weights dtype {weights_dtype!r}; accepted: {', '.join(WEIGHT_DTYPES)}")
    if not (work / STATE_FILE).exists():
        raise InvalidRequest(f"{work} holds no training state ({STATE_FILE}); train first")
    state = torch.load(work / STATE_FILE, map_location="cpu", weights_only=False)
    weights, aliases = _untie(state["model"])
    packed: dict[str, Any] = {
        "model": _cast_floats(weights, getattr(torch, weights_dtype)),
        "aliases": aliases,
        "run": state["run"],
        "python_rng": state["python_rng"],
        "torch_rng": state["torch_rng"],
    }
    optimizer = state.get("optimizer")
    if optimizer and not optimizer.get("state"):
        optimizer = None  # a run that made no step since a resume without moments has none to keep
    moments_dtype = torch.bfloat16 if weights_dtype == "float16" else torch.float32
    factors_from = optimizer
    optimizer = _cast_floats(optimizer, moments_dtype) if optimizer else None
    optimizer_fits = bool(optimizer) and _tensor_bytes(packed["model"]) + _tensor_bytes(optimizer) <= max_bytes
    if optimizer_fits:
        packed["optimizer"] = optimizer
    elif factors_from:
        packed["optimizer_factored"] = factor_second_moments(factors_from)
    if _tensor_bytes(packed["model"]) > max_bytes:
        raise InvalidRequest(
            f"the weights alone take {_tensor_bytes(packed['model']) / 1e6:.0f} MB in {weights_dtype}, over the "
            f"checkpoint limit of {max_bytes / 1e6:.0f} MB; raise the limit or train a smaller model"
        )
    staging = destination.with_name(destination.name + ".staging")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    config = json.loads((work / "config.json").read_text(encoding="utf-8"))
    for local in ("output", "work_dir"):
        config.pop(local, None)
    (staging / "config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    _copy_vocabulary(work, staging)
    torch.save(packed, staging / STATE_FILE)
    readable = {k: v for k, v in state["run"].items() if k != "checkpoints"}
    (staging / "history.json").write_text(json.dumps(readable, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    if destination.exists():
        shutil.rmtree(destination)
    staging.replace(destination)
    size = sum(f.stat().st_size for f in destination.rglob("*") if f.is_file())
    return {
        "checkpoint": str(destination),
        "step": state["run"]["step"],
        "minutes": round(state["run"]["elapsed"] / 60, 1),
        "bytes": size,
        "optimizer_moments": optimizer_fits,
        "factored_second_moments": "optimizer_factored" in packed,
    }


def factor_second_moments(optimizer: dict[str, Any]) -> dict[str, Any]:
    """Adam's state with each matrix's second moments as (row means, column means) and no first moments;
    vectors keep their second moments whole (float32). Tensors of more dimensions are taken as matrices of
    their first dimension by the rest."""
    torch = _torch()
    state: dict[Any, Any] = {}
    for index, moments in optimizer["state"].items():
        squares = moments["exp_avg_sq"].float()
        entry: dict[str, Any] = {"step": float(moments["step"]), "shape": list(squares.shape)}
        if squares.dim() < 2:
            entry["exp_avg_sq"] = squares.clone()
        else:
            matrix = squares.reshape(squares.shape[0], -1)
            entry["rows"] = matrix.mean(dim=1).to(torch.float32)
            entry["columns"] = matrix.mean(dim=0).to(torch.float32)
        state[index] = entry
    return {"state": state, "param_groups": optimizer["param_groups"]}


def unfactor_second_moments(factored: dict[str, Any]) -> dict[str, Any]:
    """An optimizer state dict from :func:`factor_second_moments`: second moments rebuilt as
    ``rows ⊗ columns / mean`` (each row's and column's mean as stored), first moments zero."""
    torch = _torch()
    state: dict[Any, Any] = {}
    for index, entry in factored["state"].items():
        shape = tuple(entry["shape"])
        if "exp_avg_sq" in entry:
            squares = entry["exp_avg_sq"].float()
        else:
            rows, columns = entry["rows"].float(), entry["columns"].float()
            squares = (torch.outer(rows, columns) / rows.mean().clamp_min(1e-30)).reshape(shape)
        state[index] = {
            "step": torch.tensor(entry["step"]),
            "exp_avg": torch.zeros(shape),
            "exp_avg_sq": squares,
        }
    return {"state": state, "param_groups": factored["param_groups"]}


def checkpoint_config(checkpoint: Path) -> dict[str, Any]:
    """The training settings stored in a relay checkpoint."""
    path = checkpoint / "config.json"
    if not path.exists() or not (checkpoint / STATE_FILE).exists():
        raise InvalidRequest(
            f"{checkpoint} is not a relay checkpoint: it needs config.json and {STATE_FILE} "
            "(written by kakehashi train --pack DIR or --resume DIR)"
        )
    return dict(json.loads(path.read_text(encoding="utf-8")))


def checkpoint_step(checkpoint: Path) -> int:
    """The optimizer step a relay checkpoint has reached (from its readable ``history.json``)."""
    checkpoint_config(checkpoint)
    history = checkpoint / "history.json"
    if history.exists():
        return int(json.loads(history.read_text(encoding="utf-8"))["step"])
    return int(_torch().load(checkpoint / STATE_FILE, map_location="cpu", weights_only=False)["run"]["step"])


def _copy_vocabulary(source_dir: Path, target_dir: Path) -> None:
    """Copy the vocabulary files and folders of a run, replacing those in ``target_dir``."""
    for name in VOCABULARY_PATHS:
        source, target = source_dir / name, target_dir / name
        if source.is_dir():
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(source, target)
        elif source.exists():
            shutil.copy2(source, target)


def unpack_checkpoint(checkpoint: Path, work: Path, config: dict[str, Any]) -> bool:
    """Make ``work`` continue the run in ``checkpoint``. Returns False when ``work`` already holds that run at
    the same step or further along (it is then used as it is), True when it was (re)built from the checkpoint."""
    torch = _torch()
    checkpoint_config(checkpoint)
    state = torch.load(checkpoint / STATE_FILE, map_location="cpu", weights_only=False)
    here = json.loads((work / "config.json").read_text(encoding="utf-8")) if (work / "config.json").exists() else None
    if here is not None and (work / STATE_FILE).exists():
        same = all(here.get(k) == config.get(k) for k in (*RESUME_KEYS, "seed"))
        local = torch.load(work / STATE_FILE, map_location="cpu", weights_only=False)
        if same and local["run"]["step"] >= state["run"]["step"]:
            return False
    work.mkdir(parents=True, exist_ok=True)
    stale_files = [STATE_FILE, "best.pt", *(p.name for p in work.glob(SNAPSHOT_GLOB))]
    if here is not None and any(here.get(k) != config.get(k) for k in DATA_KEYS):
        stale_files += [DATA_FILE, PREPARED_FILE]  # prepared from other corpora or settings
    for stale in stale_files:
        (work / stale).unlink(missing_ok=True)
    _copy_vocabulary(checkpoint, work)
    state["model"] = _cast_floats(_retie(state["model"], state.pop("aliases", {})), torch.float32)
    if state.get("optimizer"):
        state["optimizer"] = _cast_floats(state["optimizer"], torch.float32)
        state["moments"] = "full"
    elif state.get("optimizer_factored"):
        state["optimizer"] = unfactor_second_moments(state["optimizer_factored"])
        state["moments"] = "factored"
    state.pop("optimizer_factored", None)
    state["run"]["checkpoints"] = []
    torch.save(state, work / STATE_FILE)
    (work / "config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False), encoding="utf-8")
    return True
