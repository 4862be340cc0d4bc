"""The Ray engine of ``kakehashi translate-file --engine ray [--ray-address ADDR]``: the collected units
translated on a Ray cluster (or a local Ray instance), with outputs identical to the local engine's.

Ray Data reads the units as rows of one chunk each — the very chunks the local engine translates one after the
other (``--chunk-units``) — and ``map_batches`` sends each row to a fixed pool of translator actors
(:class:`ray.data.ActorPoolStrategy`): one per CPU slot with one CTranslate2 thread each, or one per GPU with
``num_gpus=1``. An actor loads the models once and runs the local engine's own code on its chunk
(:func:`~mt.documents._runner.local_engine` over :meth:`mt.Kakehashi.translate`); equal chunks give equal batches,
and equal batches give equal translations. The driver writes the outputs through the same format registry.

Without an address a local Ray instance is started (``num_cpus`` of this machine, no dashboard); with one the
run joins that cluster, whose nodes must reach the registry's model directories (shared storage, or shipped with
the job's runtime environment: ``ray job submit --working-dir .``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mt._errors import DocumentError, MissingDependency

log = logging.getLogger("kakehashi.ray")

Engine = Callable[[list[str]], list[str]]


@dataclass(frozen=True)
class ActorSpec:
    """What every translator actor needs to build the same engine as the local one (plain values: it travels
    to other machines)."""

    registry: tuple[str, ...]
    source: str
    target: str
    model: str | None
    beam_size: int
    max_batch_tokens: int
    device: str
    compute_type: str
    intra_threads: int


class TranslatorActor:
    """A Ray actor: the models loaded once, then each row (one chunk of units, as JSON) translated by the local
    engine's code."""

    def __init__(self, spec: dict[str, Any]):
        from mt._config import Settings
        from mt._engine import TranslationOptions
        from mt._pipeline import Kakehashi
        from mt.documents._runner import local_engine

        s = ActorSpec(**{**spec, "registry": tuple(spec["registry"])})
        settings = Settings(
            registry=tuple(Path(p) for p in s.registry),
            device=s.device,
            compute_type=s.compute_type,
            intra_threads=s.intra_threads,
            inter_threads=1,
        )
        kakehashi = Kakehashi(settings.load_registry(), settings.runtime())
        options = TranslationOptions(beam_size=s.beam_size, max_batch_tokens=s.max_batch_tokens)

        def translate(texts: list[str], source: str) -> list[str]:
            results = kakehashi.translate(texts, source, s.target, model=s.model, options=options)
            self.sentences += sum(len(r.segments) for r in results)
            return [r.text for r in results]

        self.sentences = 0

        self.engine = local_engine(translate, s.source, lambda text: kakehashi.detect(text).language)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        translations, sentences = [], []
        for units in batch["units"]:
            before = self.sentences
            translations.append(json.dumps(self.engine(json.loads(str(units))), ensure_ascii=False))
            sentences.append(self.sentences - before)
        return {"index": batch["index"], "translations": translations, "sentences": sentences}


def start_ray(address: str | None, num_cpus: int | None = None) -> Any:
    """Join the cluster at ``address``, or start a local Ray instance (no dashboard: it only slows start-up).

    Raises:
        MissingDependency: Ray Data (the ``ray`` extra) is not installed.
    """
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise MissingDependency(exc.name or "ray", "ray", "translate-file --engine ray") from exc
    if not ray.is_initialized():
        if address:
            ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
        else:
            ray.init(
                address="local",
                num_cpus=num_cpus or os.cpu_count() or 1,
                include_dashboard=False,
                logging_level=logging.WARNING,
                log_to_driver=False,
            )
    return ray


def pool_size(ray: Any, device: str) -> tuple[int, float]:
    """(actors, GPUs per actor): one actor per GPU on CUDA (or ``auto`` with GPUs in the cluster), else one per
    CPU slot."""
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    if device == "cuda" or (device == "auto" and gpus):
        if not gpus:
            raise DocumentError("--device cuda with --engine ray needs GPUs in the Ray cluster; it has none")
        return gpus, 1.0
    return max(1, int(resources.get("CPU", 1))), 0.0


def ray_translate(units: list[str], spec: ActorSpec, chunk: int, progress: bool = False) -> tuple[list[str], int]:
    """Translate ``units`` on Ray in rows of ``chunk`` units (the local engine's chunks), keeping their order;
    returns the translations and how many sentences the models translated (Ray must be started)."""
    import ray
    import ray.data

    if not units:
        return [], 0
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = progress
    rows = [
        {"index": number, "units": json.dumps(units[start : start + chunk], ensure_ascii=False)}
        for number, start in enumerate(range(0, len(units), chunk))
    ]
    actors, gpus = pool_size(ray, spec.device)
    actors = min(actors, len(rows))
    dataset = ray.data.from_items(rows, override_num_blocks=min(len(rows), actors * 4))
    translated = dataset.map_batches(
        TranslatorActor,
        fn_constructor_kwargs={"spec": asdict(spec)},
        batch_size=1,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_cpus=0 if gpus else 1,
        num_gpus=gpus,
    )
    out: list[str] = []
    sentences = 0
    for row in sorted(translated.take_all(), key=lambda r: int(r["index"])):
        out.extend(json.loads(row["translations"]))
        sentences += int(row["sentences"])
    if len(out) != len(units):
        raise DocumentError(f"the Ray engine returned {len(out)} translations for {len(units)} units")
    return out, sentences


def portable_path(path: Path | str) -> str:
    """A registry file as the actors should open it: relative to the working directory when it lies inside it
    (``ray job submit --working-dir .`` gives every actor a copy of that directory as its own working directory),
    else absolute (shared storage). No registry at all means each actor's own installed default."""
    resolved = Path(path).resolve()
    try:
        return str(resolved.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(resolved)


def ray_engine(args: argparse.Namespace, loader: Any) -> tuple[Engine, Callable[[Any], None]]:
    """``translate-file``'s engine factory for ``--engine ray`` (see :data:`mt.documents.cli.ENGINES`).

    The run hands the engine all units in one call (``args.chunk_units`` is lifted) and the engine splits them
    into the chunks the local engine would have translated one by one, so outputs are identical. The resume
    journal is the local engine's (a cluster has no shared journal): a Ray run translates from the start.
    """
    from mt.cli import settings_from_args

    settings = settings_from_args(args)
    chunk = max(1, int(args.chunk_units))
    args.chunk_units = sys.maxsize
    spec = ActorSpec(
        registry=tuple(portable_path(p) for p in settings.registry),
        source=args.source,
        target=args.to,
        model=args.model,
        beam_size=args.beam,
        max_batch_tokens=args.max_batch_tokens,
        device=settings.device,
        compute_type=settings.compute_type,
        # One CTranslate2 thread per actor: the pool has one actor per CPU slot.
        intra_threads=1,
    )
    ray = start_ray(getattr(args, "ray_address", None), getattr(args, "ray_cpus", None))
    progress = not getattr(args, "quiet", False) and sys.stderr.isatty()

    translated = [0]

    def engine(units: list[str]) -> list[str]:
        out, sentences = ray_translate(list(units), spec, chunk, progress)
        translated[0] += sentences
        return out

    def finish(summary: Any) -> None:
        summary.translated = translated[0]
        ray.shutdown()

    return engine, finish
