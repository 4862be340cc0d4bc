"""What every format module shares: the :class:`Document` interface, reading text in any encoding, and the guards
against hostile input (oversized files, zip bombs, XML entity expansion)."""

from __future__ import annotations

import codecs
import io
import re
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from mt._errors import DocumentError

# Inputs above this size are refused before parsing (a document this large belongs split or in a job queue).
MAX_DOCUMENT_BYTES = 64 * 1024 * 1024
# Office files: the parts unpacked may not exceed this in all, nor any part expand more than MAX_ZIP_RATIO times.
MAX_UNPACKED_BYTES = 256 * 1024 * 1024
MAX_ZIP_RATIO = 200
MAX_ZIP_MEMBERS = 10_000


@dataclass
class Text:
    """Text decoded from bytes, with what writing it back needs."""

    text: str
    encoding: str
    bom: bool
    newline: str


class Document(ABC):
    """A parsed document: its translatable :attr:`units` in document order, and :meth:`render` to write it back.

    Units carry inline markup as ``<gN>…</gN>`` (a span inside a formatted element) and ``<xN/>`` (something kept
    as it is); :func:`mt.documents.translate_units` translates them with those tokens and any placeholders kept.
    """

    format: str = ""
    bilingual_supported: bool = False

    def __init__(self, units: list[str]):
        self.units = units

    def render(self, translations: Sequence[str], *, bilingual: bool = False) -> bytes:
        """The translated document.

        Args:
            translations: One translation per unit, in order.
            bilingual: Write source and translation side by side (Markdown, HTML, text, SRT, WebVTT).

        Raises:
            DocumentError: the number of translations differs from the number of units, or ``bilingual`` is not
                supported by this format.
        """
        if len(translations) != len(self.units):
            raise DocumentError(
                f"{len(translations)} translations given for a {self.format} document of {len(self.units)} units; "
                "give exactly one translation per unit"
            )
        if bilingual and not self.bilingual_supported:
            raise DocumentError(
                f"bilingual output is not supported for {self.format} documents; it is for {', '.join(BILINGUAL)}"
            )
        # A model may emit characters no XML document can hold (C0 controls but tab and line breaks, U+FFFE/FFFF):
        # HTML, XML, DOCX and PPTX could not be written with them, and in no format do they belong to a translation.
        return self._render([_NOT_IN_XML.sub("", t) for t in translations], bilingual)

    @abstractmethod
    def _render(self, translations: list[str], bilingual: bool) -> bytes: ...


BILINGUAL = ("html", "markdown", "srt", "text", "vtt")
_NOT_IN_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"))
_BOMS16 = ((codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def decode(data: bytes, what: str) -> Text:
    """Decode ``data``: a byte-order mark, else UTF-8, else the encoding charset-normalizer detects.

    Raises:
        DocumentError: no encoding reads it cleanly (binary data, or several encodings mixed in one file).
    """
    for bom, encoding in (*_BOMS, *_BOMS16):
        if data.startswith(bom):
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError as exc:
                raise DocumentError(f"{what}: starts with a {encoding} byte-order mark but is not {encoding}") from exc
            return Text(text.lstrip("\ufeff"), encoding, True, _newline(text))
    if b"\x00" in data[:8192]:
        raise DocumentError(f"{what}: binary data (NUL bytes), not text; give a text file in any encoding")
    try:
        text = data.decode("utf-8")
        return Text(text, "utf-8", False, _newline(text))
    except UnicodeDecodeError as exc:
        utf8_error = exc
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    # Mixed encodings read as one legacy code page come out as mojibake: charset-normalizer's chaos measure
    # says so, and so does a UTF-8 file with a few bad bytes (valid UTF-8 up to the error, then something else).
    valid_prefix = utf8_error.start > 64 and _multibyte(data[: utf8_error.start])
    if best is None or best.percent_chaos > 10 or valid_prefix:
        raise DocumentError(
            f"{what}: the encoding cannot be determined (not UTF-8: {utf8_error.reason} at byte {utf8_error.start}, "
            "and no single legacy encoding reads it cleanly; mixed encodings?); convert it to UTF-8"
        )
    text = str(best)
    return Text(text, best.encoding, False, _newline(text))


def _multibyte(data: bytes) -> bool:
    return any(b >= 0x80 for b in data)


def _newline(text: str) -> str:
    return "\r\n" if "\r\n" in text[:65536] else "\n"


def encode(text: str, original: Text) -> bytes:
    """Translated text as bytes: UTF-8 (a translation may need characters the original code page lacks), with a
    byte-order mark where the original had one; line ends as in the original."""
    if original.newline == "\r\n":
        text = text.replace("\r\n", "\n").replace("\n", "\r\n")
    data = text.encode("utf-8")
    return codecs.BOM_UTF8 + data if original.bom else data


def check_size(data: bytes, what: str) -> None:
    if len(data) > MAX_DOCUMENT_BYTES:
        raise DocumentError(f"{what}: {len(data)} bytes; documents of at most {MAX_DOCUMENT_BYTES} bytes are accepted")


def check_zip(data: bytes, what: str, kind: str) -> None:
    """Refuse what is not a sound Office (zip) package: password-protected or legacy binary files, corrupt
    archives, zip bombs.

    Raises:
        DocumentError: with the problem and what is accepted.
    """
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise DocumentError(
            f"{what}: an OLE compound file, which is a password-protected (encrypted) {kind} or a legacy binary "
            f"Office file; remove the password or save it as {kind} first"
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise DocumentError(f"{what}: not a valid {kind} file (not a zip package: {exc})") from exc
    infos = archive.infolist()
    if len(infos) > MAX_ZIP_MEMBERS:
        raise DocumentError(f"{what}: {len(infos)} parts in the package; at most {MAX_ZIP_MEMBERS} are accepted")
    total = 0
    for info in infos:
        if info.flag_bits & 0x1:
            raise DocumentError(f"{what}: part {info.filename} is encrypted; remove the password first")
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > MAX_ZIP_RATIO and info.file_size > 1024 * 1024:
            raise DocumentError(
                f"{what}: part {info.filename} expands {ratio:.0f} times ({info.file_size} bytes; a zip bomb?); "
                f"at most {MAX_ZIP_RATIO} times is accepted"
            )
        if info.filename.endswith((".xml", ".rels")):
            head = archive.open(info).read(4096)
            if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
                raise DocumentError(
                    f"{what}: part {info.filename} declares a DTD or entities, which Office files never do "
                    "(entity expansion is refused)"
                )
    if total > MAX_UNPACKED_BYTES:
        raise DocumentError(f"{what}: unpacks to {total} bytes; at most {MAX_UNPACKED_BYTES} bytes are accepted")


def check_xml(data: bytes, what: str) -> None:
    """Refuse XML with a document type declaration that defines entities (billion laughs, external entities).

    Raises:
        DocumentError: the XML is hostile or malformed.
    """
    from xml.etree.ElementTree import ParseError

    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import fromstring

    try:
        fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise DocumentError(f"{what}: XML that declares entities is refused (entity expansion): {exc}") from exc
    except ParseError as exc:
        raise DocumentError(f"{what}: malformed XML: {exc}") from exc
