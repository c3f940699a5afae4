"""A database that really refuses writes, on either backend, and then accepts them again.

SQLite: a second connection holds the write lock (``BEGIN EXCLUSIVE``); the engines made here
wait 50 ms for it (not the service's 30 s) and fail with "database is locked". PostgreSQL: the
engines made here log in as a role of their own, whose write privileges on the test's schema
are revoked and granted again (privileges are checked at every statement, so open sessions
are refused too). Nothing global changes: other tests and other schemas are untouched.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url

from triage_desk.storage.db import make_engine, normalise_url


class WriteRefusal:
    def __init__(self, url: str) -> None:
        self.url = url
        self.parsed = make_url(normalise_url(url))
        self.backend = self.parsed.get_backend_name()
        self._lock: sqlite3.Connection | None = None
        self._admin: Engine | None = None
        self.role = f"w_{uuid.uuid4().hex[:12]}"
        if self.backend == "postgresql":
            self.schema = str(self.parsed.query["options"]).split("=", 1)[1]
            self._admin = create_engine(normalise_url(url))
            self._sql(
                f"CREATE ROLE {self.role} LOGIN",
                f'GRANT USAGE ON SCHEMA "{self.schema}" TO {self.role}',
                f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA "{self.schema}" TO {self.role}',
                f'GRANT SELECT ON ALL TABLES IN SCHEMA "{self.schema}" TO {self.role}',
            )
            self.allow()

    def _sql(self, *statements: str) -> None:
        assert self._admin is not None
        with self._admin.begin() as connection:
            for statement in statements:
                connection.execute(text(statement))

    def engine(self, **kwargs: Any) -> Engine:
        """An engine of the service's kind (``make_engine``) whose writes this object controls."""
        if self.backend == "sqlite":
            engine = make_engine(self.url, **kwargs)

            @event.listens_for(engine, "connect")
            def short_wait(dbapi_connection: Any, _record: Any) -> None:
                dbapi_connection.execute("PRAGMA busy_timeout=50")

            return engine
        return make_engine(self.parsed.set(username=self.role).render_as_string(False), **kwargs)

    def refuse(self) -> None:
        if self.backend == "sqlite":
            self._lock = sqlite3.connect(self.parsed.database, isolation_level=None)
            self._lock.execute("BEGIN EXCLUSIVE")
        else:
            self._sql(
                f'REVOKE INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "{self.schema}" '
                f"FROM {self.role}"
            )

    def allow(self) -> None:
        if self.backend == "sqlite":
            if self._lock is not None:
                self._lock.rollback()
                self._lock.close()
                self._lock = None
        else:
            self._sql(
                f'GRANT INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "{self.schema}" '
                f"TO {self.role}"
            )

    def close(self) -> None:
        self.allow()
        if self._admin is not None:
            self._sql(f"DROP OWNED BY {self.role}", f"DROP ROLE {self.role}")
            self._admin.dispose()


def write_refusal(url: str) -> Iterator[WriteRefusal]:
    refusal = WriteRefusal(url)
    try:
        yield refusal
    finally:
        refusal.close()
