"""Tiny random translation models, built locally from transformers configs and a small sentencepiece model.

Nothing is downloaded. Each builder writes a Hugging Face checkpoint directory (weights + tokenizer files)
that `kakehashi convert` accepts exactly like a real hub checkpoint of the same family. Weights are drawn
with a large standard deviation so that greedy decisions are well separated and conversion parity can be
checked token for token.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import sentencepiece as spm
import torch

from mt.training.config import TrainingConfig

DATA = Path(__file__).parent / "data" / "tatoeba_sample.tsv"


def tiny_training_config(tmp_path: Path, max_steps: int, work: str = "work", **changes: object) -> TrainingConfig:
    """A Marian run on the bundled Tatoeba sample, small enough to train for a few steps in seconds; the
    model is exported to ``tmp_path / f"{work}-model"``."""
    config = TrainingConfig(
        train=[f"tsv:{DATA}"],
        output=tmp_path / f"{work}-model",
        work_dir=tmp_path / work,
        name="tiny-trained",
        vocab_size=1000,
        d_model=32,
        encoder_layers=1,
        decoder_layers=1,
        attention_heads=2,
        ffn_dim=64,
        batch_tokens=600,
        warmup_steps=5,
        learning_rate=3e-3,
        max_steps=max_steps,
        eval_minutes=1000,
        dev_holdout=20,
        dev_sentences=20,
        log_every=2,
        threads=1,
        license="CC-BY-2.0-FR",
    )
    return replace(config, **changes)  # type: ignore[arg-type]


Example = tuple[tuple[int, ...], tuple[int, ...]]  # (source ids, target ids) of one training example


@dataclass
class StepRecorder:
    """The examples of each optimizer step a Marian run took, as the loop fed them to the loss."""

    steps: list[list[Example]] = field(default_factory=list)
    loss_calls: int = 0  # batches forwarded: more than the steps where a step accumulates several
    pending: list[Example] = field(default_factory=list)


@contextlib.contextmanager
def recording_steps() -> Iterator[StepRecorder]:
    """While open, every Marian loss records its batch's examples, and every optimizer step closes the list of
    the step's examples."""
    from torch.optim.optimizer import register_optimizer_step_pre_hook

    from mt.training.recipes.marian import MarianRecipe

    recorder = StepRecorder()
    original = MarianRecipe.loss

    def recording(self: MarianRecipe, model: Any, data: dict[str, Any], rows: list[int], stage: int = 2) -> Any:
        recorder.loss_calls += 1
        recorder.pending.extend((tuple(data["sources"][i]), tuple(data["targets"][i])) for i in rows)
        return original(self, model, data, rows, stage)

    def step_taken(*_: Any) -> None:
        recorder.steps.append(recorder.pending[:])
        recorder.pending.clear()

    hook = register_optimizer_step_pre_hook(step_taken)
    try:
        with _patched(MarianRecipe, "loss", recording):
            yield recorder
    finally:
        hook.remove()
    assert not recorder.pending, "a step's examples were recorded without an optimizer step"


def steps_of_pairs(config: TrainingConfig, steps: list[list[Example]]) -> dict[tuple[str, str], list[int]]:
    """(corpus, pair id) → the recorded steps whose examples held the pair (either direction), for every
    training pair of ``config`` (an empty list for a pair never seen), found by the examples' tokens."""
    from mt.training.data import directions, prepare_data
    from mt.training.vocabulary import MarianVocabulary, language_token

    vocab = MarianVocabulary(config.work_dir / "spm.model")
    pairs = prepare_data(config)[0]
    keys: dict[Example, tuple[str, str]] = {}
    for pair in pairs:
        for example in directions([pair], True):
            key = (
                tuple(vocab.encode(example.source, language_token(example.target_lang))),
                tuple(vocab.encode(example.target)),
            )
            assert key not in keys, "two examples with the same tokens would make the check ambiguous"
            keys[key] = (pair.corpus, pair.pair_id)
    found: dict[tuple[str, str], list[int]] = {(pair.corpus, pair.pair_id): [] for pair in pairs}
    for step, examples in enumerate(steps, 1):
        for example in examples:
            found[keys[example]].append(step)
    return found


@contextlib.contextmanager
def _patched(owner: Any, name: str, value: Any) -> Iterator[None]:
    original = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, original)


def sample_pairs() -> list[tuple[str, str]]:
    rows = DATA.read_text(encoding="utf-8").splitlines()[1:]
    return [(r.split("\t")[1], r.split("\t")[2]) for r in rows]


def _corpus_lines() -> list[str]:
    return [text for pair in sample_pairs() for text in pair]


def _train_spm(prefix: Path, vocab_size: int, **options: object) -> Path:
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(_corpus_lines()),
        model_prefix=str(prefix),
        vocab_size=vocab_size,
        character_coverage=1.0,
        hard_vocab_limit=False,
        minloglevel=2,
        **options,
    )
    return prefix.with_suffix(".model")


def _spread(model: torch.nn.Module, std: float = 1.0) -> None:
    torch.manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dim() >= 2:
                parameter.normal_(0.0, std / max(1.0, parameter.shape[-1] ** 0.25))


def build_marian(directory: Path) -> Path:
    """An OPUS-MT-layout multi-target Marian model (``>>eng<<``/``>>jpn<<`` tokens, ``<pad>`` last)."""
    from transformers import MarianConfig, MarianMTModel

    from mt.training.recipes.marian import zero_pad_row
    from mt.training.vocabulary import MARIAN_SPM_LAYOUT, MarianVocabulary

    directory.mkdir(parents=True, exist_ok=True)
    vocab = MarianVocabulary(
        _train_spm(directory / "spm", 1200, user_defined_symbols=[">>eng<<", ">>jpn<<"], **MARIAN_SPM_LAYOUT)
    )
    size = vocab.pad_id + 1
    config = MarianConfig(
        vocab_size=size,
        d_model=32,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_position_embeddings=256,
        pad_token_id=vocab.pad_id,
        eos_token_id=0,
        decoder_start_token_id=vocab.pad_id,
        forced_eos_token_id=0,
        scale_embedding=True,
        share_encoder_decoder_embeddings=True,
        activation_function="swish",
    )
    model = MarianMTModel(config).eval()
    _spread(model)
    zero_pad_row(model, vocab.pad_id)
    model.generation_config.bad_words_ids = [[vocab.pad_id]]
    model.save_pretrained(directory)
    vocab.write_hf_files(directory)
    for leftover in ("spm.model", "spm.vocab"):
        (directory / leftover).unlink()
    return directory


def build_m2m100(directory: Path) -> Path:
    """An M2M100 model with the fairseq vocabulary layout and ``__xx__`` language tokens."""
    from transformers import M2M100Config, M2M100ForConditionalGeneration, M2M100Tokenizer

    directory.mkdir(parents=True, exist_ok=True)
    model_file = _train_spm(directory / "spm", 900, model_type="unigram", pad_id=-1, bos_id=-1, eos_id=-1, unk_id=0)
    sp = spm.SentencePieceProcessor(model_file=str(model_file))
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for i in range(sp.get_piece_size()):
        vocab.setdefault(sp.id_to_piece(i), len(vocab))
    (directory / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    shutil.move(str(model_file), directory / "sentencepiece.bpe.model")
    (directory / "spm.vocab").unlink()
    from transformers.models.m2m_100.tokenization_m2m_100 import FAIRSEQ_LANGUAGE_CODES

    # The released checkpoints list their language tokens as additional special tokens; converters rely on it.
    language_tokens = [f"__{code}__" for code in FAIRSEQ_LANGUAGE_CODES["m2m100"]]
    tokenizer = M2M100Tokenizer(
        vocab_file=str(directory / "vocab.json"),
        spm_file=str(directory / "sentencepiece.bpe.model"),
        src_lang="ja",
        tgt_lang="en",
        additional_special_tokens=language_tokens,
    )
    tokenizer.save_pretrained(directory)
    # Like the released checkpoints, the embedding matrix ends with 8 "madeupword" rows.
    config = M2M100Config(
        vocab_size=len(vocab) + len(language_tokens) + 8,
        d_model=32,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_position_embeddings=256,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        decoder_start_token_id=2,
        scale_embedding=True,
    )
    model = M2M100ForConditionalGeneration(config).eval()
    _spread(model)
    model.save_pretrained(directory)
    return directory


def build_madlad(directory: Path) -> Path:
    """A T5 model with MADLAD-400's ``<2xx>`` target-language tokens."""
    from transformers import T5Config, T5ForConditionalGeneration, T5Tokenizer

    directory.mkdir(parents=True, exist_ok=True)
    _train_spm(
        directory / "spiece",
        900,
        model_type="unigram",
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        user_defined_symbols=["<2en>", "<2ja>"],
    )
    (directory / "spiece.vocab").unlink()
    tokenizer = T5Tokenizer.from_pretrained(str(directory), extra_ids=0, legacy=False)
    tokenizer.save_pretrained(directory)
    config = T5Config(
        vocab_size=len(tokenizer),
        d_model=32,
        d_kv=8,
        d_ff=64,
        num_layers=2,
        num_decoder_layers=2,
        num_heads=4,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
        feed_forward_proj="gated-gelu",
        tie_word_embeddings=False,
    )
    model = T5ForConditionalGeneration(config).eval()
    _spread(model)
    model.save_pretrained(directory)
    return directory


CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def build_llama(directory: Path, chat: bool = False) -> Path:
    """A Llama decoder with a tokenizer built by the tokenizers library (a working tokenizer.json)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    directory.mkdir(parents=True, exist_ok=True)
    specials = ["<unk>", "<s>", "</s>", "<|user|>", "<|assistant|>"]
    backend = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    backend.normalizer = normalizers.NFC()
    backend.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    backend.decoder = decoders.Sequence(
        [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)]
    )
    trainer = trainers.BpeTrainer(
        vocab_size=800, special_tokens=specials, initial_alphabet=[f"<0x{i:02X}>" for i in range(256)]
    )
    prompts = [f"Japanese: {ja}\nEnglish: {en}\nEnglish: {en}\nJapanese: {ja}" for ja, en in sample_pairs()]
    backend.train_from_iterator(prompts, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="</s>",
        add_bos_token=True,
    )
    from tokenizers.processors import TemplateProcessing

    backend.post_processor = TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", backend.token_to_id("<s>"))]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="</s>",
    )
    if chat:
        tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(directory)
    config = LlamaConfig(
        vocab_size=backend.get_vocab_size(),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        bos_token_id=backend.token_to_id("<s>"),
        eos_token_id=backend.token_to_id("</s>"),
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config).eval()
    _spread(model)
    model.save_pretrained(directory)
    return directory
