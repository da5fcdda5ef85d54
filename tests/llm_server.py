"""TEST DOUBLE of an LLM service: a scripted OpenAI-compatible chat endpoint.

No LLM weights can be had where kotae's tests run, so the tests point kotae's
LLM mode at this local server instead. It speaks just enough of the OpenAI
Chat Completions API (``POST /v1/chat/completions``, with ``stream`` true as
server-sent events ending in ``data: [DONE]``, or false as one JSON body) for
``langchain_openai.ChatOpenAI``. It is not a model: it records what kotae
sends (model name, messages, the numbered passages, the streaming flag, the
key) and replies what the test scripted.

Example:
    >>> with FakeLLMServer() as server:
    ...     server.script = "good"
    ...     server.fact = "2023年"            # the passage to cite contains this
    ...     server.answer = "It was in 2023."  # the claim the reply makes
    ...     # point Settings(llm_base_url=server.base_url, llm_model="fake") at it
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_PASSAGE = re.compile(r'<passage n="(\d+)" source="([^"]*)"[^>]*>\n(.*?)\n</passage>', re.DOTALL)

# Scripts with an HTTP error: status and OpenAI-style error body.
ERRORS = {
    "http401": (401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    "http429": (429, "Rate limit reached for requests.", "requests", "rate_limit_exceeded"),
    "http500": (500, "The server had an error while processing your request.", "server_error", None),
    "http404": (404, "The model does not exist.", "invalid_request_error", "model_not_found"),
}


@dataclass
class Request:
    """One request kotae sent, as the server understood it."""

    kind: str  # "answer" or "rewrite"
    model: str
    stream: bool
    messages: list[dict[str, Any]]
    passages: list[tuple[int, str, str]] = field(default_factory=list)  # (n, source, text)
    authorization: str = ""
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def system(self) -> str:
        return "\n".join(str(m.get("content", "")) for m in self.messages if m.get("role") == "system")

    @property
    def user(self) -> str:
        return "\n".join(str(m.get("content", "")) for m in self.messages if m.get("role") == "user")


class FakeLLMServer:
    """A scripted stand-in for an OpenAI-compatible endpoint, on 127.0.0.1 and a free port.

    Attributes:
        script: What to reply to answer requests: ``"good"`` (cites the passage
            containing ``fact``), ``"good_two"`` (cites it as ``[n, m]`` with
            another one), ``"nowhere"`` (cites ``[9]``), ``"mixed"`` (a valid
            and an invalid marker), ``"uncited"``, ``"not_in_documents"``,
            ``"empty"``, ``"slow"`` (waits ``delay`` seconds first),
            ``"trickle"`` (one word every ``delay`` seconds), ``"http401"``,
            ``"http429"``, ``"http500"``, ``"http404"``, ``"echo_injection"``
            (obeys an instruction found in a passage, as a gullible model
            would), ``"think"`` (a reasoning block before a good answer),
            or a callable ``(Request) -> str``.
        fact: Text the passage to cite contains.
        answer: The claim a good reply makes (the marker is added).
        rewrite: Reply to rewrite requests (None: an HTTP 500).
        delay: Seconds for ``"slow"`` and ``"trickle"``.
        requests: Every request received, in order.
    """

    def __init__(self) -> None:
        self.script: str | Callable[[Request], str] = "good"
        self.fact = ""
        self.answer = "The answer is in the passage."
        self.rewrite: str | None = None
        self.delay = 3.0
        self.requests: list[Request] = []
        self._stop = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="fake-llm", daemon=True)

    @property
    def base_url(self) -> str:
        """The ``/v1`` base URL to give kotae."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> "FakeLLMServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> "FakeLLMServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self, script: str | Callable[[Request], str] = "good") -> None:
        """Forget recorded requests and set the script for the next test."""
        self.requests.clear()
        self.script = script
        self.fact = ""
        self.answer = "The answer is in the passage."
        self.rewrite = None
        self.delay = 3.0

    @property
    def answers(self) -> list[Request]:
        return [r for r in self.requests if r.kind == "answer"]

    @property
    def rewrites(self) -> list[Request]:
        return [r for r in self.requests if r.kind == "rewrite"]

    # -- replies ---------------------------------------------------------

    def _cited(self, request: Request) -> int:
        for n, _source, text in request.passages:
            if self.fact and self.fact in text:
                return n
        return 1

    def reply_for(self, request: Request) -> str:
        """The scripted reply text for a request (HTTP errors are handled before)."""
        if request.kind == "rewrite":
            return self.rewrite or ""
        script = self.script
        if callable(script):
            return script(request)
        n = self._cited(request)
        other = next((p[0] for p in request.passages if p[0] != n), n)
        return {
            "good": f"{self.answer} [{n}]",
            "good_two": f"{self.answer} [{n}, {other}]",
            "think": f"<think>The fact is in passage {n}. [9]</think>{self.answer} [{n}]",
            "nowhere": f"{self.answer} [9]",
            "mixed": f"{self.answer} [{n}][9]",
            "uncited": self.answer,
            "not_in_documents": "NOT_IN_DOCUMENTS",
            "empty": "",
            "slow": f"{self.answer} [{n}]",
            "trickle": " ".join(["word"] * 50) + f" [{n}]",
            "echo_injection": "HACKED",
        }[script]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # quiet test output
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
                    return
                messages = body.get("messages", [])
                user = "\n".join(str(m.get("content", "")) for m in messages if m.get("role") == "user")
                request = Request(
                    kind="rewrite" if "<conversation>" in user else "answer",
                    model=str(body.get("model", "")),
                    stream=bool(body.get("stream")),
                    messages=messages,
                    passages=[(int(n), s, t) for n, s, t in _PASSAGE.findall(user)],
                    authorization=self.headers.get("Authorization", ""),
                    body=body,
                )
                server.requests.append(request)
                script = server.script if request.kind == "answer" else ("good" if server.rewrite is not None else "http500")
                try:
                    if isinstance(script, str) and script in ERRORS:
                        status, msg, kind, code = ERRORS[script]
                        self._json(status, {"error": {"message": msg, "type": kind, "code": code}})
                        return
                    if script == "slow" and server._stop.wait(server.delay):
                        return
                    text = server.reply_for(request)
                    if request.stream:
                        self._sse(request, text, trickle=server.delay if script == "trickle" else 0.0)
                    else:
                        self._json(200, _completion(request.model, text))
                except (BrokenPipeError, ConnectionResetError):
                    pass  # kotae gave up (its timeout): nothing to answer

            def _json(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _sse(self, request: Request, text: str, *, trickle: float) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                pieces = re.findall(r"\S+\s*|\s+", text) if trickle else re.findall(r".{1,4}", text, re.DOTALL)
                events = [_chunk(request.model, {"role": "assistant", "content": ""}, None)]
                events += [_chunk(request.model, {"content": p}, None) for p in pieces]
                events.append(_chunk(request.model, {}, "stop"))
                for i, event in enumerate(events):
                    if trickle and i > 1 and server._stop.wait(trickle):
                        return
                    self.wfile.write(b"data: " + json.dumps(event, ensure_ascii=False).encode() + b"\n\n")
                    self.wfile.flush()
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

        return Handler


def _chunk(model: str, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }


def _completion(model: str, text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                     "logprobs": None, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
