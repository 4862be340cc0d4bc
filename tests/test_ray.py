"""``kakehashi translate-file --engine ray``: outputs identical to the local engine's, on a local Ray instance."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from mt._errors import DocumentError
from mt.documents._ray import pool_size

SHIPPED = Path(__file__).resolve().parents[1] / "data" / "models" / "kakehashi-ja-en"


class FakeCluster:
    """What :func:`pool_size` reads of Ray: the cluster's resources."""

    def __init__(self, **resources: float):
        self.resources = resources

    def cluster_resources(self) -> dict[str, float]:
        return self.resources


def test_pool_has_one_actor_per_cpu_slot_or_per_gpu() -> None:
    assert pool_size(FakeCluster(CPU=8.0), "cpu") == (8, 0.0)
    assert pool_size(FakeCluster(CPU=8.0), "auto") == (8, 0.0)
    assert pool_size(FakeCluster(CPU=8.0, GPU=2.0), "auto") == (2, 1.0)
    assert pool_size(FakeCluster(CPU=8.0, GPU=2.0), "cuda") == (2, 1.0)
    assert pool_size(FakeCluster(CPU=8.0, GPU=2.0), "cpu") == (8, 0.0)
    with pytest.raises(DocumentError, match="needs GPUs in the Ray cluster"):
        pool_size(FakeCluster(CPU=8.0), "cuda")


def test_engine_ray_is_a_translate_file_choice() -> None:
    from mt.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(["translate-file", "a.txt", "--to", "en", "--engine", "ray", "--ray-address", "h:6379"])
    assert (args.engine, args.ray_address) == ("ray", "h:6379")
    assert "ray" in parser._subparsers._group_actions[0].choices["translate-file"].format_help()  # type: ignore[union-attr]


def corpus(tmp_path: Path) -> list[Path]:
    """A text file and a Markdown file (inline markup, a duplicate unit) of Tatoeba sentences."""
    rows = Path(__file__).parent.joinpath("data", "tatoeba_sample.tsv").read_text(encoding="utf-8").splitlines()[1:]
    sentences = [row.split("\t")[1] for row in rows]
    text = tmp_path / "in" / "sentences.txt"
    text.parent.mkdir()
    text.write_text("\n\n".join(sentences[:70]) + "\n", encoding="utf-8")
    markdown = tmp_path / "in" / "guide.md"
    items = "\n".join(f"- {s}" for s in sentences[70:100])
    markdown.write_text(f"# 京都\n\n猫が**とても**好きです。\n\n{items}\n\n- {sentences[0]}\n", encoding="utf-8")
    return [text, markdown]


def run_cli(arguments: list[str]) -> int:
    from mt.cli import main

    return main(arguments)


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.shipped
def test_ray_engine_output_is_identical_to_the_local_engine(tmp_path: Path, monkeypatch: Any) -> None:
    import ray

    registry = tmp_path / "registry.toml"
    registry.write_text(f'[[model]]\nname = "kakehashi-ja-en"\npath = "{SHIPPED}"\ndefault = true\n', encoding="utf-8")
    inputs = [str(p) for p in corpus(tmp_path)]
    common = ["--to", "en", "--registry", str(registry), "--beam", "2", "--chunk-units", "16", "--quiet"]
    local = tmp_path / "local"
    assert run_cli(["translate-file", *inputs, "-o", f"{local}/", "--journal", str(tmp_path / "j1"), *common]) == 0
    # Two CPU slots, no dashboard: Ray starts in seconds on a small machine; the pool is one actor per slot.
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    on_ray = tmp_path / "ray"
    try:
        code = run_cli(
            ["translate-file", *inputs, "-o", f"{on_ray}/", "--journal", str(tmp_path / "j2"), "--engine", "ray"]
            + common
        )
    finally:
        ray.shutdown()
    assert code == 0
    for name in ("sentences.txt", "guide.md"):
        produced = (on_ray / name).read_bytes()
        assert produced == (local / name).read_bytes(), name
        assert "猫" not in produced.decode()


def test_ray_engine_joins_the_cluster_at_the_given_address(monkeypatch: Any) -> None:
    from mt.documents import _ray

    started: list[Any] = []
    monkeypatch.setattr(_ray, "start_ray", lambda address, num_cpus=None: started.append(address) or FakeCluster())
    args = argparse.Namespace(
        chunk_units=8,
        source="ja",
        to="en",
        model=None,
        beam=1,
        max_batch_tokens=1024,
        ray_address="10.0.0.1:6379",
        quiet=True,
        registry=None,
        device="cpu",
        compute_type=None,
        intra_threads=None,
        inter_threads=None,
    )
    engine, _ = _ray.ray_engine(args, None)
    assert started == ["10.0.0.1:6379"]
    assert engine([]) == []


def test_registry_paths_travel_relative_to_the_working_directory(tmp_path: Path, monkeypatch: Any) -> None:
    from mt.documents._ray import portable_path

    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    assert portable_path(tmp_path / "models" / "registry.toml") == "models/registry.toml"
    assert portable_path("models/registry.toml") == "models/registry.toml"
    assert portable_path("/srv/shared/registry.toml") == "/srv/shared/registry.toml"
