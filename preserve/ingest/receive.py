"""Stage 1, receive: work out what a delivery's payload is.

A folder, a single file, an existing BagIt bag (validated, its producer checksums kept for the
fixity check on receipt) or a zip/tar of one (unpacked with limits into the staging folder).
A folder or bag that is a meemoo SIP or an E-ARK CSIP/SIP (:mod:`preserve.sip`) is checked
against its METS files and its description read; the checksums it promises are verified after
staging (:func:`verify_promised`), from the digests of that one read. Nothing is copied or
hashed here: the result lists the files and what was learnt about them.
"""

from __future__ import annotations

import dataclasses
import os
import stat
from collections.abc import Sequence
from pathlib import Path

from preserve import archives, premis
from preserve.bagit import check_payload_names, read_bag, validate_bag
from preserve.errors import InvalidBag, InvalidInput, NameCollision
from preserve.ingest.model import Delivery, StagedFile, event
from preserve.sip import SipCheck, check_delivery, detect
from preserve.sip.checks import read_digests
from preserve.values import Problem

_ARCHIVE_SUFFIXES = (".tar.gz", ".tar.bz2", ".tar.xz", ".tgz", ".zip", ".tar")
#: bag-info elements that describe the bag as written, recomputed for the AIP
_RECOMPUTED = {"payload-oxum", "bag-size", "bagging-date", "bag-software-agent"}
#: the advice after every damaged-archive error of ingest
_KEEP_AS_FILE = "; to keep the file itself as it is, put it in a folder and ingest the folder"


def receive(
    source: Path, staging: Path, *, max_unpack_bytes: int, max_unpack_ratio: int
) -> Delivery:
    """The payload of ``source``; archives are unpacked under ``staging``."""
    events: list[premis.EventRecord] = []
    warnings: list[Problem] = []
    name = source.name
    root = source
    kind, unreadable = archives.examine(source) if source.is_file() else (None, None)
    if unreadable:
        claimed = archives.claimed_kind(source) or kind or "zip or tar"
        raise archives.DamagedArchive(
            f"{archives.unreadable(source, claimed, unreadable)}{_KEEP_AS_FILE}"
        )
    if kind is not None:
        target = staging / "unpacked"
        try:
            unpacked = archives.unpack(
                source, target, max_total_bytes=max_unpack_bytes, max_ratio=max_unpack_ratio
            )
        except archives.DamagedArchive as exc:
            raise archives.DamagedArchive(f"{exc}{_KEEP_AS_FILE}") from exc
        events.append(event(premis.UNPACKING, "success", f"unpacked {source.name}"))
        entries = list(target.iterdir())
        root = entries[0] if len(entries) == 1 and entries[0].is_dir() else target
        # paths inside the delivery, as every other warning names them: below the single top
        # folder, when the payload is that folder's content
        top = "" if root == target else root.name + "/"
        warnings.extend(
            dataclasses.replace(w, path=w.path[len(top) :]) if top and w.path.startswith(top) else w
            for w in unpacked
        )
        for suffix in _ARCHIVE_SUFFIXES:
            if name.lower().endswith(suffix):
                name = name[: -len(suffix)]
                break
    elif not source.is_file() and not source.is_dir():
        raise InvalidInput(f"{source}: not a regular file or folder")

    if root.is_dir() and (root / "bagit.txt").is_file():
        delivery = _receive_bag(source, root, name, events, warnings)
        delivery.kind = "bag"
        _receive_sip(delivery, root / "data", bag=True)
        return delivery
    if root.is_file():
        size = root.stat().st_size
        if size == 0:
            warnings.append(Problem("empty-file", root.name, "zero-byte file", "warning"))
        files = [StagedFile(relpath=root.name, source=str(root), size=size)]
        delivery = Delivery(source, None, files, warnings, [], {}, events, name)
        delivery.kind = "file"
        return delivery
    files, scan_warnings = scan_folder(root)
    warnings.extend(scan_warnings)
    if not files:
        raise InvalidInput(f"{source}: nothing to ingest (no regular files)")
    delivery = Delivery(source, root, files, warnings, [], {}, events, name)
    delivery.kind = "folder"
    _receive_sip(delivery, root, bag=False)
    return delivery


def _receive_sip(delivery: Delivery, root: Path, *, bag: bool) -> None:
    """A meemoo SIP or E-ARK CSIP/SIP at ``root`` (a folder's top, or a bag's ``data/``):
    check its structure and references, record its kind, profile and description, and keep
    what it promises for :func:`verify_promised`. A SIP that breaks its rules is refused with
    every problem, its promised checksums read at once (once each) so that none is left out."""
    detected = detect(root, bag=bag)
    if not detected.is_sip:
        delivery.warnings.extend(detected.warnings)
        return
    check = check_delivery(detected, {f.relpath: f.size for f in delivery.files})
    if check.problems:
        raise check.refuse(delivery.source, check.verify(read_digests(root, check.promised)))
    delivery.kind = detected.kind
    delivery.profile = detected.profile
    delivery.warnings.extend(check.warnings)
    delivery.sip = check
    if check.description:
        delivery.description = check.description
        delivery.description_source = f"{detected.family} {check.description_file}"


def staging_algorithms(delivery: Delivery, algorithms: Sequence[str]) -> tuple[str, ...]:
    """``algorithms`` and those a SIP's promised checksums need (md5 for most meemoo SIPs),
    so that the single staging read computes them all."""
    extra = delivery.sip.algorithms if isinstance(delivery.sip, SipCheck) else ()
    return tuple(dict.fromkeys((*algorithms, *extra)))


def verify_promised(delivery: Delivery, keep: Sequence[str]) -> None:
    """After staging, before anything is stored: a SIP's METS checksums and PREMIS fixity
    values against the digests of the staging read (every mismatch at once, raised as
    :class:`~preserve.sip.InvalidSip`); then the digests computed only for that check are
    dropped (the AIP keeps ``keep``) and a PREMIS validation event says what was verified."""
    check = delivery.sip
    if not isinstance(check, SipCheck):
        return
    problems = check.verify({f.relpath: f.digests for f in delivery.files})
    if problems:
        raise check.refuse(delivery.source, problems)
    kept = set(keep)
    dropped = [a for a in check.algorithms if a not in kept]
    if dropped:
        for f in delivery.files:
            for alg in dropped:
                f.digests.pop(alg, None)
    delivery.events.append(
        event(
            premis.VALIDATION,
            "warning" if check.warnings else "success",
            check.summary(),
            "; ".join(str(w) for w in check.warnings[:50]),
        )
    )


def _receive_bag(
    source: Path, root: Path, name: str, events: list[premis.EventRecord], warnings: list[Problem]
) -> Delivery:
    """An incoming bag: validate it (fixity on receipt) and keep its bag-info."""
    report = validate_bag(root)
    if not report.valid:
        raise InvalidBag(
            f"{source}: invalid bag ({len(report.errors)} problems): "
            + "; ".join(str(p) for p in report.errors[:20])
            + (" ..." if len(report.errors) > 20 else ""),
            report.errors,
        )
    warnings.extend(report.warnings)
    contents = read_bag(root)
    files: list[StagedFile] = []
    producer: dict[str, dict[str, str]] = {}
    for manifest_path, digests in sorted(contents.payload.items()):
        real = contents.real_names.get(manifest_path, manifest_path)
        rel = real[len("data/") :]
        path = os.path.join(root, real)
        files.append(StagedFile(relpath=rel, source=path, size=os.lstat(path).st_size))
        producer[rel] = dict(digests)
    algs = ", ".join(report.algorithms)
    submission = submission_documents(root)
    events.append(
        event(
            premis.VALIDATION,
            "success" if not report.warnings else "warning",
            f"incoming BagIt {report.version} bag validated; its {len(submission)} tag "
            f"file{'' if len(submission) == 1 else 's'} kept under {SUBMISSION_FOLDER}/",
            "; ".join(str(w) for w in report.warnings[:50]),
        )
    )
    events.append(
        event(
            premis.FIXITY_CHECK,
            "success",
            f"producer checksums ({algs}) verified on receipt for {len(files)} files",
        )
    )
    info = [(k, v) for k, v in contents.bag_info if k.lower() not in _RECOMPUTED]
    external = next((v for k, v in info if k.lower() == "external-identifier"), name)
    delivery = Delivery(source, root / "data", files, warnings, info, producer, events, external)
    delivery.submission = submission
    return delivery


#: where the AIP keeps an incoming bag's tag files
SUBMISSION_FOLDER = "metadata/submission"


def submission_documents(root: Path) -> list[tuple[str, str]]:
    """Every tag file of the bag at ``root`` (a regular file outside ``data/``, at any depth),
    as (its path in the bag, its path on disk), in name order. Symbolic links are left out:
    the validator has warned about them."""
    found: list[tuple[str, str]] = []
    for folder, dirs, names in os.walk(root):
        rel = os.path.relpath(folder, root)
        if rel == ".":
            dirs[:] = [d for d in dirs if d != "data"]
        dirs.sort()
        for name in names:
            path = os.path.join(folder, name)
            if stat.S_ISREG(os.lstat(path).st_mode):
                found.append((name if rel == "." else f"{Path(rel).as_posix()}/{name}", path))
    return sorted(found)


def scan_folder(root: Path) -> tuple[list[StagedFile], list[Problem]]:
    """Every regular file under ``root``, depth first in name order (links are not followed),
    with warnings for what is left out."""
    files: list[StagedFile] = []
    warnings: list[Problem] = []

    def walk(folder: str, rel: str) -> None:
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except PermissionError:
            raise InvalidInput(f"{folder}: permission denied") from None
        if not entries and rel:
            warnings.append(
                Problem(
                    "empty-directory",
                    rel.rstrip("/"),
                    "empty folder left out: BagIt cannot hold an empty folder",
                    "warning",
                )
            )
        for entry in entries:
            relpath = rel + entry.name
            try:
                relpath.encode("utf-8")
            except UnicodeEncodeError:
                raise InvalidInput(
                    f"{os.fsencode(entry.path)!r}: file name is not valid UTF-8 (BagIt "
                    "manifests are UTF-8): rename it, e.g. with convmv -f latin1 -t utf8"
                ) from None
            st = entry.stat(follow_symlinks=False)
            mode = st.st_mode
            if stat.S_ISREG(mode):
                if not os.access(entry.path, os.R_OK):
                    raise InvalidInput(f"{entry.path}: permission denied")
                if st.st_size == 0:
                    warnings.append(Problem("empty-file", relpath, "zero-byte file", "warning"))
                files.append(StagedFile(relpath, entry.path, st.st_size))
            elif stat.S_ISDIR(mode):
                walk(entry.path, relpath + "/")
            elif stat.S_ISLNK(mode):
                warnings.append(
                    Problem("symlink-skipped", relpath, "symbolic link not followed", "warning")
                )
            else:
                warnings.append(
                    Problem("special-file-skipped", relpath, "not a regular file", "warning")
                )

    walk(str(root), "")
    errors, name_warnings = check_payload_names(f.relpath for f in files)
    if errors:
        raise NameCollision(f"{root}: " + "; ".join(p.message for p in errors))
    warnings.extend(name_warnings)
    return files, warnings
