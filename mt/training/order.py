"""Replaying a run's data order: which training examples were in which optimizer steps.

The loop (:mod:`mt.training.loop`) draws each epoch's batches with :func:`mt.training.data.batches` from the
examples' lengths, the session's ``batch_tokens`` and ``Random(seed * 1000 + epoch)``, and keeps its position
(epoch, batch) across resumed sessions. Nothing about the order needs storing, then: the chain of sessions in the
run state (``runs``: from/to step, ``batch_tokens`` and ``accumulate`` of each) is enough to replay it exactly,
session by session, each with its own batch size — a resumed session with another ``--batch-tokens`` continues at
the same batch *position* in an order cut with the new size, and so does the replay. A session that accumulates N
batches per optimizer step gives each step the next N batches of the epoch (fewer at its end), so a pair's step
is the optimizer step whose batches held it. Sessions recorded since the loop
stores their seed and starting position (epoch, batch) are replayed with that seed, and the replay must reach that
position, or it refuses.

Where the order cannot be known, :func:`replay_steps` and :func:`training_order` raise :class:`StepsUnknown`
with the reason in words: no chain of runs recorded, a gap in it, a session that began elsewhere than the replay
reaches, or a language-modelling first stage whose end is decided by the clock.
"""

from __future__ import annotations

import json
import random
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from mt._corpora import ParallelPair
from mt._errors import KakehashiError
from mt.training.config import TrainingConfig
from mt.training.data import added_boundaries, batches, directions, epoch_rows, example_ranges, prepare_data


class StepsUnknown(KakehashiError):
    """The steps at which a run saw its examples cannot be replayed; the message says why."""


@dataclass(frozen=True)
class Session:
    """One session of a run, as its run record tells it: steps ``from_step + 1 .. to_step`` with ``batch_tokens``,
    ``accumulate`` batches per step (1 in records written before the loop could accumulate).

    Records written since the loop stores them also give the session's ``seed`` and the position in the data
    order where it began (``from_epoch``, ``from_batch``); older ones leave them None (the run's seed is used).
    """

    from_step: int
    to_step: int
    batch_tokens: int
    seed: int | None = None
    from_epoch: int | None = None
    from_batch: int | None = None
    accumulate: int = 1
    added_corpora: int = 0
    corpus_weights: tuple[tuple[str, float], ...] = ()

    def describe(self) -> str:
        steps = f"steps {self.from_step + 1}-{self.to_step} with batches of {self.batch_tokens} tokens"
        if self.accumulate != 1:
            steps += f", {self.accumulate} batches a step"
        if self.added_corpora:
            steps += f", {self.added_corpora} added corpora"
        if self.corpus_weights:
            steps += ", corpora weighted " + ", ".join(f"{name} {weight:g}" for name, weight in self.corpus_weights)
        return steps


def session_chain(runs: Sequence[Mapping[str, Any]], last_step: int) -> list[Session]:
    """The sessions that trained steps ``1 .. last_step``, checked to follow on from each other.

    Raises:
        StepsUnknown: no sessions are recorded, a record lacks its steps or batch size, or the chain has a gap
            or does not reach ``last_step``.
    """
    if last_step <= 0:
        return []
    if not runs:
        raise StepsUnknown(
            "the run records no chain of training sessions (runs trained before Kakehashi recorded them), "
            "so the batch size of each step is not known"
        )
    chain: list[Session] = []
    at = 0
    for number, record in enumerate(runs, 1):
        missing = [key for key in ("from_step", "to_step", "batch_tokens") if not isinstance(record.get(key), int)]
        if missing:
            raise StepsUnknown(f"training session {number} does not record its {', '.join(missing)}")
        optional = {
            k: record[k]
            for k in ("seed", "from_epoch", "from_batch", "accumulate", "added_corpora")
            if isinstance(record.get(k), int)
        }
        weights = record.get("corpus_weights")
        if isinstance(weights, dict) and weights:
            optional["corpus_weights"] = tuple(sorted((str(k), float(v)) for k, v in weights.items()))
        if optional.get("accumulate", 1) < 1:
            raise StepsUnknown(f"training session {number} records {optional['accumulate']} batches per step")
        session = Session(int(record["from_step"]), int(record["to_step"]), int(record["batch_tokens"]), **optional)
        if session.from_step != at:
            raise StepsUnknown(
                f"training session {number} starts at step {session.from_step}, but the sessions before it end at "
                f"step {at}; the order of steps {min(at, session.from_step) + 1}-{max(at, session.from_step)} "
                "is not known"
            )
        if session.to_step < session.from_step:
            raise StepsUnknown(f"training session {number} ends at step {session.to_step}, before it starts")
        chain.append(session)
        at = session.to_step
        if at >= last_step:
            break
    if at < last_step:
        raise StepsUnknown(f"the recorded training sessions end at step {at}, not at the run's step {last_step}")
    return chain


def replay_steps(
    lengths: Sequence[int],
    chain: Sequence[Session],
    seed: int,
    last_step: int,
    rows_with_added: Sequence[int] | None = None,
    corpus_rows: dict[str, tuple[int, int]] | None = None,
) -> Iterator[list[int]]:
    """The rows (indices into the run's token data) of each step ``1 .. last_step``, in step order.

    ``rows_with_added[k]``: how many rows the run's data had with its first ``k`` added corpora (the rows of
    added corpora follow the run's own); a session that trained on ``k`` of them drew from those rows only.
    Without it, every session drew from all ``lengths``. ``corpus_rows``: the (first, end) row of each corpus,
    needed to replay sessions that weighted corpora (:func:`mt.training.data.epoch_rows`).

    Follows the loop exactly: each session cuts the current epoch's order with its own ``batch_tokens`` (and
    seed, where recorded) and continues at the batch position where the session before it stopped; each step
    holds the session's ``accumulate`` batches from there, fewer where the epoch's order ends; an epoch ends when
    the position reaches the end of its order.

    Raises:
        StepsUnknown: a session's record says it began at another position in the data order than the replay
            reaches (the run did something the replay does not know of).
    """
    if not lengths:
        if last_step > 0:
            raise StepsUnknown("the run has no training examples, yet records training steps")
        return
    epoch, position, step = 0, 0, 0
    cut: dict[tuple[int, int, int, int, tuple[tuple[str, float], ...]], list[list[int]]] = {}
    for number, session in enumerate(chain, 1):
        recorded = (session.from_epoch, session.from_batch)
        if None not in recorded and recorded != (epoch, position):
            raise StepsUnknown(
                f"training session {number} began at epoch {recorded[0]}, batch {recorded[1]} of the data order, "
                f"but the replay of the sessions before it reaches epoch {epoch}, batch {position}; the steps from "
                f"{session.from_step + 1} on are not known"
            )
        session_seed = seed if session.seed is None else session.seed
        rows = len(lengths)
        if rows_with_added is not None:
            if session.added_corpora >= len(rows_with_added):
                raise StepsUnknown(
                    f"training session {number} trained on {session.added_corpora} added corpora, but the run's "
                    f"settings name {len(rows_with_added) - 1}"
                )
            rows = rows_with_added[session.added_corpora]
        if session.corpus_weights and corpus_rows is None:
            raise StepsUnknown(f"training session {number} weighted corpora, but their rows were not given")
        end = min(session.to_step, last_step)
        while step < end:
            key = (epoch, session.batch_tokens, session_seed, rows, session.corpus_weights)
            if key not in cut:
                cut.clear()  # one epoch's order at a time: epochs are visited in increasing order
                picked = epoch_rows(corpus_rows or {}, dict(session.corpus_weights), session_seed, epoch, rows)
                rng = random.Random(session_seed * 1000 + epoch)
                cut[key] = batches(lengths[:rows], session.batch_tokens, rng, picked)
            order = cut[key]
            if position >= len(order):
                epoch, position = epoch + 1, 0
                continue
            group = order[position : position + session.accumulate]
            yield [row for batch in group for row in batch]
            position += len(group)
            step += 1
            if position >= len(order):
                # As the loop does after a step that ends the epoch, also the last step of a session: the next
                # session records that it began at the next epoch.
                epoch, position = epoch + 1, 0


def example_rows(recipe: Any, examples: Sequence[ParallelPair]) -> tuple[list[int], list[int]]:
    """(length of each token-data row, the example each row came from), as ``recipe.encode(examples)`` laid
    the rows out: examples over the length limit are dropped there, so rows and examples differ after the first
    dropped one. Each example is encoded through the recipe on its own, so this holds for every recipe."""
    lengths: list[int] = []
    rows: list[int] = []
    for number, example in enumerate(examples):
        data = recipe.encode([example])
        if data.get("dropped_too_long", 0):
            continue
        lengths.append(recipe.lengths(data, 2)[0])
        rows.append(number)
    return lengths, rows


@dataclass(frozen=True)
class TrainingOrder:
    """When a run saw its training pairs: each sighting of a pair (in either direction) with its step.

    ``pairs`` are the training pairs in the order the run drew them; ``pair_numbers`` and ``steps`` (numpy
    arrays, sorted by pair then step) hold one entry per sighting; ``last_step`` is the step the replay went up to.
    """

    pairs: list[ParallelPair]
    pair_numbers: Any
    steps: Any
    last_step: int
    sessions: list[Session]

    def steps_by_pair(self) -> dict[tuple[str, str], list[int]]:
        """(corpus, pair id) → the steps at which the pair was seen, one entry per sighting (a pair whose two
        directions fell into the same batch lists that step twice); pairs never seen are left out."""
        import numpy as np

        found: dict[tuple[str, str], list[int]] = {}
        if not len(self.steps):
            return found
        starts = np.flatnonzero(np.diff(self.pair_numbers, prepend=-1))
        ends = np.append(starts[1:], len(self.steps))
        for start, end in zip(starts.tolist(), ends.tolist()):
            pair = self.pairs[int(self.pair_numbers[start])]
            found[(pair.corpus, pair.pair_id)] = self.steps[start:end].tolist()
        return found


def config_from_json(data: Mapping[str, Any]) -> TrainingConfig:
    """A :class:`TrainingConfig` from its stored JSON (``config.json``, a manifest's ``training.config``);
    keys of other versions are ignored, paths become :class:`Path`.

    Raises:
        StepsUnknown: the settings name no training corpora.
    """
    known = {f.name for f in fields(TrainingConfig)}
    values = {k: v for k, v in data.items() if k in known}
    if not values.get("train"):
        raise StepsUnknown("the stored training settings name no training corpora, so the run's data cannot be rebuilt")
    # Manifests leave out the run's folders; replaying the data order never writes to them.
    values["output"] = Path(values.get("output") or ".")
    values["work_dir"] = Path(values.get("work_dir") or ".")
    return TrainingConfig(**values)


def _vocabulary_dir(config: TrainingConfig, vocabulary: Path, scratch: Path) -> Path:
    """A folder laid out like a work directory for the recipe to load its vocabulary from: ``vocabulary`` itself
    when it is one (work directory, relay checkpoint), else a scratch copy of an exported model's ``source.spm``."""
    if config.arch != "marian":
        if config.init_from or (vocabulary / "tokenizer" / "tokenizer.json").exists():
            return vocabulary
        # Without its tokenizer the recipe would train a new one, whose token counts are not the run's.
        raise StepsUnknown(f"{vocabulary} holds no tokenizer/tokenizer.json to rebuild the run's token data")
    if (vocabulary / "spm.model").exists():
        return vocabulary
    if (vocabulary / "source.spm").exists():
        (scratch / "spm.model").write_bytes((vocabulary / "source.spm").read_bytes())
        return scratch
    raise StepsUnknown(f"{vocabulary} holds no sentencepiece model (spm.model or source.spm) to rebuild the token data")


def training_order(
    config: TrainingConfig, runs: Sequence[Mapping[str, Any]], last_step: int, vocabulary: Path
) -> TrainingOrder:
    """Replay a run's data order: which training pairs each step ``1 .. last_step`` held.

    Args:
        config: the run's settings; its corpus specs must be loadable from here (resolve them first).
        runs: the run's chain of sessions (``RunState.runs``, a manifest's ``training.summary.runs``).
        last_step: replay up to this step (the run's, or its exported weights').
        vocabulary: a folder with the run's vocabulary: the work directory, the relay checkpoint, or the
            exported Marian model (``source.spm``).

    Raises:
        StepsUnknown: the order cannot be replayed (the message says why).
    """
    from mt.training.recipes import make_recipe

    chain = session_chain(runs, last_step)
    recipe = make_recipe(config)
    if recipe.pretrains:
        raise StepsUnknown(
            "the run began with a language-modelling stage whose end is decided by the clock and not recorded, "
            "so the steps of its translation stage are not known"
        )
    train_pairs, _, corpora = prepare_data(config)
    examples = directions(train_pairs, config.bidirectional)
    languages = sorted({lang for e in examples for lang in (e.source_lang, e.target_lang)})
    with tempfile.TemporaryDirectory(prefix="kakehashi-order-") as scratch:
        folder = _vocabulary_dir(config, vocabulary, Path(scratch))
        try:
            recipe.vocabulary(folder, [], languages)
        except (OSError, ValueError, RuntimeError) as exc:  # a damaged file, or init_from not reachable
            raise StepsUnknown(f"the run's vocabulary could not be loaded from {folder} ({exc})") from exc
        lengths, rows = example_rows(recipe, examples)
    import numpy as np

    per_pair = 2 if config.bidirectional else 1
    example_of_row = np.asarray(rows, dtype=np.int64)
    pair_of_row = example_of_row // per_pair
    # Rows are examples less those dropped as too long, in order: count the rows before each boundary.
    rows_with_added = np.searchsorted(example_of_row, added_boundaries(corpora, config.bidirectional))
    corpus_rows = {
        name: (int(np.searchsorted(example_of_row, start)), int(np.searchsorted(example_of_row, end)))
        for name, (start, end) in example_ranges(corpora, config.bidirectional).items()
    }
    replayed = replay_steps(lengths, chain, config.seed, last_step, [int(n) for n in rows_with_added], corpus_rows)
    held = [np.asarray(batch, dtype=np.int64) for batch in replayed]
    numbers = pair_of_row[np.concatenate(held)] if held else np.zeros(0, dtype=np.int64)
    steps = np.repeat(np.arange(1, len(held) + 1, dtype=np.int64), [len(b) for b in held])
    by_pair = np.lexsort((steps, numbers))
    return TrainingOrder(train_pairs, numbers[by_pair], steps[by_pair], last_step, chain)


def order_of_directory(directory: Path, data_dir: Path | None = None) -> TrainingOrder:
    """The data order of the run in a work directory or relay checkpoint (``config.json`` and ``history.json``).

    ``data_dir``: when given, corpus specs under ``shared/data`` are read from there instead.

    Raises:
        StepsUnknown: the folder lacks the run's settings or history, or the order cannot be replayed.
    """
    try:
        settings = json.loads((directory / "config.json").read_text(encoding="utf-8"))
        history = json.loads((directory / "history.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise StepsUnknown(
            f"{directory} lacks a readable config.json and history.json (a work directory after export, or a "
            f"relay checkpoint): {exc}"
        ) from exc
    config = config_from_json(settings)
    if data_dir is not None:
        config = replace(
            config,
            train=[spec_under(s, data_dir) for s in config.train],
            added_train=[spec_under(s, data_dir) for s in config.added_train],
            dev=[spec_under(s, data_dir) for s in config.dev],
        )
    return training_order(config, history.get("runs") or [], int(history.get("step", 0)), directory)


def spec_under(spec: str, data_dir: Path) -> str:
    """``spec`` with a path under a ``shared/data`` folder moved under ``data_dir``; other specs as they are."""
    fmt, sep, rest = spec.partition(":")
    if not sep:
        fmt, rest = "", spec
    parts = Path(rest).parts
    if "shared" in parts and parts[parts.index("shared") + 1 : parts.index("shared") + 2] == ("data",):
        rest = str(data_dir.joinpath(*parts[parts.index("shared") + 2 :]))
    return f"{fmt}:{rest}" if fmt else rest
