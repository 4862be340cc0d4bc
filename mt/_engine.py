"""The inference seam: one ``Translator`` interface, two CTranslate2 backends.

* :class:`EncoderDecoderTranslator` — ``ctranslate2.Translator`` for Marian/OPUS-MT, NLLB-200, M2M100,
  MADLAD-400 and mBART-50;
* :class:`DecoderOnlyTranslator` — ``ctranslate2.Generator`` for Llama-family LLMs fine-tuned for
  translation, driven by a prompt template and stop sequences, returning only the translation.

Both take already-segmented sentences; segmentation, routing and pivoting live in :mod:`mt._pipeline`.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Protocol

from mt._errors import InvalidModel, InvalidRequest
from mt._languages import Language
from mt._manifest import MANIFEST_NAME, Manifest, PromptFormat
from mt._tokenizers import HuggingFaceTokenizer, ModelTokenizer, SentencePieceTokenizer, language_token

COMPUTE_TYPES = (
    "auto",
    "default",
    "int8",
    "int8_float16",
    "int8_bfloat16",
    "int8_float32",
    "float16",
    "bfloat16",
    "float32",
)
DEVICES = ("auto", "cpu", "cuda")


def _option(default: Any, kind: str, request: bool = True, neutral: Any = None, doc: str = "", **bounds: float) -> Any:
    """A decoding option: its default, JSON type and bounds — the one description that validation, the REST
    request parser and the OpenAPI document all read. ``request=False``: set by the server, not by requests.
    ``neutral``: the option is the model's to recommend (manifest ``decoding``); unset (``None``), it takes the
    model's recommendation, else this value, which leaves decoding as it is. ``doc``: what the option does, for
    the OpenAPI document."""
    metadata = {"type": kind, "request": request, "bounds": bounds, "neutral": neutral, "doc": doc}
    return field(default=default, metadata=metadata)


_PYTHON_TYPES: dict[str, type] = {"integer": int, "number": float, "string": str}


@dataclass(frozen=True)
class TranslationOptions:
    """Decoding options shared by every backend.

    ``max_batch_tokens`` bounds each CTranslate2 batch by tokens rather than by sentences.
    ``sampling_topk`` > 1 or ``sampling_temperature`` ≠ 1 switch from beam search to sampling.
    ``length_penalty``, ``repetition_penalty``, ``no_repeat_ngram_size`` and ``reconstruction_weight`` left unset
    (``None``) take the model's recommendation (its manifest's ``decoding``), else their neutral value (1, 1, 0, 0):
    see :meth:`for_model`. ``reconstruction_weight`` > 0 reranks the beam's hypotheses by how well the model
    translates each back into the source (see :class:`EncoderDecoderTranslator`).
    """

    beam_size: int = _option(4, "integer", minimum=1, maximum=16)
    n_best: int = _option(1, "integer", minimum=1, maximum=16)
    # Bounds keep every value meaningful in CTranslate2's float32 (1e-320 is 0 there; -1e17 overflows scores).
    length_penalty: float | None = _option(None, "number", neutral=1.0, minimum=0, maximum=10)
    repetition_penalty: float | None = _option(None, "number", neutral=1.0, minimum=0.01, maximum=100)
    no_repeat_ngram_size: int | None = _option(None, "integer", neutral=0, minimum=0, maximum=10)
    reconstruction_weight: float | None = _option(
        None,
        "number",
        neutral=0.0,
        doc="Rerank the beam's hypotheses by the model's own score plus this weight times how well the model "
        "translates each hypothesis back into the source (its length-normalised log-probability); 0 keeps the "
        "beam's order. For models that translate both ways; costs about a second decoding; not applied to "
        "streamed translations.",
        minimum=0,
        maximum=10,
    )
    # At most the model's vocabulary size (checked when decoding); 0 samples from the whole vocabulary.
    sampling_topk: int = _option(1, "integer", minimum=0)
    sampling_topp: float = _option(1.0, "number", minimum=0.01, maximum=1)
    sampling_temperature: float = _option(1.0, "number", minimum=0.01, maximum=100)
    max_decoding_length: int = _option(256, "integer", minimum=1, maximum=4096)
    max_input_tokens: int | None = _option(None, "integer", request=False, minimum=8)
    max_batch_tokens: int = _option(4096, "integer", request=False, minimum=64)
    target_prefix: str | None = _option(None, "string")

    def __post_init__(self) -> None:
        for f in fields(self):
            problem = _out_of_bounds(getattr(self, f.name), f.metadata["bounds"])
            if problem:
                raise InvalidRequest(f"{f.name} must be {problem}")
        if self.n_best > max(self.beam_size, self.sampling_topk):
            raise InvalidRequest("n_best cannot exceed beam_size")

    @property
    def sampling(self) -> bool:
        return self.sampling_topk != 1 or self.sampling_temperature != 1.0 or self.sampling_topp != 1.0

    @classmethod
    def recommendable(cls) -> dict[str, Any]:
        """The options a model may recommend, with their neutral values."""
        return {f.name: f.metadata["neutral"] for f in fields(cls) if f.metadata.get("neutral") is not None}

    @classmethod
    def check_recommendation(cls, decoding: Mapping[str, Any]) -> None:
        """Raise :class:`InvalidRequest` unless ``decoding`` names only recommendable options, within bounds."""
        unknown = set(decoding) - set(cls.recommendable())
        if unknown:
            accepted = ", ".join(cls.recommendable())
            raise InvalidRequest(f"unknown decoding option(s) {', '.join(sorted(unknown))}; accepted: {accepted}")
        cls.from_json(dict(decoding))

    def for_model(self, decoding: Mapping[str, Any]) -> TranslationOptions:
        """These options with every unset recommendable option taken from ``decoding`` (a model's recommendation,
        checked when the model loads), else its neutral value: what the model decodes with."""
        chosen = {
            name: decoding.get(name, neutral)
            for name, neutral in self.recommendable().items()
            if getattr(self, name) is None
        }
        return replace(self, **chosen) if chosen else self

    def cache_key(self) -> dict[str, Any]:
        """The options that change the output (everything but batching), for cache keys."""
        data = dict(self.__dict__)
        data.pop("max_batch_tokens")
        return data

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """The JSON schema of the options a request may set (the REST API's ``options`` object)."""
        properties: dict[str, Any] = {}
        for f in fields(cls):
            if f.metadata["request"]:
                schema: dict[str, Any] = {"type": f.metadata["type"], **f.metadata["bounds"]}
                if f.default is not None:
                    schema["default"] = f.default
                doc = [f.metadata["doc"]] if f.metadata.get("doc") else []
                if f.metadata.get("neutral") is not None:
                    doc.append(
                        f"Default: the model's recommendation (GET /v1/models, `decoding`), else {f.metadata['neutral']}."
                    )
                if doc:
                    schema["description"] = " ".join(doc)
                properties[f.name] = schema
        return {"type": "object", "additionalProperties": False, "properties": properties}

    @classmethod
    def from_json(cls, raw: Any, **server: Any) -> TranslationOptions:
        """Options from a request's JSON object (types checked here, bounds by the constructor); ``server``
        sets the options requests may not (``max_batch_tokens``, ``max_input_tokens``).

        Raises:
            InvalidRequest: not an object, an unknown option, or a value of the wrong type or out of bounds.
        """
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise InvalidRequest("'options' must be an object")
        accepted = {f.name: f.metadata["type"] for f in fields(cls) if f.metadata["request"]}
        unknown = set(raw) - set(accepted)
        if unknown:
            raise InvalidRequest(f"unknown option(s) {', '.join(sorted(unknown))}; accepted: {', '.join(accepted)}")
        values: dict[str, Any] = {}
        for key, value in raw.items():
            if value is None:
                continue
            kind = accepted[key]
            numeric = (int,) if kind == "integer" else (int, float)
            if kind == "string" and not isinstance(value, str):
                raise InvalidRequest(f"option {key!r} must be a string")
            if kind != "string" and (isinstance(value, bool) or not isinstance(value, numeric)):
                raise InvalidRequest(f"option {key!r} must be {'an integer' if kind == 'integer' else 'a number'}")
            values[key] = _PYTHON_TYPES[kind](value)
        return cls(**{**values, **server})


def _out_of_bounds(value: Any, bounds: dict[str, float]) -> str | None:
    """How ``value`` misses its bounds, in words (``None`` when it is within them or unset)."""
    if value is None or not bounds:
        return None
    low, high, above = bounds.get("minimum"), bounds.get("maximum"), bounds.get("exclusiveMinimum")
    ok = (low is None or value >= low) and (high is None or value <= high) and (above is None or value > above)
    if ok:
        return None
    if above is not None:
        return f"in ({above:g}, {high:g}]" if high is not None else f"> {above:g}"
    return f"between {low:g} and {high:g}" if high is not None else f"≥ {low:g}"


@dataclass(frozen=True)
class Hypothesis:
    text: str
    score: float
    tokens: int


@dataclass(frozen=True)
class SegmentResult:
    """One sentence's translation: the best hypothesis first, then the other n-best ones."""

    hypotheses: tuple[Hypothesis, ...]
    source_tokens: int
    cached: bool = False

    @property
    def text(self) -> str:
        return self.hypotheses[0].text

    @property
    def score(self) -> float:
        return self.hypotheses[0].score


# CTranslate2 cuts every CPU call into sub-batches of this many source tokens and runs them on its replicas side
# by side. Fixed, so that a sentence's batch-mates (and so its int8 output) do not depend on the thread layout.
CPU_SUB_BATCH_TOKENS = 256


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, which containers and ``taskset`` narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class RuntimeOptions:
    """Where and how a model runs; ``auto`` picks CUDA when present and int8 on CPU, int8_float16 on GPU.

    Threads: ``inter_threads`` replicas of the model each run one batch at a time with ``intra_threads`` OpenMP
    threads. 0 for both (the default) lays them out by itself: on CPU one single-threaded replica per CPU of
    ``cpu_share`` (0: every CPU of this process; a server with several worker processes gives each its part).
    OpenMP threads inside one batch spin while they wait for each other, and when another process holds a core
    they wait for it for a whole scheduler slice: one thread per replica never waits for another, so a contended
    machine slows in proportion instead of stalling (``benchmarks/threads.py``). Given counts are used as they are.
    """

    device: str = "auto"
    compute_type: str = "auto"
    inter_threads: int = 0
    intra_threads: int = 0
    device_index: tuple[int, ...] = (0,)
    cpu_share: int = 0

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise InvalidRequest(f"unknown device {self.device!r}; accepted: {', '.join(DEVICES)}")
        if self.compute_type not in COMPUTE_TYPES:
            raise InvalidRequest(f"unknown compute type {self.compute_type!r}; accepted: {', '.join(COMPUTE_TYPES)}")
        for name in ("inter_threads", "intra_threads", "cpu_share"):
            if getattr(self, name) < 0:
                raise InvalidRequest(f"{name} must be ≥ 0 (0 = chosen from the CPUs), not {getattr(self, name)}")

    def threads(self, device: str) -> tuple[int, int]:
        """(inter_threads, intra_threads) for ``device`` (``cpu`` or ``cuda``), with automatic values resolved."""
        if self.inter_threads == 0 and self.intra_threads == 0:
            if device != "cpu":
                return 1, 1
            return max(1, self.cpu_share or available_cpus()), 1
        return max(1, self.inter_threads), self.intra_threads

    def resolve(self) -> tuple[str, str]:
        import ctranslate2

        device = self.device
        if device == "auto":
            device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
        compute_type = self.compute_type
        if compute_type == "auto":
            compute_type = "int8_float16" if device == "cuda" else "int8"
        supported = ctranslate2.get_supported_compute_types(device)
        if compute_type not in supported and compute_type != "default":
            raise InvalidRequest(
                f"compute type {compute_type!r} is not supported on {device}; supported: {', '.join(sorted(supported))}"
            )
        return device, compute_type


class Translator(Protocol):
    """What the rest of Kakehashi needs from a model.

    Wrappers implement it too (the REST service's cache and micro-batcher wrap the CTranslate2 translators), so
    the pipeline only ever calls down. ``deadline`` is a ``time.monotonic()`` instant after which the caller
    stops waiting: wrappers that queue honour it; a running CTranslate2 call cannot be interrupted.
    ``count_tokens`` with the languages counts what the model will be given for that pair.
    """

    manifest: Manifest

    def translate_segments(
        self,
        segments: Sequence[str],
        source: Language,
        target: Language,
        options: TranslationOptions,
        deadline: float | None = None,
    ) -> list[SegmentResult]: ...

    def count_tokens(self, text: str, source: Language | None = None, target: Language | None = None) -> int: ...

    def stream_segment(
        self,
        sentence: str,
        source: Language,
        target: Language,
        options: TranslationOptions,
        deadline: float | None = None,
    ) -> Iterator[str]: ...


class _EncodingMemo:
    """The last few sentences' source tokens, so that counting them (to split long sentences and to size
    batches) and translating them tokenise each sentence once."""

    def __init__(self, size: int = 4096):
        self.size = size
        self._items: OrderedDict[tuple[str, str | None, str | None], list[str]] = OrderedDict()
        self._lock = threading.Lock()

    def get(
        self, text: str, source: Language | None, target: Language | None, encode: Callable[[], list[str]]
    ) -> list[str]:
        key = (text, source.code if source else None, target.code if target else None)
        with self._lock:
            found = self._items.get(key)
        if found is None:
            found = encode()
            with self._lock:
                self._items[key] = found
                # Bounded: a long-running server sees endless new sentences.
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
        return found


def _sampling_arguments(options: TranslationOptions) -> dict[str, Any]:
    """The CTranslate2 arguments every decoding call shares, streamed or batched."""
    return {
        "sampling_topk": options.sampling_topk,
        "sampling_topp": options.sampling_topp,
        "sampling_temperature": options.sampling_temperature,
        "repetition_penalty": options.repetition_penalty,
        "no_repeat_ngram_size": options.no_repeat_ngram_size,
    }


def _sub_batch_tokens(options: TranslationOptions, device: str) -> int:
    """Tokens per CTranslate2 batch: fixed sub-batches on CPU (which the replicas run side by side)."""
    return min(options.max_batch_tokens, CPU_SUB_BATCH_TOKENS) if device == "cpu" else options.max_batch_tokens


def _search_arguments(options: TranslationOptions, device: str) -> dict[str, Any]:
    """The CTranslate2 arguments of a batched call: token-bounded batches, beam search (unless sampling), n-best."""
    return {
        **_sampling_arguments(options),
        "max_batch_size": _sub_batch_tokens(options, device),
        "batch_type": "tokens",
        "beam_size": 1 if options.sampling else options.beam_size,
        "num_hypotheses": options.n_best,
        "length_penalty": options.length_penalty,
        "return_scores": True,
    }


def _deltas(pieces: Iterator[str], decode: Callable[[list[str]], str]) -> Iterator[str]:
    """Turn a stream of tokens into a stream of text increments (what was added since the last one)."""
    tokens: list[str] = []
    sent = ""
    for piece in pieces:
        tokens.append(piece)
        text = decode(tokens)
        # Hold back a trailing replacement character: the next byte token may complete it.
        if text.startswith(sent) and len(text) > len(sent) and not text.endswith("\ufffd"):
            yield text[len(sent) :]
            sent = text


def _length_normalised(score: float, tokens: int) -> float:
    return score / max(tokens, 1)


def _load_ctranslate2(kind: Any, directory: Path, runtime: RuntimeOptions) -> tuple[Any, str, str]:
    """A ``ctranslate2.Translator`` or ``Generator`` on the resolved device; returns (model, device, compute type)."""
    device, compute_type = runtime.resolve()
    inter_threads, intra_threads = runtime.threads(device)
    try:
        model = kind(
            str(directory),
            device=device,
            compute_type=compute_type,
            device_index=list(runtime.device_index),
            inter_threads=inter_threads,
            intra_threads=intra_threads,
        )
    except (RuntimeError, ValueError) as exc:
        raise InvalidModel(directory, f"CTranslate2 cannot load the weights ({exc})") from exc
    return model, device, compute_type


def _refused_options(exc: ValueError) -> InvalidRequest:
    """CTranslate2 checks some options against the model (``sampling_topk`` against its vocabulary size) and
    raises ValueError with what it accepts: the request's fault, not the server's."""
    return InvalidRequest(f"the model refused the decoding options: {exc}")


class _CTranslate2Backend:
    """What both CTranslate2 backends share: the :class:`Translator` methods, over each one's batch and stream.

    ``deadline`` is not used: a running CTranslate2 call cannot be interrupted.
    """

    manifest: Manifest
    model: Any
    device: str

    @property
    def replicas(self) -> int:
        """How many batches the model runs at once (its CTranslate2 replicas)."""
        return int(self.model.num_translators)

    def translate_segments(
        self,
        segments: Sequence[str],
        source: Language,
        target: Language,
        options: TranslationOptions,
        deadline: float | None = None,
    ) -> list[SegmentResult]:
        if not segments:
            return []
        chosen = options.for_model(self.manifest.decoding)
        if chosen.reconstruction_weight and not self.translates_back(source, target):
            raise InvalidRequest(
                f"reconstruction_weight reranks translations by translating them back ({target.code}→{source.code}), "
                f"which model {self.manifest.name!r} does not do; accepted here: 0 (or leave it unset)"
            )
        try:
            return self._translate(segments, source, target, chosen)
        except ValueError as exc:
            raise _refused_options(exc) from exc

    def translates_back(self, source: Language, target: Language) -> bool:
        """Whether the model can score a ``source`` → ``target`` translation back into the source."""
        return False

    def stream_segment(
        self,
        sentence: str,
        source: Language,
        target: Language,
        options: TranslationOptions,
        deadline: float | None = None,
    ) -> Iterator[str]:
        """Greedy (or sampled) decoding of one sentence, yielding text as tokens arrive."""
        try:
            yield from self._stream(sentence, source, target, options.for_model(self.manifest.decoding))
        except ValueError as exc:
            raise _refused_options(exc) from exc

    def _translate(
        self, segments: Sequence[str], source: Language, target: Language, options: TranslationOptions
    ) -> list[SegmentResult]:
        raise NotImplementedError

    def _stream(self, sentence: str, source: Language, target: Language, options: TranslationOptions) -> Iterator[str]:
        raise NotImplementedError


class EncoderDecoderTranslator(_CTranslate2Backend):
    """A converted encoder-decoder model run by ``ctranslate2.Translator``."""

    def __init__(self, directory: Path, manifest: Manifest, runtime: RuntimeOptions):
        import ctranslate2

        self.manifest = manifest
        self.directory = directory
        self.tokenizer: ModelTokenizer = (
            SentencePieceTokenizer(directory) if manifest.family == "marian" else HuggingFaceTokenizer(directory)
        )
        self.model, self.device, self.compute_type = _load_ctranslate2(ctranslate2.Translator, directory, runtime)
        self._memo = _EncodingMemo()

    def count_tokens(self, text: str, source: Language | None = None, target: Language | None = None) -> int:
        return len(self._source_tokens(text, source, target))

    def _source_tokens(self, text: str, source: Language | None, target: Language | None) -> list[str]:
        return self._memo.get(text, source, target, lambda: self._encode(text, source, target))

    def _encode(self, text: str, source: Language | None, target: Language | None) -> list[str]:
        family = self.manifest.family
        pair = (source.code if source else "?", target.code if target else "?")
        if family == "marian":
            tokens = self.tokenizer.encode(text)
            if target is not None and any(t.startswith(">>") and t.endswith("<<") for t in self._language_tokens()):
                tokens = [language_token(self.tokenizer, target, family, pair), *tokens]
            return tokens
        hf = self.tokenizer
        assert isinstance(hf, HuggingFaceTokenizer)
        if family in ("nllb", "m2m100", "mbart"):
            body = hf.encode(text, add_special_tokens=False)
            code = language_token(hf, source, family, pair) if source is not None else None
            if family == "nllb" and getattr(hf.hf, "legacy_behaviour", False):
                return [*body, "</s>", *([code] if code else [])]
            return [*([code] if code else []), *body, "</s>"]
        if family == "madlad":
            # The target tag goes first, as its own token: encoding "<2en> text" as one string puts a lone "▁"
            # before the tag with the non-legacy T5 tokenizers of transformers 5.
            code = language_token(hf, target, family, pair) if target is not None else ""
            return [code, *hf.encode(text)] if code else hf.encode(text)
        return hf.encode(text)

    def _language_tokens(self) -> list[str]:
        if not hasattr(self, "_lang_tokens"):
            vocab = getattr(self.tokenizer, "vocab", ())
            self._lang_tokens = [t for t in vocab if t.startswith(">>") and t.endswith("<<")]
        return self._lang_tokens

    def _language_prefix(self, target: Language, source: Language) -> list[str]:
        family = self.manifest.family
        if family in ("nllb", "m2m100", "mbart"):
            return [language_token(self.tokenizer, target, family, (source.code, target.code))]
        return []

    def _user_prefix(self, options: TranslationOptions) -> list[str]:
        if not options.target_prefix:
            return []
        return [t for t in self.tokenizer.encode(options.target_prefix) if t not in self.tokenizer.special_tokens]

    def translates_back(self, source: Language, target: Language) -> bool:
        return self.manifest.serves(target.base, source.base)

    def _reconstruction_scores(
        self, pairs: Sequence[tuple[str, str]], source: Language, target: Language, options: TranslationOptions
    ) -> list[float]:
        """For each (source sentence, hypothesis): the model's length-normalised log-probability of the sentence
        as the translation of the hypothesis (``target`` → ``source``), end of sentence included."""
        # Sequences longer than the position table cannot be scored; the table's end bounds them.
        max_length = self.manifest.max_positions - 1 if self.manifest.max_positions else None
        backwards = [self._encode(hypothesis, target, source)[:max_length] for _, hypothesis in pairs]
        prefix = self._language_prefix(source, target)
        sentences = [(prefix + self.tokenizer.encode_target(sentence))[:max_length] for sentence, _ in pairs]
        scored = self.model.score_batch(
            backwards,
            sentences,
            max_batch_size=_sub_batch_tokens(options, self.device),
            batch_type="tokens",
            max_input_length=0,
        )
        return [sum(result.log_probs) / max(len(result.log_probs), 1) for result in scored]

    def _reranked(
        self,
        segments: Sequence[str],
        candidates: list[list[Hypothesis]],
        source: Language,
        target: Language,
        options: TranslationOptions,
    ) -> list[list[Hypothesis]]:
        """Each segment's hypotheses ordered by their own score plus ``reconstruction_weight`` times their
        reconstruction score, the first ``n_best`` kept. Scores stay the model's own (forward) scores."""
        weight = options.reconstruction_weight or 0.0
        pairs = [(segment, h.text) for segment, found in zip(segments, candidates) for h in found]
        backward = iter(self._reconstruction_scores(pairs, source, target, options))
        reranked = []
        for found in candidates:
            scored = [(h.score + weight * next(backward), i, h) for i, h in enumerate(found)]
            scored.sort(key=lambda item: (-item[0], item[1]))
            reranked.append([h for _, _, h in scored[: options.n_best]])
        return reranked

    def _translate(
        self, segments: Sequence[str], source: Language, target: Language, options: TranslationOptions
    ) -> list[SegmentResult]:
        batch = [self._source_tokens(s, source, target) for s in segments]
        language_prefix = self._language_prefix(target, source)
        prefix = language_prefix + self._user_prefix(options)
        strip = len(language_prefix)
        max_length = options.max_decoding_length
        if self.manifest.max_positions:
            # Decoding past the position table is an error in CTranslate2; stop at its end instead.
            max_length = min(max_length, self.manifest.max_positions - 1)
        arguments = _search_arguments(options, self.device)
        if options.reconstruction_weight:
            # Rerank every hypothesis the search ends with (the beam, or the samples asked for).
            arguments["num_hypotheses"] = max(options.n_best, arguments["beam_size"])
        results = self.model.translate_batch(
            batch,
            target_prefix=[prefix] * len(batch) if prefix else None,
            max_input_length=0,
            max_decoding_length=max_length,
            **arguments,
        )
        candidates = [
            # Language-code prefixes are not part of the text; a user's target prefix is.
            [
                Hypothesis(self.tokenizer.decode(hyp[strip:]), float(score), len(hyp))
                for hyp, score in zip(result.hypotheses, result.scores)
            ]
            for result in results
        ]
        if options.reconstruction_weight:
            candidates = self._reranked(segments, candidates, source, target, options)
        return [SegmentResult(tuple(found), len(tokens)) for tokens, found in zip(batch, candidates)]

    def _stream(self, sentence: str, source: Language, target: Language, options: TranslationOptions) -> Iterator[str]:
        language_prefix = self._language_prefix(target, source)
        prefix = language_prefix + self._user_prefix(options)
        max_length = options.max_decoding_length
        if self.manifest.max_positions:
            max_length = min(max_length, self.manifest.max_positions - 1)
        steps = self.model.generate_tokens(
            self._source_tokens(sentence, source, target),
            target_prefix=prefix or None,
            max_decoding_length=max_length,
            max_input_length=0,
            **_sampling_arguments(options),
        )
        user_prefix = self._user_prefix(options)
        pieces = (step.token for step in steps if not step.is_last or step.token not in self.tokenizer.special_tokens)
        yield from _deltas(_prepend(user_prefix, pieces), self.tokenizer.decode)


def _prepend(first: list[str], rest: Iterator[str]) -> Iterator[str]:
    yield from first
    yield from rest


class DecoderOnlyTranslator(_CTranslate2Backend):
    """A converted decoder-only LLM run by ``ctranslate2.Generator`` with a prompt template."""

    def __init__(self, directory: Path, manifest: Manifest, runtime: RuntimeOptions):
        import ctranslate2

        self.manifest = manifest
        self.directory = directory
        self.prompt = manifest.prompt or PromptFormat()
        tokenizer = HuggingFaceTokenizer(directory)
        self.tokenizer = tokenizer
        self.model, self.device, self.compute_type = _load_ctranslate2(ctranslate2.Generator, directory, runtime)
        if self.prompt.template == "chat" and not getattr(tokenizer.hf, "chat_template", None):
            raise InvalidModel(directory, "its manifest asks for the chat template, but the tokenizer has none")
        self._memo = _EncodingMemo()

    def render_prompt(self, text: str, source: Language, target: Language) -> str:
        values = {"source_lang": source.name, "target_lang": target.name, "text": text}
        if self.prompt.template == "chat":
            message = self.prompt.instruction.format(**values)
            rendered = self.tokenizer.hf.apply_chat_template(
                [{"role": "user", "content": message}], tokenize=False, add_generation_prompt=True
            )
            return str(rendered)
        return self.prompt.template.format(**values)

    def _prompt_tokens(self, text: str, source: Language, target: Language) -> list[str]:
        def encode() -> list[str]:
            rendered = self.render_prompt(text, source, target)
            # A chat template already contains the BOS token; a plain template gets the tokenizer's specials.
            return self.tokenizer.encode(rendered, add_special_tokens=self.prompt.template != "chat")

        return self._memo.get(text, source, target, encode)

    def count_tokens(self, text: str, source: Language | None = None, target: Language | None = None) -> int:
        """The prompt's length when the languages are given (what the model reads), else the text's alone."""
        if source is not None and target is not None:
            return len(self._prompt_tokens(text, source, target))
        return len(self._memo.get(text, None, None, lambda: self.tokenizer.encode(text, add_special_tokens=False)))

    def _end_tokens(self) -> list[str]:
        hf = self.tokenizer.hf
        ends = {t for t in (hf.eos_token,) if t}
        for stop in self.prompt.stop:
            pieces = self.tokenizer.encode(stop, add_special_tokens=False)
            if len(pieces) == 1:
                ends.add(pieces[0])
        for special in ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>"):
            if self.tokenizer.has_token(special):
                ends.add(special)
        return sorted(ends)

    def extract_answer(self, generated: str) -> str:
        """Only the translation: cut at the first stop sequence, strip whitespace and wrapping quotes."""
        # Models often open their answer with a space or a line break; only what follows is the answer.
        text = generated.lstrip()
        for stop in self.prompt.stop:
            index = text.find(stop)
            if index >= 0:
                text = text[:index]
        return text.strip()

    def _translate(
        self, segments: Sequence[str], source: Language, target: Language, options: TranslationOptions
    ) -> list[SegmentResult]:
        prompts = [self._prompt_tokens(s, source, target) for s in segments]
        prefix_tokens: list[str] = []
        if options.target_prefix:
            prefix_tokens = self.tokenizer.encode(options.target_prefix, add_special_tokens=False)
        max_length = options.max_decoding_length
        if self.manifest.max_positions:
            longest = max(len(p) for p in prompts) + len(prefix_tokens)
            max_length = max(1, min(max_length, self.manifest.max_positions - longest))
        results = self.model.generate_batch(
            [p + prefix_tokens for p in prompts],
            max_length=max_length,
            end_token=self._end_tokens(),
            include_prompt_in_result=False,
            **_search_arguments(options, self.device),
        )
        out = []
        for prompt, result in zip(prompts, results):
            hypotheses = []
            for ids, score in zip(result.sequences_ids, result.scores):
                generated = self.tokenizer.hf.decode(ids, skip_special_tokens=True)
                text = self.extract_answer((options.target_prefix or "") + generated)
                hypotheses.append(Hypothesis(text, _length_normalised(float(score), len(ids)), len(ids)))
            out.append(SegmentResult(tuple(hypotheses), len(prompt)))
        return out

    def _stream(self, sentence: str, source: Language, target: Language, options: TranslationOptions) -> Iterator[str]:
        # Yields the answer's text only (what follows the prompt, up to a stop sequence).
        prompt = self._prompt_tokens(sentence, source, target)
        prefix_tokens = (
            self.tokenizer.encode(options.target_prefix, add_special_tokens=False) if options.target_prefix else []
        )
        max_length = options.max_decoding_length
        if self.manifest.max_positions:
            max_length = max(1, min(max_length, self.manifest.max_positions - len(prompt) - len(prefix_tokens)))
        steps = self.model.generate_tokens(
            prompt + prefix_tokens,
            max_length=max_length,
            end_token=self._end_tokens(),
            **_sampling_arguments(options),
        )
        prefix_text = options.target_prefix or ""

        def decode(ids: list[str]) -> str:
            generated = self.tokenizer.hf.decode([int(i) for i in ids], skip_special_tokens=True)
            return self.extract_answer(prefix_text + generated)

        yield from _deltas((str(step.token_id) for step in steps), decode)


def load_translator(directory: Path, runtime: RuntimeOptions | None = None) -> Translator:
    """Load a Kakehashi model directory with the backend its manifest names.

    Raises:
        InvalidModel: the directory lacks weights, manifest or tokenizer, or they cannot be loaded.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise InvalidModel(directory, "it is not a directory")
    manifest = Manifest.load(directory)
    try:
        TranslationOptions.check_recommendation(manifest.decoding)
    except InvalidRequest as exc:
        raise InvalidModel(directory, f"{MANIFEST_NAME}'s 'decoding' recommends what cannot be used: {exc}") from exc
    if manifest.decoding.get("reconstruction_weight") and (
        manifest.architecture == "decoder-only" or not manifest.translates_back()
    ):
        pairs = ", ".join(f"{a}→{b}" for a, b in manifest.directions())
        raise InvalidModel(
            directory,
            f"{MANIFEST_NAME}'s 'decoding' recommends reconstruction_weight, which needs an encoder-decoder model "
            f"that translates each of its directions back; this one is {manifest.architecture} and translates {pairs}",
        )
    if not (directory / "model.bin").is_file():
        raise InvalidModel(directory, "model.bin (the CTranslate2 weights) is missing")
    runtime = runtime or RuntimeOptions()
    if manifest.architecture == "decoder-only":
        return DecoderOnlyTranslator(directory, manifest, runtime)
    return EncoderDecoderTranslator(directory, manifest, runtime)
