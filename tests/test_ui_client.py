"""The web UI's server side: the ``/ask`` API through gradio_client, file
access, login, ``kotae chat``'s options, and the upload and HTML helpers."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kotae.app.answer.answers import Answer, Citation
from kotae.app.ui.render import answer_html, question_html, sources_html
from kotae.app.ui.uploads import check_upload, discard_upload, safe_filename, store_upload


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _launch(assistant, tmp_path_factory: pytest.TempPathFactory, **options: Any):
    from kotae.app import get_settings
    from kotae.app.ui import launch

    settings = get_settings().with_options(home=tmp_path_factory.mktemp("ui-client-home"))
    return launch(assistant, settings=settings, port=_free_port(), block=False, quiet=True, **options)


@pytest.fixture(scope="module")
def app_url(assistant, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The web UI over the session's corpus index (this module only reads it)."""
    demo = _launch(assistant, tmp_path_factory)
    try:
        yield demo.local_url.rstrip("/")
    finally:
        demo.close()


@pytest.fixture(scope="module")
def client(app_url: str):
    from gradio_client import Client

    return Client(app_url, verbose=False, analytics_enabled=False, download_files=False)


# --- the /ask API ----------------------------------------------------------


def test_ask_endpoint_returns_the_answer_and_its_sources(client) -> None:
    result = client.predict("G7群馬高崎デジタル・技術大臣会合はいつ開催されましたか", api_name="/ask")
    assert "4月29日" in result["text"] and "[1]" in result["text"]
    assert result["abstained"] is False and result["language"] == "ja"
    first = result["citations"][0]
    assert first["n"] == 1 and first["source"].endswith(".txt")
    assert first["quote"] and first["quote"] in first["text"]
    assert {"section", "page"} <= set(first["location"])


def test_ask_endpoint_takes_settings(client, assistant) -> None:
    question = "When did the G7 Gunma-Takasaki Digital and Tech Ministers' Meeting take place?"
    result = client.predict(question, 3, "dense", api_name="/ask")
    assert result["language"] == "en"
    # The same answer as the Python API gives with those settings, from passages they retrieve.
    narrow = assistant.fork(top_k=3, retriever="dense")
    assert result["text"] == narrow.ask(question).text
    retrieved = {d.page_content for d in narrow.retrieve(question)}
    assert result["citations"] and all(c["text"] in retrieved for c in result["citations"])


def test_ask_endpoint_error_is_one_line(client) -> None:
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as caught:
        client.predict("   ", api_name="/ask")
    assert "empty" in str(caught.value) and "Traceback" not in str(caught.value)


def test_only_ask_is_public(client) -> None:
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert list(endpoints) == ["/ask"]


# --- no file outside Gradio's cache can be fetched ---------------------------

CRAFTED = [
    "/gradio_api/file=/etc/passwd",
    "/gradio_api/file=../../../../etc/passwd",
    "/gradio_api/file=..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/gradio_api/file=%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/gradio_api/file=%2fetc%2fpasswd",
    "/gradio_api/file=//etc/passwd",
    "/gradio_api/file=/proc/self/environ",
    "/file=/etc/passwd",
    "/gradio_api/file=corpus/000_978082ea11959659.txt",
    "/static/../../../../etc/passwd",
    "/assets/..%2f..%2f..%2f..%2fetc%2fpasswd",
]


@pytest.mark.parametrize("path", CRAFTED)
def test_files_outside_the_app_cannot_be_fetched(app_url: str, path: str) -> None:
    with httpx.Client(timeout=10) as http:
        response = http.get(app_url + path)
    assert response.status_code in (400, 403, 404, 405), (path, response.status_code)
    assert "root:" not in response.text and "KOTAE_HOME" not in response.text
    assert "国際戦略局" not in response.text


# --- login ----------------------------------------------------------------------


def test_auth_is_required_when_set(assistant, tmp_path_factory: pytest.TempPathFactory) -> None:
    from gradio_client import Client

    demo = _launch(assistant, tmp_path_factory, auth="alice:s3cret")
    url = demo.local_url.rstrip("/")
    try:
        with httpx.Client(timeout=10) as http:
            assert http.get(url + "/config").status_code in (401, 403)
        authed = Client(url, auth=("alice", "s3cret"), verbose=False, analytics_enabled=False)
        assert "[1]" in authed.predict("DFFTとは何ですか", api_name="/ask")["text"]
    finally:
        demo.close()


# --- kotae chat ------------------------------------------------------------------


@pytest.fixture
def launched(monkeypatch: pytest.MonkeyPatch, assistant) -> list[dict[str, Any]]:
    """Run `kotae chat` up to the launch, recording the launch instead of serving."""
    import kotae.app.cli as cli_module
    import kotae.app.ui as ui_module

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(cli_module, "_open_index", lambda index, settings, create: assistant.index)
    monkeypatch.setattr(ui_module, "launch", lambda assistant, **kw: calls.append(kw))
    return calls


def _chat(*args: str, env: dict[str, str] | None = None):
    from click.testing import CliRunner

    from kotae.app.cli import cli

    return CliRunner().invoke(cli, ["chat", *args], env=env or {})


def test_chat_binds_localhost_by_default(launched) -> None:
    result = _chat(env={"KOTAE_AUTH": ""})
    assert result.exit_code == 0, result.output
    assert launched[0]["host"] == "127.0.0.1" and launched[0]["port"] == 7860
    assert "warning" not in result.output


def test_chat_warns_on_an_open_host_without_a_password(launched) -> None:
    result = _chat("--host", "0.0.0.0", "--port", "8123", env={"KOTAE_AUTH": ""})
    assert result.exit_code == 0, result.output
    assert "warning" in result.output and "--auth" in result.output
    assert launched[0]["host"] == "0.0.0.0" and launched[0]["port"] == 8123


def test_chat_takes_auth_from_the_environment(launched) -> None:
    result = _chat("--host", "0.0.0.0", env={"KOTAE_AUTH": "alice:s3cret"})
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output
    assert launched[0]["auth"] == "alice:s3cret"


def test_chat_rejects_malformed_auth(launched) -> None:
    result = _chat("--auth", "no-colon")
    assert result.exit_code == 2 and "user:password" in result.output
    assert "Traceback" not in result.output and not launched


# --- uploads: the client's file name is never trusted ---------------------------


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\win.ini", "win.ini"),
        ("/abs/path/レポート.txt", "レポート.txt"),
        (".hidden.md", "hidden.md"),
        ("...", "upload"),
        ("a\x00b\x1f\u202ec.txt", "abc.txt"),
        ("CON.txt", "upload_CON.txt"),
        ('x<y>:"z"|?.pdf', "x_y___z___.pdf"),
    ],
)
def test_safe_filename(sent: str, kept: str) -> None:
    assert safe_filename(sent) == kept


def test_safe_filename_caps_the_length_and_keeps_the_suffix() -> None:
    name = safe_filename("長" * 500 + ".html")
    assert len(name) <= 120 and name.endswith(".html")


def test_check_upload_type_and_size(tmp_path: Path) -> None:
    good = tmp_path / "memo.txt"
    good.write_text("本文", encoding="utf-8")
    assert check_upload(good, "memo.txt", max_bytes=1000).ok
    assert not check_upload(good, "memo.exe", max_bytes=1000).ok
    assert not check_upload(good, "memo", max_bytes=1000).ok
    too_big = check_upload(good, "memo.txt", max_bytes=2)
    assert not too_big.ok and "limit" in too_big.reason


def test_store_and_discard_stay_in_the_uploads_folder(tmp_path: Path) -> None:
    received = tmp_path / "received"
    received.write_text("x", encoding="utf-8")
    uploads = tmp_path / "uploads"
    kept = store_upload(received, "../../escape.txt", uploads)
    assert kept == uploads / "escape.txt" and kept.read_text(encoding="utf-8") == "x"
    assert not discard_upload("../received", uploads) and received.exists()
    assert discard_upload("escape.txt", uploads) and not kept.exists()


# --- HTML: document text is always escaped --------------------------------------


def _answer(text: str, passage: str, quote: str) -> Answer:
    citation = Citation(n=1, source="<b>evil</b>.txt", text=passage, quote=quote, score=1.0,
                        location={"section": "<i>sec</i>", "page": 3, "start": 0, "end": 1}, chunk_id="c")
    return Answer(question="q", text=text, abstained=False, language="ja", citations=[citation])


def test_sources_escape_and_highlight() -> None:
    passage = "前文。<script>alert(1)</script>は4月29日に開催された。後文。"
    answer = _answer("4月29日に開催された。 [1]", passage, "<script>alert(1)</script>は4月29日に開催された。")
    html = sources_html(answer)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<mark>&lt;script&gt;alert(1)&lt;/script&gt;は4月29日に開催された。</mark>" in html
    assert "&lt;b&gt;evil&lt;/b&gt;.txt" in html and "&lt;i&gt;sec&lt;/i&gt;" in html
    assert "3ページ" in html and "出典" in html


def test_answer_html_links_markers_and_escapes() -> None:
    html = answer_html(_answer("<img src=x onerror=alert(1)> **bold** [1]", "p", "p"))
    assert "<img" not in html and "&lt;img" in html
    assert 'class="kotae-ref"' in html and ">[1]</a>" in html
    assert "\n\n" not in html
    assert "<script" not in question_html("<script>x</script>")


def test_abstention_is_a_neutral_note() -> None:
    answer = Answer(question="q", text="I could not find this in the documents.", abstained=True, language="en")
    assert "kotae-abstain" in answer_html(answer) and "kotae-error" not in answer_html(answer)
    assert "do not answer" in sources_html(answer)
