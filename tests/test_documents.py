"""The document registry (mt.documents): per-format round trips on documents made here, inline markup and
placeholders through translate_units, and the bad-input guards. Unit tier: a fake translator, no model."""

from __future__ import annotations

import io
import json
import re
import zipfile

import pytest

from mt import KakehashiError
from mt.documents import DocumentError, open_document, supported_formats, translate_units
from mt.documents._inline import parse_inline, split_protected


def mirror(texts: list[str]) -> list[str]:
    """A fake translation that changes every word (its letters reversed) and keeps one-letter words such as the
    masks, digits and punctuation."""
    return [re.sub(r"[^\W\d_]{2,}", lambda m: m[0][::-1], text) for text in texts]


def translate(units: list[str]) -> list[str]:
    return translate_units(units, mirror)


def roundtrip(data: bytes, name: str, **options: object) -> tuple[list[str], bytes]:
    document = open_document(data, name, **options)
    return document.units, document.render(translate(document.units))


def test_contract_exports() -> None:
    import mt.documents

    assert sorted(mt.documents.__all__) == [
        "Document",
        "DocumentError",
        "open_document",
        "supported_formats",
        "translate_units",
    ]
    assert issubclass(DocumentError, KakehashiError)
    formats = supported_formats()
    for ext, name in {".txt": "text", ".md": "markdown", ".html": "html", ".htm": "html", ".srt": "srt",
                      ".vtt": "vtt", ".docx": "docx", ".pptx": "pptx", ".po": "po", ".xliff": "xliff",
                      ".xlf": "xliff", ".jsonl": "jsonl", ".csv": "csv", ".tsv": "tsv"}.items():  # fmt: skip
        assert formats[ext] == name


def test_unsupported_type_lists_the_accepted_ones() -> None:
    with pytest.raises(DocumentError, match=r"unsupported file type \(\.exe\).*markdown \(\.md"):
        open_document(b"MZ", "tool.exe")
    with pytest.raises(DocumentError, match="unknown document format 'rtf'; accepted formats: text"):
        open_document(b"x", "a.txt", format="rtf")


# -- translate_units


def test_placeholders_survive_and_identical_units_are_translated_once() -> None:
    calls: list[list[str]] = []

    def engine(texts: list[str]) -> list[str]:
        calls.append(texts)
        return mirror(texts)

    units = [
        "Hello {{name}}, you have %d new :tada: messages",
        "Hello {{name}}, you have %d new :tada: messages",
        "Use ${var} and %1$s or {0}",
        "42 %",
    ]
    out = translate_units(units, engine)
    assert out[0] == out[1] == "olleH {{name}}, uoy evah %d wen :tada: segassem"
    assert out[2] == "esU ${var} dna %1$s ro {0}"
    assert out[3] == "42 %"  # nothing to translate: unchanged, never sent
    assert calls == [["Hello X, you have Y new Z messages", "Use X and Y or Z"]]


def test_a_sentence_is_never_cut_at_an_inline_tag() -> None:
    seen: list[str] = []

    def engine(texts: list[str]) -> list[str]:
        seen.extend(texts)
        return [t.upper() for t in texts]

    (out,) = translate_units(["Click <g1>here</g1> to <g2>open <g3>the</g3> file</g2>."], engine)
    assert seen == ["Click X here Y to Z open W the V file Q."]
    assert out == "CLICK <g1>HERE</g1> TO <g2>OPEN <g3>THE</g3> FILE</g2>."


def test_when_the_model_drops_a_tag_the_sentence_stays_whole_and_tags_go_around_their_words() -> None:
    calls: list[list[str]] = []

    def lossy(texts: list[str]) -> list[str]:
        calls.append(texts)
        return [t.replace(" Y", "").upper() for t in texts]  # loses the closing tag's stand-in

    (out,) = translate_units(
        ["Some <g1>bold</g1> text and <g2>gone</g2>"], lambda t: ["ALLES KLAR" if x == "GONE" else x for x in lossy(t)]
    )
    # The sentence without tags and each tag's content; "gone" is not found in the sentence: that tag is left out.
    assert calls == [["Some X bold Y text and Z gone W"], ["Some bold text and gone", "bold", "gone"]]
    assert out == "SOME <g1>BOLD</g1> TEXT AND GONE"


def test_falls_back_piecewise_when_a_placeholder_is_lost() -> None:
    def lossy(texts: list[str]) -> list[str]:
        return [t.replace("X", "").upper() for t in texts]

    (out,) = translate_units(["Hello {name}, <g1>welcome</g1> back"], lossy)
    assert out == "HELLO {name}, <g1>WELCOME</g1> BACK"


def test_falls_back_when_tags_come_back_crossed() -> None:
    def swap(texts: list[str]) -> list[str]:
        return [t.replace("X", "#").replace("Y", "X").replace("#", "Y") for t in texts]

    (out,) = translate_units(["a <g1>b</g1> c"], swap)
    assert out == "a <g1>b</g1> c"  # piecewise: every tag where it was


def test_japanese_units_get_masks_without_spaces() -> None:
    seen: list[str] = []
    translate_units(["これは<g1>重要</g1>です"], lambda t: seen.extend(t) or t)
    assert seen == ["これはX重要Yです"]


def test_masks_avoid_letters_the_sentence_uses() -> None:
    seen: list[str] = []
    translate_units(["X marks the spot {0}"], lambda t: seen.extend(t) or t)
    assert seen == ["X marks the spot Y"]


def test_parse_inline_keeps_what_the_model_lost() -> None:
    nodes = parse_inline("a <g1>b</g1> </g7>c", {1: True, 2: False})
    assert [n.text or n.number for n in nodes] == ["a ", 1, " </g7>c", 2]


def test_split_protected() -> None:
    assert split_protected("Hi <b>x</b> %s") == [(False, "Hi "), (True, "<b>"), (False, "x"), (True, "</b>"),
                                                (False, " "), (True, "%s")]  # fmt: skip


# -- formats


def test_text_paragraphs_blank_lines_and_indentation() -> None:
    data = "Hello world.\nSecond line.\n\n\n    Indented para.\r\n".replace("\r\n", "\n").encode()
    units, out = roundtrip(data, "a.txt")
    assert units == ["Hello world.\nSecond line.", "    Indented para."]
    assert out == b"olleH dlrow.\ndnoceS enil.\n\n\n    detnednI arap.\n"


def test_text_encodings_are_detected_and_written_as_utf8() -> None:
    text = "日本語の文章です。これはテストです。" * 3
    units, out = roundtrip(text.encode("shift_jis"), "a.txt")
    assert units == [text]
    assert out.decode("utf-8") == mirror([text])[0]
    bom, crlf = open_document("a\r\nb\r\n".encode("utf-8-sig"), "b.txt"), None
    assert bom.render(["A\nB"]) == b"\xef\xbb\xbfA\r\nB\r\n"
    del crlf


def test_text_with_mixed_encodings_is_refused() -> None:
    mixed = ("前半はUTF-8で書かれています。" * 4).encode() + ("後半はShift_JISです。" * 4).encode("shift_jis")
    with pytest.raises(DocumentError, match="encoding cannot be determined.*convert it to UTF-8"):
        open_document(mixed, "mixed.txt")
    with pytest.raises(DocumentError, match="binary data"):
        open_document(b"\x00\x01\x02binary", "bin.txt")


MARKDOWN = """---
title: Guide
---
# The *quick* guide ##

Text with **bold**, a [link](https://example.com/a_b "Title") and `code_span` and {{name}}.
It wraps here.

- item one
- item [two](../x.md)

> quoted text

| Name | Value |
|------|-------|
| Cat  | *soft* |

```python
print("not translated")
```

<div>html block</div>

    indented code

![alt text](img.png)
"""


def _markdown_shape(data: str) -> list[tuple[str, str]]:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark").enable("table").enable("strikethrough")
    shape = []
    for token in md.parse(data):
        shape.append((token.type, token.info if token.type == "fence" else ""))
        for child in token.children or []:
            if child.type not in ("text", "softbreak"):
                shape.append((child.type, str(child.attrs)))
    return shape


def test_markdown_round_trip_keeps_structure_code_links_and_front_matter() -> None:
    units, out = roundtrip(MARKDOWN.encode(), "guide.md")
    assert units == [
        "The <g1>quick</g1> guide",
        "Text with <g1>bold</g1>, a <g2>link</g2> and <x3/> and {{name}}. It wraps here.",
        "item one",
        "item <g1>two</g1>",
        "quoted text",
        "Name",
        "Value",
        "Cat",
        "<g1>soft</g1>",
    ]
    text = out.decode()
    assert text.startswith("---\ntitle: Guide\n---\n# ehT *kciuq* ediug ##\n")
    assert '[knil](https://example.com/a_b "Title")' in text and "`code_span`" in text and "{{name}}" in text
    assert 'print("not translated")' in text and "<div>html block</div>" in text and "    indented code" in text
    assert "![alt text](img.png)" in text
    assert "| taC  | *tfos* |" in text
    # Same blocks, inline markup and link targets; the wrapped paragraph is one line now (same Markdown).
    assert _markdown_shape(text) == _markdown_shape(MARKDOWN)


def test_markdown_bilingual_puts_the_original_first() -> None:
    document = open_document(b"# Title\n\nHello world.\n\n- item\n", "a.md")
    out = document.render(translate(document.units), bilingual=True).decode()
    assert out == "# Title / eltiT\n\nHello world.\n\nolleH dlrow.\n\n- item\n\n  meti\n"


def test_markdown_translation_never_starts_a_new_block() -> None:
    document = open_document(b"Intro\n", "a.md")
    assert document.render(["# not a heading"]) == b"\\# not a heading\n"


HTML = """<!DOCTYPE html>
<html><head><meta charset="shift_jis"><title>My page</title>
<style>p > b { color: red }</style><script>if (a > b) { alert("hi") }</script></head>
<body>
<h1 class="a>b" data-x='"q"'>Hello <b>bold</b> world</h1>
<p>Text with <a href="/x?a=1&amp;b=2" title="Link title">a link</a> and <code>code()</code>.<br>Next line.</p>
<p translate="no">Do not translate</p>
<p>Brand <span class="notranslate">Kakehashi</span> is here</p>
<img src="a.png" alt="A cat"><input placeholder="Your name">
<pre>pre text</pre>
<!-- a comment -->
</body></html>"""


def _html_shape(data: bytes) -> list[tuple[str, dict[str, str]]]:
    from lxml import html

    root = html.document_fromstring(data)
    skip = {"alt", "title", "placeholder"}
    return [(str(e.tag), {k: v for k, v in e.attrib.items() if k not in skip}) for e in root.iter()]


def test_html_round_trip_sentences_attributes_and_untouched_parts() -> None:
    units, out = roundtrip(HTML.encode(), "page.html")
    assert units == [
        "My page",
        "Hello <g1>bold</g1> world",
        "Link title",
        "Text with <g1>a link</g1> and <x2/>.<x3/>Next line.",
        "Brand <x1/> is here",
        "A cat",
        "Your name",
    ]
    text = out.decode()
    assert '<h1 class="a&gt;b" data-x=\'"q"\'>olleH <b>dlob</b> dlrow</h1>' in text
    assert 'title="kniL eltit">a knil</a> dna <code>code()</code>.<br>txeN enil.</p>' in text
    assert '<p>dnarB <span class="notranslate">Kakehashi</span> si ereh</p>' in text
    assert '<p translate="no">Do not translate</p>' in text and '<span class="notranslate">Kakehashi</span>' in text
    assert 'alt="A tac"' in text and 'placeholder="ruoY eman"' in text
    assert "<pre>pre text</pre>" in text and "<!-- a comment -->" in text
    assert 'if (a > b) { alert("hi") }' in text and "p > b { color: red }" in text
    assert '<meta charset="utf-8">' in text and text.startswith("<!DOCTYPE html>")
    assert _html_shape(out) == [
        (tag, {**attrs, "charset": "utf-8"} if tag == "meta" else attrs) for tag, attrs in _html_shape(HTML.encode())
    ]


def test_html_bilingual_repeats_blocks() -> None:
    document = open_document(b"<div><p>Hello <b>you</b></p></div>", "a.html")
    out = document.render(translate(document.units), bilingual=True)
    assert out == b"<div><p>Hello <b>you</b></p><p>olleH <b>uoy</b></p></div>"


def test_html_with_500_text_runs() -> None:
    page = "<ul>" + "".join(f"<li>Item number {i} with <b>bold</b></li>" for i in range(500)) + "</ul>"
    document = open_document(page.encode(), "big.html")
    assert len(document.units) == 500
    out = document.render(translate(document.units)).decode()
    assert out.count("<b>dlob</b>") == 500 and "metI rebmun 499 htiw" in out


def test_xml_entity_expansion_is_refused() -> None:
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><x>&b;</x>'
    with pytest.raises(DocumentError, match="entity expansion"):
        open_document(bomb, "bomb.xml")
    external = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'
    with pytest.raises(DocumentError, match="entity expansion"):
        open_document(external, "ext.xlf")
    with pytest.raises(DocumentError, match="malformed XML"):
        open_document(b"<a><b></a>", "bad.xml")


SRT = """1
00:00:01,000 --> 00:00:04,000
Hello <i>world</i>, this is
a wrapped subtitle line

2
00:00:05,500 --> 00:00:07,000
Bye
"""


def test_srt_keeps_numbering_timings_and_wraps_like_the_source() -> None:
    import srt

    units, out = roundtrip(SRT.encode(), "a.srt")
    assert units == ["Hello <i>world</i>, this is a wrapped subtitle line", "Bye"]
    before, after = list(srt.parse(SRT)), list(srt.parse(out.decode()))
    assert [(s.index, s.start, s.end) for s in after] == [(s.index, s.start, s.end) for s in before]
    assert after[0].content == "olleH <i>dlrow</i>, siht\nsi a depparw eltitbus enil"  # two lines, as before
    bilingual = open_document(SRT.encode(), "a.srt").render(["Hallo", "Tschüss"], bilingual=True).decode()
    assert "Bye\nTschüss" in bilingual


def test_vtt_keeps_cue_settings_styles_and_notes() -> None:
    vtt = (
        "WEBVTT Kind: captions\n\nSTYLE\n::cue { color: red }\n\nNOTE a note\n\n"
        "intro\n00:00:01.000 --> 00:00:04.000 align:start position:10%\n<v Bob>Hello there</v>\n"
    )
    units, out = roundtrip(vtt.encode(), "a.vtt")
    assert units == ["<v Bob>Hello there</v>"]
    assert out.decode() == vtt.replace("Hello there", "olleH ereht")


def test_corrupt_subtitles_are_refused() -> None:
    with pytest.raises(DocumentError, match="not a valid SubRip"):
        open_document(b"not\na subtitle", "a.srt")
    with pytest.raises(DocumentError, match="not a valid WebVTT"):
        open_document(b"not a subtitle", "a.vtt")


PO = r"""msgid ""
msgstr ""
"Content-Type: text/plain; charset=UTF-8\n"
"Plural-Forms: nplurals=2; plural=(n != 1);\n"

#: app.py:10
#, python-format
msgid "Hello %(name)s"
msgstr ""

msgctxt "menu"
msgid "File"
msgstr "Fichier"

#, fuzzy
msgid "One file"
msgid_plural "{0} files"
msgstr[0] ""
msgstr[1] ""

#~ msgid "Old"
#~ msgstr ""
"""


def test_po_fills_missing_translations_keeps_ids_flags_and_plurals() -> None:
    import polib

    units, out = roundtrip(PO.encode(), "app.po")
    assert units == ["Hello %(name)s", "One file", "{0} files"]
    catalogue = polib.pofile(out.decode())
    hello, menu, plural = catalogue.translated_entries() + catalogue.untranslated_entries() + catalogue.fuzzy_entries()
    assert hello.msgstr == "olleH %(name)s" and hello.flags == ["python-format"] and hello.occurrences
    assert menu.msgctxt == "menu" and menu.msgstr == "Fichier"  # existing translation untouched
    assert plural.flags == ["fuzzy"] and plural.msgstr_plural == {0: "enO elif", 1: "{0} selif"}
    assert len(catalogue.obsolete_entries()) == 1
    units, _ = roundtrip(PO.encode(), "app.po", overwrite=True)
    assert "File" in units


XLIFF = b"""<?xml version="1.0" encoding="UTF-8"?>
<xliff version="1.2" xmlns="urn:oasis:names:tc:xliff:document:1.2">
 <file original="app" source-language="en" target-language="ja" datatype="plaintext">
  <body>
   <trans-unit id="greet"><source>Hello <g id="1">bold</g> {0}<x id="2"/> end</source></trans-unit>
   <trans-unit id="done"><source>Done</source><target state="translated">Fait</target></trans-unit>
   <trans-unit id="brand" translate="no"><source>Brand</source></trans-unit>
  </body>
 </file>
</xliff>"""


def test_xliff_fills_targets_with_inline_elements_and_keeps_ids() -> None:
    from translate.storage import xliff

    units, out = roundtrip(XLIFF, "app.xliff")
    assert units == ["Hello <g1>bold</g1> {0}<x2/> end"]
    store = xliff.xlifffile.parsestring(out)
    by_id = {u.getid().split("\x04")[-1]: u for u in store.units}
    greet = by_id["greet"]
    target = greet.get_target_dom()
    assert target is not None and [child.get("id") for child in target] == ["1", "2"]
    assert greet.target == "olleH dlob {0} dne"
    assert by_id["done"].target == "Fait" and not by_id["brand"].target
    assert 'translate="no"' in out.decode()


def test_jsonl_and_csv_translate_the_named_fields_only() -> None:
    jsonl = b'{"id": 1, "text": "Hello there", "meta": {"title": "Nested"}}\n\n{"id": 2, "text": "Bye"}\n'
    units, out = roundtrip(jsonl, "a.jsonl", fields=["text", "meta.title"])
    assert units == ["Hello there", "Nested", "Bye"]
    rows = [json.loads(line) for line in out.decode().splitlines() if line]
    assert rows == [{"id": 1, "text": "olleH ereht", "meta": {"title": "detseN"}}, {"id": 2, "text": "eyB"}]
    csv_data = b'id,text,note\n1,Hello there,keep me\n2,"Quoted, text",x\n'
    units, out = roundtrip(csv_data, "a.csv", fields=["text"])
    assert units == ["Hello there", "Quoted, text"]
    assert out == b'id,text,note\n1,olleH ereht,keep me\n2,"detouQ, txet",x\n'
    _, out = roundtrip(b"id\ttext\n1\tHi you\n", "a.tsv", fields=["2"])
    assert out == b"id\ttext\n1\tiH uoy\n"
    with pytest.raises(DocumentError, match="need the fields or columns"):
        open_document(csv_data, "a.csv")
    with pytest.raises(DocumentError, match="no column 'body'; the header names 'id', 'text', 'note'"):
        open_document(csv_data, "a.csv", fields=["body"])
    with pytest.raises(DocumentError, match="line 2 is not JSON"):
        open_document(b'{"a": "b"}\n{oops\n', "a.jsonl", fields=["a"])


def _docx() -> bytes:
    import docx

    document = docx.Document()
    paragraph = document.add_paragraph("Hello ")
    paragraph.add_run("bold").bold = True
    paragraph.add_run(" world, {count} items.")
    table = document.add_table(rows=1, cols=2)
    table.cell(0, 0).text = "Cell one"
    table.cell(0, 1).text = "Cell two"
    document.sections[0].header.paragraphs[0].text = "Header text"
    document.sections[0].footer.paragraphs[0].text = "Footer text"
    tabbed = document.add_paragraph("Before")
    tabbed.add_run().add_tab()
    tabbed.add_run("after")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_docx_paragraphs_tables_headers_footers_and_run_formatting() -> None:
    import docx

    units, out = roundtrip(_docx(), "a.docx")
    assert units == [
        "Hello <g1>bold</g1> world, {count} items.",
        "Cell one",
        "Cell two",
        "Before<x1/>after",
        "Header text",
        "Footer text",
    ]
    document = docx.Document(io.BytesIO(out))
    first = document.paragraphs[0]
    assert [(r.text, r.bold) for r in first.runs] == [
        ("olleH ", None),
        ("dlob", True),
        (" dlrow, {count} smeti.", None),
    ]
    assert [c.text for c in document.tables[0].rows[0].cells] == ["lleC eno", "lleC owt"]
    assert document.paragraphs[1].text == "erofeB\tretfa"
    assert document.sections[0].header.paragraphs[0].text == "redaeH txet"
    assert document.sections[0].footer.paragraphs[0].text == "retooF txet"


def test_pptx_shapes_tables_and_notes() -> None:
    import pptx

    deck = pptx.Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = "Slide title"
    frame = slide.placeholders[1].text_frame
    frame.text = "First bullet"
    paragraph = frame.add_paragraph()
    run = paragraph.add_run()
    run.text = "Bold"
    run.font.bold = True
    paragraph.add_run().text = " and plain"
    table = slide.shapes.add_table(1, 1, 0, 0, 100, 100).table
    table.cell(0, 0).text = "In a table"
    slide.notes_slide.notes_text_frame.text = "Speaker notes"
    data = io.BytesIO()
    deck.save(data)
    units, out = roundtrip(data.getvalue(), "deck.pptx")
    assert units == ["Slide title", "First bullet", "<g1>Bold</g1> and plain", "In a table", "Speaker notes"]
    result = pptx.Presentation(io.BytesIO(out)).slides[0]
    title, body, frame_shape = result.shapes[0], result.shapes[1], result.shapes[2]
    assert title.text_frame.text == "edilS eltit"
    assert [(r.text, r.font.bold) for r in body.text_frame.paragraphs[1].runs] == [("dloB", True), (" dna nialp", None)]
    assert frame_shape.table.cell(0, 0).text == "nI a elbat"
    assert result.notes_slide.notes_text_frame.text == "rekaepS seton"


def _zip(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def test_office_guards() -> None:
    with pytest.raises(DocumentError, match="password-protected"):
        open_document(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 512, "secret.docx")
    with pytest.raises(DocumentError, match="not a valid .docx file"):
        open_document(b"PK not really", "broken.docx")
    bomb = _zip({"word/document.xml": b"<a>" + b" " * (8 * 1024 * 1024) + b"</a>"})
    with pytest.raises(DocumentError, match="zip bomb"):
        open_document(bomb, "bomb.docx")
    entities = _zip({"[Content_Types].xml": b'<!DOCTYPE x [<!ENTITY a "b">]><Types/>'})
    with pytest.raises(DocumentError, match="entity expansion"):
        open_document(entities, "evil.pptx")
    with pytest.raises(DocumentError, match="not a valid pptx document"):
        open_document(_zip({"hello.txt": b"hi"}), "empty.pptx")


def test_oversized_office_packages_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import mt.documents._base as base

    monkeypatch.setattr(base, "MAX_UNPACKED_BYTES", 1000)
    with pytest.raises(DocumentError, match="unpacks to .* bytes; at most 1000 bytes are accepted"):
        open_document(_docx(), "big.docx")


def test_render_checks_the_number_of_translations_and_bilingual_support() -> None:
    document = open_document(b"Hello.\n", "a.txt")
    with pytest.raises(DocumentError, match="2 translations given for a text document of 1 units"):
        document.render(["a", "b"])
    po = open_document(PO.encode(), "a.po")
    with pytest.raises(DocumentError, match="bilingual output is not supported for po documents"):
        po.render(po.units, bilingual=True)


def test_oversized_documents_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import mt.documents._base as base

    monkeypatch.setattr(base, "MAX_DOCUMENT_BYTES", 10)
    with pytest.raises(DocumentError, match="11 bytes; documents of at most 10 bytes are accepted"):
        open_document(b"x" * 11, "big.txt")


def test_docx_text_box_inside_a_paragraph_is_translated_too() -> None:
    import docx
    from lxml import etree

    w = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    document = docx.Document()
    paragraph = document.add_paragraph("Outer text ")
    box = etree.SubElement(etree.SubElement(paragraph.add_run()._r, f"{{{w}}}pict"), f"{{{w}}}txbxContent")
    etree.SubElement(etree.SubElement(etree.SubElement(box, f"{{{w}}}p"), f"{{{w}}}r"), f"{{{w}}}t").text = "Inner box"
    paragraph.add_run(" after box")
    data = io.BytesIO()
    document.save(data)
    units, out = roundtrip(data.getvalue(), "box.docx")
    assert units == ["Outer text <x1/> after box", "Inner box"]
    texts = [t.text for t in docx.Document(io.BytesIO(out)).element.body.iter(f"{{{w}}}t")]
    assert texts == ["retuO txet ", "rennI xob", " retfa xob"]
