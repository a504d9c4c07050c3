"""match_known: content a package already holds is found before staging, by size then SHA-512,
and takes its format from the catalogue (it is neither copied nor identified again)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from preserve.ingest.model import Delivery, StagedFile
from preserve.ingest.store import Location
from preserve.ingest.versions import Base, BaseFile, compare, match_known
from preserve.progress import NoProgress
from preserve.values import FormatInfo, FormatMatch, as_dict

FMT = FormatInfo(
    puid="x-fmt/111",
    format_name="Plain Text File",
    format_version="",
    basis="text match",
    warnings=("match on text only",),
    matches=(FormatMatch("x-fmt/111", "Plain Text File", "", "text/plain", "text", ""),),
    mime="text/plain",
    tool="siegfried 1.11.9",
    signature_version="DROID_SignatureFile_V125.xml",
)


def _held(path: str, data: bytes, version: int = 1) -> BaseFile:
    return BaseFile(
        path=path,
        size=len(data),
        sha512=hashlib.sha512(data).hexdigest(),
        sha256=hashlib.sha256(data).hexdigest(),
        digests={},
        stored_version=version,
        stored_path=path,
        puid=FMT.puid,
        identification=as_dict(FMT),
    )


def test_held_content_is_found_by_size_then_digest(tmp_path: Path) -> None:
    contents = {"same.txt": b"unchanged\n", "moved.txt": b"renamed me\n", "edit.txt": b"AAAA\n"}
    base = Base(
        package_id="p",
        number=1,
        organisation="o",
        collection="c",
        collection_id=1,
        title="t",
        description={},
        bag_info=[],
        payload_fingerprint="f",
        external_identifier=None,
        locations=(Location(1, "default", (tmp_path / "store").as_uri()),),
        files={f"data/{k}": _held(f"data/{k}", v) for k, v in contents.items()},
    )
    delivery_root = tmp_path / "d"
    delivery_root.mkdir()
    (delivery_root / "same.txt").write_bytes(b"unchanged\n")
    (delivery_root / "new-name.txt").write_bytes(b"renamed me\n")
    (delivery_root / "edit.txt").write_bytes(b"BBBB\n")  # same size, other content
    (delivery_root / "added.txt").write_bytes(b"something else entirely\n")
    files = [
        StagedFile(relpath=p.name, source=str(p), size=p.stat().st_size)
        for p in sorted(delivery_root.iterdir())
    ]
    delivery = Delivery(delivery_root, delivery_root, files, [], [], {}, [], "d")
    known = match_known(base, delivery, ("sha512", "sha256"), workers=2, progress=NoProgress())
    assert sorted(known) == ["data/new-name.txt", "data/same.txt"]
    assert known["data/new-name.txt"].path == "data/moved.txt"
    by_name = {f.relpath: f for f in files}
    assert by_name["same.txt"].fmt == FMT  # from the catalogue, not identified again
    assert by_name["same.txt"].digests["sha512"] == base.files["data/same.txt"].sha512
    assert by_name["edit.txt"].fmt is None and by_name["edit.txt"].digests == {}
    # once the rest is staged (hashed), the changes are told apart
    for name in ("edit.txt", "added.txt"):
        data = (delivery_root / name).read_bytes()
        by_name[name].digests = {"sha512": hashlib.sha512(data).hexdigest()}
    changes = compare(base, files)
    assert changes.modified == ("data/edit.txt",)
    assert changes.added == ("data/added.txt",)
    assert changes.renamed == (("data/moved.txt", "data/new-name.txt"),)
    assert changes.unchanged == 1 and changes.removed == ()
    assert set(changes.fetched) == set(known)
