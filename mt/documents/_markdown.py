"""Markdown (CommonMark with tables and strikethrough), parsed by markdown-it-py.

Units are the inline contents of paragraphs, headings and table cells, with emphasis, strong, strikethrough and
links as ``<gN>`` spans, and inline code, images, raw inline HTML and hard line breaks kept as ``<xN/>``. Only the
source lines of those inline contents are rewritten: code blocks, fences, HTML blocks, front matter, link
reference definitions, list markers, quote markers and indentation stay byte for byte. A paragraph wrapped over
several lines comes back on one line (the same paragraph to any Markdown reader).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mt.documents._base import Document, Text, decode, encode
from mt.documents._inline import InlineBuilder, InlineNode, has_letters, parse_inline

_PAIRED = {"em_open": "em_close", "strong_open": "strong_close", "s_open": "s_close", "link_open": "link_close"}
# Characters that would turn translated text into markup (`_` only where it can open or close emphasis).
_ESCAPE = re.compile(r"([\\`*\[\]<])|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
# A line that starts like a block (heading, list item, quote, thematic break, table row) would change the structure.
_BLOCK_START = re.compile(r"^(#{1,6}(?:\s|$)|[-+*](?:\s|$)|>|=+\s*$|\d{1,9}[.)](?:\s|$)|\|)")


def _escape(text: str) -> str:
    text = text.replace("\n", " ")
    return _ESCAPE.sub(lambda m: "\\" + m.group(), text)


@dataclass
class _Edit:
    unit: int
    line: int  # first source line
    count: int  # content lines replaced (blocks); 0 for a table cell
    prefixes: list[str] = field(default_factory=list)
    suffix: str = ""
    heading: bool = False
    span: tuple[int, int] = (0, 0)  # table cell: columns in its line
    payload: dict[int, object] = field(default_factory=dict)


class MarkdownDocument(Document):
    bilingual_supported = True

    def __init__(self, source: Text, lines: list[str], edits: list[_Edit], units: list[str]):
        self.source = source
        self.lines = lines
        self.edits = edits
        super().__init__(units)

    def _inline(self, edit: _Edit, translation: str) -> str:
        paired = {n: isinstance(p, tuple) for n, p in edit.payload.items()}
        return _render_nodes(parse_inline(translation, paired), edit.payload)

    def _render(self, translations: list[str], bilingual: bool) -> bytes:
        lines: list[str | None] = list(self.lines)
        cells: dict[int, list[tuple[int, int, str]]] = {}
        for edit in self.edits:
            translated = self._inline(edit, translations[edit.unit])
            original = self.units[edit.unit]
            if edit.count == 0:
                text = translated.replace("\\\n", " ").replace("|", "\\|")
                if bilingual:
                    text = self._original(edit) + " / " + text
                cells.setdefault(edit.line, []).append((edit.span[0], edit.span[1], text))
                continue
            ending = _ending(self.lines[edit.line + edit.count - 1])
            continuation = re.sub(r"[^>]", " ", edit.prefixes[0])
            if edit.heading:
                text = translated.replace("\\\n", " ")
                if bilingual and translations[edit.unit] != original:
                    text = f"{self._original(edit)} / {text}"
                block = [edit.prefixes[0] + _guard(text) + edit.suffix + ending]
            else:
                parts = translated.split("\n")
                side = bilingual and translations[edit.unit] != original
                prefixes = [continuation] * len(parts) if side else edit.prefixes
                block = [
                    (prefixes[j] if j < len(prefixes) else continuation)
                    + _guard(part)
                    + ("\n" if j < len(parts) - 1 else "")
                    for j, part in enumerate(parts)
                ]
                block[-1] += edit.suffix + ending
                if side:
                    # The original paragraph, a blank line inside the same container, then the translation.
                    kept = "".join(self.lines[edit.line : edit.line + edit.count])
                    blank = continuation.rstrip() + (ending or "\n")
                    block = [kept if kept.endswith("\n") else kept + "\n", blank, *block]
            lines[edit.line] = "".join(block)
            for k in range(1, edit.count):
                lines[edit.line + k] = None
        for number, spans in cells.items():
            line = lines[number]
            assert line is not None
            for start, end, text in sorted(spans, reverse=True):
                line = line[:start] + text + line[end:]
            lines[number] = line
        return encode("".join(line for line in lines if line is not None), self.source)

    def _original(self, edit: _Edit) -> str:
        if edit.count == 0:
            return self.lines[edit.line][edit.span[0] : edit.span[1]]
        line = self.lines[edit.line]
        return line[len(edit.prefixes[0]) : len(line.rstrip("\r\n")) - len(edit.suffix)]


def _ending(line: str) -> str:
    return line[len(line.rstrip("\r\n")) :]


def _guard(text: str) -> str:
    return "\\" + text if _BLOCK_START.match(text) else text


def _render_nodes(nodes: list[InlineNode] | tuple[InlineNode, ...], payload: dict[int, object]) -> str:
    out = []
    for node in nodes:
        if not node.number:
            out.append(_escape(node.text))
            continue
        value = payload[node.number]
        if isinstance(value, tuple):
            out.append(value[0] + _render_nodes(node.children, payload) + value[1])
        else:
            out.append(str(value))
    return "".join(out)


def _link_target(md: object, token: object, attribute: str = "href") -> str:
    href = md.normalizeLinkText(token.attrGet(attribute) or "")  # type: ignore[attr-defined]
    if not href or re.search(r"[\s()<>]", href):
        href = f"<{href}>"
    title = token.attrGet("title")  # type: ignore[attr-defined]
    if title:
        href += ' "' + str(title).replace('"', '\\"') + '"'
    return href


def _build(md: object, children: Sequence[Any]) -> InlineBuilder:
    builder = InlineBuilder()
    stack: list[tuple[str, int]] = []
    index = 0
    while index < len(children):
        token = children[index]
        kind = token.type  # type: ignore[attr-defined]
        if kind == "text":
            builder.text(token.content)  # type: ignore[attr-defined]
        elif kind == "softbreak":
            builder.text(" ")
        elif kind == "hardbreak":
            builder.keep("\\\n")
        elif kind == "code_inline":
            markup = token.markup  # type: ignore[attr-defined]
            content = token.content  # type: ignore[attr-defined]
            pad = " " if content.startswith("`") or content.endswith("`") else ""
            builder.keep(f"{markup}{pad}{content}{pad}{markup}")
        elif kind == "html_inline":
            builder.keep(token.content)  # type: ignore[attr-defined]
        elif kind == "image":
            alt = "".join(c.content for c in token.children or [])  # type: ignore[attr-defined]
            builder.keep(f"![{_escape(alt)}]({_link_target(md, token, 'src')})")
        elif kind == "link_open" and token.markup in ("autolink", "linkify"):  # type: ignore[attr-defined]
            end = index
            while children[end].type != "link_close":  # type: ignore[attr-defined]
                end += 1
            text = "".join(c.content for c in children[index + 1 : end])  # type: ignore[attr-defined]
            builder.keep(f"<{text}>" if token.markup == "autolink" else text)  # type: ignore[attr-defined]
            index = end
        elif kind in _PAIRED:
            if kind == "link_open":
                pair = ("[", "](" + _link_target(md, token) + ")")
            else:
                pair = (token.markup, token.markup)  # type: ignore[attr-defined]
            stack.append((_PAIRED[kind], builder.open(pair)))
        elif stack and kind == stack[-1][0]:
            builder.close(stack.pop()[1])
        else:
            builder.keep(token.content or "")  # type: ignore[attr-defined]
        index += 1
    return builder


def parse(data: bytes, filename: str, format: str, **options: object) -> MarkdownDocument:
    from markdown_it import MarkdownIt

    source = decode(data, filename)
    lines = source.text.splitlines(keepends=True)
    parsed = list(lines)
    # YAML/TOML front matter is data, not prose: hidden from the parser (as blank lines, so line numbers hold).
    if lines and lines[0].rstrip() in ("---", "+++"):
        fence = lines[0].rstrip()
        for end in range(1, len(lines)):
            if lines[end].rstrip() in (fence, "..."):
                parsed[: end + 1] = ["\n"] * (end + 1)
                break
    md = MarkdownIt("commonmark").enable("table").enable("strikethrough")
    tokens = md.parse("".join(parsed))
    edits: list[_Edit] = []
    units: list[str] = []
    cell_cursor: dict[int, int] = {}
    for position, token in enumerate(tokens):
        if token.type != "inline" or token.map is None or not token.children:
            continue
        opener = tokens[position - 1].type if position else ""
        builder = _build(md, token.children)
        if not has_letters("".join(c.content for c in token.children if c.type == "text")):
            continue
        first = token.map[0]
        if opener in ("th_open", "td_open"):
            line = lines[first]
            cell = token.content.strip()
            start = line.find(cell, cell_cursor.get(first, 0))
            if start < 0 or not cell:
                continue
            cell_cursor[first] = start + len(cell)
            edits.append(_Edit(len(units), first, 0, span=(start, start + len(cell)), payload=builder.payload))
            units.append(builder.unit)
            continue
        if opener not in ("paragraph_open", "heading_open"):
            continue
        content_lines = token.content.split("\n")
        prefixes, suffix, ok = [], "", True
        for k, content in enumerate(content_lines):
            line = lines[first + k].rstrip("\r\n")
            stripped = content.strip()
            start = line.find(stripped)
            if start < 0:
                ok = False
                break
            prefixes.append(line[:start])
            suffix = line[start + len(stripped) :]
        if not ok:
            continue
        if not suffix.strip() or suffix.strip().strip("#") == "":
            suffix = suffix if suffix.strip() else ""
        edits.append(
            _Edit(
                len(units),
                first,
                len(content_lines),
                prefixes=prefixes,
                suffix=suffix,
                heading=opener == "heading_open",
                payload=builder.payload,
            )
        )
        units.append(builder.unit)
    return MarkdownDocument(source, lines, edits, units)
