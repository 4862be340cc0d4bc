"""Translating the text of HTML/XML while keeping its markup.

Tags, comments and the contents of ``<script>``/``<style>``/``<code>``/``<pre>`` stay as they are; each run of text
between tags is unescaped, translated, and escaped again. Runs without letters (whitespace, numbers, punctuation)
are left alone.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable

_TOKEN = re.compile(r"(<!--.*?-->|<!\[CDATA\[.*?\]\]>|<[^>]*>)", re.DOTALL)
_RAW = {"script", "style", "code", "pre"}


def translatable_runs(markup: str) -> tuple[list[str], list[tuple[int, str]]]:
    """Split ``markup`` into parts; returns (parts, [(index of a text part, its unescaped text)])."""
    parts = _TOKEN.split(markup)
    runs: list[tuple[int, str]] = []
    raw_depth = 0
    for index, part in enumerate(parts):
        if index % 2 == 1:  # a tag or comment
            match = re.match(r"<\s*(/)?\s*([A-Za-z][\w:-]*)", part)
            if match and match[2].lower() in _RAW and not part.rstrip().endswith("/>"):
                raw_depth = max(0, raw_depth - 1) if match[1] else raw_depth + 1
            continue
        text = html.unescape(part)
        if raw_depth == 0 and any(ch.isalpha() for ch in text):
            runs.append((index, text))
    return parts, runs


def translate_markup(markups: list[str], translate: Callable[[list[str]], list[str]]) -> list[str]:
    """Translate the text runs of several documents in one call of ``translate``; markup is kept."""
    split = [translatable_runs(m) for m in markups]
    texts = []
    for _, runs in split:
        for _, text in runs:
            stripped = text.strip()
            texts.append(stripped)
    translated = iter(translate(texts))
    out = []
    for parts, runs in split:
        parts = list(parts)
        for index, text in runs:
            lead = text[: len(text) - len(text.lstrip())]
            trail = text[len(text.rstrip()) :]
            parts[index] = lead + html.escape(next(translated), quote=False) + trail
        out.append("".join(parts))
    return out
