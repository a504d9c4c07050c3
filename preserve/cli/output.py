"""Text and JSON output shared by the commands: counts with singulars, sizes, JSON."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import click


def as_dict(value: Any) -> Any:
    """:func:`preserve.values.as_dict`, imported on first use (not every command prints JSON)."""
    from preserve.values import as_dict as convert

    return convert(value)


def emit_json(data: Any) -> None:
    click.echo(json_text(data))


def _json_default(value: Any) -> Any:
    converted = as_dict(value)
    return str(value) if converted is value else converted


def json_text(value: Any, level: int = 0) -> str:
    """JSON indented by two spaces, except that the items of a long list (the files of a large
    package) sit one per line: json's C encoder renders them, so 100,000 files take a moment."""
    if isinstance(value, dict) and value:
        pad = "  " * (level + 1)
        items = [
            f"{pad}{json.dumps(str(k), ensure_ascii=False)}: {json_text(v, level + 1)}"
            for k, v in value.items()
        ]
        return "{\n" + ",\n".join(items) + "\n" + "  " * level + "}"
    if isinstance(value, list | tuple) and value:
        pad = "  " * (level + 1)
        if len(value) > _COMPACT_LIST:
            items = [pad + json.dumps(v, ensure_ascii=False, default=_json_default) for v in value]
        else:
            items = [pad + json_text(v, level + 1) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + "  " * level + "]"
    if not isinstance(value, str | int | float | bool | type(None) | dict | list | tuple):
        converted = as_dict(value)
        if converted is not value:
            return json_text(converted, level)
    return json.dumps(value, ensure_ascii=False, default=str)


_COMPACT_LIST = 100  # longer lists in JSON output get one item per line


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``1 file``, ``2 files``; ``plural`` where adding an s is wrong (``copies``)."""
    return f"{n} {noun}" if n == 1 else f"{n} {plural or noun + 's'}"


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} PB"


def table(
    headers: Sequence[str], rows: Iterable[Sequence[str]], right: Sequence[int] = ()
) -> list[str]:
    """Lines of aligned columns under ``headers`` (columns in ``right`` aligned right); the
    last column is not padded."""
    rows = [tuple(r) for r in rows]
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *rows, strict=True)]
    out = []
    for row in (tuple(headers), *rows):
        cells = [
            str(cell).rjust(width) if i in right else str(cell).ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        cells[-1] = str(row[-1]) if len(row) - 1 not in right else cells[-1]
        out.append("  ".join(cells).rstrip())
    return out


def problem_json(p: Any) -> dict[str, str]:
    return {"code": p.code, "path": p.path, "message": p.message}
