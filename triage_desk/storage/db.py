"""Engines, sessions and schema migrations for SQLite (embedded) and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain ``postgresql://`` URLs (SQLAlchemy would pick psycopg2)."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


SQLITE_READONLY = 8  # SQLite's primary result code; extended codes keep it in the low byte
PG_READ_ONLY_TRANSACTION = "25006"  # default_transaction_read_only, a hot standby


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers (console, CLI) run while the listener writes. synchronous=FULL syncs
    # the WAL at every commit, so a commit that returned survives a power cut: a 250 to an
    # SMTP client, an IMAP flag and a sent mail's record all promise that (NORMAL would
    # survive a crash of the process only). See README, "What a commit guarantees".
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _postgres_session(dbapi_connection: Any, _record: Any) -> None:
    # A commit that returned is on disk even where the server runs synchronous_commit=off.
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO on")
    dbapi_connection.commit()


def refused_as_read_only(error: BaseException | None) -> bool:
    """Whether the database refused a write because it (or this connection) is read-only."""
    code = getattr(error, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF == SQLITE_READONLY
    return getattr(error, "sqlstate", None) == PG_READ_ONLY_TRANSACTION


def _reconnect_when_read_only(context: ExceptionContext) -> None:
    """A read-only refusal retires the pool's connections, as a lost connection would.

    SQLite opens a file it may not write read-only and keeps it so; PostgreSQL reads
    default_transaction_read_only when a session starts. A pooled connection made while the
    database was read-only would refuse every write after it became writable again (451 to
    every SMTP client for good); new connections see the database as it is now.
    """
    if refused_as_read_only(context.original_exception):
        context.is_disconnect = True
        # SQLite only really closes a connection once its statements are finalised; the
        # failed statement's cursor lives on in the traceback until a garbage collection,
        # and until then the process keeps the file's shared memory open read-only for
        # every new connection too.
        cursor = getattr(context.execution_context, "cursor", None)
        if cursor is not None:
            cursor.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    url = normalise_url(url)
    parsed = make_url(url)
    # Statement parameters are mail text: never in an error message, hence never in a log.
    kwargs.setdefault("hide_parameters", True)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True, **kwargs)
        event.listen(engine, "connect", _postgres_session)
    event.listen(engine, "handle_error", _reconnect_when_read_only)
    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def take_write_lock(session: Session) -> None:
    """Make this transaction exclusive on SQLite from its start (``BEGIN IMMEDIATE``, the
    database's one write lock), so what it reads cannot change before it commits; another
    writer waits for the commit (busy_timeout). Only as a transaction's first statement.
    PostgreSQL needs nothing here: its row locks (``FOR UPDATE``) do this per row."""
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def alembic_config(url: str) -> Any:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # '%' would be read as interpolation by configparser.
    cfg.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return cfg


# The newest migration; a test checks it against Alembic's own idea of the head.
HEAD_REVISION = "0024_api"


def current_revision(url: str) -> str | None:
    """The schema's Alembic revision, or None when there is no schema yet."""
    engine = make_engine(url)  # for SQLite this also creates the file's parent directory
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except SQLAlchemyError:
        return None
    finally:
        engine.dispose()


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the schema to ``revision`` with Alembic (idempotent).

    Every process upgrades at start; when the schema is already at the head one query says
    so, and Alembic (a quarter of a second of imports and script loading) is not started.
    """
    if revision == "head" and current_revision(url) == HEAD_REVISION:
        return
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    from alembic import command

    command.downgrade(alembic_config(url), revision)
