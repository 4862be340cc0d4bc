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
from mt._languages import family_tokens, parse_language

log = logging.getLogger("kakehashi.train")


@dataclass
class TrainingConfig:
    """Everything that decides a training run; stored in the run's state and in the exported manifest."""

    train: list[str]
    output: Path
    work_dir: Path
    dev: list[str] = field(default_factory=list)
    name: str = "kakehashi-model"
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
    warmup_steps: int = 1500
    label_smoothing: float = 0.1
    clip_norm: float = 1.0
    eval_minutes: float = 10.0
    log_every: int = 50
    checkpoint_minutes: float = 5.0
    average_last: int = 4
    time_budget_minutes: float | None = None
    max_steps: int | None = None
    threads: int = 0
    seed: int = 1
    quantization: str = "int8"
    license: str = "unknown"

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

        spm.SentencePieceTrainer.train(
            sentence_iterator=texts,
            model_prefix=str(prefix),
            vocab_size=vocab_size,
            model_type="unigram",
            character_coverage=0.9995,
            byte_fallback=True,
            pad_id=-1,
            bos_id=-1,
            eos_id=0,
            unk_id=1,
            eos_piece="</s>",
            unk_piece="<unk>",
            user_defined_symbols=list(language_tokens),
            input_sentence_size=400000,
            shuffle_input_sentence=True,
            minloglevel=2,
        )
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


# ---------------------------------------------------------------- model


def _new_model(config: TrainingConfig, vocab: MarianVocabulary) -> Any:
    from transformers import MarianConfig, MarianMTModel

    size = vocab.pad_id + 1
    model_config = MarianConfig(
        vocab_size=size,
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


def _zero_pad_row(model: Any, pad_id: int) -> None:
    # CTranslate2 starts the decoder from a zero vector where transformers looks up <pad>: keep that row zero
    # so both give the same output. With tied embeddings the output layer would otherwise move it.
    torch = _require_torch()
    with torch.no_grad():
        model.get_input_embeddings().weight[pad_id].zero_()


def _pad(rows: Sequence[Sequence[int]], value: int) -> Any:
    torch = _require_torch()
    width = max(len(r) for r in rows)
    out = torch.full((len(rows), width), value, dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.tensor(r, dtype=torch.long)
    return out


def _lr_factor(step: int, warmup: int) -> float:
    step = max(step, 1)
    return min(step / warmup, math.sqrt(warmup / step))


# ---------------------------------------------------------------- evaluation


def _export_checkpoint(model: Any, vocab: MarianVocabulary, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    model.generation_config.bad_words_ids = [[vocab.pad_id]]
    model.generation_config.max_length = 256
    model.save_pretrained(directory)
    vocab.write_hf_files(directory)


def evaluate_ct2(model_dir: Path, vocab: MarianVocabulary, dev: Sequence[ParallelPair], threads: int) -> dict[str, Any]:
    """Greedy-decode the dev pairs with a converted model and score each direction with sacreBLEU."""
    import ctranslate2
    import sacrebleu

    translator = ctranslate2.Translator(str(model_dir), device="cpu", compute_type="int8", intra_threads=threads)
    scores: dict[str, Any] = {}
    by_direction: dict[str, list[ParallelPair]] = {}
    for pair in dev:
        by_direction.setdefault(f"{pair.source_lang}-{pair.target_lang}", []).append(pair)
    for direction, pairs in sorted(by_direction.items()):
        batch = [
            [vocab.pieces[i] for i in vocab.encode(p.source, _language_token(p.target_lang))] for p in pairs
        ]
        results = translator.translate_batch(batch, beam_size=1, max_batch_size=2048, batch_type="tokens",
                                             max_decoding_length=160)
        hyps = [vocab.decode(r.hypotheses[0]) for r in results]
        refs = [p.target for p in pairs]
        tokenize = "ja-mecab" if pairs[0].target_lang == "ja" else "13a"
        bleu = sacrebleu.corpus_bleu(hyps, [refs], tokenize=tokenize)
        chrf = sacrebleu.corpus_chrf(hyps, [refs])
        scores[direction] = {"bleu": round(bleu.score, 2), "chrf": round(chrf.score, 2), "sentences": len(pairs),
                             "example": hyps[0]}
    scores["mean_chrf"] = round(sum(v["chrf"] for v in scores.values()) / max(1, len(by_direction)), 3)
    return scores


def _convert(checkpoint: Path, output: Path, quantization: str | None, manifest_extra: dict[str, Any]) -> None:
    from mt._convert import convert_model

    convert_model(str(checkpoint), output, quantization=quantization, force=True, manifest_extra=manifest_extra)


# ---------------------------------------------------------------- the run


class _Progress:
    def __init__(self, budget_s: float | None, max_steps: int | None):
        self.budget_s = budget_s
        self.max_steps = max_steps
        self.last = 0.0

    def show(self, step: int, elapsed: float, loss: float, tokens_per_s: float, lr: float) -> None:
        now = time.monotonic()
        if now - self.last < 2.0:
            return
        self.last = now
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


def train(config: TrainingConfig) -> dict[str, Any]:
    """Run (or resume) training and export the converted model. Returns a summary of the run."""
    torch = _require_torch()
    work = config.work_dir
    work.mkdir(parents=True, exist_ok=True)
    random.seed(config.seed)
    torch.manual_seed(config.seed)
    if config.threads:
        torch.set_num_threads(config.threads)
    threads = torch.get_num_threads()

    state_path = work / "state.pt"
    resumed = state_path.exists()
    saved_config = work / "config.json"
    if resumed and saved_config.exists():
        previous = json.loads(saved_config.read_text())
        for key in ("train", "vocab_size", "d_model", "encoder_layers", "decoder_layers", "bidirectional"):
            if previous.get(key) != config.to_json().get(key):
                raise InvalidRequest(
                    f"{work} holds a run with {key}={previous.get(key)!r}, not {config.to_json().get(key)!r}; "
                    "use another --work-dir or the same settings to resume"
                )
    saved_config.write_text(json.dumps(config.to_json(), indent=2, ensure_ascii=False))

    train_pairs, dev_pairs, corpora = prepare_data(config)
    examples = _directions(train_pairs, config.bidirectional)
    dev_examples = _directions(dev_pairs, config.bidirectional)
    dev_rng = random.Random(config.seed)
    dev_by_dir: dict[str, list[ParallelPair]] = {}
    for pair in dev_examples:
        dev_by_dir.setdefault(f"{pair.source_lang}-{pair.target_lang}", []).append(pair)
    dev_examples = [p for pairs in dev_by_dir.values() for p in dev_rng.sample(pairs, min(len(pairs), config.dev_sentences))]
    languages = sorted({p.source_lang for p in examples} | {p.target_lang for p in examples})
    language_tokens = [_language_token(lang) for lang in languages]

    spm_prefix = work / "spm"
    if spm_prefix.with_suffix(".model").exists():
        vocab = MarianVocabulary(spm_prefix.with_suffix(".model"))
    else:
        texts = (t for p in train_pairs for t in (p.source, p.target))
        vocab = MarianVocabulary.train(texts, spm_prefix, config.vocab_size, language_tokens)

    data_path = work / "data.pt"
    if data_path.exists():
        data = torch.load(data_path, weights_only=False)
    else:
        log.info("tokenising %d examples", len(examples))
        sources = [vocab.encode(p.source, _language_token(p.target_lang)) for p in examples]
        targets = [vocab.encode(p.target) for p in examples]
        keep = [i for i in range(len(examples)) if len(sources[i]) <= config.max_tokens and len(targets[i]) <= config.max_tokens]
        data = {"sources": [sources[i] for i in keep], "targets": [targets[i] for i in keep],
                "dropped_too_long": len(examples) - len(keep)}
        torch.save(data, data_path)
    sources, targets = data["sources"], data["targets"]
    lengths = [max(len(s), len(t)) for s, t in zip(sources, targets)]

    model = _new_model(config, vocab)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, betas=(0.9, 0.98), eps=1e-9,
                                  weight_decay=0.0)
    run: dict[str, Any] = {"step": 0, "epoch": 0, "batch": 0, "elapsed": 0.0, "best": None, "history": [],
                           "losses": [], "checkpoints": []}
    if resumed:
        saved = torch.load(state_path, map_location="cpu", weights_only=False)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        run = saved["run"]
        random.setstate(saved["python_rng"])
        torch.set_rng_state(saved["torch_rng"])
        log.info("resumed at step %d (%.1f minutes trained)", run["step"], run["elapsed"] / 60)

    def save_state() -> None:
        tmp = state_path.with_suffix(".tmp")
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "run": run,
                    "python_rng": random.getstate(), "torch_rng": torch.get_rng_state()}, tmp)
        tmp.replace(state_path)

    def evaluate(label: str) -> dict[str, Any]:
        with tempfile.TemporaryDirectory(dir=work) as tmp:
            checkpoint = Path(tmp) / "hf"
            _export_checkpoint(model, vocab, checkpoint)
            from ctranslate2.converters import TransformersConverter

            TransformersConverter(str(checkpoint)).convert(str(Path(tmp) / "ct2"), force=True)
            return evaluate_ct2(Path(tmp) / "ct2", vocab, dev_examples, threads)

    budget_s = config.time_budget_minutes * 60 if config.time_budget_minutes else None
    progress = _Progress(budget_s, config.max_steps)
    start = time.monotonic() - run["elapsed"]
    last_eval = last_ckpt = time.monotonic()
    tokens_seen, window_start = 0, time.monotonic()
    model.train()

    def out_of_time() -> bool:
        elapsed = time.monotonic() - start
        return bool((budget_s and elapsed >= budget_s) or (config.max_steps and run["step"] >= config.max_steps))

    while not out_of_time():
        batches = _batches(lengths, config.batch_tokens, random.Random(config.seed * 1000 + run["epoch"]))
        while run["batch"] < len(batches) and not out_of_time():
            rows = batches[run["batch"]]
            input_ids = _pad([sources[i] for i in rows], vocab.pad_id)
            labels = _pad([targets[i] for i in rows], -100)
            # Teacher forcing starts from <pad>, the decoder start token of Marian models.
            decoder_input = _pad([[vocab.pad_id] + targets[i][:-1] for i in rows], vocab.pad_id)
            logits = model(input_ids=input_ids, attention_mask=(input_ids != vocab.pad_id).long(),
                           decoder_input_ids=decoder_input).logits
            loss = torch.nn.functional.cross_entropy(logits.view(-1, logits.size(-1)), labels.view(-1),
                                                     ignore_index=-100, label_smoothing=config.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip_norm)
            run["step"] += 1
            lr = config.learning_rate * _lr_factor(run["step"], config.warmup_steps)
            for group in optimizer.param_groups:
                group["lr"] = lr
            optimizer.step()
            _zero_pad_row(model, vocab.pad_id)
            run["batch"] += 1
            tokens_seen += int((labels != -100).sum()) + int((input_ids != vocab.pad_id).sum())
            now = time.monotonic()
            run["elapsed"] = now - start
            tokens_per_s = tokens_seen / max(now - window_start, 1e-6)
            if run["step"] % config.log_every == 0:
                run["losses"].append({"step": run["step"], "loss": round(loss.item(), 4),
                                      "minutes": round(run["elapsed"] / 60, 2), "tokens_per_s": round(tokens_per_s)})
            progress.show(run["step"], run["elapsed"], loss.item(), tokens_per_s, lr)
            if now - last_eval >= config.eval_minutes * 60:
                model.eval()
                scores = evaluate(f"step{run['step']}")
                model.train()
                scores.update(step=run["step"], minutes=round(run["elapsed"] / 60, 2))
                run["history"].append(scores)
                sys.stderr.write(f"\n[eval] step {run['step']}: {json.dumps(scores, ensure_ascii=False)}\n")
                snapshot = work / f"weights-step{run['step']}.pt"
                torch.save(model.state_dict(), snapshot)
                run["checkpoints"] = (run["checkpoints"] + [snapshot.name])[-config.average_last:]
                for old in work.glob("weights-step*.pt"):
                    if old.name not in run["checkpoints"] and old.name != "best.pt":
                        old.unlink()
                if run["best"] is None or scores["mean_chrf"] > run["best"]["mean_chrf"]:
                    run["best"] = scores
                    torch.save(model.state_dict(), work / "best.pt")
                last_eval = time.monotonic()
                tokens_seen, window_start = 0, time.monotonic()
                save_state()
                last_ckpt = time.monotonic()
            elif now - last_ckpt >= config.checkpoint_minutes * 60:
                save_state()
                last_ckpt = time.monotonic()
        run["epoch_fraction"] = run["epoch"] + run["batch"] / len(batches)
        if run["batch"] >= len(batches):
            run["epoch"] += 1
            run["batch"] = 0
    save_state()
    sys.stderr.write("\n")
    directions = sorted({(p.source_lang, p.target_lang) for p in examples})
    return finish(config, model, vocab, run, corpora, dev_examples, threads, data.get("dropped_too_long", 0), directions)


def finish(config: TrainingConfig, model: Any, vocab: MarianVocabulary, run: dict[str, Any], corpora: dict[str, Any],
           dev_examples: Sequence[ParallelPair], threads: int, dropped_too_long: int,
           directions: list[tuple[str, str]]) -> dict[str, Any]:
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
            _export_checkpoint(model, vocab, Path(tmp) / "hf")
            from ctranslate2.converters import TransformersConverter

            TransformersConverter(str(Path(tmp) / "hf")).convert(str(Path(tmp) / "ct2"), force=True)
            results[label] = evaluate_ct2(Path(tmp) / "ct2", vocab, dev_examples, threads)
    chosen = max(results, key=lambda k: results[k]["mean_chrf"])
    model.load_state_dict(candidates[chosen])
    _zero_pad_row(model, vocab.pad_id)
    checkpoint = work / "export-hf"
    if checkpoint.exists():
        shutil.rmtree(checkpoint)
    _export_checkpoint(model, vocab, checkpoint)
    summary = {
        "steps": run["step"],
        "epochs": round(run.get("epoch_fraction", run["epoch"]), 2),
        "minutes": round(run["elapsed"] / 60, 1),
        "chosen_weights": chosen,
        "dev_scores": results,
        "examples_too_long_dropped": dropped_too_long,
    }
    manifest_extra = {
        "name": config.name,
        "languages": sorted({lang for pair in directions for lang in pair}),
        "pairs": directions,
        # Sentences longer than the training cap are split before translation rather than degraded.
        "max_input_tokens": 2 * config.max_tokens,
        "license": config.license,
        "corpora": corpora,
        "training": {"config": config.to_json(), "summary": summary},
    }
    _convert(checkpoint, config.output, config.quantization, manifest_extra)
    (work / "history.json").write_text(json.dumps(run, indent=1, ensure_ascii=False))
    return summary
