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
        convert_model(
            str(checkpoint),
            root / name,
            quantization="float32",
            languages=languages,
            prompt=prompt,
            name=f"tiny-{name}",
        )
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


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisProcess:
    """A redis-server of the test's own on a free port (so tests may stop and restart it)."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.port = free_port()
        self.process: object = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import shutil
        import subprocess
        import time

        import redis

        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed; `make test` installs it with apt-get")
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        for _ in range(100):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        pytest.fail("redis-server did not start")

    def stop(self) -> None:
        import subprocess

        if isinstance(self.process, subprocess.Popen):
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def redis_server(tmp_path: Path):  # type: ignore[no-untyped-def]
    server = RedisProcess(tmp_path)
    server.start()
    yield server
    server.stop()


class LiveServer:
    def __init__(self, app: object, port: int):
        import threading

        import uvicorn

        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> None:
        import time

        self.thread.start()
        for _ in range(600):
            if self.server.started:
                return
            if not self.thread.is_alive():
                pytest.fail("the server failed to start")
            time.sleep(0.05)
        pytest.fail("the server did not start within 30 s")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def live_servers(registry: Path, **engine: object):  # type: ignore[no-untyped-def]
    """Yield ``start(**ServeSettings fields)`` → a LiveServer of the real app with the models of ``registry``
    (``engine``: more mt.Settings fields); every server started is stopped afterwards."""
    from mt import Settings
    from serve._settings import ServeSettings
    from serve.app import create_app

    servers: list[LiveServer] = []

    def start(**fields: object) -> LiveServer:
        settings = ServeSettings(engine=Settings(registry=(registry,), **engine), **fields)  # type: ignore[arg-type]
        server = LiveServer(create_app(settings), free_port())
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def start_server(tiny_registry: Path):  # type: ignore[no-untyped-def]
    """Start the real app (tiny models) on a free port: ``start_server(**ServeSettings fields)`` → LiveServer."""
    yield from live_servers(tiny_registry, compute_type="float32")
