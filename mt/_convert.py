"""``kakehashi convert``: a Hugging Face checkpoint (local directory or hub id) → a Kakehashi model directory.

The directory holds CTranslate2 weights (``model.bin``), the checkpoint's tokenizer files and the manifest.
CTranslate2's own converters do the weight conversion; one family detector per model type decides how
language tokens and prompts work (``FAMILY_DETECTORS``). Conversion writes into a temporary sibling
directory and renames it at the end, so a failed conversion never leaves a half-written model behind and
never touches an existing one unless ``force`` is given.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from mt._errors import ConversionError, InvalidRequest
from mt._languages import parse_language
from mt._manifest import Manifest, PromptFormat

QUANTIZATIONS = ("int8", "int8_float16", "int8_bfloat16", "int8_float32", "float16", "bfloat16", "float32")

_DECODER_TYPES = {
    "llama",
    "mistral",
    "mixtral",
    "qwen2",
    "qwen3",
    "qwen3_moe",
    "gemma",
    "gemma2",
    "gemma3",
    "gemma3_text",
    "phi",
    "phi3",
    "falcon",
    "gpt_neox",
    "gpt2",
    "gptj",
    "gpt_bigcode",
    "bloom",
    "mpt",
    "olmo",
    "olmo2",
    "cohere",
    "starcoder2",
    "codegen",
}


def _detect_family(config: Any, tokenizer: Any) -> str:
    model_type = getattr(config, "model_type", "")
    vocab = tokenizer.get_vocab() if tokenizer is not None else {}
    if model_type == "marian":
        return "marian"
    if model_type == "m2m_100":
        return "nllb" if "jpn_Jpan" in vocab or "eng_Latn" in vocab else "m2m100"
    if model_type == "nllb_moe":
        return "nllb"
    if model_type in {"t5", "mt5", "umt5"}:
        return "madlad" if "<2en>" in vocab else "t5"
    if model_type in {"mbart"}:
        return "mbart"
    if model_type in _DECODER_TYPES:
        return "llm"
    raise ConversionError(
        f"model type {model_type!r} is not supported; supported types: marian, m2m_100 (M2M100, NLLB), "
        f"t5/mt5 (MADLAD-400), mbart, and decoder-only {', '.join(sorted(_DECODER_TYPES))}"
    )


def _languages_from_vocab(family: str, vocab: dict[str, int], source: str) -> list[str]:
    found: set[str] = set()
    patterns: dict[str, str] = {
        "nllb": r"^([a-z]{3})_[A-Z][a-z]{3}$",
        "m2m100": r"^__([a-z]{2,3})__$",
        "madlad": r"^<2([a-z]{2,3})>$",
        "marian": r"^>>([a-z]{2,3})(?:_[A-Z][a-z]{3})?<<$",
        "mbart": r"^([a-z]{2})_[A-Z]{2}$",
    }
    pattern = patterns.get(family)
    if pattern:
        for token in vocab:
            match = re.match(pattern, token)
            if match:
                try:
                    found.add(parse_language(match[1]).code)
                except Exception:  # noqa: BLE001 - a language Kakehashi does not know is simply not listed
                    pass
    if not found and family == "marian":
        # opus-mt-ja-en style names carry the pair.
        match = re.search(r"opus-mt-([a-z]{2,3})-([a-z]{2,3})(?:$|[^a-z])", source)
        if match:
            found = {parse_language(match[1]).code, parse_language(match[2]).code}
    return sorted(found)


def _all_tokens(tokenizer: Any) -> dict[str, int]:
    """The vocabulary plus special and language tokens some tokenizers keep outside ``get_vocab()``."""
    tokens = dict(tokenizer.get_vocab())
    for token in [*getattr(tokenizer, "additional_special_tokens", []), *getattr(tokenizer, "lang_token_to_id", {})]:
        tokens.setdefault(str(token), -1)
    return tokens


def _load_tokenizer(source: str, revision: str | None, trust_remote_code: bool) -> Any:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(source, revision=revision, trust_remote_code=trust_remote_code)
    except Exception as exc:  # noqa: BLE001 - transformers raises many kinds; report them as one
        raise ConversionError(f"cannot load the tokenizer of {source}: {exc}") from exc


def convert_model(
    source: str,
    output: Path,
    *,
    quantization: str | None = "int8",
    force: bool = False,
    revision: str | None = None,
    name: str | None = None,
    languages: list[str] | None = None,
    prompt: PromptFormat | None = None,
    trust_remote_code: bool = False,
    manifest_extra: dict[str, Any] | None = None,
) -> Manifest:
    """Convert ``source`` (a local checkpoint directory or a hub id) into the model directory ``output``.

    Args:
        source: Hugging Face checkpoint directory, or a hub id such as ``Helsinki-NLP/opus-mt-ja-en``.
        output: Directory to create.
        quantization: One of :data:`QUANTIZATIONS`, or ``None`` to keep the checkpoint's precision.
        force: Replace ``output`` if it exists.
        revision: Hub revision (branch, tag or commit) to convert.
        name: Model name in the registry (default: the output directory's name).
        languages: Languages the model translates (default: read from the vocabulary).
        prompt: Prompt format for decoder-only models (default: the checkpoint's chat template).
        trust_remote_code: Passed to transformers for checkpoints with custom code.
        manifest_extra: Further manifest fields (corpora, training, license, …).

    Returns:
        The manifest written into ``output``.

    Raises:
        InvalidRequest: bad quantization, or ``output`` exists and ``force`` is false.
        ConversionError: the checkpoint cannot be loaded or converted.
    """
    if quantization is not None and quantization not in QUANTIZATIONS:
        raise InvalidRequest(f"unknown quantization {quantization!r}; accepted: {', '.join(QUANTIZATIONS)}")
    output = Path(output)
    if output.exists() and any(output.iterdir()) and not force:
        raise InvalidRequest(f"output directory {output} already exists and is not empty; pass --force to replace it")
    local = Path(source)
    if not local.exists() and (source.startswith((".", "/")) or source.count("/") != 1):
        raise ConversionError(
            f"{source} is neither a local checkpoint directory nor a hub id of the form 'organisation/name'"
        )
    try:
        import ctranslate2
        from ctranslate2.converters import TransformersConverter
        from transformers import AutoConfig
    except ImportError as exc:
        raise ConversionError(
            f"conversion needs torch and transformers ({exc}); install them with: pip install 'kakehashi[train]'"
        ) from exc
    try:
        config = AutoConfig.from_pretrained(source, revision=revision, trust_remote_code=trust_remote_code)
    except Exception as exc:  # noqa: BLE001
        raise ConversionError(f"cannot read a transformers config from {source}: {exc}") from exc
    tokenizer = _load_tokenizer(source, revision, trust_remote_code)
    family = _detect_family(config, tokenizer)
    extra = dict(manifest_extra or {})
    found_languages = (
        extra.pop("languages", None) or languages or _languages_from_vocab(family, _all_tokens(tokenizer), source)
    )
    if not found_languages:
        raise ConversionError(
            f"cannot tell which languages {source} translates; pass them with --languages (e.g. --languages ja,en)"
        )
    if family == "llm" and prompt is None:
        has_chat = bool(getattr(tokenizer, "chat_template", None))
        prompt = (
            PromptFormat() if has_chat else PromptFormat(template="{source_lang}: {text}\n{target_lang}:", stop=("\n",))
        )

    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        converter = TransformersConverter(
            source, revision=revision, trust_remote_code=trust_remote_code, low_cpu_mem_usage=True
        )
        converter.convert(str(staging), quantization=quantization, force=True)
        tokenizer.save_pretrained(str(staging))
        if local.is_dir():
            for extra_file in ("generation_config.json", "README.md", "LICENSE"):
                if (local / extra_file).is_file():
                    shutil.copy(local / extra_file, staging / extra_file)
        manifest = Manifest(
            name=str(extra.pop("name", None) or name or output.name),
            family=family,
            languages=tuple(parse_language(code).code for code in found_languages),
            source=str(source),
            revision=revision or _local_revision(local),
            quantization=quantization,
            license=str(extra.pop("license", None) or _license_of(local)),
            prompt=prompt,
            converter={"ctranslate2": ctranslate2.__version__, "transformers": _transformers_version()},
            max_input_tokens=int(
                extra.pop("max_input_tokens", 0) or getattr(config, "max_position_embeddings", 0) or 512
            ),
            pairs=tuple(tuple(p) for p in extra.pop("pairs", ())),
            max_positions=_max_positions(config, family),
            **extra,
        )
        manifest.save(staging)
    except (ConversionError, InvalidRequest):
        shutil.rmtree(staging, ignore_errors=True)
        raise
    except Exception as exc:  # noqa: BLE001 - CTranslate2's converters raise bare exceptions
        shutil.rmtree(staging, ignore_errors=True)
        raise ConversionError(f"converting {source} failed: {type(exc).__name__}: {exc}") from exc
    if output.exists():
        shutil.rmtree(output)
    staging.rename(output)
    return manifest


def _max_positions(config: Any, family: str) -> int:
    if family in ("madlad", "t5"):
        return 0  # relative position buckets: no table to run off
    return int(getattr(config, "max_position_embeddings", 0) or getattr(config, "n_positions", 0) or 0)


def _transformers_version() -> str:
    import transformers

    return str(transformers.__version__)


def _local_revision(local: Path) -> str | None:
    """A local checkpoint's hub commit if it was downloaded from the hub, else None."""
    for candidate in (local / ".huggingface" / "commit", local / "revision.txt"):
        if candidate.is_file():
            return candidate.read_text().strip()
    return None


def _license_of(local: Path) -> str:
    readme = local / "README.md"
    if readme.is_file():
        match = re.search(r"^license:\s*(\S+)", readme.read_text(encoding="utf-8", errors="replace"), re.MULTILINE)
        if match:
            return match[1]
    return "unknown"
