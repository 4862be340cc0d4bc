from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's KAKEHASHI_* settings."""
    for name in list(os.environ):
        if name.startswith("KAKEHASHI_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Hugging Face checkpoints of every family, built once per test run (about 20 s)."""
    import tiny_models

    root = tmp_path_factory.mktemp("checkpoints")
    return {
        "marian": tiny_models.build_marian(root / "marian"),
        "m2m100": tiny_models.build_m2m100(root / "m2m100"),
        "madlad": tiny_models.build_madlad(root / "madlad"),
        "llama": tiny_models.build_llama(root / "llama"),
        "llama-chat": tiny_models.build_llama(root / "llama-chat", chat=True),
    }


@pytest.fixture(scope="session")
def tiny_models(tiny_checkpoints: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same checkpoints converted with float32 weights (for exact parity) through the Python API."""
    from mt import PromptFormat, convert_model

    root = tmp_path_factory.mktemp("models")
    out = {}
    for name, checkpoint in tiny_checkpoints.items():
        prompt = None
        if name == "llama":
            prompt = PromptFormat(template="{source_lang}: {text}\n{target_lang}:", stop=("\n",))
        languages = ["ja", "en"] if name.startswith("llama") else None
        convert_model(str(checkpoint), root / name, quantization="float32", languages=languages, prompt=prompt,
                      name=f"tiny-{name}")
        out[name] = root / name
    return out


@pytest.fixture(scope="session")
def tiny_registry(tiny_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("registry") / "registry.toml"
    lines = []
    for name in ("marian", "madlad"):
        lines += ["[[model]]", f'name = "tiny-{name}"', f'path = "{tiny_models[name]}"', ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
