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
from preserve.descriptive import LANG_KEY
from preserve.errors import InvalidInput, NameCollision
from preserve.ingest.conformance import RequiredProfile, invalid_bag
from preserve.ingest.model import Delivery, StagedFile, event
from preserve.sip import SipCheck, check_delivery, detect
from preserve.sip.checks import read_digests
from preserve.sip.detect import MEEMOO_SIP
from preserve.text import plural
from preserve.values import Problem, ValidationReport

_ARCHIVE_SUFFIXES = (".tar.gz", ".tar.bz2", ".tar.xz", ".tgz", ".zip", ".tar")
#: bag-info elements that describe the bag as written, recomputed for the AIP
_RECOMPUTED = {"payload-oxum", "bag-size", "bagging-date", "bag-software-agent"}
#: the advice after every damaged-archive error of ingest
_KEEP_AS_FILE = "; to keep the file itself as it is, put it in a folder and ingest the folder"


def receive(
    source: Path,
    staging: Path,
    *,
    max_unpack_bytes: int,
    max_unpack_ratio: int,
    profile: RequiredProfile | None = None,
) -> Delivery:
    """The payload of ``source``; archives are unpacked under ``staging``. A bag that breaks
    RFC 8493 is refused; with the ``profile`` its collection requires, with every breach of
    that profile too (a valid bag is checked against it after receive)."""
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
        delivery, report = _receive_bag(source, root, name, events, warnings, profile)
        delivery.kind = "bag"
        _receive_sip(delivery, root / "data", bag=True)
        _bag_events(delivery, report)
        _bag_title(delivery)
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
    source: Path,
    root: Path,
    name: str,
    events: list[premis.EventRecord],
    warnings: list[Problem],
    profile: RequiredProfile | None,
) -> tuple[Delivery, ValidationReport]:
    """An incoming bag: validate it (fixity on receipt) and keep its bag-info. Its validation
    events are added by :func:`_bag_events`, once it is known whether it is a meemoo SIP."""
    report = validate_bag(root)
    if not report.valid:
        raise invalid_bag(source, root, report.errors, profile)
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
    info = [(k, v) for k, v in contents.bag_info if k.lower() not in _RECOMPUTED]
    external = next((v for k, v in info if k.lower() == "external-identifier"), name)
    delivery = Delivery(source, root / "data", files, warnings, info, producer, events, external)
    delivery.submission = submission_documents(root)
    return delivery, report


def _bag_events(delivery: Delivery, report: ValidationReport) -> None:
    """The PREMIS events of an incoming bag: its validation and the fixity check on receipt.

    A meemoo SIP 1.x must carry ``manifest-md5.txt``: that its payload manifests are MD5 only
    is then what its specification asks, not something to warn the producer about (preserve
    computes its own SHA-512 and SHA-256 anyway), so that warning is left out, and said in the
    event's detail instead."""
    warnings = list(report.warnings)
    remark = ""
    sip = delivery.sip
    if (
        delivery.kind == MEEMOO_SIP
        and isinstance(sip, SipCheck)
        and sip.detected.version.startswith("1")
        and any(w.code == "weak-algorithm" for w in warnings)
    ):
        warnings = [w for w in warnings if w.code != "weak-algorithm"]
        delivery.warnings[:] = [w for w in delivery.warnings if w.code != "weak-algorithm"]
        remark = (
            "; MD5 payload manifest only, as the meemoo SIP 1.x requires (preserve adds its "
            "own SHA-512 and SHA-256)"
        )
    kept = len(delivery.submission)
    delivery.events.append(
        event(
            premis.VALIDATION,
            "success" if not warnings else "warning",
            f"incoming BagIt {report.version} bag validated; its {plural(kept, 'tag file')} "
            f"kept under {SUBMISSION_FOLDER}/{remark}",
            "; ".join(str(w) for w in warnings[:50]),
        )
    )
    delivery.events.append(
        event(
            premis.FIXITY_CHECK,
            "success",
            f"producer checksums ({', '.join(report.algorithms)}) verified on receipt for "
            f"{plural(len(delivery.files), 'file')}",
        )
    )


def _bag_title(delivery: Delivery) -> None:
    """A bag's ``Title`` in bag-info.txt (APTrust's and BTR's bags carry one) titles the
    package when the delivery has no description of its own with a title (a SIP's): after
    ``--title`` and a metadata CSV, before ``External-Description`` and the folder name."""
    if delivery.description.get("title"):
        return
    titles = [v.strip() for k, v in delivery.bag_info if k.lower() == "title" and v.strip()]
    if not titles:
        return
    delivery.description = {**delivery.description, "title": titles}
    langs = delivery.description.get(LANG_KEY)
    if isinstance(langs, dict) and "title" in langs:
        delivery.description[LANG_KEY] = {k: v for k, v in langs.items() if k != "title"}
    delivery.description_source = "bag-info Title"  # what the ingest line names the title by


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
