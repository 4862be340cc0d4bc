"""The end of a run: choose the best of the last, best-scoring and averaged weights, export and convert them
with a manifest that names the corpora and the training settings."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mt._corpora import ParallelPair
from mt.training.config import TrainingConfig, require_torch
from mt.training.data import PreparedData
from mt.training.evaluation import convert_checkpoint, evaluate_weights
from mt.training.recipes import Recipe
from mt.training.state import STATE_FILE, RunState, snapshot_step, update_run_state


def manifest_base(config: TrainingConfig, prepared: PreparedData) -> dict[str, Any]:
    """The manifest fields every conversion of the run's weights carries (evaluation and export alike)."""
    return {
        "name": config.name,
        "languages": prepared.languages,
        "pairs": prepared.directions,
        "max_input_tokens": 2 * config.max_tokens,
    }


def average_state_dicts(paths: Sequence[Path]) -> dict[str, Any]:
    """The mean of saved weights (floating-point tensors; others are taken from the last file)."""
    torch = require_torch()
    total: dict[str, Any] = {}
    for path in paths:
        state = torch.load(path, map_location="cpu", weights_only=True)
        for key, value in state.items():
            if value.is_floating_point():
                total[key] = total.get(key, 0) + value.double() / len(paths)
            else:
                total[key] = value
    return {k: (v.float() if v.is_floating_point() else v) for k, v in total.items()}


def finish(
    config: TrainingConfig,
    recipe: Recipe,
    model: Any,
    run: RunState,
    prepared: PreparedData,
    dev_examples: Sequence[ParallelPair],
    threads: int,
) -> dict[str, Any]:
    """Pick the best of (last, best, averaged) weights by dev score, export and convert to ``config.output``;
    write the run's history. Returns the run's summary (also stored in the manifest)."""
    torch = require_torch()
    work = config.work_dir
    base = manifest_base(config, prepared)
    # A copy: loading the other candidates into the model would otherwise overwrite the last weights.
    candidates: dict[str, dict[str, Any]] = {"last": {k: v.detach().clone() for k, v in model.state_dict().items()}}
    # The last step that shaped each candidate's weights: the source references cite no step after it.
    weights_steps = {"last": run.step}
    if (work / "best.pt").exists() and run.best is not None:
        candidates["best"] = torch.load(work / "best.pt", map_location="cpu", weights_only=True)
        weights_steps["best"] = int(run.best["step"])
    snapshots = [work / name for name in run.checkpoints if (work / name).exists()]
    if len(snapshots) >= 2:
        candidates[f"average_of_{len(snapshots)}"] = average_state_dicts(snapshots)
        weights_steps[f"average_of_{len(snapshots)}"] = max(snapshot_step(path) for path in snapshots)
    results: dict[str, dict[str, Any]] = {}
    model.eval()
    for label, weights in candidates.items():
        model.load_state_dict(weights)
        results[label] = evaluate_weights(recipe, model, work, base, dev_examples, threads)
    chosen = max(results, key=lambda k: results[k]["mean_chrf"])
    if not run.history or run.history[-1]["step"] != run.step:
        # The last weights' score joins the run's dev curve (and the state, so the relay checkpoint keeps it):
        # without it a session's curve would end at its last evaluation within the session.
        run.history.append({**results["last"], "step": run.step, "minutes": round(run.elapsed / 60, 2)})
        if (work / STATE_FILE).exists():
            update_run_state(work / STATE_FILE, run)
    model.load_state_dict(candidates[chosen])
    recipe.after_step(model)
    checkpoint = work / "export-hf"
    if checkpoint.exists():
        shutil.rmtree(checkpoint)
    recipe.export(model, checkpoint)
    summary = {
        "steps": run.step,
        "epochs": round(run.epoch_fraction if run.epoch_fraction is not None else run.epoch, 2),
        "minutes": round(run.elapsed / 60, 1),
        "chosen_weights": chosen,
        "weights_step": weights_steps[chosen],
        "dev_scores": results,
        "examples_too_long_dropped": prepared.tokens.get("dropped_too_long", 0),
        "runs": run.runs,
    }
    manifest_extra = {
        **base,
        "license": config.license,
        "corpora": prepared.corpora,
        "training": {"config": config.to_json(), "summary": summary},
    }
    convert_checkpoint(checkpoint, config.output, config.quantization, manifest_extra, recipe.prompt())
    (work / "history.json").write_text(json.dumps(run.to_dict(), indent=1, ensure_ascii=False))
    return summary
