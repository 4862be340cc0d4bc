"""The training relay: a run packed into a small checkpoint continues on another machine (a fresh work directory)
and gives the same model as a run that was never interrupted; the shipped checkpoint loads and trains on."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from mt import InvalidRequest
from mt.cli import main
from mt.training.config import TrainingConfig
from mt.training.loop import lr_factor, rewarm_steps, train
from mt.training.recipes import make_recipe
from mt.training.relay import checkpoint_config, pack_checkpoint, unfactor_second_moments, unpack_checkpoint
from mt.training.state import RunState
from mt.training.storage import TokenRows, load_token_data, row_lengths, save_token_data
from tiny_models import tiny_training_config

DATA = Path(__file__).parent / "data" / "tatoeba_sample.tsv"
SHIPPED_CHECKPOINT = Path(__file__).resolve().parent.parent / "data" / "checkpoints" / "kakehashi-ja-en"


def _config(tmp_path: Path, work: str, max_steps: int, accumulate: int = 1) -> TrainingConfig:
    return tiny_training_config(
        tmp_path,
        max_steps,
        work,
        name="tiny-relay",
        batch_tokens=400,
        accumulate=accumulate,
        warmup_steps=4,
        eval_minutes=0,
        log_every=1,
    )


def _weights(work: Path) -> dict[str, torch.Tensor]:
    return torch.load(work / "state.pt", map_location="cpu", weights_only=False)["model"]


def test_token_data_round_trips_compactly(tmp_path: Path) -> None:
    data = {"sources": [[5, 6, 0], [7, 0], []], "targets": [[70000, 1], [2], [3]], "dropped_too_long": 4}
    save_token_data(tmp_path / "data.npz", data)
    loaded = load_token_data(tmp_path / "data.npz")
    assert loaded == data
    # Rows stay in flat arrays and are read as lists when asked for.
    sources = loaded["sources"]
    assert isinstance(sources, TokenRows) and not isinstance(sources, list)
    assert (sources[0], sources[-1], sources[1:], len(sources)) == ([5, 6, 0], [], [[7, 0], []], 3)
    assert row_lengths(sources) == [3, 2, 0] == row_lengths(data["sources"])
    assert loaded["targets"][0] == [70000, 1] and loaded["dropped_too_long"] == 4
    with pytest.raises(IndexError):
        sources[3]
    assert sources != [[5, 6, 0]] and sources == [(5, 6, 0), (7, 0), ()]


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize("accumulate", [1, 3])
def test_a_packed_run_continues_elsewhere_as_if_never_interrupted(tmp_path: Path, accumulate: int) -> None:
    """Also with batches accumulated: the state is saved between optimizer steps, never inside one."""
    train(_config(tmp_path, "straight", 12, accumulate), export=False)

    train(_config(tmp_path, "first-half", 6, accumulate), export=False)
    checkpoint = tmp_path / "checkpoint"
    stored = pack_checkpoint(tmp_path / "first-half", checkpoint, weights_dtype="float32")
    assert stored["step"] == 6 and stored["optimizer_moments"]
    # Another machine: a fresh work directory, the data rebuilt from the corpus in the same order.
    second = _config(tmp_path, "second-half", 12, accumulate)
    assert unpack_checkpoint(checkpoint, second.work_dir, second.to_json())
    train(second, export=False)

    straight, resumed = _weights(tmp_path / "straight"), _weights(tmp_path / "second-half")
    assert straight.keys() == resumed.keys()
    for key in straight:
        torch.testing.assert_close(resumed[key], straight[key], rtol=1e-5, atol=1e-6, msg=key)
    runs = torch.load(tmp_path / "second-half" / "state.pt", weights_only=False)["run"]["runs"]
    assert [(r["from_step"], r["to_step"], r["accumulate"]) for r in runs] == [(0, 6, accumulate), (6, 12, accumulate)]


def test_rewarm_after_a_resume_without_moments_covers_the_same_batches_whatever_the_accumulation() -> None:
    assert rewarm_steps(1) == 200 and rewarm_steps(4) == 50 and rewarm_steps(3) == 67 and rewarm_steps(500) == 1
    warm = lr_factor(8400, 1000)
    assert lr_factor(8400, 1000, rewarm_from=8350, rewarm=rewarm_steps(4)) == pytest.approx(warm)
    assert lr_factor(8400, 1000, rewarm_from=8350, rewarm=rewarm_steps(1)) == pytest.approx(warm / 4)
    assert lr_factor(8351, 1000, rewarm_from=8350, rewarm=50) == pytest.approx(lr_factor(8351, 1000) / 50)


def test_a_cooldown_branch_falls_linearly_to_zero_at_its_last_step() -> None:
    def cooled(step: int) -> float:
        return lr_factor(step, 1000, cooldown_to=9000, cooldown=100) / lr_factor(step, 1000)

    assert cooled(8900) == 1.0 and cooled(8901) == 1.0  # the branch's first step still takes the schedule's rate
    assert cooled(8950) == pytest.approx(0.51) and cooled(9000) == pytest.approx(0.01)
    assert [cooled(s) for s in range(8901, 9001)] == sorted((cooled(s) for s in range(8901, 9001)), reverse=True)
    assert lr_factor(8950, 1000, cooldown_to=None, cooldown=100) == lr_factor(8950, 1000)


def test_a_cooldown_needs_the_step_it_ends_at(tmp_path: Path) -> None:
    config = TrainingConfig(output=tmp_path / "m", work_dir=tmp_path / "w", train=[f"tsv:{DATA}"], cooldown_steps=50)
    with pytest.raises(InvalidRequest, match="needs --max-steps .* e.g. --max-steps 9000 --cooldown-steps 150"):
        train(config)


@pytest.mark.integration
@pytest.mark.slow
def test_float16_checkpoint_without_moments_stays_close_and_rewarms(tmp_path: Path) -> None:
    train(_config(tmp_path, "straight", 8), export=False)
    train(_config(tmp_path, "first", 4), export=False)
    weights_only = tmp_path / "small-checkpoint"
    stored = pack_checkpoint(tmp_path / "first", weights_only, max_bytes=200_000)
    assert not stored["optimizer_moments"] and stored["bytes"] < 1_000_000
    packed = torch.load(weights_only / "state.pt", weights_only=False)
    assert "optimizer" not in packed and packed["aliases"], "tied embeddings are stored once"
    del packed["optimizer_factored"]  # a checkpoint of the versions before factored moments
    torch.save(packed, weights_only / "state.pt")
    assert all(v.dtype == torch.float16 for v in packed["model"].values() if v.is_floating_point() and v.dim())

    second = _config(tmp_path, "second", 8)
    unpack_checkpoint(weights_only, second.work_dir, second.to_json())
    train(second, export=False)
    state = torch.load(second.work_dir / "state.pt", weights_only=False)
    assert state["run"]["rewarm_from"] == 4 and state["run"]["step"] == 8
    straight = _weights(tmp_path / "straight")
    drift = max((state["model"][k] - straight[k]).abs().max().item() for k in straight)
    assert 0 < drift < 0.05, drift


@pytest.mark.integration
@pytest.mark.slow
def test_factored_second_moments_resume_closer_to_the_uninterrupted_run_than_a_rewarm(tmp_path: Path) -> None:
    """A checkpoint too small for the moments keeps Adam's second moments factored; resumed from them, with the
    first moments at zero and no re-warm-up, the run ends nearer the uninterrupted one than re-warming from
    fresh moments does."""
    train(_config(tmp_path, "straight", 24), export=False)
    train(_config(tmp_path, "first", 12), export=False)
    small = tmp_path / "small-checkpoint"
    stored = pack_checkpoint(tmp_path / "first", small, max_bytes=200_000)
    assert not stored["optimizer_moments"] and stored["factored_second_moments"]
    packed = torch.load(small / "state.pt", weights_only=False)
    full = torch.load(tmp_path / "first" / "state.pt", weights_only=False)["optimizer"]["state"]
    matrix = next(i for i, entry in packed["optimizer_factored"]["state"].items() if "rows" in entry)
    rebuilt = unfactor_second_moments(packed["optimizer_factored"])["state"][matrix]["exp_avg_sq"]
    exact = full[matrix]["exp_avg_sq"]
    assert rebuilt.shape == exact.shape and (rebuilt >= 0).all()
    torch.testing.assert_close(rebuilt.mean(dim=1), exact.mean(dim=1), rtol=1e-4, atol=1e-12)
    torch.testing.assert_close(rebuilt.mean(dim=0), exact.mean(dim=0), rtol=1e-4, atol=1e-12)

    without = tmp_path / "no-moments"
    pack_checkpoint(tmp_path / "first", without, max_bytes=200_000)
    bare = torch.load(without / "state.pt", weights_only=False)
    del bare["optimizer_factored"]  # as a checkpoint written before factored moments existed
    torch.save(bare, without / "state.pt")

    drifts = {}
    for name, checkpoint in (("factored", small), ("rewarm", without)):
        resumed = _config(tmp_path, name, 24)
        unpack_checkpoint(checkpoint, resumed.work_dir, resumed.to_json())
        train(resumed, export=False)
        state = torch.load(resumed.work_dir / "state.pt", weights_only=False)
        assert state["run"]["runs"][-1]["moments"] == ("factored" if name == "factored" else "none")
        assert ("rewarm_from" in state["run"]) == (name == "rewarm")
        straight = _weights(tmp_path / "straight")
        drifts[name] = sum((state["model"][k] - straight[k]).norm().item() ** 2 for k in straight) ** 0.5
    assert drifts["factored"] < drifts["rewarm"], drifts


def test_pack_replaces_the_checkpoint_and_refuses_oversized_weights(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    model = {"w": torch.ones(100, 10), "bias": torch.zeros(10)}
    run = {"step": 3, "elapsed": 60.0, "runs": [], "checkpoints": ["weights-step3.pt"]}
    torch.save(
        {"model": model, "optimizer": None, "run": run, "python_rng": None, "torch_rng": torch.get_rng_state()},
        work / "state.pt",
    )
    (work / "config.json").write_text(json.dumps({"arch": "marian", "output": "/x", "work_dir": "/y"}))
    (work / "spm.model").write_bytes(b"spm")
    checkpoint = tmp_path / "checkpoint"
    checkpoint.mkdir()
    (checkpoint / "leftover.bin").write_bytes(b"old")
    pack_checkpoint(work, checkpoint)
    assert sorted(p.name for p in checkpoint.iterdir()) == ["config.json", "history.json", "spm.model", "state.pt"]
    assert checkpoint_config(checkpoint) == {"arch": "marian"}, "no paths of the training machine"
    with pytest.raises(InvalidRequest, match="over the checkpoint limit of 0 MB"):
        pack_checkpoint(work, checkpoint, max_bytes=100)


@pytest.mark.integration
@pytest.mark.slow
def test_a_cooldown_branch_trains_apart_and_leaves_the_relay_checkpoint_un_cooled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    train(_config(tmp_path, "relay", 6), export=False)
    checkpoint = tmp_path / "checkpoint"
    pack_checkpoint(tmp_path / "relay", checkpoint, weights_dtype="float32")
    packed = (checkpoint / "state.pt").read_bytes()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr("pathlib.Path.home", lambda: tmp_path / "home")
    argv = ["train", "--resume", str(checkpoint), "--cooldown-steps", "3", "--threads", "1", "--no-export"]
    assert main(argv) == 0, capsys.readouterr().err
    branch = tmp_path / "home" / ".cache" / "kakehashi" / "train" / "tiny-relay-cooldown"
    run = torch.load(branch / "state.pt", weights_only=False)["run"]
    assert run["step"] == 9, "three steps after the checkpoint's six"
    assert {k: run["runs"][-1][k] for k in ("from_step", "cooldown_to", "cooldown_steps")} == {
        "from_step": 6,
        "cooldown_to": 9,
        "cooldown_steps": 3,
    }
    assert (checkpoint / "state.pt").read_bytes() == packed, "the relay checkpoint is not packed over"
    assert not (tmp_path / "home" / ".cache" / "kakehashi" / "train" / "tiny-relay").exists()


def test_resume_cannot_change_the_model_and_needs_a_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["train", "--resume", str(tmp_path)]) != 0
    assert "is not a relay checkpoint" in capsys.readouterr().err
    checkpoint = tmp_path / "checkpoint"
    checkpoint.mkdir()
    (checkpoint / "config.json").write_text(json.dumps({"train": [f"tsv:{DATA}"], "d_model": 32}))
    (checkpoint / "state.pt").write_bytes(b"")
    assert main(["train", "--resume", str(checkpoint), "--d-model", "64"]) != 0
    assert "cannot change d_model" in capsys.readouterr().err


@pytest.mark.integration
def test_sigterm_ends_training_after_the_step_under_way_with_its_state_saved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import signal

    import mt.training.loop as loop

    calls = 0
    accumulate = loop.accumulate_gradients

    def terminated_during_the_third_step(*args: object) -> object:
        nonlocal calls
        calls += 1
        if calls == 3:
            os.kill(os.getpid(), signal.SIGTERM)  # as `kill` or a stopping session would
        return accumulate(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(loop, "accumulate_gradients", terminated_during_the_third_step)
    before = signal.getsignal(signal.SIGTERM)
    summary = train(_config(tmp_path, "stopped", 10_000), export=False)
    assert summary["steps"] == 3 and calls == 3
    run = torch.load(tmp_path / "stopped" / "state.pt", weights_only=False)["run"]
    assert run["step"] == 3 and run["runs"][-1]["to_step"] == 3 and run["runs"][-1]["cpu_minutes"] > 0
    assert signal.getsignal(signal.SIGTERM) is before


def test_resume_keeps_or_changes_the_batches_accumulated_per_step(tmp_path: Path) -> None:
    """Like --batch-tokens, --accumulate is the checkpoint's unless given; checkpoints from before it mean 1."""
    from mt.cli import build_parser
    from mt.training.cli import build_config

    def resumed(stored: dict[str, object], *flags: str) -> TrainingConfig:
        checkpoint = tmp_path / "checkpoint"
        checkpoint.mkdir(exist_ok=True)
        (checkpoint / "config.json").write_text(json.dumps({"train": [f"tsv:{DATA}"], **stored}))
        torch.save({"model": {}, "run": {"step": 1}}, checkpoint / "state.pt")
        work = tmp_path / f"work{len(list(tmp_path.iterdir()))}"
        args = build_parser().parse_args(["train", "--resume", str(checkpoint), "--work-dir", str(work), *flags])
        return build_config(args)

    assert resumed({}).accumulate == 1
    assert resumed({"accumulate": 4, "batch_tokens": 4000}).accumulate == 4
    changed = resumed({"accumulate": 4}, "--accumulate", "2", "--batch-tokens", "8000")
    assert (changed.accumulate, changed.batch_tokens) == (2, 8000)
    # An experiment arm's step limit ends that session only: the next `make relay` trains for its minutes.
    assert resumed({"max_steps": 8850}).max_steps is None
    assert resumed({"max_steps": 8850}, "--max-steps", "9000").max_steps == 9000
    assert resumed({"max_steps": 8850, "cooldown_steps": 100}).cooldown_steps is None  # a branch's, not the relay's
    # A cool-down branch ends its steps after the checkpoint's (step 1 here: a checkpoint without history.json).
    assert resumed({}, "--cooldown-steps", "5").max_steps == 6


@pytest.mark.shipped
@pytest.mark.slow
def test_the_shipped_checkpoint_loads_and_trains_on(tmp_path: Path) -> None:
    stored = checkpoint_config(SHIPPED_CHECKPOINT)
    assert sum(f.stat().st_size for f in SHIPPED_CHECKPOINT.iterdir()) <= 60_000_000
    fields = set(TrainingConfig.__dataclass_fields__)
    config = TrainingConfig(
        output=tmp_path / "model", work_dir=tmp_path / "work", **{k: v for k, v in stored.items() if k in fields}
    )
    assert unpack_checkpoint(SHIPPED_CHECKPOINT, config.work_dir, config.to_json())
    state = torch.load(config.work_dir / "state.pt", weights_only=False)
    assert state["run"]["step"] > 0 and state["run"]["runs"], "the chain of runs is recorded"
    recipe = make_recipe(replace(config, dropout=0.0))
    recipe.vocabulary(config.work_dir, [], ["en", "ja"])
    model = recipe.new_model()
    model.load_state_dict(state["model"])  # strict: every weight present, the tied ones restored
    from mt._corpora import ParallelPair

    pairs = [ParallelPair("t", "1", "ja", "en", "京都には古いお寺がたくさんあります。", "Kyoto has many old temples.")]
    data = recipe.encode(pairs + [p.reversed() for p in pairs])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    before, _ = recipe.loss(model, data, [0, 1])
    for _ in range(3):
        loss, _ = recipe.loss(model, data, [0, 1])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after, _ = recipe.loss(model, data, [0, 1])
    assert torch.isfinite(after) and after < before < 6.0, (before, after)


def test_run_state_reads_earlier_versions_and_refuses_unknown_keys() -> None:
    earlier: dict[str, object] = {
        "step": 5,
        "epoch": 1,
        "batch": 2,
        "elapsed": 9.0,
        "best": None,
        "history": [],
        "losses": [],
        "checkpoints": [],
    }
    state = RunState.from_dict(earlier)
    assert state.stage == 2 and state.runs == [] and state.rewarm_from is None
    assert state.to_dict() == {**earlier, "runs": [], "stage": 2}, "optional keys stay absent until set"
    state.rewarm_from = 5
    assert list(state.to_dict())[-1] == "rewarm_from"
    with pytest.raises(InvalidRequest, match="unknown keys colour; accepted: batch, best"):
        RunState.from_dict({**earlier, "colour": "red"})


@pytest.mark.shipped
def test_the_shipped_run_state_round_trips_unchanged() -> None:
    stored = torch.load(SHIPPED_CHECKPOINT / "state.pt", map_location="cpu", weights_only=False)["run"]
    written = RunState.from_dict(stored).to_dict()
    assert written == stored and list(written) == list(stored), "state.pt and history.json keep today's layout"


def test_auto_precision_is_bfloat16_where_the_device_computes_it_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    from mt.training.config import resolve_precision

    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    assert resolve_precision("auto", "cpu") == "float32"
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True)
    assert resolve_precision("auto", "cpu") == "bfloat16"
    assert resolve_precision("float32", "cpu") == "float32" and resolve_precision("bfloat16", "cpu") == "bfloat16"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_precision("auto", "cuda") == "float32"


def test_resume_resolves_auto_precision_for_this_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mt.cli import build_parser
    from mt.training.cli import build_config

    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True)
    checkpoint = tmp_path / "checkpoint"
    checkpoint.mkdir()
    (checkpoint / "config.json").write_text(json.dumps({"train": [f"tsv:{DATA}"], "precision": "float32"}))
    (checkpoint / "state.pt").write_bytes(b"")
    monkeypatch.setattr("mt.training.relay.unpack_checkpoint", lambda *_: False)
    argv = ["train", "--resume", str(checkpoint), "--work-dir", str(tmp_path / "w"), "--precision", "auto"]
    assert build_config(build_parser().parse_args(argv)).precision == "bfloat16"
    assert build_config(build_parser().parse_args(argv[:-2])).precision == "float32"  # the default, not stored
