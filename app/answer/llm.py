"""LLM answer mode: a chat model writes the answer from the retrieved passages.

The model is LangChain's ``ChatOpenAI`` pointed at any OpenAI-compatible
endpoint (OpenAI, Ollama, vLLM, llama.cpp's server ...). Its answer must cite
the numbered passages it was given; an answer that cites none, an empty
reply, or a failing endpoint never reaches the user as an answer: the
extractive answer is shown instead, with a one-line notice saying why.

Nothing here retries: a retry against a dead or overloaded endpoint would
only make the user wait longer for the same fallback.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel

from kotae.app.answer.answers import Answer
from kotae.app.language import message
from kotae.app.answer.llm_citations import QuoteFinder, StreamCleaner, citations_for, parse_reply, strip_thinking
from kotae.app.answer.llm_prompt import answer_messages, rewrite_messages
from kotae.app.settings import Settings
from kotae.ingest.errors import InputError, LLMError

logger = logging.getLogger(__name__)

# Local servers (Ollama, vLLM, llama.cpp) ignore the key, but the OpenAI
# client refuses to start without one.
PLACEHOLDER_KEY = "not-needed"
HISTORY_TURNS = 3

_FALLBACK = {
    "en": "showing the extractive answer instead.",
    "ja": "代わりに抽出型の回答を表示します。",
}
_REASONS = {
    "uncited": {
        "en": "The model's answer cited no passage",
        "ja": "LLMの回答が資料のどの箇所も引用していませんでした",
    },
    "empty": {
        "en": "The model returned an empty answer",
        "ja": "LLMの回答が空でした",
    },
    "not_found": {
        "en": "The model found no answer in the passages",
        "ja": "LLMは資料の中に答えを見つけられませんでした",
    },
}


def fallback_notice(reason: str, language: str, *, instead: bool = True) -> str:
    """The notice shown with the extractive answer that replaced the model's.

    Args:
        reason: A key of ``_REASONS`` or a one-line error message.
        language: ``"ja"`` or ``"en"``.
        instead: False when no extractive answer is shown (an abstention
            replaced the model's answer): the notice only says why.
    """
    lang = language if language in _FALLBACK else "en"
    cause = _REASONS[reason][lang] if reason in _REASONS else reason.rstrip(". ")
    if not instead:
        return f"{cause}." if lang == "en" else f"{cause}。"
    return f"{cause}; {_FALLBACK[lang]}" if lang == "en" else f"{cause}。{_FALLBACK[lang]}"


def extractive_instead(extractive: Answer, reason: str, language: str, *, grounded: bool = True) -> Answer:
    """The extractive answer shown in place of the model's, with the notice why.

    Args:
        extractive: The extractive answer to the same question.
        reason: A key of ``_REASONS`` or a one-line error message.
        language: The question's language, ``"ja"`` or ``"en"``.
        grounded: False when the model's answer was discarded for citing nothing.
    """
    return replace(extractive, mode="extractive", grounded=grounded, notice=fallback_notice(reason, language))


def check_configured(settings: Settings) -> None:
    """Raise InputError unless an endpoint and a model are configured.

    Raises:
        InputError: Naming the missing ``KOTAE_LLM_BASE_URL`` / ``KOTAE_LLM_MODEL``.
    """
    missing = [name for name, value in (("KOTAE_LLM_BASE_URL", settings.llm_base_url),
                                        ("KOTAE_LLM_MODEL", settings.llm_model)) if not value]
    if missing:
        raise InputError(
            f"LLM mode needs an OpenAI-compatible endpoint, but {' and '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not set: set KOTAE_LLM_BASE_URL "
            "(e.g. http://localhost:11434/v1) and KOTAE_LLM_MODEL, or use --mode extractive"
        )


def chat_model(settings: Settings) -> BaseChatModel:
    """The chat model of LLM mode, as configured in ``settings``.

    Args:
        settings: ``llm_base_url``, ``llm_model``, ``llm_api_key`` and ``llm_timeout_s``.

    Returns:
        A streaming ``ChatOpenAI`` that never retries.

    Raises:
        InputError: When no endpoint or model is configured.
    """
    check_configured(settings)
    from langchain_openai import ChatOpenAI  # the import is slow; only LLM mode pays for it

    return ChatOpenAI(
        model=settings.llm_model,
        base_url=settings.llm_base_url,
        api_key=settings.llm_api_key or PLACEHOLDER_KEY,
        timeout=settings.llm_timeout_s,
        max_retries=0,
        streaming=True,
        temperature=0,
        # Local servers speak Chat Completions; never switch to the Responses API.
        use_responses_api=False,
    )


def shown_url(url: str | None) -> str:
    """The endpoint URL for messages, without any ``user:password@`` in it."""
    if not url:
        return "(none)"
    parts = urlsplit(url)
    if parts.username or parts.password:
        parts = parts._replace(netloc=parts.hostname + (f":{parts.port}" if parts.port else ""))
    return urlunsplit(parts)


def _server_message(exc: Any) -> str:
    """The server's own one-line explanation from an API error, if it gave one."""
    body = getattr(exc, "body", None)
    text = ""
    if isinstance(body, dict):
        error = body.get("error", body)
        text = str(error.get("message", "")) if isinstance(error, dict) else str(error)
    text = text or str(getattr(exc, "message", "") or "")
    text = re.sub(r"\s+", " ", text).strip()
    return text[:120] + ("…" if len(text) > 120 else "")


def describe_error(exc: BaseException, settings: Settings) -> str:
    """One line naming why the LLM endpoint failed, and what to check.

    Args:
        exc: What the OpenAI client (or the stream) raised.
        settings: The endpoint, model and timeout that were used.

    Returns:
        A message such as ``LLM endpoint http://... refused the API key (401); check KOTAE_LLM_API_KEY``.
    """
    import openai

    url = shown_url(settings.llm_base_url)
    endpoint = f"LLM endpoint {url}"
    if isinstance(exc, openai.APITimeoutError):
        return f"{endpoint} did not answer within {settings.llm_timeout_s:g} s; check the server or raise KOTAE_LLM_TIMEOUT"
    if isinstance(exc, openai.APIConnectionError):
        root: BaseException = exc
        while root.__cause__ is not None or root.__context__ is not None:
            root = root.__cause__ or root.__context__  # type: ignore[assignment]
        said = re.sub(r"\s+", " ", str(root)).strip()[:80]
        detail = f" ({said})" if root is not exc and said else ""
        return f"cannot reach the {endpoint}{detail}; check KOTAE_LLM_BASE_URL and that the server is running"
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        said = _server_message(exc)
        said = f": {said}" if said else ""
        if isinstance(exc, openai.AuthenticationError):
            return f"{endpoint} refused the API key ({status}); check KOTAE_LLM_API_KEY"
        if isinstance(exc, openai.PermissionDeniedError):
            return f"{endpoint} denied access to model {settings.llm_model!r} ({status}); check KOTAE_LLM_API_KEY and KOTAE_LLM_MODEL"
        if isinstance(exc, openai.NotFoundError):
            return (f"{endpoint} has no model {settings.llm_model!r} or no chat API ({status}); "
                    "check KOTAE_LLM_MODEL, and that KOTAE_LLM_BASE_URL ends in /v1")
        if isinstance(exc, openai.RateLimitError):
            return f"{endpoint} is rate-limiting requests ({status}{said}); wait and try again, or check your plan's limits"
        if isinstance(exc, openai.InternalServerError):
            return f"{endpoint} failed with a server error ({status}{said}); check the server's log"
        if isinstance(exc, openai.BadRequestError):
            return f"{endpoint} rejected the request ({status}{said}); check KOTAE_LLM_MODEL, or retrieve fewer passages (--top-k)"
        return f"{endpoint} answered with HTTP {status}{said}"
    if isinstance(exc, LLMError):
        return str(exc)
    detail = re.sub(r"\s+", " ", str(exc)).strip()[:120]
    return f"{endpoint} gave an unusable reply ({type(exc).__name__}{': ' + detail if detail else ''})"


def _text_of(chunk: Any) -> str:
    text = getattr(chunk, "text", chunk)
    return str(text) if text is not None else ""


class LLMAnswerer:
    """Answers from retrieved passages with a chat model, falling back to the extractive answer.

    A :class:`~kotae.app.answer.base.StreamingAnswerer`: retrieval, and the
    rewriting of a follow-up (:meth:`rewrite`) before it, are the caller's.

    Args:
        settings: The LLM endpoint, model, key and timeout.
        quotes: Picks the quoted sentence of each cited passage.
        model: The chat model (default: :func:`chat_model` of ``settings``).

    Raises:
        InputError: When no endpoint or model is configured.
    """

    def __init__(self, settings: Settings, quotes: QuoteFinder, *, model: BaseChatModel | None = None) -> None:
        self.settings = settings
        self.quotes = quotes
        self.model = model if model is not None else chat_model(settings)

    def _stream_text(self, messages: list[Any]) -> Iterator[str]:
        """The model's reply as it comes.

        The client's timeout bounds each wait for bytes; the deadline here
        bounds the whole reply, so a server that trickles tokens forever
        cannot hang the user either.

        Raises:
            LLMError: Naming the cause when the endpoint fails or runs past the timeout.
        """
        deadline = time.monotonic() + self.settings.llm_timeout_s
        stream = None
        try:
            stream = self.model.stream(messages)
            for chunk in stream:
                piece = _text_of(chunk)
                if piece:
                    yield piece
                if time.monotonic() > deadline:
                    raise LLMError(
                        f"LLM endpoint {shown_url(self.settings.llm_base_url)} did not finish its answer within "
                        f"{self.settings.llm_timeout_s:g} s; check the server or raise KOTAE_LLM_TIMEOUT"
                    )
        except LLMError:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure of the endpoint becomes a notice
            logger.info("LLM request failed: %s", exc, exc_info=logger.isEnabledFor(logging.DEBUG))
            raise LLMError(describe_error(exc, self.settings)) from exc
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()

    def rewrite(self, question: str, history: Sequence[tuple[str, str]]) -> str | None:
        """A follow-up question made standalone from the conversation (one model call).

        Args:
            question: The follow-up question.
            history: Earlier ``(question, answer text)`` turns, oldest first.

        Returns:
            The standalone question, or None when the model's reply is unusable.

        Raises:
            LLMError: When the endpoint fails (callers stop using it for this question).
        """
        turns = [(q, re.sub(r"\s*\[\d+\]", "", a)[:400]) for q, a in history[-HISTORY_TURNS:]]
        reply = strip_thinking("".join(self._stream_text(rewrite_messages(question, turns))))
        lines = [line.strip() for line in reply.splitlines() if line.strip()]
        if not lines:
            return None
        standalone = re.sub(r"^(?:standalone question|question|質問)\s*[:：]\s*", "", lines[0], flags=re.IGNORECASE)
        standalone = standalone.strip("\"'「」『』“”` ")
        if not standalone or len(standalone) > max(4 * len(question), 300):
            return None
        return standalone[: self.settings.max_question_chars]

    def stream(
        self,
        question: str,
        language: str,
        documents: Sequence[Document],
        *,
        ask_as: str | None = None,
        fallback: Callable[[], Answer] | None = None,
    ) -> Iterator[str | Answer]:
        """Answer with the model: yield its text as it comes, then the Answer.

        Args:
            question: The question as asked (cleaned): the Answer's question.
            language: Its language, ``"ja"`` or ``"en"``.
            documents: The retrieved passages, best first, numbered for the model.
            ask_as: The question as the model is asked it, when not as asked
                (a follow-up made standalone by :meth:`rewrite`).
            fallback: Returns the extractive answer, shown when the model's
                answer cannot be used. Without it such a question abstains,
                with a notice saying why.

        Yields:
            Pieces of answer text, then the complete :class:`Answer`. When the
            model's answer is discarded after some text was shown, the final
            Answer's text replaces it.
        """
        emitted = False

        def fall_back(reason: str, *, grounded: bool = True) -> Iterator[str | Answer]:
            if fallback is None:
                answer = Answer(question=question, text=message("abstain", language), abstained=True, language=language,
                                mode="llm", grounded=grounded, notice=fallback_notice(reason, language, instead=False))
            else:
                answer = extractive_instead(fallback(), reason, language, grounded=grounded)
            if not emitted:
                yield answer.text
            yield answer

        if not documents:
            yield from self._abstain(question, language, fall_back)
            return
        cleaner = StreamCleaner(len(documents))
        pieces: list[str] = []
        try:
            for piece in self._stream_text(answer_messages(ask_as or question, language, documents)):
                pieces.append(piece)
                shown = cleaner.feed(piece)
                if shown:
                    emitted = True
                    yield shown
        except LLMError as exc:
            yield from fall_back(str(exc))
            return
        rest = cleaner.flush()
        if rest:
            emitted = True
            yield rest
        yield from self._finish(question, language, documents, "".join(pieces), fall_back)

    def answer(self, question: str, language: str, documents: Sequence[Document], *,
               ask_as: str | None = None, fallback: Callable[[], Answer] | None = None) -> Answer:
        """The Answer of :meth:`stream`, once the model has finished (the arguments are the same).

        Returns:
            The model's cited Answer, the fallback's (or an abstention) when it cannot be used.
        """
        *_, answer = self.stream(question, language, documents, ask_as=ask_as, fallback=fallback)
        assert isinstance(answer, Answer), "the stream always ends with an Answer"
        return answer

    def _finish(
        self,
        question: str,
        language: str,
        documents: Sequence[Document],
        reply: str,
        fallback: Callable[..., Iterator[str | Answer]],
    ) -> Iterator[str | Answer]:
        """The Answer for a complete reply, or the fallback when it cannot be used."""
        parsed = parse_reply(reply, len(documents))
        if parsed.dropped:
            logger.info("dropped markers that point to no passage: %s", parsed.dropped)
        if parsed.not_in_documents:
            yield from self._abstain(question, language, fallback)
            return
        if not parsed.text:
            yield from fallback("empty", grounded=False)
            return
        if not parsed.used:
            logger.info("the model's answer cited no passage: %r", parsed.text[:200])
            yield from fallback("uncited", grounded=False)
            return
        yield Answer(
            question=question,
            text=parsed.text,
            abstained=False,
            language=language,
            citations=citations_for(parsed, documents, self.quotes),
            mode="llm",
        )

    def _abstain(self, question: str, language: str,
                 fallback: Callable[..., Iterator[str | Answer]]) -> Iterator[str | Answer]:
        """The model says the passages do not answer: offer the extractive answer if it finds one."""
        items = list(fallback("not_found"))
        answer = items[-1]
        assert isinstance(answer, Answer)
        if answer.abstained:
            # Both agree the documents do not answer: a plain abstention.
            answer = Answer(question=question, text=message("abstain", language), abstained=True,
                            language=language, mode="llm")
            items = [answer.text, answer] if len(items) == 2 else [answer]
        yield from items
