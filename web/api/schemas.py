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
