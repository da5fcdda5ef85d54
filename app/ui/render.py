"""HTML for the web UI: answers with [n] markers, the Sources panel, notes.

Everything that comes from a document, a file name or a user goes through
``html.escape`` here; the Gradio layer only places the strings. Fixed messages
follow the question's language (``ja`` or ``en``).
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from datetime import datetime

from kotae.app.answer.answers import Answer, Citation
from kotae.app.language import detect_language

UI_MESSAGES: dict[str, dict[str, str]] = {
    "sources": {"ja": "出典", "en": "Sources"},
    "sources_empty": {
        "ja": "質問すると、回答の根拠となった箇所がここに表示されます。",
        "en": "Ask a question to see the passages behind the answer here.",
    },
    "abstain_note": {
        "ja": "資料の中に、この質問に答える記述はありませんでした。",
        "en": "The documents do not answer this question.",
    },
    "page": {"ja": "{page}ページ", "en": "p. {page}"},
    "error": {"ja": "エラー: {message}", "en": "Error: {message}"},
    "unexpected": {
        "ja": "予期しないエラーが発生しました。詳細はサーバーのログを確認してください。",
        "en": "Something went wrong. The details are in the server log.",
    },
    "answered_by": {"ja": "{mode}・{ms:.0f} ms", "en": "{mode} · {ms:.0f} ms"},
    "not_grounded": {
        "ja": "この回答には有効な出典がありません。",
        "en": "This answer has no valid citation.",
    },
    "doc_name": {"ja": "文書", "en": "Document"},
    "doc_chunks": {"ja": "チャンク数", "en": "Chunks"},
    "doc_added": {"ja": "追加日時", "en": "Added"},
    "no_documents": {
        "ja": "まだ文書がありません。下から追加してください。",
        "en": "No documents yet. Add some below.",
    },
    "doc_total": {"ja": "{docs}件の文書・{chunks}チャンク", "en": "{docs} document{docs_s}, {chunks} chunk{chunks_s}"},
    "indexed": {"ja": "登録しました（{chunks}チャンク）", "en": "indexed ({chunks} chunk{chunks_s})"},
    "unchanged": {"ja": "変更なし（登録済み）", "en": "unchanged (already indexed)"},
    "rejected": {"ja": "登録できません: {reason}", "en": "rejected: {reason}"},
    "removed": {"ja": "{name} を削除しました。", "en": "Removed {name}."},
    "not_found": {"ja": "{name} は登録されていません。", "en": "{name} is not in the index."},
    "pick_document": {"ja": "削除する文書を選んでください。", "en": "Choose a document to remove."},
    "no_files": {"ja": "ファイルが選ばれていません。", "en": "No files were chosen."},
}

_MARKER = re.compile(r"\[(\d+)\]")


def ui_message(key: str, language: str, **values: object) -> str:
    """A fixed UI message in ``language`` (English when unknown), not escaped."""
    table = UI_MESSAGES[key]
    # English plurals: "{chunks} chunk{chunks_s}" reads "1 chunk", "2 chunks".
    plurals = {f"{k}_s": "" if v == 1 else "s" for k, v in values.items() if isinstance(v, int)}
    return table.get(language, table["en"]).format(**plurals, **values)


def language_of(text: str) -> str:
    """``"ja"`` or ``"en"`` for a question or a passage."""
    return detect_language(text or "")


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _lines(escaped: str) -> str:
    # No blank lines may reach the chat's Markdown renderer: a blank line would
    # end the HTML block and let Markdown parse document text.
    return re.sub(r"\s*\n\s*", "<br>", escaped.strip())


def question_html(question: str) -> str:
    """The user's message as shown in the chat (escaped, never Markdown-parsed)."""
    lang = language_of(question)
    return f'<div class="kotae-question" lang="{lang}">{_lines(_esc(question))}</div>'


def _with_markers(escaped: str, citations: Sequence[Citation]) -> str:
    by_n = {c.n: c for c in citations}

    def repl(match: re.Match[str]) -> str:
        n = int(match.group(1))
        citation = by_n.get(n)
        if citation is None:
            return match.group(0)
        return (
            f'<a class="kotae-ref" href="#kotae-src-{n}" data-ref="{n}" '
            f'title="{_esc(citation.source)}">[{n}]</a>'
        )

    return _MARKER.sub(repl, escaped)


def partial_answer_html(text: str, language: str) -> str:
    """An answer while it streams in: escaped text, markers not yet linked."""
    return f'<div class="kotae-answer kotae-streaming" lang="{language}">{_lines(_esc(text))}</div>'


def answer_html(answer: Answer) -> str:
    """The final answer for the chat: text with [n] markers, or the abstention note.

    An abstention is a neutral note, not an error: the documents simply do
    not say.
    """
    lang = answer.language
    if answer.abstained:
        body = (
            f'<div class="kotae-note kotae-abstain" lang="{lang}">'
            f'<span class="kotae-note-icon" aria-hidden="true">ⓘ</span> {_lines(_esc(answer.text))}</div>'
        )
    else:
        text = _with_markers(_lines(_esc(answer.text)), answer.citations)
        body = f'<div class="kotae-answer" lang="{lang}">{text}</div>'
        if not answer.grounded:
            body += f'<div class="kotae-note kotae-notice">{_esc(ui_message("not_grounded", lang))}</div>'
    if answer.notice:
        body += f'<div class="kotae-note kotae-notice" lang="{lang}">{_esc(answer.notice)}</div>'
    return body


def error_html(message: str, language: str) -> str:
    """A short error for the chat (never a traceback)."""
    text = ui_message("error", language, message=message)
    return f'<div class="kotae-note kotae-error" role="alert" lang="{language}">{_lines(_esc(text))}</div>'


def unexpected_error_html(language: str) -> str:
    """The one-line message for an unexpected failure."""
    text = ui_message("unexpected", language)
    return f'<div class="kotae-note kotae-error" role="alert" lang="{language}">{_esc(text)}</div>'


def _highlighted(citation: Citation) -> str:
    """The passage, escaped, with the quoted sentence inside ``<mark>``."""
    text = citation.text
    span = citation.quote_span
    if span is None and citation.quote:
        # The quote may differ from the passage in whitespace only (table rows
        # are joined with spaces for display); find it ignoring whitespace.
        pattern = r"\s*".join(re.escape(ch) for ch in citation.quote if not ch.isspace())
        found = re.search(pattern, text) if pattern else None
        span = found.span() if found else None
    if span is None:
        return _tidy(_esc(text))
    start, end = span
    # Highlight the sentence itself, not the line breaks around it.
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    inner = _esc(text[start:end])
    answer = citation.answer_span
    if answer is not None and start <= answer[0] < answer[1] <= end:
        # The reader's exact answer, in bold inside the highlighted sentence.
        a, b = answer
        inner = f"{_esc(text[start:a])}<strong>{_esc(text[a:b])}</strong>{_esc(text[b:end])}"
    return f"{_tidy(_esc(text[:start]))}<mark>{inner}</mark>{_tidy(_esc(text[end:]))}"


def _tidy(text: str) -> str:
    # Blank lines between a document's short lines waste the panel's height.
    return re.sub(r"\n[ \t\u3000]*\n+", "\n", text)


def _where(citation: Citation, language: str) -> str:
    parts = []
    section = (citation.location or {}).get("section")
    if section:
        parts.append(f'<span class="kotae-section">{_esc(section)}</span>')
    page = (citation.location or {}).get("page")
    if page:
        parts.append(f'<span class="kotae-page">{_esc(ui_message("page", language, page=page))}</span>')
    return " · ".join(parts)


def sources_html(answer: Answer | None, *, language: str | None = None) -> str:
    """The Sources panel for the latest answer.

    Args:
        answer: The latest answer, or None before the first question.
        language: Language of the fixed text when there is no answer yet.
    """
    lang = answer.language if answer is not None else (language or "en")
    header = f'<h3 class="kotae-sources-title">{_esc(ui_message("sources", lang))}</h3>'
    if answer is None:
        return (
            f'<div class="kotae-sources" lang="{lang}">{header}'
            f'<p class="kotae-muted">{_esc(ui_message("sources_empty", lang))}</p></div>'
        )
    if answer.abstained or not answer.citations:
        return (
            f'<div class="kotae-sources" lang="{lang}">{header}'
            f'<div class="kotae-note kotae-abstain">{_esc(ui_message("abstain_note", lang))}</div></div>'
        )
    items = []
    for c in answer.citations:
        where = _where(c, lang)
        items.append(
            f'<div class="kotae-source" id="kotae-src-{c.n}" data-ref="{c.n}">'
            f'<div class="kotae-source-head"><span class="kotae-ref-label">[{c.n}]</span> '
            f'<span class="kotae-file">{_esc(c.source)}</span>'
            + (f' <span class="kotae-where">— {where}</span>' if where else "")
            + f'</div><p class="kotae-passage" lang="{language_of(c.text)}">{_highlighted(c)}</p></div>'
        )
    footer = _esc(ui_message("answered_by", lang, mode=answer.mode, ms=answer.latency_ms))
    return (
        f'<div class="kotae-sources" lang="{lang}">{header}{"".join(items)}'
        f'<p class="kotae-muted kotae-meta">{footer}</p></div>'
    )


def _added(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")
    except (TypeError, ValueError):
        return iso or ""


def documents_html(documents: Sequence[object], language: str) -> str:
    """The table of indexed documents (name, chunks, when added)."""
    if not documents:
        return f'<div class="kotae-docs"><p class="kotae-muted">{_esc(ui_message("no_documents", language))}</p></div>'
    rows = "".join(
        f'<tr><td class="kotae-file">{_esc(d.source)}</td>'  # type: ignore[attr-defined]
        f'<td class="kotae-num">{int(d.chunks)}</td>'  # type: ignore[attr-defined]
        f"<td>{_esc(_added(d.added_at))}</td></tr>"  # type: ignore[attr-defined]
        for d in documents
    )
    total = ui_message("doc_total", language, docs=len(documents),
                       chunks=sum(int(d.chunks) for d in documents))  # type: ignore[attr-defined]
    return (
        '<div class="kotae-docs"><table class="kotae-doc-table"><thead><tr>'
        f'<th>{_esc(ui_message("doc_name", language))}</th>'
        f'<th>{_esc(ui_message("doc_chunks", language))}</th>'
        f'<th>{_esc(ui_message("doc_added", language))}</th>'
        f'</tr></thead><tbody>{rows}</tbody></table>'
        f'<p class="kotae-muted">{_esc(total)}</p></div>'
    )


def file_results_html(lines: Sequence[tuple[str, str, str]]) -> str:
    """One line per uploaded file: ``(name, status, escaped-ready message)``."""
    if not lines:
        return ""
    items = "".join(
        f'<li class="kotae-result kotae-{_esc(status)}"><span class="kotae-file">{_esc(name)}</span>: '
        f"{_esc(message)}</li>"
        for name, status, message in lines
    )
    return f'<ul class="kotae-results">{items}</ul>'


def status_html(message: str, *, kind: str = "notice") -> str:
    """A one-line status note (removal done, nothing chosen, an error)."""
    return f'<div class="kotae-note kotae-{_esc(kind)}">{_esc(message)}</div>'
