"""kotae.eval: run an evaluation set through the assistant and score it.

Typical use from a test::

    from kotae.app import Assistant
    from kotae.eval import default_set_path, load_questions, run_eval

    report = run_eval(load_questions(default_set_path()), assistant=Assistant())
    assert report.summary["by_lang"]["ja"]["accuracy"] >= 0.7
"""

from __future__ import annotations

from kotae.eval.dataset import Evidence, Question, default_set_path, detect_language, load_questions
from kotae.eval.runner import ABLATIONS, EvalConfig, EvalReport, evaluate_config, run_ablations, run_eval
from kotae.eval.scoring import QuestionResult, normalize, score_question, strip_markers, summarize

__all__ = [
    "ABLATIONS",
    "EvalConfig",
    "EvalReport",
    "Evidence",
    "Question",
    "QuestionResult",
    "default_set_path",
    "detect_language",
    "evaluate_config",
    "load_questions",
    "normalize",
    "run_ablations",
    "run_eval",
    "score_question",
    "strip_markers",
    "summarize",
]
