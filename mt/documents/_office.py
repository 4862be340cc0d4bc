"""Word (.docx, python-docx) and PowerPoint (.pptx, python-pptx) documents.

Every paragraph is a unit: of the body, tables, text boxes, headers and footers (docx); of every shape, group,
table and the speaker notes of every slide (pptx). Runs keep their formatting: the paragraph's most common run
formatting is its plain text, runs formatted otherwise (bold, italic, a colour, a link) are ``<gN>`` spans, and
tabs, breaks, fields and drawings are kept as ``<xN/>``. Paragraph properties, bookmarks and everything outside
the paragraphs are not touched. Encrypted (password-protected) files, corrupt packages, zip bombs and parts that
declare XML entities are refused before parsing (:func:`~mt.documents._base.check_zip`).
"""

from __future__ import annotations

import copy
import io
from collections import Counter
from dataclasses import dataclass
from typing import Any, cast

from lxml import etree

from mt._errors import DocumentError
from mt.documents._base import Document, check_zip
from mt.documents._inline import InlineBuilder, InlineNode, has_letters, parse_inline

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
A = "http://schemas.openxmlformats.org/drawingml/2006/main"
XML_SPACE = "{http://www.w3.org/XML/1998/namespace}space"


@dataclass(frozen=True)
class _Dialect:
    """The element names of one Office XML vocabulary."""

    ns: str
    run: str
    text: str
    props: str
    link: str | None  # an element that wraps runs (docx hyperlinks)
    inline: tuple[str, ...]  # other paragraph children that belong to the text (pptx breaks and fields)

    def q(self, name: str) -> str:
        return f"{{{self.ns}}}{name}"


WORD = _Dialect(W, "r", "t", "rPr", "hyperlink", ())
DRAWING = _Dialect(A, "r", "t", "rPr", None, ("br", "fld"))


@dataclass
class _Paragraph:
    element: etree._Element
    consumed: list[etree._Element]  # the children replaced when the translation is written
    base: etree._Element | None  # the run properties of plain text
    payload: dict[int, object]


def _key(props: etree._Element | None) -> bytes:
    return b"" if props is None else etree.tostring(props)


def _read(dialect: _Dialect, paragraph: etree._Element) -> tuple[_Paragraph, str] | None:
    """A paragraph's unit, or None when it has nothing to translate."""
    pieces: list[tuple[str, object, etree._Element | None]] = []  # ("text", str, props) / ("keep", el, props) / …
    consumed: list[etree._Element] = []

    def run_pieces(run: etree._Element) -> None:
        props = run.find(dialect.q(dialect.props))
        for child in run:
            if child is props:
                continue
            if child.tag == dialect.q(dialect.text):
                pieces.append(("text", child.text or "", props))
            else:
                pieces.append(("keep", child, props))

    for child in paragraph:
        if child.tag == dialect.q(dialect.run):
            consumed.append(child)
            run_pieces(child)
        elif dialect.link and child.tag == dialect.q(dialect.link):
            consumed.append(child)
            pieces.append(("open", child, None))
            for run in child.iter(dialect.q(dialect.run)):
                run_pieces(run)
            pieces.append(("close", child, None))
        elif any(child.tag == dialect.q(name) for name in dialect.inline):
            consumed.append(child)
            pieces.append(("element", child, None))
    text = "".join(str(value) for kind, value, _ in pieces if kind == "text")
    if not has_letters(text):
        return None
    weights: Counter[bytes] = Counter()
    props_of: dict[bytes, etree._Element | None] = {}
    for kind, value, props in pieces:
        if kind == "text":
            weights[_key(props)] += len(str(value))
            props_of[_key(props)] = props
    base_key = weights.most_common(1)[0][0]
    builder = InlineBuilder()
    open_format: tuple[bytes, int] | None = None
    links: list[int] = []

    def close_format() -> None:
        nonlocal open_format
        if open_format is not None:
            builder.close(open_format[1])
            open_format = None

    for kind, value, props in pieces:
        if kind == "text":
            key = _key(props)
            if open_format is not None and open_format[0] != key:
                close_format()
            if key != base_key and open_format is None:
                open_format = (key, builder.open(("format", None, props)))
            builder.text(str(value))
        elif kind == "keep":
            close_format()
            builder.keep(("run", value, props))
        elif kind == "element":
            close_format()
            builder.keep(("element", value, None))
        elif kind == "open":
            close_format()
            links.append(builder.open(("link", value, None)))
        else:
            close_format()
            builder.close(links.pop())
    close_format()
    return _Paragraph(paragraph, consumed, props_of[base_key], builder.payload), builder.unit


def _write(dialect: _Dialect, item: _Paragraph, translation: str) -> None:
    paragraph = item.element
    position = paragraph.index(item.consumed[0])
    for element in item.consumed:
        paragraph.remove(element)
    paired = {n: p[0] in ("format", "link") for n, p in item.payload.items()}  # type: ignore[index]
    built: list[etree._Element] = []
    _build(dialect, parse_inline(translation, paired), item.payload, item.base, built)
    for offset, element in enumerate(built):
        paragraph.insert(position + offset, element)


def _run(dialect: _Dialect, props: etree._Element | None, child: etree._Element) -> etree._Element:
    run = etree.Element(dialect.q(dialect.run))
    if props is not None:
        run.append(copy.deepcopy(props))
    run.append(child)
    return run


def _build(
    dialect: _Dialect,
    nodes: list[InlineNode] | tuple[InlineNode, ...],
    payload: dict[int, object],
    props: etree._Element | None,
    out: list[etree._Element],
) -> None:
    for node in nodes:
        if not node.number:
            if node.text:
                text = etree.Element(dialect.q(dialect.text))
                text.text = node.text
                if dialect is WORD and node.text != node.text.strip():
                    text.set(XML_SPACE, "preserve")
                out.append(_run(dialect, props, text))
            continue
        kind, element, own = cast(tuple[str, Any, Any], payload[node.number])
        if kind == "format":
            _build(dialect, node.children, payload, own, out)
        elif kind == "link":
            link = etree.Element(element.tag, attrib=dict(element.attrib))
            inner: list[etree._Element] = []
            _build(dialect, node.children, payload, props, inner)
            link.extend(inner)
            out.append(link)
        elif kind == "run":
            out.append(_run(dialect, own, copy.deepcopy(element)))
        else:
            out.append(copy.deepcopy(element))


class OfficeDocument(Document):
    def __init__(self, data: bytes, filename: str, format: str, units: list[str]):
        self.data = data
        self.filename = filename
        self.kind = format
        super().__init__(units)

    def _render(self, translations: list[str], bilingual: bool) -> bytes:
        package, paragraphs = _open(self.data, self.filename, self.kind)
        dialect = WORD if self.kind == "docx" else DRAWING
        # Last first: a paragraph inside another's drawing (a text box) is written before the outer paragraph
        # copies that drawing into its new runs.
        for (item, _), translation in reversed(list(zip(paragraphs, translations))):
            _write(dialect, item, translation)
        out = io.BytesIO()
        package.save(out)
        return out.getvalue()


def _word_parts(document):  # type: ignore[no-untyped-def]
    from docx.opc.part import XmlPart

    seen = set()
    for part in document.part.package.iter_parts():
        name = str(part.partname)
        if not isinstance(part, XmlPart) or name in seen:
            continue
        seen.add(name)
        if name == "/word/document.xml" or name.startswith(("/word/header", "/word/footer", "/word/footnotes")):
            yield name, part.element


def _slide_parts(presentation):  # type: ignore[no-untyped-def]
    for slide in presentation.slides:
        yield slide.element
        if slide.has_notes_slide:
            yield slide.notes_slide.element


def _open(data: bytes, filename: str, format: str):  # type: ignore[no-untyped-def]
    """The package and its paragraphs' (item, unit), in document order (body first, then headers and footers)."""
    check_zip(data, filename, "." + format)
    package: Any
    try:
        if format == "docx":
            import docx

            package = docx.Document(io.BytesIO(data))
            roots = [element for _, element in sorted(_word_parts(package), key=lambda p: p[0] != "/word/document.xml")]
            dialect, paragraph_tag = WORD, f"{{{W}}}p"
        else:
            import pptx

            package = pptx.Presentation(io.BytesIO(data))
            roots = list(_slide_parts(package))
            dialect, paragraph_tag = DRAWING, f"{{{A}}}p"
    except (KeyError, ValueError, etree.XMLSyntaxError) as exc:
        raise DocumentError(f"{filename}: not a valid {format} document ({type(exc).__name__}: {exc})") from exc
    except Exception as exc:
        # python-docx and python-pptx raise their own PackageNotFoundError for what is not an Office package.
        if type(exc).__name__ in ("PackageNotFoundError", "InvalidXmlError"):
            raise DocumentError(f"{filename}: not a valid {format} document ({exc})") from exc
        raise
    paragraphs = []
    for root in roots:
        for paragraph in root.iter(paragraph_tag):
            found = _read(dialect, paragraph)
            if found is not None:
                paragraphs.append(found)
    return package, paragraphs


def parse(data: bytes, filename: str, format: str, **options: object) -> OfficeDocument:
    _, paragraphs = _open(data, filename, format)
    return OfficeDocument(data, filename, format, [unit for _, unit in paragraphs])
