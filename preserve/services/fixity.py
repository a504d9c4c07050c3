"""Fixity: re-read every stored copy, compare it with the catalogue and the bag's own manifests.

The reference digests are the ones computed when the bytes were first read at ingest; a check
always re-reads and re-hashes the bytes (a storage system's own checksum is never trusted alone).
On a local location every object is read from the device, not from the page cache (see
:meth:`preserve.storage.local.LocalStorage.hash_objects`).

Per file, a check verifies the size and the digests named by ``PRESERVE_FIXITY_ALGORITHMS``
(SHA-256 alone by default: one strong digest proves the bytes) that the catalogue holds for it,
or every digest it holds when it holds none of those; ``all_digests=True`` verifies every digest
the catalogue holds (not the CRC64NVME transport checksum, which is no fixity reference). Missing
and unexpected objects are reported, and the bag's stored payload manifests must agree with the
catalogue entry by entry, whichever digests were recomputed.

Each copy checked gets a PREMIS ``fixity check`` event that says which digests were verified,
and its outcome: ok, mismatch, missing or error (could not check).

A copy is one version of a package on one location (``<org>/<coll>/<package>/v<N>/``). Its
check reads the payload files that version stored itself and all its tag files; the payload
files its ``fetch.txt`` names (held by an earlier version) are checked against the catalogue
only: the entry must name, on the same location, the file of an earlier version of the same
package that the catalogue says holds the bytes, with the same size and digests. Those bytes are
read by the check of that earlier version's copy, so every byte of every version is read once
per location. A file found damaged in a version's folder names the later versions that hold it
too. The package's event files (``<package>/events/``) on a location are checked with the copy
of the latest version there.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from preserve import __version__
from preserve.errors import (
    InvalidInput,
    NotFound,
    ObjectNotFound,
    PreserveError,
    StorageError,
)
from preserve.progress import NoProgress, Progress, Stage
from preserve.text import plural

if TYPE_CHECKING:
    from preserve.bootstrap import Application
    from preserve.catalogue.fixity import CopyRow, FileRow, FixityCatalogue, StoredRow
    from preserve.storage import Storage

log = logging.getLogger(__name__)

#: The Library of Congress event type (preserve.premis.FIXITY_CHECK; not imported from there
#: because that module's XML imports cost more than a small check takes).
FIXITY_CHECK = "fixity check"
#: Digests that are transport checks, never fixity references.
TRANSPORT_CHECKS = frozenset({"crc64nvme"})
_MANIFEST = re.compile(r"manifest-([a-z0-9]+)\.txt")
REMOTE_THREADS = 8  # objects read at once from a location that is not a local folder
LARGE_OBJECT = 1 << 20

HashRequest = tuple[str, int, tuple[str, ...]]
HashResult = tuple[str, int, "dict[str, str] | None", "PreserveError | None"]


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
    #: algorithm -> how many files were verified with it
    digests_checked: dict[str, int] = field(default_factory=dict)
    #: the stored payload manifests compared with the catalogue
    manifests_compared: tuple[str, ...] = ()
    #: read from the device with the page cache dropped first (a local location)
    from_device: bool = False
    #: of files_checked and bytes_checked, the payload (data/...), apart from the tag files:
    #: the package's file count as every command shows it
    payload_files: int = 0
    payload_bytes: int = 0
    #: the package's payload files and bytes as catalogued: what should have been checked
    payload_files_expected: int = 0
    payload_bytes_expected: int = 0
    #: the version the copy holds, and the package's current version
    version: int = 1
    current_version: int = 1
    #: payload files of this version held by an earlier one (its fetch.txt entries), checked
    #: against the catalogue, not read: the earlier version's copy reads them
    fetched_files: int = 0
    #: later versions that hold a file found damaged in this copy (through their fetch.txt)
    affected_versions: tuple[int, ...] = ()
    #: the package's event files on this location checked with this copy (the copy of the
    #: latest version there checks them: :mod:`preserve.services.journal`)
    event_files_checked: int = 0
    #: the catalogue's id of the copy
    copy_id: int | None = None

    @property
    def name(self) -> str:
        """The package, and the version when it has several: ``3f2a… v2``."""
        if self.current_version > 1:
            return f"{self.package_id} v{self.version}"
        return self.package_id


@dataclass(frozen=True)
class FixityReport:
    checks: tuple[CopyCheck, ...]

    @property
    def ok(self) -> bool:
        return all(c.outcome == "ok" for c in self.checks)


@runtime_checkable
class _HashesObjects(Protocol):
    """A location that reads and hashes many objects itself (the local backend)."""

    def hash_objects(
        self, requests: Sequence[HashRequest], *, threads: int = ...
    ) -> Iterator[HashResult]: ...


def check_fixity(
    app: Application,
    *,
    package_id: str | None = None,
    collection: str | None = None,
    organisation: str | None = None,
    all_packages: bool = False,
    all_digests: bool = False,
    progress: Progress | None = None,
    now: datetime | None = None,
    older_than: timedelta | None = None,
    limit: int | None = None,
    location: str | None = None,
) -> FixityReport:
    """Check every copy of the selected packages: one package (named as
    :func:`preserve.services.packages.resolve_package` accepts), a collection (of
    ``organisation``, else of the default organisation), every stored package of
    ``organisation``, or every stored package.

    A run can be spread over time: only copies on ``location``, only copies never checked or
    last checked more than ``older_than`` before ``now``, at most ``limit`` copies (the never
    checked and least recently checked first)."""
    validate_selection(package_id, collection, organisation, all_packages, limit, older_than)
    now = now or datetime.now(UTC)
    progress = progress or NoProgress()
    chooser = _DigestChooser(app.settings.fixity_algorithms, all_digests)
    checks = []
    with open_catalogue(app) as catalogue:
        copies = select_copies(
            app,
            catalogue,
            package_id=package_id,
            collection=collection,
            organisation=organisation,
            older_than=older_than,
            limit=limit,
            location=location,
            now=now,
        )
        for number, copy in enumerate(copies, start=1):
            # each copy an equal share of the run (their sizes are read copy by copy)
            share = (number - 1) / len(copies), number / len(copies)
            stage = Stage(number, len(copies), *share, noun="copy")
            check = check_and_record(app, catalogue, copy, chooser, progress, stage, now=now)
            if check is not None:
                checks.append(check)
    return FixityReport(tuple(checks))


def open_catalogue(app: Application) -> FixityCatalogue:
    """The fixity catalogue, acting as the application's person (implementer of every event,
    with the owning organisation) and scheduling by the PRESERVE_FIXITY_INTERVAL_DAYS setting."""
    catalogue = app.fixity_catalogue()
    catalogue.act_as(app.actor)
    catalogue.default_interval_days = app.settings.fixity_interval_days
    return catalogue


def digest_chooser(app: Application, all_digests: bool = False) -> _DigestChooser:
    return _DigestChooser(app.settings.fixity_algorithms, all_digests)


#: The pause before each further attempt at a copy whose check could not be made (its location
#: did not answer, a read timed out) in a background job; then the error is recorded.
RETRY_DELAYS = (5.0, 30.0)


def check_and_record(
    app: Application,
    catalogue: FixityCatalogue,
    copy: CopyRow,
    chooser: _DigestChooser,
    progress: Progress,
    stage: Stage | None = None,
    *,
    now: datetime | None = None,
    job_id: str | None = None,
    retry_delays: Sequence[float] = (),
    sleep: Callable[[float], None] | None = None,
) -> CopyCheck | None:
    """Check one copy and record the outcome (on the copy, with when it is next due, and as a
    PREMIS event). A check that could not be made (outcome error) is tried again after each of
    ``retry_delays`` (seconds) before the error is recorded. A mismatched or missing copy gets a
    ``fixity_failure`` alert, and, in a fixity job (``job_id``), a ``repair`` job; both keyed
    by the copy and the check, and recorded before the check, so a job killed in between and
    run again makes one of each.

    In a job the copy must still be claimed by it: None when it is not (checked already by an
    earlier run of the job, or claimed again by another), nothing recorded."""
    for delay in retry_delays:
        check = _check_copy(app, catalogue, copy, chooser, progress, stage)
        if check.outcome != "error":
            break
        log.warning(
            "fixity of package %s on %s could not be made (%s); trying again in %ss",
            check.name,
            copy.location,
            problem_listing(check.problems, 1),
            delay,
        )
        (sleep or _sleep)(delay)
    else:
        check = _check_copy(app, catalogue, copy, chooser, progress, stage)
    when = now or datetime.now(UTC)
    check = dataclasses.replace(check, copy_id=copy.copy_id)
    if check.outcome in ("mismatch", "missing"):
        report_failure(app, copy, check, when, job_id=job_id)
    if not _record(catalogue, copy, check, chooser, when, claimed_by=job_id):
        return None
    log.info(
        "fixity of package %s on %s: %s (%s, %s checked, %s)",
        check.name,
        copy.location,
        check.outcome,
        plural(check.files_checked, "file"),
        plural(check.bytes_checked, "byte"),
        plural(len(check.problems), "problem"),
    )
    return check


def _sleep(seconds: float) -> None:
    import time

    time.sleep(seconds)


def report_failure(
    app: Application, copy: CopyRow, check: CopyCheck, when: datetime, *, job_id: str | None
) -> None:
    """A ``fixity_failure`` alert for a mismatched or missing copy and, in a fixity job, a
    ``repair`` job for it (payload ``{"copy_id": N}``), in one transaction. The keys name the
    copy and the check (the job, else the check's time), so doing it again adds nothing."""
    from preserve.services import alerts, jobs

    check_key = f"job {job_id}" if job_id is not None else when.isoformat()
    listing = problem_listing(check.problems)
    with app.uow() as uow:
        if not _alerted(uow, copy.copy_id):
            alerts.record(
                uow,
                "fixity_failure",
                f"fixity {check.outcome}: package {check.name} on {copy.location}",
                f"The copy of package {check.name} on location {copy.location} ({copy.url}, "
                f"{copy.key_prefix}) failed its fixity check: {listing}",
                severity="critical",
                dedup_key=f"fixity_failure copy {copy.copy_id} {check_key}",
                package_id=copy.package_id,
                job_id=job_id,
                details={
                    "copy_id": copy.copy_id,
                    "version": copy.version,
                    "location": copy.location,
                    "outcome": check.outcome,
                    "problems": [
                        {"path": p.path, "outcome": p.outcome, "message": p.message}
                        for p in check.problems[:100]
                    ],
                },
                now=when,
            )
        if job_id is not None:  # in workers, repair always follows
            jobs.enqueue(
                uow,
                "repair",
                {"copy_id": copy.copy_id},
                requested_by=app.actor,
                package_id=copy.package_id,
                idempotency_key=f"repair copy {copy.copy_id} after fixity {check_key}",
                publish=_publisher(app),
                now=when,
            )
        uow.commit()


def _alerted(uow: Any, copy_id: int) -> bool:
    """Whether an alert for the copy's damage is open already: a ``fixity_failure`` alert not
    acknowledged and made since the copy was last verified (a repair's re-check of a copy a
    fixity run found damaged finds the same damage, not a new one)."""
    import sqlalchemy as sa

    from preserve.catalogue.models import Alert, Copy

    verified_at = uow.session.scalar(sa.select(Copy.verified_at).where(Copy.id == copy_id))
    query = sa.select(Alert.id).where(
        Alert.kind == "fixity_failure",
        Alert.acknowledged_at.is_(None),
        Alert.dedup_key.like(f"fixity_failure copy {copy_id} %"),
    )
    if verified_at is not None:
        query = query.where(Alert.created_at > verified_at)
    return uow.session.scalar(query.limit(1)) is not None


def _publisher(app: Application) -> Callable[[str], None] | None:
    """The workers' doorbell (:func:`preserve.services.runner.publisher`), when there is one."""
    try:
        from preserve.services.runner import publisher
    except ImportError:
        return None
    return publisher(app)


def validate_selection(
    package_id: str | None,
    collection: str | None,
    organisation: str | None,
    all_packages: bool,
    limit: int | None,
    older_than: timedelta | None,
) -> None:
    """:class:`InvalidInput` unless the arguments choose copies as :func:`check_fixity` takes
    them: one package, a collection, an organisation or all packages."""
    selectors = sum(
        x is not None and x is not False for x in (package_id, collection, all_packages)
    )
    if selectors != 1 and not (selectors == 0 and organisation is not None):
        raise InvalidInput("name exactly one of: a package, a collection, or all packages")
    if package_id is not None and organisation is not None:
        raise InvalidInput(
            "--organisation chooses packages with --all or --collection; --package names one "
            "package already"
        )
    if limit is not None and limit < 1:
        raise InvalidInput(f"--limit must be at least 1, not {limit}")
    if older_than is not None and older_than < timedelta(0):
        raise InvalidInput("--older-than cannot be negative")


def select_copies(
    app: Application,
    catalogue: FixityCatalogue,
    *,
    package_id: str | None = None,
    collection: str | None = None,
    organisation: str | None = None,
    older_than: timedelta | None = None,
    limit: int | None = None,
    location: str | None = None,
    now: datetime,
) -> list[CopyRow]:
    """The copies :func:`check_fixity` checks for these arguments (every stored package when
    none of package, collection and organisation is given)."""
    selection: dict[str, Any] = {
        "location": location,
        "checked_before": now - older_than if older_than is not None else None,
        "limit": limit,
    }
    if package_id is not None:
        return _package_copies(app, catalogue, package_id, selection)
    return catalogue.copies(
        collection=(organisation or app.settings.organisation, collection)
        if collection is not None
        else None,
        organisation=organisation,
        **selection,
    )


def _package_copies(
    app: Application, catalogue: FixityCatalogue, name: str, selection: dict[str, Any]
) -> list[CopyRow]:
    """The copies of the package ``name`` names. A whole UUID is looked up directly (no ORM
    is loaded for it); anything else, or a UUID that is no package's id (it may be a producer's
    identifier), through :func:`preserve.services.packages.resolve_package`."""
    from preserve.services.packages import package_id, uuid_of

    whole = uuid_of(name)
    if whole is not None:
        try:
            return catalogue.copies(package_id=whole, **selection)
        except NotFound:
            pass
    return catalogue.copies(package_id=package_id(app, name), **selection)


_DURATION = re.compile(r"([0-9]+)\s*([wdhm])")
_UNITS = {"w": timedelta(weeks=1), "d": timedelta(days=1), "h": timedelta(hours=1)}
_UNITS["m"] = timedelta(minutes=1)


def parse_duration(text: str, option: str = "--older-than") -> timedelta:
    """A duration such as ``30d``, ``12h``, ``90m``, ``2w`` or ``1d12h`` (w: weeks, d: days,
    h: hours, m: minutes); :class:`InvalidInput` for anything else."""
    value = text.strip().lower()
    parts = _DURATION.findall(value)
    if not value or "".join(f"{n}{u}" for n, u in parts) != value.replace(" ", ""):
        raise InvalidInput(
            f"{option} {text!r} is not a duration: give a number and a unit, such as 30d "
            "(days), 12h (hours), 90m (minutes) or 2w (weeks)"
        )
    try:
        duration = sum((int(n) * _UNITS[u] for n, u in parts), timedelta())
    except OverflowError:
        duration = _LONGEST + _LONGEST
    if duration > _LONGEST:
        raise InvalidInput(f"{option} {text!r} is too long: at most 1000 years (52000w)")
    return duration


_LONGEST = timedelta(weeks=52_000)


class _DigestChooser:
    """Which of the digests the catalogue holds for a file a check verifies."""

    def __init__(self, algorithms: Iterable[str], all_digests: bool) -> None:
        self.algorithms = tuple(algorithms)
        self.all_digests = all_digests
        # the JSON column of other digests is decoded only when it may be needed
        self._others = all_digests or any(a not in ("sha256", "sha512") for a in self.algorithms)
        self._supported: dict[str, bool] = {}
        self._interned: dict[tuple[str, ...], tuple[str, ...]] = {}

    def describe(self) -> str:
        if self.all_digests:
            return "every digest the catalogue holds"
        return ", ".join(self.algorithms)

    def wanted(self, row: FileRow) -> dict[str, str]:
        """algorithm -> expected hex digest for the file of ``row`` (empty: it holds none)."""
        held: dict[str, str] = {}
        if row[3]:
            held["sha256"] = row[3].lower()
        if row[2]:
            held["sha512"] = row[2].lower()
        if self._others:
            self._add_others(held, row[4])
        if self.all_digests:
            return held
        chosen = {a: held[a] for a in self.algorithms if a in held}
        if chosen:
            return chosen
        if not self._others:
            self._add_others(held, row[4])
        return held  # none of the configured ones: every digest it holds

    def key(self, wanted: dict[str, str]) -> tuple[str, ...]:
        algorithms = tuple(wanted)
        return self._interned.setdefault(algorithms, algorithms)

    def _add_others(self, held: dict[str, str], column: object) -> None:
        from preserve.catalogue.fixity import other_digests

        for algorithm, value in other_digests(column).items():
            if algorithm in held or algorithm in TRANSPORT_CHECKS or not value:
                continue
            if self._is_supported(algorithm):
                held[algorithm] = str(value).lower()

    def _is_supported(self, algorithm: str) -> bool:
        if algorithm not in self._supported:
            from preserve.checksums import is_supported

            self._supported[algorithm] = is_supported(algorithm)
        return self._supported[algorithm]


def _check_copy(
    app: Application,
    catalogue: FixityCatalogue,
    copy: CopyRow,
    chooser: _DigestChooser,
    progress: Progress,
    stage: Stage | None = None,
) -> CopyCheck:
    started = datetime.now(UTC)
    prefix = copy.key_prefix
    # every file of the version; of those, the ones whose bytes this version's folder holds
    catalogued = {row[0]: row for row in catalogue.files(copy.package_id, copy.version)}
    expected = catalogued
    if copy.version > 1:
        expected = {path: row for path, row in catalogued.items() if row[5] == copy.version}
    payload_expected = [row[1] for path, row in expected.items() if path.startswith("data/")]
    try:
        storage = app.storage(copy.url)
        present = set(storage.iter_keys(prefix))
    except (StorageError, InvalidInput) as exc:
        log.debug("fixity: cannot list %s on %s: %s", prefix, copy.location, exc)
        return CopyCheck(
            copy.package_id,
            copy.location,
            copy.url,
            prefix,
            "error",
            0,
            0,
            (FileProblem("", "error", f"location could not be read: {exc}"),),
            started,
            payload_files_expected=len(payload_expected),
            payload_bytes_expected=sum(payload_expected),
            version=copy.version,
            current_version=copy.current_version,
        )
    problems: list[FileProblem] = []
    wanted: dict[str, dict[str, str]] = {}
    requests: list[HashRequest] = []
    total_bytes = 0
    for path, row in expected.items():
        key = prefix + path
        if key not in present:
            problems.append(FileProblem(path, "missing", "object is missing"))
            continue
        want = chooser.wanted(row)
        if not want:
            problems.append(
                FileProblem(path, "error", "the catalogue holds no digest this system can verify")
            )
            continue
        wanted[key] = want
        requests.append((key, row[1], chooser.key(want)))
        total_bytes += row[1]
    for key in sorted(present - {prefix + p for p in expected}):
        problems.append(
            FileProblem(key[len(prefix) :], "unexpected", "object not in the catalogue")
        )

    # the stored manifests first: compared while the objects are hashed, the comparison only
    # competed with the hashing threads for the GIL and made the whole check slower
    manifest_problems = _check_manifests(storage, copy, catalogued)
    fetched = len(catalogued) - len(expected)
    fetch_problems: list[FileProblem] = []
    if fetched or "fetch.txt" in expected:
        fetch_problems = _check_fetch(storage, catalogue, copy, catalogued, expected)

    checked = 0
    nbytes = 0
    payload_files = payload_bytes = 0
    counts: dict[str, int] = {}
    progress.begin(
        f"checking {copy.package_id} on {copy.location}", len(requests), total_bytes, stage
    )
    try:
        for key, size, digests, error in _hash(app, storage, requests):
            path = key[len(prefix) :]
            progress.advance(1, size)
            if error is not None:
                if isinstance(error, ObjectNotFound):
                    problems.append(FileProblem(path, "missing", f"object is missing: {error}"))
                else:
                    problems.append(FileProblem(path, "error", f"could not be read: {error}"))
                continue
            checked += 1
            nbytes += size
            if path.startswith("data/"):
                payload_files += 1
                payload_bytes += size
            want_size = expected[path][1]
            if size != want_size:
                problems.append(
                    FileProblem(path, "mismatch", f"size is {size} bytes, expected {want_size}")
                )
                continue
            for algorithm in wanted[key]:
                counts[algorithm] = counts.get(algorithm, 0) + 1
            for algorithm, reference in wanted[key].items():
                got = digests.get(algorithm) if digests else None
                if got != reference:
                    problems.append(
                        FileProblem(path, "mismatch", f"{algorithm} is {got}, expected {reference}")
                    )
                    break
    except InvalidInput as exc:  # an unsafe path in the catalogue: nothing was read
        problems.append(FileProblem("", "error", f"could not be checked: {exc}"))
    finally:
        progress.end()
    damaged = {p.path for p in problems}
    for name, found in manifest_problems.items():
        if name not in damaged:  # a manifest that is itself damaged is already reported
            problems.extend(found)
    if "fetch.txt" not in damaged:
        problems.extend(fetch_problems)
    events_checked = 0
    if copy.latest_here:
        found, events_checked = _check_event_files(storage, catalogue, copy)
        problems.extend(found)
    affected: tuple[int, ...] = ()
    if problems and copy.version < copy.current_version:
        problems, affected = _name_holders(catalogue, copy, problems)
    return CopyCheck(
        copy.package_id,
        copy.location,
        copy.url,
        prefix,
        outcome_of(problems),
        checked,
        nbytes,
        tuple(problems),
        started,
        dict(sorted(counts.items())),
        tuple(sorted(manifest_problems)),
        isinstance(storage, _HashesObjects),
        payload_files,
        payload_bytes,
        len(payload_expected),
        sum(payload_expected),
        fetched_files=fetched,
        affected_versions=affected,
        event_files_checked=events_checked,
        version=copy.version,
        current_version=copy.current_version,
    )


def _check_fetch(
    storage: Storage,
    catalogue: FixityCatalogue,
    copy: CopyRow,
    catalogued: dict[str, FileRow],
    expected: dict[str, FileRow],
) -> list[FileProblem]:
    """The version's stored fetch.txt must list, exactly once each, the payload files the
    catalogue says an earlier version holds, each entry naming that version's object on this
    location (see :mod:`preserve.bagit.fetch`) with the size the catalogue gives, and that
    earlier version must store a file with the same size and digests. Nothing is read but
    fetch.txt: the earlier version's copy reads the bytes."""
    from preserve.bagit.fetch import FetchRefused, parse_fetch, stored_object

    held = {path: row for path, row in catalogued.items() if path not in expected}
    if "fetch.txt" not in catalogued:
        return [
            FileProblem(
                path,
                "error",
                f"the catalogue says version {row[5]} holds it, but lists no fetch.txt for "
                f"version {copy.version}",
            )
            for path, row in held.items()
        ]
    try:
        with storage.open(copy.key_prefix + "fetch.txt") as stream:
            text = stream.read().decode("utf-8")
    except ObjectNotFound:
        return []  # reported as a missing object already
    except (StorageError, InvalidInput, UnicodeDecodeError) as exc:
        return [FileProblem("fetch.txt", "error", f"fetch.txt could not be read: {exc}")]
    entries, errors = parse_fetch(text)
    problems = [FileProblem("fetch.txt", "mismatch", f"fetch.txt is damaged: {e}") for e in errors]
    folder = copy.key_prefix.rstrip("/").rsplit("/", 1)[0] + "/"
    stored: dict[tuple[int, str], StoredRow] | None = None
    listed: set[str] = set()
    for entry in entries:
        path = entry.path
        where = f"fetch.txt line {entry.line}"
        if path in listed:
            problems.append(FileProblem(path, "mismatch", f"{where} lists it a second time"))
            continue
        listed.add(path)
        row = catalogued.get(path)
        if row is None:
            problems.append(FileProblem(path, "unexpected", "listed in fetch.txt only"))
            continue
        try:
            number, stored_path = stored_object(entry.url, folder, copy.version)
        except FetchRefused as exc:
            problems.append(FileProblem(path, "mismatch", f"{where}: {exc}"))
            continue
        if path in held and (number, stored_path) != (row[5], row[6] or path):
            problems.append(
                FileProblem(
                    path,
                    "mismatch",
                    f"{where} names v{number}/{stored_path}; the catalogue says "
                    f"v{row[5]}/{row[6] or path} holds it",
                )
            )
            continue
        if entry.length is not None and entry.length != row[1]:
            problems.append(
                FileProblem(
                    path, "mismatch", f"{where} gives {entry.length} bytes, expected {row[1]}"
                )
            )
            continue
        if stored is None:
            rows = catalogue.stored_before(copy.package_id, copy.version)
            stored = {(r[0], r[1]): r for r in rows}
        origin = stored.get((number, stored_path))
        if origin is None:
            problems.append(
                FileProblem(
                    path,
                    "mismatch",
                    f"{where} names v{number}/{stored_path}, which version {number} does not store",
                )
            )
        elif origin[2] != row[1] or any(
            mine and theirs and mine.lower() != theirs.lower()
            for mine, theirs in ((row[2], origin[3]), (row[3], origin[4]))
        ):
            problems.append(
                FileProblem(
                    path,
                    "mismatch",
                    f"{where} names v{number}/{stored_path}, whose size or digests in the "
                    "catalogue differ from this file's",
                )
            )
    for path, row in held.items():
        if path not in listed:
            problems.append(
                FileProblem(
                    path,
                    "mismatch",
                    f"not in fetch.txt, though version {row[5]} holds it and this version "
                    "does not store it",
                )
            )
    return problems


def _check_event_files(
    storage: Storage, catalogue: FixityCatalogue, copy: CopyRow
) -> tuple[list[FileProblem], int]:
    """The package's event files that the copy's location should hold, re-read and compared
    with the catalogue (:func:`preserve.services.journal.compare_event_files`); the problems,
    and how many were expected."""
    rows = catalogue.event_files(copy.copy_id)
    if not rows:
        return [], 0
    from preserve.services.journal import EventFileRow, compare_event_files

    known = [EventFileRow(r[0], r[1], r[2], r[3], r[4]) for r in rows]
    expected = [row for row, r in zip(known, rows, strict=True) if r[5]]
    folder = copy.key_prefix.rstrip("/").rsplit("/", 1)[0] + "/"
    return compare_event_files(storage, folder, expected, known), len(expected)


def _name_holders(
    catalogue: FixityCatalogue, copy: CopyRow, problems: list[FileProblem]
) -> tuple[list[FileProblem], tuple[int, ...]]:
    """The problems of a damaged copy, each payload file's naming the later versions that
    hold it too through their fetch.txt; and those versions."""
    paths = {p.path for p in problems if p.path.startswith("data/")}
    holders: dict[str, list[tuple[int, str]]] = {}
    if paths:
        for version, path, stored_path in catalogue.holders(copy.package_id, copy.version):
            if stored_path in paths:
                holders.setdefault(stored_path, []).append((version, path))
    affected: set[int] = set()
    named = []
    for p in problems:
        found = holders.get(p.path)
        if found and p.outcome in ("mismatch", "missing", "error"):
            affected.update(v for v, _ in found)
            also = ", ".join(
                f"{v}" + ("" if path == p.path else f" (as {path})") for v, path in found
            )
            p = dataclasses.replace(p, message=f"{p.message}; later versions hold it too: {also}")
        named.append(p)
    return named, tuple(sorted(affected))


#: Files named in a failed check's event detail (the outcome detail names up to 50).
LISTED_PROBLEMS = 10
_PROBLEM_ORDER = ("mismatch", "missing", "unexpected", "error")
#: messages that say no more than the kind of problem, left out of the listing
_PLAIN = {"missing": "object is missing", "unexpected": "object not in the catalogue"}


def problem_listing(problems: Sequence[FileProblem], limit: int = LISTED_PROBLEMS) -> str:
    """The problems of a check by kind, the files of each with what is wrong with them, at most
    ``limit`` files: ``mismatch: data/a.tif (sha256 is …, expected …); missing: data/b.txt;
    and 3 more``."""
    ordered = sorted(
        problems,
        key=lambda p: _PROBLEM_ORDER.index(p.outcome) if p.outcome in _PROBLEM_ORDER else 9,
    )
    groups: dict[str, list[str]] = {}
    for p in ordered[:limit]:
        name = p.path or "the copy"
        plain = p.message == _PLAIN.get(p.outcome)
        groups.setdefault(p.outcome, []).append(name if plain else f"{name} ({p.message})")
    text = "; ".join(f"{kind}: {', '.join(names)}" for kind, names in groups.items())
    if len(ordered) > limit:
        text += f"; and {len(ordered) - limit} more"
    return text


def outcome_of(problems: Iterable[FileProblem]) -> str:
    """A copy's outcome from the problems found in it: mismatch, missing, error or ok."""
    kinds = {p.outcome for p in problems}
    if kinds & {"mismatch", "unexpected"}:
        return "mismatch"
    if "missing" in kinds:
        return "missing"
    if "error" in kinds:
        return "error"
    return "ok"


def _hash(app: Application, storage: Storage, requests: list[HashRequest]) -> Iterator[HashResult]:
    """Read and hash every requested object: the location does it itself when it can (a local
    folder: from the device, many at once), otherwise one stream per object on a few threads."""
    if isinstance(storage, _HashesObjects):
        # large objects: four threads per core, so that the cores hash while other threads
        # wait for the device, and several streams keep the device busy (corpus A, 2 cores,
        # best of 4 cold runs: 1,725 MB/s with 8 threads, 1,448 with 4, 1,240 with 2); small
        # ones: a batch's reads are all requested at once, so one thread per core keeps the
        # device busy without passing the GIL around for nothing
        cores = max(app.settings.workers or os.cpu_count() or 2, 2)
        large = sum(r[1] for r in requests if r[1] >= LARGE_OBJECT)
        threads = min(4 * cores if large * 2 >= sum(r[1] for r in requests) else cores, 32)
        yield from storage.hash_objects(requests, threads=threads)
        return
    from concurrent.futures import ThreadPoolExecutor

    from preserve.checksums import hash_stream

    def one(request: HashRequest) -> HashResult:
        key, _size, algorithms = request
        try:
            with storage.open(key) as stream:
                size, digests = hash_stream(stream, algorithms)
        except StorageError as exc:
            return key, 0, None, exc
        return key, size, digests, None

    with ThreadPoolExecutor(max_workers=REMOTE_THREADS) as pool:
        yield from pool.map(one, requests)


def _check_manifests(
    storage: Storage, copy: CopyRow, expected: dict[str, FileRow]
) -> dict[str, list[FileProblem]]:
    """The bag's payload manifests, as stored, must agree with the catalogue entry by entry;
    the problems found per manifest compared."""
    compared: dict[str, list[FileProblem]] = {}
    for name in sorted(expected):
        m = _MANIFEST.fullmatch(name)
        if m is None or m.group(1) in TRANSPORT_CHECKS:
            continue
        try:
            with storage.open(copy.key_prefix + name) as stream:
                text = stream.read().decode("utf-8")
        except (StorageError, InvalidInput, UnicodeDecodeError) as exc:
            compared[name] = [FileProblem(name, "error", f"manifest could not be read: {exc}")]
            continue
        compared[name] = _compare_manifest(name, m.group(1), text, expected)
    return compared


def _reference(row: FileRow, algorithm: str) -> str | None:
    if algorithm == "sha256":
        return row[3]
    if algorithm == "sha512":
        return row[2]
    from preserve.catalogue.fixity import other_digests

    return other_digests(row[4]).get(algorithm)


def _manifest_spelling(path: str) -> str:
    """``path`` as a manifest line writes it (RFC 8493 §2.1.3: ``%``, CR and LF percent-encoded):
    preserve.bagit.paths.encode_manifest_path, which a test holds this to. Not imported from
    there: the bagit package takes longer to import than a small check takes to run."""
    return path.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _compare_manifest(
    name: str, algorithm: str, text: str, expected: dict[str, FileRow]
) -> list[FileProblem]:
    payload = {path: _reference(row, algorithm) for path, row in expected.items()}
    payload = {path: want for path, want in payload.items() if path.startswith("data/")}
    # the common case first: the manifest holds exactly the lines ingest writes for the
    # catalogue's entries (in any order); anything else is parsed line by line and explained
    if text.endswith("\n") and all(payload.values()):
        lines = text[:-1].split("\n")
        written = {f"{want}  {_manifest_spelling(path)}" for path, want in payload.items()}
        if len(lines) == len(written) and written == set(lines):
            return []
    from preserve.bagit.manifest import parse_manifest

    problems: list[FileProblem] = []
    parsed = parse_manifest(text, name=name, algorithm=algorithm, version=(1, 0))
    for p in parsed.errors:
        problems.append(FileProblem(name, "mismatch", f"manifest is damaged: {p.message}"))
    listed = parsed.entries
    for path, want in payload.items():
        if want is None or listed.get(path) != want.lower():
            problems.append(FileProblem(path, "mismatch", f"{name} disagrees with the catalogue"))
    for path in sorted(set(listed) - set(expected)):
        problems.append(FileProblem(path, "unexpected", f"listed in {name} only"))
    return problems


def record_damage(
    app: Application,
    *,
    package_id: str,
    copy_id: int,
    problems: Sequence[FileProblem],
    files_checked: int,
    bytes_checked: int,
    digests_checked: dict[str, int],
    digests: str,
    reading: str,
    scope: str,
    now: datetime | None = None,
) -> CopyCheck | None:
    """Record damage found in a copy by something other than a fixity check (an export that
    re-read it) exactly as a fixity check finding it records it: the copy becomes ``failed``
    (``missing`` for a missing object) and gets a failed PREMIS fixity check event naming the
    files and the digests expected and found. None when the copy no longer exists."""
    now = now or datetime.now(UTC)
    with open_catalogue(app) as catalogue:
        try:
            rows = catalogue.copies(package_id=package_id)
        except NotFound:
            return None
        copy = next((c for c in rows if c.copy_id == copy_id), None)
        if copy is None:
            return None
        check = CopyCheck(
            package_id,
            copy.location,
            copy.url,
            copy.key_prefix,
            outcome_of(problems),
            files_checked,
            bytes_checked,
            tuple(problems),
            now,
            dict(sorted(digests_checked.items())),
            version=copy.version,
            current_version=copy.current_version,
        )
        if not record_check(
            catalogue, copy, check, now=now, reading=reading, digests=digests, scope=scope
        ):
            return None
    return check


def _record(
    catalogue: FixityCatalogue,
    copy: CopyRow,
    check: CopyCheck,
    chooser: _DigestChooser,
    now: datetime,
    *,
    claimed_by: str | None = None,
) -> bool:
    """Store the outcome on the copy and as a PREMIS fixity check event (False: not recorded,
    see :meth:`preserve.catalogue.fixity.FixityCatalogue.record_check`)."""
    manifests = ", ".join(check.manifests_compared) or "no payload manifest"
    scope = (
        f"sizes, missing and unexpected objects checked; {manifests} compared with the catalogue"
    )
    if check.fetched_files:
        scope += (
            f"; fetch.txt: {plural(check.fetched_files, 'file')} held by earlier versions, "
            "checked against the catalogue (their copies read them)"
        )
    if check.affected_versions:
        scope += "; later versions holding a damaged file: " + ", ".join(
            str(v) for v in check.affected_versions
        )
    return record_check(
        catalogue,
        copy,
        check,
        now=now,
        reading=" from the device (page cache dropped first)" if check.from_device else "",
        digests=chooser.describe(),
        scope=scope,
        claimed_by=claimed_by,
    )


def record_check(
    catalogue: FixityCatalogue,
    copy: CopyRow,
    check: CopyCheck,
    *,
    now: datetime,
    reading: str,
    digests: str,
    scope: str,
    claimed_by: str | None = None,
) -> bool:
    """Store the outcome of a check of ``copy`` on the copy (its status and last outcome) and as
    a PREMIS fixity check event, whoever re-read the copy (a fixity check or an export).

    The event's detail says what was re-read (``reading`` follows the location's name), which
    digests were verified (``digests``: the algorithms asked for) and what else was checked
    (``scope``); its outcome detail names every damaged file with the digests expected and
    found. False when the copy no longer exists (nothing is recorded)."""
    return record_checks(
        catalogue,
        [(copy, check)],
        now=now,
        reading=reading,
        digests=digests,
        scope=scope,
        claimed_by=claimed_by,
    )[0]


def record_checks(
    catalogue: FixityCatalogue,
    checks: Sequence[tuple[CopyRow, CopyCheck]],
    *,
    now: datetime,
    reading: str,
    digests: str,
    scope: str,
    claimed_by: str | None = None,
) -> list[bool]:
    """:func:`record_check` for many checks at once, in one transaction (whether each was
    recorded). ``claimed_by``: the fixity job whose claims these copies must still be."""
    from preserve.catalogue.fixity import CheckEvent

    events = []
    for copy, check in checks:
        shown = "; ".join(f"{p.path}: {p.message}" for p in check.problems[:50])
        if len(check.problems) > 50:
            shown += f"; and {len(check.problems) - 50} more"
        verified = (
            ", ".join(f"{a} of {n} files" for a, n in check.digests_checked.items()) or "none"
        )
        detail = (
            f"re-read {plural(check.files_checked, 'file')} "
            f"({plural(check.bytes_checked, 'byte')}) of location "
            f"{copy.location}{reading}; digests verified ({digests}): {verified}; {scope}"
        )
        if check.problems:  # what failed comes first, so that it is what a reader sees
            detail = f"{problem_listing(check.problems)}; {detail}"
        events.append(
            CheckEvent(
                copy,
                check.outcome,
                now,
                "success" if check.outcome == "ok" else "failure",
                detail,
                check.outcome + (f": {shown}" if shown else ""),
            )
        )
    return catalogue.record_checks(
        events,
        event_type=FIXITY_CHECK,
        agent=("preserve", __version__, "software"),
        claimed_by=claimed_by,
    )
