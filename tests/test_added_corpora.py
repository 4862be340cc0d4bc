"""Corpora added to a running relay (``kakehashi train --resume DIR --add-train SPEC``): the data grows without
moving what was there, the dev set stays the run's, the replay of the data order and the reference index know
from which step each added pair was trained on, and a resume that drops or reorders added corpora is refused."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from mt._errors import InvalidRequest
from mt.training.config import TrainingConfig
from mt.training.data import added_boundaries, directions, prepare, prepare_data
from tiny_models import DATA, recording_steps, steps_of_pairs, tiny_training_config

pytest.importorskip("torch")

BASE_ROWS = 200  # of the bundled sample's 300 pairs: the run's own corpus; the rest is added later


def _write_corpora(folder: Path) -> tuple[str, str]:
    """The run's own corpus and a corpus of short pairs to add, both cut from the bundled Tatoeba sample."""
    header, *rows = DATA.read_text(encoding="utf-8").splitlines()
    base, extra = folder / "base.train.tsv", folder / "extra.train.tsv"
    base.write_text("\n".join([header, *rows[:BASE_ROWS]]) + "\n", encoding="utf-8")
    extra.write_text("\n".join([header, *rows[BASE_ROWS:]]) + "\n", encoding="utf-8")
    return f"tsv:{base}", f"tsv:{extra}"


def _config(tmp: Path, max_steps: int, added: bool, **changes: Any) -> TrainingConfig:
    base, extra = _write_corpora(tmp)
    config = tiny_training_config(tmp, max_steps, train=[base], dev_holdout=10, batch_tokens=300, **changes)
    return replace(config, added_train=[extra] if added else [])


def test_added_corpora_follow_the_runs_own_without_dev_pairs_held_out(tmp_path: Path) -> None:
    own, _, own_corpora = prepare_data(_config(tmp_path, 1, added=False))
    train, dev, corpora = prepare_data(_config(tmp_path, 1, added=True))
    assert train[: len(own)] == own, "the run's own pairs keep their places"
    assert {p.corpus for p in train[len(own) :]} == {"extra"}
    assert corpora["extra"]["dev_held_out"] == 0 and corpora["extra"]["added"] == 1
    assert corpora["extra"]["pairs_used"] == len(train) - len(own) == 300 - BASE_ROWS
    assert {p.corpus for p in dev} == {"base"} and corpora["base"] == own_corpora["base"]
    assert added_boundaries(corpora, True) == [2 * len(own), 2 * len(train)]
    assert added_boundaries(corpora, False) == [len(own), len(train)]
    clash = replace(_config(tmp_path, 1, added=False), added_train=_config(tmp_path, 1, added=False).train)
    with pytest.raises(InvalidRequest, match="named 'base' like a corpus the run already trains on"):
        prepare_data(clash)


def test_prepared_data_grows_to_what_preparing_it_anew_gives(tmp_path: Path) -> None:
    from mt.training.recipes import make_recipe

    before = _config(tmp_path, 1, added=False)
    before.work_dir.mkdir()
    grown = prepare(before, make_recipe(before)).tokens
    after = replace(before, added_train=_config(tmp_path, 1, added=True).added_train)
    extended = prepare(after, make_recipe(after))
    fresh_dir = tmp_path / "fresh"
    fresh_dir.mkdir()
    shutil.copy(before.work_dir / "spm.model", fresh_dir / "spm.model")  # the run's vocabulary, as on resume
    fresh = prepare(replace(after, work_dir=fresh_dir), make_recipe(after))
    assert extended.tokens == fresh.tokens
    assert extended.tokens["sources"][: len(grown["sources"])] == grown["sources"]
    assert len(extended.tokens["sources"]) == len(directions(prepare_data(after)[0], True))
    assert extended.corpora == fresh.corpora and extended.dev_pairs == fresh.dev_pairs
    # Read back from the work directory, it is the grown data, not the first one.
    assert prepare(after, make_recipe(after)).tokens == fresh.tokens


@dataclass
class GrownRun:
    tmp: Path
    steps: list[list[tuple[tuple[int, ...], tuple[int, ...]]]]  # each step's examples, as the loop saw them


@pytest.fixture(scope="module")
def grown(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GrownRun]:
    """12 steps on the run's own corpus, then 14 more with the extra corpus added (through the second epoch)."""
    from mt.training.loop import train

    tmp = tmp_path_factory.mktemp("grown")
    with recording_steps() as recorder:
        train(_config(tmp, 12, added=False), export=False)
        train(_config(tmp, 26, added=True))
    yield GrownRun(tmp, recorder.steps)


def _steps_by_pair(run: GrownRun) -> dict[tuple[str, str], list[int]]:
    """(corpus, pair id) → the steps whose recorded batches held the pair; pairs never seen left out."""
    return {key: steps for key, steps in steps_of_pairs(_config(run.tmp, 26, added=True), run.steps).items() if steps}


@pytest.mark.integration
@pytest.mark.slow
def test_the_replay_knows_from_which_step_the_added_pairs_were_trained_on(grown: GrownRun) -> None:
    from mt.training.order import order_of_directory

    history = json.loads((grown.tmp / "work" / "history.json").read_text(encoding="utf-8"))
    assert [(r["from_step"], r["to_step"], r.get("added_corpora", 0)) for r in history["runs"]] == [
        (0, 12, 0),
        (12, 26, 1),
    ]
    expected = _steps_by_pair(grown)
    assert min(min(s) for (corpus, _), s in expected.items() if corpus == "extra") > 12
    assert order_of_directory(grown.tmp / "work").steps_by_pair() == expected
    settings = json.loads((grown.tmp / "work" / "config.json").read_text(encoding="utf-8"))
    assert settings["added_train"] == [f"tsv:{grown.tmp / 'extra.train.tsv'}"]


@pytest.mark.integration
@pytest.mark.slow
def test_the_reference_index_marks_added_pairs_with_their_steps(grown: GrownRun) -> None:
    pytest.importorskip("bm25s")
    from mt._manifest import Manifest
    from mt._references import ReferenceIndex, build_index

    model = grown.tmp / "work-model"
    manifest = Manifest.load(model)
    assert manifest.corpora["extra"]["added"] == 1
    # As a shipped manifest names them: relative to the data folder (here the run's folder), added ones too.
    config = manifest.training["config"]
    for key in ("train", "added_train"):
        config[key] = [spec.replace(f"{grown.tmp}/", "") for spec in config[key]]
    for info in manifest.corpora.values():
        info["spec"] = info["spec"].replace(f"{grown.tmp}/", "")
    assert config["added_train"] == ["tsv:extra.train.tsv"]
    index = ReferenceIndex.load(
        build_index(model, manifest, grown.tmp, output=grown.tmp / "index", progress=False), manifest
    )
    assert index.meta["steps"]["sessions"][-1] == "steps 13-26 with batches of 300 tokens, 1 added corpora"
    extra = next(c for c in index.meta["corpora"] if c["name"] == "extra")
    assert extra["in_training"] == 300 - BASE_ROWS and extra["in_training_matches_manifest"]
    assert "no dev hold-out" in extra["in_training_rule"]
    expected = _steps_by_pair(grown)
    checked = 0
    for position in range(len(index)):
        ref = index.record(position, "ja")
        if ref.corpus == "extra":
            seen = expected.get((ref.corpus, ref.id), [])
            assert ref.in_training and ref.times_seen == len(seen)
            if seen:
                assert list(ref.steps) == seen
                checked += 1
    assert checked == len([key for key in expected if key[0] == "extra"]) > 0


def test_a_resume_keeps_the_added_corpora_in_order(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from mt.cli import main
    from mt.training.loop import check_same_model

    config = _config(tmp_path, 1, added=True)
    config.work_dir.mkdir()
    (config.work_dir / "config.json").write_text(json.dumps(config.to_json()))
    check_same_model(replace(config, added_train=[*config.added_train, "tsv:more.tsv"]))  # adding more is fine
    with pytest.raises(InvalidRequest, match="has added the corpora .* keeps them, in that order"):
        check_same_model(replace(config, added_train=[]))
    assert main(["train", "--train", config.train[0], "--add-train", config.added_train[0]]) != 0
    assert "--add-train adds corpora to a run continued with --resume" in capsys.readouterr().err


def test_resume_adds_to_the_corpora_the_checkpoint_already_adds(tmp_path: Path) -> None:
    from mt.cli import build_parser
    from mt.training.cli import build_config

    checkpoint = tmp_path / "checkpoint"
    checkpoint.mkdir()
    stored = {"train": ["tsv:own.tsv"], "added_train": ["tsv:a.tsv"], "d_model": 32}
    (checkpoint / "config.json").write_text(json.dumps(stored))
    (checkpoint / "state.pt").write_bytes(b"")
    args = build_parser().parse_args(
        [
            "train",
            "--resume",
            str(checkpoint),
            "--add-train",
            "tsv:a.tsv",
            "--add-train",
            "tsv:b.tsv",
            "--work-dir",
            str(tmp_path / "w"),
        ]
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("mt.training.relay.unpack_checkpoint", lambda *_: False)
        config = build_config(args)
    assert config.added_train == ["tsv:a.tsv", "tsv:b.tsv"] and config.train == ["tsv:own.tsv"]
