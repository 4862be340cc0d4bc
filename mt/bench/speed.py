"""``kakehashi bench speed``: throughput, latency and memory of engines over a grid of batch and beam sizes.

Systems are CTranslate2 models (``MODEL:compute_type=int8``, any of int8 / int8_float16 / float16 / float32 …) and
PyTorch through transformers (``transformers:CHECKPOINT:like=MODEL``, tokenised exactly as the CTranslate2 model
``like`` tokenises). Each system runs in its own child process, so its peak RSS is its own; load time is measured
apart from translation; each grid cell reports the median of several passes after a warm-up, and ratios against
the first system measured in the same run.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mt._errors import InvalidRequest, KakehashiError, MissingDependency
from mt.bench.systems import SystemSpec

Translate = Callable[[list[str], int], tuple[list[str], int]]


@dataclass(frozen=True)
class SpeedOptions:
    """The grid and the measurement settings of one speed run."""

    batch_sizes: tuple[int, ...] = (1, 8, 32)
    beam_sizes: tuple[int, ...] = (1, 4)
    repeats: int = 3
    max_length: int = 128
    threads: int = 0
    timeout_s: float = 3600.0


@dataclass(frozen=True)
class SpeedResult:
    """One system in one grid cell."""

    system: str
    batch_size: int
    beam_size: int
    seconds: float
    sentences_per_s: float
    tokens_per_s: float
    target_tokens: int
    latency_ms: dict[str, float]
    peak_rss_mb: float
    gpu_memory_mb: float | None
    load_s: float
    speed_ratio: float = 1.0
    sentences_ratio: float = 1.0
    memory_ratio: float = 1.0
    load_ratio: float = 1.0


class SpeedRunFailed(KakehashiError):
    """A system's child process failed."""


def _peak_rss_mb() -> float:
    # VmHWM belongs to this process image; ru_maxrss would carry over the parent's peak across exec.
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def _gpu_memory_mb() -> float | None:
    """This process's GPU memory as nvidia-smi reports it (None without a GPU)."""
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for line in out.splitlines():
        pid, _, used = line.partition(",")
        if pid.strip() == str(os.getpid()):
            return float(used)
    return None


def _ctranslate2(spec: SystemSpec, source: str, target: str, job: dict[str, Any]) -> tuple[Translate, str]:
    from mt import RuntimeOptions, Settings, TranslationOptions, load_translator, parse_language

    entry = Settings.from_env().load_registry().get(spec.location)
    runtime = RuntimeOptions(
        device=spec.option("device", "cpu") or "cpu",
        compute_type=spec.option("compute_type", "auto") or "auto",
        intra_threads=spec.int_option("threads", job["threads"]),
    )
    translator = load_translator(entry.path, runtime)
    src, tgt = parse_language(source), parse_language(target)

    def translate(batch: list[str], beam: int) -> tuple[list[str], int]:
        options = TranslationOptions(beam_size=beam, max_decoding_length=job["max_length"])
        results = translator.translate_segments(batch, src, tgt, options)
        return [r.text for r in results], sum(r.hypotheses[0].tokens for r in results)

    return translate, runtime.resolve()[0]


def _transformers(spec: SystemSpec, source: str, target: str, job: dict[str, Any]) -> tuple[Translate, str]:
    """The checkpoint through ``generate``: the same tokens in, the same end tokens and answer extraction out."""
    try:
        import torch
        import transformers
    except ModuleNotFoundError as exc:
        raise MissingDependency(exc.name or "torch", "train", "a transformers system in kakehashi bench speed") from exc
    from mt import RuntimeOptions, Settings, load_translator, parse_language

    like = spec.option("like") or job.get("like")
    if not like:
        raise InvalidRequest(
            f"system {spec.name!r}: a transformers system needs like=MODEL (the converted model whose tokenizer and "
            "prompt it shares), or a CTranslate2 system earlier in the same run"
        )
    checkpoint = Path(spec.location).expanduser()
    device = spec.option("device", "cpu") or "cpu"
    torch.set_num_threads(spec.int_option("threads", job["threads"]) or os.cpu_count() or 1)
    helper: Any = load_translator(
        Settings.from_env().load_registry().get(like).path,
        RuntimeOptions(device="cpu", compute_type="int8", intra_threads=1),
    )
    src, tgt = parse_language(source), parse_language(target)
    if not (checkpoint / "config.json").is_file():
        raise InvalidRequest(f"system {spec.name!r}: {checkpoint} is not a Hugging Face checkpoint (no config.json)")
    config = json.loads((checkpoint / "config.json").read_text(encoding="utf-8"))
    if config.get("is_encoder_decoder", False):
        model = transformers.AutoModelForSeq2SeqLM.from_pretrained(checkpoint).eval().to(device)
        vocab = json.loads((checkpoint / "vocab.json").read_text(encoding="utf-8"))
        pieces = {i: p for p, i in vocab.items()}
        pad, eos = model.config.pad_token_id, model.config.eos_token_id

        def translate(batch: list[str], beam: int) -> tuple[list[str], int]:
            ids = [[vocab.get(t, vocab["<unk>"]) for t in helper._source_tokens(s, src, tgt)] for s in batch]
            width = max(map(len, ids))
            input_ids = torch.tensor([row + [pad] * (width - len(row)) for row in ids], device=device)
            with torch.inference_mode():
                out = model.generate(
                    input_ids=input_ids,
                    attention_mask=(input_ids != pad).long(),
                    num_beams=beam,
                    do_sample=False,
                    max_new_tokens=job["max_length"],
                )
            texts, tokens = [], 0
            for row in out.tolist():
                body = [i for i in row[1:] if i not in (pad, eos)]
                tokens += len(body) + 1  # as CTranslate2 counts: the end token included
                texts.append(helper.tokenizer.decode([pieces[i] for i in body]))
            return texts, tokens

        return translate, device

    model = transformers.AutoModelForCausalLM.from_pretrained(checkpoint).eval().to(device)
    hf = helper.tokenizer.hf
    end_ids = [int(i) for i in hf.convert_tokens_to_ids(helper._end_tokens())]
    pad_id = hf.pad_token_id if hf.pad_token_id is not None else end_ids[0]

    def generate(batch: list[str], beam: int) -> tuple[list[str], int]:
        prompts = [hf.convert_tokens_to_ids(helper._prompt_tokens(s, src, tgt)) for s in batch]
        width = max(map(len, prompts))
        input_ids = torch.tensor([[pad_id] * (width - len(p)) + p for p in prompts], device=device)  # left padding
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=device)
        with torch.inference_mode():
            out = model.generate(
                input_ids=input_ids,
                attention_mask=mask,
                num_beams=beam,
                do_sample=False,
                max_new_tokens=job["max_length"],
                eos_token_id=end_ids,
                pad_token_id=pad_id,
            )
        texts, tokens = [], 0
        for row in out[:, width:].tolist():
            body = []
            for i in row:
                if i in end_ids:
                    break
                body.append(i)
            tokens += len(body)  # as CTranslate2's Generator counts: the end token excluded
            texts.append(helper.extract_answer(hf.decode(body, skip_special_tokens=True)))
        return texts, tokens

    return generate, device


def measure(job: dict[str, Any]) -> list[dict[str, Any]]:
    """Runs in the child process: load the system, then time every grid cell. Returns one row per cell."""
    spec = SystemSpec(**{**job["spec"], "options": tuple(tuple(o) for o in job["spec"]["options"])})
    sentences: list[str] = job["sentences"]
    start = time.perf_counter()
    loader = _transformers if spec.kind == "transformers" else _ctranslate2
    translate, device = loader(spec, job["source"], job["target"], job)
    load_s = time.perf_counter() - start
    rows = []
    for beam in job["beam_sizes"]:
        for size in job["batch_sizes"]:
            batches = [sentences[i : i + size] for i in range(0, len(sentences), size)]
            translate(batches[0], beam)  # warm-up: first-call allocations are not translation speed
            passes, latencies, tokens = [], [], 0
            for _ in range(job["repeats"]):
                tokens = 0
                pass_start = time.perf_counter()
                for batch in batches:
                    t0 = time.perf_counter()
                    tokens += translate(batch, beam)[1]
                    latencies.append((time.perf_counter() - t0) * 1000)
                passes.append(time.perf_counter() - pass_start)
            seconds = statistics.median(passes)
            rows.append(
                {
                    "system": spec.name,
                    "batch_size": size,
                    "beam_size": beam,
                    "seconds": round(seconds, 4),
                    "sentences_per_s": round(len(sentences) / seconds, 2),
                    "tokens_per_s": round(tokens / seconds, 1),
                    "target_tokens": tokens,
                    "latency_ms": {
                        "p50": round(_percentile(latencies, 0.5), 2),
                        "p95": round(_percentile(latencies, 0.95), 2),
                    },
                    "load_s": round(load_s, 3),
                }
            )
    peak = round(_peak_rss_mb(), 1)
    gpu = _gpu_memory_mb() if device == "cuda" else None
    return [{**row, "peak_rss_mb": peak, "gpu_memory_mb": gpu} for row in rows]


def _run_child(job: dict[str, Any], timeout_s: float) -> list[dict[str, Any]]:
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
    done = subprocess.run(
        [sys.executable, "-m", "mt.bench.speed"],
        input=json.dumps(job, ensure_ascii=False),
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout_s,
    )
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise SpeedRunFailed(f"system {job['spec']['name']!r} failed (exit {done.returncode}):\n{tail}")
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


def run_speed(
    systems: Sequence[SystemSpec],
    sentences: Sequence[str],
    source: str,
    target: str,
    options: SpeedOptions,
) -> list[SpeedResult]:
    """Measure every system (each in its own process) on ``sentences``; ratios against the first system.

    Raises:
        InvalidRequest: no systems or sentences, or a system kind speed cannot run.
        SpeedRunFailed: a system's process failed (its error is quoted).
    """
    if not systems or not sentences:
        raise InvalidRequest("kakehashi bench speed needs at least one system and one sentence")
    like = next((s.location for s in systems if s.kind == "model"), None)
    rows: list[dict[str, Any]] = []
    for spec in systems:
        if spec.kind not in ("model", "transformers"):
            raise InvalidRequest(
                f"system {spec.name!r}: speed measures engines run here (a model, or transformers:CHECKPOINT); "
                f"not a {spec.kind} system"
            )
        job = {
            "spec": asdict(spec),
            "sentences": list(sentences),
            "source": source,
            "target": target,
            "like": like,
            **{k: v for k, v in asdict(options).items() if k != "timeout_s"},
        }
        rows += _run_child(job, options.timeout_s)
    first = systems[0].name
    base = {(r["batch_size"], r["beam_size"]): r for r in rows if r["system"] == first}
    results = []
    for row in rows:
        b = base[(row["batch_size"], row["beam_size"])]
        results.append(
            SpeedResult(
                **row,
                speed_ratio=round(row["tokens_per_s"] / b["tokens_per_s"], 3) if b["tokens_per_s"] else 0.0,
                sentences_ratio=round(row["sentences_per_s"] / b["sentences_per_s"], 3),
                memory_ratio=round(row["peak_rss_mb"] / b["peak_rss_mb"], 3),
                load_ratio=round(row["load_s"] / b["load_s"], 3) if b["load_s"] else 0.0,
            )
        )
    return results


def _child_main() -> int:
    job = json.loads(sys.stdin.read())
    try:
        rows = measure(job)
    except KakehashiError as exc:
        print(exc, file=sys.stderr)  # the parent quotes this line in its own error
        return 2
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(_child_main())
