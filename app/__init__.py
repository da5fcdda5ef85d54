"""kotae.app: answers with cited passages (Python API, CLI and web UI).

Example:
    >>> from kotae.app import ask
    >>> answer = ask("G7広島サミットはいつ開催されましたか")
    >>> print(answer.text)
"""

from kotae.app.answer.answers import Answer, Citation
from kotae.app.assistant import Assistant, ask
from kotae.app.settings import Settings, get_settings
from kotae.ingest.errors import IndexStateError, InputError, KotaeError, LLMError

__all__ = [
    "Answer",
    "Assistant",
    "Citation",
    "IndexStateError",
    "InputError",
    "KotaeError",
    "LLMError",
    "Settings",
    "ask",
    "get_settings",
]
