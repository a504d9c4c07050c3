"""Deliveries with known descriptions and files, for the search, dashboard and packages tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image


def delivery(
    root: Path,
    name: str,
    *,
    title: str,
    creator: str = "",
    date: str = "",
    description: str = "",
    files: dict[str, str] | None = None,
    image: str | None = None,
) -> tuple[Path, Path]:
    """A folder ``root/name`` with text files (path -> content) and optionally a PNG image,
    and a metadata CSV describing it; returns (folder, csv)."""
    folder = root / name
    folder.mkdir(parents=True)
    for path, content in (files or {"readme.txt": f"{name}\n"}).items():
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
    if image:
        target = folder / image
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8), (200, 30, 30)).save(target)
    csv = root / f"{name}.csv"
    csv.write_text(
        f"path;title;creator;date;description\n{name};{title};{creator};{date};{description}\n",
        encoding="utf-8",
    )
    return folder, csv


def ingest(site: Any, root: Path, name: str, collection: str = "photos", **kw: Any) -> dict:
    folder, csv = delivery(root, name, **kw)
    return site.ingest(folder, collection, "--metadata", str(csv))
