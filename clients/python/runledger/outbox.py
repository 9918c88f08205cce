"""The local outbox: every record is written here first (SQLite, durable across a crash),
one row per execution id holding its latest version, until the server accepts it. A record
the server refuses for good is kept as a dead letter, to inspect and discard."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS outbox (
        id TEXT PRIMARY KEY,
        version INTEGER NOT NULL,
        record TEXT NOT NULL,
        dead_reason TEXT,
        updated_at REAL NOT NULL
    )""",
    # The last version given to each id survives the row's deletion, so that a later change
    # of the same execution gets a higher version (the server keeps the highest).
    """CREATE TABLE IF NOT EXISTS versions (
        id TEXT PRIMARY KEY,
        version INTEGER NOT NULL
    )""",
)


@dataclass(frozen=True)
class DeadLetter:
    """A record the server refused for good, and why."""

    id: str
    version: int
    reason: str
    record: Dict[str, Any]


class Outbox:
    """A SQLite file of records waiting to be sent. Safe to use from several threads."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        for statement in _SCHEMA:
            self._db.execute(statement)

    def put(self, record: Dict[str, Any]) -> int:
        """Gives ``record`` the next version of its id and stores it (one transaction);
        returns the version."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute("SELECT version FROM versions WHERE id = ?", (record["id"],)).fetchone()
                version = (row[0] if row else 0) + 1
                record = dict(record, version=version)
                self._db.execute(
                    "INSERT INTO versions (id, version) VALUES (?, ?) "
                    "ON CONFLICT (id) DO UPDATE SET version = excluded.version",
                    (record["id"], version),
                )
                self._db.execute(
                    "INSERT INTO outbox (id, version, record, dead_reason, updated_at) VALUES (?, ?, ?, NULL, ?) "
                    "ON CONFLICT (id) DO UPDATE SET version = excluded.version, record = excluded.record, "
                    "dead_reason = NULL, updated_at = excluded.updated_at",
                    (record["id"], version, json.dumps(record, separators=(",", ":")), time.time()),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return version

    def pending(self, limit: int) -> List[Dict[str, Any]]:
        """Up to ``limit`` records waiting to be sent, oldest change first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT record FROM outbox WHERE dead_reason IS NULL ORDER BY updated_at, id LIMIT ?", (limit,)
            ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def pending_count(self) -> int:
        """Records waiting to be sent."""
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM outbox WHERE dead_reason IS NULL").fetchone()[0]

    def delivered(self, sent: List[Dict[str, Any]], accepted: List[str]) -> None:
        """Removes the accepted records, if their version is still the one sent."""
        versions = {r["id"]: r["version"] for r in sent}
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            for id_ in accepted:
                if id_ in versions:
                    self._db.execute("DELETE FROM outbox WHERE id = ? AND version = ?", (id_, versions[id_]))
            self._db.execute("COMMIT")

    def refuse(self, record: Dict[str, Any], reason: str) -> None:
        """Keeps a record the server refused for good as a dead letter (if unchanged since)."""
        with self._lock:
            self._db.execute(
                "UPDATE outbox SET dead_reason = ? WHERE id = ? AND version = ?",
                (reason, record["id"], record["version"]),
            )

    def dead_letters(self) -> List[DeadLetter]:
        """The records the server refused, with the reasons."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, version, dead_reason, record FROM outbox WHERE dead_reason IS NOT NULL ORDER BY updated_at"
            ).fetchall()
        return [DeadLetter(id=r[0], version=r[1], reason=r[2], record=json.loads(r[3])) for r in rows]

    def discard(self, ids: Optional[List[str]] = None) -> int:
        """Deletes dead letters (these ids, or all); returns how many."""
        with self._lock:
            if ids is None:
                cursor = self._db.execute("DELETE FROM outbox WHERE dead_reason IS NOT NULL")
            else:
                cursor = self._db.executemany(
                    "DELETE FROM outbox WHERE dead_reason IS NOT NULL AND id = ?", [(i,) for i in ids]
                )
            return cursor.rowcount

    def close(self) -> None:
        with self._lock:
            self._db.close()
