"""The extractive answerer as an :class:`~kotae.app.answer.base.Answerer`, and its LangChain chain: retrieve → answer → cite."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableLambda

from kotae.app.answer.answers import Answer
from kotae.app.answer.citing import cite
from kotae.app.answer.extractive import ExtractiveAnswerer, Selection
from kotae.app.language import message
from kotae.app.question import QuestionAnalysis, analyse
from kotae.index.retrieval.query_plan import QueryPlan


def cited_answer(question: str, language: str, selection: Selection, documents: Sequence[Document]) -> Answer:
    """The Answer of the sentences chosen from ``documents``, cited; or the abstention."""
    if selection.abstained:
        return Answer(question=question, text=message("abstain", language), abstained=True, language=language)
    text, citations = cite(selection.candidates, documents)
    return Answer(question=question, text=text, abstained=False, language=language, citations=citations)


class CitingAnswerer:
    """The extractive answerer as an Answerer: choose the sentences, then cite them.

    Args:
        answerer: The sentence selector.
    """

    def __init__(self, answerer: ExtractiveAnswerer) -> None:
        self.answerer = answerer

    def answer(
        self,
        question: str,
        language: str,
        documents: Sequence[Document],
        *,
        analysis: QuestionAnalysis | None = None,
        plan: QueryPlan | None = None,
    ) -> Answer:
        """The Answer to ``question`` from ``documents`` (best first), or an abstention.

        Args:
            question: The question as asked.
            language: Its language (of the Answer and its abstention message).
            documents: The retrieved passages, best first.
            analysis: The question's analysis, when the caller has it (made here otherwise).
            plan: The retrieval's plan, whose vector and translations are reused
                (a plan of ``question`` is made here otherwise).
        """
        analysis = analysis or analyse(question, self.answerer.tokenize)
        plan = plan or QueryPlan(question, self.answerer.embeddings)
        selection = self.answerer.select(analysis, plan.vector, documents, plan=plan)
        return cited_answer(question, language, selection, documents)


def build_extractive_chain(retriever: BaseRetriever, answerer: ExtractiveAnswerer) -> Runnable[dict[str, Any], Answer]:
    """The extractive chain.

    Its input is a dict with ``question`` (a :class:`QuestionAnalysis`) and
    ``query`` (the retrieval query: the question, or the question joined with
    the previous one for a follow-up), and optionally ``plan``, the query's
    :class:`QueryPlan` (made here otherwise): the retriever, the re-ranker and
    the answerer share it, so the question is embedded and translated once.
    Its output is an :class:`Answer`.

    Args:
        retriever: Any LangChain retriever returning passages with kotae's metadata.
        answerer: The sentence selector.

    Returns:
        A runnable from the input dict to an Answer.
    """

    def retrieve(inputs: dict[str, Any]) -> dict[str, Any]:
        plan = inputs.get("plan") or QueryPlan(inputs["query"], answerer.embeddings)
        return {**inputs, "plan": plan, "documents": retriever.invoke(inputs["query"], plan=plan)}

    def answer(inputs: dict[str, Any]) -> dict[str, Any]:
        question: QuestionAnalysis = inputs["question"]
        plan: QueryPlan = inputs["plan"]
        selection = answerer.select(question, plan.vector, inputs["documents"], plan=plan)
        return {**inputs, "selection": selection}

    def make_answer(inputs: dict[str, Any]) -> Answer:
        question: QuestionAnalysis = inputs["question"]
        return cited_answer(question.text, question.language, inputs["selection"], inputs["documents"])

    return (
        RunnableLambda(retrieve, name="retrieve")
        | RunnableLambda(answer, name="answer")
        | RunnableLambda(make_answer, name="cite")
    )
