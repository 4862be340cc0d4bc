"""gettext PO/POT catalogues, parsed by polib.

Entries without a translation (or, with ``overwrite``, every entry) are units: ``msgid``, and for plural entries
``msgid_plural`` too, which fills every plural form after the first. Ids, contexts, comments, references, flags
(``fuzzy``, ``python-format``, …), obsolete entries and the header are written back as they were.
"""

from __future__ import annotations

from mt._errors import DocumentError
from mt.documents._base import Document, Text, decode, encode
from mt.documents._inline import has_letters


def _plural_count(catalogue) -> int:  # type: ignore[no-untyped-def]
    forms = catalogue.metadata.get("Plural-Forms", "")
    for part in forms.split(";"):
        key, _, value = part.strip().partition("=")
        if key.strip() == "nplurals" and value.strip().isdigit():
            return max(1, int(value.strip()))
    return 2


class PoDocument(Document):
    def __init__(self, source: Text, text: str, places: list[tuple[int, str]], units: list[str]):
        self.source = source
        self.text = text
        self.places = places  # (entry index, "msgid" | "msgid_plural") per unit
        super().__init__(units)

    def _render(self, translations: list[str], bilingual: bool) -> bytes:
        catalogue = _load(self.text, "document")
        entries = list(catalogue)
        count = _plural_count(catalogue)
        for (index, field), translation in zip(self.places, translations):
            entry = entries[index]
            if not entry.msgid_plural:
                entry.msgstr = translation
                continue
            forms = sorted(entry.msgstr_plural) or list(range(count))
            for form in forms:
                if (form == 0) == (field == "msgid"):
                    entry.msgstr_plural[form] = translation
        text = catalogue.__unicode__()
        if text.startswith("#\n") and not self.text.startswith("#"):
            text = text[2:]  # polib writes an empty header comment the source did not have
        return encode(text, self.source)


def _load(text: str, filename: str):  # type: ignore[no-untyped-def]
    import polib

    try:
        return polib.pofile(text, wrapwidth=0)
    except (OSError, ValueError) as exc:
        raise DocumentError(f"{filename}: not a valid PO file ({exc})") from exc


def parse(data: bytes, filename: str, format: str, overwrite: bool = False, **options: object) -> PoDocument:
    source = decode(data, filename)
    catalogue = _load(source.text, filename)
    places: list[tuple[int, str]] = []
    units: list[str] = []
    for index, entry in enumerate(catalogue):
        if entry.obsolete or not entry.msgid:
            continue
        done = any(entry.msgstr_plural.values()) if entry.msgid_plural else bool(entry.msgstr)
        if done and not overwrite:
            continue
        for field in ("msgid", "msgid_plural") if entry.msgid_plural else ("msgid",):
            text = getattr(entry, field)
            if has_letters(text):
                places.append((index, field))
                units.append(text)
    return PoDocument(source, source.text, places, units)
