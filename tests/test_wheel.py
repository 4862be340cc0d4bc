"""The wheel works on its own: built from a copy of the checkout, installed into a fresh virtual environment
outside it and run from a directory outside it, with the shipped models and the web page. The base install
translates; the ``serve`` extra, added next, serves.

Installing takes about a minute (pip's cache holds the dependencies after ``make install``); the environment is
built once for this module, and the tests run in file order: base install first, then the extra.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from conftest import free_port

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Installed:
    wheel: Path
    bin: Path
    outside: Path  # a working directory outside the checkout
    env: dict[str, str]


def _copy_source(destination: Path) -> None:
    """Copy what a clone of the checkout holds: tracked files and new files git does not ignore (no environments,
    caches or tool directories, which may be gigabytes)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # tracked files deleted in the working tree are listed too
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)


def _run(
    command: list[str], timeout: float, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("wheel")
    # Built from a copy, so that building leaves nothing (build/, *.egg-info) in the checkout.
    source = root / "source"
    _copy_source(source)
    dist = root / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(dist), str(source)], 600)
    (wheel,) = dist.glob("kakehashi-*.whl")
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], 120)
    _run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheel)], 900)
    outside = root / "elsewhere"
    outside.mkdir()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("KAKEHASHI_") and k not in ("PYTHONPATH", "VIRTUAL_ENV")
    }
    # Left to pytest's rotation of temporary directories: deleting the environment's 500 MB here costs about
    # 20 s of disk time on every run, in CI too, where the machine is discarded anyway.
    return Installed(wheel=wheel, bin=venv / "bin", outside=outside, env=env)


@pytest.mark.slow
@pytest.mark.wheel
def test_the_wheel_holds_the_models_and_the_web_page_but_no_checkpoints(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = set(wheel.namelist())
        registry = tomllib.loads(wheel.read("mt/_models/registry.toml").decode())
    for model in registry["model"]:
        assert f"mt/_models/{model['path']}/model.bin" in names, model
        assert f"mt/_models/{model['path']}/kakehashi.json" in names, model
    assert {"serve/static/index.html", "serve/static/app.js", "serve/static/style.css"} <= names
    assert {"mt/training/loop.py", "mt/training/recipes/marian.py"} <= names
    assert not [n for n in names if "checkpoints" in n or n.startswith(("tests/", "benchmarks/", "data/"))]
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


@pytest.mark.slow
@pytest.mark.wheel
def test_the_base_install_has_no_serving_training_or_benchmark_dependencies(installed: Installed) -> None:
    heavy = ("torch", "sacrebleu", "MeCab", "matplotlib", "starlette", "uvicorn")
    code = f"import importlib.util as u; print([m for m in {heavy!r} if u.find_spec(m)])"
    done = _run([str(installed.bin / "python"), "-c", code], 60, cwd=installed.outside, env=installed.env)
    assert done.stdout.strip() == "[]"


@pytest.mark.slow
@pytest.mark.wheel
def test_translate_and_models_run_from_the_installed_package(installed: Installed) -> None:
    kakehashi = str(installed.bin / "kakehashi")
    done = _run(
        [kakehashi, "translate", "--from", "ja", "--to", "en", "猫が好きです。"],
        120,
        cwd=installed.outside,
        env=installed.env,
    )
    assert "cat" in done.stdout.lower(), done.stdout
    listed = json.loads(_run([kakehashi, "models", "--json"], 120, cwd=installed.outside, env=installed.env).stdout)
    assert {"kakehashi-ja-en", "kakehashi-llm-ja-en"} <= {model["name"] for model in listed}
    for model in listed:  # from the installed package, not from the checkout
        assert Path(model["path"]).is_relative_to(installed.bin.parent), model


@pytest.fixture(scope="module")
def with_serve_extra(installed: Installed) -> Installed:
    _run([str(installed.bin / "python"), "-m", "pip", "install", "--quiet", f"{installed.wheel}[serve]"], 900)
    return installed


@pytest.fixture
def served(with_serve_extra: Installed, tmp_path: Path) -> Iterator[str]:
    installed = with_serve_extra
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [str(installed.bin / "kakehashi"), "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=installed.outside,
            env=installed.env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                pytest.fail(f"kakehashi serve exited with {process.returncode}:\n{log.read_text()}")
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"kakehashi serve did not answer /healthz within 120 s:\n{log.read_text()}")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.slow
@pytest.mark.wheel
def test_serve_runs_from_the_installed_package(served: str) -> None:
    assert httpx.get(f"{served}/healthz").json() == {"status": "ok"}
    body = {"texts": ["猫が好きです。"], "source": "ja", "target": "en"}
    answer = httpx.post(f"{served}/v1/translate", json=body, timeout=60)
    assert answer.status_code == 200, answer.text
    translation = answer.json()["translations"][0]
    assert "cat" in translation["text"].lower() and translation["models"] == ["kakehashi-ja-en"], translation
    page = httpx.get(f"{served}/")
    assert page.status_code == 200 and "<html" in page.text
    assert httpx.get(f"{served}/static/app.js").status_code == 200
    assert json.loads(httpx.get(f"{served}/openapi.json").text)["paths"]


@pytest.mark.parametrize("top", ["mt", "serve"])
def test_every_package_of_the_source_tree_is_listed_for_the_wheel(top: str) -> None:
    """pyproject.toml lists the packages (data/models is mapped into mt); a package missing from the list would
    be missing from the wheel, and only the slow wheel tests would notice."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"])
    found = {".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / top).rglob("__init__.py")}
    assert found - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
