"""The format registry: extensions → formats → the module that parses each (imported when first used)."""

from __future__ import annotations

import importlib
import zipfile
from collections.abc import Sequence
from pathlib import PurePath

from mt._errors import DocumentError, MissingDependency
from mt.documents._base import Document, check_size

# format name → (module, its parse function, the extensions it reads)
FORMATS: dict[str, tuple[str, tuple[str, ...]]] = {
    "text": ("mt.documents._text", (".txt",)),
    "markdown": ("mt.documents._markdown", (".md", ".markdown")),
    "html": ("mt.documents._html", (".html", ".htm", ".xhtml")),
    "xml": ("mt.documents._html", (".xml",)),
    "srt": ("mt.documents._subtitles", (".srt",)),
    "vtt": ("mt.documents._subtitles", (".vtt",)),
    "docx": ("mt.documents._office", (".docx",)),
    "pptx": ("mt.documents._office", (".pptx",)),
    "po": ("mt.documents._gettext", (".po", ".pot")),
    "xliff": ("mt.documents._xliff", (".xliff", ".xlf")),
    "jsonl": ("mt.documents._tabular", (".jsonl",)),
    "csv": ("mt.documents._tabular", (".csv",)),
    "tsv": ("mt.documents._tabular", (".tsv",)),
}
# Formats whose units come from named fields or columns (``fields``).
FIELD_FORMATS = ("csv", "jsonl", "tsv")


def supported_formats() -> dict[str, str]:
    """Every extension Kakehashi translates (``".md"``) and its format name (``"markdown"``)."""
    return {ext: name for name, (_, exts) in FORMATS.items() for ext in exts}


def _accepted() -> str:
    return ", ".join(f"{name} ({' '.join(exts)})" for name, (_, exts) in FORMATS.items())


def format_of(filename: str, format: str | None = None) -> str:
    """The format of ``filename`` (by extension), or ``format`` when given.

    Raises:
        DocumentError: unknown format name, or an extension no format reads.
    """
    if format is not None:
        if format not in FORMATS:
            raise DocumentError(f"unknown document format {format!r}; accepted formats: {_accepted()}")
        return format
    suffix = PurePath(filename).suffix.lower()
    found = supported_formats().get(suffix)
    if found is None:
        shown = suffix or "no extension"
        raise DocumentError(
            f"{filename}: unsupported file type ({shown}); accepted: {_accepted()} (or name one with --format)"
        )
    return found


def open_document(
    data: bytes, filename: str, *, format: str | None = None, fields: Sequence[str] | None = None, **options: object
) -> Document:
    """Parse a document into translatable units.

    Args:
        data: The file's bytes.
        filename: Its name (the extension picks the format unless ``format`` is given; also used in messages).
        format: A format name from :func:`supported_formats`'s values.
        fields: For jsonl, csv and tsv: the fields or columns to translate (required there).
        options: Format options: ``overwrite=True`` (po, xliff) translates entries that already have a translation.

    Raises:
        DocumentError: unsupported format, corrupt or hostile input, oversized file, unreadable encoding.
        MissingDependency: the ``documents`` extra is not installed.
    """
    name = format_of(filename, format)
    check_size(data, filename)
    module_name = FORMATS[name][0]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise MissingDependency(exc.name or module_name, "documents", f"translating {name} documents") from exc
    if name in FIELD_FORMATS:
        options["fields"] = fields
    elif fields:
        raise DocumentError(f"{filename}: fields apply to {', '.join(FIELD_FORMATS)} only, not to {name} documents")
    try:
        document: Document = module.parse(data, filename, name, **options)
    except DocumentError:
        raise
    except RecursionError as exc:
        raise DocumentError(f"{filename}: nested too deeply to parse as {name}") from exc
    except (ValueError, KeyError, IndexError, OSError, UnicodeError, zipfile.BadZipFile) as exc:
        # The parser libraries raise their own error types for corrupt input; each becomes this file's error.
        raise DocumentError(f"{filename}: not a valid {name} document ({type(exc).__name__}: {exc})") from exc
    document.format = name
    return document
