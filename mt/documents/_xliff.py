"""XLIFF 1.x (translate-toolkit for the file, lxml for the inline markup of each segment).

Each translatable ``<trans-unit>`` without a target (or, with ``overwrite``, every one) is a unit; its inline
elements (``<g>``, ``<x/>``, ``<bpt>``, …) are kept as ``<gN>``/``<xN/>`` tokens and rebuilt in the target. Ids,
notes, states of existing targets, ``translate="no"`` units and everything else are written back as they were.
"""

from __future__ import annotations

from mt._errors import DocumentError
from mt.documents._base import Document, check_xml
from mt.documents._html import inline_content, render_inline


class XliffDocument(Document):
    def __init__(self, data: bytes, filename: str, places: list[tuple[int, dict[int, object]]], units: list[str]):
        self.data = data
        self.filename = filename
        self.places = places  # (index of the trans-unit, inline payload) per unit
        super().__init__(units)

    def _render(self, translations: list[str], bilingual: bool) -> bytes:
        store = _load(self.data, self.filename)
        for (index, _), translation in zip(self.places, translations):
            unit = store.units[index]
            # The store was parsed again: the inline elements are read again from its own <source>.
            found = inline_content(unit.source_dom)
            assert found is not None
            target = render_inline(unit.source_dom, translation, found[1])
            target.tag = target.tag[: -len("source")] + "target"
            target.attrib.clear()
            unit.set_target_dom(target)
        return bytes(store)


def _load(data: bytes, filename: str):  # type: ignore[no-untyped-def]
    from lxml import etree
    from translate.storage import xliff

    try:
        return xliff.xlifffile.parsestring(data)
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise DocumentError(f"{filename}: not a valid XLIFF file ({exc})") from exc


def parse(data: bytes, filename: str, format: str, overwrite: bool = False, **options: object) -> XliffDocument:
    check_xml(data, filename)
    store = _load(data, filename)
    places: list[tuple[int, dict[int, object]]] = []
    units: list[str] = []
    for index, unit in enumerate(store.units):
        if unit.isheader() or not unit.istranslatable():
            continue
        if unit.target and not overwrite:
            continue
        found = inline_content(unit.source_dom)
        if found is None:
            continue
        places.append((index, found[1]))
        units.append(found[0])
    if not store.units and b"xliff" not in data[:4096]:
        raise DocumentError(f"{filename}: no XLIFF document (no <xliff> root with <trans-unit> elements)")
    return XliffDocument(data, filename, places, units)
