"""The marshmallow schemas of the API's parameters and bodies (also its OpenAPI document)."""

from __future__ import annotations

import marshmallow as ma
from preserve.web.api.base import PageArgs

from preserve.catalogue.agreements import STATES as AGREEMENT_STATES
from preserve.catalogue.disposal import DISPOSAL_KINDS, DISPOSAL_STATES
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


# ------------------------------------------------------------------ agreements and holds (issue 12)


class AgreementListArgs(ma.Schema):
    state = f.String(
        validate=ma.validate.OneOf(AGREEMENT_STATES), metadata={"description": "Only this state."}
    )
    organisation = f.String(metadata={"description": "Only agreements with this party (slug)."})
    all_versions = f.Boolean(
        load_default=False, metadata={"description": "Every version, not only the newest."}
    )


class AgreementSummarySchema(ma.Schema):
    reference = f.String(required=True)
    version_no = f.Integer(required=True)
    label = f.String(required=True, metadata={"description": "REFERENCE vN"})
    kind = f.String(required=True)
    component = f.String(required=True)
    title = f.String(required=True)
    state = f.String(required=True, validate=ma.validate.OneOf(AGREEMENT_STATES))
    effective_from = f.Date(required=True, allow_none=True)
    effective_until = f.Date(required=True, allow_none=True)
    parties = f.List(f.String(), required=True)
    url = f.String(required=True)


class AgreementListSchema(ma.Schema):
    items = f.List(f.Nested(AgreementSummarySchema), required=True)


class AwaitingSchema(ma.Schema):
    reference = f.String(required=True)
    version_no = f.Integer(required=True)
    title = f.String(required=True)
    state = f.String(required=True)
    step = f.String(required=True, validate=ma.validate.OneOf(("agree", "sign")))
    parties = f.List(f.String(), required=True)


class AwaitingListSchema(ma.Schema):
    items = f.List(f.Nested(AwaitingSchema), required=True)


class SignatureSchema(ma.Schema):
    signatory = f.String(required=True)
    capacity = f.String(required=True)
    method = f.String(required=True)
    signed_at = f.DateTime(required=True)
    document_sha256 = f.String(required=True)


class PartySchema(ma.Schema):
    organisation = f.String(required=True)
    organisation_name = f.String(required=True)
    roles = f.List(f.String(), required=True)
    authorities = f.List(f.String(), required=True)
    required_signatures = f.Integer(required=True)
    represented_by = f.String(required=True, allow_none=True)
    decision = f.String(required=True, allow_none=True)
    decided_by = f.String(required=True, allow_none=True)
    decided_at = f.DateTime(required=True, allow_none=True)
    decision_comment = f.String(required=True)
    signatures = f.List(f.Nested(SignatureSchema), required=True)


class ScopeSchema(ma.Schema):
    selector = f.String(required=True)
    collection = f.String(required=True, allow_none=True)
    element = f.String(required=True, allow_none=True)
    operator = f.String(required=True, allow_none=True)
    value = f.String(required=True, allow_none=True)


class RetentionRuleSchema(ma.Schema):
    action = f.String(required=True)
    trigger = f.String(required=True)
    period_value = f.Integer(required=True)
    period_unit = f.String(required=True)
    bound = f.String(required=True)
    motivation = f.String(required=True)
    legal_basis = f.String(required=True)


class ServiceLevelSchema(ma.Schema):
    min_copies = f.Integer(required=True)
    min_distinct_sites = f.Integer(required=True)
    allowed_regions = f.List(f.String(), required=True)
    offline_copy_required = f.Boolean(required=True)
    fixity_interval_days = f.Integer(required=True)
    restore_test_interval_days = f.Integer(required=True, allow_none=True)


class RightsGrantSchema(ma.Schema):
    act = f.String(required=True)
    restriction = f.String(required=True)
    start_date = f.Date(required=True, allow_none=True)
    end_date = f.Date(required=True, allow_none=True)
    note = f.String(required=True)


class AccessConditionSchema(ma.Schema):
    action = f.String(required=True)
    group = f.String(required=True)
    organisation = f.String(required=True, allow_none=True)
    embargo_until = f.Date(required=True, allow_none=True)
    note = f.String(required=True)


class ExitTermsSchema(ma.Schema):
    recipient = f.String(required=True, allow_none=True)
    package_format = f.String(required=True)
    deadline_days = f.Integer(required=True)
    post_exit_action = f.String(required=True)
    retain_until = f.Date(required=True, allow_none=True)


class DocumentSchema(ma.Schema):
    id = f.Integer(required=True)
    name = f.String(required=True)
    kind = f.String(required=True)
    media_type = f.String(required=True)
    size = f.Integer(required=True)
    sha256 = f.String(required=True)
    uploaded_by = f.String(required=True)
    uploaded_at = f.DateTime(required=True)
    url = f.String(required=True, metadata={"description": "Where to download it."})


class AgreementEventSchema(ma.Schema):
    action = f.String(required=True)
    from_state = f.String(required=True, allow_none=True)
    to_state = f.String(required=True)
    actor = f.String(required=True)
    party = f.String(required=True, allow_none=True)
    occurred_at = f.DateTime(required=True)
    comment = f.String(required=True)


class AgreementStepsSchema(ma.Schema):
    steps = f.List(f.String(), required=True, metadata={"description": "Steps you may take."})
    agree = f.List(
        f.String(),
        required=True,
        metadata={"description": "Parties you may agree or send back for."},
    )
    sign = f.List(f.String(), required=True, metadata={"description": "Parties you may sign for."})
    give_notice = f.List(f.String(), required=True)


class AgreementSchema(ma.Schema):
    reference = f.String(required=True)
    version_no = f.Integer(required=True)
    label = f.String(required=True)
    kind = f.String(required=True)
    component = f.String(required=True)
    title = f.String(required=True)
    summary = f.String(required=True)
    state = f.String(required=True, validate=ma.validate.OneOf(AGREEMENT_STATES))
    parent = f.String(required=True, allow_none=True)
    supersedes = f.String(required=True, allow_none=True)
    effective_from = f.Date(required=True, allow_none=True)
    effective_until = f.Date(required=True, allow_none=True)
    review_interval_months = f.Integer(required=True, allow_none=True)
    next_review_on = f.Date(required=True, allow_none=True)
    notice_period_days = f.Integer(required=True, allow_none=True)
    notice_given_on = f.Date(required=True, allow_none=True)
    legal_basis = f.String(required=True)
    rights_statement = f.String(required=True, allow_none=True)
    licence = f.String(required=True, allow_none=True)
    parties = f.List(f.Nested(PartySchema), required=True)
    scope = f.List(f.Nested(ScopeSchema), required=True)
    retention = f.Nested(RetentionRuleSchema, required=True, allow_none=True)
    service_level = f.Nested(ServiceLevelSchema, required=True, allow_none=True)
    accepted_formats = f.List(f.String(), required=True)
    preferred_formats = f.List(f.String(), required=True)
    rights = f.List(f.Nested(RightsGrantSchema), required=True)
    access = f.List(f.Nested(AccessConditionSchema), required=True)
    exit = f.Nested(ExitTermsSchema, required=True, allow_none=True)
    documents = f.List(f.Nested(DocumentSchema), required=True)
    history = f.List(f.Nested(AgreementEventSchema), required=True)
    created_by = f.String(required=True)
    created_at = f.DateTime(required=True)
    updated_by = f.String(required=True)
    updated_at = f.DateTime(required=True)
    signed_at = f.DateTime(required=True, allow_none=True)
    content_hash = f.String(required=True, allow_none=True)
    missing = f.List(
        f.String(), required=True, metadata={"description": "What a draft lacks to be proposed."}
    )
    packages = f.Integer(required=True, metadata={"description": "Packages under this version."})
    your_steps = f.Nested(AgreementStepsSchema, required=True)
    url = f.String(required=True)


_SPEC_SECTIONS = {
    "reference": "Shared by the versions, e.g. CRA-2026-001 (creating only).",
    "kind": "collaboration, service, management, deposit, submission, data_processing, escrow.",
    "title": "Title.",
    "summary": "A short summary.",
    "component": "main, annex or addendum.",
    "parent": "The main agreement of an annex or addendum.",
    "effective_from": "Start date (YYYY-MM-DD).",
    "effective_until": "End date (YYYY-MM-DD) or null.",
    "review_interval_months": "Months between reviews.",
    "next_review_on": "Next review date.",
    "notice_period_days": "Notice period in days.",
    "legal_basis": "Legal basis or mandate.",
    "rights_statement": "A RightsStatements.org URI.",
    "licence": "A Creative Commons licence or tool URI.",
    "parties": "[{organisation, roles, authorities, required_signatures, represented_by}]",
    "scope": "[{collection: ORG/SLUG} or {metadata: {element, operator, value}}]",
    "retention": "{action, trigger, period: {value, unit}, bound, motivation, legal_basis}",
    "service_level": "{min_copies, min_distinct_sites, allowed_regions, offline_copy_required, "
    "fixity_interval_days, restore_test_interval_days}",
    "formats": "{accepted: [PUID], preferred: [PUID]}",
    "rights": "[{act, restriction, start, end, note}]",
    "access": "[{action, group, organisation, embargo_until, note}]",
    "exit": "{recipient, package_format, deadline_days, post_exit_action, retain_until}",
}


class AgreementSpecSchema(ma.Schema):
    """A draft's description as ``preserve agreements create --from FILE`` reads it; the
    sections given replace those of the draft. The service checks every value (422 naming
    each field at fault)."""

    class Meta:
        unknown = ma.INCLUDE


for _name, _text in _SPEC_SECTIONS.items():
    AgreementSpecSchema._declared_fields[_name] = f.Raw(
        allow_none=True, metadata={"description": _text}
    )


class AgreementStepSchema(ma.Schema):
    """What a step takes (each step reads only its own fields; the others are refused)."""

    party = f.String(metadata={"description": "agree, send_back, sign, give_notice: the party."})
    comment = f.String(metadata={"description": "agree, resume; send_back (required)."})
    capacity = f.String(metadata={"description": "sign: the capacity signed in (required)."})
    method = f.String(metadata={"description": "sign: digital (default) or paper."})
    document_sha256 = f.String(metadata={"description": "sign: the document signed."})
    reason = f.String(metadata={"description": "suspend, give_notice (required); amend, withdraw."})
    evidence = f.String(metadata={"description": "close: how the exit was fulfilled (required)."})


class DocumentUploadSchema(ma.Schema):
    name = f.String(required=True, metadata={"description": "The file name, e.g. agreement.pdf."})
    kind = f.String(
        load_default="main_text",
        metadata={"description": "main_text, annex, addendum, signed_copy or other."},
    )
    content_base64 = f.String(
        required=True, metadata={"description": "The file, base64 (PDF, text, ODT, DOCX; 25 MiB)."}
    )


class HoldArgs(ma.Schema):
    state = f.String(load_default="active", validate=ma.validate.OneOf(("active", "lifted", "all")))
    package = f.String(metadata={"description": "The holds covering this package."})
    collection = f.String(metadata={"description": "ORG/SLUG: holds on it or its packages."})
    organisation = f.String(metadata={"description": "Holds with a target in it."})


class HoldTargetSchema(ma.Schema):
    id = f.Integer(required=True)
    type = f.String(required=True, validate=ma.validate.OneOf(("package", "collection")))
    package_id = f.String(required=True, allow_none=True)
    collection = f.String(required=True)
    organisation = f.String(required=True)
    package_title = f.String(required=True, allow_none=True)
    added_by = f.String(required=True)
    added_at = f.DateTime(required=True)
    lifted_by = f.String(required=True, allow_none=True)
    lifted_at = f.DateTime(required=True, allow_none=True)
    lift_reason = f.String(required=True, allow_none=True)


class HoldSchema(ma.Schema):
    id = f.Integer(required=True)
    kind = f.String(required=True)
    title = f.String(required=True)
    reason = f.String(required=True)
    mandate = f.String(required=True, allow_none=True)
    state = f.String(required=True, validate=ma.validate.OneOf(("active", "lifted")))
    created_by = f.String(required=True)
    created_at = f.DateTime(required=True)
    lifted_by = f.String(required=True, allow_none=True)
    lifted_at = f.DateTime(required=True, allow_none=True)
    lift_reason = f.String(required=True, allow_none=True)
    targets = f.List(f.Nested(HoldTargetSchema), required=True)
    hidden_targets = f.Integer(required=True)
    url = f.String(required=True)


class HoldListSchema(ma.Schema):
    items = f.List(f.Nested(HoldSchema), required=True)


class HoldCreateSchema(ma.Schema):
    kind = f.String(
        required=True,
        metadata={"description": "legal, dispute, audit, gdpr_request, rights_challenge or other."},
    )
    title = f.String(required=True)
    reason = f.String(required=True)
    mandate = f.String(allow_none=True)
    packages = f.List(f.String(), load_default=list)
    collections = f.List(f.String(), load_default=list, metadata={"description": "ORG/SLUG"})


class HoldLiftSchema(ma.Schema):
    reason = f.String(required=True)
    package = f.String(metadata={"description": "Lift only this target."})
    collection = f.String(metadata={"description": "Lift only this target (ORG/SLUG)."})


# ------------------------------------------------------------------ disposal (issue 12)


class DisposalArgs(ma.Schema):
    state = f.String(
        validate=ma.validate.OneOf(("open", *DISPOSAL_STATES)),
        metadata={"description": "open (pending, approved, executing, executed) or one state."},
    )


class DisposalPartySchema(ma.Schema):
    party = f.String(required=True)
    name = f.String(required=True)
    decision = f.String(required=True, allow_none=True)
    decided_by = f.String(required=True, allow_none=True)
    decided_at = f.DateTime(required=True, allow_none=True)
    comment = f.String(required=True)


class DisposalPackageSchema(ma.Schema):
    id = f.String(required=True)
    title = f.String(required=True)
    collection = f.String(required=True)
    state = f.String(required=True)
    previous_state = f.String(required=True, allow_none=True)
    failure = f.String(required=True, allow_none=True)
    size = f.Integer(required=True)
    file_count = f.Integer(required=True)
    identifiers = f.List(f.String(), required=True)
    disposed_at = f.DateTime(required=True, allow_none=True)
    on_hold = f.List(
        f.String(),
        required=True,
        metadata={"description": "The active holds on the package while the disposal is open."},
    )


class DisposalExitSchema(ma.Schema):
    post_exit_action = f.String(required=True)
    recipient = f.String(required=True, allow_none=True)
    export = f.Integer(required=True, allow_none=True)
    confirmed_by = f.String(required=True, allow_none=True)
    confirmed_at = f.DateTime(required=True, allow_none=True)


class DisposalSchema(ma.Schema):
    id = f.Integer(required=True)
    kind = f.String(required=True, validate=ma.validate.OneOf(DISPOSAL_KINDS))
    state = f.String(required=True, validate=ma.validate.OneOf(DISPOSAL_STATES))
    organisation = f.String(required=True)
    agreement = f.String(required=True, allow_none=True)
    cause = f.String(
        required=True,
        validate=ma.validate.OneOf(("retention_rule", "exit_terms", "adhoc")),
        metadata={
            "description": "What the disposal comes from: the retention rule (scheduled), the "
            "agreement's exit terms (exit: then rule is empty and exit says which) or a "
            "deletion outside any schedule (adhoc, with its reason)."
        },
    )
    rule = f.Dict(required=True)
    exit = f.Nested(DisposalExitSchema, required=True, allow_none=True)
    reason = f.String(required=True)
    requested_by = f.String(required=True)
    requested_at = f.DateTime(required=True)
    decided_at = f.DateTime(required=True, allow_none=True)
    executed_by = f.String(required=True, allow_none=True)
    executed_at = f.DateTime(required=True, allow_none=True)
    job_id = f.String(required=True, allow_none=True)
    failure = f.String(required=True, allow_none=True)
    restore_until = f.DateTime(required=True, allow_none=True)
    restored_at = f.DateTime(required=True, allow_none=True)
    restored_by = f.String(required=True, allow_none=True)
    permanently_deleted_at = f.DateTime(required=True, allow_none=True)
    withdrawn_at = f.DateTime(required=True, allow_none=True)
    withdrawn_by = f.String(required=True, allow_none=True)
    withdrawal_reason = f.String(required=True, allow_none=True)
    declaration_sha256 = f.String(required=True, allow_none=True)
    waiting_for = f.List(f.String(), required=True)
    parties = f.List(f.Nested(DisposalPartySchema), required=True)
    packages = f.List(f.Nested(DisposalPackageSchema), required=True)
    url = f.String(required=True)


class DisposalListSchema(ma.Schema):
    items = f.List(f.Nested(DisposalSchema), required=True)


class DisposalProposeSchema(ma.Schema):
    due = f.Boolean(
        load_default=False,
        metadata={"description": "Propose every due package (one request per agreement)."},
    )
    agreement = f.String(metadata={"description": "With due: only this agreement's packages."})
    packages = f.List(
        f.String(), load_default=list, metadata={"description": "An ad-hoc deletion of these."}
    )
    reason = f.String(load_default="", metadata={"description": "Required for an ad-hoc one."})


class DisposalDecisionSchema(ma.Schema):
    party = f.String(required=True, metadata={"description": "The organisation deciding."})
    comment = f.String(load_default="", metadata={"description": "Required to reject."})


class DisposalWithdrawSchema(ma.Schema):
    reason = f.String(load_default="", metadata={"description": "Why it is taken back (required)."})


class DisposalExecuteSchema(ma.Schema):
    wait = f.Boolean(
        load_default=False,
        metadata={
            "description": "Execute within the request (200) instead of queueing a dispose "
            "job for the workers (202)."
        },
    )


class DeclarationArgs(ma.Schema):
    format = f.String(load_default="json", validate=ma.validate.OneOf(("json", "text")))


# ------------------------------------------------------------ compliance, exit, restore tests
# (issue 12: preserve.services.compliance, .exits and .restore_tests)


class ComplianceArgs(ma.Schema):
    agreement = f.String(metadata={"description": "One agreement (its reference)."})
    organisation = f.String(
        metadata={"description": "One organisation: its row and its agreements in force."}
    )


class ComplianceRowSchema(ma.Schema):
    kind = f.String(required=True, validate=ma.validate.OneOf(("agreement", "organisation")))
    name = f.String(required=True, metadata={"description": "REF vN, or the organisation."})
    title = f.String(required=True)
    state = f.String(required=True, allow_none=True)
    packages = f.Integer(required=True)
    placement_assessed = f.Integer(required=True)
    placement_met = f.Integer(required=True)
    placement_share = f.Float(required=True, allow_none=True)
    fixity_assessed = f.Integer(required=True)
    fixity_within = f.Integer(required=True)
    fixity_share = f.Float(required=True, allow_none=True)
    fixity_overdue_copies = f.Integer(required=True)
    open_incidents = f.Integer(required=True)
    formats_assessed = f.Integer(required=True)
    formats_accepted = f.Integer(required=True)
    formats_share = f.Float(required=True, allow_none=True)
    last_restore_test_at = f.DateTime(required=True, allow_none=True)
    last_restore_test_outcome = f.String(required=True, allow_none=True)
    last_restore_test_package = f.String(required=True, allow_none=True)
    last_restore_test_location = f.String(required=True, allow_none=True)
    next_restore_test_due = f.DateTime(required=True, allow_none=True)
    next_review_on = f.Date(required=True, allow_none=True)
    reviews_due = f.List(
        f.Integer(), required=True, metadata={"description": "Within 30, 90, 365 days."}
    )
    retention_due_now = f.Integer(required=True)
    retention_due = f.List(
        f.Integer(), required=True, metadata={"description": "Within 30, 90, 365 days."}
    )
    retention_errors = f.Integer(required=True)
    pending_disposals = f.Integer(required=True, allow_none=True)
    packages_on_hold = f.Integer(required=True)
    exit_state = f.String(required=True, allow_none=True)
    agreements = f.List(f.String(), required=True)
    packages_owned = f.Integer(
        required=True,
        allow_none=True,
        metadata={"description": "An organisation's row: the packages of its own collections."},
    )
    packages_kept = f.Integer(
        required=True,
        allow_none=True,
        metadata={
            "description": "An organisation's row: the packages it keeps as the custodian of an "
            "agreement in force (packages counts the union of owned and kept)."
        },
    )


class ComplianceSchema(ma.Schema):
    generated_at = f.DateTime(required=True)
    scope = f.String(required=True)
    agreements = f.List(f.Nested(ComplianceRowSchema), required=True)
    organisations = f.List(f.Nested(ComplianceRowSchema), required=True)
    notes = f.List(f.String(), required=True)


class ExitItemSchema(ma.Schema):
    kind = f.String(required=True, validate=ma.validate.OneOf(("bag", "document")))
    package_id = f.String(required=True, allow_none=True)
    name = f.String(required=True)
    path = f.String(required=True)
    sha256 = f.String(required=True)
    size = f.Integer(required=True)


class ExitExportSchema(ma.Schema):
    id = f.Integer(required=True)
    agreement = f.String(required=True)
    destination = f.String(required=True)
    exported_by = f.String(required=True)
    exported_at = f.DateTime(required=True)
    packages = f.Integer(required=True)
    documents = f.Integer(required=True)
    files = f.Integer(required=True)
    bytes = f.Integer(required=True)
    manifest_sha256 = f.String(required=True)
    confirmed_party = f.String(required=True, allow_none=True)
    confirmed_by = f.String(required=True, allow_none=True)
    confirmed_at = f.DateTime(required=True, allow_none=True)
    receipt_sha256 = f.String(required=True, allow_none=True)
    post_exit_action = f.String(required=True)
    post_exit_state = f.String(
        required=True, validate=ma.validate.OneOf(("waiting", "pending", "done"))
    )
    post_exit_at = f.DateTime(required=True, allow_none=True)
    post_exit_detail = f.String(required=True)
    retain_until = f.Date(required=True, allow_none=True)
    items = f.List(f.Nested(ExitItemSchema), required=True)


class ExitStatusSchema(ma.Schema):
    agreement = f.String(required=True)
    reference = f.String(required=True)
    version_no = f.Integer(required=True)
    state = f.String(required=True)
    recipient = f.String(required=True, allow_none=True)
    post_exit_action = f.String(required=True, allow_none=True)
    exiting_since = f.DateTime(required=True, allow_none=True)
    deadline = f.Date(required=True, allow_none=True)
    packages_in_scope = f.Integer(required=True)
    exports = f.List(f.Nested(ExitExportSchema), required=True)
    close_refusal = f.String(
        required=True, allow_none=True, metadata={"description": "Why it cannot be closed yet."}
    )


class RestoreProblemSchema(ma.Schema):
    code = f.String(required=True)
    path = f.String(required=True)
    message = f.String(required=True)


class RestoreTestSchema(ma.Schema):
    id = f.Integer(required=True)
    package_id = f.String(required=True)
    version = f.Integer(required=True)
    agreement = f.String(required=True, allow_none=True)
    location = f.String(required=True)
    started_at = f.DateTime(required=True)
    ended_at = f.DateTime(required=True)
    files = f.Integer(required=True)
    bytes = f.Integer(required=True)
    outcome = f.String(required=True, validate=ma.validate.OneOf(("ok", "failed")))
    problems = f.List(f.Nested(RestoreProblemSchema), required=True)
    actor = f.String(required=True)


class RestoreTestListSchema(ma.Schema):
    items = f.List(f.Nested(RestoreTestSchema), required=True)
