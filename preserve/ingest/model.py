"""What the ingest stages pass to each other, and what ingest reports.

Each stage is a function of plain inputs and outputs (a :class:`Delivery` and its
:class:`StagedFile` list), so a worker can run a stage as a task.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from preserve import __version__, premis
from preserve.errors import PreserveError
from preserve.values import FormatInfo, ImageInfo, Problem

#: rides along in the read pass; verifies copies cheaply (never a fixity reference)
TRANSPORT_ALGORITHM = "crc64nvme"

PRESERVE_AGENT = premis.AgentRecord(name="preserve", version=__version__)


@dataclass(frozen=True)
class Owner:
    """The organisation a package belongs to, as its bag and its PREMIS events name it."""

    slug: str
    name: str
    address: str = ""
    contact_name: str = ""
    contact_email: str = ""

    @property
    def agent(self) -> premis.AgentRecord:
        return premis.organisation(self.name)

    def bag_info(self) -> list[tuple[str, str]]:
        """Source-Organization (the full name) and the address and contact given."""
        info = [("Source-Organization", self.name)]
        for label, value in (
            ("Organization-Address", self.address),
            ("Contact-Name", self.contact_name),
            ("Contact-Email", self.contact_email),
        ):
            if value:
                info.append((label, value))
        return info


def agents_of(actor: str, owner: Owner) -> tuple[premis.LinkedAgent, ...]:
    """Who did it (``actor``, the implementer) and for whom (the owning organisation)."""
    return ((premis.person(actor), premis.IMPLEMENTER), (owner.agent, premis.OWNER))


@dataclass(frozen=True)
class IngestedFile:
    path: str  # as in the bag: "data/..."
    size: int
    puid: str
    mime: str
    format_name: str
    format_version: str
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class IngestResult:
    source: str
    status: str  # "stored" or "duplicate"
    package_id: str
    organisation: str
    collection: str
    title: str
    version: int
    files: int
    bytes: int
    copies: tuple[str, ...] = ()
    key_prefix: str = ""
    duplicate_of: str | None = None
    warnings: tuple[Problem, ...] = ()
    #: where the title came from ("--title", "metadata CSV", the SIP's descriptive file, ...)
    title_source: str = ""
    #: for a new version of a package: what changed from the version before (see
    #: ``package_versions.changes``), and the payload bytes it stored (unchanged ones are not)
    changes: dict[str, Any] | None = None
    stored_bytes: int | None = None
    file_details: tuple[IngestedFile, ...] = ()


@dataclass(frozen=True)
class IngestFailure:
    source: str
    error: PreserveError


@dataclass(frozen=True)
class IngestReport:
    results: tuple[IngestResult, ...]
    failures: tuple[IngestFailure, ...]
    recovered: tuple[str, ...] = ()


@dataclass(slots=True)
class StagedFile:
    """One payload file on its way through the stages."""

    relpath: str  # relative to data/
    source: str  # where the delivery holds it
    size: int = 0
    staged: str | None = None  # the copy inside the staging bag
    digests: dict[str, str] = field(default_factory=dict)
    #: the staged copy was flushed to the device and read back (its crc64nvme matched)
    durable: bool = False
    fmt: FormatInfo | None = None
    image: ImageInfo | None = None
    #: the package holds this content already (a new version): not staged, not identified
    #: again, and its identification problems were reported when it was first ingested
    held: bool = False

    @property
    def bag_path(self) -> str:
        return "data/" + self.relpath


@dataclass
class Delivery:
    """A delivery prepared for bagging: what to copy and what we learnt about it."""

    source: Path
    payload_root: Path | None  # folder whose tree is the payload (None for a single file)
    files: list[StagedFile]
    warnings: list[Problem]
    bag_info: list[tuple[str, str]]
    producer_digests: dict[str, dict[str, str]]  # relpath -> {alg: hex} from an incoming bag
    events: list[premis.EventRecord]
    external_identifier: str
    #: The person and the organisation linked to every event (see :meth:`link_agents`).
    linked_agents: tuple[premis.LinkedAgent, ...] = ()
    #: An incoming bag's own tag files: (path in that bag, where it is now), kept in the AIP
    #: as submission documentation under metadata/submission/
    submission: list[tuple[str, str]] = field(default_factory=list)
    #: What kind of delivery it was ("file", "folder", "bag", "meemoo-sip", "eark-sip"), and
    #: the profile and version it declared ("" when none): kept on the version's catalogue row,
    #: in bag-info.txt and in a PREMIS event
    kind: str = "folder"
    profile: str = ""
    #: A SIP's package-level description (Dublin Core fields, their languages under "_lang")
    #: and where it came from ("meemoo SIP metadata/descriptive/dc.xml"); empty otherwise
    description: dict[str, Any] = field(default_factory=dict)
    description_source: str = ""
    #: What a SIP's METS and PREMIS files promise (preserve.sip.SipCheck), verified against
    #: the digests of the staging read before anything is stored; None for other deliveries
    sip: Any = None

    def link_agents(self, linked: tuple[premis.LinkedAgent, ...]) -> None:
        """Link ``linked`` to every event recorded so far and to those registered later."""
        self.linked_agents = linked
        self.events[:] = [dataclasses.replace(e, linked_agents=linked) for e in self.events]


def now() -> datetime:
    return datetime.now(UTC)


def event(
    event_type: str,
    outcome: str,
    detail: str,
    outcome_detail: str = "",
    objects: Sequence[str] = (),
    agent: premis.AgentRecord | None = None,
) -> premis.EventRecord:
    """A PREMIS event of this ingest, happening now."""
    return premis.EventRecord(
        identifier=str(uuid.uuid4()),
        event_type=event_type,
        occurred_at=now(),
        outcome=outcome,
        detail=detail,
        outcome_detail=outcome_detail,
        agent=agent or PRESERVE_AGENT,
        objects=tuple(objects),
    )
