"""Turn chosen sentences into answer text with [n] markers and Citations."""

from __future__ import annotations

import re
from collections.abc import Sequence

from langchain_core.documents import Document

from kotae.app.answer.answers import Citation
from kotae.app.answer.extractive import Candidate


def display_text(sentence: str) -> str:
    """A sentence as shown in an answer: a table row's lines joined by spaces."""
    return re.sub(r"\s*\n\s*", " ", sentence.strip())


def citation_for(n: int, doc: Document, quote: str) -> Citation:
    """The Citation of passage ``doc`` under marker ``n``."""
    meta = doc.metadata
    return Citation(
        n=n,
        source=str(meta.get("source", "")),
        text=doc.page_content,
        quote=quote,
        score=float(meta.get("score", 0.0)),
        location={
            "section": meta.get("section") or "",
            "page": meta.get("page"),
            "start": meta.get("start"),
            "end": meta.get("end"),
        },
        chunk_id=str(meta.get("id", "")),
    )


def cite(chosen: Sequence[Candidate], documents: Sequence[Document]) -> tuple[str, list[Citation]]:
    """Build the answer text and its citations.

    Passages are numbered in the order the answer first uses them; each
    sentence is followed by the marker of its passage. A passage that gives
    several sentences is cited once, its quote spanning those sentences.

    Args:
        chosen: The sentences to answer with, in answer order.
        documents: The retrieved passages the candidates point into.

    Returns:
        The answer text and its citations, in marker order.
    """
    numbers: dict[int, int] = {}
    spans: dict[int, list[Candidate]] = {}
    parts: list[str] = []
    for cand in chosen:
        n = numbers.setdefault(cand.doc_index, len(numbers) + 1)
        spans.setdefault(cand.doc_index, []).append(cand)
        start, end = cand.span
        text = documents[cand.doc_index].page_content
        shown = display_text(text[start:end])
        # An excerpt of a longer sentence is marked as such, never passed off as whole.
        shown = ("…" if start > cand.start else "") + shown + ("…" if end < cand.end else "")
        parts.append(f"{shown} [{n}]")
    citations = []
    for doc_index, n in numbers.items():
        doc = documents[doc_index]
        group = spans[doc_index]
        start, end = min(c.span[0] for c in group), max(c.span[1] for c in group)
        citations.append(citation_for(n, doc, doc.page_content[start:end]))
    return " ".join(parts), citations
