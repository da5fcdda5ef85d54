"""Answers from the real pipeline: right facts, citations, abstention, the Python API."""

from __future__ import annotations

import unicodedata

import pytest

from kotae.app import Answer, InputError


def _norm(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split()).casefold()


# Questions written for these tests (not the eval set), with facts an answer must contain.
ANSWERABLE = [
    ("G7群馬高崎デジタル・技術大臣会合はいつ開催されましたか", ["4月29日"]),
    ("G7広島サミットの開催期間を教えてください", ["5月19日"]),
    ("国際戦略局を構成する課を挙げてください", ["国際戦略課", "宇宙通信政策課"]),
    ("群馬高崎の会合で共同議長を務めたのは誰ですか", ["松本", "河野", "西村"]),
    ("保健大臣会合の開催地はどこですか", ["長崎"]),
    ("閣僚宣言には附属書がいくつ含まれていますか", ["5つ"]),
    ("総務省海外展開行動計画2025はいつ策定されましたか", ["令和4年7月"]),
    ("When did the G7 Gunma-Takasaki Digital and Tech Ministers' Meeting take place?", ["4月29日"]),
    ("What public research institution specialises in information and communications?", ["情報通信研究機構"]),
    ("When was the G7 Hiroshima Leaders' Communiqué issued?", ["5月20日"]),
    ("In which city was the G7 Health Ministers' Meeting held?", ["長崎"]),
    ("Who were the co-chairs of the Gunma-Takasaki ministers' meeting?", ["松本"]),
    # A romanised place name read as the table's kanji (Takamatsu → 高松) is evidence, like G7.
    ("Which meeting was held in Toyama and Kanazawa?", ["教育大臣会合"]),
    ("When was the Nagasaki meeting held?", ["5/13"]),
    ("What did Kurashiki host for the G7 in 2023?", ["労働雇用大臣会合"]),
    # The only name (G7) is not in the answering passage; the translated words vouch for it.
    ("Which summit on digital competition will be held this autumn?", ["デジタル競争サミット"]),
    # A heading names the topic; the sentences under it answer, though they do not repeat it.
    ("「デジタル市場における競争政策」のポイントは何ですか？", ["デジタル競争サミット"]),
    ("「安全で強靱なデジタルインフラ構築」について閣僚宣言では何が合意されましたか？", ["将来ネットワークのビジョン"]),
    ("Which G20 ministerial meeting was held in 2019?", ["つくば"]),
    # どこ asks for a body here, not a place.
    ("G7群馬高崎デジタル・技術大臣会合を開催したのはどこですか？", ["総務省"]),
    ("情報通信分野を専門とする唯一の公的研究機関はどこですか？", ["情報通信研究機構"]),
]

OFF_TOPIC = [
    "総務省国際戦略局の年間予算はいくらですか",
    "群馬高崎の会合には何人の記者が参加しましたか",
    "群馬高崎の会合の参加者数は？",
    "What is the population of Takasaki city?",
    "How many employees work at the Global Strategy Bureau?",
    "What is the population of Takamatsu?",
    "Who was the mayor of Nikko in 2023?",
    "Who is the governor of Kagawa prefecture?",
    "Which hotel in Takasaki hosted the ministers?",
    # A year the documents never speak of: sentences about 2023 do not answer.
    "2020年に開かれたG7の会合はどこで開催されましたか？",
    "What did the G7 digital ministers agree on in 2021?",
    # A long sentence names numbers and countries, but in clauses about something else.
    "What is the phone number of the Global Strategy Bureau?",
    "Which countries were invited to the Takasaki ministers' meeting?",
    # The sentence names a city (つくば) in its clause about 2019, not about 2022.
    "2022年のG7デジタル大臣会合はどの都市で開かれましたか？",
]


# The trained reader (the default answerer) on the questions above, measured
# 2026-12-07: 14 of the 21 answers hold their facts, and it abstains on 4 of
# the 14 off-topic questions. The sentence scorer: 19 of 21 and 3 of 14. It
# held all 21 and abstained on all 14 while it checked the kind of answer a
# question asks for (a date, a place from lists of prefectures and countries)
# with rules fitted to these documents; on public data those rules cost it 7
# to 10 points, so issue 13 removed them (README: Evaluation).
HOLDS_FACTS_FLOOR = {"reader": 13, "scorer": 18}
ABSTAINS_FLOOR = {"reader": 3, "scorer": 2}


def _holds(answer: Answer, facts: list[str]) -> bool:
    return not answer.abstained and all(_norm(fact) in _norm(answer.text) for fact in facts)


def _assert_cited(answer: Answer) -> None:
    assert "[1]" in answer.text
    assert answer.citations and answer.citations[0].n == 1
    for citation in answer.citations:
        assert citation.source.endswith(".txt")
        # The quote is a real piece of the passage it cites: the UI highlights it there.
        assert citation.quote and citation.quote in citation.text
        assert f"[{citation.n}]" in answer.text


def _assert_abstention(answer: Answer) -> None:
    assert answer.citations == []
    expected = "資料には該当する記述が見つかりませんでした。" if answer.language == "ja" else "I could not find this in the documents."
    assert answer.text == expected


def _answerer(request: pytest.FixtureRequest, name: str):
    return request.getfixturevalue("assistant" if name == "reader" else "scorer")


@pytest.mark.parametrize("name", ["reader", "scorer"])
def test_answers_cite_their_passages_and_hold_the_facts(request: pytest.FixtureRequest, name: str) -> None:
    answerer = _answerer(request, name)
    answers = [(answerer.fork().ask(question), facts) for question, facts in ANSWERABLE]
    for answer, _ in answers:
        if not answer.abstained:
            _assert_cited(answer)
            if name == "reader":
                # The exact answer is a piece of the passage the first marker cites.
                start, end = answer.citations[0].answer_span
                assert answer.short == answer.citations[0].text[start:end]
    held = [answer.question for answer, facts in answers if _holds(answer, facts)]
    assert len(held) >= HOLDS_FACTS_FLOOR[name], f"{len(held)} of {len(answers)} hold their facts: {held}"


@pytest.mark.parametrize("name", ["reader", "scorer"])
def test_answerers_abstain_on_some_off_topic_questions(request: pytest.FixtureRequest, name: str) -> None:
    answers = [_answerer(request, name).fork().ask(question) for question in OFF_TOPIC]
    abstained = [answer for answer in answers if answer.abstained]
    for answer in abstained:
        _assert_abstention(answer)
    assert len(abstained) >= ABSTAINS_FLOOR[name], [a.question for a in abstained]


@pytest.mark.parametrize(("question", "name"), [("ケーララ州で開かれたG7の会合は何ですか？", "ケーララ"), ("ストラスブールで開かれた会合は？", "ストラスブール")])
def test_reader_abstains_on_a_name_no_document_mentions(assistant, question: str, name: str) -> None:
    answer = assistant.fork().ask(question)
    _assert_abstention(answer)
    assert answer.notice == f"資料には「{name}」が出てきません。"


@pytest.mark.parametrize("question", ["ヴィッシング大臣と協力覚書に署名したのは誰ですか？", "JICTと連携して何を推進していますか？"])
def test_names_the_documents_hold_leave_the_reader_to_answer(assistant, question: str) -> None:
    # ヴィッシング and JICT are rare words (several vocabulary pieces) that the corpus writes.
    answer = assistant.fork().ask(question)
    assert not answer.abstained and answer.notice is None
    _assert_cited(answer)


def test_reader_answers_each_part_of_a_two_part_question(assistant) -> None:
    # Each clause is read on its own; the facts lie in two sentences of two passages.
    answer = assistant.fork().ask("情報通信分野を専門とする唯一の公的研究機関はどこで、総務省はどんな先端技術の研究開発を推進していますか？")
    assert _holds(answer, ["情報通信研究機構", "量子通信"]), answer.text
    _assert_cited(answer)


@pytest.mark.parametrize("question", ["G7広島サミットはいつ開催されましたか？", "When was the G7 Hiroshima Summit held?"])
def test_reader_gives_a_range_whole(assistant, question: str) -> None:
    # The summit ran 「5月19日から21日」: the reader marks one end, the answer is the range.
    answer = assistant.fork().ask(question)
    assert "19日" in answer.short and "21日" in answer.short, answer.short


def test_answer_language_follows_the_question(assistant) -> None:
    assert assistant.fork().ask("DFFTとは何ですか").language == "ja"
    assert assistant.fork().ask("What is DFFT?").language == "en"


def test_answers_are_short(assistant) -> None:
    answer = assistant.fork().ask("G7群馬高崎デジタル・技術大臣会合はいつ開催されましたか")
    # One or two sentences: the answer is a quote, not a page.
    assert answer.text.count("[") <= 3
    assert len(answer.text) < 400


def test_empty_question_is_refused(assistant) -> None:
    with pytest.raises(InputError, match="empty"):
        assistant.fork().ask("   \n\t ")


def test_long_question_is_trimmed_with_a_notice(assistant) -> None:
    answer = assistant.fork().ask("G7群馬高崎デジタル・技術大臣会合はいつ開催されましたか" + "あ" * 3000)
    assert answer.notice and "2000" in answer.notice
    assert len(answer.question) == 2000


def test_to_dict_has_the_api_field_names(assistant) -> None:
    data = assistant.fork().ask("DFFTとは何ですか").to_dict()
    assert {"text", "abstained", "language", "citations"} <= set(data)
    assert {"n", "source", "text", "quote", "score", "location"} <= set(data["citations"][0])


def test_follow_up_borrows_the_previous_question(assistant) -> None:
    conversation = assistant.fork()
    conversation.ask("G7広島サミットについて教えてください")
    follow_up = conversation.ask("それはいつ開催されましたか")
    assert "5月19日" in _norm(follow_up.text)
    assert len(conversation.history) == 2
    conversation.reset()
    assert conversation.history == []


def test_module_level_ask_uses_a_named_index(corpus_index_path) -> None:
    from kotae.app import ask

    answer = ask("保健大臣会合の開催地はどこですか", index=corpus_index_path)
    assert isinstance(answer, Answer)
    assert "長崎" in answer.text


def test_the_answerer_is_a_setting(monkeypatch: pytest.MonkeyPatch, corpus_index_path) -> None:
    from kotae.app import Settings, ask

    monkeypatch.delenv("KOTAE_ANSWERER", raising=False)
    assert Settings.from_env().answerer == "reader"
    monkeypatch.setenv("KOTAE_ANSWERER", "nonsense")
    with pytest.raises(InputError, match="answerer must be one of reader, scored"):
        Settings.from_env()
    question = "保健大臣会合の開催地はどこですか"
    monkeypatch.setenv("KOTAE_ANSWERER", "scored")
    by_scorer = ask(question, index=corpus_index_path)
    assert not by_scorer.short and by_scorer.citations[0].answer_span is None
    by_reader = ask(question, index=corpus_index_path, answerer="reader")  # the argument wins over the setting
    assert by_reader.short and by_reader.citations[0].answer_span is not None


def test_answers_use_the_sentence_vectors_kept_at_ingest(corpus_index_path) -> None:
    """A Japanese question embeds only itself: every sentence it scores was embedded at ingest."""
    from langchain_core.embeddings import Embeddings

    from kotae.app import Assistant
    from kotae.app.embedding_cache import CachedEmbeddings
    from kotae.app.settings import get_settings
    from kotae.index import DocumentIndex, load_embeddings

    settings = get_settings()
    model = load_embeddings(settings.model, cache_dir=settings.model_cache)

    class Watched(Embeddings):
        """The real model, counting the passage texts it is asked to embed."""

        model_name, weights, dimension = model.model_name, model.weights, model.dimension
        passages = 0

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            self.passages += len(texts)
            return model.embed_documents(texts)

        def embed_query(self, text: str) -> list[float]:
            return model.embed_query(text)

    watched = Watched()
    index = DocumentIndex.open(corpus_index_path, embeddings=CachedEmbeddings(watched), create=False)
    try:
        answer = Assistant(index).ask("G7広島サミットの開催期間を教えてください")
        assert "5月19日" in answer.text
        assert watched.passages == 0
    finally:
        index.close()
