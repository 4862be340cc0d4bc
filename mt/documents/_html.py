"""HTML and XML, parsed by lxml.

HTML: a unit is a run of text and inline elements (``<b>``, ``<a>``, ``<span>``, …) inside a block element, so a
sentence with a bold word or a link is one unit (``<gN>`` spans); inline code, line breaks, images and elements
marked ``translate="no"`` are kept whole (``<xN/>``). The ``alt``, ``title``, ``placeholder`` and ``aria-label``
attributes are units of their own. Scripts, styles, ``<pre>``, ``<code>``, ``<textarea>`` and everything under
``translate="no"`` (or ``class="notranslate"``) are never touched; tags and other attributes come back as they
were. XML (DeepL's ``tag_handling=xml``): every element is inline, so text runs across tags as one sentence.
Entity declarations are refused (no entity expansion); the network is never used.
"""

from __future__ import annotations

import copy
import html
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

from lxml import etree
from lxml import html as lxml_html

from mt._errors import DocumentError
from mt.documents._base import Document, Text, check_xml, decode
from mt.documents._inline import InlineBuilder, InlineNode, has_letters, parse_inline

INLINE = frozenset(
    "a abbr acronym b bdi bdo big button cite data del dfn em font i ins label mark q s small span strike strong sub "
    "sup time tt u".split()
)
# Inline elements kept whole inside a sentence (their content is code, or they have none).
KEPT_INLINE = frozenset("br code img input kbd math samp svg var wbr".split())
# Elements whose content is never translated.
SKIPPED = frozenset("script style pre code textarea noscript template svg math".split())
ATTRIBUTES = ("alt", "title", "placeholder", "aria-label")
# Blocks that --bilingual repeats (original, then a translated copy after it).
REPEATABLE = frozenset("p h1 h2 h3 h4 h5 h6 li dt dd blockquote figcaption".split())


def _tag(element: etree._Element) -> str:
    tag = element.tag
    if not isinstance(tag, str):
        return ""  # comments, processing instructions
    return etree.QName(tag).localname.lower()


def _no_translate(element: etree._Element) -> bool:
    return (element.get("translate") or "").lower() == "no" or "notranslate" in (element.get("class") or "").split()


@dataclass
class _Run:
    """Text and inline elements in ``container``: from its text (``anchor`` None) or a block child's tail."""

    container: etree._Element
    anchor: etree._Element | None
    elements: list[etree._Element]
    payload: dict[int, object] = field(default_factory=dict)


@dataclass
class _Attribute:
    element: etree._Element
    name: str


class MarkupDocument(Document):
    bilingual_supported = True

    def __init__(self, source: Text | None, root: etree._Element, xml: bool, fragment: bool, items: list, units):
        self.source = source
        self.root = root
        self.xml = xml
        self.fragment = fragment
        self.items = items
        self.docinfo_doctype = ""
        self.declaration = False
        self.data: bytes | None = None
        super().__init__(units)

    def _render(self, translations: list[str], bilingual: bool) -> bytes:
        if not self.units and self.data is not None:
            return self.data  # nothing translated: the input exactly, not a re-serialisation
        root = copy.deepcopy(self.root)
        # deepcopy gives new element objects: map the originals to the copies by their position in the tree.
        originals = {id(e): i for i, e in enumerate(self.root.iter())}
        copies = list(root.iter())

        def same(element: etree._Element | None) -> etree._Element | None:
            return None if element is None else copies[originals[id(element)]]

        for item, translation, original in zip(self.items, translations, self.units):
            if isinstance(item, _Attribute):
                target = same(item.element)
                assert target is not None
                value = translation if not bilingual or translation == original else f"{original} / {translation}"
                target.set(item.name, value)
        for item, translation, original in reversed(list(zip(self.items, translations, self.units))):
            if isinstance(item, _Run):
                container = same(item.container)
                assert container is not None
                run = _Run(container, same(item.anchor), [same(e) for e in item.elements], item.payload)  # type: ignore[misc]
                if bilingual and translation != original and self._repeatable(run):
                    twin = copy.deepcopy(container)
                    twin_run = _Run(twin, None, list(twin), item.payload)
                    _replace(twin_run, parse_inline(translation, _pairs(item.payload)), same)
                    twin.tail, container.tail = container.tail, None
                    container.addnext(twin)
                    continue
                _replace(run, parse_inline(translation, _pairs(item.payload)), same)
        return self._serialise(root)

    def _repeatable(self, run: _Run) -> bool:
        container = run.container
        return (
            not self.xml
            and _tag(container) in REPEATABLE
            and run.anchor is None
            and len(run.elements) == len(container)
            and container.getparent() is not None
        )

    def _serialise(self, root: etree._Element) -> bytes:
        if self.xml and self.fragment:
            parts = [html.escape(root.text or "", quote=False)]
            parts += [etree.tostring(child, encoding="unicode") for child in root]
            return "".join(parts).encode("utf-8")
        if self.xml:
            return etree.tostring(root, encoding="utf-8", xml_declaration=self.declaration)
        if self.fragment:
            parts = [html.escape(root.text or "", quote=False)]
            parts += [lxml_html.tostring(child, encoding="unicode") for child in root]
            return "".join(parts).encode("utf-8")
        doctype = self.docinfo_doctype
        body = lxml_html.tostring(root, encoding="unicode", doctype=doctype or None)
        return body.encode("utf-8")


def _pairs(payload: dict[int, object]) -> dict[int, bool]:
    return {n: p[0] == "pair" for n, p in payload.items()}  # type: ignore[index]


def _replace(run: _Run, nodes: list[InlineNode], same: Callable[[etree._Element], etree._Element]) -> None:
    """Put a translated run back: its text slot and its inline elements, rebuilt from the translation's tree.
    ``same`` maps an element of the parsed tree to its copy being rendered."""
    container = run.container
    position = 0 if run.anchor is None else container.index(run.anchor) + 1
    for element in run.elements:
        container.remove(element)
    built: list[etree._Element] = []
    slot_text = _fill(nodes, run.payload, built, same)
    if run.anchor is None:
        container.text = slot_text
    else:
        run.anchor.tail = slot_text
    for offset, element in enumerate(built):
        container.insert(position + offset, element)


def _fill(
    nodes: list[InlineNode] | tuple[InlineNode, ...],
    payload: dict[int, object],
    out: list,
    same: Callable[[etree._Element], etree._Element],
) -> str:
    """Append the elements of ``nodes`` to ``out``; returns the text before the first (later text becomes
    each element's tail)."""
    leading: list[str] = []
    for node in nodes:
        if not node.number:
            if out:
                out[-1].tail = (out[-1].tail or "") + node.text
            else:
                leading.append(node.text)
            continue
        kind, original = cast(tuple[str, etree._Element], payload[node.number])
        element = same(original)
        if kind == "pair":
            shell = etree.Element(element.tag, attrib=dict(element.attrib), nsmap=element.nsmap)
            children: list[etree._Element] = []
            shell.text = _fill(node.children, payload, children, same) or None
            for child in children:
                shell.append(child)
            shell.tail = None
            out.append(shell)
        else:
            kept = copy.deepcopy(element)
            kept.tail = None
            out.append(kept)
    return "".join(leading) or None  # type: ignore[return-value]


class _Walker:
    def __init__(self, xml: bool):
        self.xml = xml
        self.items: list[object] = []
        self.units: list[str] = []

    def _inline(self, element: etree._Element) -> bool:
        return self.xml or _tag(element) in INLINE or _tag(element) in KEPT_INLINE or not isinstance(element.tag, str)

    def _contains_block(self, element: etree._Element) -> bool:
        return any(isinstance(e.tag, str) and not self._inline(e) for e in element.iterdescendants())

    def attributes(self, element: etree._Element) -> None:
        for name in ATTRIBUTES:
            value = element.get(name)
            if value and has_letters(value):
                self.items.append(_Attribute(element, name))
                self.units.append(value)

    def block(self, element: etree._Element) -> None:
        """Units of a block element: its runs of text and inline elements, and recursively its blocks."""
        if isinstance(element.tag, str) and (_tag(element) in SKIPPED and not self.xml or _no_translate(element)):
            return
        if isinstance(element.tag, str):
            self.attributes(element)
        anchor: etree._Element | None = None
        run: list[etree._Element] = []
        slot = element.text or ""
        for child in list(element):
            if self._inline(child) and not (isinstance(child.tag, str) and self._contains_block(child)):
                run.append(child)
                continue
            self._run(element, anchor, slot, run)
            self.block(child)
            anchor, run, slot = child, [], child.tail or ""
        self._run(element, anchor, slot, run)

    def _run(self, container: etree._Element, anchor, slot: str, elements: list[etree._Element]) -> None:
        builder = InlineBuilder()
        builder.text(slot)
        letters = has_letters(slot)
        for element in elements:
            letters = self._element(builder, element) or letters
            builder.text(element.tail or "")
            letters = letters or has_letters(element.tail or "")
        if letters:
            self.items.append(_Run(container, anchor, elements, builder.payload))
            self.units.append(builder.unit)

    def _element(self, builder: InlineBuilder, element: etree._Element) -> bool:
        """Write one inline element into ``builder``; whether it added letters to translate."""
        tag = _tag(element)
        empty = self.xml and not element.text and not len(element)
        if not isinstance(element.tag, str) or tag in KEPT_INLINE and not self.xml or _no_translate(element) or empty:
            if isinstance(element.tag, str) and not _no_translate(element):
                self.attributes(element)
            builder.keep(("keep", element))
            return False
        self.attributes(element)
        number = builder.open(("pair", element))
        builder.text(element.text or "")
        letters = has_letters(element.text or "")
        for child in element:
            letters = self._element(builder, child) or letters
            builder.text(child.tail or "")
            letters = letters or has_letters(child.tail or "")
        builder.close(number)
        return letters


def parse(data: bytes, filename: str, format: str, fragment: bool = False, **options: object) -> MarkupDocument:
    """``fragment`` (xml): the data is markup without one root element (DeepL's ``tag_handling=xml`` texts)."""
    if format == "xml":
        # A prolog (declaration, document type) makes it a whole document, never a fragment.
        fragment = fragment and not data.lstrip().startswith((b"<?xml", b"<!DOCTYPE"))
        wrapped = b"<kakehashi-fragment>" + data + b"</kakehashi-fragment>" if fragment else data
        check_xml(wrapped, filename)
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
        try:
            tree = etree.fromstring(wrapped, parser)
        except etree.XMLSyntaxError as exc:
            raise DocumentError(f"{filename}: malformed XML ({exc}); well-formed XML is accepted") from exc
        walker = _Walker(xml=True)
        walker.block(tree)
        document = MarkupDocument(None, tree, True, fragment, walker.items, walker.units)
        document.declaration = data.lstrip().startswith(b"<?xml")
        document.data = data
        return document
    source = decode(data, filename)
    text = source.text
    head = text.lstrip()[:1024].lower()
    fragment = not (head.startswith("<!doctype") or "<html" in head)
    parser = lxml_html.HTMLParser(no_network=True, remove_comments=False, huge_tree=False)
    try:
        if fragment:
            root = lxml_html.fragment_fromstring(text, create_parent="div", parser=parser)
        else:
            root = lxml_html.document_fromstring(text, parser=parser)
    except (etree.ParserError, etree.XMLSyntaxError, ValueError) as exc:
        raise DocumentError(f"{filename}: not parseable as HTML ({exc})") from exc
    for meta in root.iter("meta"):
        if meta.get("charset"):
            meta.set("charset", "utf-8")  # the output is always UTF-8
    walker = _Walker(xml=False)
    walker.block(root)
    document = MarkupDocument(source, root, False, fragment, walker.items, walker.units)
    document.data = data
    if head.startswith("<!doctype"):
        document.docinfo_doctype = root.getroottree().docinfo.doctype
    return document


def inline_content(element: etree._Element) -> tuple[str, dict[int, object]] | None:
    """The unit of an XML element whose children are all inline (an XLIFF ``<source>``): the unit and what
    :func:`render_inline` needs; None when it has nothing to translate."""
    walker = _Walker(xml=True)
    walker._run(element, None, element.text or "", list(element))
    if not walker.items:
        return None
    run = walker.items[0]
    assert isinstance(run, _Run)
    return walker.units[0], run.payload


def render_inline(element: etree._Element, translation: str, payload: dict[int, object]) -> etree._Element:
    """A copy of ``element`` whose content is ``translation`` (a unit of :func:`inline_content`), inline elements
    rebuilt from the copy's."""
    twin = copy.deepcopy(element)
    positions = {id(e): i for i, e in enumerate(element.iter())}
    copies = list(twin.iter())
    run = _Run(twin, None, list(twin), payload)
    _replace(run, parse_inline(translation, _pairs(payload)), lambda e: copies[positions[id(e)]])
    return twin
