"""Documents: one registry of formats, each a small module over the parser made for it.

The contract (used by ``kakehashi translate-file``, the HTTP adapters' markup and document jobs)::

    from mt.documents import open_document, supported_formats, translate_units, DocumentError

    supported_formats() -> dict[str, str]     # extension (".md") → format name ("markdown"), all formats
    doc = open_document(data: bytes, filename: str, *, format: str | None = None,
                        fields: Sequence[str] | None = None, overwrite: bool = False)
    doc.units -> list[str]                    # texts to translate, document order; inline markup as tokens
    doc.render(translations: Sequence[str], *, bilingual: bool = False) -> bytes
    translate_units(units: Sequence[str], translate: Callable[[list[str]], list[str]]) -> list[str]

``open_document`` raises :class:`DocumentError` (a :class:`~mt.KakehashiError`) for unsupported, corrupt,
hostile (zip bombs, entity expansion) or oversized input and unreadable encodings; the message names the problem
and what is accepted. Units carry inline markup as ``<gN>…</gN>`` (a formatted span: bold, a link, emphasis) and
``<xN/>`` (something kept as it is: inline code, an image, a line break), so a sentence is never cut at a tag.
``translate_units`` translates them through ``translate`` (plain texts in, plain texts out, e.g. a closure over
:meth:`mt.Kakehashi.translate`), keeping those tokens and the placeholders of software strings (``{{name}}``,
``{0}``, ``%s``, ``%1$s``, ``${var}``, ``:emoji:``). When the model drops a token, a unit with markup only is
translated as a whole sentence without it and each tag goes back around its content's translation where that is
found (else that formatting is left out); a unit with placeholders is translated piecewise between them.
Identical units are translated once.

>>> from mt.documents import open_document, translate_units
>>> doc = open_document(b"# Title\\n\\nSome *emphasis* here.\\n", "guide.md")
>>> doc.units
['Title', 'Some <g1>emphasis</g1> here.']
>>> doc.render(translate_units(doc.units, lambda texts: [t.upper() for t in texts]))
b'# TITLE\\n\\nSOME *EMPHASIS* HERE.\\n'

Formats: text (.txt), markdown (.md), html (.html, .htm, .xhtml), xml, srt, vtt, docx, pptx, po (.po, .pot),
xliff (.xliff, .xlf), jsonl, csv, tsv. The parsers are the ``documents`` extra.
"""

from mt._errors import DocumentError
from mt.documents._base import Document
from mt.documents._inline import translate_units
from mt.documents._registry import open_document, supported_formats

__all__ = ["Document", "DocumentError", "open_document", "supported_formats", "translate_units"]
