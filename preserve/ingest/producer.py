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
    the delivery ``source``. Archives are checked once unpacked (:func:`match_items`)."""
    from preserve import archives

    if source.is_file() and (archives.is_archive(source) or archives.claimed_kind(source)):
        return []
    bag = source.is_dir() and (source / "bagit.txt").is_file()
    absent = []
    for row in rows:
        candidates = [source / row.relpath] if source.is_dir() else []
        if bag and not row.relpath.startswith("data/"):
            candidates = [source / "data" / row.relpath]
        if not any(p.is_file() and not p.is_symlink() for p in candidates):
            absent.append(row.where)
    return absent


def not_in_delivery(absent: Sequence[str], delivery: Path | str) -> InvalidInput:
    """The error for rows that name files not in ``delivery``: every one of them, at once."""
    what = "row names a file" if len(absent) == 1 else f"{len(absent)} rows name files"
    return InvalidInput(
        f"{what} that {'is' if len(absent) == 1 else 'are'} not in the delivery {delivery}: "
        f"{'; '.join(absent)} (a file's row gives the delivery's path, '/', and the file's "
        "path inside it)"
    )


def match_items(delivery: Delivery, rows: Sequence[ItemRow]) -> dict[str, dict[str, list[str]]]:
    """The item descriptions by payload path (``StagedFile.relpath``). A row for an incoming
    bag may name the file with or without ``data/``. Every row that names no payload file of
    the delivery is reported at once, as one :class:`InvalidInput`."""
    if not rows:
        return {}
    by_nfc = {unicodedata.normalize("NFC", f.relpath): f.relpath for f in delivery.files}
    bag = bool(delivery.submission)
    found: dict[str, dict[str, list[str]]] = {}
    missing: list[str] = []
    for row in rows:
        relpath = unicodedata.normalize("NFC", row.relpath)
        real = by_nfc.get(relpath) if delivery.payload_root is not None else None
        if real is None and bag and relpath.startswith("data/"):
            real = by_nfc.get(relpath[len("data/") :])
        if real is None:
            missing.append(row.where)
        else:
            found[real] = row.fields
    if missing:
        raise not_in_delivery(missing, delivery.source)
    return found


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
