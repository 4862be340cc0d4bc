"""Plain text: paragraphs (runs of non-blank lines) are units; blank lines, indentation and line ends are kept.

A paragraph goes to the model whole (its line breaks inside, which the pipeline keeps), so a sentence wrapped
over two lines stays one sentence.
"""

from __future__ import annotations

from mt.documents._base import Document, Text, decode, encode
from mt.documents._inline import has_letters


class TextDocument(Document):
    bilingual_supported = True

    def __init__(self, source: Text, blocks: list[tuple[bool, str]]):
        self.source = source
        self.blocks = blocks  # (is a unit, text) in order; non-units are blank lines between paragraphs
        super().__init__([text for is_unit, text in blocks if is_unit])

    def _render(self, translations: list[str], bilingual: bool) -> bytes:
        out = []
        pending = iter(translations)
        for is_unit, text in self.blocks:
            if not is_unit:
                out.append(text)
                continue
            translated = next(pending)
            if bilingual:
                # Original paragraph, then its translation with the same indentation, as its own paragraph.
                indent = text[: len(text) - len(text.lstrip(" \t"))]
                translated = f"{text}\n\n{indent}{translated.lstrip(' ')}" if translated != text else text
            out.append(translated)
        return encode("".join(out), self.source)


def parse(data: bytes, filename: str, format: str, **options: object) -> TextDocument:
    source = decode(data, filename)
    text = source.text.replace("\r\n", "\n")
    blocks: list[tuple[bool, str]] = []
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            body = "".join(paragraph)
            core = body.rstrip("\n")
            blocks.append((has_letters(core), core))
            blocks.append((False, body[len(core) :]))
            paragraph.clear()

    for line in text.splitlines(keepends=True):
        if line.strip():
            paragraph.append(line)
        else:
            flush()
            blocks.append((False, line))
    flush()
    return TextDocument(source, blocks)
