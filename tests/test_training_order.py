"""Replaying a run's data order: the steps the reference index records for a pair are exactly the steps whose
batches held it, across resumed sessions with other batch sizes; and where they cannot be known, it says why."""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mt._manifest import Manifest
from mt.training.data import batches
from mt.training.order import (
    Session,
    StepsUnknown,
    config_from_json,
    order_of_directory,
    replay_steps,
    session_chain,
    training_order,
)
from tiny_models import recording_steps, steps_of_pairs, tiny_training_config


@dataclass
class TrainedRun:
    tmp: Path
    batches: list[list[tuple[tuple[int, ...], tuple[int, ...]]]]  # the examples of each step, as the loop saw them
    loss_calls: int  # batches forwarded: more than the steps where a step accumulates several


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrainedRun]:
    """A tiny run in two sessions: 26 steps with batches of 600 tokens (20 a epoch: into the second epoch), then
    resumed with batches of 1000 tokens (13 a epoch), 2 a step, up to step 40 (more epochs, each ending on a step
    of one batch); the loss records the examples of each batch, the optimizer step closes the step's list."""
    pytest.importorskip("torch")
    from mt.training.loop import train

    tmp = tmp_path_factory.mktemp("order")
    with recording_steps() as recorder:
        train(tiny_training_config(tmp, 26, batch_tokens=600), export=False)
        train(tiny_training_config(tmp, 40, batch_tokens=1000, accumulate=2))
    yield TrainedRun(tmp, recorder.steps, recorder.loss_calls)


def _expected_steps(run: TrainedRun) -> dict[str, list[int]]:
    """pair id → the steps whose recorded batches held the pair (either direction), from the tokens themselves."""
    found = steps_of_pairs(tiny_training_config(run.tmp, 40), run.batches)
    return {pair_id: steps for (_, pair_id), steps in found.items()}


@pytest.mark.integration
@pytest.mark.slow
def test_the_loop_ran_both_sessions_with_their_batch_sizes(trained: TrainedRun) -> None:
    history = json.loads((trained.tmp / "work" / "history.json").read_text(encoding="utf-8"))
    assert [(r["from_step"], r["to_step"], r["batch_tokens"], r["accumulate"]) for r in history["runs"]] == [
        (0, 26, 600, 1),
        (26, 40, 1000, 2),
    ]
    assert len(trained.batches) == 40 and history["epoch"] == 3
    # Steps 27-40: batches 6-12 of epoch 1 in 4 steps (the last alone), all 13 of epoch 2 in 7, 6 of epoch 3 in 3.
    assert trained.loss_calls == 26 + 7 + 13 + 6 and history["batch"] == 6
    # Each session records its seed and where in the data order it began, which the replay checks.
    first, second = history["runs"]
    assert (first["seed"], first["from_epoch"], first["from_batch"]) == (1, 0, 0)
    assert second["from_epoch"] == 1 and second["from_batch"] > 0


@pytest.mark.integration
@pytest.mark.slow
def test_index_records_exactly_the_steps_whose_batches_held_each_pair(trained: TrainedRun) -> None:
    pytest.importorskip("bm25s")
    from mt._references import ReferenceIndex, build_index

    model = trained.tmp / "work-model"
    manifest = Manifest.load(model)
    path = build_index(model, manifest, trained.tmp, output=trained.tmp / "index", progress=False)
    index = ReferenceIndex.load(path, manifest)
    assert index.meta["steps"]["known"] and index.meta["steps"]["last_step"] == 40
    assert index.meta["steps"]["sessions"] == [
        "steps 1-26 with batches of 600 tokens",
        "steps 27-40 with batches of 1000 tokens, 2 batches a step",
    ]
    expected = _expected_steps(trained)
    checked = 0
    for position in range(len(index)):
        ref = index.record(position, "ja")
        if not ref.in_training:
            assert ref.steps == "none: the pair is not in the model's training sample" and ref.times_seen == 0
            continue
        assert list(ref.steps) == expected[ref.id], ref.id
        assert ref.times_seen == len(expected[ref.id]) > 0
        checked += 1
    assert checked == len(expected) and sum(map(len, expected.values())) == sum(len(b) for b in trained.batches)
    assert index.record(0, "ja").to_json()["times_seen"] is not None

    # Damaged step files are refused with the way to rebuild, never read as "seen 0 times".
    import numpy as np

    from mt._errors import InvalidReferenceIndex

    for damage, message in (
        (lambda d: (d / "steps.npy").write_bytes(b"garbage"), "missing or damaged"),
        (lambda d: np.save(d / "steps.npy", np.zeros(3, dtype=np.uint32)), "do not match"),
    ):
        copy = trained.tmp / "damaged"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(path, copy)
        damage(copy)
        with pytest.raises(InvalidReferenceIndex, match=f"{message}.*kakehashi index build --model tiny-trained"):
            ReferenceIndex.load(copy, manifest)


@pytest.mark.integration
@pytest.mark.slow
def test_the_index_cites_no_step_after_the_last_that_shaped_the_weights(trained: TrainedRun) -> None:
    """Weights chosen from an earlier snapshot (the best-scoring one at step 30 of 40) were not shaped by steps
    31-40: the index replays the order only up to the weights' step, and says so."""
    pytest.importorskip("bm25s")
    from mt._references import ReferenceIndex, build_index

    summary = Manifest.load(trained.tmp / "work-model").training["summary"]
    # Without dev evaluations the only candidate is the last weights, shaped by every step.
    assert (summary["chosen_weights"], summary["weights_step"], summary["steps"]) == ("last", 40, 40)

    model = trained.tmp / "best-model"
    shutil.rmtree(model, ignore_errors=True)
    shutil.copytree(trained.tmp / "work-model", model, ignore=shutil.ignore_patterns("index"))
    manifest = Manifest.load(model)
    manifest.training["summary"] = {**summary, "chosen_weights": "best", "weights_step": 30}
    manifest.save(model)
    index = ReferenceIndex.load(
        build_index(model, manifest, trained.tmp, output=model / "index", progress=False), manifest
    )
    steps = index.meta["steps"]
    assert (steps["last_step"], steps["run_steps"]) == (30, 40)
    assert "best-scoring snapshot, from step 30, so the run's later steps 31-40 did not shape them" in steps["note"]
    expected = {pair: [s for s in found if s <= 30] for pair, found in _expected_steps(trained).items()}
    cited = 0
    for position in range(len(index)):
        ref = index.record(position, "ja")
        if ref.in_training and expected[ref.id]:
            assert list(ref.steps) == expected[ref.id], ref.id
            cited += 1
        elif ref.in_training:  # seen only after step 30
            assert ref.times_seen == 0 and "no batch up to step 30" in str(ref.steps)
    assert cited and any(max(found) > 30 for found in _expected_steps(trained).values() if found)


@pytest.mark.integration
@pytest.mark.slow
def test_the_work_directory_replays_the_same_order(trained: TrainedRun) -> None:
    order = order_of_directory(trained.tmp / "work")
    assert order.last_step == 40
    assert order.steps_by_pair() == {("tatoeba_sample", k): v for k, v in _expected_steps(trained).items() if v}


def test_steps_that_cannot_be_known_say_why() -> None:
    with pytest.raises(StepsUnknown, match="records no chain of training sessions"):
        session_chain([], 10)
    runs = [{"from_step": 0, "to_step": 5, "batch_tokens": 600}, {"from_step": 7, "to_step": 9, "batch_tokens": 600}]
    with pytest.raises(StepsUnknown, match="starts at step 7, but the sessions before it end at step 5"):
        session_chain(runs, 9)
    with pytest.raises(StepsUnknown, match="end at step 5, not at the run's step 8"):
        session_chain(runs[:1], 8)
    with pytest.raises(StepsUnknown, match="does not record its batch_tokens"):
        session_chain([{"from_step": 0, "to_step": 5}], 5)
    with pytest.raises(StepsUnknown, match="session 1 records 0 batches per step"):
        session_chain([{"from_step": 0, "to_step": 5, "batch_tokens": 600, "accumulate": 0}], 5)
    # Records written before the loop could accumulate mean one batch a step.
    chain = session_chain([runs[0], {"from_step": 5, "to_step": 9, "batch_tokens": 600, "accumulate": 4}], 9)
    assert [s.accumulate for s in chain] == [1, 4]
    with pytest.raises(StepsUnknown, match="name no training corpora"):
        config_from_json({"train": []})
    decoder = config_from_json({"train": ["tsv:x.tsv"], "arch": "decoder"})
    with pytest.raises(StepsUnknown, match="language-modelling stage"):
        training_order(decoder, [{"from_step": 0, "to_step": 1, "batch_tokens": 9}], 1, Path("."))
    assert session_chain([], 0) == []
    sample = f"tsv:{Path(__file__).parent / 'data' / 'tatoeba_sample.tsv'}"
    unreachable = config_from_json(
        {"train": [sample], "arch": "decoder", "init_from": str(Path(__file__).parent / "none")}
    )
    with pytest.raises(StepsUnknown, match="vocabulary could not be loaded"):
        training_order(unreachable, [{"from_step": 0, "to_step": 1, "batch_tokens": 9}], 1, Path("."))


def test_a_resumed_session_continues_at_the_same_position_in_an_order_cut_anew() -> None:
    lengths = [3, 5, 4, 6, 2, 7, 5, 4]
    short = batches(lengths, 10, random.Random(1000))
    assert len(short) > 3
    steps = list(replay_steps(lengths, [Session(0, 3, 10), Session(3, 6, 40)], seed=1, last_step=6))
    assert steps[:3] == short[:3]
    # Cut with 40 tokens, epoch 0 has fewer than 4 batches: position 3 is past its end, so epoch 1 begins.
    long0, long1 = batches(lengths, 40, random.Random(1000)), batches(lengths, 40, random.Random(1001))
    assert len(long0) <= 3 and steps[3:] == (long1 + batches(lengths, 40, random.Random(1002)))[:3]
    assert list(replay_steps(lengths, [Session(0, 6, 40)], seed=1, last_step=2)) == long0[:2]
    # A session's recorded seed wins over the run's; a recorded start the replay does not reach is refused.
    assert (
        list(replay_steps(lengths, [Session(0, 2, 40, seed=5)], seed=1, last_step=2))
        == (batches(lengths, 40, random.Random(5000)) + batches(lengths, 40, random.Random(5001)))[:2]
    )
    wrong = [Session(0, 3, 10, from_epoch=0, from_batch=0), Session(3, 6, 10, from_epoch=0, from_batch=1)]
    with pytest.raises(StepsUnknown, match="session 2 began at epoch 0, batch 1 .* reaches epoch 0, batch 3"):
        list(replay_steps(lengths, wrong, seed=1, last_step=6))


def test_an_accumulating_session_gives_each_step_its_batches_up_to_the_epoch_end() -> None:
    lengths = [3, 5, 4, 6, 2, 7, 5, 4, 3, 6, 5]
    epoch0, epoch1 = batches(lengths, 10, random.Random(1000)), batches(lengths, 10, random.Random(1001))
    n = len(epoch0)
    assert n >= 5
    # One batch a step, then n - 1 a step: the rest of epoch 0 makes one step; in epoch 1 the last batch is left
    # to make a step alone (a step never spans two epochs).
    chain = [Session(0, 1, 10), Session(1, 4, 10, accumulate=n - 1, from_epoch=0, from_batch=1)]
    steps = list(replay_steps(lengths, chain, seed=1, last_step=4))
    assert steps[0] == epoch0[0]
    assert steps[1] == [row for batch in epoch0[1:n] for row in batch]
    assert steps[2] == [row for batch in epoch1[: n - 1] for row in batch]
    assert steps[3] == [row for batch in epoch1[n - 1 :] for row in batch]
    # The chain's record of where the next session begins counts batches, not steps.
    after = [*chain, Session(4, 5, 10, from_epoch=2, from_batch=0)]
    assert list(replay_steps(lengths, after, seed=1, last_step=5))[4] == batches(lengths, 10, random.Random(1002))[0]


@pytest.mark.parametrize(
    ("history", "steps_key"),
    [
        ("data/models/kakehashi-ja-en/kakehashi.json", "steps"),
        ("data/checkpoints/kakehashi-ja-en/history.json", "step"),
    ],
)
def test_the_shipped_runs_record_a_replayable_chain(history: str, steps_key: str) -> None:
    """The default model and the relay checkpoint (GPU sessions, then CPU sessions with other batch sizes) record
    every session's steps and batch size, so their data order can be replayed."""
    data = json.loads((Path(__file__).parents[1] / history).read_text(encoding="utf-8"))
    run = data["training"]["summary"] if "training" in data else data
    chain = session_chain(run["runs"], run[steps_key])
    assert chain[0].from_step == 0 and chain[-1].to_step == run[steps_key]
    assert all(s.batch_tokens > 0 for s in chain)
