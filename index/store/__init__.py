"""Store backends behind one interface (:mod:`kotae.index.store.base`).

* :mod:`~kotae.index.store.faiss_sqlite`: the embedded default, FAISS files and
  SQLite in the index folder.
* :mod:`~kotae.index.store.postgres`: PostgreSQL with pgvector, for a team's
  database server (``KOTAE_STORE=postgresql://…``).
"""

from kotae.index.store.base import DEFAULT_COLLECTION, RRF_K, CatalogueEntry, Fused, Store, StoreBatch, StoreReader, rrf  # noqa: F401
from kotae.index.store.faiss_sqlite import (  # noqa: F401
    DB_NAME,
    FaissVectorStore,
    StoreView,
    WriteBatch,
    damaged,
    execute_script,
)
