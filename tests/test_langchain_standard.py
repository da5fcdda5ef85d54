"""LangChain's shared test suite run against kotae's vector store.

The suite brings its own small deterministic fake embeddings, so these tests
exercise the store itself (ids, upserts, deletes, async defaults), not a model.
"""

from __future__ import annotations

import uuid
from collections.abc import Generator
from pathlib import Path

import pytest
from langchain_core.vectorstores import VectorStore
from langchain_tests.integration_tests.vectorstores import VectorStoreIntegrationTests

from kotae.index.store import FaissVectorStore
from kotae.index.store.postgres import PostgresStore


# The suite's async tests carry no marker of their own: LangChain's packages run it
# with asyncio_mode = auto.  Marking the classes keeps this project in pytest-asyncio's
# strict mode; the suite's sync tests ignore the marker (its warning is silenced).
_ASYNC = [
    pytest.mark.asyncio,
    pytest.mark.filterwarnings("ignore:The test <Function .*asyncio.*:pytest.PytestWarning"),
]


class TestFaissVectorStoreStandard(VectorStoreIntegrationTests):
    """The standard suite on a persistent store in a fresh folder per test."""

    pytestmark = _ASYNC

    @pytest.fixture()
    def vectorstore(self, tmp_path: Path) -> Generator[VectorStore, None, None]:  # type: ignore[override]
        store = FaissVectorStore(self.get_embeddings(), path=tmp_path / "store")
        try:
            yield store
        finally:
            store.close()


class TestTemporaryFaissVectorStoreStandard(VectorStoreIntegrationTests):
    """The standard suite on a temporary store (no path), without keyword postings."""

    pytestmark = _ASYNC

    @pytest.fixture()
    def vectorstore(self) -> Generator[VectorStore, None, None]:  # type: ignore[override]
        store = FaissVectorStore(self.get_embeddings(), keyword_index=False)
        try:
            yield store
        finally:
            store.close()


class TestPostgresStoreStandard(VectorStoreIntegrationTests):
    """The standard suite on the PostgreSQL backend: a fresh collection on the real test server per test."""

    pytestmark = _ASYNC

    @pytest.fixture()
    def vectorstore(self, pg_url: str) -> Generator[VectorStore, None, None]:  # type: ignore[override]
        store = PostgresStore(self.get_embeddings(), url=pg_url, collection=f"standard-{uuid.uuid4().hex[:8]}")
        try:
            yield store
        finally:
            store.drop()
            store.close()
