"""kotae.index."""
from kotae.index.embed.embeddings import KotaeEmbeddings, load_embeddings  # noqa: E402,F401  (embeddings helper)
from kotae.index.embed.passage_vectors import IngestProgress  # noqa: E402,F401
from kotae.index.keyword import tokenize_for_search  # noqa: E402,F401  (index helper)
from kotae.index.library import DocumentIndex, DocumentInfo, FileResult  # noqa: E402,F401
from kotae.index.retrieval.hybrid import HybridRetriever  # noqa: E402,F401
from kotae.index.store import FaissVectorStore  # noqa: E402,F401
