"""The embedded store's SQLite database: its name, schema, connections and errors.

``store.sqlite3`` (WAL mode) holds chunk text, metadata as JSON text, the BM25
postings (:mod:`kotae.index.keyword`), the catalogue
(:mod:`kotae.index.store.sqlite_catalogue`) and a ``meta`` table whose
``generation`` row points at the FAISS file in use
(:mod:`kotae.index.store.faiss_files`).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from kotae.index import keyword
from kotae.index.store import sqlite_catalogue as catalogue
from kotae.index.store.base import REBUILD_HINT
from kotae.ingest.errors import IndexStateError

DB_NAME = "store.sqlite3"
STORE_FORMAT = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS chunks(
    rowid INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    text TEXT NOT NULL,
    metadata TEXT NOT NULL
)
"""


def damaged(folder: Path, detail: str) -> IndexStateError:
    """The error for an index that cannot be used as it is on disk."""
    return IndexStateError(f"The index at {folder} is damaged or incomplete ({detail}); {REBUILD_HINT}.")


def sqlite_error(folder: Path, exc: sqlite3.DatabaseError) -> IndexStateError:
    """Translate an SQLite failure into what the user can do about it."""
    if isinstance(exc, sqlite3.OperationalError):
        if "locked" in str(exc) or "busy" in str(exc):
            return IndexStateError(
                f"The index at {folder} is being changed by another program; try again when it has finished."
            )
        if "malformed" not in str(exc) and "not a database" not in str(exc):
            return IndexStateError(f"Could not use the index at {folder} ({exc}); check the disk and permissions.")
    return damaged(folder, f"{DB_NAME}: {exc}")


def execute_script(conn: sqlite3.Connection, script: str) -> None:
    """Run ``;``-separated statements one by one.

    ``sqlite3.executescript`` would commit any open transaction first, which
    would break the one-transaction-per-change rule.
    """
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


def connect(folder: Path, *, reader: bool) -> sqlite3.Connection:
    """A connection to the store's database in ``folder``.

    Args:
        folder: The store folder.
        reader: A read-only connection (one per reading thread); otherwise the
            writer's connection, which sets the journal mode and durability.

    Returns:
        The connection, in autocommit mode (transactions are begun explicitly).
    """
    conn = sqlite3.connect(folder / DB_NAME, isolation_level=None, check_same_thread=False, timeout=60.0)
    if reader:
        conn.execute("PRAGMA query_only = 1")
    else:
        conn.execute("PRAGMA journal_mode = WAL")
        # FULL: a commit must survive power loss, because the previous FAISS
        # file is deleted right after it and could not be fallen back to.
        conn.execute("PRAGMA synchronous = FULL")
    return conn


def init_schema(conn: sqlite3.Connection, folder: Path, *, keyword_index: bool) -> None:
    """Create the missing tables and refuse a database of another store format.

    Args:
        conn: The writer's connection.
        folder: The store folder (for messages).
        keyword_index: Whether BM25 postings are kept; without them the
            postings tables are dropped, with them they are filled for chunks
            added while none were kept.

    Raises:
        IndexStateError: The database has another store format.
    """
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    needed = {"meta", "chunks", *catalogue.TABLES} | ({"bm25_docs", "bm25_terms"} if keyword_index else set())
    if not keyword_index and {"bm25_docs", "bm25_terms"} & tables:
        # Postings would fall out of step with the chunks; they are rebuilt if wanted again.
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("DROP TABLE IF EXISTS bm25_docs")
        conn.execute("DROP TABLE IF EXISTS bm25_terms")
        conn.execute("COMMIT")
    if not needed <= tables:
        conn.execute("BEGIN IMMEDIATE")
        try:
            execute_script(conn, _SCHEMA)
            execute_script(conn, catalogue.SCHEMA)
            if keyword_index:
                keyword.create_schema(conn)
                # Postings of chunks added while no keyword index was kept.
                rows = conn.execute(
                    "SELECT rowid, text FROM chunks WHERE rowid NOT IN (SELECT rowid FROM bm25_docs)"
                ).fetchall()
                if rows:
                    keyword.stage(conn, keyword.load(conn), added=rows, removed=())
            conn.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('format', ?), ('generation', '0')",
                (str(STORE_FORMAT),),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    fmt = conn.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
    if fmt is None or fmt[0] != str(STORE_FORMAT):
        found = "none" if fmt is None else fmt[0]
        raise IndexStateError(
            f"The index at {folder} has store format {found}, this version of kotae reads "
            f"format {STORE_FORMAT}; {REBUILD_HINT}."
        )
