"""Sentence segmentation that keeps the layout.

:func:`segment` cuts a text into :class:`Piece` s that, concatenated, give back the exact input: sentences
to translate, and the whitespace and line breaks between them, which are kept verbatim (except that spaces
between sentences are dropped when the target language writes without spaces, and added where it writes
with them). Japanese and Chinese sentences end at 。！？ (and their ASCII forms), never inside 「」『』（）
quotes; space-delimited languages end at . ! ? followed by whitespace and a capital, with common
abbreviations excepted.

:func:`split_long` splits a sentence that is longer than a model accepts at clause boundaries, then at
spaces, then anywhere — text is never truncated.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

_CJK_TERMINALS = "。！？!?．…"
_LATIN_TERMINALS = ".!?…"
_OPENING = "「『（(〈《【〔[“‘\"'"
_CLOSING = "」』）)〉》】〕]”’\"'"
_PAIRS = dict(zip("「『（(〈《【〔[“", "」』）)〉》】〕]”"))
# Abbreviations only before a number ("No. 5", "Vol. 2"); elsewhere the word ends a sentence ("I said no.").
_BEFORE_NUMBERS = {"no", "vol", "fig", "ch", "art", "pp"}
_NO_SPACE_LANGUAGES = {"ja", "zh", "th", "lo", "km", "my"}
_ABBREVIATIONS = {
    "mr",
    "mrs",
    "ms",
    "dr",
    "prof",
    "sr",
    "jr",
    "st",
    "mt",
    "vs",
    "etc",
    "e.g",
    "i.e",
    "cf",
    "inc",
    "ltd",
    "co",
    "corp",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
    "u.s",
    "u.k",
    "a.m",
    "p.m",
    "approx",
    "dept",
    "est",
    "gen",
    "gov",
    "rev",
    "sgt",
    "capt",
    "col",
    "lt",
}


@dataclass(frozen=True)
class Piece:
    """A slice of the original text: ``text[start:end]``; ``translate`` is false for layout (whitespace)."""

    text: str
    start: int
    end: int
    translate: bool


def writes_without_spaces(language: str) -> bool:
    return language.split("-")[0] in _NO_SPACE_LANGUAGES


def _is_cjk(ch: str) -> bool:
    code = ord(ch)
    return (
        0x3040 <= code <= 0x30FF
        or 0x3400 <= code <= 0x9FFF
        or 0xF900 <= code <= 0xFAFF
        or 0xFF00 <= code <= 0xFFEF
        or 0x20000 <= code <= 0x2FFFF
    )


def _sentence_ends(line: str) -> list[int]:
    """Offsets in ``line`` just after each sentence end (the last one is ``len(line)``)."""
    ends: list[int] = []
    depth: list[str] = []
    i, n = 0, len(line)
    while i < n:
        ch = line[i]
        if ch in _PAIRS and ch not in "\"'":
            depth.append(_PAIRS[ch])
        elif depth and ch == depth[-1]:
            depth.pop()
        if ch in _CJK_TERMINALS or ch in _LATIN_TERMINALS:
            j = i + 1
            while j < n and (line[j] in _CJK_TERMINALS or line[j] in _LATIN_TERMINALS):
                j += 1
            # Closing quotes and brackets belong to the sentence they close.
            while j < n and line[j] in _CLOSING:
                if depth and line[j] == depth[-1]:
                    depth.pop()
                j += 1
            if not depth and _ends_here(line, i, j):
                ends.append(j)
            i = j
            continue
        i += 1
    if not ends or ends[-1] != n:
        ends.append(n)
    return ends


def _ends_here(line: str, terminal: int, after: int) -> bool:
    if after >= len(line):
        return True
    ch = line[terminal]
    nxt = line[after]
    if ch in "。！？．" or _is_cjk(ch):
        # Full-width terminals end a sentence unless a quoting particle follows (「…。」と言った).
        return not (line[after - 1] in _CLOSING and nxt in "とっ")
    if ch in "!?" and _is_cjk(nxt):
        return True
    if not nxt.isspace():
        return False
    rest = line[after:].lstrip()
    if not rest:
        return True
    first = rest[0]
    if ch == ".":
        word = re.search(r"([\w.]+)\.$", line[: terminal + 1])
        if word and (word[1].lower() in _ABBREVIATIONS or re.fullmatch(r"[A-Z]", word[1])):
            return False
        if word and word[1].lower() in _BEFORE_NUMBERS and first.isdigit():
            return False
        if first.islower():
            return False
    return first.isupper() or first.isdigit() or first in _OPENING or not first.isascii()


def segment(text: str) -> list[Piece]:
    """Cut ``text`` into sentences and the layout between them; ``"".join(p.text for p in pieces) == text``."""
    pieces: list[Piece] = []
    for match in re.finditer(r"[^\n]+|\n+", text):
        start = match.start()
        chunk = match.group()
        if chunk.startswith("\n") or not chunk.strip():
            pieces.append(Piece(chunk, start, match.end(), False))
            continue
        begin = 0
        for end in _sentence_ends(chunk):
            sentence = chunk[begin:end]
            stripped = sentence.strip()
            if stripped:
                lead = len(sentence) - len(sentence.lstrip())
                trail = len(sentence) - len(sentence.rstrip())
                if lead:
                    pieces.append(Piece(sentence[:lead], start + begin, start + begin + lead, False))
                s0 = start + begin + lead
                pieces.append(Piece(stripped, s0, s0 + len(stripped), True))
                if trail:
                    pieces.append(Piece(sentence[len(sentence) - trail :], start + end - trail, start + end, False))
            elif sentence:
                pieces.append(Piece(sentence, start + begin, start + end, False))
            begin = end
    return pieces


def join_translation(pieces: list[Piece], translations: list[str], target_language: str) -> str:
    """Put translated sentences back into the original layout.

    Line breaks and indentation are kept as they were; spaces *between* two sentences on one line are
    dropped for targets that write without spaces, and a space is added between sentences for targets that
    use spaces when the source had none.
    """
    out: list[str] = []
    sentences = iter(translations)
    no_space = writes_without_spaces(target_language)
    previous_was_sentence = False
    for index, piece in enumerate(pieces):
        if piece.translate:
            if previous_was_sentence and not no_space:
                out.append(" ")
            out.append(next(sentences))
            previous_was_sentence = True
            continue
        between = (
            previous_was_sentence and "\n" not in piece.text and index + 1 < len(pieces) and pieces[index + 1].translate
        )
        if between and no_space:
            previous_was_sentence = False
            continue
        out.append(piece.text)
        previous_was_sentence = False
    return "".join(out)


_CLAUSE_BREAKS = re.compile(r"(?<=[、，,;；:：])")


def split_long(sentence: str, max_tokens: int, count_tokens: Callable[[str], int]) -> list[str]:
    """Split ``sentence`` into parts of at most ``max_tokens`` tokens each, losing no character.

    ``"".join(parts) == sentence``. Splits at clause punctuation first, then at spaces, then between
    characters, always preferring the latest split point that fits.
    """
    if count_tokens(sentence) <= max_tokens:
        return [sentence]
    for splitter in (_CLAUSE_BREAKS, re.compile(r"(?<=\s)")):
        units = [u for u in splitter.split(sentence) if u]
        if len(units) > 1:
            return _pack(units, max_tokens, count_tokens)
    # No natural break point: cut in half by characters until every part fits.
    middle = len(sentence) // 2
    if middle == 0:
        return [sentence]
    return split_long(sentence[:middle], max_tokens, count_tokens) + split_long(
        sentence[middle:], max_tokens, count_tokens
    )


def _pack(units: list[str], max_tokens: int, count_tokens: Callable[[str], int]) -> list[str]:
    parts: list[str] = []
    current = ""
    for unit in units:
        candidate = current + unit
        if current and count_tokens(candidate) > max_tokens:
            parts.append(current)
            current = unit
        else:
            current = candidate
    if current:
        parts.append(current)
    result: list[str] = []
    for part in parts:
        result.extend(split_long(part, max_tokens, count_tokens) if count_tokens(part) > max_tokens else [part])
    return result
