"""From corpora to training examples: cleaning, the dev hold-out, sampling, both directions, token batches.

Everything here is deterministic for a given configuration (hashes and seeded generators), so that a relay
checkpoint can rebuild the same examples in the same order on another machine.
"""

from __future__ import annotations

import logging
import random
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mt._corpora import CleaningOptions, CleaningReport, ParallelPair, clean_pairs, load_corpus
from mt._errors import InvalidRequest
from mt.training.config import TrainingConfig, require_torch
from mt.training.storage import DATA_FILE, load_prepared, load_token_data, save_prepared, save_token_data

if TYPE_CHECKING:
    from mt.training.recipes import Recipe

log = logging.getLogger("kakehashi.train")


@dataclass
class PreparedData:
    """A run's data: token ids (the recipe's layout), the corpus description, dev pairs and directions."""

    tokens: dict[str, Any]
    corpora: dict[str, Any]
    dev_pairs: list[ParallelPair]
    directions: list[tuple[str, str]]

    @property
    def languages(self) -> list[str]:
        return sorted({lang for pair in self.directions for lang in pair})


def _holdout(pair: ParallelPair, per_mille: int) -> bool:
    return zlib.crc32(f"{pair.corpus}:{pair.pair_id}".encode()) % 1000 < per_mille


def _sample(pairs: list[ParallelPair], limit: int, seed: int) -> list[ParallelPair]:
    if limit >= len(pairs):
        return pairs
    rng = random.Random(seed)
    return rng.sample(pairs, limit)


def _first(pairs: Iterator[ParallelPair]) -> list[ParallelPair]:
    return [next(pairs)]


def _clean_corpus(spec: str) -> tuple[list[ParallelPair], CleaningReport]:
    report = CleaningReport()
    pairs = list(clean_pairs(load_corpus(spec), CleaningOptions(), report))
    if not pairs:
        raise InvalidRequest(f"corpus {spec} has no usable pairs after cleaning ({report.as_dict()})")
    return pairs, report


def prepare_data(config: TrainingConfig) -> tuple[list[ParallelPair], list[ParallelPair], dict[str, Any]]:
    """Load, clean and split the corpora; returns (train, dev, description of the corpora used).

    The training pairs are those of ``config.train`` (less the dev pairs held out of them), then those of
    ``config.added_train``, corpus by corpus in order, so that adding a corpus to a run leaves the pairs before it
    where they were.
    """
    train: list[ParallelPair] = []
    dev: list[ParallelPair] = []
    corpora: dict[str, Any] = {}
    dev_names = {p.corpus for spec in config.dev for p in _first(load_corpus(spec))}
    for spec in config.train:
        pairs, report = _clean_corpus(spec)
        name = pairs[0].corpus
        held: list[ParallelPair] = []
        if name not in dev_names and config.dev_holdout:
            per_mille = max(1, min(200, round(1000 * config.dev_holdout / len(pairs))))
            held = [p for p in pairs if _holdout(p, per_mille)]
            pairs = [p for p in pairs if not _holdout(p, per_mille)]
        pairs = _sample(pairs, config.sample.get(name, len(pairs)), config.seed)
        train.extend(pairs)
        dev.extend(held[: config.dev_holdout])
        corpora[name] = {
            "spec": spec,
            "split": "train",
            "pairs_used": len(pairs),
            "cleaning": report.as_dict(),
            "dev_held_out": len(held[: config.dev_holdout]),
        }
    for number, spec in enumerate(config.added_train, 1):
        pairs, description = _added_corpus(spec, number, config, corpora)
        train.extend(pairs)
        corpora[pairs[0].corpus] = description
    for spec in config.dev:
        dev.extend(list(clean_pairs(load_corpus(spec), CleaningOptions(drop_duplicates=False))))
    return train, dev, corpora


def _added_corpus(
    spec: str, number: int, config: TrainingConfig, taken: dict[str, Any]
) -> tuple[list[ParallelPair], dict[str, Any]]:
    """The pairs of the ``number``-th added corpus (cleaned and sampled, none held out) and its description;
    ``taken``: the corpora before it, whose names it may not reuse."""
    pairs, report = _clean_corpus(spec)
    name = pairs[0].corpus
    if name in taken:
        raise InvalidRequest(
            f"added corpus {spec} is named {name!r} like a corpus the run already trains on; "
            "rename its file (the corpus name is the file name up to the first dot)"
        )
    pairs = _sample(pairs, config.sample.get(name, len(pairs)), config.seed)
    description = {
        "spec": spec,
        "split": "train",
        "pairs_used": len(pairs),
        "cleaning": report.as_dict(),
        "dev_held_out": 0,
        "added": number,
    }
    return pairs, description


def _in_run_order(corpora: dict[str, Any]) -> list[str]:
    """The corpus names in :func:`prepare_data`'s order: the run's own corpora, then the added ones by number."""
    own = [name for name, info in corpora.items() if not info.get("added")]
    return own + sorted((name for name in corpora if corpora[name].get("added")), key=lambda n: corpora[n]["added"])


def _consecutive(sizes: dict[str, int]) -> dict[str, tuple[int, int]]:
    """(first, end) of each part when parts of these sizes follow one another in this order."""
    ranges: dict[str, tuple[int, int]] = {}
    at = 0
    for name, size in sizes.items():
        ranges[name] = (at, at + size)
        at += size
    return ranges


def example_ranges(corpora: dict[str, Any], bidirectional: bool) -> dict[str, tuple[int, int]]:
    """(first, end) example of each corpus, in :func:`prepare_data`'s order (the run's own corpora, then the
    added ones by number); both directions counted."""
    per_pair = 2 if bidirectional else 1
    return _consecutive({name: corpora[name]["pairs_used"] * per_pair for name in _in_run_order(corpora)})


def added_boundaries(corpora: dict[str, Any], bidirectional: bool) -> list[int]:
    """How many training examples the run's own corpora and each prefix of its added corpora make:
    ``[own, own + first added, …]`` (examples in :func:`prepare_data`'s order, both directions counted)."""
    ranges = example_ranges(corpora, bidirectional)
    own = max((end for name, (_, end) in ranges.items() if not corpora[name].get("added")), default=0)
    return [own] + [end for name, (_, end) in ranges.items() if corpora[name].get("added")]


# The largest corpus weight accepted (--weight CORPUS=W): a corpus repeated more often than this is a mistake.
MAX_CORPUS_WEIGHT = 1000


def check_corpus_weights(weights: dict[str, float], corpora: dict[str, Any]) -> None:
    """Raises InvalidRequest unless ``weights`` name corpora of the run with weights of 0 or more, not all 0."""
    unknown = sorted(set(weights) - set(corpora))
    if unknown:
        raise InvalidRequest(
            f"--weight names {', '.join(unknown)}, not a corpus of this run; its corpora are {', '.join(corpora)}"
        )
    bad = {name: w for name, w in weights.items() if not (isinstance(w, (int, float)) and 0 <= w < MAX_CORPUS_WEIGHT)}
    if bad:
        raise InvalidRequest(
            f"corpus weights must be numbers from 0 to {MAX_CORPUS_WEIGHT} (0.5: half a corpus an epoch), got {bad}"
        )
    if all(weights.get(name, 1.0) == 0 for name in corpora):
        raise InvalidRequest("corpus weights of 0 for every corpus leave nothing to train on")


def corpus_rows(config: TrainingConfig, recipe: Recipe, prepared: PreparedData) -> dict[str, tuple[int, int]]:
    """(first, end) row of each corpus in the prepared token data.

    Rows are examples less those the recipe dropped as too long, so the ranges are counted by encoding each
    corpus's examples once (in chunks) and kept in the prepared data's description (``rows`` of each corpus).

    Raises:
        InvalidRequest: the counted rows do not add up to the prepared data's (the corpora changed on disk).
    """
    corpora = prepared.corpora
    counted = not all("rows" in info for info in corpora.values())
    if counted:
        log.info("counting each corpus's rows in the prepared data (once)")
        train_pairs, _, described = prepare_data(config)
        examples = directions(train_pairs, config.bidirectional)
        for name, (start, end) in example_ranges(described, config.bidirectional).items():
            dropped = 0
            for chunk in range(start, end, 20_000):
                dropped += recipe.encode(examples[chunk : min(chunk + 20_000, end)]).get("dropped_too_long", 0)
            corpora[name]["rows"] = end - start - dropped
    total = len(recipe.lengths(prepared.tokens, 2))
    if sum(info["rows"] for info in corpora.values()) != total:
        raise InvalidRequest(
            f"the corpora now make {sum(info['rows'] for info in corpora.values())} training rows, but the prepared "
            f"data in {config.work_dir} has {total}: a corpus changed since it was prepared; delete "
            f"{config.work_dir / DATA_FILE} to prepare it again"
        )
    if counted:
        save_prepared(config.work_dir, corpora, prepared.dev_pairs, prepared.directions)
    return _consecutive({name: corpora[name]["rows"] for name in _in_run_order(corpora)})


def epoch_rows(
    ranges: dict[str, tuple[int, int]], weights: dict[str, float], seed: int, epoch: int, limit: int | None = None
) -> list[int] | None:
    """The rows an epoch draws its batches from, when corpora are weighted: each corpus's rows ``weight`` times
    (the whole part by repeating them, the fraction as a sample drawn anew each epoch from the seed, the epoch and
    the corpus name). None (all rows once) without weights. ``limit``: only rows below it (a session that trained
    on fewer added corpora)."""
    if not weights:
        return None
    rows: list[int] = []
    for name, (start, end) in ranges.items():
        end = end if limit is None else min(end, limit)
        if end <= start:
            continue
        weight = float(weights.get(name, 1.0))
        whole, fraction = int(weight), weight - int(weight)
        for _ in range(whole):
            rows.extend(range(start, end))
        if fraction:
            rng = random.Random(f"{seed}:{epoch}:{name}")
            rows.extend(sorted(rng.sample(range(start, end), round(fraction * (end - start)))))
    return rows


def directions(pairs: Sequence[ParallelPair], bidirectional: bool) -> list[ParallelPair]:
    """The examples to learn from: each pair, and its reverse when training both directions."""
    if not bidirectional:
        return list(pairs)
    return [p for pair in pairs for p in (pair, pair.reversed())]


def sample_dev(dev_pairs: Sequence[ParallelPair], config: TrainingConfig) -> list[ParallelPair]:
    """At most ``config.dev_sentences`` dev examples per direction, the same ones in every run."""
    dev_examples = directions(dev_pairs, config.bidirectional)
    dev_rng = random.Random(config.seed)
    dev_by_dir: dict[str, list[ParallelPair]] = {}
    for pair in dev_examples:
        dev_by_dir.setdefault(f"{pair.source_lang}-{pair.target_lang}", []).append(pair)
    return [p for pairs in dev_by_dir.values() for p in dev_rng.sample(pairs, min(len(pairs), config.dev_sentences))]


def batches(
    lengths: Sequence[int], batch_tokens: int, rng: random.Random, rows: Sequence[int] | None = None
) -> list[list[int]]:
    """Example indices grouped by length so that each batch pads to at most ``batch_tokens``, in random order.

    ``rows``: the epoch's rows (:func:`epoch_rows`; a row listed twice is drawn twice); all rows by default."""
    order = sorted(range(len(lengths)) if rows is None else rows, key=lambda i: (lengths[i], rng.random()))
    result = cut_batches(order, lengths, batch_tokens)
    rng.shuffle(result)
    return result


def cut_batches(order: Sequence[int], lengths: Sequence[int], batch_tokens: int) -> list[list[int]]:
    """The examples of ``order``, consecutive ones together, in batches that pad to at most ``batch_tokens``."""
    result: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for i in order:
        longest_next = max(longest, lengths[i])
        if current and longest_next * (len(current) + 1) > batch_tokens:
            result.append(current)
            current, longest_next = [], lengths[i]
        current.append(i)
        longest = longest_next
    if current:
        result.append(current)
    return result


def prepare(config: TrainingConfig, recipe: Recipe) -> PreparedData:
    """The run's data: read from the work directory when it holds it (``--prepare-only`` wrote it), else built
    from the corpora and stored there. Also loads or trains the recipe's vocabulary.

    Prepared data without some of ``config.added_train`` (a resumed run that adds corpora) is extended with
    them: their examples are tokenised and appended, the examples before them stay as they were."""
    work = config.work_dir
    prepared = load_prepared(work)
    if prepared is not None:
        corpora, dev_pairs, pairs = prepared
        recipe.vocabulary(work, [], sorted({lang for pair in pairs for lang in pair}))
        tokens = load_token_data(work / DATA_FILE)
        added = [
            info["spec"] for info in sorted(corpora.values(), key=lambda i: i.get("added", 0)) if info.get("added")
        ]
        if added == config.added_train[: len(added)]:
            if len(added) < len(config.added_train):
                tokens, corpora = _extend(config, recipe, tokens, corpora, len(added))
                save_token_data(work / DATA_FILE, tokens)
                save_prepared(work, corpora, dev_pairs, pairs)
                tokens = load_token_data(work / DATA_FILE)  # compact again
            return PreparedData(tokens, corpora, dev_pairs, pairs)
        log.info("the prepared data holds other added corpora (%s); preparing it again", ", ".join(added))
    train_pairs, dev_pairs, corpora = prepare_data(config)
    examples = directions(train_pairs, config.bidirectional)
    pairs = sorted({(p.source_lang, p.target_lang) for p in examples})
    recipe.vocabulary(work, train_pairs, sorted({lang for pair in pairs for lang in pair}))
    legacy = work / "data.pt"  # work directories of earlier versions
    if legacy.exists():
        tokens = require_torch().load(legacy, weights_only=False)
    else:
        log.info("tokenising %d examples", len(examples))
        tokens = recipe.encode(examples)
    save_token_data(work / DATA_FILE, tokens)
    save_prepared(work, corpora, dev_pairs, pairs)
    if legacy.exists():
        legacy.unlink()
    # Read back: rows in flat arrays take a few bytes a token, the encoder's lists of ints tens.
    return PreparedData(load_token_data(work / DATA_FILE), corpora, dev_pairs, pairs)


def _extend(
    config: TrainingConfig, recipe: Recipe, tokens: dict[str, Any], corpora: dict[str, Any], have: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Append the examples of the added corpora after the first ``have`` to prepared token data (only those
    corpora are read: the ones before them keep their examples)."""
    described = dict(corpora)
    new_pairs: list[ParallelPair] = []
    for number, spec in enumerate(config.added_train[have:], have + 1):
        pairs, description = _added_corpus(spec, number, config, described)
        new_pairs.extend(pairs)
        described[pairs[0].corpus] = description
    examples = directions(new_pairs, config.bidirectional)
    log.info("tokenising %d examples of %d added corpora", len(examples), len(config.added_train) - have)
    more = recipe.encode(examples)
    merged = {
        key: value + more.get(key, 0) if isinstance(value, int) else [*value, *more[key]]
        for key, value in tokens.items()
    }
    return merged, described
