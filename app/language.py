"""Tell Japanese from English, and the fixed messages in each."""

from __future__ import annotations

import re

_JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff66-\uff9f]")
_LATIN_LETTER = re.compile(r"[A-Za-z]")

MESSAGES: dict[str, dict[str, str]] = {
    "abstain": {
        "ja": "資料には該当する記述が見つかりませんでした。",
        "en": "I could not find this in the documents.",
    },
    "unseen_names": {
        "ja": "資料には「{names}」が出てきません。",
        "en": "The documents never mention {names}.",
    },
    "trimmed": {
        "ja": "質問が長すぎるため、先頭の{limit}文字だけを使いました。",
        "en": "The question was too long; only its first {limit} characters were used.",
    },
    "empty_index": {
        "ja": "まだ文書が登録されていません。文書を追加してください。",
        "en": "No documents are indexed yet. Add some documents first.",
    },
}


def detect_language(text: str) -> str:
    """Return ``"ja"`` when the text contains Japanese script, else ``"en"``."""
    return "ja" if _JAPANESE.search(text) else "en"


def prose_language(text: str) -> str:
    """The language of a passage: ``"ja"`` when its Japanese-script characters are at least half as many as its Latin letters.

    A kanji says what two or three letters do. Unlike :func:`detect_language`
    (for questions, where one Japanese character decides), English prose that
    glosses a name in Chinese characters (元朝) stays English.
    """
    japanese = len(_JAPANESE.findall(text))
    return "ja" if japanese and 2 * japanese >= len(_LATIN_LETTER.findall(text)) else "en"


def message(key: str, language: str, **values: object) -> str:
    """A fixed message in the given language (English when unknown)."""
    table = MESSAGES[key]
    return table.get(language, table["en"]).format(**values)
