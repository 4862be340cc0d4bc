"""Corpus weights (``kakehashi train --weight CORPUS=W``): how many of a corpus's examples each translation epoch
draws (half of Wiki Kyoto's long sentences, say, or Tatoeba's short ones twice), set for a resumed session
without moving the data; the run records them so that the data order, and the steps source references cite,
still replay exactly."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from mt._errors import InvalidRequest
from mt.training.config import TrainingConfig
from mt.training.data import batches, check_corpus_weights, epoch_rows
from tiny_models import DATA, recording_steps, steps_of_pairs, tiny_training_config

RANGES = {"tatoeba": (0, 10), "wikikyoto": (10, 30), "titles": (30, 34)}


def test_without_weights_an_epoch_takes_every_row_once_in_the_order_it_always_had() -> None:
    assert epoch_rows(RANGES, {}, seed=1, epoch=0) is None
    lengths = [random.Random(n).randint(1, 30) for n in range(34)]
    assert batches(lengths, 60, random.Random(7)) == batches(lengths, 60, random.Random(7), list(range(34)))


def test_weights_repeat_whole_corpora_and_draw_fractions_anew_each_epoch() -> None:
    weights = {"wikikyoto": 0.5, "titles": 2}
    rows = epoch_rows(RANGES, weights, seed=1, epoch=0)
    assert rows is not None
    counts = Counter(rows)
    assert [counts[r] for r in range(10)] == [1] * 10, "unweighted corpora: every row once"
    assert sorted(r for r in counts if 10 <= r < 30) == sorted(set(rows) & set(range(10, 30)))
    assert sum(1 for r in rows if 10 <= r < 30) == 10, "half of Wiki Kyoto's 20 rows, each once"
    assert [counts[r] for r in range(30, 34)] == [2] * 4
    assert rows == epoch_rows(RANGES, weights, seed=1, epoch=0), "the same seed and epoch draw the same rows"
    drawn = {tuple(r for r in epoch_rows(RANGES, weights, 1, epoch) or [] if 10 <= r < 30) for epoch in range(6)}
    assert len(drawn) > 1, "each epoch draws its half anew"
    assert epoch_rows(RANGES, {"wikikyoto": 1.5}, 1, 0).count(10) in (1, 2)  # type: ignore[union-attr]
    assert not set(epoch_rows(RANGES, {"tatoeba": 0}, 1, 0) or []) & set(range(10))
    # A session that trained on fewer added corpora drew from the rows it had.
    assert max(epoch_rows(RANGES, {"titles": 2}, 1, 0, limit=30) or []) == 29


def test_weights_must_name_corpora_of_the_run_and_leave_something_to_train_on() -> None:
    corpora: dict[str, Any] = {"tatoeba": {}, "wikikyoto": {}}
    check_corpus_weights({"wikikyoto": 0.25}, corpora)
    with pytest.raises(
        InvalidRequest, match="names wikipedia, not a corpus of this run; its corpora are tatoeba, wikikyoto"
    ):
        check_corpus_weights({"wikipedia": 0.5}, corpora)
    with pytest.raises(InvalidRequest, match="from 0 to 1000"):
        check_corpus_weights({"wikikyoto": -1}, corpora)
    with pytest.raises(InvalidRequest, match="leave nothing to train on"):
        check_corpus_weights({"wikikyoto": 0, "tatoeba": 0}, corpora)


def test_the_weight_flag_is_kept_in_the_checkpoint_and_a_later_flag_changes_one_corpus(tmp_path: Path) -> None:
    from mt.cli import build_parser
    from mt.cli import main as cli_main
    from mt.training.cli import build_config

    checkpoint = tmp_path / "checkpoint"
    checkpoint.mkdir()
    stored = {"train": ["tsv:own.tsv"], "corpus_weights": {"wikikyoto": 0.5}, "d_model": 32}
    (checkpoint / "config.json").write_text(json.dumps(stored), encoding="utf-8")
    (checkpoint / "state.pt").write_bytes(b"")

    def config(*flags: str) -> TrainingConfig:
        args = build_parser().parse_args(
            ["train", "--resume", str(checkpoint), "--work-dir", str(tmp_path / "w"), *flags]
        )
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("mt.training.relay.unpack_checkpoint", lambda *_: False)
            return build_config(args)

    assert config().corpus_weights == {"wikikyoto": 0.5}
    assert config("--weight", "tatoeba=2").corpus_weights == {"wikikyoto": 0.5, "tatoeba": 2.0}
    assert config("--weight", "wikikyoto=1").corpus_weights == {"wikikyoto": 1.0}
    with pytest.raises(InvalidRequest, match=r"--weight takes CORPUS=W .* got 'wikikyoto=half'"):
        config("--weight", "wikikyoto=half")
    assert cli_main(["train", "--resume", str(checkpoint), "--weight", "=2"]) != 0


BASE_ROWS = 150  # of the bundled sample's 300 pairs: the first corpus ("base"); the rest is the second ("extra")


def _config(tmp: Path, max_steps: int, **changes: Any) -> TrainingConfig:
    header, *rows = DATA.read_text(encoding="utf-8").splitlines()
    base, extra = tmp / "base.train.tsv", tmp / "extra.train.tsv"
    base.write_text("\n".join([header, *rows[:BASE_ROWS]]) + "\n", encoding="utf-8")
    extra.write_text("\n".join([header, *rows[BASE_ROWS:]]) + "\n", encoding="utf-8")
    # max_tokens 14 drops the longest examples, so that rows and examples differ, as on the relay's data.
    return tiny_training_config(
        tmp,
        max_steps,
        train=[f"tsv:{base}", f"tsv:{extra}"],
        dev_holdout=10,
        batch_tokens=200,
        max_tokens=14,
        **changes,
    )


@dataclass
class WeightedRun:
    tmp: Path
    steps: list[list[tuple[tuple[int, ...], tuple[int, ...]]]]  # each step's examples, as the loop saw them


@pytest.fixture(scope="module")
def weighted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WeightedRun]:
    """10 steps unweighted, then 30 more with half of "base" and "extra" twice (through several epochs)."""
    pytest.importorskip("torch")
    from mt.training.loop import train

    tmp = tmp_path_factory.mktemp("weighted")
    with recording_steps() as recorder:
        train(_config(tmp, 10), export=False)
        train(_config(tmp, 40, corpus_weights={"base": 0.5, "extra": 2.0}))
    yield WeightedRun(tmp, recorder.steps)


@pytest.mark.integration
@pytest.mark.slow
def test_a_weighted_session_draws_its_corpora_by_weight_and_replays_exactly(weighted: WeightedRun) -> None:
    from mt.training.order import order_of_directory

    work = weighted.tmp / "work"
    history = json.loads((work / "history.json").read_text(encoding="utf-8"))
    assert [(r["from_step"], r["to_step"], r.get("corpus_weights")) for r in history["runs"]] == [
        (0, 10, None),
        (10, 40, {"base": 0.5, "extra": 2.0}),
    ]
    corpora = json.loads((work / "prepared.json").read_text(encoding="utf-8"))["corpora"]
    dropped = sum(2 * info["pairs_used"] - info["rows"] for info in corpora.values())
    assert dropped > 0, "the test's length limit drops examples, so corpus rows are counted, not assumed"

    found = steps_of_pairs(_config(weighted.tmp, 40), weighted.steps)
    after = Counter(corpus for (corpus, _), steps in found.items() for step in steps if step > 10)
    # Per epoch "extra" gives twice its rows and "base" half of its own: about four to one (the first epoch of the
    # session began part-way through an order cut anew, so the counts are not exact).
    expected = 2 * corpora["extra"]["rows"] / (0.5 * corpora["base"]["rows"])
    assert abs(after["extra"] / after["base"] - expected) < 0.25 * expected
    order = order_of_directory(work)
    assert order.steps_by_pair() == {key: steps for key, steps in found.items() if steps}
    assert "corpora weighted base 0.5, extra 2" in order.sessions[-1].describe()


def test_a_weight_for_a_corpus_the_run_lacks_is_refused_before_training(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from mt.training.loop import train

    with pytest.raises(InvalidRequest, match="names wikikyoto, not a corpus of this run; its corpora are base, extra"):
        train(replace(_config(tmp_path, 2), corpus_weights={"wikikyoto": 0.5}), export=False)
    assert not (tmp_path / "work" / "state.pt").exists()
