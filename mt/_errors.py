"""The one exception hierarchy of Kakehashi.

Every error a user can cause derives from :class:`KakehashiError`; the REST service maps each class to an
HTTP status in one table (``serve``), and the CLI prints the message and exits non-zero. Messages say what
was wrong and what is accepted.
"""

from __future__ import annotations

from collections.abc import Iterable


def _accepted(values: Iterable[str], limit: int = 40) -> str:
    items = sorted(set(values))
    shown = ", ".join(items[:limit])
    if len(items) > limit:
        shown += f", … ({len(items) - limit} more)"
    return shown or "none"


class KakehashiError(Exception):
    """Base class of every error Kakehashi raises on purpose."""


class InvalidRequest(KakehashiError):
    """A request or option is malformed (wrong type, out of range, contradictory)."""


class UnsupportedLanguage(KakehashiError):
    """A language code is not recognised at all."""

    def __init__(self, code: str, accepted: Iterable[str], installed: bool = False):
        self.code = code
        if installed:
            # What a request can use: the languages of the installed models, not every code the parser knows.
            message = (
                f"unknown language code {code!r}; the installed models translate: {_accepted(accepted)} "
                "(accepted as ISO 639-1/639-3 codes or BCP-47 tags, such as ja, jpn or ja-JP)"
            )
        else:
            message = (
                f"unknown language code {code!r}; accepted codes are ISO 639-1/639-3 or BCP-47 tags such as: "
                f"{_accepted(accepted)}"
            )
        super().__init__(message)


class UnsupportedLanguagePair(KakehashiError):
    """No installed model (or pivot through English) translates between two languages."""

    def __init__(self, source: str, target: str, available: Iterable[str]):
        self.source = source
        self.target = target
        super().__init__(f"no installed model translates {source}→{target}; available pairs: {_accepted(available)}")


class ModelNotFound(KakehashiError):
    """A model name (or, where directories are accepted, a directory) is not installed."""

    def __init__(self, name: str, available: Iterable[str], directories: bool = True):
        self.name = name
        # Requests to the server name registered models only; saying so never reveals the server's paths.
        accepted = "an installed model name or a model directory" if directories else "an installed model name"
        super().__init__(f"unknown model {name!r}; give {accepted}. Installed models: {_accepted(available)}")


class InvalidModel(KakehashiError):
    """A model directory exists but is corrupt or incomplete."""

    def __init__(self, path: object, problem: str):
        self.path = path
        super().__init__(f"model directory {path} is not a usable Kakehashi model: {problem}")


class ConversionError(KakehashiError):
    """A checkpoint could not be converted to CTranslate2."""


class InputTooLarge(KakehashiError):
    """A request exceeds a configured size limit."""


class DocumentError(KakehashiError):
    """A document cannot be translated: unsupported format, corrupt, hostile (zip bomb, entity expansion),
    oversized, or in an encoding that cannot be read. The message names the file's problem and what is accepted."""


class MissingDependency(KakehashiError):
    """An optional dependency (an extra) is needed for this operation."""

    def __init__(self, module: str, extra: str, purpose: str):
        super().__init__(
            f"{purpose} needs the Python package {module!r}, which is not installed; "
            f"install it with: pip install 'kakehashi[{extra}]'"
        )


class ReferenceIndexMissing(KakehashiError):
    """A model has no reference index (the training pairs that support its output) yet."""

    def __init__(self, model: str, searched: Iterable[object]):
        self.model = model
        places = ", ".join(str(p) for p in searched)
        super().__init__(
            f"model {model!r} has no reference index (looked in {places}); build it with: "
            f"kakehashi index build --model {model}"
        )


class InvalidReferenceIndex(KakehashiError):
    """A reference index exists but is corrupt, of another format version, or built for another model."""

    def __init__(self, path: object, problem: str, model: str):
        self.path = path
        super().__init__(
            f"reference index {path} is not usable: {problem}; rebuild it with: kakehashi index build --model {model}"
        )
