"""kotae.index."""
from kotae.index.embeddings import KotaeEmbeddings, load_embeddings  # noqa: E402,F401  (embeddings helper)

# The store, keyword index and library (index helper) are imported on first use:
# they pull in FAISS and, through ingest, the document loaders, which callers
# that only need the embeddings should not pay for.
_LAZY = {
    "DocumentIndex": "kotae.index.library",
    "DocumentInfo": "kotae.index.library",
    "FileResult": "kotae.index.library",
    "FaissVectorStore": "kotae.index.store",
    "HybridRetriever": "kotae.index.retriever",
    "tokenize_for_search": "kotae.index.keyword",
}

__all__ = ["KotaeEmbeddings", "load_embeddings", *_LAZY]


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'kotae.index' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
