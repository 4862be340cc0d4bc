"""Schemathesis against the served /openapi.json of a live server with tiny real models: every documented
operation, with real language codes mixed with arbitrary strings, at least 1,000 cases in all. No response may
be a 5xx, and every status, content type, header and body must be one the document describes, each event of a
streamed translation included."""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi import unregister_string_format
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# The codes the tiny models translate, in the spellings clients use, and some they do not.
LANGUAGE_CODES = st.one_of(
    st.sampled_from(["ja", "en", "auto", "JA", "EN-US", "EN-GB", "jpn", "eng", "ja-JP", "en-US", "fr", "zh-Hans"]),
    st.text(max_size=6),
)
MINIMUM_CASES = 1000
# Operations with inputs get more cases; an operation without any (GET /healthz) runs out of new ones at once.
EXAMPLES = {"/v1/translate": 400, "/translate": 200, "/v2/translate": 200, "/v1/detect": 100, "/detect": 100}
DEFAULT_EXAMPLES = 60


def _streaming_only(document: dict[str, Any]) -> dict[str, Any]:
    """The document with ``POST /v1/translate`` only, always with ``stream: true`` (a random body seldom streams)."""
    document = copy.deepcopy(document)
    operation = document["paths"]["/v1/translate"]
    body = operation["post"]["requestBody"]["content"]["application/json"]["schema"]
    body["required"] = [*body["required"], "stream"]
    body["properties"]["stream"] = {"const": True}
    document["paths"] = {"/v1/translate": operation}
    return document


class Tally:
    """Cases run per operation and mode, responses by status, and the streams seen."""

    def __init__(self) -> None:
        self.cases: dict[str, int] = {}
        self.statuses: dict[int, int] = {}
        self.streams: list[int] = []


def _fuzz(
    schema: Any, url: str, mode: GenerationMode, checks: list[Any], tally: Tally, examples: int | None = None
) -> None:
    for result in schema.get_all_operations():
        operation = result.ok()
        definition = operation.definition.raw
        if mode is GenerationMode.NEGATIVE and not (definition.get("requestBody") or definition.get("parameters")):
            continue  # nothing to make invalid
        label = f"{mode.value} {operation.method.upper()} {operation.path}"
        tally.cases.setdefault(label, 0)

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=examples or EXAMPLES.get(operation.path, DEFAULT_EXAMPLES),  # noqa: B023
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: schemathesis.Case) -> None:
            tally.cases[label] += 1  # noqa: B023 - run is called within this iteration only
            response = case.call(base_url=url, timeout=60)
            tally.statuses[response.status_code] = tally.statuses.get(response.status_code, 0) + 1
            case.validate_response(response, checks=checks)
            if response.headers.get("content-type", [""])[0].startswith("text/event-stream"):
                tally.streams.append(response.text.count("event: "))

        try:
            run()
        except Unsatisfiable:
            # No invalid request exists for it (a path parameter that is any string): nothing to reject.
            assert mode is GenerationMode.NEGATIVE, label


def test_the_served_schema_holds_under_fuzzing(start_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # Small limits keep cases fast; a request over them must answer 413 as documented, never 5xx. Document jobs
    # the fuzzer creates keep their files in the test's folder.
    server = start_server(
        max_chars_per_text=48, max_texts=4, max_chars_per_request=120, batch_wait_ms=0, job_dir=str(tmp_path)
    )
    served = httpx.get(f"{server.url}/openapi.json").json()
    tally = Tally()
    started = time.monotonic()
    schemathesis.openapi.format("language-code", LANGUAGE_CODES)
    try:
        _fuzz(schemathesis.openapi.from_dict(served), server.url, GenerationMode.POSITIVE, CHECKS, tally)
        streaming = schemathesis.openapi.from_dict(_streaming_only(served))
        _fuzz(streaming, server.url, GenerationMode.POSITIVE, CHECKS, tally)
    finally:
        unregister_string_format("language-code")
    # Schema-violating requests must be refused with a 4xx (a language code is any string here).
    negative = [not_a_server_error, negative_data_rejection]
    _fuzz(schemathesis.openapi.from_dict(served), server.url, GenerationMode.NEGATIVE, negative, tally, 60)
    total = sum(tally.cases.values())
    print(
        f"\nfuzzed {total} cases over {len(tally.cases)} operations and modes in {time.monotonic() - started:.0f} s; "
        f"statuses {sorted(tally.statuses.items())}; {len(tally.streams)} streams, {sum(tally.streams)} events"
    )
    assert total >= MINIMUM_CASES, tally.cases
    assert not any(status >= 500 for status in tally.statuses)
    assert tally.streams, "no case streamed: the SSE events went unchecked"
