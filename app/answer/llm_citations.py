"""Read a model's reply: its ``[n]`` markers, its abstention, and the quotes behind it.

Markers keep the passage's number: ``[3]`` in the answer is passage 3 of the
prompt and ``Citation.n == 3``. Renumbering to 1..m would rewrite text the
user has already seen streaming; keeping the prompt's numbers means the
streamed text and the final answer agree. Markers that point to no passage
are removed from the text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from langchain_core.documents import Document

from kotae.app.answer.answers import Citation
from kotae.app.answer.citing import citation_for
from kotae.app.answer.llm_prompt import NOT_IN_DOCUMENTS

# One marker group: [1], [1, 2], [1-3], ［１］, 【2】 (models write all of these).
_NUMBERS = r"\d+(?:\s*(?:[,，、]|[-–~〜])\s*\d+)*"
MARKER = re.compile(rf"(?P<space>[ \t]*)[\[［【]\s*(?P<numbers>{_NUMBERS})\s*[\]］】]")
# A marker still being written at the end of a streamed piece.
_OPEN_MARKER = re.compile(r"[ \t]*[\[［【][\d\s,，、\-–~〜]*$")
_THINK = re.compile(r"<think>.*?(?:</think>|$)", re.DOTALL)
_TOKEN = re.compile(r"\bNOT[_ ]IN[_ ](?:THE[_ ])?DOCUMENTS\b\.?")
# A reply that says "not in the documents" in words instead of the token.
_ABSTAIN_PHRASES = re.compile(
    r"not (?:found |mentioned |stated |contained |included )?in the (?:documents|passages)|"
    r"(?:documents|passages) do(?:es)? not (?:contain|mention|say|state|include)|"
    r"(?:could|can)(?: ?not|n't) (?:find|answer)|no information|"
    r"資料には|記載(?:が|は)(?:あり|見当たり)ません|記述(?:が|は)(?:あり|見当たり)ません|見つかりません|"
    r"含まれていません|わかりません|分かりません",
    re.IGNORECASE,
)
_MAX_RANGE = 20


@dataclass(frozen=True)
class ParsedReply:
    """A model reply with its markers checked.

    Attributes:
        text: The reply with markers written ``[n]`` and invalid ones removed.
        used: Valid passage numbers, in order of first use.
        dropped: Marker numbers that pointed to no passage.
        not_in_documents: The model said the passages do not answer.
        claims: For each used number, the answer text its markers follow.
    """

    text: str
    used: list[int] = field(default_factory=list)
    dropped: list[int] = field(default_factory=list)
    not_in_documents: bool = False
    claims: dict[int, list[str]] = field(default_factory=dict)


def marker_numbers(numbers: str) -> list[int]:
    """The numbers of one marker group: ``"1, 2"`` → [1, 2]; ``"1-3"`` → [1, 2, 3]."""
    found: list[int] = []
    for part in re.split(r"\s*[,，、]\s*", numbers.strip()):
        bounds = re.split(r"\s*[-–~〜]\s*", part)
        if len(bounds) == 2 and bounds[0].isdigit() and bounds[1].isdigit():
            low, high = int(bounds[0]), int(bounds[1])
            if low <= high and high - low <= _MAX_RANGE:
                found.extend(range(low, high + 1))
                continue
        found.extend(int(b) for b in bounds if b.isdigit())
    return list(dict.fromkeys(found))


def rewrite_markers(text: str, count: int, dropped: list[int] | None = None) -> str:
    """``text`` with each marker group written ``[a][b]``, keeping numbers 1..``count``.

    A group with no valid number is removed with the space before it.

    Args:
        text: Answer text.
        count: Number of passages in the prompt.
        dropped: When given, invalid numbers are appended to it.
    """

    def replace(match: re.Match[str]) -> str:
        numbers = marker_numbers(match.group("numbers"))
        valid = [n for n in numbers if 1 <= n <= count]
        if dropped is not None:
            dropped.extend(n for n in numbers if not 1 <= n <= count)
        if not valid:
            return ""
        return match.group("space") + "".join(f"[{n}]" for n in valid)

    return MARKER.sub(replace, text)


def strip_thinking(text: str) -> str:
    """Remove ``<think>…</think>`` blocks that reasoning models put in their reply."""
    return _THINK.sub("", text)


def parse_reply(reply: str, count: int) -> ParsedReply:
    """Check a model's reply against the ``count`` passages it was given.

    Args:
        reply: The model's whole reply.
        count: Number of passages in the prompt (valid markers are 1..count).

    Returns:
        The cleaned text, the passages it cites, and whether the model abstained.
    """
    dropped: list[int] = []
    text = rewrite_markers(strip_thinking(reply), count, dropped).strip()
    said_token = bool(_TOKEN.search(text))
    text = _TOKEN.sub("", text).strip() if said_token else text
    used: list[int] = []
    claims: dict[int, list[str]] = {}
    previous_claim = ""
    position = 0
    for match in MARKER.finditer(text):
        # Text since the previous marker, without the end of the sentence before it.
        segment = re.sub(r"^\W+", "", text[position : match.start()]).strip()
        position = match.end()
        # "A [1][2]" gives both markers the claim A; "A. [1]" or "[1]. [2]"
        # (nothing but punctuation between markers) leans on the claim before.
        claim = segment if re.search(r"\w", segment) else previous_claim
        previous_claim = claim
        for n in marker_numbers(match.group("numbers")):
            if n not in used:
                used.append(n)
            if claim and claim not in claims.setdefault(n, []):
                claims[n].append(claim[-300:])
    without_markers = MARKER.sub("", text).strip()
    abstained = not used and (said_token or bool(_ABSTAIN_PHRASES.search(without_markers)))
    return ParsedReply(text=text, used=used, dropped=dropped, not_in_documents=abstained, claims=claims)


class StreamCleaner:
    """Cleans a streamed reply piece by piece, as :func:`parse_reply` cleans the whole.

    Holds back what may still change: a marker being written, trailing spaces
    (a dropped marker takes the space before it), a ``<think>`` block, and the
    start of a reply that may turn out to be ``NOT_IN_DOCUMENTS``.

    Args:
        count: Number of passages in the prompt.
    """

    def __init__(self, count: int) -> None:
        self.count = count
        self._raw = ""  # received, not yet split into visible text and thinking
        self._held = ""  # visible text not shown yet
        self._thinking = False
        self._emitted = False

    def feed(self, piece: str) -> str:
        """Take the next piece of the reply; return the text that can be shown now."""
        self._raw += piece
        return self._release(final=False)

    def flush(self) -> str:
        """The rest of the text, once the reply is complete."""
        return self._release(final=True)

    def _visible(self, *, final: bool) -> str:
        """Take the text outside ``<think>`` blocks out of ``self._raw``."""
        out: list[str] = []
        raw = self._raw
        while raw:
            if self._thinking:
                end = raw.find("</think>")
                if end < 0:
                    raw = "" if final else raw[-(len("</think>") - 1) :]
                    break
                raw, self._thinking = raw[end + len("</think>") :], False
                continue
            start = raw.find("<think>")
            if start < 0:
                keep = 0 if final else _partial_suffix(raw, "<think>")
                out.append(raw[: len(raw) - keep])
                raw = raw[len(raw) - keep :]
                break
            out.append(raw[:start])
            raw, self._thinking = raw[start + len("<think>") :], True
        self._raw = raw
        return "".join(out)

    def _release(self, *, final: bool) -> str:
        text = self._held + self._visible(final=final)
        self._held = ""
        if not final:
            marker = _OPEN_MARKER.search(text)
            keep = max(len(text) - marker.start() if marker else 0, len(text) - len(text.rstrip()))
            text, self._held = text[: len(text) - keep], text[len(text) - keep :]
        if not self._emitted:
            text = text.lstrip()
            probe = (text + self._held).strip()
            if _TOKEN.match(probe) or (not final and probe and NOT_IN_DOCUMENTS.startswith(probe)):
                # Possibly the abstention token: show nothing; the final Answer says it.
                self._held = "" if final else text + self._held
                return ""
        cleaned = rewrite_markers(text, self.count)
        if final:
            cleaned = cleaned.rstrip()
        if cleaned:
            self._emitted = True
        return cleaned


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest end of ``text`` that is a start of ``tag`` ("<thi" of "<think>")."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0


class QuoteFinder:
    """Picks, for each cited passage, the sentence that best supports the claims citing it.

    The claim and the sentences are compared by embedding similarity (the
    index's model, cached, and cross-lingual: an English answer finds its
    Japanese sentence), with a small bonus for shared keywords such as dates
    and names.

    Args:
        embeddings: Embeddings with ``embed_query`` and ``embed_sentences`` (kotae's CachedEmbeddings).
        sentences: Splits passages into candidate sentences (the extractive
            answerer's ``candidates``), each with ``text``, ``start`` and ``end``.
        tokenize: The keyword tokenizer of the index.
        is_heading: True for headings and captions, which state nothing.
    """

    keyword_weight = 0.1
    heading_penalty = 0.05

    def __init__(
        self,
        embeddings: object,
        sentences: Callable[[Sequence[Document]], list],
        tokenize: Callable[[str], list[str]],
        *,
        is_heading: Callable[[str], bool] | None = None,
    ) -> None:
        self.embeddings = embeddings
        self.sentences = sentences
        self.tokenize = tokenize
        self.is_heading = is_heading or (lambda text: False)

    def quote(self, claims: Sequence[str], doc: Document) -> str:
        """The sentence of ``doc`` that best supports ``claims`` (an exact substring of it)."""
        candidates = self.sentences([doc])
        if not candidates:
            return doc.page_content.strip()
        if len(candidates) == 1 or not claims:
            best = candidates[0]
            return doc.page_content[best.start : best.end]
        sentence_vectors = _normalise(self.embeddings.embed_sentences([c.text for c in candidates]))  # type: ignore[attr-defined]
        claim_vectors = _normalise([self.embeddings.embed_query(c) for c in claims])  # type: ignore[attr-defined]
        similarity = (sentence_vectors @ claim_vectors.T).max(axis=1)
        claim_tokens = set(self.tokenize(" ".join(claims)))
        scores = []
        for cand, sim in zip(candidates, similarity):
            tokens = set(self.tokenize(cand.text))
            overlap = len(tokens & claim_tokens) / len(claim_tokens) if claim_tokens else 0.0
            score = float(sim) + self.keyword_weight * overlap - (self.heading_penalty if self.is_heading(cand.text) else 0.0)
            scores.append(score)
        best = candidates[int(np.argmax(scores))]
        return doc.page_content[best.start : best.end]


def _normalise(vectors: Sequence[Sequence[float]]) -> np.ndarray:
    array = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return array / np.where(norms == 0, 1, norms)


def citations_for(parsed: ParsedReply, documents: Sequence[Document], quotes: QuoteFinder) -> list[Citation]:
    """The Citations of a parsed reply, in order of first use, numbered as in the prompt."""
    return [citation_for(n, documents[n - 1], quotes.quote(parsed.claims.get(n, []), documents[n - 1])) for n in parsed.used]
