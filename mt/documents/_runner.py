"""Batch document translation in three steps an engine can be swapped under: :func:`plan_files` (inputs →
files and output paths, with the bad-input checks), :func:`collect` (parse every file into units),
:func:`translate_collected` (the unique units of all files through an engine, in chunks, with progress) and
:func:`write_outputs` (render each document and replace its output atomically).

An engine is any ``Callable[[list[str]], list[str]]`` that translates units (:func:`local_engine` runs
:func:`~mt.documents.translate_units` over :meth:`mt.Kakehashi.translate`; a distributed engine can map the same
units elsewhere). Resuming is the journal's work (``mt/documents/_journal.py``), below the engine.
"""

from __future__ import annotations

import fnmatch
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mt._errors import DocumentError, KakehashiError
from mt.documents._base import Document
from mt.documents._inline import translate_by_language, translate_units
from mt.documents._registry import format_of, open_document, supported_formats

Engine = Callable[[list[str]], list[str]]
# Units per engine call: small enough for a progress bar that moves, large enough for full model batches.
CHUNK_UNITS = 64


@dataclass(frozen=True)
class RunOptions:
    """What ``kakehashi translate-file`` was asked to do (everything but the engine)."""

    target: str
    output: str | None = None  # as given: a trailing separator names a folder
    format: str | None = None
    bilingual: bool = False
    fields: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    overwrite: bool = False


@dataclass
class FileTask:
    """One input file, where its translation goes, and (once collected) its document or why it failed."""

    source: Path
    output: Path
    display: str
    document: Document | None = None
    error: str | None = None


@dataclass
class Summary:
    done: list[FileTask] = field(default_factory=list)
    failed: list[FileTask] = field(default_factory=list)
    segments: int = 0  # units of all documents
    unique: int = 0  # distinct units (the rest were duplicates, translated once)
    characters: int = 0
    cache_hits: int = 0  # sentences the journal already had
    translated: int = 0  # sentences the engine translated
    elapsed_s: float = 0.0

    def lines(self) -> list[str]:
        out = [
            f"files: {len(self.done)} translated, {len(self.failed)} failed",
            f"segments: {self.segments} ({self.segments - self.unique} duplicates translated once), "
            f"{self.characters} characters",
            f"sentences: {self.translated} translated, {self.cache_hits} from the journal (cache hits)",
            f"elapsed: {self.elapsed_s:.1f} s",
        ]
        for task in self.failed:
            error = task.error or ""
            out.append(f"failed: {error}" if error.startswith(task.display) else f"failed: {task.display}: {error}")
        return out


def _language_suffix(path: Path, target: str) -> Path:
    return path.with_name(f"{path.stem}.{target}{path.suffix}")


def _matches(relative: str, patterns: Iterable[str]) -> bool:
    name = relative.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatch(relative, p) or fnmatch.fnmatch(name, p) for p in patterns)


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
        return True
    except ValueError:
        return False


def plan_files(inputs: Sequence[Path], options: RunOptions) -> list[FileTask]:
    """The files to translate and their outputs; tasks that cannot run carry their ``error``.

    Directories are walked recursively for the extensions of :func:`supported_formats` (or any file with
    ``format``), filtered by ``include``/``exclude`` globs; symbolic links that lead outside the input folder are
    refused. Outputs: beside each input with a language suffix (``guide.en.md``) without ``output``; into
    ``output`` (a folder, mirroring the input tree) for folders and several inputs; to ``output`` itself for one
    input file.

    Raises:
        DocumentError: the output folder lies inside an input folder (outputs would become inputs), or an input
            does not exist.
    """
    output = Path(options.output).resolve() if options.output else None
    output_is_folder = bool(options.output) and (
        str(options.output).endswith(("/", os.sep)) or Path(str(options.output)).is_dir()
    )
    tasks: list[FileTask] = []
    single_file = len(inputs) == 1 and inputs[0].is_file()
    for given in inputs:
        if not given.exists():
            raise DocumentError(f"input {given} does not exist; give files or folders to translate")
        if given.is_dir():
            root = given.resolve()
            if output is not None and _inside(output, root):
                raise DocumentError(
                    f"the output folder {options.output} is inside the input folder {given}; "
                    "choose an output outside the input tree"
                )
            tasks.extend(_walk(given, root, output, options))
            continue
        if single_file and output is not None and not output_is_folder:
            target = output
        elif output is not None:
            target = output / given.name
        else:
            target = _language_suffix(given, options.target)
        tasks.append(FileTask(given, target, str(given)))
        if options.format is None:
            try:
                format_of(str(given))
            except DocumentError as exc:
                tasks[-1].error = str(exc)
    seen: dict[Path, FileTask] = {}
    for task in tasks:
        if task.error:
            continue
        resolved = task.output.resolve()
        if resolved == task.source.resolve():
            task.error = f"the output {task.output} is the input itself; give another --output"
        elif resolved in seen:
            task.error = f"the output {task.output} is also the output of {seen[resolved].display}"
        else:
            seen[resolved] = task
    return tasks


def _walk(given: Path, root: Path, output: Path | None, options: RunOptions) -> Iterable[FileTask]:
    extensions = set(supported_formats())
    suffix = f".{options.target}"
    for folder, directories, files in os.walk(given, followlinks=False):
        directories.sort()
        for name in sorted(d for d in directories if (Path(folder) / d).is_symlink()):
            # os.walk does not follow linked folders; one that leads outside is said, one inside is walked anyway.
            path = Path(folder) / name
            if not _inside(path.resolve(), root) and not _matches(path.relative_to(given).as_posix(), options.exclude):
                task = FileTask(path, path, str(path))
                task.error = f"a symbolic link to {path.resolve()}, outside the input folder {given}; not followed"
                yield task
        for name in sorted(files):
            path = Path(folder) / name
            relative = path.relative_to(given).as_posix()
            if options.include and not _matches(relative, options.include):
                continue
            if _matches(relative, options.exclude):
                continue
            if options.format is None and path.suffix.lower() not in extensions:
                continue
            if output is None and Path(name).stem.endswith(suffix):
                continue  # a translation an earlier run wrote beside its input
            target = output / relative if output else _language_suffix(path, options.target)
            task = FileTask(path, target, str(path))
            if path.is_symlink() and not _inside(path.resolve(), root):
                task.error = f"a symbolic link to {path.resolve()}, outside the input folder {given}; not followed"
            yield task


def collect(tasks: Sequence[FileTask], options: RunOptions) -> None:
    """Parse every task's input into its document (or record why it cannot be)."""
    for task in tasks:
        if task.error:
            continue
        try:
            data = task.source.read_bytes()
            task.document = open_document(
                data,
                task.display,
                format=options.format,
                fields=list(options.fields) or None,
                overwrite=options.overwrite,
            )
        except KakehashiError as exc:
            task.error = str(exc)
        except OSError as exc:
            task.error = f"cannot read the file: {exc.strerror or exc}"


def unique_units(tasks: Sequence[FileTask]) -> list[str]:
    """The distinct units of all collected documents, in first-seen order."""
    return list(dict.fromkeys(unit for task in tasks if task.document for unit in task.document.units))


def translate_collected(
    units: Sequence[str],
    engine: Engine,
    *,
    chunk: int = CHUNK_UNITS,
    progress: Callable[[int], None] | None = None,
    finished: Callable[[list[str], dict[str, str]], None] | None = None,
) -> dict[str, str]:
    """Translate ``units`` through ``engine`` in chunks; returns unit → translation. After each chunk,
    ``progress`` gets its size and ``finished`` the chunk and every translation so far."""
    translations: dict[str, str] = {}
    for start in range(0, len(units), chunk):
        batch = list(units[start : start + chunk])
        out = engine(batch)
        if len(out) != len(batch):
            raise DocumentError(f"the engine returned {len(out)} translations for {len(batch)} units")
        translations.update(zip(batch, out))
        if progress is not None:
            progress(len(batch))
        if finished is not None:
            finished(batch, translations)
    return translations


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then rename it over: a reader
    (or a run killed half-way) never sees a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_outputs(tasks: Sequence[FileTask], translations: dict[str, str], options: RunOptions) -> None:
    """Render each collected document with ``translations`` and write it; a failure is recorded on its task."""
    for task in tasks:
        if task.error or task.document is None:
            continue
        try:
            data = task.document.render([translations[u] for u in task.document.units], bilingual=options.bilingual)
            atomic_write(task.output, data)
        except KakehashiError as exc:
            task.error = str(exc)
        except OSError as exc:
            task.error = f"cannot write {task.output}: {exc.strerror or exc}"


def local_engine(
    translate: Callable[[list[str], str], list[str]], source: str, detect: Callable[[str], str] | None = None
) -> Engine:
    """The engine of one process: :func:`translate_units` over ``translate(texts, source)`` (plain texts →
    translations). With ``source`` "auto", ``detect`` names each unit's language from its plain text."""
    if source == "auto" and detect is not None:
        return lambda units: translate_by_language(units, translate, detect)
    return lambda units: translate_units(units, lambda texts: translate(texts, source))


def run(
    inputs: Sequence[Path],
    options: RunOptions,
    engine: Engine,
    *,
    progress: bool = False,
    chunk: int = CHUNK_UNITS,
) -> Summary:
    """Plan, collect, translate and write; returns the :class:`Summary` (``cache_hits`` and ``translated`` are
    filled by the caller, who owns the journal)."""
    started = time.perf_counter()
    tasks = plan_files(inputs, options)
    collect(tasks, options)
    units = unique_units(tasks)
    summary = Summary()
    summary.unique = len(units)
    for task in tasks:
        if task.document is not None and not task.error:
            summary.segments += len(task.document.units)
            summary.characters += sum(len(u) for u in task.document.units)
    files = [t for t in tasks if t.document is not None and not t.error]
    bar = _progress_bar(len(units), len(files), progress)
    # Each file is written as soon as its last unit is translated, so a long run delivers as it goes.
    waiting = {id(task): len(set(task.document.units)) for task in files if task.document is not None}
    readers: dict[str, list[FileTask]] = {}
    for task in files:
        for unit in set(task.document.units if task.document else ()):
            readers.setdefault(unit, []).append(task)
    written: list[FileTask] = []

    def write_finished(batch: list[str], translations: dict[str, str]) -> None:
        for unit in batch:
            for task in readers.get(unit, ()):
                waiting[id(task)] -= 1
                if waiting[id(task)] == 0:
                    write_outputs([task], translations, options)
                    written.append(task)
        if bar is not None:
            bar.set_postfix_str(f"{len(written)}/{len(files)} files written", refresh=False)

    try:
        write_finished([], {})
        translations = translate_collected(
            units, engine, chunk=chunk, progress=bar.update if bar else None, finished=write_finished
        )
    finally:
        if bar is not None:
            bar.close()
    done = {id(task) for task in written}
    write_outputs([task for task in files if id(task) not in done], translations, options)  # those without units
    summary.done = [t for t in tasks if not t.error]
    summary.failed = [t for t in tasks if t.error]
    summary.elapsed_s = time.perf_counter() - started
    return summary


def _progress_bar(total: int, files: int, enabled: bool):  # type: ignore[no-untyped-def]
    if not enabled or total == 0:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="seg", desc=f"{files} file{'s' if files != 1 else ''}", dynamic_ncols=True)
