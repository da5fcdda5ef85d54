"""The answer chain as a LangChain runnable: retrieve → answer → cite."""

from __future__ import annotations

from typing import Any

from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableLambda

from kotae.app.answers import Answer
from kotae.app.citing import cite
from kotae.app.extractive import ExtractiveAnswerer
from kotae.app.language import message
from kotae.app.question import QuestionAnalysis
from kotae.index.retrieval.query_plan import QueryPlan


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
        selection = inputs["selection"]
        if selection.abstained:
            return Answer(question=question.text, text=message("abstain", question.language), abstained=True, language=question.language)
        text, citations = cite(selection.candidates, inputs["documents"])
        return Answer(question=question.text, text=text, abstained=False, language=question.language, citations=citations)

    return (
        RunnableLambda(retrieve, name="retrieve")
        | RunnableLambda(answer, name="answer")
        | RunnableLambda(make_answer, name="cite")
    )
