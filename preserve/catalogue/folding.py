"""Accent- and case-insensitive matching for search: "zoe" finds "Zoë", "eglise" finds "ÉGLISE".

:func:`fold` is the one definition (Unicode NFKD, combining marks dropped, casefolded). SQLite
gets it as SQL functions ``fold(text)`` and ``fold_values(json)`` registered on every connection
(:func:`register_sqlite_functions`); PostgreSQL folds with ``unaccent()`` when that extension is
installed in the catalogue's database, and otherwise with ``translate()`` over the accented
Latin letters (:data:`TRANSLATE_FROM`, :data:`TRANSLATE_TO`), which needs no extension.
"""

from __future__ import annotations

import json
import unicodedata
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=4096)
def fold(text: str) -> str:
    """``text`` without accents and in folded case: NFKD, combining marks dropped, casefolded."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def sql_fold(value: Any) -> str | None:
    """:func:`fold` as a SQL function (NULL stays NULL; numbers are folded as text)."""
    return None if value is None else fold(str(value))


def values_of(description: Any) -> list[str]:
    """The values of a Dublin Core description (element -> list of values, or a value)."""
    if isinstance(description, str | bytes):
        try:
            description = json.loads(description)
        except ValueError:
            return []
    if not isinstance(description, dict):
        return []
    out: list[str] = []
    for key, values in description.items():
        if str(key).startswith("_"):  # reserved: "_lang" holds the values' languages
            continue
        for value in [values] if isinstance(values, str) else values or ():
            out.append(str(value))
    return out


def sql_fold_values(description: Any) -> str | None:
    """The folded values of a JSON description, one per line (its keys left out), for SQLite."""
    if description is None:
        return None
    return "\n".join(fold(v) for v in values_of(description))


def register_sqlite_functions(dbapi_connection: Any) -> None:
    """Make ``fold(text)`` and ``fold_values(json)`` available to SQL on a sqlite3 connection."""
    dbapi_connection.create_function("fold", 1, sql_fold, deterministic=True)
    dbapi_connection.create_function("fold_values", 1, sql_fold_values, deterministic=True)


def _translation() -> tuple[str, str]:
    """The letters of Latin-1 Supplement and Latin Extended-A/B whose fold is one other letter,
    and those letters: PostgreSQL's ``translate()`` fallback when ``unaccent`` is missing."""
    source, target = [], []
    for code in range(0xC0, 0x250):
        char = chr(code)
        folded = fold(char)
        if len(folded) == 1 and folded != char and folded.isascii():
            source.append(char)
            target.append(folded)
    return "".join(source), "".join(target)


TRANSLATE_FROM, TRANSLATE_TO = _translation()
