"""Read .txt, .md, .html/.htm and .pdf files into cleaned ``LoadedDocument`` objects.

Every way a file can be unusable ends in a ``DocumentError`` whose message is
one line saying what was wrong and what to do, so that ingesting a folder can
report the bad file and carry on with the others.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import warnings
from pathlib import Path

from kotae.ingest.cleanup import clean_text
from kotae.ingest.encoding import decode_bytes
from kotae.ingest.errors import DocumentError
from kotae.ingest.types import LoadedDocument, PageSpan

logger = logging.getLogger(__name__)

__all__ = ["SUPPORTED_SUFFIXES", "html_to_text", "load_document"]

SUPPORTED_SUFFIXES: frozenset[str] = frozenset({".txt", ".md", ".html", ".htm", ".pdf"})

_PAGE_SEPARATOR = "\n\n"


#: The size limit when the caller gives none (the app passes ``KOTAE_MAX_FILE_MB``).
DEFAULT_MAX_BYTES = 50_000_000


def load_document(path: Path, *, max_bytes: int | None = None) -> LoadedDocument:
    """Read one document from disk and clean its text.

    Args:
        path: A .txt, .md, .html, .htm or .pdf file.
        max_bytes: Reject larger files; default :data:`DEFAULT_MAX_BYTES`.

    Returns:
        The document: file name, cleaned text, SHA-256 of the raw bytes, PDF
        page spans and the detected encoding (``"pdf"`` for PDFs).

    Raises:
        DocumentError: The file is missing, of an unsupported type, empty, too
            large, binary, in an unknown encoding, a corrupt or encrypted PDF,
            or has no text; the message says which, in one line.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        allowed = " ".join(sorted(SUPPORTED_SUFFIXES))
        raise DocumentError(f"type {suffix or '(none)'} is not supported; use one of {allowed}")
    if max_bytes is None:
        max_bytes = DEFAULT_MAX_BYTES
    try:
        if not path.is_file():
            if path.exists():
                raise DocumentError(f"{path} is not a file; name a document file instead")
            raise DocumentError(f"file not found: {path}; check the path")
        size = path.stat().st_size
        if size > max_bytes:
            raise DocumentError(_too_large(size, max_bytes))
        data = path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise DocumentError(f"the file could not be read ({reason}); check that it exists and is readable") from None
    if len(data) > max_bytes:  # it grew since stat()
        raise DocumentError(_too_large(len(data), max_bytes))
    if not data:
        raise DocumentError("the file is empty (0 bytes); there is nothing to index")

    content_hash = hashlib.sha256(data).hexdigest()
    pages: tuple[PageSpan, ...] = ()
    if suffix == ".pdf":
        text, pages = _read_pdf(data)
        encoding = "pdf"
    else:
        raw, encoding = decode_bytes(data)
        if suffix in (".html", ".htm"):
            text = clean_text(html_to_text(raw), reflow=False)
        else:
            text = clean_text(raw)
        if not text:
            raise DocumentError("the file contains no visible text; check that it is the document you meant")
    logger.debug("loaded %s: %d chars, encoding %s, %d pages", path.name, len(text), encoding, len(pages))
    return LoadedDocument(source=path.name, text=text, content_hash=content_hash, pages=pages, encoding=encoding)


def _too_large(size: int, max_bytes: int) -> str:
    return f"{_human_size(size)} is over the {_human_size(max_bytes)} limit; split the file or raise KOTAE_MAX_FILE_MB"


def _human_size(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1e6:.1f} MB"
    if n >= 1_000:
        return f"{n / 1e3:.1f} kB"
    return f"{n} bytes"


# --- PDF -------------------------------------------------------------------


def _read_pdf(data: bytes) -> tuple[str, tuple[PageSpan, ...]]:
    """Text of a PDF, page by page, each page cleaned on its own so that its span in the text is exact."""
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            # Many PDFs are encrypted with an empty user password (an owner
            # password only restricts printing or copying): those still open.
            try:
                opened = reader.decrypt("")
            except DependencyError:
                raise DocumentError(
                    "the PDF is encrypted with AES, which needs the 'cryptography' package; "
                    "install it or save an unencrypted copy"
                ) from None
            if not opened:
                raise DocumentError("the PDF is encrypted with a password; save an unencrypted copy and add that")
        page_list = list(reader.pages)
    except DocumentError:
        raise
    except FileNotDecryptedError:
        raise DocumentError("the PDF is encrypted with a password; save an unencrypted copy and add that") from None
    except DependencyError as exc:
        raise DocumentError(
            f"reading this PDF needs an optional package ({_short(exc)}); install it or re-export the PDF"
        ) from None
    except Exception as exc:  # noqa: BLE001 - pypdf fails on damaged files in many ways (ValueError, zlib.error…)
        logger.debug("PDF could not be opened", exc_info=True)
        raise DocumentError(f"the PDF is damaged and cannot be read ({_short(exc)}); re-export or repair it") from None

    parts: list[str] = []
    spans: list[PageSpan] = []
    offset = 0
    failed = 0
    for number, page in enumerate(page_list, start=1):
        try:
            raw = page.extract_text() or ""
        except Exception as exc:  # noqa: BLE001 - one broken page must not lose the others
            failed += 1
            logger.warning("page %d: text extraction failed: %s", number, _short(exc))
            continue
        text = clean_text(raw)
        if not text:
            continue
        if parts:
            parts.append(_PAGE_SEPARATOR)
            offset += len(_PAGE_SEPARATOR)
        parts.append(text)
        spans.append(PageSpan(page=number, start=offset, end=offset + len(text)))
        offset += len(text)
    if not parts:
        if failed and failed == len(page_list):
            raise DocumentError("the PDF is damaged: no page could be read; re-export or repair it")
        raise DocumentError(
            f"the PDF has no extractable text ({len(page_list)} page{'' if len(page_list) == 1 else 's'}, "
            "probably scanned images); "
            "run OCR on it first or add a text version"
        )
    return "".join(parts), tuple(spans)


def _short(exc: BaseException) -> str:
    message = " ".join(str(exc).split()) or type(exc).__name__
    return message[:120]


# --- HTML ------------------------------------------------------------------

_DROP_TAGS = frozenset({"script", "style", "noscript", "template", "head", "svg", "math", "iframe", "object", "canvas"})
_BLOCK_TAGS = frozenset({
    "address", "article", "aside", "blockquote", "body", "caption", "dd", "details", "dialog", "div", "dl", "dt",
    "fieldset", "figcaption", "figure", "footer", "form", "header", "hgroup", "hr", "html", "li", "main", "nav",
    "ol", "p", "pre", "section", "summary", "table", "tr", "ul",
})
# Stand-ins for structure while the tree is flattened; real text never holds
# them because control characters are removed from every text node.
_PARAGRAPH = "\x00"
_LINE = "\x01"
_CELL = "\x02"
_PRE_END = "\x03"
_HEADINGS = frozenset(f"h{level}" for level in range(1, 7))
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_WHITESPACE = re.compile(r"\s+")


def html_to_text(html: str) -> str:
    """Visible text of an HTML page, block structure kept as line breaks.

    Scripts, styles and the head are dropped; paragraphs and other blocks
    become paragraphs, ``<br>`` and list items become lines, table rows
    become lines with cells separated by `` | ``, and ``<h1>``–``<h6>``
    become markdown-style ``#`` headings so that the chunker sees them.

    Args:
        html: The decoded HTML source.

    Returns:
        Plain text (not yet cleaned).
    """
    from bs4 import BeautifulSoup, CData, MarkupResemblesLocatorWarning, NavigableString, Tag, XMLParsedAsHTMLWarning

    with warnings.catch_warnings():
        # A page whose text looks like a file name or URL, or XHTML: both parse fine.
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
        soup = BeautifulSoup(html, "html.parser")
    # One walk with an explicit stack, reading the tree without changing it:
    # inserting marker nodes into bs4's tree costs time per sibling, which is
    # quadratic on a page of many paragraphs, and recursion would overflow on
    # deeply nested markup.
    out: list[str] = []
    in_pre = 0
    stack: list[tuple[object, str | None]] = [(soup, None)]
    while stack:
        node, closing = stack.pop()
        if closing is not None:
            out.append(closing)
            if closing == _PRE_END:
                in_pre -= 1
            continue
        if isinstance(node, NavigableString):
            if type(node) in (NavigableString, CData):  # not comments, doctype, script bodies
                text = _CONTROL.sub("", str(node))
                out.append(text if in_pre else _WHITESPACE.sub(" ", text))
            continue
        if not isinstance(node, Tag):
            continue
        name = (node.name or "").lower()
        if name in _DROP_TAGS:
            continue
        if name in _HEADINGS:
            title = _WHITESPACE.sub(" ", _CONTROL.sub("", node.get_text(" "))).strip()
            if title:
                out.append(f"{_PARAGRAPH}{'#' * int(name[1])} {title}{_PARAGRAPH}")
            continue
        if name == "br":
            out.append(_LINE)
            continue
        if name in ("td", "th"):
            out.append(_CELL)
            end = None
        elif name == "pre":
            in_pre += 1
            out.append(_PARAGRAPH)
            end = _PRE_END
        elif name in _BLOCK_TAGS:
            end = _LINE if name in ("li", "tr", "dt", "dd") else _PARAGRAPH
            out.append(end)
        else:
            end = None
        if end is not None:
            stack.append((node, end))
        stack.extend((child, None) for child in reversed(node.contents))
    flat = "".join(out).replace(_PRE_END, _PARAGRAPH)

    lines: list[str] = []
    for paragraph in flat.split(_PARAGRAPH):
        for line in paragraph.split(_LINE):
            cells = [c.strip() for c in line.split(_CELL)]
            text = " | ".join(c for c in cells if c)
            if text.strip():
                lines.append(text.strip())
        lines.append("")  # paragraph end
    return "\n".join(lines)
