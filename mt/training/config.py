"""The settings of a training run, and the one place that imports torch for training."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mt._errors import MissingDependency

# Settings that define the model's shape: its weights only fit a model built with the same values.
MODEL_KEYS = ("arch", "vocab_size", "d_model", "encoder_layers", "decoder_layers", "attention_heads", "ffn_dim")
# Settings that define the model and its data: a run can only be resumed with the same values.
RESUME_KEYS = (*MODEL_KEYS, "train", "bidirectional")
PRECISIONS = ("float32", "bfloat16")
ARCHITECTURES = ("marian", "decoder")


@dataclass
class TrainingConfig:
    """Everything that decides a training run; stored in the run's state and in the exported manifest."""

    train: list[str]
    output: Path
    work_dir: Path
    dev: list[str] = field(default_factory=list)
    # Corpora added to a run after it began (``--resume DIR --add-train SPEC``), in the order they were added:
    # trained on from the session that added them, after the run's own corpora; no dev pairs are held out of
    # them, so that the run's dev set, and so its scores, stay the same.
    added_train: list[str] = field(default_factory=list)
    name: str = "kakehashi-model"
    arch: str = "marian"
    init_from: str | None = None
    pretrain_fraction: float = 0.4
    bidirectional: bool = True
    sample: dict[str, int] = field(default_factory=dict)
    # Examples of a corpus per epoch of translation training, as a multiple of its rows (``--weight``): 0.5 draws
    # half of them anew each epoch, 2 takes each twice; corpora not named weigh 1. Kept in the relay checkpoint,
    # like ``added_train``, and recorded in each session's run record so that the data order replays.
    corpus_weights: dict[str, float] = field(default_factory=dict)
    dev_holdout: int = 300
    dev_sentences: int = 250
    vocab_size: int = 8000
    d_model: int = 256
    encoder_layers: int = 3
    decoder_layers: int = 3
    attention_heads: int = 4
    ffn_dim: int = 1024
    dropout: float = 0.1
    max_tokens: int = 64
    batch_tokens: int = 3000
    # Batches per optimizer step: a machine that fits only small batches trains with the effective batch of one
    # that fits ``accumulate`` times larger ones.
    accumulate: int = 1
    learning_rate: float = 7e-4
    warmup_steps: int = 600
    label_smoothing: float = 0.1
    clip_norm: float = 1.0
    eval_minutes: float = 10.0
    log_every: int = 50
    checkpoint_minutes: float = 5.0
    average_last: int = 4
    time_budget_minutes: float | None = None
    session_minutes: float | None = None
    max_steps: int | None = None
    # A cool-down branch: the learning rate falls linearly to zero over the last ``cooldown_steps`` steps before
    # ``max_steps``. Its weights are for export; the relay goes on from the un-cooled checkpoint, whose learning
    # rate stays on the schedule (``benchmarks/relay_experiment.py`` measures what the branch gains).
    cooldown_steps: int | None = None
    threads: int = 0
    seed: int = 1
    quantization: str = "int8"
    license: str = "unknown"
    device: str = "cpu"
    precision: str = "float32"

    def to_json(self) -> dict[str, Any]:
        """The settings as JSON values (paths as strings), as stored in ``config.json`` and manifests."""
        data = asdict(self)
        data["output"] = str(self.output)
        data["work_dir"] = str(self.work_dir)
        return data


def fast_bfloat16(device: str) -> bool:
    """Whether ``device`` runs bfloat16 matrix products faster than float32: a CUDA GPU that supports bfloat16,
    or a CPU with AMX tiles or AVX-512 BF16 instructions (where bfloat16 autocast trained the default model
    1.7 times as fast per thread; ``benchmarks/precision_training.py``)."""
    torch = require_torch()
    if torch.device(device).type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if torch.device(device).type != "cpu":
        return False
    cpu = getattr(torch, "cpu", None)
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)


def resolve_precision(precision: str, device: str) -> str:
    """``auto``: bfloat16 mixed precision where the device computes it fast (:func:`fast_bfloat16`), else
    float32; other values as they are."""
    if precision != "auto":
        return precision
    return "bfloat16" if fast_bfloat16(device) else "float32"


def require_torch(purpose: str = "training") -> Any:
    """The torch module, or :class:`MissingDependency` naming the ``train`` extra."""
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependency("torch", "train", purpose) from exc
    return torch
