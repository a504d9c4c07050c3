"""What a producer hands over besides the payload: descriptions of single files (item-level
rows of the ``--metadata`` CSV) and an incoming bag's own tag files (submission documentation).

Both go into the AIP as tag files, so the bag alone still says what was received:

* ``metadata/items.csv``: one row per described file, ``path`` being its path in the bag
  (``data/...``), one column per value of each Dublin Core term (the ``--metadata`` CSV format,
  so it can be read back with the same rules);
* ``metadata/submission/<path in the incoming bag>``: its bagit.txt, bag-info.txt, manifests,
  tag manifests and other tag files, byte for byte; listed in the AIP's tag manifests.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import Path

from preserve.bagit import BagWriter
from preserve.descriptive import ItemRow, items_csv
from preserve.errors import InvalidInput
from preserve.ingest.model import Delivery
from preserve.ingest.receive import SUBMISSION_FOLDER

ITEMS_CSV = "metadata/items.csv"


def absent_items(source: Path, rows: Sequence[ItemRow]) -> list[str]:
    """Before any work: the rows (where they are in the CSV) that name no regular file inside
    the delivery ``source``. Archives are checked once unpacked (:func:`match_items`). Rows
    that name a folder inside it are refused at once (:func:`folder_rows`)."""
    from preserve import archives

    if source.is_file() and (archives.is_archive(source) or archives.claimed_kind(source)):
        return []
    bag = source.is_dir() and (source / "bagit.txt").is_file()
    absent = []
    folders = []
    for row in rows:
        candidates = [source / row.relpath] if source.is_dir() else []
        if bag and not row.relpath.startswith("data/"):
            candidates = [source / "data" / row.relpath]
        if any(p.is_file() and not p.is_symlink() for p in candidates):
            continue
        if any(p.is_dir() and not p.is_symlink() for p in candidates):
            folders.append(row.where)
        else:
            absent.append(row.where)
    if folders:
        raise item_rows_refused(source, absent, folders)
    return absent


def _folder_rows(rows: Sequence[str]) -> str:
    what = "row names a folder" if len(rows) == 1 else f"{len(rows)} rows name folders"
    return f"{what}, not a file: item rows describe single files: {'; '.join(rows)}"


def _absent_rows(absent: Sequence[str], delivery: Path | str) -> str:
    what = "row names a file" if len(absent) == 1 else f"{len(absent)} rows name files"
    example = Path(delivery).name if isinstance(delivery, Path) else "B2"
    return (
        f"{what} that {'is' if len(absent) == 1 else 'are'} not in the delivery {delivery}: "
        f"{'; '.join(absent)} (a row for one file gives the delivery's path, then / or \\, "
        f"then the file's path inside it, e.g. {example}\\sub\\a.txt)"
    )


def not_in_delivery(absent: Sequence[str], delivery: Path | str) -> InvalidInput:
    """The error for rows that name files not in ``delivery``: every one of them, at once."""
    return InvalidInput(_absent_rows(absent, delivery))


def item_rows_refused(
    delivery: Path | str, absent: Sequence[str], folders: Sequence[str]
) -> InvalidInput:
    """The error for rows inside ``delivery`` that name a folder (item rows describe single
    files) and, in the same message, those that name nothing in it."""
    parts = [_folder_rows(folders)] if folders else []
    if absent:
        parts.append(_absent_rows(absent, delivery))
    return InvalidInput("; and ".join(parts))


def match_items(delivery: Delivery, rows: Sequence[ItemRow]) -> dict[str, dict[str, list[str]]]:
    """The item descriptions by payload path (``StagedFile.relpath``). A row for an incoming
    bag may name the file with or without ``data/``. Every row that names no payload file of
    the delivery is reported at once, as one :class:`InvalidInput`."""
    if not rows:
        return {}
    by_nfc = {unicodedata.normalize("NFC", f.relpath): f.relpath for f in delivery.files}
    bag = bool(delivery.submission)
    folders = {p for f in by_nfc for p in _parents(f)}
    found: dict[str, dict[str, list[str]]] = {}
    missing: list[str] = []
    in_folders: list[str] = []
    for row in rows:
        relpath = unicodedata.normalize("NFC", row.relpath)
        inside = delivery.payload_root is not None
        real = by_nfc.get(relpath) if inside else None
        if real is None and bag and relpath.startswith("data/"):
            relpath = relpath[len("data/") :]
            real = by_nfc.get(relpath)
        if real is not None:
            found[real] = row.fields
        elif inside and relpath.rstrip("/") in folders:
            in_folders.append(row.where)
        else:
            missing.append(row.where)
    if in_folders:
        raise item_rows_refused(delivery.source, missing, in_folders)
    if missing:
        raise not_in_delivery(missing, delivery.source)
    return found


def _parents(relpath: str) -> list[str]:
    """The folders ``relpath`` lies in: ``a/b/c.txt`` -> ``a``, ``a/b``."""
    parts = relpath.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def write_producer_metadata(
    writer: BagWriter, delivery: Delivery, items: Mapping[str, Mapping[str, Sequence[str]]]
) -> None:
    """Write ``metadata/items.csv`` (when files are described) and the submission documents."""
    if items:
        writer.add_tag_file(ITEMS_CSV, items_csv({f"data/{p}": f for p, f in items.items()}))
    for relpath, source in delivery.submission:
        with (
            open(source, "rb") as src,
            writer.open_tag_file(f"{SUBMISSION_FOLDER}/{relpath}") as out,
        ):
            while chunk := src.read(1 << 20):
                out.write(chunk)
