"""The few exceptions kotae raises.

They live in the lowest layer so that every layer can raise them; the CLI and
the web UI translate them into one-line messages for the user.
"""

from __future__ import annotations


class KotaeError(Exception):
    """Base class of every error kotae reports to a user as a one-line message."""


class InputError(KotaeError):
    """The user gave something kotae cannot use (a bad question, file or option)."""


class DocumentError(InputError):
    """A file could not be read as a document; the message says why."""


class IndexStateError(KotaeError):
    """An index on disk is missing, damaged or was built with other settings."""


class LLMError(KotaeError):
    """The configured LLM endpoint failed; the message names the cause."""
