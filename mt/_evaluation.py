"""Scoring translations with sacreBLEU: one rule for training, the tests and the benchmarks.

BLEU uses the tokenizer that fits the target language (``ja-mecab`` for Japanese, ``zh`` for Chinese, ``13a``
otherwise); chrF is language-independent. Each score comes with its sacreBLEU signature so that reports say
exactly how they were computed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

BLEU_TOKENIZERS = {"ja": "ja-mecab", "zh": "zh"}


def bleu_tokenizer(target_lang: str) -> str:
    """sacreBLEU's tokenizer for references in ``target_lang`` (a language code such as ``ja`` or ``en``)."""
    return BLEU_TOKENIZERS.get(target_lang.split("-")[0].lower(), "13a")


@dataclass(frozen=True)
class CorpusScore:
    bleu: float
    chrf: float
    bleu_signature: str
    chrf_signature: str

    def to_json(self) -> dict[str, float | str]:
        return asdict(self)


def score_corpus(hypotheses: Sequence[str], references: Sequence[str], target_lang: str) -> CorpusScore:
    """Corpus BLEU and chrF of ``hypotheses`` against one reference each, rounded to two decimals."""
    import sacrebleu

    bleu = sacrebleu.metrics.BLEU(tokenize=bleu_tokenizer(target_lang))
    chrf = sacrebleu.metrics.CHRF()
    return CorpusScore(
        bleu=round(bleu.corpus_score(list(hypotheses), [list(references)]).score, 2),
        chrf=round(chrf.corpus_score(list(hypotheses), [list(references)]).score, 2),
        bleu_signature=str(bleu.get_signature()),
        chrf_signature=str(chrf.get_signature()),
    )
