"""Markup on the HTTP APIs (LibreTranslate ``format=html``, DeepL ``tag_handling=html|xml``) through the document
registry (:mod:`mt.documents`): each text is an HTML or XML document whose sentences are translated whole, with
their inline tags kept (``<b>``, links), ``alt``/``title``/``placeholder`` attributes translated, and scripts,
styles, code and ``translate="no"`` left alone.

The request's limits apply to the documents as sent; the sentences inside them are not texts of the request (a
page with 500 text runs is one text).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from mt import Translation
from mt.documents import open_document
from mt.documents._inline import has_letters, plain_text, translate_units_traced

MARKUP_FORMATS = {"html": "html", "xml": "xml"}


def translate_documents(
    documents: Sequence[str],
    markup: str,
    run: Callable[[list[str], str | None], list[Translation]],
    detect: Callable[[str], str] | None = None,
) -> list[tuple[str, list[Translation]]]:
    """Translate every document's units with as few calls of ``run(texts, source)`` as there are source
    languages; per document: its translation and the translations of the texts sent for it (for its language,
    tokens and scores). ``source`` is None (the request's) unless ``detect`` is given (the request's source is
    auto): then each document's language is detected once, on its text without tags, and passed.

    Raises:
        DocumentError: a document is not parseable as ``markup`` (malformed XML, entity declarations).
    """
    parsed = [
        open_document(text.encode("utf-8"), f"text #{index + 1}", format=MARKUP_FORMATS[markup], fragment=True)
        for index, text in enumerate(documents)
    ]
    groups: dict[str | None, list[int]] = {}
    for index, document in enumerate(parsed):
        plain = " ".join(plain_text(unit) for unit in document.units)
        language = detect(plain) if detect is not None and has_letters(plain) else None
        groups.setdefault(language, []).append(index)
    results: dict[int, tuple[str, list[Translation]]] = {}
    for language, members in groups.items():
        reported: dict[str, Translation] = {}

        def translate(
            texts: list[str], language: str | None = language, reported: dict[str, Translation] = reported
        ) -> list[str]:
            answers = run(texts, language)
            reported.update(zip(texts, answers))
            return [r.text for r in answers]

        units = [unit for index in members for unit in parsed[index].units]
        translations, sent = translate_units_traced(units, translate)
        cursor = 0
        for index in members:
            document = parsed[index]
            own = translations[cursor : cursor + len(document.units)]
            cursor += len(document.units)
            texts = dict.fromkeys(text for unit in document.units for text in sent.get(unit, ()))
            rendered = document.render(own).decode("utf-8")
            results[index] = (rendered, [reported[text] for text in texts if text in reported])
    return [results[index] for index in range(len(parsed))]


def translate_markup(
    documents: Sequence[str], translate: Callable[[list[str]], list[str]], markup: str = "html"
) -> list[str]:
    """The translated documents only, with ``translate`` translating plain texts."""

    def run(texts: list[str], source: str | None) -> list[Translation]:
        return [Translation(text, "", "", 0.0) for text in translate(texts)]

    return [text for text, _ in translate_documents(documents, markup, run)]
