"""Systems under comparison: a Kakehashi model, an HTTP endpoint, or a file of existing outputs.

A system is written ``NAME=SPEC`` on the command line (``NAME`` defaults to a name derived from ``SPEC``):

* ``kakehashi-ja-en:beam=5,compute_type=float32`` or ``path/to/model`` — a model name or directory, run here;
  ``default`` is whatever model the registry routes the pair to;
* ``libretranslate+http://host:port``, ``deepl+https://api-free.deepl.com``, ``kakehashi+http://host:port`` — a
  LibreTranslate, DeepL or Kakehashi-native endpoint; keys come from an environment variable (``key_env=NAME``);
* ``file:PATH`` — existing outputs: one file (one line per source sentence), or a directory of
  ``<testset>.<pair>.txt`` files such as the ``translations/<system>/`` folder of an earlier run.

Options follow the last ``:`` as ``key=value`` pairs separated by commas; each kind lists the options it accepts.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from mt._errors import InvalidRequest, KakehashiError, MissingDependency
from mt.bench.testsets import TestSet

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# "key=value,key=value" after the last ':'; anything else there (a port, a path) belongs to the location.
OPTIONS = re.compile(r"[A-Za-z_]+=[^,]*(,[A-Za-z_]+=[^,]*)*")
HTTP_KINDS = {"libretranslate": "LIBRETRANSLATE_API_KEY", "deepl": "DEEPL_AUTH_KEY", "kakehashi": "KAKEHASHI_API_KEY"}
# Decoding options a model system passes on as they are (named as in the REST API's ``options``).
DECODING_OPTIONS = {
    "length_penalty": float,
    "repetition_penalty": float,
    "no_repeat_ngram_size": int,
    "reconstruction_weight": float,
}
MODEL_OPTIONS = ("beam", "compute_type", "device", "threads", "max_length", "batch", *DECODING_OPTIONS)
HTTP_OPTIONS = ("batch", "retries", "backoff", "timeout", "key_env", "beam", "max_length", "model")
TRANSFORMERS_OPTIONS = ("like", "device", "threads")


class SystemFailed(KakehashiError):
    """A system failed to translate (an endpoint down or answering errors, after retries)."""


class HypothesisFileError(KakehashiError):
    """A file of existing outputs is missing or does not have one line per source sentence."""


@dataclass(frozen=True)
class SystemSpec:
    """A parsed ``NAME=SPEC``: what kind of system, where it is, and its options."""

    name: str
    kind: str
    location: str
    options: tuple[tuple[str, str], ...] = ()
    text: str = ""

    @property
    def option_map(self) -> dict[str, str]:
        return dict(self.options)

    def option(self, key: str, default: str | None = None) -> str | None:
        return self.option_map.get(key, default)

    def int_option(self, key: str, default: int) -> int:
        return int(_number(self, key, self.option(key), int, default))

    def float_option(self, key: str, default: float) -> float:
        return float(_number(self, key, self.option(key), float, default))


def _number(spec: SystemSpec, key: str, value: str | None, kind: Callable[[str], Any], default: Any) -> Any:
    if value is None:
        return default
    try:
        number = kind(value)
    except ValueError:
        raise InvalidRequest(f"system {spec.name!r}: option {key}={value!r} must be a number") from None
    # Decoding options are checked against their own bounds by TranslationOptions (0 is valid for some).
    if number <= 0 and key != "retries" and key not in DECODING_OPTIONS:
        raise InvalidRequest(f"system {spec.name!r}: option {key} must be positive; got {value}")
    return number


def _split_options(text: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """``LOCATION:k=v,k=v`` → (LOCATION, options); a last ``:`` part without ``=`` (a port) is no option list."""
    head, sep, tail = text.rpartition(":")
    if not sep or not OPTIONS.fullmatch(tail):
        return text, ()
    return head, tuple((key, value) for key, _, value in (item.partition("=") for item in tail.split(",")))


def _derived_name(kind: str, location: str) -> str:
    if kind in HTTP_KINDS:
        return kind
    base = Path(location.rstrip("/")).name or location
    return re.sub(r"[^A-Za-z0-9._-]+", "-", base).strip("-") or kind


def parse_system(text: str, kinds: Sequence[str] = ("model", "file", *HTTP_KINDS)) -> SystemSpec:
    """Parse ``NAME=SPEC`` (see the module docstring); ``kinds`` are the kinds the caller accepts.

    Raises:
        InvalidRequest: a malformed spec, a bad name, an option the kind does not accept, or a kind not accepted.
    """
    name, eq, spec = text.partition("=")
    # "model:beam=5" has '=' too: it is NAME=SPEC only when what precedes the first '=' is a plain name.
    if not eq or not NAME.fullmatch(name):
        name, spec = "", text
    kind_prefix, plus, rest = spec.partition("+")
    if plus and kind_prefix in HTTP_KINDS and rest.startswith(("http://", "https://")):
        kind, location, options = kind_prefix, *_split_options(rest)
    elif spec.startswith("file:"):
        kind, location, options = "file", spec[len("file:") :], ()
    elif spec.startswith("transformers:"):
        kind, (location, options) = "transformers", _split_options(spec[len("transformers:") :])
    else:
        kind, (location, options) = "model", _split_options(spec)
    if not location:
        raise InvalidRequest(f"system {text!r} names no model, URL or file")
    if kind not in kinds:
        raise InvalidRequest(f"system {text!r} is a {kind} system; this command accepts: {', '.join(kinds)}")
    name = name or _derived_name(kind, location)
    if not NAME.fullmatch(name):
        raise InvalidRequest(f"system name {name!r} must be letters, digits, '.', '_' or '-'; write NAME=SPEC")
    accepted = {"model": MODEL_OPTIONS, "file": (), "transformers": TRANSFORMERS_OPTIONS}.get(kind, HTTP_OPTIONS)
    for key, _ in options:
        if key not in accepted:
            raise InvalidRequest(
                f"system {name!r}: unknown option {key!r} for a {kind} system; accepted: {', '.join(accepted) or 'none'}"
            )
    return SystemSpec(name, kind, location, options, text)


class System(Protocol):
    """What the quality benchmark needs of a system."""

    spec: SystemSpec
    batch_size: int

    def translate(self, texts: Sequence[str], source: str, target: str) -> list[str]: ...

    def existing_outputs(self, testset: TestSet) -> list[str] | None: ...

    def identity(self, source: str, target: str) -> str:
        """What kept translations must match to be reused: the spec, and for local models their weights."""
        ...

    def describe(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


@dataclass
class ModelSystem:
    """A Kakehashi model run in this process (``default``: the registry's choice for the pair)."""

    spec: SystemSpec
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    batch_size: int = 64
    _engine: Any = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.batch_size = self.spec.int_option("batch", self.batch_size)

    def _kakehashi(self) -> Any:
        if self._engine is None:
            from mt import Kakehashi, RuntimeOptions, Settings

            settings = Settings.from_env(self.environ)
            runtime = RuntimeOptions(
                device=self.spec.option("device", settings.device) or "auto",
                compute_type=self.spec.option("compute_type", settings.compute_type) or "auto",
                intra_threads=self.spec.int_option("threads", settings.intra_threads),
            )
            self._engine = Kakehashi(settings.load_registry(), runtime)
        return self._engine

    def _model(self) -> str | None:
        return None if self.spec.location == "default" else self.spec.location

    def translate(self, texts: Sequence[str], source: str, target: str) -> list[str]:
        from mt import TranslationOptions

        decoding = {
            key: _number(self.spec, key, value, DECODING_OPTIONS[key], None)
            for key, value in self.spec.options
            if key in DECODING_OPTIONS
        }
        options = TranslationOptions(
            beam_size=self.spec.int_option("beam", 4),
            max_decoding_length=self.spec.int_option("max_length", 256),
            **decoding,
        )
        results = self._kakehashi().translate(list(texts), source, target, model=self._model(), options=options)
        return [r.text for r in results]

    def existing_outputs(self, testset: TestSet) -> list[str] | None:
        return None

    def identity(self, source: str, target: str) -> str:
        from mt import parse_language
        from mt._segment_store import weights_fingerprint

        engine = self._kakehashi()
        route = engine.registry.route(parse_language(source), parse_language(target), self._model())
        # What the service's cache keys tell models apart by (weights, revision, recommended decoding): a retrained
        # or re-shipped model is not the same system.
        weights = [f"{entry.path}:{weights_fingerprint(entry.path, entry.manifest)}" for entry, _, _ in route.steps]
        return f"{self.spec.text}|{engine.runtime.compute_type}|{'|'.join(weights)}"

    def describe(self) -> dict[str, Any]:
        row: dict[str, Any] = {"name": self.spec.name, "kind": "model", "spec": self.spec.text}
        row["options"] = self.spec.option_map
        engine = self._kakehashi()
        row["runtime"] = {"device": engine.runtime.device, "compute_type": engine.runtime.compute_type}
        model = self._model()
        if model is not None:
            entry = engine.registry.get(model)
            row["model"] = {
                "name": entry.name,
                "path": str(entry.path),
                "quantization": entry.manifest.quantization,
                "family": entry.manifest.family,
            }
        else:
            row["model"] = {"routed by": "registry", "installed": engine.registry.names()}
        return row

    def close(self) -> None:
        self._engine = None


@dataclass
class HttpSystem:
    """A LibreTranslate, DeepL or Kakehashi-native endpoint, retried with exponential backoff.

    ``transport`` is an ``httpx`` transport for tests (``httpx.MockTransport``); ``sleep`` is injectable so
    that tests of the backoff do not wait.
    """

    spec: SystemSpec
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    transport: Any = None
    sleep: Callable[[float], None] = time.sleep
    batch_size: int = 16
    _client: Any = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.batch_size = self.spec.int_option("batch", self.batch_size)
        self.retries = self.spec.int_option("retries", 4)
        self.backoff = self.spec.float_option("backoff", 1.0)
        self.timeout = self.spec.float_option("timeout", 120.0)
        self.url = self.spec.location.rstrip("/")
        variable = self.spec.option("key_env", HTTP_KINDS[self.spec.kind]) or ""
        self.key = self.environ.get(variable) or None
        if self.spec.kind == "deepl" and not self.key:
            raise InvalidRequest(
                f"system {self.spec.name!r}: DeepL needs an API key in the environment variable {variable} "
                "(or name another variable with key_env=NAME)"
            )

    def _http(self) -> Any:
        if self._client is None:
            try:
                import httpx
            except ModuleNotFoundError as exc:
                raise MissingDependency("httpx", "bench", "benchmarking an HTTP endpoint") from exc
            self._client = httpx.Client(timeout=self.timeout, transport=self.transport)
        return self._client

    def _request(self, source: str, target: str, texts: list[str]) -> tuple[str, dict[str, Any], dict[str, str]]:
        if self.spec.kind == "libretranslate":
            body: dict[str, Any] = {"q": texts, "source": source, "target": target, "format": "text"}
            if self.key:
                body["api_key"] = self.key
            return "/translate", body, {}
        if self.spec.kind == "deepl":
            # DeepL wants a regional English as a target; EN-US is its own default.
            deepl_target = "EN-US" if target == "en" else target.upper()
            body = {"text": texts, "source_lang": source.upper(), "target_lang": deepl_target}
            return "/v2/translate", body, {"Authorization": f"DeepL-Auth-Key {self.key}"}
        options: dict[str, Any] = {}
        if self.spec.option("beam"):
            options["beam_size"] = self.spec.int_option("beam", 4)
        if self.spec.option("max_length"):
            options["max_decoding_length"] = self.spec.int_option("max_length", 256)
        body = {"texts": texts, "source": source, "target": target, "options": options}
        if self.spec.option("model"):
            body["model"] = self.spec.option("model")
        headers = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        return "/v1/translate", body, headers

    def _texts(self, answer: Any, count: int) -> list[str]:
        if self.spec.kind == "libretranslate":
            texts = answer["translatedText"]
        else:
            texts = [row["text"] for row in answer["translations"]]
        if not isinstance(texts, list) or len(texts) != count:
            raise SystemFailed(f"system {self.spec.name!r} ({self.url}) answered {len(texts)} texts for {count}")
        return [str(t) for t in texts]

    def translate(self, texts: Sequence[str], source: str, target: str) -> list[str]:
        import httpx

        path, body, headers = self._request(source, target, list(texts))
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                response = self._http().post(self.url + path, json=body, headers=headers)
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
                continue
            if response.status_code == 429 or response.status_code >= 500:
                problem = f"HTTP {response.status_code}: {response.text[:200]}"
                continue
            if response.status_code != 200:
                # A client error (bad key, unsupported pair) will not heal with retries.
                raise SystemFailed(
                    f"system {self.spec.name!r} ({self.url}{path}) refused the request: "
                    f"HTTP {response.status_code}: {response.text[:300]}"
                )
            try:
                return self._texts(response.json(), len(texts))
            except (ValueError, KeyError, TypeError) as exc:
                raise SystemFailed(
                    f"system {self.spec.name!r} ({self.url}{path}) answered something that is not a "
                    f"{self.spec.kind} translation response: {exc!r}"
                ) from None
        raise SystemFailed(
            f"system {self.spec.name!r} ({self.url}{path}) failed {self.retries + 1} times; last: {problem}"
        )

    def existing_outputs(self, testset: TestSet) -> list[str] | None:
        return None

    def identity(self, source: str, target: str) -> str:
        return self.spec.text

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.spec.name,
            "kind": self.spec.kind,
            "spec": self.spec.text,
            "url": self.url,
            "options": {k: v for k, v in self.spec.options if k != "key_env"},
        }

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


@dataclass
class FileSystem:
    """Existing outputs read from a file (or a directory of ``<testset>.<pair>.txt`` files)."""

    spec: SystemSpec
    batch_size: int = 0

    def path_for(self, testset: TestSet) -> Path:
        path = Path(self.spec.location).expanduser()
        return path / f"{testset.name}.{testset.pair}.txt" if path.is_dir() else path

    def existing_outputs(self, testset: TestSet) -> list[str]:
        """The outputs for ``testset``: a file of exactly its lines, or of the whole set when ``--limit`` cut it.

        Raises:
            HypothesisFileError: the file is missing or has another number of lines.
        """
        path = self.path_for(testset)
        if not path.is_file():
            raise HypothesisFileError(f"system {self.spec.name!r}: hypothesis file {path} does not exist")
        lines = path.read_text(encoding="utf-8").splitlines()
        wanted = len(testset.sources)
        if len(lines) == wanted or (len(lines) == testset.total and testset.total >= wanted):
            return lines[:wanted]
        expected = f"{wanted}" if wanted == testset.total else f"{wanted} (or {testset.total}, the whole set)"
        raise HypothesisFileError(
            f"system {self.spec.name!r}: hypothesis file {path} has {len(lines)} lines but {testset.key} has "
            f"{expected} sentences; give one line per source sentence"
        )

    def translate(self, texts: Sequence[str], source: str, target: str) -> list[str]:
        raise HypothesisFileError(
            f"system {self.spec.name!r} reads outputs from {self.spec.location}; it translates nothing"
        )

    def identity(self, source: str, target: str) -> str:
        return self.spec.text

    def describe(self) -> dict[str, Any]:
        return {"name": self.spec.name, "kind": "file", "spec": self.spec.text, "path": self.spec.location}

    def close(self) -> None:
        return None


def open_system(spec: SystemSpec, environ: Mapping[str, str] | None = None, transport: Any = None) -> System:
    """The runnable system for a parsed spec (nothing is loaded or connected until it is used)."""
    environ = dict(os.environ) if environ is None else environ
    if spec.kind == "file":
        return FileSystem(spec)
    if spec.kind in HTTP_KINDS:
        return HttpSystem(spec, environ, transport)
    if spec.kind == "model":
        return ModelSystem(spec, environ)
    raise InvalidRequest(f"system {spec.name!r}: a {spec.kind} system cannot be scored for quality")
