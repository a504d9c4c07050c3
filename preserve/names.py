"""Unknown names answered with the nearest existing ones ("did you mean ...?").

Every lookup of a name a person typed (an organisation, a collection, a location) that finds
nothing raises :func:`unknown`, so a misspelling is never taken for a new name and the message
always says what does exist.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from preserve.errors import NotFound

#: How many existing names are listed when none is close to the one given.
_LISTED = 10


#: The shortest name a partial match (``partial=True``) is looked for with.
_PARTIAL = 3


def suggestions(
    name: str, candidates: Iterable[str], limit: int = 3, *, partial: bool = False
) -> list[str]:
    """The existing names closest to ``name`` (case-insensitive), best first. With
    ``partial``, the names that start with ``name`` (of three characters or more), then those
    that contain it, come first: ``gdpr`` is too short beside ``gdpr_request`` to be close."""
    by_folded: dict[str, str] = {}
    for candidate in candidates:
        by_folded.setdefault(candidate.casefold(), candidate)
    folded = name.casefold()
    found: list[str] = []
    if partial and len(folded) >= _PARTIAL:
        found += [c for c in by_folded if c.startswith(folded) and c != folded]
        found += [c for c in by_folded if folded in c[1:] and c not in found]
    close = difflib.get_close_matches(folded, list(by_folded), n=limit, cutoff=0.6)
    found += [c for c in close if c not in found]
    return [by_folded[c] for c in found[:limit]]


def unknown(kind: str, name: str, candidates: Iterable[str], *, where: str = "") -> NotFound:
    """A :class:`NotFound` for ``kind`` ``name`` that says what exists: "did you mean ...?" with
    the closest names, else the names there are (or that there are none, and how to add one)."""
    existing = sorted(set(candidates), key=str.casefold)
    place = f" in {where}" if where else ""
    message = f"no {kind} {name!r}{place}"
    close = suggestions(name, existing)
    if close:
        message += "; did you mean " + " or ".join(repr(c) for c in close) + "?"
    elif existing:
        shown = ", ".join(existing[:_LISTED])
        more = f" and {len(existing) - _LISTED} more" if len(existing) > _LISTED else ""
        plural = kind if len(existing) == 1 else _plural(kind)
        message += f" (the {plural}{place}: {shown}{more})"
    else:
        message += f" (there is no {kind}{place} yet)"
    return NotFound(message)


def collection_not_found(
    slug: str, organisation: str, in_organisation: Iterable[str], elsewhere: Iterable[str]
) -> NotFound:
    """The error for collection ``slug`` missing from ``organisation``: when the organisations
    ``elsewhere`` have one of that name, it says so and how to name one (a collection is looked
    up in the default organisation unless --organisation is given); else "did you mean ...?"
    with the collections ``in_organisation``."""
    others = sorted(set(elsewhere) - {organisation})
    if not others:
        return unknown("collection", slug, in_organisation, where=f"organisation {organisation!r}")
    if len(others) == 1:
        advice = f"it exists in {others[0]}: add --organisation {others[0]}"
    else:
        advice = (
            f"it exists in {', '.join(others[:-1])} and {others[-1]}: add --organisation with "
            "one of them"
        )
    return NotFound(f"no collection {slug!r} in organisation {organisation!r}; {advice}")


def _plural(noun: str) -> str:
    return noun[:-1] + "ies" if noun.endswith("y") else noun + "s"
