"""Plain data types passed between ingest, index and app."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class PageSpan:
    """Where one page of a PDF lies in the cleaned document text."""

    page: int
    start: int
    end: int


@dataclass(frozen=True)
class LoadedDocument:
    """A document read from disk and cleaned, ready to be chunked.

    Attributes:
        source: File name as shown to the user (no directories).
        text: The cleaned full text; chunk offsets point into it.
        content_hash: SHA-256 of the raw file bytes, used to skip unchanged files.
        pages: For PDFs, where each page lies in ``text``; empty otherwise.
        encoding: The detected text encoding (``"pdf"`` for PDFs).
    """

    source: str
    text: str
    content_hash: str
    pages: tuple[PageSpan, ...] = ()
    encoding: str = "utf-8"


@dataclass(frozen=True)
class Chunk:
    """One retrievable passage of a document.

    Attributes:
        id: Stable id derived from document content and position.
        source: File name of the document.
        text: The passage text, exactly ``document.text[start:end]``.
        section: Title of the section the passage belongs to ("" if none).
        start: Character offset of the passage in the cleaned document text.
        end: End offset (exclusive).
        page: PDF page number (1-based), or None.
        doc_hash: Content hash of the document it came from.
    """

    id: str
    source: str
    text: str
    section: str
    start: int
    end: int
    page: int | None = None
    doc_hash: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def metadata(self) -> dict[str, Any]:
        """Metadata as stored beside the vector (everything but the text)."""
        data = asdict(self)
        data.pop("text")
        extra = data.pop("extra")
        data.update(extra)
        return data


@dataclass(frozen=True)
class ChunkSettings:
    """How documents are cut into passages; recorded in the index manifest.

    Attributes:
        target_chars: Aim for passages about this long.
        max_chars: Never build a passage longer than this unless one sentence is.
        overlap_sentences: Sentences repeated at the start of the next passage.
    """

    target_chars: int = 400
    max_chars: int = 500
    overlap_sentences: int = 1

    def __post_init__(self) -> None:
        if not 50 <= self.target_chars <= 5000:
            raise ValueError(f"target_chars must be between 50 and 5000, got {self.target_chars}")
        if self.max_chars < self.target_chars:
            raise ValueError(
                f"max_chars ({self.max_chars}) must be at least target_chars ({self.target_chars})"
            )
        if not 0 <= self.overlap_sentences <= 5:
            raise ValueError(f"overlap_sentences must be between 0 and 5, got {self.overlap_sentences}")
