"""The in-process reader/writer lock of the embedded store.

Readers of :class:`~kotae.index.store.faiss_sqlite.FaissVectorStore` search the
published snapshot while a writer builds the next one; the writer only needs
this lock, exclusively and briefly, to swap the new snapshot in together with
the SQLite commit.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class RWLock:
    """Many readers or one writer; a waiting writer holds back new readers.

    Reads are reentrant per thread (a thread already reading never waits for a
    writer, which would otherwise wait for it: a deadlock).
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer = False
        self._waiting = 0
        self._local = threading.local()

    @contextmanager
    def read(self) -> Iterator[None]:
        """Hold a shared lock for the block."""
        depth = getattr(self._local, "depth", 0)
        if depth:
            self._local.depth = depth + 1
            try:
                yield
            finally:
                self._local.depth = depth
            return
        with self._cond:
            while self._writer or self._waiting:
                self._cond.wait()
            self._readers += 1
        self._local.depth = 1
        try:
            yield
        finally:
            self._local.depth = 0
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    def reading(self) -> bool:
        """Whether this thread holds a read lock."""
        return bool(getattr(self._local, "depth", 0))

    @contextmanager
    def write(self) -> Iterator[None]:
        """Hold the exclusive lock for the block (waits for the readers to leave)."""
        with self._cond:
            self._waiting += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()
