"""Source references: the training pairs that support a translation, found in a BM25 index of a model's corpora.

``build_index`` indexes every pair of the corpora a model's manifest names (each pair's two sides in one document,
Japanese as MeCab content words, other languages as words), marks whether the pair was in the model's training
sample (reproducing the sample the way ``mt.training.data.prepare_data`` drew it), and stores beside the model (or
under ``KAKEHASHI_INDEX_DIR``) a bm25s sparse index, the pairs' texts in one memory-mapped blob and ``index.json``
naming the model and the index format version. ``ReferenceIndex`` loads it and answers, for a source sentence and
its translation, the best-matching records with their public URLs, and a support score for the translation.

For models whose training run recorded its chain of sessions, the index also stores the optimizer steps at which
the model saw each pair (replayed by :mod:`mt.training.order`): one flat array of steps sorted by record, with
offsets per record. Where the steps cannot be known, ``index.json`` says why and every reference carries that
reason instead of steps.
"""

from __future__ import annotations

import csv
import difflib
import json
import logging
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mt._corpora import CleaningOptions, ParallelPair, clean_pairs, load_corpus
from mt._errors import InvalidReferenceIndex, InvalidRequest, MissingDependency, ReferenceIndexMissing
from mt._japanese import ContentWords
from mt._manifest import REFERENCE_INDEX_DIR, Manifest

log = logging.getLogger("kakehashi.references")

INDEX_FORMAT = "kakehashi-reference-index"
INDEX_FORMAT_VERSION = 2  # 2: training steps per record
INDEX_DIR_VARIABLE = "KAKEHASHI_INDEX_DIR"
META_FILE = "index.json"
_BM25_DIR = "bm25"
_TEXTS = "texts.bin"
_OFFSETS = "offsets.npy"
_CORPUS = "corpus.npy"
_IN_TRAINING = "in_training.npy"
_STEPS = "steps.npy"
_STEP_OFFSETS = "step_offsets.npy"
_WIKIPEDIA = "https://ja.wikipedia.org/?curid={}"
_TATOEBA = "https://tatoeba.org/sentences/show/{}"
_TIE_POOL = 10  # candidates read before breaking ties of equal BM25 scores by wording


@dataclass(frozen=True)
class Reference:
    """One record of a model's training corpora that supports a translated segment."""

    corpus: str
    id: str
    url: str | None
    license: str
    source: str
    target: str
    score: float
    in_training: bool
    steps: tuple[int, ...] | str = "not recorded"
    times_seen: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The reference as a JSON object: ``steps`` a list of the training steps that held the pair (one per
        time seen, so a step repeats when both directions were in its batch), or why they are not known;
        ``times_seen`` null when unknown."""
        data = asdict(self)
        data["steps"] = self.steps if isinstance(self.steps, str) else list(self.steps)
        return data


def _numpy() -> Any:
    try:
        import numpy
    except ImportError as exc:
        raise MissingDependency("numpy", "bridge", "the reference index") from exc
    return numpy


def _bm25s() -> Any:
    try:
        import bm25s
    except ImportError as exc:
        raise MissingDependency("bm25s", "bridge", "the reference index") from exc
    return bm25s


def index_locations(model_dir: Path, manifest: Manifest, environ: Mapping[str, str] | None = None) -> list[Path]:
    """Where a model's index may live, in the order they are tried: beside the model, then the cache folder
    (``$KAKEHASHI_INDEX_DIR/<model>``, default ``~/.cache/kakehashi/index/<model>``)."""
    environ = os.environ if environ is None else environ
    given = environ.get(INDEX_DIR_VARIABLE)
    root = Path(given).expanduser() if given else Path.home() / ".cache" / "kakehashi" / "index"
    return [model_dir / REFERENCE_INDEX_DIR, root / manifest.name]


def _corpora_fingerprint(manifest: Manifest) -> dict[str, Any]:
    return {
        name: {"spec": info.get("spec"), "pairs_used": info.get("pairs_used")}
        for name, info in manifest.corpora.items()
    }


class ReferenceIndex:
    """A loaded reference index of one model: search for supporting records, and score support."""

    def __init__(
        self,
        path: Path,
        meta: dict[str, Any],
        retriever: Any,
        texts: Any,
        offsets: Any,
        corpus: Any,
        in_training: Any,
        words: ContentWords | None = None,
        steps: tuple[Any, Any] | None = None,
    ):
        self.path = path
        self.meta = meta
        self._retriever = retriever
        self._texts = texts
        self._offsets = offsets
        self._corpus = corpus
        self._in_training = in_training
        self._steps = steps
        self._corpora: list[dict[str, Any]] = meta["corpora"]
        self._vocab: dict[str, int] = retriever.vocab_dict
        self._words = words or ContentWords()

    @classmethod
    def for_model(cls, model_dir: Path, manifest: Manifest, environ: Mapping[str, str] | None = None) -> ReferenceIndex:
        """Load the index of the model in ``model_dir``.

        Raises:
            ReferenceIndexMissing: no index was built for the model (the message says how to build one).
            InvalidReferenceIndex: the index is corrupt, of another format version, or built for another model.
        """
        places = index_locations(model_dir, manifest, environ)
        for place in places:
            if (place / META_FILE).exists():
                return cls.load(place, manifest)
        raise ReferenceIndexMissing(manifest.name, places)

    @classmethod
    def load(cls, path: Path, manifest: Manifest) -> ReferenceIndex:
        """Load the index in ``path``, checking that it was built by this format for ``manifest``'s model.

        Raises:
            InvalidReferenceIndex: as in :meth:`for_model`.
        """
        np = _numpy()
        bm25s = _bm25s()
        try:
            meta = json.loads((path / META_FILE).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidReferenceIndex(path, f"{META_FILE} is not readable JSON ({exc})", manifest.name) from exc
        if not isinstance(meta, dict) or meta.get("format") != INDEX_FORMAT:
            raise InvalidReferenceIndex(path, f"{META_FILE} does not describe a {INDEX_FORMAT}", manifest.name)
        if meta.get("format_version") != INDEX_FORMAT_VERSION:
            raise InvalidReferenceIndex(
                path,
                f"format version {meta.get('format_version')!r}; this Kakehashi reads {INDEX_FORMAT_VERSION}",
                manifest.name,
            )
        if meta.get("model") != manifest.name:
            raise InvalidReferenceIndex(
                path, f"it was built for model {meta.get('model')!r}, not {manifest.name!r}", manifest.name
            )
        if meta.get("model_corpora") != _corpora_fingerprint(manifest):
            raise InvalidReferenceIndex(path, "the model's corpora changed since it was built", manifest.name)
        try:
            offsets = np.load(path / _OFFSETS, mmap_mode="r")
            corpus = np.load(path / _CORPUS)
            in_training = np.load(path / _IN_TRAINING)
            texts = np.memmap(path / _TEXTS, dtype=np.uint8, mode="r") if (path / _TEXTS).stat().st_size else b""
            retriever = bm25s.BM25.load(str(path / _BM25_DIR), mmap=True, show_progress=False, verbosity=0)
            documents = int(meta["documents"])
            problems = [
                name
                for name, ok in (
                    (_OFFSETS, offsets.shape == (3 * documents + 1,) and int(offsets[-1]) == len(texts)),
                    (
                        _CORPUS,
                        corpus.shape == (documents,) and (documents == 0 or int(corpus.max()) < len(meta["corpora"])),
                    ),
                    (_IN_TRAINING, in_training.shape == (documents,)),
                    (_BM25_DIR, retriever.scores["num_docs"] == documents),
                )
                if not ok
            ]
            steps = None
            if meta["steps"]["known"]:
                step_offsets = np.load(path / _STEP_OFFSETS, mmap_mode="r")
                steps = (step_offsets, np.load(path / _STEPS, mmap_mode="r"))
                if step_offsets.shape != (documents + 1,) or int(step_offsets[-1]) != len(steps[1]):
                    problems.append(f"{_STEPS}, {_STEP_OFFSETS}")
        except Exception as exc:  # numpy and bm25s raise many kinds of errors on damaged files
            raise InvalidReferenceIndex(
                path, f"a file is missing or damaged ({type(exc).__name__}: {exc})", manifest.name
            ) from exc
        if problems:
            raise InvalidReferenceIndex(path, f"{', '.join(problems)} do not match {META_FILE}", manifest.name)
        return cls(path, meta, retriever, texts, offsets, corpus, in_training, steps=steps)

    def __len__(self) -> int:
        return int(self.meta["documents"])

    def _text(self, slot: int) -> str:
        start, end = int(self._offsets[slot]), int(self._offsets[slot + 1])
        return bytes(self._texts[start:end]).decode("utf-8")

    def _query_ids(self, texts: Iterable[tuple[str, str]]) -> list[int]:
        return [
            self._vocab[w]
            for text, lang in texts
            if text
            for w in self._words.words(text, lang, content_only=False)
            if w in self._vocab
        ]

    def search(self, source: str, output: str, source_lang: str, target_lang: str, k: int = 3) -> list[Reference]:
        """The ``k`` records that best match a source sentence and its translation, best first.

        Retrieval uses the words of both sides, so a paraphrased source, or an output worded unlike the record,
        still finds it. Records of corpora that do not hold both languages are never returned; an empty list
        means no record shares a content word with the inputs.
        """
        if k < 1:
            raise InvalidRequest(f"k must be a positive number of references, got {k}")
        src, tgt = source_lang.split("-")[0], target_lang.split("-")[0]
        usable = [i for i, c in enumerate(self._corpora) if {src, tgt} <= set(c["languages"]) and src != tgt]
        query = self._query_ids([(source, src), (output, tgt)])
        if not usable or not query or len(self) == 0:
            return []
        np = _numpy()
        scores = np.asarray(self._retriever.get_scores(query), dtype=np.float32)
        if len(usable) < len(self._corpora):
            scores = np.where(np.isin(self._corpus, usable), scores, 0.0)
        wide = min(max(k, _TIE_POOL), len(scores))
        top = np.argpartition(-scores, wide - 1)[:wide]
        found = [self._reference(int(i), float(scores[i]), src) for i in top if scores[i] > 0]
        # Bags of words tie ("Take off your hat." / "Take your hat off."): the closer wording goes first.
        found.sort(key=lambda ref: (-ref.score, -_likeness(source, ref.source) - _likeness(output, ref.target)))
        return found[:k]

    def record(self, position: int, source_lang: str) -> Reference:
        """The record at ``position`` (0 ≤ position < len(index)), its sides ordered for ``source_lang``."""
        if not 0 <= position < len(self):
            raise InvalidRequest(f"record position must be in 0..{len(self) - 1}, got {position}")
        return self._reference(position, 0.0, source_lang.split("-")[0])

    def _reference(self, doc: int, score: float, source_lang: str) -> Reference:
        info = self._corpora[int(self._corpus[doc])]
        record_id, first, second = (self._text(3 * doc + j) for j in range(3))
        source, target = (first, second) if info["languages"][0] == source_lang else (second, first)
        in_training = bool(self._in_training[doc])
        steps, times_seen = self._seen(doc, in_training)
        return Reference(
            corpus=info["name"],
            id=record_id,
            url=_record_url(info, record_id),
            license=info["license"],
            source=source,
            target=target,
            score=round(score, 4),
            in_training=in_training,
            steps=steps,
            times_seen=times_seen,
        )

    def _seen(self, doc: int, in_training: bool) -> tuple[tuple[int, ...] | str, int | None]:
        """(the steps that held record ``doc``, how many times it was seen), or (why not known, None)."""
        recorded = self.meta["steps"]
        if not in_training:
            return "none: the pair is not in the model's training sample", 0
        if self._steps is None:
            return f"not known: {recorded['reason']}", None
        offsets, flat = self._steps
        steps = tuple(int(s) for s in flat[int(offsets[doc]) : int(offsets[doc + 1])])
        if not steps:
            return (
                f"none: the pair is in the training sample but was in no batch up to step {recorded['last_step']} "
                "(too long for the model's max_tokens, or training stopped before its turn)",
                0,
            )
        return steps, len(steps)

    def support(self, output: str, references: Sequence[Reference], target_lang: str) -> float:
        """Share (0..1) of the output's distinct content words that appear in the references' target sides.

        An output made only of function words is judged on those; one without words at all scores 0.0.
        """
        lang = target_lang.split("-")[0]
        content = True
        wanted = set(self._words.words(output, lang))
        if not wanted:  # "What is that?": only function words, so judge those
            content = False
            wanted = set(self._words.words(output, lang, content_only=False))
        if not wanted:
            return 0.0
        attested = {w for ref in references for w in self._words.words(ref.target, lang, content_only=content)}
        return round(len(wanted & attested) / len(wanted), 4)


# The repository root when running from a checkout (data/corpora lives there, and is not installed).
_CHECKOUT = Path(__file__).resolve().parent.parent


def _likeness(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def _record_url(info: Mapping[str, Any], record_id: str) -> str | None:
    if info["kind"] == "tatoeba":
        return _TATOEBA.format(record_id.split("-")[0])
    if info["kind"] == "wikipedia":
        page = info["pages"].get(record_id.split(":")[0])
        return _WIKIPEDIA.format(page) if page else None
    return None


# ---------------------------------------------------------------------------------------------------------- build


def resolve_spec(spec: str, data_dir: Path) -> str:
    """A manifest's corpus spec with its path resolved against the shared data folder.

    Manifests name corpora relative to the folder that holds ``shared/data`` (``tsv:shared/data/train/…``);
    absolute paths stay as they are, and other relative paths are tried under ``data_dir``, then under the
    checkout this module runs from (``data/corpora/…``, the corpora the relay adds), else left to the working
    directory.
    """
    fmt, sep, rest = spec.partition(":")
    if not sep or "/" in fmt:
        fmt, rest = "", spec
    path = Path(rest)
    if not path.is_absolute():
        parts = path.parts
        if parts[:2] == ("shared", "data"):
            path = data_dir.joinpath(*parts[2:])
        elif (data_dir / path).exists():
            path = data_dir / path
        elif (_CHECKOUT / path).exists():
            path = _CHECKOUT / path
    return f"{fmt}:{path}" if fmt else str(path)


def _wikipedia_pages(corpus_file: Path) -> dict[str, int]:
    """Article file (``BDS00001``) → Japanese Wikipedia page id, from the Wiki Corpus list beside the corpus."""
    pages: dict[str, int] = {}
    for listing in sorted(corpus_file.parent.glob("Wiki_Corpus_List*.csv")):
        with open(listing, encoding="utf-8-sig", newline="") as handle:
            for row in csv.DictReader(handle):
                name, page = row.get("File name", ""), row.get("Wikipedia ID", "")
                if name and page.strip().isdigit():
                    pages[name.rsplit(".", 1)[0]] = int(page)
    return pages


def _training_ids(
    name: str, raw: list[ParallelPair], config: Mapping[str, Any], dev_names: set[str], added: bool = False
) -> tuple[set[str], str]:
    """Ids of the pairs the model trained on, drawn as ``prepare_data`` drew them, and how they were found
    (``added``: a corpus added to the run after it began, which has no dev pairs held out)."""
    from mt.training.data import _holdout, _sample

    pairs = list(clean_pairs(iter(raw), CleaningOptions()))
    dev_holdout = int(config.get("dev_holdout", 0) or 0)
    if pairs and name not in dev_names and dev_holdout and not added:
        per_mille = max(1, min(200, round(1000 * dev_holdout / len(pairs))))
        pairs = [p for p in pairs if not _holdout(p, per_mille)]
    held = "no dev hold-out (added to the run after it began)" if added else "dev hold-out"
    sample = dict(config.get("sample") or {})
    if name in sample and "seed" in config:
        pairs = _sample(pairs, int(sample[name]), int(config["seed"]))
        rule = f"cleaning, {held} and the seeded sample of {sample[name]} (seed {config['seed']})"
    else:
        rule = f"cleaning and {held} (no sample)"
    return {p.pair_id for p in pairs}, rule


def _training_steps(
    model_dir: Path, manifest: Manifest, config: Mapping[str, Any], data_dir: Path
) -> tuple[dict[tuple[str, str], list[int]], dict[str, Any]]:
    """The steps at which the model saw each training pair, ``(corpus, pair id) → steps``, replayed from the
    run's settings and chain of sessions in the manifest; and their description for ``index.json`` (with the
    reason when they cannot be known)."""
    from dataclasses import replace

    from mt.training.order import StepsUnknown, config_from_json, training_order

    summary = manifest.training.get("summary") or {}
    started = time.perf_counter()
    try:
        if not config or not summary:
            raise StepsUnknown(
                "the model's manifest records no training run (settings and sessions), so its data order cannot "
                "be replayed"
            )
        run_config = config_from_json(config)
        run_config = replace(
            run_config,
            train=[resolve_spec(s, data_dir) for s in run_config.train],
            added_train=[resolve_spec(s, data_dir) for s in run_config.added_train],
            dev=[resolve_spec(s, data_dir) for s in run_config.dev],
        )
        run_steps = int(summary.get("steps") or 0)
        # The weights may be an earlier snapshot (the best-scoring one) or an average of snapshots: the steps
        # after the last one that shaped them are not cited. Manifests from before ``weights_step`` lack it.
        last_step = int(summary.get("weights_step") or run_steps)
        order = training_order(run_config, summary.get("runs") or [], last_step, model_dir)
    except StepsUnknown as exc:
        return {}, {"known": False, "reason": str(exc)}
    chosen = str(summary.get("chosen_weights", "last"))
    note = f"steps 1-{last_step} of the run, replayed session by session"
    if last_step < run_steps:
        shaped_by = "average of snapshots up to" if chosen.startswith("average_of_") else "best-scoring snapshot, from"
        note += (
            f"; the model's weights are the run's {shaped_by} step {last_step}, so the run's later steps "
            f"{last_step + 1}-{run_steps} did not shape them and are not cited"
        )
    elif chosen == "best" and "weights_step" not in summary:
        note += "; the model's weights are the run's best-scoring snapshot, so later steps did not shape them"
    return order.steps_by_pair(), {
        "known": True,
        "last_step": last_step,
        "run_steps": run_steps,
        "sessions": [s.describe() for s in order.sessions],
        "chosen_weights": chosen,
        "note": note,
        "replay_seconds": round(time.perf_counter() - started, 1),
    }


def _progress(items: Iterable[Any], total: int, label: str, enabled: bool) -> Iterator[Any]:
    if enabled:
        try:
            from tqdm import tqdm
        except ImportError:  # the bar is a nicety: without tqdm, build silently
            pass
        else:
            yield from tqdm(items, total=total, desc=label, unit="pair", leave=False, mininterval=1.0)
            return
    yield from items


def default_index_dir(model_dir: Path, manifest: Manifest, environ: Mapping[str, str] | None = None) -> Path:
    """Where a new index goes: beside the model when that folder is writable, else the cache folder."""
    beside, cache = index_locations(model_dir, manifest, environ)
    return beside if os.access(model_dir, os.W_OK) else cache


def build_index(
    model_dir: Path,
    manifest: Manifest,
    data_dir: Path,
    output: Path | None = None,
    progress: bool = True,
    environ: Mapping[str, str] | None = None,
) -> Path:
    """Index every pair of the corpora ``manifest`` names, and return the index folder.

    Args:
        model_dir: the model's folder (the index goes into ``model_dir/index`` when writable).
        manifest: the model's manifest; its ``corpora`` specs are resolved against ``data_dir``.
        data_dir: the shared data folder (``KAKEHASHI_DATA_DIR``, see ``mt.bench.testsets.data_dir``).
        output: another folder to write the index to.
        progress: show a progress bar (when tqdm is installed).

    Raises:
        InvalidRequest: the manifest names no corpora, or a corpus file is missing or malformed.
    """
    np = _numpy()
    bm25s = _bm25s()
    if not manifest.corpora:
        raise InvalidRequest(
            f"model {manifest.name!r} names no training corpora in its manifest, so there is nothing to index; "
            "references need a model trained by `kakehashi train`"
        )
    started = time.perf_counter()
    target = output or default_index_dir(model_dir, manifest, environ)
    config = dict(manifest.training.get("config") or {})
    dev_names = set()
    for spec in config.get("dev") or []:
        head = next(iter(load_corpus(resolve_spec(spec, data_dir))), None)
        if head is not None:
            dev_names.add(head.corpus)
    words = ContentWords()
    vocab: dict[str, int] = {}
    documents: list[list[int]] = []
    blob = bytearray()
    offsets = [0]
    corpus_of: list[int] = []
    in_training: list[bool] = []
    corpora: list[dict[str, Any]] = []
    seen, steps_meta = _training_steps(model_dir, manifest, config, data_dir)
    step_lists: list[list[int]] = []
    for number, (name, info) in enumerate(sorted(manifest.corpora.items())):
        spec = resolve_spec(str(info.get("spec", "")), data_dir)
        raw = list(load_corpus(spec))
        if not raw:
            raise InvalidRequest(f"corpus {spec} of model {manifest.name!r} has no pairs")
        trained, rule = _training_ids(name, raw, config, dev_names, added=bool(info.get("added")))
        fmt = spec.partition(":")[0]
        path = Path(spec.partition(":")[2] if fmt in ("tsv", "tatoeba", "jsonl") else spec)
        pages = _wikipedia_pages(path) if fmt != "tatoeba" else {}
        if not pages and name.startswith("wikikyoto"):  # Wiki Kyoto's titles, kept apart in data/corpora
            pages = _wikipedia_pages(data_dir / "train" / "wiki_kyoto_2.01" / path.name)
        kind = "tatoeba" if fmt == "tatoeba" or raw[0].corpus == "tatoeba" else "wikipedia" if pages else "other"
        languages = [raw[0].source_lang, raw[0].target_lang]
        marked = 0
        for pair in _progress(raw, len(raw), f"indexing {name}", progress):
            first, second = " ".join(pair.source.split()), " ".join(pair.target.split())
            tokens = words.words(first, pair.source_lang, False) + words.words(second, pair.target_lang, False)
            documents.append([vocab.setdefault(t, len(vocab)) for t in tokens])
            for text in (pair.pair_id, first, second):
                blob += text.encode("utf-8")
                offsets.append(len(blob))
            corpus_of.append(number)
            trained_on = pair.pair_id in trained
            marked += trained_on
            in_training.append(trained_on)
            step_lists.append(seen.get((name, pair.pair_id), []) if trained_on else [])
        expected = info.get("pairs_used")
        if expected is not None and marked != expected:
            log.warning("%s: %d pairs marked as trained on, the manifest says %d", name, marked, expected)
        corpora.append(
            {
                "name": name,
                "spec": info.get("spec"),
                "kind": kind,
                "languages": languages,
                "license": str(info.get("license") or manifest.license),
                "pairs": len(raw),
                "in_training": marked,
                "in_training_rule": rule,
                "in_training_matches_manifest": expected is None or marked == expected,
                "pages": pages,
            }
        )
    retriever = bm25s.BM25()
    retriever.index((documents, vocab), show_progress=False)
    target.mkdir(parents=True, exist_ok=True)
    # The metadata is removed first and written last, so a half-written index is never loaded.
    (target / META_FILE).unlink(missing_ok=True)
    retriever.save(str(target / _BM25_DIR), show_progress=False)
    (target / _TEXTS).write_bytes(bytes(blob))
    np.save(target / _OFFSETS, np.asarray(offsets, dtype=np.int64))
    np.save(target / _CORPUS, np.asarray(corpus_of, dtype=np.uint8))
    np.save(target / _IN_TRAINING, np.asarray(in_training, dtype=bool))
    if steps_meta["known"]:
        counts = np.fromiter((len(s) for s in step_lists), dtype=np.int64, count=len(step_lists))
        np.save(target / _STEP_OFFSETS, np.concatenate([[0], np.cumsum(counts)]).astype(np.int64))
        flat = np.fromiter((step for s in step_lists for step in s), dtype=np.uint32, count=int(counts.sum()))
        np.save(target / _STEPS, flat)
        steps_meta["sightings"] = int(counts.sum())
    else:
        for name in (_STEPS, _STEP_OFFSETS):
            (target / name).unlink(missing_ok=True)
    meta = {
        "format": INDEX_FORMAT,
        "format_version": INDEX_FORMAT_VERSION,
        "model": manifest.name,
        "model_corpora": _corpora_fingerprint(manifest),
        "documents": len(documents),
        "vocabulary": len(vocab),
        "tokenizer": {"ja": "fugashi + unidic-lite content words", "other": "lower-cased words, English stop words"},
        "corpora": corpora,
        "steps": steps_meta,
        "build_seconds": round(time.perf_counter() - started, 1),
    }
    (target / META_FILE).write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")
    return target
