"""Shared fixtures: one real index of corpus/ per test session, built with the real model.

Tests run with KOTAE_HOME in a temporary folder so they never touch a user's
index. Converted model weights are a cache, kept in the user's cache folder
(``~/.kotae/models`` unless KOTAE_MODEL_CACHE says otherwise) so that only the
first test session pays for the conversion.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "corpus"


@pytest.fixture(scope="session", autouse=True)
def kotae_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private KOTAE_HOME for the whole session."""
    home = tmp_path_factory.mktemp("kotae-home")
    saved = {k: os.environ.get(k) for k in ("KOTAE_HOME", "KOTAE_MODEL_CACHE", "KOTAE_CORPUS")}
    os.environ["KOTAE_HOME"] = str(home)
    os.environ.setdefault("KOTAE_MODEL_CACHE", str(Path.home() / ".kotae" / "models"))
    os.environ["KOTAE_CORPUS"] = str(CORPUS)
    os.environ["HF_HUB_OFFLINE"] = "1"  # a test must never reach for the network
    yield home
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def embeddings(kotae_home: Path):
    """The real embedding model (cached in-process by load_embeddings)."""
    from kotae.app.embedding_cache import CachedEmbeddings
    from kotae.app.settings import get_settings
    from kotae.index import load_embeddings

    settings = get_settings()
    return CachedEmbeddings(load_embeddings(settings.model, cache_dir=settings.model_cache))


@pytest.fixture(scope="session")
def corpus_index_path(tmp_path_factory: pytest.TempPathFactory, embeddings) -> Path:
    """A real index of corpus/ (read-only for tests: copy it before changing it)."""
    from kotae.index import DocumentIndex

    path = tmp_path_factory.mktemp("corpus-index") / "index"
    index = DocumentIndex.open(path, embeddings=embeddings, create=True)
    index.ingest([CORPUS])
    return path


@pytest.fixture(scope="session")
def assistant(corpus_index_path: Path):
    """An Assistant over the corpus index with the default answerer, the trained reader
    (fork() it for a conversation of your own)."""
    from kotae.app import Assistant

    return Assistant(corpus_index_path)


@pytest.fixture(scope="session")
def scorer(assistant):
    """The same Assistant answering with the sentence scorer (``--answerer scored``); its forks keep it."""
    return assistant.fork(selection="scored")


@pytest.fixture(scope="session")
def pg_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real PostgreSQL 16 server with pgvector (the pgserver package), started once per session.

    Its socket lives in a temporary folder; nothing listens on the network.
    """
    import pgserver

    data = tmp_path_factory.mktemp("pg")
    server = pgserver.get_server(data, cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def pg_corpus_index(pg_url: str, embeddings):
    """corpus/ indexed in the collection ``corpus`` of the test server (read-only for tests)."""
    from kotae.index import DocumentIndex

    index = DocumentIndex.open("corpus", embeddings=embeddings, create=True, rebuild=True, server=pg_url)
    index.ingest([CORPUS])
    yield index
    index.close()
