"""The marshmallow schemas of the API's parameters and bodies (also its OpenAPI document)."""

from __future__ import annotations

import marshmallow as ma
from preserve.web.api.base import PageArgs

from preserve.catalogue.models import JOB_KINDS, JOB_STATES

f = ma.fields


class LinksMixin(ma.Schema):
    next = f.String(allow_none=True, metadata={"description": "URL of the next page, or null."})
    prev = f.String(allow_none=True, metadata={"description": "URL of the previous page."})


class MembershipSchema(ma.Schema):
    organisation = f.String(required=True)
    name = f.String(required=True)
    role = f.String(required=True, validate=ma.validate.OneOf(("viewer", "archivist", "admin")))


class MeSchema(ma.Schema):
    username = f.String(required=True)
    display_name = f.String(required=True)
    is_admin = f.Boolean(required=True)
    locale = f.String(required=True, allow_none=True)
    organisations = f.List(f.Nested(MembershipSchema), required=True)


class CollectionSchema(ma.Schema):
    organisation = f.String(required=True)
    slug = f.String(required=True)
    title = f.String(required=True)
    description = f.String(required=True)
    locations = f.List(f.String(), required=True)
    packages = f.Integer(required=True)
    role = f.String(required=True, metadata={"description": "Your role in its organisation."})


class CollectionListSchema(ma.Schema):
    items = f.List(f.Nested(CollectionSchema), required=True)


class CollectionArgs(ma.Schema):
    organisation = f.String(metadata={"description": "Only this organisation's (its slug)."})


class JobSchema(ma.Schema):
    id = f.String(required=True)
    kind = f.String(required=True, validate=ma.validate.OneOf(JOB_KINDS))
    state = f.String(required=True, validate=ma.validate.OneOf(JOB_STATES))
    package_id = f.String(required=True, allow_none=True)
    organisation = f.String(required=True, allow_none=True)
    requested_by = f.String(required=True)
    attempts = f.Integer(required=True)
    max_attempts = f.Integer(required=True)
    cancel_requested = f.Boolean(required=True)
    files_done = f.Integer(required=True)
    files_total = f.Integer(required=True, allow_none=True)
    bytes_done = f.Integer(required=True)
    bytes_total = f.Integer(required=True, allow_none=True)
    progress = f.Float(
        required=True,
        allow_none=True,
        metadata={"description": "Share done, 0 to 1, by bytes (else files); null: unknown."},
    )
    result = f.Dict(required=True, allow_none=True)
    error = f.String(required=True, allow_none=True)
    created_at = f.DateTime(required=True)
    started_at = f.DateTime(required=True, allow_none=True)
    finished_at = f.DateTime(required=True, allow_none=True)
    url = f.String(required=True, metadata={"description": "This job in the API."})


class JobListSchema(LinksMixin):
    items = f.List(f.Nested(JobSchema), required=True)
    page = f.Integer(required=True)
    per_page = f.Integer(required=True)


class JobArgs(PageArgs):
    state = f.String(validate=ma.validate.OneOf(JOB_STATES))
    kind = f.String(validate=ma.validate.OneOf(JOB_KINDS))
    package = f.String(metadata={"description": "Only the jobs of this package (its id)."})


class FixityRequestSchema(ma.Schema):
    all_digests = f.Boolean(
        load_default=False,
        metadata={"description": "Check every recorded digest, not only the strongest."},
    )


# ------------------------------------------------------------------------------- packages


class PackageSearchArgs(PageArgs):
    q = f.String(
        validate=ma.validate.Length(max=500),
        metadata={
            "description": "Free text: title, identifier, description, file names, "
            "PUIDs, format names, MIME types (every word must match)."
        },
    )
    organisation = f.String(metadata={"description": "Organisation slug."})
    collection = f.String(metadata={"description": "Collection slug."})
    puid = f.String(metadata={"description": "A PRONOM id of one of its files, e.g. fmt/43."})
    format = f.String(metadata={"description": "A format name of one of its files."})
    mime = f.String(metadata={"description": "A MIME type of one of its files."})
    creator = f.String(metadata={"description": "Part of a Dublin Core creator."})
    date_from = f.String(metadata={"description": "Dublin Core date from: 1923, 1923-05, …"})
    date_to = f.String(metadata={"description": "Dublin Core date to (included)."})
    ingested_from = f.Date(metadata={"description": "Ingested on or after this day."})
    ingested_to = f.Date(metadata={"description": "Ingested on or before this day."})
    status = f.String(validate=ma.validate.OneOf(("ingesting", "stored", "failed")))
    sort = f.String(
        validate=ma.validate.OneOf(("relevance", "newest", "oldest", "title", "size")),
        metadata={"description": "Default: relevance with q, else newest."},
    )
    exact_count = f.Boolean(
        load_default=False,
        metadata={
            "description": "Count every match. By default counting stops after 1,000 "
            "matches (and after the page asked for): total is then a lower bound and "
            "total_exact is false."
        },
    )


class PackageHitSchema(ma.Schema):
    id = f.String(required=True)
    title = f.String(required=True)
    identifier = f.String(required=True, allow_none=True)
    organisation = f.String(required=True)
    collection = f.String(required=True)
    ingested_at = f.DateTime(required=True)
    stored_at = f.DateTime(required=True, allow_none=True)
    files = f.Integer(required=True)
    bytes = f.Integer(required=True)
    version = f.Integer(required=True)
    status = f.String(required=True)
    damaged = f.Boolean(required=True)
    url = f.String(required=True, metadata={"description": "The package in the API."})


class PackageListSchema(LinksMixin):
    items = f.List(f.Nested(PackageHitSchema), required=True)
    total = f.Integer(
        required=True,
        metadata={
            "description": "Packages that match: exactly when total_exact, else at least "
            "this many (ask with exact_count=true for every match counted)."
        },
    )
    total_exact = f.Boolean(required=True, metadata={"description": "Whether total is exact."})
    page = f.Integer(required=True)
    per_page = f.Integer(required=True)


class PackageArgs(ma.Schema):
    version = f.Integer(
        validate=ma.validate.Range(min=1), metadata={"description": "Default: the current one."}
    )
    folder = f.String(metadata={"description": "Only the files under this folder, e.g. data/a/"})
    page = f.Integer(
        load_default=1,
        validate=ma.validate.Range(min=1, max=1_000_000),
        metadata={"description": "Page of the file list, from 1."},
    )
    per_page = f.Integer(
        load_default=100,
        validate=ma.validate.Range(min=1, max=1000),
        metadata={"description": "Files per page (1 to 1000)."},
    )
    all_events = f.Boolean(load_default=False, metadata={"description": "Every event."})


class FileSchema(ma.Schema):
    id = f.Integer(required=True)
    path = f.String(required=True)
    role = f.String(required=True, metadata={"description": "payload or tag."})
    size = f.Integer(required=True)
    format_name = f.String(required=True, allow_none=True)
    format_version = f.String(required=True, allow_none=True)
    puid = f.String(required=True, allow_none=True)
    mime = f.String(required=True, allow_none=True)
    sha256 = f.String(required=True, allow_none=True)
    sha512 = f.String(required=True, allow_none=True)
    image = f.Dict(required=True, allow_none=True)
    problems = f.List(f.String(), required=True)
    download = f.String(required=True, metadata={"description": "URL of its bytes."})


class FilePageSchema(ma.Schema):
    folder = f.String(required=True)
    items = f.List(f.Nested(FileSchema), required=True)
    page = f.Integer(required=True)
    per_page = f.Integer(required=True)
    total = f.Integer(required=True)
    next = f.String(required=True, allow_none=True)


class VersionSchema(ma.Schema):
    number = f.Integer(required=True)
    kind = f.String(required=True)
    status = f.String(required=True)
    created_at = f.DateTime(required=True)
    stored_at = f.DateTime(required=True, allow_none=True)
    title = f.String(required=True)
    files = f.Integer(required=True)
    bytes = f.Integer(required=True)
    changes = f.Dict(required=True)
    changes_summary = f.String(required=True)
    actor = f.String(required=True)


class CopySchema(ma.Schema):
    location = f.String(required=True)
    version = f.Integer(required=True)
    status = f.String(required=True)
    verified_at = f.DateTime(required=True, allow_none=True)
    last_checked_at = f.DateTime(required=True, allow_none=True)
    last_outcome = f.String(required=True, allow_none=True)


class EventAgentSchema(ma.Schema):
    name = f.String(required=True)
    agent_type = f.String(required=True)
    role = f.String(required=True)


class EventSchema(ma.Schema):
    id = f.String(required=True)
    event_type = f.String(required=True)
    occurred_at = f.DateTime(required=True)
    outcome = f.String(required=True)
    detail = f.String(required=True)
    outcome_detail = f.String(required=True)
    version = f.Integer(required=True, allow_none=True)
    agents = f.List(f.Nested(EventAgentSchema), required=True)


class PackageSchema(ma.Schema):
    id = f.String(required=True)
    organisation = f.String(required=True)
    collection = f.String(required=True)
    title = f.String(required=True)
    status = f.String(required=True)
    damaged = f.Boolean(required=True)
    external_identifier = f.String(required=True, allow_none=True)
    version = f.Integer(required=True, metadata={"description": "The version shown."})
    current_version = f.Integer(required=True)
    files_count = f.Integer(required=True)
    bytes = f.Integer(required=True)
    created_at = f.DateTime(required=True)
    stored_at = f.DateTime(required=True, allow_none=True)
    description = f.Dict(
        keys=f.String(),
        values=f.List(f.String()),
        required=True,
        metadata={"description": "Dublin Core: element -> values."},
    )
    versions = f.List(f.Nested(VersionSchema), required=True)
    files = f.Nested(FilePageSchema, required=True)
    copies = f.List(f.Nested(CopySchema), required=True)
    events = f.List(f.Nested(EventSchema), required=True)
    events_total = f.Integer(required=True)
    bag = f.String(required=True, metadata={"description": "URL of this version as a bag."})


class BagArgs(ma.Schema):
    format = f.String(load_default="zip", validate=ma.validate.OneOf(("zip", "tar")), metadata={})
    version = f.Integer(
        validate=ma.validate.Range(min=1), metadata={"description": "Default: the current one."}
    )


class FileArgs(ma.Schema):
    version = f.Integer(
        validate=ma.validate.Range(min=1), metadata={"description": "Default: the current one."}
    )


# ------------------------------------------------------------------------------- ingest

DESCRIPTION = f.Dict(
    keys=f.String(),
    values=f.List(f.String()),
    metadata={"description": 'Dublin Core: element -> values, e.g. {"creator": ["Ann"]}.'},
)


class TransferCreateSchema(ma.Schema):
    collection = f.String(required=True, metadata={"description": "Collection slug."})
    organisation = f.String(metadata={"description": "Its organisation (if the slug is shared)."})
    name = f.String(
        required=True,
        validate=ma.validate.Length(min=1, max=255),
        metadata={"description": "The delivery's name (its folder in the package)."},
    )
    description = DESCRIPTION
    expected_files = f.Integer(validate=ma.validate.Range(min=0))
    expected_bytes = f.Integer(validate=ma.validate.Range(min=0))
    new_version_of = f.String(metadata={"description": "A package id: a new version of it."})


class ProblemItemSchema(ma.Schema):
    path = f.String(required=True)
    message = f.String(required=True)
    code = f.String(required=True)


class TransferSchema(ma.Schema):
    id = f.String(required=True)
    organisation = f.String(required=True)
    collection = f.String(required=True)
    name = f.String(required=True)
    state = f.String(required=True)
    phase = f.String(
        required=True,
        metadata={
            "description": "uploading, queued, running, succeeded, failed, discarded, expired"
        },
    )
    files = f.Integer(required=True, metadata={"description": "Uploads created."})
    files_complete = f.Integer(required=True)
    bytes_received = f.Integer(required=True)
    bytes_total = f.Integer(required=True)
    created_at = f.DateTime(required=True)
    expires_at = f.DateTime(required=True, allow_none=True)
    job = f.String(required=True, allow_none=True, metadata={"description": "Its ingest job."})
    package_ids = f.List(f.String(), required=True)
    problems = f.List(f.Nested(ProblemItemSchema), required=True)
    upload_url = f.String(
        required=True,
        metadata={
            "description": "The tus 1.0 endpoint: create each upload there with "
            "Upload-Metadata transfer_id and relativePath, and this token."
        },
    )
    url = f.String(required=True)


class IngestRequestSchema(ma.Schema):
    transfer_id = f.String(metadata={"description": "A transfer whose uploads are complete."})
    folder = f.String(metadata={"description": "A server folder (PRESERVE_INGEST_FOLDERS)."})
    path = f.String(metadata={"description": "The folder or file inside it to ingest."})
    collection = f.String(metadata={"description": "Collection slug (with folder)."})
    organisation = f.String(metadata={"description": "Its organisation's slug."})
    title = f.String(validate=ma.validate.Length(max=1000))
    description = DESCRIPTION

    @ma.validates_schema
    def one_source(self, data: dict, **kwargs: object) -> None:
        if ("transfer_id" in data) == ("folder" in data):
            raise ma.ValidationError(
                "give either transfer_id (an uploaded transfer) or folder and path (a server "
                "folder)",
                "transfer_id",
            )
        if "transfer_id" in data:
            extra = sorted(
                k
                for k in ("path", "collection", "organisation", "title", "description")
                if k in data
            )
            if extra:
                raise ma.ValidationError(
                    "a transfer has its collection and description already", extra[0]
                )
        else:
            for name in ("path", "collection"):
                if not data.get(name):
                    raise ma.ValidationError(f"{name} is needed with folder", name)
