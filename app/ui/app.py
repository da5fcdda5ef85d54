"""The Gradio Blocks of ``kotae chat``: chat with sources, settings, documents.

Imported only when the web UI is built, so that the rest of the CLI starts
without loading Gradio.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from kotae.app.ui import render
from kotae.app.answer.answers import Answer
from kotae.app.settings import Settings
from kotae.app.ui.uploads import ALLOWED_SUFFIXES, check_upload, discard_upload, safe_filename, store_upload
from kotae.ingest.errors import KotaeError

if TYPE_CHECKING:
    from kotae.app.assistant import Assistant

logger = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"

EXAMPLES = [
    "G7群馬高崎デジタル・技術大臣会合はいつ開催されましたか",
    "In which city was the G7 Health Ministers' Meeting held?",
    "DFFTとは何ですか",
    "When was the G7 Hiroshima Summit held?",
]

RETRIEVER_CHOICES = [("hybrid", "hybrid"), ("dense", "dense"), ("BM25", "bm25")]

# Static labels follow the browser's language (Gradio translates them in the
# page); messages made per answer follow the question's language instead.
LABELS: dict[str, dict[str, str]] = {
    "en": {
        "kotae_title": "# kotae 答え\nAsk about your documents in Japanese or English. Every answer cites its passages.",
        "kotae_chat_tab": "Chat",
        "kotae_documents_tab": "Documents",
        "kotae_chatbot": "Conversation",
        "kotae_question": "Question",
        "kotae_placeholder": "Ask a question, e.g. DFFTとは何ですか",
        "kotae_send": "Ask",
        "kotae_clear": "Clear conversation",
        "kotae_examples": "Examples",
        "kotae_settings": "Settings",
        "kotae_top_k": "Passages to retrieve",
        "kotae_retriever": "Retriever",
        "kotae_mode": "Answer mode",
        "kotae_indexed_documents": "### Indexed documents",
        "kotae_upload": "Add documents (.txt .md .html .pdf)",
        "kotae_remove_pick": "Document to remove",
        "kotae_remove": "Remove",
    },
    "ja": {
        "kotae_title": "# kotae 答え\n文書について日本語または英語で質問できます。回答には必ず出典が付きます。",
        "kotae_chat_tab": "チャット",
        "kotae_documents_tab": "文書",
        "kotae_chatbot": "会話",
        "kotae_question": "質問",
        "kotae_placeholder": "質問を入力（例: DFFTとは何ですか）",
        "kotae_send": "質問する",
        "kotae_clear": "会話をクリア",
        "kotae_examples": "質問の例",
        "kotae_settings": "設定",
        "kotae_top_k": "検索する箇所の数",
        "kotae_retriever": "検索方式",
        "kotae_mode": "回答方式",
        "kotae_indexed_documents": "### 登録済みの文書",
        "kotae_upload": "文書を追加（.txt .md .html .pdf）",
        "kotae_remove_pick": "削除する文書",
        "kotae_remove": "削除",
    },
}
I18N = gr.I18n(**LABELS)

# System fonts only: a web font would be fetched from outside (offline use).
_FONT = [
    "system-ui", "-apple-system", "'Segoe UI'", "'Hiragino Sans'", "'Hiragino Kaku Gothic ProN'",
    "'Noto Sans CJK JP'", "'Noto Sans JP'", "'Yu Gothic UI'", "'Yu Gothic'", "Meiryo", "sans-serif",
]
_FONT_MONO = ["ui-monospace", "'SFMono-Regular'", "Menlo", "Consolas", "'Noto Sans Mono CJK JP'", "monospace"]


def theme() -> gr.themes.Base:
    """The UI theme: Gradio's default look with system fonts."""
    return gr.themes.Default(font=_FONT, font_mono=_FONT_MONO)


def css() -> str:
    """The UI's own stylesheet."""
    return (STATIC / "kotae.css").read_text(encoding="utf-8")


def js() -> str:
    """The UI's own script (keeps highlighted sentences in view); no outside requests."""
    return (STATIC / "kotae.js").read_text(encoding="utf-8")


class _Session:
    """One browser session's conversation (a fork of the shared Assistant).

    Kept in a ``gr.State``: each browser tab has its own history.
    """

    def __init__(self) -> None:
        self.assistant: Assistant | None = None
        self.options: tuple[int, str, str] | None = None

    def conversation(self, base: Assistant, *, top_k: int, retriever: str, mode: str) -> Assistant:
        """This session's Assistant with the chosen settings; history survives a settings change."""
        options = (top_k, retriever, mode)
        if self.assistant is None or self.options != options:
            fresh = base.fork(top_k=top_k, retriever=retriever, mode=mode)
            if self.assistant is not None:
                fresh.history.extend(self.assistant.history)
            self.assistant, self.options = fresh, options
        return self.assistant


def _browser_language(request: gr.Request | None) -> str:
    accept = ""
    if request is not None:
        accept = request.headers.get("accept-language", "") or ""
    return "ja" if accept.strip().lower().startswith("ja") else "en"


def build_app(assistant: Assistant, *, settings: Settings) -> gr.Blocks:
    """Build the web UI around one Assistant (see ``kotae.app.ui.build_app``)."""
    modes = ["extractive"] + (["llm"] if settings.llm_base_url else [])
    start_mode = settings.mode if settings.mode in modes else "extractive"
    max_bytes = settings.max_file_bytes  # as the index counts it
    t = I18N

    def respond(
        question: str, history: list[dict[str, Any]], session: _Session | None, top_k: float, retriever: str,
        mode: str,
    ) -> Iterator[tuple[Any, Any, Any, Any]]:
        question = (question or "").strip()
        if not question:
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        session = session or _Session()
        lang = render.language_of(question)
        history = list(history or [])
        history.append({"role": "user", "content": render.question_html(question)})
        history.append({"role": "assistant", "content": render.partial_answer_html("…", lang)})
        yield history, gr.skip(), "", session
        text = ""
        try:
            conversation = session.conversation(assistant, top_k=int(top_k), retriever=retriever, mode=mode)
            for piece in conversation.stream(question):
                if isinstance(piece, Answer):
                    history[-1] = {"role": "assistant", "content": render.answer_html(piece)}
                    yield history, render.sources_html(piece), gr.skip(), gr.skip()
                else:
                    text += piece
                    history[-1] = {"role": "assistant", "content": render.partial_answer_html(text, lang)}
                    yield history, gr.skip(), gr.skip(), gr.skip()
        except KotaeError as exc:
            history[-1] = {"role": "assistant", "content": render.error_html(str(exc), lang)}
            yield history, render.sources_html(None, language=lang), gr.skip(), gr.skip()
        except Exception:  # noqa: BLE001 - the user gets one line; the log gets the traceback
            logger.exception("answering failed for %r", question[:200])
            history[-1] = {"role": "assistant", "content": render.unexpected_error_html(lang)}
            yield history, render.sources_html(None, language=lang), gr.skip(), gr.skip()

    def clear(session: _Session | None, request: gr.Request) -> tuple[list[Any], str, str]:
        if session is not None and session.assistant is not None:
            session.assistant.reset()
        return [], empty_sources(request), ""

    def forget(session: _Session | None, request: gr.Request) -> str:
        if session is not None and session.assistant is not None:
            session.assistant.reset()
        return empty_sources(request)

    def empty_sources(request: gr.Request) -> str:
        return render.sources_html(None, language=_browser_language(request))

    def list_documents(request: gr.Request) -> tuple[str, Any]:
        lang = _browser_language(request)
        try:
            documents = assistant.index.documents()
        except KotaeError as exc:
            return render.status_html(str(exc), kind="error"), gr.skip()
        names = [d.source for d in documents]
        return render.documents_html(documents, lang), gr.update(choices=names, value=None)

    def ingest_files(
        files: list[str] | None, request: gr.Request, progress: gr.Progress = gr.Progress()
    ) -> tuple[str, str, Any, None]:
        lang = _browser_language(request)
        lines: list[tuple[str, str, str]] = []
        if not files:
            table, choices = list_documents(request)
            return render.status_html(render.ui_message("no_files", lang)), table, choices, None
        stored: dict[str, str] = {}
        try:
            for received in files:
                path = Path(received)
                name = safe_filename(path.name)
                verdict = check_upload(path, name, max_bytes=max_bytes)
                if not verdict.ok:
                    lines.append((name, "rejected", render.ui_message("rejected", lang, reason=verdict.reason)))
                    continue
                kept = store_upload(path, name, settings.uploads)
                stored[str(kept)] = name
            if stored:
                progress((0, len(stored)), desc="indexing", unit="files")

                def report(event: Any) -> None:  # an IngestProgress: files read, then passages embedded
                    unit = "passages" if event.stage == "embedding" else "files"
                    progress((event.done, event.total), desc=f"{event.stage} {Path(event.source).name}", unit=unit)

                for result in assistant.index.ingest([Path(p) for p in stored], progress=report):
                    key = {"indexed": "indexed", "unchanged": "unchanged"}.get(result.status, "rejected")
                    message = render.ui_message(key, lang, chunks=result.chunks, reason=result.reason or result.status)
                    lines.append((Path(result.source).name, key, message))
        except KotaeError as exc:
            lines.append(("", "rejected", str(exc)))
        except Exception:  # noqa: BLE001
            logger.exception("indexing uploaded files failed")
            lines.append(("", "rejected", render.ui_message("unexpected", lang)))
        table, choices = list_documents(request)
        return render.file_results_html(lines), table, choices, None

    def remove_document(name: str | None, request: gr.Request) -> tuple[str, str, Any]:
        lang = _browser_language(request)
        if not name:
            status = render.status_html(render.ui_message("pick_document", lang))
        else:
            try:
                if assistant.index.remove(name):
                    discard_upload(name, settings.uploads)
                    status = render.status_html(render.ui_message("removed", lang, name=name))
                else:
                    status = render.status_html(render.ui_message("not_found", lang, name=name), kind="error")
            except KotaeError as exc:
                status = render.status_html(str(exc), kind="error")
            except Exception:  # noqa: BLE001
                logger.exception("removing %r failed", name)
                status = render.status_html(render.ui_message("unexpected", lang), kind="error")
        table, choices = list_documents(request)
        return status, table, choices

    def ask(question: str, top_k: int = settings.top_k, retriever: str = settings.retriever) -> dict:
        """Answer a question from the indexed documents.

        Returns the Answer as JSON, with the same fields as ``kotae ask --json``:
        text (with [n] markers), abstained, language, citations (n, source,
        text, quote, score, location), mode, grounded, notice, latency_ms.
        """
        try:
            return assistant.fork(top_k=int(top_k), retriever=retriever).ask(question).to_dict()
        except KotaeError as exc:
            raise gr.Error(str(exc)) from None
        except Exception:  # noqa: BLE001
            logger.exception("API answer failed")
            raise gr.Error(render.ui_message("unexpected", render.language_of(question))) from None

    # Temporary copies of uploads are deleted after an hour; the kept copy is in settings.uploads.
    with gr.Blocks(title="kotae 答え", analytics_enabled=False, delete_cache=(3600, 3600)) as demo:
        session = gr.State(None)  # a _Session, made on the first question
        gr.Markdown(t("kotae_title"), elem_classes="kotae-header")
        with gr.Tabs():
            with gr.Tab(t("kotae_chat_tab"), id="chat"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3):
                        chatbot = gr.Chatbot(
                            label=t("kotae_chatbot"), height=460, elem_id="kotae-chat", latex_delimiters=[],
                            buttons=["copy"], feedback_options=None, group_consecutive_messages=False,
                        )
                        with gr.Row():
                            question = gr.Textbox(
                                label=t("kotae_question"), placeholder=t("kotae_placeholder"), show_label=False,
                                lines=1, max_lines=6, scale=5, elem_id="kotae-question", autofocus=True,
                                max_length=settings.max_question_chars,
                            )
                            send = gr.Button(t("kotae_send"), variant="primary", scale=1, elem_id="kotae-send")
                        examples = gr.Examples(
                            examples=[[q] for q in EXAMPLES], inputs=[question], label=t("kotae_examples"),
                            api_visibility="private",
                        )
                        clear_button = gr.Button(t("kotae_clear"), variant="secondary", size="sm", elem_id="kotae-clear")
                        with gr.Accordion(t("kotae_settings"), open=False):
                            top_k = gr.Slider(1, 20, value=settings.top_k, step=1, label=t("kotae_top_k"))
                            retriever = gr.Radio(RETRIEVER_CHOICES, value=settings.retriever, label=t("kotae_retriever"))
                            mode = gr.Radio(modes, value=start_mode, label=t("kotae_mode"), interactive=len(modes) > 1)
                    with gr.Column(scale=2):
                        sources = gr.HTML(render.sources_html(None), elem_id="kotae-sources", js_on_load=None)
            with gr.Tab(t("kotae_documents_tab"), id="documents") as documents_tab:
                gr.Markdown(t("kotae_indexed_documents"))
                documents = gr.HTML(elem_id="kotae-documents", js_on_load=None)
                upload = gr.File(
                    label=t("kotae_upload"), file_count="multiple", file_types=sorted(ALLOWED_SUFFIXES),
                    type="filepath", elem_id="kotae-upload",
                )
                results = gr.HTML(elem_id="kotae-upload-results", js_on_load=None)
                with gr.Row():
                    to_remove = gr.Dropdown(choices=[], label=t("kotae_remove_pick"), interactive=True,
                                            elem_id="kotae-remove-pick", scale=4)
                    remove_button = gr.Button(t("kotae_remove"), variant="stop", elem_id="kotae-remove", scale=1)
                remove_status = gr.HTML(elem_id="kotae-remove-status", js_on_load=None)

        chat_io = {"inputs": [question, chatbot, session, top_k, retriever, mode],
                   "outputs": [chatbot, sources, question, session]}
        gr.on([question.submit, send.click], respond, **chat_io, api_visibility="private",
              show_progress="minimal")
        examples.load_input_event.then(respond, **chat_io, api_visibility="private", show_progress="minimal")
        clear_button.click(clear, [session], [chatbot, sources, question], api_visibility="private", queue=False)
        chatbot.clear(forget, [session], [sources], api_visibility="private", queue=False)

        refresh = {"fn": list_documents, "inputs": None, "outputs": [documents, to_remove], "api_visibility": "private"}
        demo.load(**refresh)
        demo.load(empty_sources, None, [sources], api_visibility="private", queue=False)
        documents_tab.select(**refresh)
        # One writer at a time: ingest and remove change the shared index.
        upload.upload(ingest_files, [upload], [results, documents, to_remove, upload], api_visibility="private",
                      concurrency_id="kotae-index-write", concurrency_limit=1)
        remove_button.click(remove_document, [to_remove], [remove_status, documents, to_remove],
                            api_visibility="private", concurrency_id="kotae-index-write", concurrency_limit=1)

        gr.api(ask, api_name="ask")
    demo.queue(default_concurrency_limit=4, max_size=64)
    return demo
