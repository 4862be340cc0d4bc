"""Scoring translations with sacreBLEU: one rule for training, the tests and the benchmarks.

BLEU uses the tokenizer that fits the target language (``ja-mecab`` for Japanese, ``zh`` for Chinese, ``13a``
otherwise; ``flores200``, sacreBLEU's spBLEU, on request); chrF2 is language-independent; TER turns on its Asian
character support for Japanese and Chinese targets. Each score comes with its sacreBLEU signature so that reports
say exactly how they were computed. sacreBLEU is imported only when something is scored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from mt._errors import InvalidRequest, MissingDependency

BLEU_TOKENIZERS = {"ja": "ja-mecab", "zh": "zh"}
# Tokenizers a caller may ask for instead of the per-language choice ("flores200" downloads its
# sentencepiece model into ~/.sacrebleu on first use).
TOKENIZER_CHOICES = ("auto", "13a", "intl", "char", "ja-mecab", "zh", "ko-mecab", "flores101", "flores200", "none")
ASIAN_TARGETS = {"ja", "zh", "ko"}


def bleu_tokenizer(target_lang: str, tokenize: str = "auto") -> str:
    """sacreBLEU's BLEU tokenizer for references in ``target_lang`` (a code such as ``ja`` or ``en``).

    Args:
        target_lang: The language of the references.
        tokenize: ``auto`` (the per-language choice) or one of :data:`TOKENIZER_CHOICES` to force one.

    Raises:
        InvalidRequest: ``tokenize`` is not an accepted tokenizer name.
    """
    if tokenize not in TOKENIZER_CHOICES:
        raise InvalidRequest(f"unknown BLEU tokenizer {tokenize!r}; accepted: {', '.join(TOKENIZER_CHOICES)}")
    if tokenize != "auto":
        return tokenize
    return BLEU_TOKENIZERS.get(_base(target_lang), "13a")


def _base(lang: str) -> str:
    return lang.split("-")[0].split("_")[0].lower()


def _sacrebleu() -> Any:
    try:
        import sacrebleu
    except ModuleNotFoundError as exc:
        raise MissingDependency("sacrebleu", "eval", "scoring translations") from exc
    return sacrebleu


def _metrics(target_lang: str, tokenize: str) -> dict[str, Any]:
    """The three metrics as sacreBLEU objects, keyed by the names sacreBLEU gives their scores."""
    sacrebleu = _sacrebleu()
    return {
        "BLEU": sacrebleu.metrics.BLEU(tokenize=bleu_tokenizer(target_lang, tokenize)),
        "chrF2": sacrebleu.metrics.CHRF(),
        "TER": sacrebleu.metrics.TER(asian_support=_base(target_lang) in ASIAN_TARGETS),
    }


def _check_lengths(hypotheses: Sequence[str], references: Sequence[str], what: str = "hypotheses") -> None:
    if len(hypotheses) != len(references):
        raise InvalidRequest(
            f"{len(hypotheses)} {what} for {len(references)} references; each reference needs exactly one hypothesis"
        )


@dataclass(frozen=True)
class CorpusScore:
    """Corpus-level BLEU, chrF2 and TER (two decimals), each with its sacreBLEU signature."""

    bleu: float
    chrf: float
    bleu_signature: str
    chrf_signature: str
    ter: float | None = None
    ter_signature: str = ""

    def to_json(self) -> dict[str, float | str | None]:
        return asdict(self)


def score_corpus(
    hypotheses: Sequence[str],
    references: Sequence[str],
    target_lang: str,
    tokenize: str = "auto",
    ter: bool = True,
) -> CorpusScore:
    """Corpus BLEU, chrF2 and TER of ``hypotheses`` against one reference each, rounded to two decimals.

    Args:
        hypotheses: One translation per reference.
        references: The reference translations, in ``target_lang``.
        target_lang: Chooses the BLEU tokenizer and TER's Asian support.
        tokenize: ``auto`` or a sacreBLEU tokenizer name (see :func:`bleu_tokenizer`).
        ter: Also compute TER (``ter`` is None otherwise); TER costs seconds on a thousand sentences, which
            frequent dev evaluations during training may prefer to skip.

    Raises:
        InvalidRequest: the two lists differ in length, or ``tokenize`` is unknown.
    """
    _check_lengths(hypotheses, references)
    metrics = _metrics(target_lang, tokenize)
    if not ter:
        del metrics["TER"]
    refs = [list(references)]
    scores = {name: metric.corpus_score(list(hypotheses), refs).score for name, metric in metrics.items()}
    return CorpusScore(
        bleu=round(scores["BLEU"], 2),
        chrf=round(scores["chrF2"], 2),
        ter=round(scores["TER"], 2) if ter else None,
        bleu_signature=str(metrics["BLEU"].get_signature()),
        chrf_signature=str(metrics["chrF2"].get_signature()),
        ter_signature=str(metrics["TER"].get_signature()) if ter else "",
    )


@dataclass(frozen=True)
class MetricComparison:
    """One metric of one system in a paired bootstrap test against the baseline (the first system).

    ``mean`` and ``ci`` are the bootstrap estimate of the true score and its 95% confidence half-width;
    ``p_value`` is ``None`` for the baseline itself.
    """

    score: float
    mean: float
    ci: float
    p_value: float | None
    significant: bool


@dataclass(frozen=True)
class PairedComparison:
    """The paired bootstrap test of every system against the first, with the signatures of the test."""

    baseline: str
    systems: dict[str, dict[str, MetricComparison]]
    signatures: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def paired_bootstrap(
    systems: Mapping[str, Sequence[str]],
    references: Sequence[str],
    target_lang: str,
    tokenize: str = "auto",
    resamples: int = 1000,
    alpha: float = 0.05,
) -> PairedComparison:
    """sacreBLEU's paired bootstrap resampling of every system against the first one.

    Args:
        systems: System name → one hypothesis per reference, the baseline first (at least two systems).
        references: The reference translations.
        target_lang: As in :func:`score_corpus`.
        tokenize: As in :func:`score_corpus`.
        resamples: Bootstrap samples (sacreBLEU's default is 1000).
        alpha: A difference is significant when its p-value is below ``alpha``.

    Raises:
        InvalidRequest: fewer than two systems, or a system's hypotheses differ in number from the references.
    """
    if len(systems) < 2:
        raise InvalidRequest(f"a paired test needs at least two systems; got {len(systems)}")
    for name, hypotheses in systems.items():
        _check_lengths(hypotheses, references, f"hypotheses of system {name!r}")
    _sacrebleu()
    from sacrebleu import significance

    # sacreBLEU seeds its resampling with SACREBLEU_SEED (12345 unless set), so reruns give the same p-values.
    test = significance.PairedTest(
        [(name, list(hyps)) for name, hyps in systems.items()],
        _metrics(target_lang, tokenize),
        references=[list(references)],
        test_type="bs",
        n_samples=resamples,
    )
    signatures, table = test()
    # The table's "System" column holds names; every other column holds sacreBLEU Result objects.
    names = [str(name) for name in table["System"]]
    result: dict[str, dict[str, MetricComparison]] = {name: {} for name in names}
    for metric, column in table.items():
        if metric == "System":
            continue
        rows: list[Any] = list(column)
        baseline_score = float(rows[0].score)
        for name, row in zip(names, rows, strict=True):
            p_value = None if row.p_value is None else float(row.p_value)
            # sacreBLEU's p-value for two identical outputs is 1/(resamples+1) (no resample exceeds a zero
            # difference); no difference at all is never a significant one.
            differs = float(row.score) != baseline_score
            result[name][metric] = MetricComparison(
                score=round(float(row.score), 2),
                mean=round(float(row.mean), 2),
                ci=round(float(row.ci), 2),
                p_value=p_value,
                significant=p_value is not None and differs and p_value < alpha,
            )
    # The signatures carry the seed and sample count, so the test can be repeated exactly.
    return PairedComparison(names[0], result, {metric: str(sig) for metric, sig in signatures.items()})


@dataclass(frozen=True)
class PooledGain:
    """A candidate's chrF gain over a baseline, pooled over several test sets by sentences, and how likely it is
    not a gain: ``p_value`` is the share of paired bootstrap resamples (plus one) where the pooled gain is ≤ 0."""

    gain: float
    p_value: float
    sentences: int
    resamples: int


def pooled_chrf_gain(
    sets: Sequence[tuple[Sequence[str], Sequence[str], Sequence[str]]],
    fixed: Sequence[tuple[float, int]] = (),
    resamples: int = 1000,
    seed: int = 12345,
) -> PooledGain:
    """The chrF2 gain of a candidate over a baseline, averaged over all sentences of several test sets (each
    set's corpus-level gain weighted by its sentences), with a paired bootstrap: each resample draws every set's
    sentences anew (the same draw for both systems) and pools again.

    Args:
        sets: Per test set, (baseline hypotheses, candidate hypotheses, references).
        fixed: Per further set known only by its scores, (chrF gain, sentences): pooled in, never resampled.
        resamples: Bootstrap samples.
        seed: Seeds the draws, so reruns give the same p-value.

    Raises:
        InvalidRequest: no sentences at all, or a set whose hypotheses differ in number from its references.
    """
    import numpy as np

    chrf = _sacrebleu().metrics.CHRF()
    stats = []
    for baseline, candidate, references in sets:
        _check_lengths(baseline, references, "baseline hypotheses")
        _check_lengths(candidate, references, "candidate hypotheses")
        refs = [list(references)]
        # sacreBLEU's own paired test works from these per-sentence statistics, summed over each resample.
        stats.append(
            (
                np.array(chrf._extract_corpus_statistics(list(baseline), refs), dtype=np.int64),
                np.array(chrf._extract_corpus_statistics(list(candidate), refs), dtype=np.int64),
            )
        )
    fixed_sentences = sum(n for _, n in fixed)
    fixed_weighted = sum(gain * n for gain, n in fixed)
    sentences = sum(len(b) for b, _ in stats) + fixed_sentences
    if not sentences:
        raise InvalidRequest("a pooled gain needs at least one sentence")

    def pooled(draws: Sequence[Any] | None) -> float:
        total = fixed_weighted
        for i, (baseline, candidate) in enumerate(stats):
            rows = slice(None) if draws is None else draws[i]
            gain = chrf._compute_score_from_stats(candidate[rows].sum(axis=0).tolist()).score
            gain -= chrf._compute_score_from_stats(baseline[rows].sum(axis=0).tolist()).score
            total += gain * len(baseline)
        return float(total / sentences)

    rng = np.random.default_rng(seed)
    not_better = sum(pooled([rng.integers(0, len(b), len(b)) for b, _ in stats]) <= 0 for _ in range(resamples))
    return PooledGain(round(pooled(None), 3), (not_better + 1) / (resamples + 1), sentences, resamples)
