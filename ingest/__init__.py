"""kotae.ingest: read documents, clean their text and cut it into passages.

The lowest layer of kotae: it knows files and text, nothing about indexes or
models. ``load_document`` reads a .txt, .md, .html/.htm or .pdf file into a
cleaned ``LoadedDocument``; ``chunk_document`` cuts it into ``Chunk`` passages
whose offsets point into the cleaned text; ``split_sentences`` gives the
sentence units both use.
"""

from __future__ import annotations

from kotae.ingest.chunking import chunk_document, split_sentences
from kotae.ingest.cleanup import clean_text
from kotae.ingest.errors import DocumentError, IndexStateError, InputError, KotaeError, LLMError
from kotae.ingest.loaders import DEFAULT_MAX_BYTES, SUPPORTED_SUFFIXES, load_document
from kotae.ingest.types import Chunk, ChunkSettings, LoadedDocument, PageSpan

__all__ = [
    "DEFAULT_MAX_BYTES",
    "SUPPORTED_SUFFIXES",
    "Chunk",
    "ChunkSettings",
    "DocumentError",
    "IndexStateError",
    "InputError",
    "KotaeError",
    "LLMError",
    "LoadedDocument",
    "PageSpan",
    "chunk_document",
    "clean_text",
    "load_document",
    "split_sentences",
]
