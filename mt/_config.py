"""Configuration, read once: ``KAKEHASHI_*`` environment variables, each with a matching CLI flag.

=============================  ======================  ==========================================
variable                       flag                    meaning
=============================  ======================  ==========================================
``KAKEHASHI_REGISTRY``         ``--registry``          registry TOML file(s), ``os.pathsep``-separated
``KAKEHASHI_DEVICE``           ``--device``            ``auto`` | ``cpu`` | ``cuda``
``KAKEHASHI_COMPUTE_TYPE``     ``--compute-type``      ``auto`` | ``int8`` | ``int8_float16`` | …
``KAKEHASHI_INTER_THREADS``    ``--inter-threads``     parallel batches (model replicas; 0 = one per CPU)
``KAKEHASHI_INTRA_THREADS``    ``--threads``           threads per batch (0 = 1 on CPU with inter 0)
=============================  ======================  ==========================================
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

from mt._engine import RuntimeOptions
from mt._errors import InvalidRequest
from mt._registry import Registry

# The shipped models: data/models in the repository, installed as this package (pyproject.toml's package-dir).
SHIPPED_MODELS_PACKAGE = "mt._models"


def shipped_registry() -> Path | None:
    """The registry file of the models shipped with the installed package; None where they are not installed
    (a source tree used without ``pip install``).

    A wheel is always installed unpacked, so the resource is a real file that CTranslate2 can open by path.
    """
    try:
        registry = Path(str(resources.files(SHIPPED_MODELS_PACKAGE).joinpath("registry.toml")))
    except ModuleNotFoundError:
        return None
    return registry if registry.is_file() else None


def __getattr__(name: str) -> Any:
    # BUILTIN_REGISTRY is looked up when asked for, not at import: importing mt reads nothing from disk.
    if name == "BUILTIN_REGISTRY":
        return shipped_registry()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _int(environ: Mapping[str, str], name: str, default: int) -> int:
    value = environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise InvalidRequest(f"{name}={value!r} is not an integer") from exc


@dataclass(frozen=True)
class Settings:
    registry: tuple[Path, ...] = ()
    device: str = "auto"
    compute_type: str = "auto"
    # 0 and 0: one single-threaded replica per CPU (RuntimeOptions.threads says why).
    inter_threads: int = 0
    intra_threads: int = 0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        environ = os.environ if environ is None else environ
        registry = tuple(Path(p) for p in environ.get("KAKEHASHI_REGISTRY", "").split(os.pathsep) if p)
        return cls(
            registry=registry,
            device=environ.get("KAKEHASHI_DEVICE", "auto"),
            compute_type=environ.get("KAKEHASHI_COMPUTE_TYPE", "auto"),
            inter_threads=_int(environ, "KAKEHASHI_INTER_THREADS", 0),
            intra_threads=_int(environ, "KAKEHASHI_INTRA_THREADS", 0),
        )

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with the given fields replaced; ``None`` values (flags not given) are ignored."""
        given = {k: v for k, v in overrides.items() if v is not None}
        if "registry" in given:
            given["registry"] = tuple(Path(p) for p in given["registry"])
        return replace(self, **given)

    def registry_files(self) -> list[Path]:
        if self.registry:
            return list(self.registry)
        shipped = shipped_registry()
        return [shipped] if shipped else []

    def runtime(self) -> RuntimeOptions:
        return RuntimeOptions(
            device=self.device,
            compute_type=self.compute_type,
            inter_threads=self.inter_threads,
            intra_threads=self.intra_threads,
        )

    def load_registry(self) -> Registry:
        return Registry.from_files(self.registry_files())
