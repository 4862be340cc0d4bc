"""The state of a training run, as stored in ``WORK_DIR/state.pt`` (and read by relay checkpoints).

``state.pt`` holds the weights, the optimizer state, the run state and the random generators. The run state
is stored as a plain dict with the keys of :class:`RunState` (``epoch_fraction`` and ``rewarm_from`` only once
set), so that work directories and relay checkpoints written by every version keep loading.
"""

from __future__ import annotations

import platform
import random
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from mt._errors import InvalidRequest
from mt.training.config import TrainingConfig, require_torch

STATE_FILE = "state.pt"
_SNAPSHOT_PREFIX = "weights-step"
SNAPSHOT_GLOB = f"{_SNAPSHOT_PREFIX}*.pt"  # the weights snapshots of a work directory (averaged at export)
_OPTIONAL = ("epoch_fraction", "rewarm_from")


@dataclass
class RunState:
    """Where a run stands: position in the data order, time trained, scores, snapshots and the chain of runs.

    ``runs`` holds one record per session (machine, precision, batch size, batches per optimizer step —
    ``accumulate``, absent from records written before it existed, meaning 1 —, how many of the run's added
    corpora it trained on — ``added_corpora``, absent meaning none —, steps and minutes from/to);
    ``rewarm_from`` is the step at which a resume without optimizer moments restarted the learning rate.
    """

    step: int = 0
    epoch: int = 0
    batch: int = 0
    elapsed: float = 0.0
    best: dict[str, Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    losses: list[dict[str, Any]] = field(default_factory=list)
    checkpoints: list[str] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    stage: int = 2
    epoch_fraction: float | None = None
    rewarm_from: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The stored form: every field in declaration order, the optional ones only once set."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        return {k: v for k, v in data.items() if k not in _OPTIONAL or v is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunState:
        """Read a stored run state; runs of earlier versions lack ``stage`` (they had one stage) and ``runs``."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidRequest(
                f"the stored run state has unknown keys {', '.join(unknown)}; accepted: {', '.join(sorted(known))}"
            )
        return cls(**data)


def new_run_record(config: TrainingConfig, run: RunState) -> dict[str, Any]:
    """The record of the session starting now, appended to ``run.runs`` (completed by :func:`close_run_record`)."""
    torch = require_torch()
    device = config.device
    if torch.device(device).type == "cuda":
        device = f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    record: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "host": platform.node(),
        "device": device,
        "threads": torch.get_num_threads(),
        "precision": config.precision,
        "batch_tokens": config.batch_tokens,
        "accumulate": config.accumulate,
        "learning_rate": config.learning_rate,
        "from_step": run.step,
        "from_minutes": round(run.elapsed / 60, 2),
    }
    if config.added_train:
        record["added_corpora"] = len(config.added_train)
    if config.corpus_weights:
        record["corpus_weights"] = dict(config.corpus_weights)
    if config.cooldown_steps:
        record.update(cooldown_to=config.max_steps, cooldown_steps=config.cooldown_steps)
    return record


def close_run_record(run: RunState) -> None:
    """Write where the current session has got to into its record."""
    if run.runs:
        run.runs[-1].update(to_step=run.step, to_minutes=round(run.elapsed / 60, 2))


def cpu_weights(model: Any) -> dict[str, Any]:
    """The model's state dict, detached and on the CPU (what every saved file holds)."""
    return {k: v.detach().cpu() for k, v in model.state_dict().items()}


@dataclass
class SavedState:
    """What ``state.pt`` holds, weights as float32."""

    weights: dict[str, Any]
    optimizer: dict[str, Any] | None
    run: RunState
    python_rng: Any
    torch_rng: Any
    # How the optimizer moments came: "full"; "factored" (second moments rebuilt from a relay checkpoint's
    # factors, first moments zero); "none".
    moments: str = "full"

    @property
    def has_moments(self) -> bool:
        return bool(self.optimizer and self.optimizer.get("state"))


def save_state(path: Path, model: Any, optimizer: Any, run: RunState) -> None:
    """Write ``state.pt`` atomically (a crash leaves the previous state)."""
    torch = require_torch()
    close_run_record(run)
    tmp = path.with_suffix(".tmp")
    torch.save(
        {
            "model": cpu_weights(model),
            "optimizer": optimizer.state_dict(),
            "run": run.to_dict(),
            "python_rng": random.getstate(),
            "torch_rng": torch.get_rng_state(),
        },
        tmp,
    )
    tmp.replace(path)


def update_run_state(path: Path, run: RunState) -> None:
    """Replace the run state in ``state.pt``, keeping the weights, optimizer and random generators (atomically)."""
    torch = require_torch()
    saved = torch.load(path, map_location="cpu", weights_only=False)
    saved["run"] = run.to_dict()
    tmp = path.with_suffix(".tmp")
    torch.save(saved, tmp)
    tmp.replace(path)


def load_state(path: Path) -> SavedState:
    """Read ``state.pt``; the random generators are returned, not restored."""
    torch = require_torch()
    saved = torch.load(path, map_location="cpu", weights_only=False)
    weights = {k: v.float() if v.is_floating_point() else v for k, v in saved["model"].items()}
    return SavedState(
        weights=weights,
        optimizer=saved.get("optimizer"),
        run=RunState.from_dict(saved["run"]),
        python_rng=saved["python_rng"],
        torch_rng=saved["torch_rng"],
        moments=str(saved.get("moments", "full")) if (saved.get("optimizer") or {}).get("state") else "none",
    )


def snapshot_name(step: int) -> str:
    """The file name of the weights snapshot taken at a training step."""
    return f"{_SNAPSHOT_PREFIX}{step}.pt"


def snapshot_step(path: Path) -> int:
    """The training step of a weights snapshot, from its file name (see :func:`snapshot_name`)."""
    return int(path.stem.removeprefix(_SNAPSHOT_PREFIX))
