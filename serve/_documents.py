"""Document translation over HTTP, as an adapter over the job queue (:mod:`serve._jobs`).

Native: ``POST /v1/documents`` (multipart: ``file``, ``target``, optional ``source``, ``model``, ``options`` as a
JSON object, ``glossary_id``, ``bilingual``) answers 202 with the job at once; ``GET /v1/documents/{id}`` its
status and progress; ``GET /v1/documents/{id}/result`` the translated file.

DeepL-compatible: ``POST /v2/document`` (``file``, ``target_lang``, ``source_lang``, ``formality``,
``glossary_id``, ``output_format``) answers ``{document_id, document_key}``; ``POST /v2/document/{id}`` and
``POST /v2/document/{id}/result`` take the ``document_key``. A result asked for before the job is done answers 503
with ``Retry-After``, as DeepL does. A job is visible only to the API key that created it (others get 404).
"""

from __future__ import annotations

import json
import mimetypes
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mt import InputTooLarge, InvalidRequest, parse_language
from serve._errors import DocumentNotReady, UnsupportedMediaType
from serve._glossaries import check_id, tenant_of
from serve._http import api_key, client_host, off_loop, read_body
from serve._jobs import DocumentJobs, JobRecord, JobSpec, safe_filename
from serve._service import TranslationService

# Room for the form's text fields and multipart framing around the file.
_FORM_OVERHEAD = 64 * 1024
NATIVE_FIELDS = ("file", "target", "source", "model", "options", "glossary_id", "bilingual", "fields", "api_key")
DEEPL_FIELDS = (
    "file",
    "target_lang",
    "source_lang",
    "formality",
    "glossary_id",
    "glossary_ids",
    "output_format",
    "auth_key",
    "filename",
)


def supported_extensions() -> dict[str, str]:
    """File extension (without the dot, lower case) → format name, from the document format registry."""
    from mt.documents import supported_formats

    return {ext.lower().lstrip("."): name for ext, name in supported_formats().items()}


def media_type(filename: str) -> str:
    guessed, _ = mimetypes.guess_type(filename)
    if guessed is None:
        return "application/octet-stream"
    return f"{guessed}; charset=utf-8" if guessed.startswith("text/") else guessed


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII fallback and the UTF-8 name (RFC 6266 / 5987)."""
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@dataclass(frozen=True)
class Upload:
    filename: str
    data: bytes
    fields: dict[str, str]


async def read_upload(request: Request, limit: int, accepted_fields: tuple[str, ...]) -> Upload:
    """The multipart upload: one ``file`` part and text fields, its bytes counted while they arrive.

    Raises:
        InputTooLarge: the body or the file is over ``limit`` bytes.
        InvalidRequest: not multipart, no file, an unknown field, or a field sent twice.
        UnsupportedMediaType: the file's extension is not one the format registry reads.
    """
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "multipart/form-data":
        raise InvalidRequest(
            f"send the document as multipart/form-data with a 'file' part, not {content_type or 'no content type'}"
        )
    declared = request.headers.get("content-length", "")
    too_large = f"at most {limit} bytes per document are accepted (max_document_bytes)"
    if declared.isdigit() and int(declared) > limit + _FORM_OVERHEAD:
        raise InputTooLarge(f"the upload has {declared} bytes; {too_large}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit + _FORM_OVERHEAD:
            raise InputTooLarge(f"the upload has more than {limit + _FORM_OVERHEAD} bytes; {too_large}")
        chunks.append(chunk)
    raw = b"".join(chunks)

    async def replay() -> dict[str, Any]:
        return {"type": "http.request", "body": raw, "more_body": False}

    form = await Request(request.scope, replay).form(max_files=1, max_fields=len(accepted_fields))
    try:
        fields: dict[str, str] = {}
        upload: UploadFile | None = None
        for key, value in form.multi_items():
            if key not in accepted_fields:
                raise InvalidRequest(f"unknown field {key!r}; accepted: {', '.join(accepted_fields)}")
            if key in fields or (key == "file" and upload is not None):
                raise InvalidRequest(f"field {key!r} is given twice; send it once")
            if isinstance(value, str):
                if key == "file":
                    raise InvalidRequest("'file' must be a file part (with a filename), not a text field")
                fields[key] = value
            elif key != "file":
                raise InvalidRequest(f"field {key!r} must be text, not a file")
            else:
                upload = value
        if upload is None:
            raise InvalidRequest("no document: send the file in a multipart part named 'file'")
        data = await upload.read()
        filename = safe_filename(fields.get("filename") or upload.filename or "")
    finally:
        await form.close()
    if len(data) > limit:
        raise InputTooLarge(f"the document has {len(data)} bytes; {too_large}")
    if not data:
        raise InvalidRequest(f"the document {filename!r} is empty")
    extensions = supported_extensions()
    extension = filename.rpartition(".")[2].lower() if "." in filename else ""
    if extension not in extensions:
        listed = ", ".join(f".{e}" for e in sorted(extensions))
        raise UnsupportedMediaType(
            f"documents of type {('.' + extension) if extension else '(no extension)'} are not supported; "
            f"accepted: {listed}"
        )
    return Upload(filename, data, fields)


def _flag(value: str | None, name: str) -> bool:
    if value is None or value == "":
        return False
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise InvalidRequest(f"'{name}' must be true or false, not {value!r}")


def _languages(service: TranslationService, source: str, target: str, model: str | None) -> None:
    """Refuse at upload what the worker would refuse later: an unknown language or a pair no model translates."""
    source_language = None if source == "auto" else parse_language(source)
    target_language = parse_language(target)
    if model is not None and model not in service.kakehashi.registry.names():
        raise InvalidRequest(
            f"model {model!r} is not installed; installed: {', '.join(service.kakehashi.registry.names())}"
        )
    if source_language is not None:
        reachable = service.kakehashi.languages().get(source_language.code, [])
        if target_language.code not in reachable and target_language.base not in reachable:
            pairs = [f"{a}→{b}" for a, targets in sorted(service.kakehashi.languages().items()) for b in targets]
            raise InvalidRequest(
                f"no installed model translates {source_language.code}→{target_language.code}; "
                f"translated pairs: {', '.join(pairs)}"
            )


def native_status(record: JobRecord) -> dict[str, Any]:
    return {**record.to_json(), "document_key": record.document_key}


def deepl_status(record: JobRecord) -> dict[str, Any]:
    body: dict[str, Any] = {"document_id": record.job_id, "status": record.status}
    if record.status == "translating":
        remaining = record.seconds_remaining()
        if remaining is not None:
            body["seconds_remaining"] = remaining
    if record.status == "done":
        body["billed_characters"] = record.characters
    if record.status == "error":
        body["error_message"] = record.error or "the translation failed"
        body["message"] = body["error_message"]
    return body


def upload_schema(native: bool) -> dict[str, Any]:
    """The multipart body of ``POST /v1/documents`` (``native``) or ``POST /v2/document``."""
    file = {"type": "string", "format": "binary", "description": "the document; its extension names its format"}
    if native:
        properties: dict[str, Any] = {
            "file": file,
            "target": {"type": "string", "example": "en"},
            "source": {"type": "string", "default": "auto"},
            "model": {"type": "string", "description": "an installed model's name (GET /v1/models)"},
            "options": {"type": "string", "description": "decoding options as a JSON object (see /v1/translate)"},
            "glossary_id": {"type": "string"},
            "bilingual": {"type": "boolean", "default": False, "description": "source and translation together"},
            "fields": {"type": "string", "description": "jsonl, csv, tsv: the fields to translate, comma-separated"},
        }
        return {"type": "object", "required": ["file", "target"], "properties": properties}
    return {
        "type": "object",
        "required": ["file", "target_lang"],
        "properties": {
            "file": file,
            "target_lang": {"type": "string", "example": "EN-US"},
            "source_lang": {"type": "string"},
            "formality": {"type": "string"},
            "glossary_id": {"type": "string"},
            "output_format": {"type": "string", "description": "only the upload's own format is produced"},
        },
    }


def routes(service: TranslationService, jobs: DocumentJobs) -> list[Route]:
    limit = service.settings.max_document_bytes

    async def owner_of(request: Request, fields: dict[str, str]) -> str:
        identity = await off_loop(service.identify, api_key(request, fields), client_host(request))
        return tenant_of(identity)

    async def glossary_of(owner: str, glossary_id: str | None) -> dict[str, Any] | None:
        if not glossary_id:
            return None
        stored = await off_loop(service.glossaries.get, owner, check_id(glossary_id))
        return stored.glossary.to_json()

    def retry_after() -> int:
        return max(1, int(round(service.settings.job_heartbeat_s)))

    async def create(request: Request) -> Response:
        upload = await read_upload(request, limit, NATIVE_FIELDS)
        owner = await owner_of(request, upload.fields)
        fields = upload.fields
        target = fields.get("target") or ""
        if not target:
            raise InvalidRequest("'target' (a language code such as 'en') is required")
        source = fields.get("source") or "auto"
        model = fields.get("model") or None
        try:
            options = json.loads(fields["options"]) if fields.get("options") else {}
        except json.JSONDecodeError as exc:
            raise InvalidRequest(f"'options' must be a JSON object such as {{\"beam_size\": 2}} ({exc})") from exc
        spec = JobSpec(
            target=target,
            source=source,
            model=model,
            options=options,
            glossary=await glossary_of(owner, fields.get("glossary_id")),
            bilingual=_flag(fields.get("bilingual"), "bilingual"),
            fields=tuple(f.strip() for f in (fields.get("fields") or "").split(",") if f.strip()),
        )
        spec.translation_options(service.settings.max_batch_tokens)  # refuse bad options now, not in the worker
        _languages(service, source, target, model)
        record = await off_loop(jobs.submit, owner, upload.filename, spec, upload.data)
        return JSONResponse(native_status(record), status_code=202)

    async def status(request: Request) -> Response:
        owner = await owner_of(request, {})
        record = await off_loop(jobs.owned, request.path_params["job_id"], owner)
        return JSONResponse(native_status(record))

    async def result_response(record: JobRecord) -> Response:
        if record.status == "error":
            raise InvalidRequest(f"document {record.job_id} failed ({record.error}); there is no result to download")
        if record.status != "done":
            raise DocumentNotReady(
                f"document {record.job_id} is {record.status} ({record.done}/{record.total} segments); "
                f"retry after {retry_after()} s",
                retry_after(),
            )
        data = await off_loop(jobs.result, record)
        return Response(
            data,
            media_type=media_type(record.filename),
            headers={"Content-Disposition": content_disposition(record.filename)},
        )

    async def result(request: Request) -> Response:
        owner = await owner_of(request, {})
        record = await off_loop(jobs.owned, request.path_params["job_id"], owner)
        return await result_response(record)

    async def deepl_create(request: Request) -> Response:
        try:
            upload = await read_upload(request, limit, DEEPL_FIELDS)
        except UnsupportedMediaType as exc:
            raise InvalidRequest(str(exc)) from None  # DeepL answers an unsupported file type with 400
        owner = await owner_of(request, upload.fields)
        fields = upload.fields
        target = fields.get("target_lang") or ""
        if not target:
            raise InvalidRequest("Parameter 'target_lang' not specified.")
        source = fields.get("source_lang") or "auto"
        output_format = (fields.get("output_format") or "").lower().lstrip(".")
        extension = upload.filename.rpartition(".")[2].lower()
        if output_format and output_format != extension:
            raise InvalidRequest(
                f"Value for 'output_format' not supported: documents are returned in their own format "
                f"(.{extension}); leave output_format out or set it to {extension}"
            )
        if fields.get("glossary_ids"):
            raise InvalidRequest("Parameter 'glossary_ids' not supported; give one glossary in 'glossary_id'")
        glossary = await glossary_of(owner, fields.get("glossary_id"))
        if glossary is not None and source == "auto":
            raise InvalidRequest("Parameter 'source_lang' is required when a glossary is used.")
        spec = JobSpec(target=target, source=source, glossary=glossary)
        _languages(service, source, target, None)
        record = await off_loop(jobs.submit, owner, upload.filename, spec, upload.data)
        return JSONResponse({"document_id": record.job_id, "document_key": record.document_key})

    async def deepl_record(request: Request) -> JobRecord:
        body = await read_body(request)
        owner = await owner_of(request, body)
        key = body.get("document_key")
        if not isinstance(key, str) or not key:
            raise InvalidRequest("Parameter 'document_key' not specified; it is in the upload's answer")
        return await off_loop(jobs.owned, request.path_params["job_id"], owner, key)

    async def deepl_status_route(request: Request) -> Response:
        return JSONResponse(deepl_status(await deepl_record(request)))

    async def deepl_result(request: Request) -> Response:
        return await result_response(await deepl_record(request))

    return [
        Route("/v1/documents", create, methods=["POST"]),
        Route("/v1/documents/{job_id}", status, methods=["GET"]),
        Route("/v1/documents/{job_id}/result", result, methods=["GET"]),
        Route("/v2/document", deepl_create, methods=["POST"]),
        Route("/v2/document/{job_id}", deepl_status_route, methods=["POST"]),
        Route("/v2/document/{job_id}/result", deepl_result, methods=["POST"]),
    ]


_STRING = {"type": "string"}
_INTEGER = {"type": "integer"}
_NATIVE_STATUS = {
    "type": "object",
    "required": ["id", "document_key", "status", "progress", "error", "filename", "target", "created", "updated"],
    "properties": {
        "id": _STRING,
        "document_key": {**_STRING, "description": "the secret DeepL's document API asks for"},
        "status": {"type": "string", "enum": ["queued", "translating", "done", "error"]},
        "progress": {
            "type": "object",
            "required": ["done", "total"],
            "properties": {
                "done": {**_INTEGER, "description": "distinct segments translated"},
                "total": {**_INTEGER, "description": "distinct segments in the document (0 until it is read)"},
            },
        },
        "error": {"type": ["string", "null"], "description": "why the job failed"},
        "filename": _STRING,
        "source": _STRING,
        "target": _STRING,
        "model": {"type": ["string", "null"]},
        "characters": _INTEGER,
        "attempts": _INTEGER,
        "created": _STRING,
        "updated": _STRING,
        "seconds_remaining": {"type": ["integer", "null"]},
    },
}
_DEEPL_STATUS = {
    "type": "object",
    "required": ["document_id", "status"],
    "properties": {
        "document_id": _STRING,
        "status": {"type": "string", "enum": ["queued", "translating", "done", "error"]},
        "seconds_remaining": _INTEGER,
        "billed_characters": _INTEGER,
        "error_message": _STRING,
        "message": _STRING,
    },
}
_ERROR_TEXT = {
    400: "invalid request (the message says what is accepted), or the job failed (its reason)",
    403: "missing or invalid API key",
    404: "no such document for this API key (unknown, expired, or another key's), or unknown glossary",
    413: "the upload is over max_document_bytes",
    415: "a document type no format module reads (the message lists the accepted ones)",
    429: "rate limited (Retry-After)",
    503: "the result is not ready yet (Retry-After), or the job store (Redis) does not answer",
}


def openapi_paths(error_bodies: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The document endpoints for ``/openapi.json`` (``error_bodies``: the error schema of each API flavour)."""

    def errors(flavour: str, *codes: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for code in codes:
            response: dict[str, Any] = {
                "description": _ERROR_TEXT[code],
                "content": {"application/json": {"schema": error_bodies[flavour]}},
            }
            if code in (429, 503):
                response["headers"] = {"Retry-After": {"schema": _INTEGER, "required": code == 429}}
            out[str(code)] = response
        return out

    def json_body(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
        return {"description": description, "content": {"application/json": {"schema": schema}}}

    upload = {"required": True, "content": {"multipart/form-data": {"schema": upload_schema(True)}}}
    deepl_upload = {"required": True, "content": {"multipart/form-data": {"schema": upload_schema(False)}}}
    key_body = {
        "type": "object",
        "required": ["document_key"],
        "properties": {"document_key": _STRING, "auth_key": _STRING},
    }
    key_request = {
        "required": True,
        "content": {
            "application/json": {"schema": key_body},
            "application/x-www-form-urlencoded": {"schema": key_body},
        },
    }
    job_id = {"name": "job_id", "in": "path", "required": True, "schema": _STRING}
    result = {
        "description": "the translated document, in the upload's format",
        "headers": {"Content-Disposition": {"schema": _STRING, "required": True}},
        "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
    }
    return {
        "/v1/documents": {
            "post": {
                "summary": "Upload a document to translate (answers at once; the job runs on a worker)",
                "requestBody": upload,
                "responses": {
                    "202": json_body(_NATIVE_STATUS, "queued"),
                    **errors("native", 400, 403, 404, 413, 415, 429, 503),
                },
            }
        },
        "/v1/documents/{job_id}": {
            "get": {
                "summary": "A document job's status, progress and error",
                "parameters": [job_id],
                "responses": {"200": json_body(_NATIVE_STATUS), **errors("native", 403, 404, 429, 503)},
            }
        },
        "/v1/documents/{job_id}/result": {
            "get": {
                "summary": "The translated document (503 with Retry-After until the job is done)",
                "parameters": [job_id],
                "responses": {"200": result, **errors("native", 400, 403, 404, 429, 503)},
            }
        },
        "/v2/document": {
            "post": {
                "summary": "DeepL v2: upload a document to translate",
                "requestBody": deepl_upload,
                "responses": {
                    "200": json_body(
                        {
                            "type": "object",
                            "required": ["document_id", "document_key"],
                            "properties": {"document_id": _STRING, "document_key": _STRING},
                        }
                    ),
                    **errors("deepl", 400, 403, 404, 413, 429, 503),
                },
            }
        },
        "/v2/document/{job_id}": {
            "post": {
                "summary": "DeepL v2: a document's status",
                "parameters": [job_id],
                "requestBody": key_request,
                "responses": {"200": json_body(_DEEPL_STATUS), **errors("deepl", 400, 403, 404, 413, 429, 503)},
            }
        },
        "/v2/document/{job_id}/result": {
            "post": {
                "summary": "DeepL v2: the translated document (503 with Retry-After until it is done)",
                "parameters": [job_id],
                "requestBody": key_request,
                "responses": {"200": result, **errors("deepl", 400, 403, 404, 413, 429, 503)},
            }
        },
    }
