"""Prepared training data in a work directory: token ids, dev pairs and the corpus description, stored compactly.

``kakehashi train --prepare-only`` writes them, so that a run can continue on a machine that has the work
directory but not the corpora (a lent GPU machine, another developer's checkout). Token ids are stored as one
flat unsigned array plus offsets per list in a compressed ``.npz`` (a few bytes per token, against tens in a
pickle of Python lists).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, overload

from mt._corpora import ParallelPair

DATA_FILE = "data.npz"
PREPARED_FILE = "prepared.json"


def save_token_data(path: Path, data: dict[str, Any]) -> None:
    """Lists of token-id lists become (flat ids, offsets) arrays; integers are kept as they are."""
    import numpy as np

    arrays: dict[str, Any] = {}
    scalars: dict[str, int] = {}
    for key, value in data.items():
        if isinstance(value, int):
            scalars[key] = value
            continue
        lengths = np.fromiter((len(row) for row in value), dtype=np.int64, count=len(value))
        flat = np.fromiter((token for row in value for token in row), dtype=np.int64, count=int(lengths.sum()))
        top = int(flat.max()) if flat.size else 0
        arrays[f"{key}.ids"] = flat.astype(np.uint16 if top < 2**16 else np.int32)
        arrays[f"{key}.offsets"] = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    arrays["__scalars__"] = np.frombuffer(json.dumps(scalars).encode(), dtype=np.uint8)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)


class TokenRows(Sequence[list[int]]):
    """Lists of token ids kept as one flat array and offsets: a row is read as a list when asked for.

    The relay's data (a million examples, 35 million tokens a side) takes about 150 MB so, against gigabytes as
    Python lists of ints, which made two training runs more than this 24 GB machine holds.
    """

    def __init__(self, ids: Any, offsets: Any):
        self._ids, self._offsets = ids, offsets

    def __len__(self) -> int:
        return len(self._offsets) - 1

    @overload
    def __getitem__(self, index: int) -> list[int]: ...

    @overload
    def __getitem__(self, index: slice) -> list[list[int]]: ...

    def __getitem__(self, index: int | slice) -> list[int] | list[list[int]]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"row {index} of {len(self)}")
        rows: list[int] = self._ids[self._offsets[index] : self._offsets[index + 1]].tolist()
        return rows

    def lengths(self) -> list[int]:
        """The length of every row."""
        import numpy as np

        lengths: list[int] = np.diff(self._offsets).tolist()
        return lengths

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or len(other) != len(self):
            return False
        return all(mine == list(theirs) for mine, theirs in zip(self, other))

    __hash__ = None  # type: ignore[assignment]


def row_lengths(rows: Sequence[Sequence[int]]) -> list[int]:
    """The length of each row, from the offsets where the rows are :class:`TokenRows`."""
    return rows.lengths() if isinstance(rows, TokenRows) else [len(row) for row in rows]


def load_token_data(path: Path) -> dict[str, Any]:
    """What :func:`save_token_data` stored: integers, and each list of token-id lists as :class:`TokenRows`."""
    import numpy as np

    with np.load(path) as stored:
        data: dict[str, Any] = json.loads(bytes(stored["__scalars__"]).decode())
        for name in stored.files:
            if not name.endswith(".ids"):
                continue
            key = name[: -len(".ids")]
            data[key] = TokenRows(stored[name], stored[f"{key}.offsets"].astype(np.int64))
    return data


def save_prepared(
    work: Path, corpora: dict[str, Any], dev: Sequence[ParallelPair], directions: Sequence[tuple[str, str]]
) -> None:
    """The corpus description (for the manifest), the dev pairs (for evaluation) and the translation
    directions of a prepared run."""
    payload = {"corpora": corpora, "directions": [list(d) for d in directions], "dev": [asdict(pair) for pair in dev]}
    tmp = work / (PREPARED_FILE + ".tmp")
    tmp.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
    tmp.replace(work / PREPARED_FILE)


def is_prepared(work: Path) -> bool:
    """Whether ``work`` holds prepared data (token ids and their description)."""
    return (work / PREPARED_FILE).exists() and (work / DATA_FILE).exists()


def load_prepared(work: Path) -> tuple[dict[str, Any], list[ParallelPair], list[tuple[str, str]]] | None:
    """(corpora, dev pairs, directions) if ``work`` holds prepared data, else None."""
    if not is_prepared(work):
        return None
    payload = json.loads((work / PREPARED_FILE).read_text(encoding="utf-8"))
    directions = [(a, b) for a, b in payload["directions"]]
    return payload["corpora"], [ParallelPair(**pair) for pair in payload["dev"]], directions
