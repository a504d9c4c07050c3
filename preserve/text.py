"""Words for messages the services log: counts with the noun in the right number."""

from __future__ import annotations

__all__ = ["plural"]


def plural(n: int, noun: str, plural: str | None = None) -> str:
    """``1 file``, ``2 files``, ``0 files``; ``plural`` where adding an s is wrong (``copies``)."""
    return f"{n} {noun}" if n == 1 else f"{n} {plural or noun + 's'}"
