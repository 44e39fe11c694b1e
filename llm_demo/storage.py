"""The app's SQLite file (LLM_DEMO_DB), as each store of it opens it: its tables made on first use, and a
connection per call, so the threads of every tab and evaluation can write at once (one transaction each)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path


class SQLiteStore:
    """A store's tables in one SQLite file; subclasses add the reads and writes."""

    def __init__(self, path: Path | str, *schema: str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as db, db:
            for statement in schema:
                db.execute(statement)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30)
