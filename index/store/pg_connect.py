"""Connections to a PostgreSQL server: a pool, transactions, and messages without the password.

psycopg is imported here, when a server store is opened, so the embedded
store never needs it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kotae.ingest.errors import IndexStateError

logger = logging.getLogger(__name__)

# Seconds to wait for the server to accept a connection: an unreachable server is an error, not a hang.
CONNECT_TIMEOUT_S = 10
SERVER_HINT = "install it with `pip install 'kotae[postgres]'`"


def _conninfo(url: str) -> dict[str, str]:
    try:
        from psycopg.conninfo import conninfo_to_dict
    except ImportError:  # pragma: no cover - psycopg is an optional extra
        raise IndexStateError(f"a PostgreSQL store needs psycopg; {SERVER_HINT}") from None
    try:
        return {k: str(v) for k, v in conninfo_to_dict(url).items() if v is not None}
    except Exception:  # noqa: BLE001 - psycopg's parse error may quote the string, password included
        raise IndexStateError("the PostgreSQL connection string could not be read; expected postgresql://USER@HOST/DATABASE") from None


def redact(url: str) -> str:
    """The connection string in a form safe to log and show: user, host, port and database, no password."""
    try:
        info = _conninfo(url)
    except IndexStateError:
        return "postgresql://(unreadable connection string)"
    user = info.get("user", "")
    host = info.get("host", "")
    port = info.get("port", "")
    where = f"{user + '@' if user else ''}{'[' + host + ']' if host.startswith('/') else host}{':' + port if port else ''}"
    return f"postgresql://{where}/{info.get('dbname', '')}"


def scrub(message: str, url: str) -> str:
    """``message`` with the password of ``url`` (and any ``password=``/``user:pass@`` text) masked."""
    try:
        password = _conninfo(url).get("password", "")
    except IndexStateError:
        password = ""
    if password:
        message = message.replace(password, "***")
    message = re.sub(r"(password\s*=\s*)('[^']*'|\S+)", r"\1***", message, flags=re.IGNORECASE)
    return re.sub(r"(postgres(?:ql)?://[^:/@\s]+:)[^@\s]+@", r"\1***@", message)


class Connector:
    """A small pool of connections to one server, with the transactions the store needs.

    Args:
        url: A libpq connection string (URL or ``key=value`` form).
        pool_size: Connections kept at most.

    Raises:
        IndexStateError: psycopg is missing, or the server cannot be reached.
    """

    def __init__(self, url: str, *, pool_size: int = 8) -> None:
        self.url = url
        _conninfo(url)  # a malformed string is refused before anything connects
        try:
            import psycopg
            from psycopg_pool import ConnectionPool
        except ImportError:  # pragma: no cover - optional extra
            raise IndexStateError(f"a PostgreSQL store needs psycopg and psycopg_pool; {SERVER_HINT}") from None
        try:
            # One plain connection first: a wrong address or password fails here at once, with the
            # server's own reason, instead of in the pool's retries (a warning each) and its timeout.
            psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_S).close()
        except psycopg.Error as exc:
            raise IndexStateError(
                scrub(f"cannot connect to the PostgreSQL server {redact(url)}: {_last_line(exc)}", url)
            ) from None
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=max(1, pool_size),
            open=False,
            kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_S, "application_name": "kotae"},
            check=ConnectionPool.check_connection,
            name="kotae",
        )
        try:
            self._pool.open(wait=True, timeout=CONNECT_TIMEOUT_S + 5)
        except Exception as exc:  # noqa: BLE001 - PoolTimeout: the server went away just now
            self._pool.close()
            raise IndexStateError(scrub(f"cannot connect to the PostgreSQL server {redact(url)}: {exc}", url)) from None

    @contextmanager
    def transaction(self, *, read_only: bool = False) -> Iterator[Any]:
        """A connection inside one transaction: ``REPEATABLE READ READ ONLY`` for readers, ``READ COMMITTED`` for writers.

        Committed on leaving the block, rolled back on an error. Server errors
        become :class:`IndexStateError` with the password masked; a broken
        connection is discarded by the pool.
        """
        import psycopg

        try:
            with self._pool.connection() as conn:
                conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" if read_only else "BEGIN")
                try:
                    yield conn
                except BaseException:
                    if not conn.closed:
                        conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
        except psycopg.errors.DataError as exc:
            raise IndexStateError(scrub(f"the PostgreSQL server refused a value: {_first_line(exc)}", self.url)) from None
        except (psycopg.OperationalError, psycopg.errors.InsufficientPrivilege, psycopg.errors.UndefinedFile) as exc:
            raise IndexStateError(scrub(f"PostgreSQL server {redact(self.url)}: {_first_line(exc)}", self.url)) from None

    def ensure_schema(self, schema: str, lock_space: int) -> None:
        """Create the pgvector extension (if missing) and the shared tables, once, under an advisory lock.

        Raises:
            IndexStateError: pgvector is not installed on the server, or this user may not create it.
        """
        with self.transaction() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s, 0)", (lock_space,))
            if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone() is None:
                if conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'").fetchone() is None:
                    raise IndexStateError(
                        f"the PostgreSQL server {redact(self.url)} has no pgvector extension; install pgvector there "
                        "(https://github.com/pgvector/pgvector), then run `CREATE EXTENSION vector` in the database"
                    )
                conn.execute("CREATE EXTENSION vector")
            conn.execute(schema)

    def close(self) -> None:
        """Close every connection."""
        self._pool.close()


def _last_line(exc: BaseException) -> str:
    """libpq's reason is the last line of a connection error (the first names the socket or host)."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
