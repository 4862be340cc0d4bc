"""``kakehashi train``: train an encoder-decoder translation model from scratch, or fine-tune a checkpoint.

Needs the ``train`` extra (torch). The recipe, in order:

1. load and clean the corpora (provenance ids kept), hold out a dev slice from corpora that have no dev split;
2. from scratch: train a joint sentencepiece vocabulary laid out the way Marian/OPUS-MT lays it out
   (``</s>`` = 0, ``<unk>`` = 1, target-language tokens ``>>xxx<<``, ``<pad>`` last), because CTranslate2's
   Marian converter drops the last vocabulary row and starts the decoder from a zero embedding;
3. length-bucketed token batches, label smoothing, warm-up then inverse-square-root decay, gradient clipping;
4. dev evaluation with sacreBLEU through CTranslate2 at intervals, keep-best, averaging of the last checkpoints;
5. resume after interruption from ``WORK_DIR/state.pt``; a time budget that spans resumed runs;
6. export a Hugging Face checkpoint, convert it to CTranslate2 with the manifest naming the corpora.
"""

from __future__ import annotations

import json
import logging
import math
import random
import shutil
import sys
import tempfile
import time
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mt._corpora import CleaningOptions, CleaningReport, ParallelPair, clean_pairs, load_corpus
from mt._errors import InvalidRequest, MissingDependency
from mt._evaluation import score_corpus
from mt._languages import family_tokens, parse_language
from mt._manifest import PromptFormat
from mt._prepared import DATA_FILE, load_prepared, load_token_data, save_prepared, save_token_data

log = logging.getLogger("kakehashi.train")


@dataclass
class TrainingConfig:
    """Everything that decides a training run; stored in the run's state and in the exported manifest."""

    train: list[str]
    output: Path
    work_dir: Path
    dev: list[str] = field(default_factory=list)
    name: str = "kakehashi-model"
    arch: str = "marian"
    init_from: str | None = None
    pretrain_fraction: float = 0.4
    bidirectional: bool = True
    sample: dict[str, int] = field(default_factory=dict)
    dev_holdout: int = 300
    dev_sentences: int = 250
    vocab_size: int = 8000
    d_model: int = 256
    encoder_layers: int = 3
    decoder_layers: int = 3
    attention_heads: int = 4
    ffn_dim: int = 1024
    dropout: float = 0.1
    max_tokens: int = 64
    batch_tokens: int = 3000
    learning_rate: float = 7e-4
    warmup_steps: int = 600
    label_smoothing: float = 0.1
    clip_norm: float = 1.0
    eval_minutes: float = 10.0
    log_every: int = 50
    checkpoint_minutes: float = 5.0
    average_last: int = 4
    time_budget_minutes: float | None = None
    session_minutes: float | None = None
    max_steps: int | None = None
    threads: int = 0
    seed: int = 1
    quantization: str = "int8"
    license: str = "unknown"
    device: str = "cpu"
    precision: str = "float32"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["output"] = str(self.output)
        data["work_dir"] = str(self.work_dir)
        return data


def _require_torch() -> Any:
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependency("torch", "train", "training") from exc
    return torch


# ---------------------------------------------------------------- data


def _holdout(pair: ParallelPair, per_mille: int) -> bool:
    return zlib.crc32(f"{pair.corpus}:{pair.pair_id}".encode()) % 1000 < per_mille


def _sample(pairs: list[ParallelPair], limit: int, seed: int) -> list[ParallelPair]:
    if limit >= len(pairs):
        return pairs
    rng = random.Random(seed)
    return rng.sample(pairs, limit)


def _first(pairs: Iterator[ParallelPair]) -> list[ParallelPair]:
    return [next(pairs)]


def prepare_data(config: TrainingConfig) -> tuple[list[ParallelPair], list[ParallelPair], dict[str, Any]]:
    """Load, clean and split the corpora; returns (train, dev, description of the corpora used)."""
    options = CleaningOptions()
    train: list[ParallelPair] = []
    dev: list[ParallelPair] = []
    corpora: dict[str, Any] = {}
    dev_names = {p.corpus for spec in config.dev for p in _first(load_corpus(spec))}
    for spec in config.train:
        report = CleaningReport()
        pairs = list(clean_pairs(load_corpus(spec), options, report))
        if not pairs:
            raise InvalidRequest(f"corpus {spec} has no usable pairs after cleaning ({report.as_dict()})")
        name = pairs[0].corpus
        held: list[ParallelPair] = []
        if name not in dev_names and config.dev_holdout:
            per_mille = max(1, min(200, round(1000 * config.dev_holdout / len(pairs))))
            held = [p for p in pairs if _holdout(p, per_mille)]
            pairs = [p for p in pairs if not _holdout(p, per_mille)]
        pairs = _sample(pairs, config.sample.get(name, len(pairs)), config.seed)
        train.extend(pairs)
        dev.extend(held[: config.dev_holdout])
        corpora[name] = {
            "spec": spec,
            "split": "train",
            "pairs_used": len(pairs),
            "cleaning": report.as_dict(),
            "dev_held_out": len(held[: config.dev_holdout]),
        }
    for spec in config.dev:
        dev.extend(list(clean_pairs(load_corpus(spec), CleaningOptions(drop_duplicates=False))))
    return train, dev, corpora


def _directions(pairs: Sequence[ParallelPair], bidirectional: bool) -> list[ParallelPair]:
    if not bidirectional:
        return list(pairs)
    return [p for pair in pairs for p in (pair, pair.reversed())]


# The sentencepiece layout CTranslate2's Marian converter expects: no <pad>/<s> pieces in the model (<pad> is
# appended as the last vocabulary row), </s> = 0, <unk> = 1, and byte fallback so that nothing maps to <unk>.
MARIAN_SPM_LAYOUT: dict[str, Any] = {
    "model_type": "unigram",
    "byte_fallback": True,
    "pad_id": -1,
    "bos_id": -1,
    "eos_id": 0,
    "unk_id": 1,
    "eos_piece": "</s>",
    "unk_piece": "<unk>",
}


class MarianVocabulary:
    """A joint sentencepiece model plus the Marian id layout: ``</s>``=0, ``<unk>``=1, language tokens, ``<pad>`` last."""

    def __init__(self, model_file: Path):
        import sentencepiece as spm

        self.model_file = model_file
        self.sp = spm.SentencePieceProcessor(model_file=str(model_file))
        self.pieces = [self.sp.id_to_piece(i) for i in range(self.sp.get_piece_size())]
        self.pad_id = len(self.pieces)
        self.eos_id = 0
        self.index = {p: i for i, p in enumerate(self.pieces)}

    @staticmethod
    def train(texts: Iterator[str], prefix: Path, vocab_size: int, language_tokens: Sequence[str]) -> MarianVocabulary:
        import sentencepiece as spm

        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=texts,
                model_prefix=str(prefix),
                vocab_size=vocab_size,
                character_coverage=0.9995,
                user_defined_symbols=list(language_tokens),
                **MARIAN_SPM_LAYOUT,
                input_sentence_size=400000,
                shuffle_input_sentence=True,
                minloglevel=2,
            )
        except RuntimeError as exc:
            if "Vocabulary size is smaller than required_chars" in str(exc):
                raise InvalidRequest(
                    f"--vocab-size {vocab_size} is smaller than the number of distinct characters the training data "
                    "needs (Japanese alone has thousands); use a larger --vocab-size, e.g. 8000"
                ) from exc
            raise
        return MarianVocabulary(prefix.with_suffix(".model"))

    def encode(self, text: str, language_token: str | None = None) -> list[int]:
        ids = self.sp.encode(text)
        prefix = [self.index[language_token]] if language_token else []
        return prefix + ids + [self.eos_id]

    def decode(self, pieces: Sequence[str]) -> str:
        return self.sp.decode_pieces([p for p in pieces if p not in ("</s>", "<pad>")])

    def write_hf_files(self, directory: Path) -> None:
        """The files transformers' MarianTokenizer reads (one shared vocabulary for both sides)."""
        vocab = {piece: i for i, piece in enumerate(self.pieces)}
        vocab["<pad>"] = self.pad_id
        (directory / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
        shutil.copy(self.model_file, directory / "source.spm")
        shutil.copy(self.model_file, directory / "target.spm")
        tokenizer_config = {
            "tokenizer_class": "MarianTokenizer",
            "model_max_length": 512,
            "separate_vocabs": False,
            "eos_token": "</s>",
            "unk_token": "<unk>",
            "pad_token": "<pad>",
        }
        (directory / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2), encoding="utf-8")


def _language_token(lang: str) -> str:
    return family_tokens(parse_language(lang), "marian")[-2]  # >>iso639-3<<


def _batches(lengths: Sequence[int], batch_tokens: int, rng: random.Random) -> list[list[int]]:
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], rng.random()))
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for i in order:
        longest_next = max(longest, lengths[i])
        if current and longest_next * (len(current) + 1) > batch_tokens:
            batches.append(current)
            current, longest_next = [], lengths[i]
        current.append(i)
        longest = longest_next
    if current:
        batches.append(current)
    rng.shuffle(batches)
    return batches


# ---------------------------------------------------------------- recipes (one per architecture)


def _pad(rows: Sequence[Sequence[int]], value: int, device: str = "cpu") -> Any:
    import numpy as np

    torch = _require_torch()
    width = max(len(r) for r in rows)
    out = np.full((len(rows), width), value, dtype=np.int64)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return torch.from_numpy(out).to(device, non_blocking=True)


def _lr_factor(step: int, warmup: int, rewarm_from: int | None = None) -> float:
    """Linear warm-up, then inverse-square-root decay; after a resume without optimizer moments, a short
    linear re-warm-up (``REWARM_STEPS``) so that fresh Adam moments do not take full-size steps."""
    step = max(step, 1)
    factor = min(step / warmup, math.sqrt(warmup / step))
    if rewarm_from is not None:
        factor *= min(1.0, (step - rewarm_from) / REWARM_STEPS)
    return factor


REWARM_STEPS = 200


def _zero_pad_row(model: Any, pad_id: int) -> None:
    # CTranslate2 starts the decoder from a zero vector where transformers looks up <pad>: keep that row zero
    # so both give the same output. With tied embeddings the output layer would otherwise move it.
    torch = _require_torch()
    with torch.no_grad():
        model.get_input_embeddings().weight[pad_id].zero_()


class MarianRecipe:
    """Encoder-decoder from scratch: Marian architecture, target-language tokens, joint sentencepiece."""

    family = "marian"

    def __init__(self, config: TrainingConfig):
        self.config = config
        self.vocab: MarianVocabulary | None = None

    def prompt(self) -> None:
        return None

    def vocabulary(self, work: Path, train_pairs: Sequence[ParallelPair], languages: Sequence[str]) -> None:
        prefix = work / "spm"
        if prefix.with_suffix(".model").exists():
            self.vocab = MarianVocabulary(prefix.with_suffix(".model"))
        else:
            texts = (t for p in train_pairs for t in (p.source, p.target))
            self.vocab = MarianVocabulary.train(
                texts, prefix, self.config.vocab_size, [_language_token(lang) for lang in languages]
            )

    def encode(self, examples: Sequence[ParallelPair]) -> dict[str, Any]:
        assert self.vocab is not None
        sources = [self.vocab.encode(p.source, _language_token(p.target_lang)) for p in examples]
        targets = [self.vocab.encode(p.target) for p in examples]
        cap = self.config.max_tokens
        keep = [i for i in range(len(examples)) if len(sources[i]) <= cap and len(targets[i]) <= cap]
        return {
            "sources": [sources[i] for i in keep],
            "targets": [targets[i] for i in keep],
            "dropped_too_long": len(examples) - len(keep),
        }

    def lengths(self, data: dict[str, Any], stage: int = 2) -> list[int]:
        return [max(len(s), len(t)) for s, t in zip(data["sources"], data["targets"])]

    def new_model(self) -> Any:
        from transformers import MarianConfig, MarianMTModel

        config, vocab = self.config, self.vocab
        assert vocab is not None
        model_config = MarianConfig(
            vocab_size=vocab.pad_id + 1,
            d_model=config.d_model,
            encoder_layers=config.encoder_layers,
            decoder_layers=config.decoder_layers,
            encoder_attention_heads=config.attention_heads,
            decoder_attention_heads=config.attention_heads,
            encoder_ffn_dim=config.ffn_dim,
            decoder_ffn_dim=config.ffn_dim,
            dropout=config.dropout,
            attention_dropout=0.0,
            activation_dropout=0.0,
            max_position_embeddings=max(256, 2 * config.max_tokens),
            pad_token_id=vocab.pad_id,
            eos_token_id=vocab.eos_id,
            decoder_start_token_id=vocab.pad_id,
            forced_eos_token_id=vocab.eos_id,
            scale_embedding=True,
            share_encoder_decoder_embeddings=True,
            tie_word_embeddings=True,
            activation_function="swish",
        )
        model = MarianMTModel(model_config)
        _zero_pad_row(model, vocab.pad_id)
        return model

    def loss(self, model: Any, data: dict[str, Any], rows: list[int], stage: int = 2) -> tuple[Any, int]:
        torch = _require_torch()
        vocab = self.vocab
        assert vocab is not None
        sources, targets = data["sources"], data["targets"]
        device = self.config.device
        input_ids = _pad([sources[i] for i in rows], vocab.pad_id, device)
        labels = _pad([targets[i] for i in rows], -100, device)
        # Teacher forcing starts from <pad>, the decoder start token of Marian models.
        decoder_input = _pad([[vocab.pad_id] + targets[i][:-1] for i in rows], vocab.pad_id, device)
        logits = model(
            input_ids=input_ids, attention_mask=(input_ids != vocab.pad_id).long(), decoder_input_ids=decoder_input
        ).logits
        loss = torch.nn.functional.cross_entropy(
            logits.view(-1, logits.size(-1)).float(),
            labels.view(-1),
            ignore_index=-100,
            label_smoothing=self.config.label_smoothing,
        )
        tokens = sum(len(sources[i]) + len(targets[i]) for i in rows)
        return loss, tokens

    def after_step(self, model: Any) -> None:
        assert self.vocab is not None
        _zero_pad_row(model, self.vocab.pad_id)

    def export(self, model: Any, directory: Path) -> None:
        vocab = self.vocab
        assert vocab is not None
        directory.mkdir(parents=True, exist_ok=True)
        model.generation_config.bad_words_ids = [[vocab.pad_id]]
        model.generation_config.max_length = 256
        model.save_pretrained(directory)
        vocab.write_hf_files(directory)


DECODER_TEMPLATE = "{source_lang}: {text}\n{target_lang}:"


class DecoderRecipe:
    """Decoder-only (Llama architecture): stage 1 causal LM on both languages' text, stage 2 translation
    prompts in both directions with the loss on the answer only. ``init_from`` fine-tunes an existing
    causal LM checkpoint (stage 2 only) with its own tokenizer."""

    family = "llm"

    def __init__(self, config: TrainingConfig):
        self.config = config
        self.tokenizer: Any = None

    def prompt(self) -> PromptFormat:
        return PromptFormat(template=DECODER_TEMPLATE, stop=("\n",))

    def vocabulary(self, work: Path, train_pairs: Sequence[ParallelPair], languages: Sequence[str]) -> None:
        from transformers import AutoTokenizer

        if self.config.init_from:
            self.tokenizer = AutoTokenizer.from_pretrained(self.config.init_from)
            return
        directory = work / "tokenizer"
        if not (directory / "tokenizer.json").exists():
            _train_bpe_tokenizer(
                directory, (t for p in train_pairs for t in (p.source, p.target)), self.config.vocab_size
            )
        self.tokenizer = AutoTokenizer.from_pretrained(directory)

    def _prompt_ids(self, pair: ParallelPair) -> list[int]:
        text = DECODER_TEMPLATE.format(
            source_lang=parse_language(pair.source_lang).name,
            text=pair.source,
            target_lang=parse_language(pair.target_lang).name,
        )
        return list(self.tokenizer(text)["input_ids"])

    def encode(self, examples: Sequence[ParallelPair]) -> dict[str, Any]:
        tok = self.tokenizer
        eos = tok.eos_token_id
        cap = self.config.max_tokens
        prompts, answers = [], []
        for pair in examples:
            prompt = self._prompt_ids(pair)
            answer = list(tok(" " + pair.target, add_special_tokens=False)["input_ids"]) + [eos]
            if len(prompt) + len(answer) <= 2 * cap:
                prompts.append(prompt)
                answers.append(answer)
        monolingual = []
        if not self.config.init_from:
            seen: set[str] = set()
            for pair in examples:
                if pair.source not in seen:
                    seen.add(pair.source)
                    ids = list(tok(pair.source)["input_ids"]) + [eos]
                    if len(ids) <= cap:
                        monolingual.append(ids)
        return {
            "prompts": prompts,
            "answers": answers,
            "monolingual": monolingual,
            "dropped_too_long": len(examples) - len(prompts),
        }

    def lengths(self, data: dict[str, Any], stage: int = 2) -> list[int]:
        if stage == 1:
            return [len(m) for m in data["monolingual"]]
        return [len(p) + len(a) for p, a in zip(data["prompts"], data["answers"])]

    def new_model(self) -> Any:
        from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

        if self.config.init_from:
            return AutoModelForCausalLM.from_pretrained(self.config.init_from)
        c, tok = self.config, self.tokenizer
        model_config = LlamaConfig(
            vocab_size=len(tok),
            hidden_size=c.d_model,
            intermediate_size=c.ffn_dim,
            num_hidden_layers=c.decoder_layers,
            num_attention_heads=c.attention_heads,
            num_key_value_heads=c.attention_heads,
            max_position_embeddings=max(256, 2 * c.max_tokens + 16),
            bos_token_id=tok.bos_token_id,
            eos_token_id=tok.eos_token_id,
            pad_token_id=tok.pad_token_id,
            tie_word_embeddings=True,
            attention_dropout=0.0,
        )
        return LlamaForCausalLM(model_config)

    def loss(self, model: Any, data: dict[str, Any], rows: list[int], stage: int = 2) -> tuple[Any, int]:
        torch = _require_torch()
        pad = self.tokenizer.pad_token_id
        if stage == 1:
            sequences = [data["monolingual"][i] for i in rows]
            labels_rows = sequences
        else:
            sequences = [data["prompts"][i] + data["answers"][i] for i in rows]
            # The loss is on the answer only: the prompt is given, not predicted.
            labels_rows = [[-100] * len(data["prompts"][i]) + data["answers"][i] for i in rows]
        device = self.config.device
        input_ids = _pad(sequences, pad, device)
        labels = _pad(labels_rows, -100, device)
        attention = _pad([[1] * len(s) for s in sequences], 0, device)
        logits = model(input_ids=input_ids, attention_mask=attention).logits
        shifted = logits[:, :-1].reshape(-1, logits.size(-1)).float()
        targets = labels[:, 1:].reshape(-1)
        loss = torch.nn.functional.cross_entropy(
            shifted, targets, ignore_index=-100, label_smoothing=self.config.label_smoothing
        )
        return loss, sum(len(s) for s in sequences)

    def after_step(self, model: Any) -> None:
        return None

    def export(self, model: Any, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(directory)
        self.tokenizer.save_pretrained(directory)


def _train_bpe_tokenizer(directory: Path, texts: Iterator[str], vocab_size: int) -> None:
    """A byte-level BPE tokenizer (every byte has a token, so no text is ever <unk>), saved as a working
    ``tokenizer.json`` — transformers 5 cannot build a Llama tokenizer from a raw sentencepiece file."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    directory.mkdir(parents=True, exist_ok=True)
    backend = Tokenizer(models.BPE())
    backend.normalizer = normalizers.NFC()
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<unk>", "<s>", "</s>", "<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(texts, trainer)
    backend.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", backend.token_to_id("<s>"))]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>"
    )
    tokenizer.save_pretrained(directory)


Recipe = MarianRecipe | DecoderRecipe


def make_recipe(config: TrainingConfig) -> Recipe:
    if config.arch == "marian":
        if config.init_from:
            raise InvalidRequest("--init-from fine-tunes causal LMs (--arch decoder); Marian models train from scratch")
        return MarianRecipe(config)
    if config.arch == "decoder":
        return DecoderRecipe(config)
    raise InvalidRequest(f"unknown architecture {config.arch!r}; accepted: marian, decoder")


# ---------------------------------------------------------------- evaluation through the engine


def _convert(
    checkpoint: Path,
    output: Path,
    quantization: str | None,
    manifest_extra: dict[str, Any],
    prompt: PromptFormat | None = None,
) -> None:
    from mt._convert import convert_model

    convert_model(
        str(checkpoint),
        output,
        quantization=quantization,
        force=True,
        manifest_extra=dict(manifest_extra),
        prompt=prompt,
    )


def evaluate_model(model_dir: Path, dev: Sequence[ParallelPair], threads: int) -> dict[str, Any]:
    """Greedy-decode the dev pairs with a converted model through the engine; sacreBLEU per direction."""
    from mt._engine import RuntimeOptions, TranslationOptions, load_translator

    translator = load_translator(model_dir, RuntimeOptions(device="cpu", compute_type="int8", intra_threads=threads))
    options = TranslationOptions(beam_size=1, max_decoding_length=160)
    scores: dict[str, Any] = {}
    by_direction: dict[str, list[ParallelPair]] = {}
    for pair in dev:
        by_direction.setdefault(f"{pair.source_lang}-{pair.target_lang}", []).append(pair)
    for direction, pairs in sorted(by_direction.items()):
        results = translator.translate_segments(
            [p.source for p in pairs],
            parse_language(pairs[0].source_lang),
            parse_language(pairs[0].target_lang),
            options,
        )
        hyps = [r.text for r in results]
        scored = score_corpus(hyps, [p.target for p in pairs], pairs[0].target_lang)
        scores[direction] = {
            "bleu": scored.bleu,
            "chrf": scored.chrf,
            "sentences": len(pairs),
            "example": hyps[0] if hyps else "",
        }
    scores["mean_chrf"] = round(sum(v["chrf"] for v in scores.values()) / max(1, len(by_direction)), 3)
    return scores


# ---------------------------------------------------------------- the run


class _Progress:
    def __init__(self, budget_s: float | None, max_steps: int | None):
        self.budget_s = budget_s
        self.max_steps = max_steps
        self.last = 0.0

    def show(self, step: int, elapsed: float, loss: Any, tokens_per_s: float, lr: float) -> None:
        """``loss`` is a tensor, read (a device synchronisation) only when the line is redrawn."""
        now = time.monotonic()
        if now - self.last < 2.0:
            return
        self.last = now
        loss = float(loss.detach()) if hasattr(loss, "detach") else float(loss)
        if self.max_steps:
            fraction = step / self.max_steps
        elif self.budget_s:
            fraction = elapsed / self.budget_s
        else:
            fraction = 0.0
        eta = (elapsed / fraction - elapsed) if fraction > 0 else float("nan")
        width = 24
        bar = "#" * int(width * min(fraction, 1.0))
        sys.stderr.write(
            f"\r[{bar:<{width}}] step {step} loss {loss:.3f} {tokens_per_s:,.0f} tok/s lr {lr:.2e} "
            f"elapsed {elapsed / 60:.1f}m ETA {eta / 60:.1f}m "
        )
        sys.stderr.flush()


def _average_state_dicts(paths: Sequence[Path]) -> dict[str, Any]:
    torch = _require_torch()
    total: dict[str, Any] = {}
    for path in paths:
        state = torch.load(path, map_location="cpu", weights_only=True)
        for key, value in state.items():
            if value.is_floating_point():
                total[key] = total.get(key, 0) + value.double() / len(paths)
            else:
                total[key] = value
    return {k: (v.float() if v.is_floating_point() else v) for k, v in total.items()}


def _stage_budget(config: TrainingConfig, recipe: Recipe) -> tuple[float | None, int | None]:
    """When stage 1 (language modelling) ends: (seconds, steps); (0, 0) for single-stage recipes."""
    if not isinstance(recipe, DecoderRecipe) or config.init_from or config.pretrain_fraction <= 0:
        return 0.0, 0
    seconds = config.time_budget_minutes * 60 * config.pretrain_fraction if config.time_budget_minutes else None
    steps = int(config.max_steps * config.pretrain_fraction) if config.max_steps else None
    return seconds, steps


def _check_same_model(work: Path, config: TrainingConfig) -> None:
    saved_config = work / "config.json"
    if not saved_config.exists():
        return
    previous = json.loads(saved_config.read_text())
    previous.setdefault("arch", "marian")
    for key in RESUME_KEYS:
        if previous.get(key) != config.to_json().get(key):
            raise InvalidRequest(
                f"{work} holds a run with {key}={previous.get(key)!r}, not {config.to_json().get(key)!r}; "
                "use another --work-dir or the same settings to resume"
            )


# Settings that define the model and its data: a run can only be resumed with the same values.
RESUME_KEYS = ("arch", "train", "vocab_size", "d_model", "encoder_layers", "decoder_layers", "bidirectional")
PRECISIONS = ("float32", "bfloat16")


def _sample_dev(dev_pairs: Sequence[ParallelPair], config: TrainingConfig) -> list[ParallelPair]:
    dev_examples = _directions(dev_pairs, config.bidirectional)
    dev_rng = random.Random(config.seed)
    dev_by_dir: dict[str, list[ParallelPair]] = {}
    for pair in dev_examples:
        dev_by_dir.setdefault(f"{pair.source_lang}-{pair.target_lang}", []).append(pair)
    return [p for pairs in dev_by_dir.values() for p in dev_rng.sample(pairs, min(len(pairs), config.dev_sentences))]


def prepare(
    config: TrainingConfig, recipe: Recipe
) -> tuple[dict[str, Any], dict[str, Any], list[ParallelPair], list[tuple[str, str]]]:
    """Token data, corpus description and dev pairs of a run: read from the work directory when it holds
    them (``--prepare-only`` wrote them), else built from the corpora and stored there."""
    torch = _require_torch()
    work = config.work_dir
    prepared = load_prepared(work)
    if prepared is not None:
        corpora, dev_pairs, directions = prepared
        recipe.vocabulary(work, [], sorted({lang for pair in directions for lang in pair}))
        return load_token_data(work / DATA_FILE), corpora, dev_pairs, directions
    train_pairs, dev_pairs, corpora = prepare_data(config)
    examples = _directions(train_pairs, config.bidirectional)
    directions = sorted({(p.source_lang, p.target_lang) for p in examples})
    languages = sorted({lang for pair in directions for lang in pair})
    recipe.vocabulary(work, train_pairs, languages)
    legacy = work / "data.pt"  # work directories of earlier versions
    if legacy.exists():
        data = torch.load(legacy, weights_only=False)
    else:
        log.info("tokenising %d examples", len(examples))
        data = recipe.encode(examples)
    save_token_data(work / DATA_FILE, data)
    save_prepared(work, corpora, dev_pairs, directions)
    if legacy.exists():
        legacy.unlink()
    return data, corpora, dev_pairs, directions


def _autocast(config: TrainingConfig) -> Any:
    torch = _require_torch()
    if config.precision not in PRECISIONS:
        raise InvalidRequest(f"unknown precision {config.precision!r}; accepted: {', '.join(PRECISIONS)}")
    dtype = torch.bfloat16 if config.precision == "bfloat16" else None
    device_type = torch.device(config.device).type
    return lambda: torch.autocast(device_type=device_type, dtype=dtype or torch.float32, enabled=dtype is not None)


def _run_record(config: TrainingConfig, run: dict[str, Any]) -> dict[str, Any]:
    import platform

    torch = _require_torch()
    device = config.device
    if torch.device(device).type == "cuda":
        device = f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    return {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "host": platform.node(),
        "device": device,
        "threads": torch.get_num_threads(),
        "precision": config.precision,
        "batch_tokens": config.batch_tokens,
        "learning_rate": config.learning_rate,
        "from_step": run["step"],
        "from_minutes": round(run["elapsed"] / 60, 2),
    }


def train(config: TrainingConfig, export: bool = True) -> dict[str, Any]:
    """Run (or resume) training; with ``export``, pick the best weights and export the converted model.
    Returns a summary of the run."""
    torch = _require_torch()
    recipe = make_recipe(config)
    work = config.work_dir
    work.mkdir(parents=True, exist_ok=True)
    random.seed(config.seed)
    torch.manual_seed(config.seed)
    if config.threads:
        torch.set_num_threads(config.threads)
    threads = torch.get_num_threads()
    device = torch.device(config.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    autocast = _autocast(config)

    state_path = work / "state.pt"
    resumed = state_path.exists()
    if resumed or load_prepared(work) is not None:
        _check_same_model(work, config)
    (work / "config.json").write_text(json.dumps(config.to_json(), indent=2, ensure_ascii=False))

    data, corpora, dev_pairs, directions = prepare(config, recipe)
    dev_examples = _sample_dev(dev_pairs, config)
    languages = sorted({lang for pair in directions for lang in pair})

    model = recipe.new_model()
    stage1_seconds, stage1_steps = _stage_budget(config, recipe)
    run: dict[str, Any] = {
        "step": 0,
        "epoch": 0,
        "batch": 0,
        "elapsed": 0.0,
        "best": None,
        "history": [],
        "losses": [],
        "checkpoints": [],
        "runs": [],
        "stage": 1 if (stage1_seconds or stage1_steps) else 2,
    }
    saved: dict[str, Any] = {}
    if resumed:
        saved = torch.load(state_path, map_location="cpu", weights_only=False)
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in saved["model"].items()})
        run = saved["run"]
        run.setdefault("stage", 2)
        run.setdefault("runs", [])
        random.setstate(saved["python_rng"])
        torch.set_rng_state(saved["torch_rng"])
        log.info("resumed at step %d (%.1f minutes trained)", run["step"], run["elapsed"] / 60)
    model.to(device)
    optimizer = torch.optim.AdamW(
        model.parameters(),
        lr=config.learning_rate,
        betas=(0.9, 0.98),
        eps=1e-9,
        weight_decay=0.0,
        fused=device.type == "cuda",
    )
    if saved.get("optimizer") and saved["optimizer"].get("state"):
        optimizer.load_state_dict(saved["optimizer"])
    elif resumed:
        run["rewarm_from"] = run["step"]
        log.info("no optimizer moments in the checkpoint: re-warming the learning rate over %d steps", REWARM_STEPS)
    run["runs"].append(_run_record(config, run))

    def save_state() -> None:
        tmp = state_path.with_suffix(".tmp")
        if run["runs"]:
            run["runs"][-1].update(to_step=run["step"], to_minutes=round(run["elapsed"] / 60, 2))
        torch.save(
            {
                "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                "optimizer": optimizer.state_dict(),
                "run": run,
                "python_rng": random.getstate(),
                "torch_rng": torch.get_rng_state(),
            },
            tmp,
        )
        tmp.replace(state_path)

    manifest_base = {
        "name": config.name,
        "languages": languages,
        "pairs": directions,
        "max_input_tokens": 2 * config.max_tokens,
    }

    def evaluate() -> dict[str, Any]:
        with tempfile.TemporaryDirectory(dir=work) as tmp:
            recipe.export(model, Path(tmp) / "hf")
            _convert(Path(tmp) / "hf", Path(tmp) / "ct2", "int8", manifest_base, recipe.prompt())
            return evaluate_model(Path(tmp) / "ct2", dev_examples, threads)

    def snapshot() -> None:
        path = work / f"weights-step{run['step']}.pt"
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, path)
        run["checkpoints"] = (run["checkpoints"] + [path.name])[-config.average_last :]
        for old in work.glob("weights-step*.pt"):
            if old.name not in run["checkpoints"]:
                old.unlink()

    budget_s = config.time_budget_minutes * 60 if config.time_budget_minutes else None
    if config.session_minutes is not None:
        session_end = run["elapsed"] + config.session_minutes * 60
        budget_s = min(budget_s, session_end) if budget_s else session_end
    progress = _Progress(budget_s, config.max_steps)
    start = time.monotonic() - run["elapsed"]
    last_eval = last_ckpt = time.monotonic()
    tokens_seen, window_start = 0, time.monotonic()
    model.train()

    def out_of_time() -> bool:
        elapsed = time.monotonic() - start
        return bool((budget_s and elapsed >= budget_s) or (config.max_steps and run["step"] >= config.max_steps))

    def stage_over() -> bool:
        if run["stage"] != 1:
            return False
        elapsed = time.monotonic() - start
        return bool((stage1_seconds and elapsed >= stage1_seconds) or (stage1_steps and run["step"] >= stage1_steps))

    while not out_of_time():
        if stage_over():
            log.info("stage 1 (language modelling) done at step %d; fine-tuning on translation", run["step"])
            run.update(stage=2, epoch=0, batch=0)
        lengths = recipe.lengths(data, run["stage"])
        batches = _batches(lengths, config.batch_tokens, random.Random(config.seed * 1000 + run["epoch"]))
        while run["batch"] < len(batches) and not out_of_time() and not stage_over():
            rows = batches[run["batch"]]
            with autocast():
                loss, tokens = recipe.loss(model, data, rows, run["stage"])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip_norm)
            run["step"] += 1
            lr = config.learning_rate * _lr_factor(run["step"], config.warmup_steps, run.get("rewarm_from"))
            for group in optimizer.param_groups:
                group["lr"] = lr
            optimizer.step()
            recipe.after_step(model)
            run["batch"] += 1
            tokens_seen += tokens
            now = time.monotonic()
            run["elapsed"] = now - start
            tokens_per_s = tokens_seen / max(now - window_start, 1e-6)
            if run["step"] % config.log_every == 0:
                run["losses"].append(
                    {
                        "step": run["step"],
                        "loss": round(loss.item(), 4),
                        "stage": run["stage"],
                        "minutes": round(run["elapsed"] / 60, 2),
                        "tokens_per_s": round(tokens_per_s),
                    }
                )
            progress.show(run["step"], run["elapsed"], loss, tokens_per_s, lr)
            evaluating = config.eval_minutes > 0
            if evaluating and run["stage"] == 2 and now - last_eval >= config.eval_minutes * 60:
                model.eval()
                scores = evaluate()
                model.train()
                scores.update(step=run["step"], minutes=round(run["elapsed"] / 60, 2))
                run["history"].append(scores)
                sys.stderr.write(f"\n[eval] step {run['step']}: {json.dumps(scores, ensure_ascii=False)}\n")
                snapshot()
                if run["best"] is None or scores["mean_chrf"] > run["best"]["mean_chrf"]:
                    run["best"] = scores
                    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, work / "best.pt")
                last_eval = time.monotonic()
                tokens_seen, window_start = 0, time.monotonic()
                save_state()
                last_ckpt = time.monotonic()
            elif now - last_ckpt >= config.checkpoint_minutes * 60:
                if not evaluating and run["stage"] == 2:
                    snapshot()  # without dev evaluation, the snapshots to average are taken at checkpoints
                save_state()
                last_ckpt = time.monotonic()
        run["epoch_fraction"] = run["epoch"] + run["batch"] / max(1, len(batches))
        if run["batch"] >= len(batches):
            run["epoch"] += 1
            run["batch"] = 0
    if run["runs"][-1]["from_step"] == run["step"]:
        run["runs"].pop()  # nothing trained in this run (``--minutes 0``: export only)
    save_state()
    sys.stderr.write("\n")
    model.to("cpu")
    if not export:
        return {"steps": run["step"], "minutes": round(run["elapsed"] / 60, 1), "work_dir": str(work)}
    return finish(
        config, recipe, model, run, corpora, dev_examples, threads, data.get("dropped_too_long", 0), manifest_base
    )


def finish(
    config: TrainingConfig,
    recipe: Recipe,
    model: Any,
    run: dict[str, Any],
    corpora: dict[str, Any],
    dev_examples: Sequence[ParallelPair],
    threads: int,
    dropped_too_long: int,
    manifest_base: dict[str, Any],
) -> dict[str, Any]:
    """Pick the best of (last, best, averaged) weights by dev score, export and convert."""
    torch = _require_torch()
    work = config.work_dir
    candidates: dict[str, dict[str, Any]] = {"last": model.state_dict()}
    if (work / "best.pt").exists():
        candidates["best"] = torch.load(work / "best.pt", map_location="cpu", weights_only=True)
    snapshots = [work / name for name in run["checkpoints"] if (work / name).exists()]
    if len(snapshots) >= 2:
        candidates[f"average_of_{len(snapshots)}"] = _average_state_dicts(snapshots)
    results: dict[str, dict[str, Any]] = {}
    model.eval()
    for label, weights in candidates.items():
        model.load_state_dict(weights)
        with tempfile.TemporaryDirectory(dir=work) as tmp:
            recipe.export(model, Path(tmp) / "hf")
            _convert(Path(tmp) / "hf", Path(tmp) / "ct2", "int8", manifest_base, recipe.prompt())
            results[label] = evaluate_model(Path(tmp) / "ct2", dev_examples, threads)
    chosen = max(results, key=lambda k: results[k]["mean_chrf"])
    model.load_state_dict(candidates[chosen])
    recipe.after_step(model)
    checkpoint = work / "export-hf"
    if checkpoint.exists():
        shutil.rmtree(checkpoint)
    recipe.export(model, checkpoint)
    summary = {
        "steps": run["step"],
        "epochs": round(run.get("epoch_fraction", run["epoch"]), 2),
        "minutes": round(run["elapsed"] / 60, 1),
        "chosen_weights": chosen,
        "dev_scores": results,
        "examples_too_long_dropped": dropped_too_long,
        "runs": run.get("runs", []),
    }
    manifest_extra = {
        **manifest_base,
        "license": config.license,
        "corpora": corpora,
        "training": {"config": config.to_json(), "summary": summary},
    }
    _convert(checkpoint, config.output, config.quantization, manifest_extra, recipe.prompt())
    (work / "history.json").write_text(json.dumps(run, indent=1, ensure_ascii=False))
    return summary
