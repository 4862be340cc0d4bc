"""The kakehashi command: convert, translate, models, and its error paths."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mt.cli import main

pytestmark = pytest.mark.integration


def test_translate_json_and_n_best(tiny_registry: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "translate",
            "猫です。犬です。",
            "--from",
            "ja",
            "--to",
            "en",
            "--registry",
            str(tiny_registry),
            "--json",
            "--beam",
            "3",
            "--n-best",
            "2",
            "--max-length",
            "8",
        ]
    )
    assert code == 0
    row = json.loads(capsys.readouterr().out)
    assert row["source_lang"] == "ja" and row["target_lang"] == "en"
    assert [s["source"] for s in row["segments"]] == ["猫です。", "犬です。"]
    assert row["models"] == ["tiny-marian"]
    assert row["score"] <= 0


def test_translate_reads_stdin_one_paragraph_per_line(tiny_registry: Path, tmp_path: Path) -> None:
    lines = "猫です。\n\n犬です。\n"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mt.cli",
            "translate",
            "--from",
            "ja",
            "--to",
            "en",
            "--registry",
            str(tiny_registry),
            "--max-length",
            "6",
        ],
        input=lines,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout.split("\n")
    assert len(out) == 4 and out[1] == "" and out[3] == ""


def test_model_selected_by_name(tiny_registry: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "translate",
                "猫",
                "--from",
                "ja",
                "--to",
                "en",
                "--model",
                "tiny-madlad",
                "--registry",
                str(tiny_registry),
                "--json",
                "--max-length",
                "4",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["models"] == ["tiny-madlad"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "xx-bogus", "--to", "en"], "unknown language code 'xx-bogus'"),
        (["--from", "ja", "--to", "fr"], "no installed model translates ja→fr"),
        (["--from", "ja", "--to", "en", "--model", "nope"], "unknown model 'nope'"),
        (["--from", "ja", "--to", "en", "--beam", "0"], "beam_size"),
        (["--from", "ja", "--to", "en", "--reconstruction-weight", "-1"], "reconstruction_weight must be between 0"),
    ],
)
def test_errors_exit_non_zero_without_traceback(tiny_registry: Path, args: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mt.cli", "translate", "猫", *args, "--registry", str(tiny_registry)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_corrupt_model_directory(
    tmp_path: Path, tiny_models: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(tiny_models["marian"], broken)
    (broken / "model.bin").write_bytes(b"not a model")
    assert main(["translate", "猫", "--from", "ja", "--to", "en", "--model", str(broken)]) == 2
    assert "is not a usable Kakehashi model" in capsys.readouterr().err
    (broken / "kakehashi.json").write_text("{", encoding="utf-8")
    assert main(["translate", "猫", "--from", "ja", "--to", "en", "--model", str(broken)]) == 2
    assert "not valid JSON" in capsys.readouterr().err


def test_convert_refuses_to_overwrite(
    tiny_checkpoints: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "model"
    assert main(["convert", str(tiny_checkpoints["marian"]), "--output", str(out)]) == 0
    manifest = json.loads((out / "kakehashi.json").read_text(encoding="utf-8"))
    assert manifest["family"] == "marian" and manifest["quantization"] == "int8"
    assert manifest["source"] == str(tiny_checkpoints["marian"])
    assert {"source.spm", "target.spm", "vocab.json", "model.bin"} <= {p.name for p in out.iterdir()}
    before = (out / "model.bin").read_bytes()
    assert main(["convert", str(tiny_checkpoints["marian"]), "--output", str(out), "--quantization", "float32"]) == 2
    assert "--force" in capsys.readouterr().err
    assert (out / "model.bin").read_bytes() == before
    assert (
        main(["convert", str(tiny_checkpoints["marian"]), "--output", str(out), "--quantization", "float32", "--force"])
        == 0
    )
    assert json.loads((out / "kakehashi.json").read_text(encoding="utf-8"))["quantization"] == "float32"


def test_convert_bad_source_leaves_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "not-a-checkpoint"
    empty.mkdir()
    assert main(["convert", str(empty), "--output", str(tmp_path / "out")]) == 2
    assert "cannot read a transformers config" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["not-a-checkpoint"]


def test_models_lists_families(tiny_registry: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--json", "--registry", str(tiny_registry)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["family"], r["architecture"]) for r in rows] == [
        ("tiny-marian", "marian", "encoder-decoder"),
        ("tiny-madlad", "madlad", "encoder-decoder"),
    ]
    assert all(r["size_bytes"] > 0 for r in rows)
    assert main(["models", "--registry", str(tiny_registry)]) == 0
    assert "tiny-marian" in capsys.readouterr().out


def test_environment_variable_selects_registry(
    tiny_registry: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KAKEHASHI_REGISTRY", str(tiny_registry))
    assert main(["models", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 2


def test_translate_json_has_the_rest_api_fields_too(tiny_registry: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["translate", "猫です。", "--from", "ja", "--to", "en", "--registry", str(tiny_registry), "--json"]
    assert main([*args, "--max-length", "4"]) == 0
    row = json.loads(capsys.readouterr().out)
    # One serialisation for the CLI and /v1/translate: the API's names, and the CLI's first names beside them.
    assert (row["source"], row["target"]) == (row["source_lang"], row["target_lang"]) == ("ja", "en")
    assert row["tokens"] == {"source": row["source_tokens"], "target": row["target_tokens"]}
    assert row["detected_source"] is None and row["detected"] is None


def test_mt_never_imports_serve() -> None:
    code = "import sys, mt, mt.cli; mt.cli.build_parser(); print(sorted(m for m in sys.modules if m.split('.')[0] == 'serve'))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stderr


@pytest.mark.parametrize("command", [["serve", "--port", "0"], ["keys", "alice", "--file", "keys.toml"]])
def test_serve_commands_without_the_serve_extra_say_what_to_install(command: list[str], tmp_path: Path) -> None:
    # Blocking the import stands in for an installation without the serve extra.
    code = (
        "import sys; sys.modules['starlette'] = None; sys.modules['uvicorn'] = None; "
        f"from mt.cli import main; sys.exit(main({command!r}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "pip install 'kakehashi[serve]'" in done.stderr and "kakehashi " + command[0] in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "keys.toml").exists()


def test_serve_help_is_the_serve_packages_own() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mt.cli", "serve", "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and "--redis-url" in done.stdout
