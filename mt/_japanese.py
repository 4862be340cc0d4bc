"""Content words for retrieval: Japanese through MeCab (fugashi + unidic-lite), other languages by words.

Both the reference index and the support score see text through :class:`ContentWords`, so that a word counts
the same way in the index, in a query and in an output.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from typing import Any

from mt._errors import MissingDependency

# Parts of speech (UniDic pos1) that carry content; particles, auxiliaries and symbols do not.
CONTENT_POS = frozenset({"名詞", "動詞", "形容詞", "形状詞", "副詞"})
_SYMBOL_POS = frozenset({"補助記号", "記号", "空白"})
# Nouns that are grammar rather than content (numerals are kept: dates and counts are facts worth matching).
_FUNCTION_NOUN_POS2 = frozenset({"助動詞語幹"})
_FUNCTION_LEMMAS = frozenset(
    {
        "する",
        "為る",
        "ある",
        "有る",
        "在る",
        "いる",
        "居る",
        "なる",
        "成る",
        "れる",
        "られる",
        "こと",
        "事",
        "もの",
        "物",
        "よう",
        "様",
        "ため",
        "為",
    }
)

ENGLISH_STOPWORDS = frozenset(
    """a an the and or but if of to in on at by for with from as into about over after before under between
    through during without within than then so is are was were be been being am do does did done have has had
    having it its it's this that these those there here i me my mine you your yours he him his she her hers we us
    our ours they them their theirs what which who whom whose when where why how not no nor can could will would
    shall should may might must also very just only too all any some such each both other more most own same
    s t don't didn't isn't wasn't aren't weren't i'm you're he's she's we're they're i've you've we've let's""".split()
)

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")


def _english_word(word: str) -> str:
    """Lower case, possessive dropped and a light plural stem, so that "temples" meets "temple"."""
    word = word.lower().replace("’", "'")
    if word.endswith("'s"):
        word = word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    return word


class ContentWords:
    """Tokeniser of text into content words, per language; safe to share between threads."""

    def __init__(self) -> None:
        self._tagger: Any = None
        self._lock = threading.Lock()

    def _japanese_tagger(self) -> Any:
        if self._tagger is None:
            try:
                import fugashi
                import unidic_lite  # noqa: F401  (the dictionary fugashi loads)
            except ImportError as exc:
                raise MissingDependency(
                    exc.name or "fugashi", "bridge", "Japanese tokenisation for references"
                ) from exc
            self._tagger = fugashi.Tagger()
        return self._tagger

    def words(self, text: str, lang: str, content_only: bool = True) -> list[str]:
        """Words of ``text`` in ``lang`` (``ja`` through MeCab, other languages by words), in order.

        With ``content_only`` (the support score), only nouns, verbs, adjectives and adverbs, without stop words;
        without it (retrieval, where BM25 weighs common words down itself), every word but symbols.
        """
        text = unicodedata.normalize("NFKC", text)
        if lang.split("-")[0] == "ja":
            return self._japanese(text, content_only)
        words = (_english_word(m) for m in _WORD.findall(text))
        return [w for w in words if w and not (content_only and w in ENGLISH_STOPWORDS)]

    def _japanese(self, text: str, content_only: bool) -> list[str]:
        tagger = self._japanese_tagger()
        with self._lock:
            nodes = [(node.surface, node.feature.pos1, node.feature.pos2, node.feature.lemma) for node in tagger(text)]
        words: list[str] = []
        for surface, pos1, pos2, lemma in nodes:
            if pos1 in _SYMBOL_POS:
                continue
            if not content_only:
                words.append(_english_word(surface) if surface.isascii() else lemma.split("-")[0] if lemma else surface)
                continue
            if pos1 not in CONTENT_POS or pos2 in _FUNCTION_NOUN_POS2:
                continue
            # Proper nouns keep their surface: UniDic's lemma for 京都 is the reading キョウト.
            if pos2 == "固有名詞" or not lemma or lemma == "*":
                word = surface
            else:
                word = lemma.split("-")[0]  # loanwords: ケーキ-cake
            if word in _FUNCTION_LEMMAS:
                continue
            if word.isascii():
                word = _english_word(word)
                if word in ENGLISH_STOPWORDS:
                    continue
            words.append(word)
        return words
