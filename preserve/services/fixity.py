"""Fixity: re-read every stored copy, compare with the catalogue and the bag's own manifests.

The reference digests are the ones computed when the bytes were first read at ingest; a check
always re-reads and re-hashes the bytes (a storage system's own checksum is never trusted alone).
Each copy checked gets a PREMIS ``fixity check`` event and its outcome: ok, mismatch, missing or
error (could not check).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

from preserve import __version__, premis
from preserve.bagit.manifest import parse_manifest
from preserve.bootstrap import Application
from preserve.checksums import hash_stream
from preserve.errors import InvalidInput, NotFound, ObjectNotFound, StorageError
from preserve.progress import NoProgress, Progress

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileProblem:
    path: str
    outcome: str  # "mismatch", "missing", "unexpected", "error"
    message: str


@dataclass(frozen=True)
class CopyCheck:
    package_id: str
    location: str
    url: str
    key_prefix: str
    outcome: str  # "ok", "mismatch", "missing", "error"
    files_checked: int
    bytes_checked: int
    problems: tuple[FileProblem, ...]
    checked_at: datetime


@dataclass(frozen=True)
class FixityReport:
    checks: tuple[CopyCheck, ...]

    @property
    def ok(self) -> bool:
        return all(c.outcome == "ok" for c in self.checks)


@dataclass(frozen=True)
class _Expected:
    path: str
    size: int
    sha512: str | None
    sha256: str | None


@dataclass(frozen=True)
class _CopyRef:
    copy_id: int
    package_id: str
    location: str
    url: str
    key_prefix: str


def check_fixity(
    app: Application,
    *,
    package_id: str | None = None,
    collection: str | None = None,
    organisation: str | None = None,
    all_packages: bool = False,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> FixityReport:
    """Check every copy of the selected packages (exactly one selector must be given)."""
    selectors = sum(
        x is not None and x is not False for x in (package_id, collection, all_packages)
    )
    if selectors != 1:
        raise InvalidInput("name exactly one of: a package, a collection, or all packages")
    progress = progress or NoProgress()
    copies = _select(app, package_id, collection, organisation or app.settings.organisation)
    checks = []
    for ref in copies:
        check = _check_copy(app, ref, progress)
        _record(app, ref, check, now or datetime.now(UTC))
        checks.append(check)
    return FixityReport(tuple(checks))


def _select(
    app: Application, package_id: str | None, collection: str | None, organisation: str
) -> list[_CopyRef]:
    with app.uow() as uow:
        if package_id is not None:
            package = uow.packages.get(package_id)
            if package is None:
                raise NotFound(f"package {package_id} does not exist")
            packages = [package]
        elif collection is not None:
            coll = uow.collections.get(organisation, collection)
            if coll is None:
                raise NotFound(f"collection {collection!r} does not exist in {organisation!r}")
            packages = list(uow.packages.list(collection_id=coll.id, status="stored"))
        else:
            packages = list(uow.packages.list(status="stored"))
        refs = []
        for p in packages:
            for c in uow.copies.for_package(p.id):
                refs.append(_CopyRef(c.id, p.id, c.location.name, c.location.url, c.key_prefix))
        return refs


def _expected(app: Application, package_id: str) -> Iterator[_Expected]:
    with app.uow() as uow:
        for f in uow.files.iter_for_package(package_id):
            yield _Expected(f.path, f.size, f.sha512, f.sha256)


def _check_copy(app: Application, ref: _CopyRef, progress: Progress) -> CopyCheck:
    started = datetime.now(UTC)
    problems: list[FileProblem] = []
    try:
        storage = app.storage(ref.url)
        present = set(storage.iter_keys(ref.key_prefix))
    except StorageError as exc:
        log.error("fixity: cannot list %s on %s: %s", ref.key_prefix, ref.location, exc)
        return CopyCheck(
            ref.package_id,
            ref.location,
            ref.url,
            ref.key_prefix,
            "error",
            0,
            0,
            (FileProblem("", "error", f"location could not be read: {exc}"),),
            started,
        )
    expected = list(_expected(app, ref.package_id))
    progress.begin(
        f"checking {ref.package_id} on {ref.location}", len(expected), sum(e.size for e in expected)
    )
    catalogue = {e.path: e for e in expected}

    def one(e: _Expected) -> tuple[_Expected, FileProblem | None, int, dict[str, str]]:
        key = ref.key_prefix + e.path
        if key not in present:
            return e, FileProblem(e.path, "missing", "object is missing"), 0, {}
        algorithms = ("sha512", "sha256") if e.sha512 else ("sha256",)
        try:
            with storage.open(key) as stream:
                size, digests = hash_stream(stream, algorithms)
        except ObjectNotFound:
            return e, FileProblem(e.path, "missing", "object is missing"), 0, {}
        except StorageError as exc:
            return e, FileProblem(e.path, "error", f"could not be read: {exc}"), 0, {}
        progress.advance(1, size)
        if size != e.size:
            return (
                e,
                FileProblem(e.path, "mismatch", f"size is {size} bytes, expected {e.size}"),
                size,
                digests,
            )
        for alg, want in (("sha512", e.sha512), ("sha256", e.sha256)):
            if want and digests.get(alg) != want:
                return (
                    e,
                    FileProblem(
                        e.path, "mismatch", f"{alg} is {digests.get(alg)}, expected {want}"
                    ),
                    size,
                    digests,
                )
        return e, None, size, digests

    checked = 0
    nbytes = 0
    try:
        with ThreadPoolExecutor(max_workers=max(1, app.settings.workers or 2)) as pool:
            for _e, problem, size, _digests in pool.map(one, expected):
                checked += 1
                nbytes += size
                if problem is not None:
                    problems.append(problem)
    finally:
        progress.end()
    for key in sorted(present - {ref.key_prefix + p for p in catalogue}):
        problems.append(
            FileProblem(key[len(ref.key_prefix) :], "unexpected", "object not in the catalogue")
        )
    problems.extend(_check_manifests(storage, ref, catalogue, problems))
    outcome = "ok"
    kinds = {p.outcome for p in problems}
    if kinds & {"mismatch", "unexpected"}:
        outcome = "mismatch"
    elif "missing" in kinds:
        outcome = "missing"
    elif "error" in kinds:
        outcome = "error"
    return CopyCheck(
        ref.package_id,
        ref.location,
        ref.url,
        ref.key_prefix,
        outcome,
        checked,
        nbytes,
        tuple(problems),
        started,
    )


def _check_manifests(
    storage: object, ref: _CopyRef, catalogue: dict[str, _Expected], found: list[FileProblem]
) -> list[FileProblem]:
    """The bag's payload manifests, as stored, must agree with the catalogue entry by entry."""
    bad_paths = {p.path for p in found}
    problems: list[FileProblem] = []
    for name, column in (("manifest-sha512.txt", "sha512"), ("manifest-sha256.txt", "sha256")):
        if name not in catalogue or name in bad_paths:
            continue  # a manifest that is itself damaged is already reported
        try:
            with storage.open(ref.key_prefix + name) as stream:  # type: ignore[attr-defined]
                text = stream.read().decode("utf-8")
        except (StorageError, UnicodeDecodeError) as exc:
            problems.append(FileProblem(name, "error", f"manifest could not be read: {exc}"))
            continue
        parsed = parse_manifest(text, name=name, algorithm=column, version=(1, 0))
        for p in parsed.errors:
            problems.append(FileProblem(name, "mismatch", f"manifest is damaged: {p.message}"))
        listed = parsed.entries
        for path, e in catalogue.items():
            if not path.startswith("data/"):
                continue
            want = getattr(e, column)
            if listed.get(path) != want:
                problems.append(
                    FileProblem(path, "mismatch", f"{name} disagrees with the catalogue")
                )
        for path in sorted(set(listed) - set(catalogue)):
            problems.append(FileProblem(path, "unexpected", f"listed in {name} only"))
    return problems


def _record(app: Application, ref: _CopyRef, check: CopyCheck, now: datetime) -> None:
    """Store the outcome on the copy and as a PREMIS fixity check event."""
    with app.uow() as uow:
        copy = next(c for c in uow.copies.for_package(ref.package_id) if c.id == ref.copy_id)
        copy.last_checked_at = now
        copy.last_outcome = check.outcome
        if check.outcome == "ok":
            copy.status = "verified"
            copy.verified_at = now
        elif check.outcome in ("mismatch", "missing"):
            copy.status = "failed" if check.outcome == "mismatch" else "missing"
        agent = uow.agents.get_or_create("preserve", __version__, "software")
        shown = "; ".join(f"{p.path}: {p.message}" for p in check.problems[:50])
        if len(check.problems) > 50:
            shown += f"; and {len(check.problems) - 50} more"
        uow.events.add(
            premis.FIXITY_CHECK,
            "success" if check.outcome == "ok" else "failure",
            agent=agent,
            package_id=ref.package_id,
            copy_id=ref.copy_id,
            detail=f"re-read {check.files_checked} files ({check.bytes_checked} bytes) on "
            f"location {ref.location} and compared sha512/sha256 with the catalogue and the "
            "bag manifests",
            outcome_detail=f"{check.outcome}" + (f": {shown}" if shown else ""),
            occurred_at=now,
        )
        uow.commit()
