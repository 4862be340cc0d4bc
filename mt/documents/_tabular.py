"""Records: JSON Lines (the json module) and CSV/TSV (the csv module). Only the fields or columns named by
``fields`` are translated; every other value, the key order, the header and the line ends are kept.

JSON Lines fields are keys of each object, dotted for nested objects (``meta.title``); CSV/TSV fields are names
from the header row, or 1-based column numbers.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

from mt._errors import DocumentError
from mt.documents._base import Document, Text, decode, encode
from mt.documents._inline import has_letters


def _need_fields(fields: object, filename: str, format: str) -> list[str]:
    if not fields:
        raise DocumentError(
            f"{filename}: {format} files need the fields or columns to translate; name them with --fields a,b "
            "(JSON keys, dotted for nested ones; CSV/TSV header names or column numbers)"
        )
    return [str(f) for f in fields]  # type: ignore[attr-defined]


class JsonLinesDocument(Document):
    def __init__(self, source: Text, records: list[Any], lines: list[str], places: list[tuple[int, list[str]]]):
        self.source = source
        self.records = records  # parsed object per line (None for blank lines)
        self.lines = lines
        self.places = places  # (line, key path) per unit
        super().__init__([_get(records[line], path) for line, path in places])

    def _render(self, translations: list[str], bilingual: bool) -> bytes:
        records = json.loads(json.dumps(self.records))  # a deep copy that keeps key order
        changed: set[int] = set()
        for (line, path), translation in zip(self.places, translations):
            parent = records[line]
            for key in path[:-1]:
                parent = parent[key]
            parent[path[-1]] = translation
            changed.add(line)
        out = []
        for number, text in enumerate(self.lines):
            if number in changed:
                ending = text[len(text.rstrip("\r\n")) :]
                out.append(json.dumps(records[number], ensure_ascii=False) + ending)
            else:
                out.append(text)
        return encode("".join(out), self.source)


def _get(record: Any, path: list[str]) -> Any:
    for key in path:
        if not isinstance(record, dict) or key not in record:
            return None
        record = record[key]
    return record


def _parse_jsonl(source: Text, filename: str, fields: list[str]) -> JsonLinesDocument:
    lines = source.text.splitlines(keepends=True)
    records: list[Any] = []
    places: list[tuple[int, list[str]]] = []
    paths = [f.split(".") for f in fields]
    for number, line in enumerate(lines):
        if not line.strip():
            records.append(None)
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DocumentError(
                f"{filename}: line {number + 1} is not JSON ({exc.msg}); JSON Lines has one object a line"
            ) from exc
        records.append(record)
        for path in paths:
            value = _get(record, path)
            if isinstance(value, str) and has_letters(value):
                places.append((number, path))
    return JsonLinesDocument(source, records, lines, places)


class CsvDocument(Document):
    def __init__(self, source: Text, rows: list[list[str]], places: list[tuple[int, int]], delimiter: str):
        self.source = source
        self.rows = rows
        self.places = places  # (row, column) per unit
        self.delimiter = delimiter
        super().__init__([rows[r][c] for r, c in places])

    def _render(self, translations: list[str], bilingual: bool) -> bytes:
        rows = [list(row) for row in self.rows]
        for (r, c), translation in zip(self.places, translations):
            rows[r][c] = translation
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=self.delimiter, lineterminator="\n")
        writer.writerows(rows)
        return encode(buffer.getvalue(), self.source)


def _parse_csv(source: Text, filename: str, fields: list[str], delimiter: str) -> CsvDocument:
    try:
        rows = list(csv.reader(io.StringIO(source.text, newline=""), delimiter=delimiter, strict=True))
    except csv.Error as exc:
        raise DocumentError(f"{filename}: malformed {'TSV' if delimiter == chr(9) else 'CSV'}: {exc}") from exc
    if not rows:
        return CsvDocument(source, rows, [], delimiter)
    header = rows[0]
    columns: list[int] = []
    for name in fields:
        if name in header:
            columns.append(header.index(name))
        elif name.isdigit() and 1 <= int(name) <= len(header):
            columns.append(int(name) - 1)
        else:
            raise DocumentError(
                f"{filename}: no column {name!r}; the header names {', '.join(repr(h) for h in header)} "
                f"(or give column numbers 1–{len(header)})"
            )
    places = [(r, c) for r in range(1, len(rows)) for c in columns if c < len(rows[r]) and has_letters(rows[r][c])]
    return CsvDocument(source, rows, places, delimiter)


def parse(data: bytes, filename: str, format: str, fields: Sequence[str] | None = None, **options: object) -> Document:
    names = _need_fields(fields, filename, format)
    source = decode(data, filename)
    if format == "jsonl":
        return _parse_jsonl(source, filename, names)
    return _parse_csv(source, filename, names, "\t" if format == "tsv" else ",")
