"""Every answer and every judge verdict of the answers task, kept in SQLite under what determines it.

A key names everything its result depends on (the model and its settings, the prompt; for a verdict the judge
and the answers it read), so a run with one more model generates only for that model, and a new judge re-judges
without generating again. A failed row is never kept: the next run tries it again.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from ..errors import InputError

KINDS = ("answer", "grade", "verdict")
Batches = Iterator[tuple[list[int], list[Any]]]  # (indices, their results), batch by batch
CHUNK = 500  # keys looked up per query, well under SQLite's limit on bound parameters (999 before 3.32)


class ResponseCache:
    """Results by kind and key in one SQLite file, shared by the threads and processes of runs at once."""

    def __init__(self, path: Path | str, enabled: bool = True) -> None:
        """enabled=False (--no-cache) reads and writes nothing, not even the file; a file that is not a readable
        SQLite database stops here with an InputError naming it, before any model is loaded."""
        self.path = Path(path)
        self.enabled = enabled
        self.reused: Counter[str] = Counter()
        self.computed: Counter[str] = Counter()
        self._counting = threading.Lock()
        if enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._open() as db:
                db.execute("PRAGMA journal_mode=WAL")  # readers never wait for a writer, nor it for them
                db.execute(
                    "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, kind TEXT NOT NULL, "
                    "request TEXT NOT NULL, value TEXT NOT NULL, stored REAL NOT NULL) WITHOUT ROWID"
                )

    def lookup(self, kind: str, key: dict) -> Any | None:
        """The stored result, or None when there is none (a stored None reads the same)."""
        if not self.enabled:
            return None
        digest = _digest(kind, key)[0]
        return self._fetch([digest]).get(digest)

    def store(self, kind: str, key: dict, value: Any) -> None:
        """Keep one result (anything json.dumps takes; it reads back as json.loads gives it: a tuple as a list)."""
        self._store_many(kind, [(key, value)])

    def map(self, kind: str, keys: list[dict], compute: Callable[[list[int]], Batches]) -> Batches:
        """Results for every key, as (indices into keys, results) batches: the cached ones first in one batch,
        then compute(missing indices) batches (its indices index into the list it was given — map them back),
        storing each computed result unless it is an exception instance (llm_demo.errors.UserFacingError: a failed
        row is never cached). Counts what it reused and computed (a failed row counts as computed)."""
        if not self.enabled:
            yield from self._computed(kind, list(range(len(keys))), keys, compute)
            return
        digests = [_digest(kind, key)[0] for key in keys]
        found = self._fetch(digests)
        cached = [index for index, digest in enumerate(digests) if digest in found]
        if cached:
            self._count(self.reused, kind, len(cached))
            yield cached, [found[digests[index]] for index in cached]
        missing = [index for index, digest in enumerate(digests) if digest not in found]
        if missing:
            yield from self._computed(kind, missing, keys, compute)

    def _computed(self, kind: str, wanted: list[int], keys: list[dict], compute: Callable) -> Batches:
        """compute(wanted)'s batches with their indices mapped back to keys, each batch stored as it comes."""
        for positions, results in compute(wanted):
            indices = [wanted[position] for position in positions]
            pairs = zip(indices, results, strict=True)
            self._store_many(kind, [(keys[i], result) for i, result in pairs if not isinstance(result, BaseException)])
            self._count(self.computed, kind, len(indices))
            yield indices, results

    def _fetch(self, digests: list[str]) -> dict[str, Any]:
        found = {}
        with self._open() as db:
            for start in range(0, len(digests), CHUNK):
                chunk = digests[start : start + CHUNK]
                query = f"SELECT key, value FROM responses WHERE key IN ({','.join('?' * len(chunk))})"
                found.update((digest, json.loads(value)) for digest, value in db.execute(query, chunk))
        return found

    def _store_many(self, kind: str, items: list[tuple[dict, Any]]) -> None:
        """(key, value) pairs in one transaction; a key stored again (by a run at the same time) is replaced."""
        if not self.enabled or not items:
            return
        now = time.time()
        rows = [(*_digest(kind, key), kind, _compact(value), now) for key, value in items]
        with self._open() as db, db:
            db.executemany(
                "INSERT OR REPLACE INTO responses (key, request, kind, value, stored) VALUES (?, ?, ?, ?, ?)", rows
            )

    def _count(self, counter: Counter[str], kind: str, count: int) -> None:
        with self._counting:
            counter[kind] += count

    @contextmanager
    def _open(self) -> Iterator[sqlite3.Connection]:
        """A connection of its own for each call (threads share nothing); a file SQLite cannot read, or a
        database another program holds locked for longer than the timeout, becomes an error the user can act on."""
        try:
            with closing(sqlite3.connect(self.path, timeout=30)) as db:
                yield db
        except sqlite3.DatabaseError as error:
            raise InputError(
                "cache_unreadable",
                "The response cache {path} cannot be used ({reason}). Move or delete it to start a fresh cache, "
                "or run with --no-cache.",
                path=str(self.path),
                reason=str(error),
            ) from error


def _digest(kind: str, key: dict) -> tuple[str, str]:
    """(sha256 of the canonical JSON of the kind and key, that JSON): the same key however its dict was built."""
    if kind not in KINDS:
        raise ValueError(f"unknown cache kind {kind!r}; expected one of {KINDS}")
    if "kind" in key:
        raise ValueError("a cache key cannot have a field named 'kind': it would hide the kind of result")
    request = json.dumps({"kind": kind, **key}, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(request.encode("utf-8")).hexdigest(), request


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
