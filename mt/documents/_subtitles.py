"""Subtitles: SubRip (srt) and WebVTT (webvtt-py). Each cue's text is one unit; numbering, identifiers, timings,
cue settings, styles, regions and notes are written back as they were.

A cue wrapped over two lines is one sentence: its lines are joined for the model, and the translation is wrapped
again into as many lines (at the space nearest each break) when the target language separates words by spaces.
Tags inside cues (``<i>``, ``<v Bob>``) are kept by :func:`~mt.documents.translate_units`.
"""

from __future__ import annotations

import io

from mt._errors import DocumentError
from mt.documents._base import Document, Text, decode, encode
from mt.documents._inline import has_letters


def rewrap(text: str, lines: int) -> list[str]:
    """``text`` in ``lines`` lines of similar length, broken at spaces (one line when it has no spaces)."""
    words = text.split(" ")
    if lines <= 1 or len(words) < 2:
        return [text]
    out: list[str] = []
    rest = words
    for remaining in range(lines, 1, -1):
        target = len(" ".join(rest)) / remaining
        best, length = 1, len(rest[0])
        while best < len(rest) - 1 and abs(length + 1 + len(rest[best]) - target) < abs(length - target):
            length += 1 + len(rest[best])
            best += 1
        out.append(" ".join(rest[:best]))
        rest = rest[best:]
        if len(rest) < 2:
            break
    out.append(" ".join(rest))
    return out


class _CueDocument(Document):
    bilingual_supported = True

    def __init__(self, source: Text, cue_lines: list[list[str]]):
        self.source = source
        self.cue_lines = cue_lines  # per cue with text: its lines
        super().__init__([" ".join(line.strip() for line in lines) for lines in cue_lines])

    def _lines(self, index: int, translation: str, bilingual: bool) -> list[str]:
        original = self.cue_lines[index]
        lines = rewrap(translation, len(original))
        return [*original, *lines] if bilingual and translation != self.units[index] else lines


class SrtDocument(_CueDocument):
    def __init__(self, source: Text, subtitles: list, indices: list[int]):
        self.subtitles = subtitles
        self.indices = indices  # which subtitles have units
        super().__init__(source, [subtitles[i].content.split("\n") for i in indices])

    def _render(self, translations: list[str], bilingual: bool) -> bytes:
        import srt

        subtitles = list(self.subtitles)
        for number, (index, translation) in enumerate(zip(self.indices, translations)):
            subtitle = subtitles[index]
            content = "\n".join(self._lines(number, translation, bilingual))
            subtitles[index] = srt.Subtitle(subtitle.index, subtitle.start, subtitle.end, content, subtitle.proprietary)
        composed = srt.compose(subtitles, reindex=False, strict=False).rstrip("\n")
        ending = self.source.text[len(self.source.text.rstrip("\r\n")) :].replace("\r\n", "\n")
        return encode(composed + ending, self.source)


class VttDocument(_CueDocument):
    def __init__(self, source: Text, vtt: object, indices: list[int]):
        self.vtt = vtt
        self.indices = indices
        captions = vtt.captions  # type: ignore[attr-defined]
        super().__init__(source, [list(captions[i].lines) for i in indices])

    def _render(self, translations: list[str], bilingual: bool) -> bytes:
        import copy

        vtt = copy.deepcopy(self.vtt)
        for number, (index, translation) in enumerate(zip(self.indices, translations)):
            vtt.captions[index].lines = self._lines(number, translation, bilingual)  # type: ignore[attr-defined]
        return encode(vtt.content, self.source)  # type: ignore[attr-defined]


def parse(data: bytes, filename: str, format: str, **options: object) -> Document:
    source = decode(data, filename)
    text = source.text.replace("\r\n", "\n")
    if format == "srt":
        import srt

        try:
            subtitles = list(srt.parse(text))
        except srt.SRTParseError as exc:
            raise DocumentError(f"{filename}: not a valid SubRip (srt) file: {exc}") from exc
        indices = [i for i, s in enumerate(subtitles) if has_letters(s.content)]
        return SrtDocument(source, subtitles, indices)
    import webvtt
    from webvtt.errors import MalformedFileError

    try:
        vtt = webvtt.from_buffer(io.StringIO(text))
    except MalformedFileError as exc:
        raise DocumentError(f"{filename}: not a valid WebVTT file: {exc}") from exc
    indices = [i for i, c in enumerate(vtt.captions) if has_letters(c.text)]
    return VttDocument(source, vtt, indices)
