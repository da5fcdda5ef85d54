"""Reading an evaluation set: one JSON object a line.

Only ``question`` and ``facts`` are needed; everything else has a default, so a
plain file of questions and facts works::

    {"question": "会合はどこで開かれた？", "facts": [["高崎市", "高崎"]]}
    {"id": "en-3", "lang": "en", "question": "Who chaired it?", "facts": [["Matsumoto"]],
     "evidence": [{"source": "004.txt", "quote": "松本総務大臣が議長"}], "type": "factoid"}
    {"question": "What is the budget for 2031?", "facts": [], "unanswerable": true}

A fact is a list of accepted aliases (a bare string is shorthand for a
one-alias fact); an answer is right when every fact has an alias in it.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kotae.app import InputError

logger = logging.getLogger(__name__)

LANGS = ("ja", "en")
KNOWN_KEYS = frozenset({"id", "lang", "question", "facts", "evidence", "type", "unanswerable"})

# Kana (incl. half-width katakana) and CJK ideographs, plus the iteration mark 々.
_JAPANESE = re.compile(r"[\u3005\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f]")


@dataclass(frozen=True)
class Evidence:
    """Where the answer to a question is written: an exact quote from a source file."""

    source: str
    quote: str


@dataclass(frozen=True)
class Question:
    """One evaluation question.

    Attributes:
        id: Stable id (the line number when the file gives none).
        lang: ``"ja"`` or ``"en"``.
        question: The question text as a user would type it.
        facts: Required facts, each a tuple of accepted aliases; empty when unanswerable.
        evidence: Quotes that answer it; may be empty (then no retrieval metrics for it).
        type: Free-form question type used to group results (``"untyped"`` if none).
        unanswerable: True when the documents do not answer it and the right reply is to abstain.
        line: 1-based line number in the file, for messages.
    """

    id: str
    lang: str
    question: str
    facts: tuple[tuple[str, ...], ...]
    evidence: tuple[Evidence, ...] = ()
    type: str = "untyped"
    unanswerable: bool = False
    line: int = 0


def detect_language(text: str) -> str:
    """``"ja"`` when the text holds any kana or kanji, else ``"en"``."""
    return "ja" if _JAPANESE.search(text) else "en"


def default_set_path() -> Path:
    """The evaluation set shipped with kotae (``eval/data/qa.jsonl``)."""
    # Path(__file__) rather than importlib.resources: the package is installed
    # editable from a package-dir mapping and never zipped, and callers want a
    # real path to print in the report.
    return Path(__file__).parent / "data" / "qa.jsonl"


def load_questions(path: Path | str) -> list[Question]:
    """Read and check an evaluation set.

    Args:
        path: A JSON Lines file, one question object a line (blank lines are skipped).

    Returns:
        The questions in file order.

    Raises:
        InputError: The file is missing, unreadable, empty, or a line is malformed;
            the message names the line number and what is wrong.
    """
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"evaluation set {path} does not exist; pass an existing file with --set") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"evaluation set {path} is not UTF-8 text ({exc.reason}); save it as UTF-8") from None
    except OSError as exc:
        raise InputError(f"cannot read evaluation set {path}: {exc.strerror}") from None

    questions: list[Question] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        question = parse_line(line, number, path=path)
        if question.id in seen:
            raise InputError(
                f"{path}:{number}: id {question.id!r} was already used on line {seen[question.id]}; "
                "give every question its own id"
            )
        seen[question.id] = number
        questions.append(question)
    if not questions:
        raise InputError(f"evaluation set {path} has no questions; expected one JSON object a line")
    return questions


def parse_line(line: str, number: int, *, path: Path | str = "<set>") -> Question:
    """Parse one line of an evaluation set.

    Args:
        line: The line's text.
        number: Its 1-based line number (used as the id when none is given, and in messages).
        path: The file name, for messages.

    Returns:
        The question.

    Raises:
        InputError: The line is not a valid question object.
    """
    where = f"{path}:{number}"
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno}); expected one object a line") from None
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected a JSON object, found {type(data).__name__}")
    unknown = sorted(set(data) - KNOWN_KEYS)
    if unknown:
        # Extra fields (notes, difficulty...) are allowed; log them so a typo is findable.
        logger.debug("%s: ignoring fields %s", where, ", ".join(unknown))

    text = data.get("question")
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"{where}: 'question' must be a non-empty string, found {_show(text)}")

    unanswerable = data.get("unanswerable")
    if unanswerable is not None and not isinstance(unanswerable, bool):
        raise InputError(f"{where}: 'unanswerable' must be true or false, found {_show(unanswerable)}")

    if "facts" not in data and unanswerable is not True:
        raise InputError(
            f"{where}: 'facts' is missing; give a list of facts, each a list of accepted aliases "
            '(e.g. [["4月", "四月"]]), or [] with "unanswerable": true'
        )
    facts = _parse_facts(data.get("facts", []), where)
    if unanswerable is None:
        unanswerable = not facts
    if unanswerable and facts:
        raise InputError(f"{where}: an unanswerable question cannot have facts; use \"facts\": [] or drop 'unanswerable'")
    if not unanswerable and not facts:
        raise InputError(f"{where}: 'facts' is empty but 'unanswerable' is false; add the facts the answer must contain")

    lang = data.get("lang")
    if lang is None:
        lang = detect_language(text)
    elif lang not in LANGS:
        raise InputError(f"{where}: 'lang' must be one of {', '.join(LANGS)}, found {_show(lang)}")

    qid = data.get("id", number)
    if isinstance(qid, bool) or not isinstance(qid, (str, int)) or str(qid).strip() == "":
        raise InputError(f"{where}: 'id' must be a non-empty string or a number, found {_show(qid)}")

    qtype = data.get("type", "untyped")
    if not isinstance(qtype, str) or not qtype.strip():
        raise InputError(f"{where}: 'type' must be a non-empty string, found {_show(qtype)}")

    return Question(
        id=str(qid),
        lang=lang,
        question=text,
        facts=facts,
        evidence=_parse_evidence(data.get("evidence", []), where),
        type=qtype.strip(),
        unanswerable=unanswerable,
        line=number,
    )


def _parse_facts(value: Any, where: str) -> tuple[tuple[str, ...], ...]:
    if not isinstance(value, list):
        raise InputError(f"{where}: 'facts' must be a list of facts, found {_show(value)}")
    facts: list[tuple[str, ...]] = []
    for i, fact in enumerate(value, start=1):
        aliases = [fact] if isinstance(fact, str) else fact
        if (
            not isinstance(aliases, list)
            or not aliases
            or not all(isinstance(a, str) and a.strip() for a in aliases)
        ):
            raise InputError(
                f"{where}: fact {i} must be a non-empty list of non-empty strings (accepted aliases), "
                f"found {_show(fact)}"
            )
        facts.append(tuple(aliases))
    return tuple(facts)


def _parse_evidence(value: Any, where: str) -> tuple[Evidence, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InputError(f"{where}: 'evidence' must be a list of {{source, quote}} objects, found {_show(value)}")
    items: list[Evidence] = []
    for i, item in enumerate(value, start=1):
        if not isinstance(item, dict):
            raise InputError(f"{where}: evidence {i} must be an object with 'source' and 'quote', found {_show(item)}")
        quote = item.get("quote")
        source = item.get("source", "")
        if not isinstance(quote, str) or not quote.strip():
            raise InputError(f"{where}: evidence {i} needs a non-empty 'quote' string, found {_show(quote)}")
        if not isinstance(source, str):
            raise InputError(f"{where}: evidence {i} 'source' must be a file name string, found {_show(source)}")
        items.append(Evidence(source=source, quote=quote))
    return tuple(items)


def _show(value: Any) -> str:
    """A short rendering of a bad value for an error message."""
    if value is None:
        return "nothing"
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."
