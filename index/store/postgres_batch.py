"""The write side of a PostgreSQL store: the changes of one write transaction on a collection.

A batch runs in one ``READ COMMITTED`` transaction that
:meth:`~kotae.index.store.postgres.PostgresStore.batch` opens after taking
the collection's advisory lock; passages and their postings are loaded with
``COPY``, and the counts BM25 needs are kept as deltas for the collection's
row. Every value travels as a bound parameter.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from kotae.index.store.base import CatalogueEntry, rows_to_add
from kotae.index.store.postgres_schema import Collection, Tables, search_terms, vector_text
from kotae.ingest.errors import InputError


def _plain_text(value: str, what: str) -> str:
    if "\x00" in value:
        raise InputError(f"{what} contains a NUL character, which a PostgreSQL text column cannot hold")
    return value


class PostgresBatch:
    """The changes of one write transaction on a collection (see :meth:`~kotae.index.store.postgres.PostgresStore.batch`)."""

    def __init__(self, conn: Any, collection: Collection) -> None:
        self._conn = conn
        self._c = collection
        self._t = Tables(collection.id)
        self.changed = False
        self.chunk_delta = 0
        self.length_delta = 0
        # Document-frequency changes, written once by flush(): one statement a batch, not one a file.
        self._df_delta: Counter[str] = Counter()

    @property
    def dimension(self) -> int:
        """The collection's vector size."""
        return self._c.dimension

    def _run(self, template: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        return self._conn.execute(self._t.sql(template), params)

    def add(
        self,
        texts: Sequence[str],
        vectors: Any,
        metadatas: Sequence[dict[str, Any] | None] | None = None,
        ids: Sequence[str | None] | None = None,
    ) -> list[str]:
        """Add (or replace, by id) passages with their vectors and keyword postings.

        Returns:
            The ids, in order (a missing id gets a random one).
        """
        if not list(texts):
            return []
        texts, matrix, metadatas, out = rows_to_add(texts, vectors, metadatas, ids, self._c.dimension)
        # The last of repeated ids wins, as adding them one by one would.
        last = {cid: i for i, cid in enumerate(out)}
        keep = sorted(last.values())
        self.delete(list(last))
        rowids = [
            int(r)
            for (r,) in self._run(
                "SELECT nextval(pg_get_serial_sequence(%s, 'rowid')) FROM generate_series(1, %s)",
                (f"kotae_{self._c.id}_chunks", len(keep)),
            ).fetchall()
        ]
        with self._conn.cursor() as cur:
            with cur.copy(self._t.sql("COPY {chunks} (rowid, id, text, metadata, embedding, length) FROM STDIN")) as chunks:
                postings: list[tuple[str, int, int, int]] = []
                for rowid, i in zip(rowids, keep):
                    terms = search_terms(texts[i])
                    counts = Counter(terms)
                    metadata = json.dumps(metadatas[i] or {}, ensure_ascii=False, default=str)
                    chunks.write_row((rowid, out[i], texts[i].encode("utf-8"), metadata, vector_text(matrix[i]), len(terms)))
                    postings.extend((term, rowid, tf, len(terms)) for term, tf in counts.items())
                    self.length_delta += len(terms)
            with cur.copy(self._t.sql("COPY {postings} (term, rowid, tf, length) FROM STDIN")) as copy:
                for row in postings:
                    copy.write_row(row)
        self._df_delta.update(term for term, _, _, _ in postings)
        self.chunk_delta += len(keep)
        self.changed = True
        return out

    def flush(self) -> None:
        """Write the batch's document-frequency changes (the store calls this before it commits)."""
        delta = {term: n for term, n in self._df_delta.items() if n}
        self._df_delta.clear()
        if not delta:
            return
        terms = sorted(delta)
        counted = self._run(
            "INSERT INTO {terms}(term, df) SELECT * FROM unnest(%s::text[], %s::int[])"
            " ON CONFLICT (term) DO UPDATE SET df = {terms}.df + EXCLUDED.df RETURNING term, df",
            (terms, [delta[t] for t in terms]),
        ).fetchall()
        emptied = [term for term, df in counted if df <= 0]
        if emptied:
            self._run("DELETE FROM {terms} WHERE term = ANY(%s)", (emptied,))

    def delete(self, ids: Iterable[str]) -> int:
        """Remove passages by id (postings and sentence vectors go with them); unknown ids are ignored."""
        wanted = [str(i) for i in ids]
        if not wanted:
            return 0
        # Their terms' document frequencies go down (read first: the postings go with the passages).
        gone = self._run(
            "SELECT p.term, count(*) FROM {postings} p JOIN {chunks} c USING (rowid) WHERE c.id = ANY(%s) GROUP BY p.term",
            (wanted,),
        ).fetchall()
        self._df_delta.subtract({term: int(n) for term, n in gone})
        rows = self._run("DELETE FROM {chunks} WHERE id = ANY(%s) RETURNING length", (wanted,)).fetchall()
        if rows:
            self.chunk_delta -= len(rows)
            self.length_delta -= sum(int(r[0]) for r in rows)
            self.changed = True
        return len(rows)

    def clear(self) -> None:
        """Remove every passage (the catalogue stays, as in the embedded store)."""
        self._run("TRUNCATE {sentences}, {postings}, {terms}, {chunks}")
        self._df_delta.clear()
        self.chunk_delta = -self._c.n_chunks
        self.length_delta = -self._c.total_len
        self.changed = True

    def owned(self, path: str) -> list[str]:
        """The passage ids the document at ``path`` owns now."""
        row = self._run("SELECT chunk_ids FROM {documents} WHERE path = %s", (path,)).fetchone()
        return list(row[0]) if row else []

    def owners(self, ids: Sequence[str], *, exclude: str) -> list[str]:
        """Paths of documents other than ``exclude`` that own one of ``ids``."""
        if not ids:
            return []
        rows = self._run("SELECT path FROM {documents} WHERE path <> %s AND chunk_ids ?| %s::text[]", (exclude, list(ids)))
        return [r[0] for r in rows.fetchall()]

    def put_document(self, entry: CatalogueEntry) -> None:
        """Record (or replace) a document."""
        self._run(
            "INSERT INTO {documents}(path, source, content_hash, chunk_ids, added_at) VALUES (%s, %s, %s, %s::jsonb, %s) "
            "ON CONFLICT (path) DO UPDATE SET source = EXCLUDED.source, content_hash = EXCLUDED.content_hash, "
            "chunk_ids = EXCLUDED.chunk_ids, added_at = EXCLUDED.added_at",
            (
                _plain_text(entry.path, "the document path"),
                _plain_text(entry.source, "the document name"),
                entry.content_hash,
                json.dumps(list(entry.chunk_ids)),
                entry.added_at,
            ),
        )
        self.changed = True

    def drop_document(self, path: str) -> None:
        """Forget a document."""
        self._run("DELETE FROM {documents} WHERE path = %s", (path,))
        self.changed = True

    def put_sentences(self, chunk_ids: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]], blobs: Sequence[bytes]) -> None:
        """Store (or replace) the sentence vectors of passages."""
        with self._conn.cursor() as cur:
            cur.executemany(
                self._t.sql(
                    "INSERT INTO {sentences}(chunk_id, spans, vectors) VALUES (%s, %s::jsonb, %s) "
                    "ON CONFLICT (chunk_id) DO UPDATE SET spans = EXCLUDED.spans, vectors = EXCLUDED.vectors"
                ),
                [(cid, json.dumps([list(s) for s in sp]), blob) for cid, sp, blob in zip(chunk_ids, spans, blobs)],
            )

    def retokenize(self) -> int:
        """Derive every passage's keyword postings and length again from its stored text.

        Returns:
            How many passages were re-read.
        """
        rows = self._run("SELECT rowid, text, length FROM {chunks} ORDER BY rowid").fetchall()
        self._run("TRUNCATE {postings}")
        lengths: list[tuple[int, int]] = []
        with self._conn.cursor() as cur:
            with cur.copy(self._t.sql("COPY {postings} (term, rowid, tf, length) FROM STDIN")) as copy:
                for rowid, text, old_length in rows:
                    terms = search_terms(bytes(text).decode("utf-8"))
                    for term, tf in Counter(terms).items():
                        copy.write_row((term, rowid, tf, len(terms)))
                    lengths.append((len(terms), rowid))
                    self.length_delta += len(terms) - int(old_length)
            cur.executemany(self._t.sql("UPDATE {chunks} SET length = %s WHERE rowid = %s"), lengths)
        self._run("TRUNCATE {terms}")
        self._run("INSERT INTO {terms}(term, df) SELECT term, count(*) FROM {postings} GROUP BY term")
        self._df_delta.clear()  # counted from the postings, this batch's own included
        self.changed = True
        return len(rows)
