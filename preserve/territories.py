"""ISO 3166-1 alpha-2 country codes, from Babel's territory list (CLDR): the codes an
agreement's allowed regions and a storage location's jurisdiction may name.

CLDR lists more two-letter territories than ISO 3166-1 assigns: its macro-regions and private-use
codes (EU, EZ, QO, UN, XA, XB, XK, ZZ) and ISO's exceptionally reserved codes (AC, CP, CQ, DG,
EA, IC, TA). Those are left out; ``EU`` is admitted by the callers that accept it on its own.
"""

from __future__ import annotations

import functools

from babel import Locale

_NOT_ASSIGNED = frozenset(
    {"EU", "EZ", "QO", "UN", "XA", "XB", "XK", "ZZ", "AC", "CP", "CQ", "DG", "EA", "IC", "TA"}
)


@functools.cache
def country_codes() -> frozenset[str]:
    """The assigned ISO 3166-1 alpha-2 codes (249 of them), upper-case."""
    codes = (str(code) for code in Locale("en").territories)
    return frozenset(
        code for code in codes if len(code) == 2 and code.isalpha() and code not in _NOT_ASSIGNED
    )


def is_region(code: str) -> bool:
    """True for an assigned ISO 3166-1 alpha-2 code or ``EU`` (upper-case expected)."""
    return code == "EU" or code in country_codes()
